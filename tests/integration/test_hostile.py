#!/usr/bin/python3
"""The catalogue of hostile inputs (docs/hostile.md): one test per entry.

Run:  XMITM=build/proxy/xmitm /usr/bin/python3 tests/integration/test_hostile.py
Exit status 0 all passed, 1 a failure (a missing binary or peer fails, it is
never skipped).  XMITM_KEEP_TMP=1 keeps the temp dirs.

Each test starts one xmitm (recording to a file) in front of a Router: the
Router relays the well-behaved connection (a scripted client logging in to a
real prosody with PLAIN: stream header to='localhost') to prosody and hands
every other connection to the test's scripted peer (by default an echo, so
both directions carry the hostile bytes).  The well-behaved session is up
before the hostile input and must still work after it; at the end xmitm must
be alive with its descriptors back at the count it had before any
connection, exit 0 on SIGTERM with nothing on stderr but its start line (no
sanitizer report), and `xmitm show` of its recording must print exactly what
it printed live.

What each test holds xmitm to is in its docstring and in docs/hostile.md.
"""

import base64
import hashlib
import os
import re
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers             # noqa: E402
import test_robustness as rb  # noqa: E402

XMITM = os.environ.get("XMITM")
LOOPBACK = peers.LOOPBACK
MiB = 1024 * 1024
STREAM_NS = "http://etherx.jabber.org/streams"
RSS_SLACK = 16 * MiB      # allowed growth of xmitm's RSS during one input
GOOD_USER, GOOD_PW = "good", "good-Pw-5e1f"
HOSTILE_DOMAIN = "hostile.test"

HEADER = ("<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
          "xmlns:stream='%s' version='1.0'>" % (HOSTILE_DOMAIN, STREAM_NS)
          ).encode()
GOOD_MARK = b"to='localhost'"


# --------------------------------------------------------------------------
# Small helpers

def sha(data):
    return hashlib.sha256(data).hexdigest()


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def fd_listing(pid):
    out = []
    try:
        for name in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
            try:
                out.append("%s -> %s" % (name, os.readlink(
                    "/proc/%d/fd/%s" % (pid, name))))
            except OSError:
                pass
    except OSError as e:
        out.append(str(e))
    return "\n".join(out)


def settled_fds(pid, timeout=5.0):
    """The descriptor count once it stopped changing for 0.3 s."""
    deadline = time.monotonic() + timeout
    last = fd_count(pid)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = fd_count(pid)
        if now == last:
            return now
        last = now
    return last


def recv_until(sock, marker, timeout=10.0, buf=b""):
    """Bytes (buf first) until marker is in them, EOF or timeout."""
    deadline = time.monotonic() + timeout
    data = bytearray(buf)
    while marker not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def recv_all(sock, timeout=30.0):
    """(bytes until EOF, how): how is 'eof', 'reset' or 'timeout'."""
    how, data = rb.wait_closed(sock, timeout)
    return data, how


def conn_lines(out, n):
    """The printed lines of connection n (event lines, not the XML)."""
    pat = re.compile(r" #%d " % n)
    return [l for l in out.splitlines() if pat.search(l)]


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --------------------------------------------------------------------------
# The upstream: prosody for the well-behaved client, scripts for the rest

def echo_handler(c, first):
    """Every byte back, then the close."""
    data = first
    while data:
        c.sendall(data)
        data = c.recv(262144)
    c.shutdown(socket.SHUT_WR)


def sink_handler(c, first):
    """Reads to EOF; answers with the length and SHA-256 of what it got."""
    h = hashlib.sha256(first)
    n = len(first)
    while True:
        data = c.recv(262144)
        if not data:
            break
        h.update(data)
        n += len(data)
    c.sendall(b"%d %s" % (n, h.hexdigest().encode()))
    c.shutdown(socket.SHUT_WR)


