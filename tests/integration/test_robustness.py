#!/usr/bin/python3
"""Robustness tests of `xmitm proxy` with raw peers on loopback.

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_robustness.py
      (add -v, or a test name such as RobustnessTest.test_ipv6_literals)
Exit status: 0 all passed, 1 a failure (including XMITM not set or not
executable, or no ::1 on the machine: nothing here is skipped).

What is covered:
  * back-pressure both ways: a peer that stops reading must make xmitm stop
    reading the other side (its RSS stays within RSS_SLACK of the idle
    baseline), and once the slow peer reads again every byte arrives, in
    order (length + SHA-256 of the whole direction);
  * a peer resetting mid-stanza (client side and upstream side) closes only
    its own session; the others keep relaying and new clients are accepted;
  * IPv6 literals for --listen and --upstream;
  * SIGINT / SIGTERM with a session open: exit 0, the client sees its
    connection closed, a `closed:` line is printed;
  * a client reset reaches the upstream promptly.

Assumptions about the printed output (kept loose, see `conn_number` and
`closed_lines`): a line `... #N connected: ...` naming the client's port
for each connection, and a line `... #N closed: ...` when it ends.

Every loop is bounded in time; each test stops its own servers, sockets,
threads and xmitm (addCleanup) whatever happens.
"""

import hashlib
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers  # noqa: E402

XMITM = os.environ.get("XMITM")
LOOPBACK = peers.LOOPBACK
LOOPBACK6 = "::1"
STREAM_NS = "http://etherx.jabber.org/streams"

MiB = 1024 * 1024
PUSH_SECONDS = 8.0        # test 1: how long the client pushes at most
FLOOD_SECONDS = 5.0       # test 2: how long the upstream floods
PUSH_LIMIT = 200 * MiB    # "everything": what a peer tries to push
RSS_SLACK = 16 * MiB      # allowed growth of xmitm's RSS over its baseline
STALL_MIN = 2.0           # a blocked sender made no progress for this long
DRAIN_TIMEOUT = 40.0      # reading back everything that was buffered
STANZA_SIZE = 1024
BLOCK_STANZAS = 64        # stanzas generated per send block (64 KiB)


# --------------------------------------------------------------------------
# Bytes

def stream_header(to="localhost"):
    return ("<?xml version='1.0'?><stream:stream to='%s' "
            "xmlns='jabber:client' xmlns:stream='%s' version='1.0'>"
            % (to, STREAM_NS)).encode()


def server_header():
    return ("<?xml version='1.0'?><stream:stream from='localhost' id='rb1' "
            "xmlns='jabber:client' xmlns:stream='%s' version='1.0'>"
            % STREAM_NS).encode()


_FILLER = (b"All the world's a stage, and all the men and women merely "
           b"players; they have their exits and their entrances. ") * 20


def stanza(i, size=STANZA_SIZE):
    """A <message> of exactly `size` bytes, numbered i (unique, so that a
    reordering or a duplicate changes the hash)."""
    head = (b"<message to='peer@localhost' id='m%08d' type='chat'><body>"
            % i)
    tail = b"</body></message>"
    return head + _FILLER[:size - len(head) - len(tail)] + tail


def block(first):
    return b"".join(stanza(i) for i in range(first, first + BLOCK_STANZAS))


# --------------------------------------------------------------------------
# Sockets

def can_bind_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK6, 0))
        return True, ""
    except OSError as e:
        return False, str(e)


def free_port6():
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK6, 0))
        return s.getsockname()[1]


def reset(sock):
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def read_exact(sock, n, timeout=10.0):
    """Read n bytes; returns (data, how) where how is 'ok', 'eof', 'reset'
    or 'timeout' (data may then be short)."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    try:
        while len(data) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(data), "timeout"
            sock.settimeout(left)
            chunk = sock.recv(n - len(data))
            if not chunk:
                return bytes(data), "eof"
            data += chunk
    except socket.timeout:
        return bytes(data), "timeout"
    except ConnectionResetError:
        return bytes(data), "reset"
    return bytes(data), "ok"


def wait_closed(sock, timeout=5.0):
    """Read (and discard) until the peer closes; returns ('eof'|'reset'|
    'timeout', bytes read)."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout", bytes(data)
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                return "eof", bytes(data)
            data += chunk
    except socket.timeout:
        return "timeout", bytes(data)
    except ConnectionResetError:
        return "reset", bytes(data)