class Router:
    """A TCP server on loopback, xmitm's upstream.  A connection whose first
    bytes hold to='localhost' (the well-behaved client's stream header) is
    relayed to prosody; any other goes to handler(sock, first_bytes) in its
    own thread.  Handler exceptions are kept in .errors."""

    def __init__(self, prosody_port, handler=echo_handler):
        self.target = (LOOPBACK, prosody_port)
        self.handler = handler
        self.errors = []
        self.conns = []
        self.closing = False
        self._lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                if self.closing:
                    c.close()
                    return
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(60)
            first = c.recv(65536)
            if GOOD_MARK in first:
                self._relay(c, first)
            elif first:
                self.handler(c, first)
        except Exception as e:
            if not self.closing:
                self.errors.append(repr(e))
        finally:
            c.close()

    def _relay(self, c, first):
        u = socket.create_connection(self.target, 10)
        with self._lock:
            self.conns.append(u)
        u.sendall(first)

        def pump(src, dst):
            try:
                while True:
                    d = src.recv(65536)
                    if not d:
                        break
                    dst.sendall(d)
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        t = threading.Thread(target=pump, args=(u, c), daemon=True)
        t.start()
        pump(c, u)
        t.join(60)
        u.close()

    def close(self):
        self.closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self._lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._t.join(5)


class GoodClient:
    """A scripted, well-behaved client: plaintext stream to prosody
    (through xmitm and the Router), SASL PLAIN, bind; roundtrip() sends a
    message to its own full JID and a ping, and waits for both."""

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.buf = b""
        self.jid = None
        self.n = 0

    def _send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _wait(self, marker, what, timeout=15.0):
        marker = marker.encode()
        self.buf = recv_until(self.sock, marker, timeout, self.buf)
        i = self.buf.find(marker)
        if i < 0:
            raise AssertionError("the well-behaved client got no %s (%r) "
                                 "within %.0f s; it got: %r"
                                 % (what, marker, timeout, self.buf[-2000:]))
        got = self.buf[:i + len(marker)]
        self.buf = self.buf[i + len(marker):]
        return got

    def _header(self):
        self._send("<?xml version='1.0'?><stream:stream to='localhost' "
                   "xmlns='jabber:client' xmlns:stream='%s' version='1.0'>"
                   % STREAM_NS)
        self._wait("</stream:features>", "stream features")

    def login(self):
        self.sock = socket.create_connection((LOOPBACK, self.port), 10)
        self.local_port = self.sock.getsockname()[1]
        self._header()
        plain = base64.b64encode(b"\0" + GOOD_USER.encode() + b"\0"
                                 + GOOD_PW.encode()).decode()
        self._send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                   "mechanism='PLAIN'>%s</auth>" % plain)
        self._wait("<success", "SASL success")
        self._header()
        self._send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:"
                   "xml:ns:xmpp-bind'><resource>good</resource></bind></iq>")
        got = self._wait("</iq>", "bind result")
        m = re.search(rb"<jid>([^<]+)</jid>", got)
        if not m:
            raise AssertionError("no bound JID in %r" % got)
        self.jid = m.group(1).decode()
        return self

    def roundtrip(self, tag):
        """A message to itself and a ping, both answered by prosody."""
        self.n += 1
        body = "good-%s-%d" % (tag, self.n)
        self._send("<message to='%s' type='chat' id='m%d'><body>%s</body>"
                   "</message>" % (self.jid, self.n, body))
        self._wait("<body>%s</body>" % body, "its own message back")
        self._send("<iq type='get' id='ping%d' to='localhost'><ping "
                   "xmlns='urn:xmpp:ping'/></iq>" % self.n)
        self._wait("id='ping%d'" % self.n, "the ping's answer")
        return body

    def close(self):
        try:
            self._send("</stream:stream>")
            recv_until(self.sock, b"</stream:stream>", 10, self.buf)
        finally:
            self.sock.close()


class MemTls:
    """TLS over a socket through memory BIOs, so a test can send part of a
    record, or bytes it already read (first) can start the handshake."""

    def __init__(self, sock, ctx, server_side, server_hostname=None, first=b""):
        self.sock = sock
        self.inc = ssl.MemoryBIO()
        self.out = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_side=server_side,
                                server_hostname=server_hostname)
        if first:
            self.inc.write(first)

    def flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the peer closed the connection")
        self.inc.write(data)

    def handshake(self):
        while True:
            try:
                self.obj.do_handshake()
                self.flush()
                return
            except ssl.SSLWantReadError:
                self.flush()
                self._fill()

    def hello(self):
        """The ClientHello (client side), not sent."""
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.out.read()

    def records(self, data):
        """data as TLS records, not sent."""
        self.obj.write(data)
        return self.out.read()

    def write(self, data):
        self.obj.write(data)
        self.flush()

    def read(self):
        """Plaintext; b'' on close_notify or EOF."""
        while True:
            try:
                return self.obj.read(65536)
            except ssl.SSLWantReadError:
                try:
                    self._fill()
                except EOFError:
                    return b""
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""


def tls_echo_handler(cert, key):
    """A direct-TLS upstream (prosody's certificate) that echoes what it
    decrypts; on CUT it sends half a record of its own and closes."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def handler(c, first):
        if not first.startswith(b"\x16"):
            return echo_handler(c, first)
        t = MemTls(c, ctx, True, first=first)
        t.handshake()
        while True:
            data = t.read()
            if not data:
                break
            if b"CUT" in data:
                rec = t.records(b"<message><body>cut short by the server"
                                b"</body></message>")
                c.sendall(rec[:len(rec) // 2])
                c.shutdown(socket.SHUT_WR)
                recv_all(c, 10)
                return
            t.write(data)
        c.shutdown(socket.SHUT_WR)
    return handler


class Ctx:
    """One test's xmitm, router and well-behaved client."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


# --------------------------------------------------------------------------

class HostileTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        cls.fd_limit = raise_fd_limit()
        cls.prosody = peers.Prosody(users={GOOD_USER: GOOD_PW,
                                           "alice": "alice-Pw-0c1d"},
                                    debug_log=False)
        cls.prosody.start()

    @classmethod
    def tearDownClass(cls):
        cls.prosody.stop()

    # ---- set-up and the checks every test ends with ----

    def start(self, *extra, handler=echo_handler, rss=False):
        """xmitm (recording) in front of a Router, its descriptor baseline,
        and the well-behaved client logged in."""
        tmp = tempfile.mkdtemp(prefix="xmitm-hostile-")
        if not os.environ.get("XMITM_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, tmp, True)
        router = Router(self.prosody.port, handler)
        self.addCleanup(router.close)
        rec = os.path.join(tmp, "rec.jsonl")
        x = peers.Xmitm(LOOPBACK, router.port,
                        extra_args=["--record", rec] + list(extra),
                        env=rb.rss_env() if rss else None)
        self.addCleanup(x.cleanup)
        x.start()
        base = settled_fds(x.proc.pid)
        good = GoodClient(x.port).login()
        self.addCleanup(good.sock.close)
        good.roundtrip("before")
        return Ctx(x=x, router=router, good=good, base=base, rec=rec, tmp=tmp,
                   rss0=rb.rss_bytes(x.proc.pid))

    def hostile(self, ctx, timeout=10):
        """A raw connection to xmitm for the hostile side."""
        s = socket.create_connection((LOOPBACK, ctx.x.port), timeout)
        self.addCleanup(s.close)
        return s

    def conn_no(self, ctx, sock_or_port):
        port = (sock_or_port if isinstance(sock_or_port, int)
                else sock_or_port.getsockname()[1])
        deadline = time.monotonic() + 5
        while True:
            n = rb.conn_number(ctx.x.output(), port)
            if n is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertIsNotNone(n, "no `#N connected:` line for client port %d\n%s"
                             % (port, ctx.x.describe()))
        return n

    def wait_closed_line(self, ctx, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not rb.closed_lines(ctx.x.output(), n):
            if time.monotonic() > deadline:
                self.fail("no `#%d closed:` line\n%s" % (n, ctx.x.describe()))
            time.sleep(0.05)
        return rb.closed_lines(ctx.x.output(), n)[0]

    def assert_alive(self, ctx, when=""):
        self.assertIsNone(ctx.x.proc.poll(), "xmitm exited (status %s) %s\n%s"
                          % (ctx.x.proc.returncode, when, ctx.x.describe()))

    def assert_rss(self, ctx, peak, what):
        self.assertLessEqual(
            peak - ctx.rss0, RSS_SLACK,
            "xmitm's RSS grew by %.1f MiB during %s (from %.1f MiB; allowed "
            "%.0f MiB)\n%s" % ((peak - ctx.rss0) / MiB, what, ctx.rss0 / MiB,
                               RSS_SLACK / MiB, ctx.x.describe()))

    def finish(self, ctx):
        """The well-behaved session still works and ends cleanly; xmitm is
        alive, back at its descriptor baseline, exits 0 with a clean
        stderr, and `show` of the recording equals the live output.
        Returns the live output."""
        x = ctx.x
        self.assert_alive(ctx, "after the hostile input")
        body = ctx.good.roundtrip("after")
        ctx.good.close()
        deadline = time.monotonic() + 15
        while fd_count(x.proc.pid) != ctx.base and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(fd_count(x.proc.pid), ctx.base,
                         "xmitm's descriptors did not come back to the "
                         "baseline once every connection closed:\n%s\n%s"
                         % (fd_listing(x.proc.pid), x.describe()))
        rc = x.stop()
        self.assertEqual(rc, 0, "xmitm exited %r after SIGTERM\n%s"
                         % (rc, x.describe()))
        err = [l for l in x.errors().splitlines()
               if not l.startswith("xmitm: listening on ")]
        self.assertEqual(err, [], "xmitm printed on stderr:\n%s" % x.errors())
        out = x.output()
        good = self.conn_no(ctx, ctx.good.local_port)
        glines = conn_lines(out, good)
        self.assertEqual([l for l in glines if re.search(
            r" (error|warning): ", l)], [],
            "the well-behaved session #%d got errors or warnings" % good)
        self.assertEqual(out.count("<body>%s</body>" % body), 2,
                         "the well-behaved client's last message is not "
                         "printed in each direction:\n%s"
                         % "\n".join(glines))
        self.assertIn("closed: both sides closed", glines[-1])
        self.assertEqual(ctx.router.errors, [])
        show = subprocess.run([XMITM, "show", "--color=never", ctx.rec],
                              capture_output=True, timeout=120)
        self.assertEqual((show.returncode, show.stderr), (0, b""),
                         "xmitm show of the recording")
        self.assertTrue(show.stdout.decode("utf-8", "replace") == out,
                        "xmitm show of the recording differs from the live "
                        "output")
        return out

    # ------------------------------------------------------------------
    # XML

    def echo(self, ctx, payload, header=HEADER, timeout=30):
        """A hostile connection sends header + payload and closes its side;
        the echo must bring every byte back.  Returns its number."""
        s = self.hostile(ctx)
        got = {}

        def read():
            got["data"], got["how"] = recv_all(s, timeout)
        t = threading.Thread(target=read)
        t.start()
        s.sendall(header + payload)
        s.shutdown(socket.SHUT_WR)
        t.join(timeout + 5)
        sent = header + payload
        self.assertEqual((len(got["data"]), got["how"]), (len(sent), "eof"),
                         "the echo did not bring every byte back\n%s"
                         % ctx.x.describe())
        self.assertEqual(sha(got["data"]), sha(sent), "other bytes came back")
        n = self.conn_no(ctx, s)
        self.wait_closed_line(ctx, n)
        return n

    def assert_both(self, out, n, text, count=1):
        """text is in `count` lines of #n in each direction."""
        for d in ("C->S", "S->C"):
            lines = [l for l in conn_lines(out, n) if " %s " % d in l
                     and text in l]
            self.assertEqual(len(lines), count, "#%d %s: %d lines with %r, "
                             "not %d:\n%s" % (n, d, len(lines), text, count,
                                              "\n".join(conn_lines(out, n))))

    def test_billion_laughs(self):
        """A DOCTYPE declaring nested entities before the stream header,
        then 10 MB of references to the biggest: reported once per
        direction, never expanded, decoding of the direction stops, every
        byte is forwarded, memory stays flat."""
        ctx = self.start(rss=True)
        ents = "".join('<!ENTITY l%d "%s">' % (i, "&l%d;" % (i - 1) * 10
                                                 if i else "lol")
                       for i in range(10))
        doc = ("<?xml version='1.0'?><!DOCTYPE stream:stream [%s]>" % ents
               ).encode()
        refs = b"<message><body>" + b"&l9;" * (10 * MiB // 4) + b"</body></message>"
        rss = rb.RssSampler(ctx.x.proc.pid)
        self.addCleanup(rss.stop)
        n = self.echo(ctx, HEADER[len(b"<?xml version='1.0'?>"):] + refs,
                      header=doc)
        rss.stop()
        self.assert_rss(ctx, rss.peak("start"), "the billion laughs")
        out = self.finish(ctx)
        self.assert_both(out, n, "warning: DOCTYPE in the stream: XMPP forbids "
                         "it (RFC 6120 §11.1); not expanded, decoding of this "
                         "direction stops until the stream restarts (at byte ")
        self.assertNotIn("lollol", out)
        self.assertNotRegex("\n".join(conn_lines(out, n)), r" message, ")

    def test_comments_and_processing_instructions(self):
        """Comments and PIs between and inside stanzas: one warning each,
        skipped; the stanzas around them are decoded and printed."""
        ctx = self.start()
        payload = (b"<message id='c1'><!-- inside --><body>one</body>"
                   b"<?pi inside?></message><!-- between -->"
                   b"<?php echo 'between'; ?><message id='c2'><body>two"
                   b"</body></message>")
        n = self.echo(ctx, payload)
        out = self.finish(ctx)
        for what, count in (("comment", 2), ("processing instruction", 2)):
            self.assert_both(out, n, "warning: %s in the stream: XMPP forbids "
                             "it (RFC 6120 §11.1); skipped" % what, count)
        self.assert_both(out, n, " message, ", 2)
        self.assertEqual(out.count("<body>two</body>"), 2)

    def test_100mb_stanza(self):
        """A 100 MB stanza, then a normal one: reported as over the size cap
        (1 MiB by default), forwarded byte for byte, memory flat; the next
        stanza is decoded."""
        ctx = self.start(handler=sink_handler, rss=True)
        s = self.hostile(ctx, timeout=60)
        big = (b"<message id='big'><body>" + b"x" * (100 * MiB)
               + b"</body></message>")
        after = b"<message id='after'><body>after the big one</body></message>"
        rss = rb.RssSampler(ctx.x.proc.pid)
        self.addCleanup(rss.stop)
        t0 = time.monotonic()
        s.sendall(HEADER + big + after)
        s.shutdown(socket.SHUT_WR)
        answer, how = recv_all(s, 120)
        took = time.monotonic() - t0
        rss.stop()
        sent = HEADER + big + after
        self.assertEqual(answer.decode(), "%d %s" % (len(sent), sha(sent)),
                         "the upstream did not get every byte (%s)\n%s"
                         % (how, ctx.x.describe()))
        self.assert_rss(ctx, rss.peak("start"), "the 100 MB stanza")
        n = self.conn_no(ctx, s)
        self.wait_closed_line(ctx, n)
        out = self.finish(ctx)
        lines = "\n".join(conn_lines(out, n))
        self.assertIn("C->S warning: stanza larger than 1048576 bytes: not "
                      "decoded, still forwarded (at byte %d of this direction)"
                      % len(HEADER), lines)
        self.assertIn("C->S stanza too large to decode, %d bytes (forwarded)"
                      % len(big), lines)
        self.assertIn("C->S message, %d bytes" % len(after), lines)
        self.assertIn("<body>after the big one</body>", out)
        print("  [hostile] 100 MB stanza relayed in %.1f s, RSS %.1f -> peak "
              "%.1f MiB" % (took, ctx.rss0 / MiB, rss.peak("start") / MiB),
              file=sys.stderr)

    def test_deep_nesting(self):
        """64 levels (the cap) are decoded; 10,000 nested elements stop
        decoding of the direction with one warning; a million levels (3 MB,
        inside a stanza over the size cap) cost no memory; bytes always flow
        byte for byte."""
        ctx = self.start(rss=True)

        def nested(levels, tag):
            return (b"<message id='%s'>" % tag + b"<a>" * (levels - 1)
                    + b"</a>" * (levels - 1) + b"</message>")
        ok = self.echo(ctx, nested(64, b"deep64") + b"<presence/>")
        rss = rb.RssSampler(ctx.x.proc.pid)
        self.addCleanup(rss.stop)
        deep = self.echo(ctx, nested(10000, b"deep10k") + b"<presence/>")
        huge = self.echo(ctx, nested(1 << 20, b"deep1m") + b"<presence/>")
        rss.stop()
        self.assert_rss(ctx, rss.peak("start"), "the nested elements")
        out = self.finish(ctx)
        self.assert_both(out, ok, " message, ")
        self.assert_both(out, ok, " presence, ")
        for n, tag in ((deep, "deep10k"), (huge, "deep1m")):
            # at the 65th level's start tag
            at = len(HEADER) + len("<message id='%s'>" % tag) + 3 * 63
            self.assert_both(out, n, "warning: elements nested more than 64 "
                             "deep: decoding of this direction stops until the "
                             "stream restarts; bytes are still forwarded (at "
                             "byte %d of this direction)" % at)
        for n in (deep, huge):
            self.assertNotRegex("\n".join(conn_lines(out, n)),
                                r" (message|presence), ")
        self.assertLess(len(out), 200000, "the output is too long")

    def test_invalid_utf8(self):
        """Bytes that are not UTF-8 (a stray continuation byte, an overlong
        form, a UTF-16 surrogate, a sequence cut by markup): each is one
        error line per direction, decoding of the direction stops, every
        byte is forwarded."""
        ctx = self.start()
        cases = [b"\xff\xfe", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80",
                 b"\xe2\x98", b"\xf4\x90\x80\x80"]
        conns = []
        for bad in cases:
            payload = (b"<message><body>a" + bad + b"</body></message>"
                       b"<message><body>after</body></message>")
            conns.append(self.echo(ctx, payload))
        out = self.finish(ctx)
        for n in conns:
            self.assert_both(out, n, "error: not well-formed XML (not "
                             "well-formed (invalid token), line 1 column ")
            self.assertNotIn(" message, ", "\n".join(conn_lines(out, n)))

    def test_nul_bytes(self):
        """NUL in text, in a tag name, in an attribute and before the stream
        header: one error line per direction, every byte forwarded."""
        ctx = self.start()
        cases = [(HEADER, b"<message><body>a\0b</body></message>"),
                 (HEADER, b"<mess\0age/>"),
                 (HEADER, b"<message id='a\0'/>"),
                 (b"\0", HEADER + b"<message/>")]
        conns = [self.echo(ctx, p, header=h) for h, p in cases]
        out = self.finish(ctx)
        for n in conns:
            self.assert_both(out, n, "error: not well-formed XML (")
            self.assertNotIn(" message, ", "\n".join(conn_lines(out, n)))

    def test_stream_header_without_namespace(self):
        """<stream> in no namespace, or a wrong streams namespace: a warning,
        and decoding goes on; <stream:stream> with its prefix unbound is
        malformed XML (an error, decoding stops).  Bytes flow."""
        ctx = self.start()
        msg = b"<message><body>m</body></message>"
        none = self.echo(ctx, msg, header=b"<stream to='x' version='1.0'>")
        wrong = self.echo(ctx, msg, header=b"<stream:stream xmlns:stream="
                          b"'urn:wrong' xmlns='jabber:client' to='x'>")
        unbound = self.echo(ctx, msg, header=b"<?xml version='1.0'?>"
                            b"<stream:stream to='x' version='1.0'>")
        out = self.finish(ctx)
        tail = (", not <stream:stream> in the namespace "
                "http://etherx.jabber.org/streams (RFC 6120 §4.8.1); taken as "
                "the stream header anyway (at byte 0 of this direction)")
        self.assert_both(out, none, "warning: the stream header is <stream> "
                         "in no namespace" + tail)
        self.assert_both(out, wrong, "warning: the stream header is "
                         "<stream:stream> in the namespace 'urn:wrong'" + tail)
        for n in (none, wrong):
            self.assert_both(out, n, " message, ")
        self.assert_both(out, unbound, "error: not well-formed XML (unbound "
                         "prefix, line 1 column 21 of this stream)")

    # ------------------------------------------------------------------
    # TLS

    def tls_client(self, ctx, sock):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.load_verify_locations(ctx.x.ca_cert)
        return MemTls(sock, c, False, server_hostname="localhost")

    def tls_start(self, *extra):
        p = self.prosody
        return self.start("--upstream-ca", p.cert, "--tls-timeout", "2", *extra,
                          handler=tls_echo_handler(p.cert, p.key))

    def test_garbage_instead_of_client_hello(self):
        """Binary garbage as the first bytes is not TLS, so it is taken as
        XML: malformed, forwarded byte for byte.  A TLS record header with
        garbage after it ends that connection with one error line.  (After
        STARTTLS, and a handshake header with a short body: test_tls.py
        test_garbage_instead_of_client_hello.)"""
        ctx = self.tls_start()
        junk = bytes(range(256)) * 64
        n1 = self.echo(ctx, junk[1:], header=b"\x01")
        s = self.hostile(ctx)
        s.sendall(b"\x16\x03\x01\x02\x00" + junk[:512])
        data, how = recv_all(s, 10)
        n2 = self.conn_no(ctx, s)
        line = self.wait_closed_line(ctx, n2)
        out = self.finish(ctx)
        self.assert_both(out, n1, "error: not well-formed XML (not well-formed "
                         "(invalid token), line 1 column 0 of this stream)")
        self.assertIn("closed: the client did not speak TLS where it should "
                      "have: not TLS", line)
        self.assertIn("error: the client did not speak TLS where it should "
                      "have: not TLS", "\n".join(conn_lines(out, n2)))

    def test_tls_record_cut_in_half(self):
        """Half a ClientHello, then the close: one error line, the session
        ends.  Half a ClientHello, then nothing: the handshake times out
        (--tls-timeout).  Mid-session, half an application data record and
        the close, from the client and from the server: the whole records
        before it are decrypted and forwarded, the cut one is reported (it
        cannot be decrypted), the session ends."""
        ctx = self.tls_start()
        hello = self.tls_client(ctx, None).hello()

        s = self.hostile(ctx)
        s.sendall(hello[:len(hello) // 2])
        s.shutdown(socket.SHUT_WR)
        recv_all(s, 10)
        closed_hs = self.wait_closed_line(ctx, self.conn_no(ctx, s))

        s2 = self.hostile(ctx)
        s2.sendall(hello[:len(hello) // 2])
        data, how = recv_all(s2, 10)
        timed_out = self.wait_closed_line(ctx, self.conn_no(ctx, s2))

        # Mid-session, the client cuts a record.
        s3 = self.hostile(ctx)
        t3 = self.tls_client(ctx, s3)
        t3.handshake()
        t3.write(HEADER)
        self.assertEqual(t3.read(), HEADER)
        rec = t3.records(b"<message><body>never whole</body></message>")
        s3.sendall(rec[:len(rec) // 2])
        s3.shutdown(socket.SHUT_WR)
        self.assertEqual(t3.read(), b"")
        n3 = self.conn_no(ctx, s3)
        self.wait_closed_line(ctx, n3)

        # Mid-session, the server cuts a record.
        s4 = self.hostile(ctx)
        t4 = self.tls_client(ctx, s4)
        t4.handshake()
        t4.write(HEADER)
        self.assertEqual(t4.read(), HEADER)
        t4.write(b"<message><body>CUT</body></message>")
        self.assertEqual(t4.read(), b"")
        s4.shutdown(socket.SHUT_WR)
        n4 = self.conn_no(ctx, s4)
        self.wait_closed_line(ctx, n4)

        out = self.finish(ctx)
        self.assertIn("closed: the client closed the connection during the "
                      "TLS handshake", closed_hs)
        self.assertIn("closed: the TLS handshake with the client did not "
                      "finish within 2 s", timed_out)
        self.assertIn("C->S warning: the client closed the connection in the "
                      "middle of a TLS record: what it held cannot be "
                      "decrypted and was not forwarded",
                      "\n".join(conn_lines(out, n3)))
        self.assertIn("S->C warning: the server closed the connection in the "
                      "middle of a TLS record: what it held cannot be "
                      "decrypted and was not forwarded",
                      "\n".join(conn_lines(out, n4)))


if __name__ == "__main__":
    peers.run_tests()