def drain(sock, timeout=DRAIN_TIMEOUT):
    """Read until EOF, hashing; returns (count, sha256 hex, how) with how
    'eof', 'reset' or 'timeout'."""
    h = hashlib.sha256()
    count = 0
    deadline = time.monotonic() + timeout
    sock.setblocking(True)
    how = "eof"
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                how = "timeout"
                break
            sock.settimeout(min(left, 5.0))
            try:
                chunk = sock.recv(262144)
            except socket.timeout:
                continue
            if not chunk:
                break
            h.update(chunk)
            count += len(chunk)
    except ConnectionResetError:
        how = "reset"
    return count, h.hexdigest(), how


class Flood:
    """Result of flood(): pushed (bytes accepted by the kernel), sha256 of
    them, stalled (seconds without progress at the end), blocked (the last
    send attempt would have blocked), elapsed."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        return ("pushed %.1f MiB in %.1f s, no progress for the last %.1f s"
                "%s" % (self.pushed / MiB, self.elapsed, self.stalled,
                        ", last send would block" if self.blocked else ""))


def flood(sock, first, duration, limit=PUSH_LIMIT, stop=None):
    """Push `first` then numbered stanzas as fast as the socket takes them
    (non-blocking), for at most `duration` s or `limit` bytes."""
    sock.setblocking(False)
    h = hashlib.sha256()
    pushed = 0
    n_stanza = 0
    pending = memoryview(first)
    start = last = time.monotonic()
    end = start + duration
    blocked = False
    while pushed < limit and not (stop is not None and stop.is_set()):
        now = time.monotonic()
        if now >= end:
            break
        if not pending:
            pending = memoryview(block(n_stanza))
            n_stanza += BLOCK_STANZAS
        try:
            n = sock.send(pending)
        except BlockingIOError:
            blocked = True
            select.select([], [sock], [], min(0.05, max(0.0, end - now)))
            continue
        h.update(pending[:n])
        pending = pending[n:]
        pushed += n
        last = time.monotonic()
        blocked = False
    t = time.monotonic()
    return Flood(pushed=pushed, sha=h.hexdigest(), stalled=t - last,
                 blocked=blocked, elapsed=t - start)


class Server:
    """A TCP server thread on 127.0.0.1 or ::1: handler(sock, index) runs
    in its own thread for each accepted connection.  close() stops
    accepting, shuts down the connections still open and joins every
    thread.  Exceptions of handlers go to .errors (unless closing)."""

    def __init__(self, handler, host=LOOPBACK, rcvbuf=None):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            # set before listen(): accepted sockets inherit it
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.closing = threading.Event()
        self.errors = []
        self.conns = []
        self.threads = []
        self._lock = threading.Lock()
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self):
        while not self.closing.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                if self.closing.is_set():
                    c.close()
                    return
                i = len(self.conns)
                self.conns.append(c)
                t = threading.Thread(target=self._run, args=(c, i),
                                     daemon=True)
                self.threads.append(t)
            t.start()

    def _run(self, c, i):
        try:
            self.handler(c, i)
        except Exception as e:
            if not self.closing.is_set():
                self.errors.append("upstream connection %d: %r" % (i, e))
        finally:
            c.close()

    def wait(self, event, timeout):
        """event.wait() that gives up early when the server closes."""
        deadline = time.monotonic() + timeout
        while not event.is_set():
            if self.closing.is_set() or time.monotonic() > deadline:
                return False
            event.wait(0.05)
        return True

    def close(self):
        self.closing.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._t.join(5)
        with self._lock:
            pairs = list(zip(self.conns, self.threads))
        for c, t in pairs:
            if t.is_alive():
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        deadline = time.monotonic() + 10
        for _, t in pairs:
            t.join(max(0.01, deadline - time.monotonic()))


HALF = b"<message><body>hal"
VANISH = b"<body>VANISH-NOW</body>"


def echo_handler(c, i):
    """Echo every byte back; on VANISH (the upstream side vanishing
    mid-stanza) send half a stanza and reset this one connection."""
    c.settimeout(30)
    tail = b""
    while True:
        try:
            data = c.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return
        if not data:
            break
        if VANISH in tail + data:
            c.sendall(stream_header() + HALF)
            reset(c)
            return
        tail = (tail + data)[-len(VANISH):]
        try:
            c.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return
    try:
        c.shutdown(socket.SHUT_WR)
    except OSError:
        pass


# --------------------------------------------------------------------------
# xmitm

class XmitmAt(peers.Xmitm):
    """peers.Xmitm with a choice of listen host (peers.Xmitm always listens
    on 127.0.0.1).  An IPv6 upstream host is passed bracketed: "[::1]"."""

    def __init__(self, listen_host, upstream_host, upstream_port, **kw):
        super().__init__(upstream_host, upstream_port, **kw)
        self.listen_host = listen_host

    @property
    def args(self):
        a = super().args
        host = self.listen_host
        if ":" in host:
            host = "[%s]" % host
        a[a.index("--listen") + 1] = "%s:%d" % (host, self.port)
        return a


def is_asan_binary(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def rss_env():
    """The environment for xmitm in the RSS tests (None: inherit).

    AddressSanitizer keeps freed blocks in a quarantine (up to 256 MiB by
    default) to catch use-after-free; that is the sanitizer's memory, not
    xmitm's, yet it counts in VmRSS: relaying 7 MiB of stanzas (each one
    parsed and printed, its memory freed) grows an ASan xmitm by ~21 MiB
    although back-pressure works.  So for an ASan binary these tests cut the
    quarantine to 1 MiB (use-after-free is still caught, in a shorter window).
    """
    if not is_asan_binary(XMITM):
        return None
    env = dict(os.environ)
    opts = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "quarantine_size_mb=1"
    return env


def note(fmt, *args):
    """A line of measurements on stderr (kept in meson's test log)."""
    text = fmt % args if args else fmt
    if rss_env() is not None:
        text += " (ASan quarantine cut to 1 MiB)"
    print("  [robustness] " + text, file=sys.stderr, flush=True)


def rss_bytes(pid):
    """VmRSS of pid in bytes, None if the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


class RssSampler:
    """Samples VmRSS of pid every `interval` s in a thread; phase(name)
    starts a new named phase, peak(name) is the highest sample in it."""

    def __init__(self, pid, interval=0.1):
        self.pid = pid
        self.interval = interval
        self.samples = {}
        self._phase = "start"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while True:
            v = rss_bytes(self.pid)
            if v is not None:
                with self._lock:
                    self.samples.setdefault(self._phase, []).append(v)
            if self._stop.wait(self.interval):
                return

    def phase(self, name):
        self.sample_now()
        with self._lock:
            self._phase = name
        self.sample_now()

    def sample_now(self):
        v = rss_bytes(self.pid)
        if v is not None:
            with self._lock:
                self.samples.setdefault(self._phase, []).append(v)

    def peak(self, name):
        with self._lock:
            s = self.samples.get(name) or [0]
        return max(s)

    def count(self, name):
        with self._lock:
            return len(self.samples.get(name) or [])

    def stop(self):
        self._stop.set()
        self._t.join(5)


# --------------------------------------------------------------------------
# What is assumed of the printed output.

_CONNECTED = re.compile(r"#(\d+) connected:(.*)")


def conn_number(text, client_port):
    """The connection number xmitm gave the client on client_port."""
    port = re.compile(r":%d(?!\d)" % client_port)
    for line in text.splitlines():
        m = _CONNECTED.search(line)
        if m and port.search(m.group(2)):
            return int(m.group(1))
    return None


def closed_lines(text, n):
    pat = re.compile(r"#%d closed:" % n)
    return [l for l in text.splitlines() if pat.search(l)]


class RobustnessTest(unittest.TestCase):
    maxDiff = None

    def start_xmitm(self, upstream_port, listen_host=LOOPBACK,
                    upstream_host=LOOPBACK, listen_port=None, env=None):
        x = XmitmAt(listen_host, upstream_host, upstream_port,
                    listen_port=listen_port, env=env)
        self.addCleanup(x.cleanup)
        x.start()
        return x

    def server(self, handler, **kw):
        s = Server(handler, **kw)
        self.addCleanup(s.close)
        return s

    def connect(self, x, host=LOOPBACK, timeout=5):
        s = socket.create_connection((host, x.port), timeout)
        self.addCleanup(s.close)
        return s

    def assert_alive(self, x, when):
        self.assertIsNone(x.proc.poll(), "xmitm exited (status %s) %s\n%s"
                          % (x.proc.returncode, when, x.describe()))

    def assert_clean_stderr(self, x):
        bad = [l for l in x.errors().splitlines()
               if "Sanitizer" in l or "runtime error" in l
               or "CRITICAL" in l or "WARNING" in l]
        self.assertEqual(bad, [], "xmitm reported problems on stderr:\n%s"
                         % x.errors())

    def assert_exit_0(self, x):
        rc = x.stop()
        self.assertEqual(rc, 0, "xmitm did not exit 0 after SIGTERM "
                         "(status %s)\n%s" % (rc, x.describe()))
        self.assert_clean_stderr(x)

    def wait_closed_line(self, x, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            lines = closed_lines(x.output(), n)
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def echo_roundtrip(self, sock, payload, what, x):
        sock.sendall(payload)
        got, how = read_exact(sock, len(payload), timeout=10)
        self.assertEqual((got, how), (payload, "ok"),
                         "%s: the echo did not come back unchanged\n%s"
                         % (what, x.describe()))

    def sampler(self, x):
        s = RssSampler(x.proc.pid)
        self.addCleanup(s.stop)
        return s

    def assert_rss(self, x, sampler, phase, base):
        peak = sampler.peak(phase)
        self.assertGreater(sampler.count(phase), 0,
                           "no RSS sample of xmitm during %s" % phase)
        self.assertLessEqual(
            peak - base, RSS_SLACK,
            "xmitm's RSS grew by %.1f MiB during %s (baseline %.1f MiB, peak "
            "%.1f MiB, allowed growth %.0f MiB): the relay buffers what the "
            "slow side does not take instead of stopping to read\n%s"
            % ((peak - base) / MiB, phase, base / MiB, peak / MiB,
               RSS_SLACK / MiB, x.describe()))

    # ------------------------------------------------------------------
    def test_backpressure_slow_server(self):
        """client -> xmitm -> upstream that does not read."""
        go = threading.Event()
        got = {}
        done = threading.Event()

        def handler(c, i):
            if i != 0:
                return
            if not srv.wait(go, 60):
                return
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MiB)
            t = time.monotonic()
            got["count"], got["sha"], got["how"] = drain(c)
            got["took"] = time.monotonic() - t
            done.set()
            c.shutdown(socket.SHUT_WR)

        srv = self.server(handler, rcvbuf=4096)
        x = self.start_xmitm(srv.port, env=rss_env())
        base = rss_bytes(x.proc.pid)
        rss = self.sampler(x)
        rss.phase("push")
        client = self.connect(x)
        res = flood(client, stream_header(), PUSH_SECONDS)
        rss.phase("drain")
        note("slow server: client %r; xmitm RSS baseline %.1f MiB, peak "
             "during the push %.1f MiB", res, base / MiB,
             rss.peak("push") / MiB)
        self.assert_alive(x, "during the push")
        self.assertTrue(
            res.pushed < PUSH_LIMIT and res.stalled >= STALL_MIN,
            "the client could push without being stopped (%r; expected a "
            "full send buffer with no progress for >= %.0f s): xmitm kept "
            "reading while the upstream read nothing\n%s"
            % (res, STALL_MIN, x.describe()))
        self.assert_rss(x, rss, "push", base)

        client.shutdown(socket.SHUT_WR)
        go.set()
        self.assertTrue(done.wait(DRAIN_TIMEOUT + 5),
                        "the upstream handler never finished reading: %r\n%s"
                        % (srv.errors, x.describe()))
        self.assertEqual(
            (got["count"], got["how"]), (res.pushed, "eof"),
            "the upstream got %d bytes (ending in %s), the client pushed %d\n"
            "%s" % (got["count"], got["how"], res.pushed, x.describe()))
        self.assertEqual(got["sha"], res.sha, "same length but other bytes "
                         "(SHA-256 differs) at the upstream")
        how, _ = wait_closed(client, 10)
        self.assertEqual(how, "eof", "the client got no EOF after the "
                         "upstream closed its side\n%s" % x.describe())
        rss.phase("end")
        note("slow server: drained in %.1f s, RSS peak while draining "
             "%.1f MiB", got["took"], rss.peak("drain") / MiB)
        self.assert_rss(x, rss, "drain", base)
        rss.stop()
        self.assertEqual(srv.errors, [])
        self.assert_exit_0(x)

    # ------------------------------------------------------------------
    def test_backpressure_slow_client(self):
        """upstream floods -> xmitm -> client that does not read."""
        flooded = threading.Event()
        result = {}

        def handler(c, i):
            if i != 0:
                return
            result["flood"] = flood(c, server_header(), FLOOD_SECONDS,
                                    stop=srv.closing)
            flooded.set()
            c.shutdown(socket.SHUT_WR)
            # wait for the client's end (it closes after reading it all)
            c.setblocking(True)
            wait_closed(c, DRAIN_TIMEOUT + 10)

        srv = self.server(handler)
        x = self.start_xmitm(srv.port, env=rss_env())
        base = rss_bytes(x.proc.pid)
        rss = self.sampler(x)
        rss.phase("flood")
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(client.close)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.settimeout(5)
        client.connect((LOOPBACK, x.port))
        client.sendall(stream_header())
        self.assertTrue(flooded.wait(FLOOD_SECONDS + 10),
                        "the upstream never finished flooding (did xmitm "
                        "connect to it?) %r\n%s" % (srv.errors, x.describe()))
        rss.phase("drain")
        res = result["flood"]
        note("slow client: upstream %r; xmitm RSS baseline %.1f MiB, peak "
             "during the flood %.1f MiB", res, base / MiB,
             rss.peak("flood") / MiB)
        self.assert_alive(x, "during the flood")
        self.assertTrue(
            res.pushed < PUSH_LIMIT and res.stalled >= STALL_MIN,
            "the upstream could write without being stopped (%r; expected "
            "its writes to block for >= %.0f s): xmitm kept reading while "
            "the client read nothing\n%s" % (res, STALL_MIN, x.describe()))
        self.assert_rss(x, rss, "flood", base)

        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MiB)
        t = time.monotonic()
        count, sha, how = drain(client)
        took = time.monotonic() - t
        self.assertEqual((count, how), (res.pushed, "eof"),
                         "the client got %d bytes (ending in %s), the "
                         "upstream pushed %d\n%s"
                         % (count, how, res.pushed, x.describe()))
        self.assertEqual(sha, res.sha, "same length but other bytes "
                         "(SHA-256 differs) at the client")
        client.shutdown(socket.SHUT_WR)
        rss.phase("end")
        note("slow client: drained in %.1f s, RSS peak while draining "
             "%.1f MiB", took, rss.peak("drain") / MiB)
        self.assert_rss(x, rss, "drain", base)
        rss.stop()
        srv.close()
        self.assertEqual(srv.errors, [])
        self.assert_exit_0(x)

    # ------------------------------------------------------------------
    def test_peer_vanishes_mid_stanza(self):
        srv = self.server(echo_handler)
        x = self.start_xmitm(srv.port)
        msg = (b"<message to='b@localhost' id='b%d' type='chat'>"
               b"<body>still here %d &lt;&amp;&gt;</body></message>")

        # session B, used before and after A vanishes
        b = self.connect(x)
        self.echo_roundtrip(b, stream_header(), "session B header", x)
        self.echo_roundtrip(b, msg % (1, 1), "session B before A's reset", x)

        # session A: header and half a stanza, then a reset
        a = socket.create_connection((LOOPBACK, x.port), 5)
        self.addCleanup(a.close)
        a_port = a.getsockname()[1]
        self.echo_roundtrip(a, stream_header() + HALF,
                            "session A (header + half a stanza)", x)
        reset(a)
        self.echo_roundtrip(b, msg % (2, 2), "session B after A's reset", x)

        out = x.output()
        a_no = conn_number(out, a_port)
        self.assertIsNotNone(a_no, "no `#N connected:` line naming client "
                             "port %d\n%s" % (a_port, x.describe()))
        lines = self.wait_closed_line(x, a_no)
        self.assertTrue(lines, "xmitm's output has no `#%d closed:` line "
                        "for session A (reset mid-stanza)\n%s"
                        % (a_no, x.describe()))

        # a third connection is still accepted and relayed
        c = self.connect(x)
        self.echo_roundtrip(c, stream_header() + msg % (3, 3),
                            "a third connection after A's reset", x)
        c.shutdown(socket.SHUT_WR)
        how, _ = wait_closed(c, 5)
        self.assertEqual(how, "eof", "third connection: no clean close")

        # the mirror: the upstream of session D vanishes mid-stanza
        d = socket.create_connection((LOOPBACK, x.port), 5)
        self.addCleanup(d.close)
        d_port = d.getsockname()[1]
        self.echo_roundtrip(d, stream_header(), "session D header", x)
        d.sendall(b"<message to='d@localhost'>" + VANISH + b"</message>")
        how, _ = wait_closed(d, 5)
        self.assertIn(how, ("eof", "reset"), "session D: the upstream reset "
                      "its connection, but the client's connection was not "
                      "closed within 5 s\n%s" % x.describe())
        self.echo_roundtrip(b, msg % (4, 4),
                            "session B after D's upstream reset", x)
        self.assert_alive(x, "after the resets")

        out = x.output()
        d_no = conn_number(out, d_port)
        b_no = conn_number(out, b.getsockname()[1])
        self.assertIsNotNone(d_no, "no `#N connected:` line for session D")
        self.assertIsNotNone(b_no, "no `#N connected:` line for session B")
        self.assertTrue(self.wait_closed_line(x, d_no),
                        "no `#%d closed:` line for session D, whose upstream "
                        "vanished\n%s" % (d_no, x.describe()))
        self.assertEqual(closed_lines(x.output(), b_no), [],
                         "session B was reported closed while it is open\n%s"
                         % x.describe())

        b.shutdown(socket.SHUT_WR)
        how, _ = wait_closed(b, 5)
        self.assertEqual(how, "eof", "session B: no clean close at the end")
        srv.close()
        self.assertEqual(srv.errors, [])
        self.assert_exit_0(x)

    # ------------------------------------------------------------------
    def test_ipv6_literals(self):
        ok, why = can_bind_ipv6_loopback()
        if not ok:
            self.fail("this machine has no usable ::1 (bind to ('::1', 0) "
                      "failed: %s); the IPv6 test cannot run" % why)
        srv = self.server(echo_handler, host=LOOPBACK6)
        x = self.start_xmitm(srv.port, listen_host=LOOPBACK6,
                             upstream_host="[::1]", listen_port=free_port6())
        self.assertIn("[::1]:%d" % x.port, x.args)
        s = self.connect(x, host=LOOPBACK6)
        body = b"over IPv6 loopback \xe2\x98\x83"
        payload = (stream_header() + b"<message to='v6@localhost' id='v6' "
                   b"type='chat'><body>" + body + b"</body></message>")
        self.echo_roundtrip(s, payload, "IPv6 round trip", x)
        s.shutdown(socket.SHUT_WR)
        how, _ = wait_closed(s, 5)
        self.assertEqual(how, "eof", "no clean close over IPv6")
        n = conn_number(x.output(), s.getsockname()[1])
        self.assertIsNotNone(n, "no `#N connected:` line naming the IPv6 "
                             "client's port\n%s" % x.describe())
        self.wait_closed_line(x, n)
        self.assert_exit_0(x)
        out = x.output()
        for d in ("C->S", "S->C"):
            ev = re.search(r"#%d %s message[^\n]*\n((?:[ \t][^\n]*\n)+)"
                           % (n, re.escape(d)), out)
            self.assertTrue(ev and "over IPv6 loopback" in ev.group(1)
                            and "<message" in ev.group(1),
                            "the <message> is not printed for %s\n%s"
                            % (d, out))
        self.assertEqual(srv.errors, [])

    # ------------------------------------------------------------------
    def test_sigint_and_sigterm(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(signal=sig.name):
                self.check_signal(sig)

    def check_signal(self, sig):
        srv = self.server(echo_handler)
        x = self.start_xmitm(srv.port)
        s = self.connect(x)
        self.echo_roundtrip(s, stream_header() + b"<message><body>mid",
                            "session before %s" % sig.name, x)
        x.proc.send_signal(sig)
        t0 = time.monotonic()
        try:
            rc = x.proc.wait(5)
        except Exception:
            rc = None
        elapsed = time.monotonic() - t0
        how, _ = wait_closed(s, 5)
        x.stop()   # closes the output files (kills it if still running)
        self.assertEqual(rc, 0, "xmitm did not exit 0 within 5 s of %s "
                         "(status %s after %.1f s)\n%s"
                         % (sig.name, rc, elapsed, x.describe()))
        self.assertIn(how, ("eof", "reset"), "the client's connection was "
                      "not closed after %s" % sig.name)
        n = conn_number(x.output(), s.getsockname()[1])
        self.assertIsNotNone(n, "no `#N connected:` line for the client")
        self.assertTrue(closed_lines(x.output(), n),
                        "no `#%d closed:` line after %s\n%s"
                        % (n, sig.name, x.describe()))
        self.assert_clean_stderr(x)
        srv.close()

    # ------------------------------------------------------------------
    def test_signal_during_startup(self):
        """A SIGTERM while xmitm is still starting (here: making its CA in
        a fresh data dir) is held until the handlers are in place; then
        xmitm stops the usual way, exit 0, instead of dying of it.

        xmitm holds the signal by blocking it, so the test sends it once
        /proc shows SIGTERM blocked: that is inside start-up.  Before the
        fix it was never blocked, and a signal there killed xmitm."""
        srv = self.server(echo_handler)
        x = XmitmAt(LOOPBACK, LOOPBACK, srv.port)
        self.addCleanup(x.cleanup)
        x._out = open(x.stdout_path, "wb")
        x._err = open(x.stderr_path, "wb")
        x.proc = subprocess.Popen(x.command, stdin=subprocess.DEVNULL,
                                  stdout=x._out, stderr=x._err, env=x.env)
        sigterm_bit = 1 << (signal.SIGTERM - 1)
        blocked = False
        deadline = time.monotonic() + 20
        while (not blocked and x.proc.poll() is None
               and "listening on" not in x.errors()
               and time.monotonic() < deadline):
            try:
                with open("/proc/%d/status" % x.proc.pid) as f:
                    for line in f:
                        if line.startswith("SigBlk:"):
                            blocked = bool(int(line.split()[1], 16)
                                           & sigterm_bit)
            except OSError:
                break
        self.assertTrue(blocked, "xmitm never held SIGTERM back while "
                        "starting: a signal then would kill it\n%s"
                        % x.describe())
        starting = "listening on" not in x.errors()
        x.proc.send_signal(signal.SIGTERM)
        try:
            rc = x.proc.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        x.stop()
        self.assertEqual(rc, 0, "xmitm did not exit 0 after a SIGTERM "
                         "during start-up (status %s)\n%s"
                         % (rc, x.describe()))
        self.assertIn("listening on", x.errors(),
                      "xmitm stopped before it finished starting")
        self.assert_clean_stderr(x)
        note("SIGTERM sent during start-up (%s): exit 0",
             "before the listening line" if starting else
             "as the listening line came")

    # ------------------------------------------------------------------
    def test_reset_propagates(self):
        header = stream_header()
        ready = threading.Event()
        seen = {}
        done = threading.Event()

        def handler(c, i):
            data, how = read_exact(c, len(header), 10)
            seen["first"] = (data, how)
            ready.set()
            if how != "ok":
                done.set()
                return
            how, rest = wait_closed(c, 10)
            seen["how"], seen["at"], seen["rest"] = how, time.monotonic(), rest
            done.set()

        srv = self.server(handler)
        x = self.start_xmitm(srv.port)
        s = socket.create_connection((LOOPBACK, x.port), 5)
        self.addCleanup(s.close)
        port = s.getsockname()[1]
        s.sendall(header)
        self.assertTrue(ready.wait(10), "the upstream got no connection")
        self.assertEqual(seen["first"], (header, "ok"),
                         "the upstream did not get the stream header")
        t0 = time.monotonic()
        reset(s)
        self.assertTrue(done.wait(12), "upstream handler stuck: %r"
                        % srv.errors)
        self.assertIn(seen["how"], ("eof", "reset"),
                      "the upstream connection stayed open after the "
                      "client's reset\n%s" % x.describe())
        self.assertLessEqual(seen["at"] - t0, 2.0,
                             "the upstream saw the close only after %.1f s"
                             % (seen["at"] - t0))
        self.assertEqual(seen["rest"], b"", "unexpected bytes upstream")
        n = conn_number(x.output(), port)
        self.assertIsNotNone(n, "no `#N connected:` line for the client")
        self.assertTrue(self.wait_closed_line(x, n),
                        "no `#%d closed:` line after the client's reset\n%s"
                        % (n, x.describe()))
        srv.close()
        self.assertEqual(srv.errors, [])
        self.assert_exit_0(x)


if __name__ == "__main__":
    peers.run_tests()
