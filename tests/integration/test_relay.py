#!/usr/bin/python3
"""Real-peer integration tests of `xmitm proxy` (plaintext relay).

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_relay.py
      (add -v, or a test name such as RelayTest.test_half_close)
Exit status: 0 all passed, 1 a failure (including XMITM not set or not
executable: a missing peer or binary is a failure, never a skip).
XMITM_KEEP_TMP=1 keeps prosody's and xmitm's temp dirs for post-mortems.

What is assumed about xmitm's printed output is kept in class `Printed`
below, deliberately loose:
  * every event starts with a header line containing `#N C->S` or `#N S->C`
    (N the connection number), matched with the regex  #(\\d+) (C->S|S->C)
    e.g. `12:34:56.123456 #1 C->S message 142 bytes`;
  * the lines after a header, up to the next unindented line naming a
    connection (`#N ...`), are the stanza printed as (indented) XML, text
    escaped as XML (`<&>` -> `&lt;&amp;&gt;`);
  * ANSI colour sequences are stripped before matching anyway.
"""

import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers  # noqa: E402

PY = "/usr/bin/python3"          # Debian's python, the one with slixmpp
CLIENT = os.path.join(HERE, "client.py")
XMITM = os.environ.get("XMITM")

BODY = "hello bob, this is a test message from alice <&> \u2603"
STREAM_NS = "http://etherx.jabber.org/streams"


def stream_header(to="localhost", extra=""):
    return ("<?xml version='1.0'?><stream:stream to='%s'%s "
            "xmlns='jabber:client' xmlns:stream='%s' version='1.0'>"
            % (to, extra, STREAM_NS)).encode()


# --------------------------------------------------------------------------
# Everything that depends on xmitm's output format lives here.

class Printed:
    """Loose parser of xmitm's decoded output."""

    HEADER = re.compile(r"#(\d+) (C->S|S->C)")
    ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
    # any other unindented line naming a connection ends the current event
    OTHER = re.compile(r"\S.*#\d+\b")

    def __init__(self, text):
        self.text = self.ANSI.sub("", text)
        self.events = []   # [(conn number, direction, header line, body)]
        cur = None
        for line in self.text.splitlines():
            m = self.HEADER.search(line)
            if m:
                cur = [int(m.group(1)), m.group(2), line, []]
                self.events.append(cur)
            elif self.OTHER.match(line):
                cur = None   # e.g. "#1 connected: ...": not a stanza
            elif cur is not None:
                cur[3].append(line)
        self.events = [(n, d, h, "\n".join(b)) for n, d, h, b in self.events]

    def connection_numbers(self):
        return {n for n, _, _, _ in self.events}

    def find(self, *needles):
        """Events whose printed stanza contains all needles."""
        return [e for e in self.events if all(s in e[3] for s in needles)]


def read_all(sock, timeout=10.0, limit=None):
    """Read until EOF (or until `limit` bytes); returns (bytes, eof)."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    data = bytearray()
    try:
        while limit is None or len(data) < limit:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                return bytes(data), True
            data += chunk
    except socket.timeout:
        pass
    return bytes(data), False


def first_difference(a, b):
    n = min(len(a), len(b))
    i = next((k for k in range(n) if a[k] != b[k]), n)
    return ("lengths %d vs %d, first difference at offset %d:\n"
            "  %r\n  %r" % (len(a), len(b), i, a[max(0, i - 40):i + 60],
                            b[max(0, i - 40):i + 60]))


def common_prefix(a, b):
    n = min(len(a), len(b))
    return next((k for k in range(n) if a[k] != b[k]), n)


class UpstreamServer:
    """A raw TCP server thread on 127.0.0.1; handler(conn) per connection."""

    def __init__(self, handler):
        self.sock = socket.socket()
        self.sock.bind((peers.LOOPBACK, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.errors = []
        self.threads = []
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._run, args=(c,), daemon=True)
            self.threads.append(t)
            t.start()

    def _run(self, c):
        try:
            with c:
                c.settimeout(15)
                self.handler(c)
        except Exception as e:
            self.errors.append(repr(e))

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        deadline = time.monotonic() + 10
        for t in list(self.threads):
            t.join(max(0.01, deadline - time.monotonic()))


class RelayTest(unittest.TestCase):
    maxDiff = None

    def start_xmitm(self, upstream_port, extra=(), host=peers.LOOPBACK):
        x = peers.Xmitm(host, upstream_port, extra_args=extra)
        self.addCleanup(x.cleanup)
        x.start()
        return x

    def assert_exit_0(self, x):
        rc = x.stop()
        self.assertEqual(rc, 0, "xmitm did not exit 0 after SIGTERM "
                         "(status %s)\n%s" % (rc, x.describe()))

    # ------------------------------------------------------------------
    def test_session_through_xmitm(self):
        """alice -> bob through tapA -> xmitm -> tapB -> prosody."""
        p = peers.Prosody(users={"alice": "alicepw", "bob": "bobpw"})
        p.start()
        self.addCleanup(p.stop)
        tap_b = peers.Tap(peers.LOOPBACK, p.port)
        self.addCleanup(tap_b.close)
        x = self.start_xmitm(tap_b.port)
        tap_a = peers.Tap(peers.LOOPBACK, x.port)
        self.addCleanup(tap_a.close)

        common = ["--host", peers.LOOPBACK, "--port", str(tap_a.port),
                  "--timeout", "20"]
        bob = subprocess.Popen(
            [PY, CLIENT, "--jid", "bob@localhost", "--password", "bobpw",
             "--expect-contact", "alice@localhost",
             "--expect-presence", "alice@localhost",
             "--expect-body", BODY] + common,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(bob.stderr.close)
        self.addCleanup(bob.stdout.close)
        self.addCleanup(lambda: bob.poll() is None and bob.kill())
        bob_out = peers.LineReader(bob.stdout)
        ready = bob_out.wait_for("READY", 25)
        if not ready:
            bob.kill()
            _, err = bob.communicate()
            self.fail("bob never got his session up: %s\n%s\n%s"
                      % (err, x.describe(), p.log_tail()))
        alice = subprocess.run(
            [PY, CLIENT, "--jid", "alice@localhost", "--password", "alicepw",
             "--expect-contact", "bob@localhost",
             "--send-to", "bob@localhost", "--body", BODY] + common,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=40)
        try:
            bob_rc = bob.wait(30)
        except subprocess.TimeoutExpired:
            bob.kill()
            bob_rc = bob.wait()
        bob_err = bob.stderr.read()
        self.assertEqual(alice.returncode, 0, "alice failed: %s%s\n%s"
                         % (alice.stdout, alice.stderr, x.describe()))
        self.assertEqual(bob_rc, 0, "bob failed: %s%s\n%s"
                         % (bob_out.text(), bob_err, x.describe()))

        # the witnesses: same bytes on both sides of xmitm
        self.assertTrue(tap_a.wait_idle(2, timeout=10),
                        "client-side connections not closed: %r" % tap_a.conns)
        self.assertTrue(tap_b.wait_idle(2, timeout=10),
                        "server-side connections not closed: %r\n%s"
                        % (tap_b.conns, x.describe()))
        self.assert_same_bytes(tap_a, tap_b)

        rc = x.stop()
        out = Printed(x.output())
        numbers = out.connection_numbers()
        self.assertGreaterEqual(len(numbers), 2, "expected two connection "
                                "numbers in the output, got %s\n%s"
                                % (sorted(numbers), x.describe()))
        needles = ("<message", "hello bob, this is a test message from alice",
                   "&lt;&amp;&gt;")
        shown = out.find(*needles)
        self.assertTrue(shown, "no printed <message> with the body\n%s"
                        % x.describe())
        dirs = {d for _, d, _, _ in shown}
        self.assertEqual(dirs, {"C->S", "S->C"}, "the message should be "
                         "printed as sent by alice (C->S) and as delivered to "
                         "bob (S->C); seen: %r" % (shown,))
        conns = {n for n, _, _, _ in shown}
        self.assertEqual(len(conns), 2, "alice's and bob's connections "
                         "should have different numbers: %r" % (shown,))
        for e in shown:
            self.assertTrue(any(s in e[3] for s in
                                ("\u2603", "&#9731;", "&#x2603;",
                                 "&#X2603;")),
                            "snowman missing from the printed body: %r"
                            % (e,))
        self.assertEqual(rc, 0, "xmitm did not exit 0 after SIGTERM "
                         "(status %s)\n%s" % (rc, x.describe()))

    def assert_same_bytes(self, tap_a, tap_b):
        a_conns, b_conns = list(tap_a.conns), list(tap_b.conns)
        self.assertEqual(len(a_conns), len(b_conns),
                         "xmitm opened %d upstream connections for %d client "
                         "connections" % (len(b_conns), len(a_conns)))
        unpaired = list(b_conns)
        for a in a_conns:
            same = [b for b in unpaired if b.c2s == a.c2s and b.s2c == a.s2c]
            if same:
                unpaired.remove(same[0])
                continue
            # explain with the most similar upstream connection
            b = max(unpaired, key=lambda b: (common_prefix(a.c2s, b.c2s),
                                             common_prefix(a.s2c, b.s2c)))
            msg = ["bytes differ across xmitm for client connection %d "
                   "(upstream connection %d):" % (a.index, b.index)]
            if a.c2s != b.c2s:
                msg.append("C->S (client side vs server side): "
                           + first_difference(a.c2s, b.c2s))
            if a.s2c != b.s2c:
                msg.append("S->C (server side vs client side): "
                           + first_difference(b.s2c, a.s2c))
            self.fail("\n".join(msg))

    # ------------------------------------------------------------------
    def test_upstream_down(self):
        dead = peers.free_port()
        x = self.start_xmitm(dead)
        with socket.create_connection((peers.LOOPBACK, x.port), 5) as s:
            s.sendall(stream_header())
            reply, eof = read_all(s, timeout=10)
        text = reply.decode("utf-8", errors="replace")
        self.assertTrue(eof, "xmitm did not close the connection within 10 "
                        "s; got %r" % text)
        head = text.find("<stream:stream")
        err = text.find("<stream:error>")
        cond = re.search(r"<remote-connection-failed\s+xmlns=(['\"])"
                         r"urn:ietf:params:xml:ns:xmpp-streams\1\s*/>", text)
        close = text.find("</stream:stream>")
        self.assertTrue(head >= 0 and err > head and cond
                        and cond.start() > err and close > cond.start(),
                        "expected <stream:stream ...><stream:error>"
                        "<remote-connection-failed .../>...</stream:stream>, "
                        "got %r" % text)
        self.assert_exit_0(x)
        log = x.output() + x.errors()
        pat = re.compile(r"127\.0\.0\.1:%d\b.*connection refused|"
                         r"connection refused.*127\.0\.0\.1:%d\b"
                         % (dead, dead), re.I)
        self.assertTrue(any(pat.search(l) for l in log.splitlines()),
                        "no line naming 127.0.0.1:%d and 'Connection "
                        "refused' in the output:\n%s" % (dead, log))

    def test_upstream_by_name(self):
        """--upstream with a name goes through GLib's resolver
        (core/connect.c; localhost comes from the hosts file, no DNS
        query): the failure line names the name and the reason."""
        dead = peers.free_port()
        x = self.start_xmitm(dead, host="localhost")
        with socket.create_connection((peers.LOOPBACK, x.port), 5) as s:
            s.sendall(stream_header())
            reply, eof = read_all(s, timeout=10)
        self.assertTrue(eof and b"remote-connection-failed" in reply, reply)
        self.assert_exit_0(x)
        self.assertIn("cannot connect to upstream localhost:%d: Connection refused"
                      % dead, x.output())

    # ------------------------------------------------------------------
    def test_half_close(self):
        reply = (b"<?xml version='1.0'?><stream:stream from='localhost' "
                 b"id='hc1' xmlns='jabber:client' xmlns:stream='"
                 + STREAM_NS.encode() + b"' version='1.0'></stream:stream>")
        got = {}
        eof_seen = threading.Event()

        def handler(c):
            data, eof = read_all(c, timeout=10)
            got["data"], got["eof"] = data, eof
            eof_seen.set()
            if eof:
                c.sendall(reply)
        up = UpstreamServer(handler)
        self.addCleanup(up.close)
        x = self.start_xmitm(up.port)
        header = stream_header()
        with socket.create_connection((peers.LOOPBACK, x.port), 5) as s:
            s.sendall(header)
            s.shutdown(socket.SHUT_WR)
            self.assertTrue(eof_seen.wait(12), "upstream handler stuck")
            self.assertTrue(got["eof"], "upstream saw no EOF within 10 s "
                            "after the client's shutdown(SHUT_WR); got %r"
                            % got["data"])
            self.assertEqual(got["data"], header, "upstream got other bytes")
            data, eof = read_all(s, timeout=10)
        self.assertEqual(data, reply, "client did not get the upstream's "
                         "reply after its half-close\n%s" % x.describe())
        self.assertTrue(eof, "client got no EOF after the reply")
        self.assertEqual(up.errors, [])
        self.assert_exit_0(x)

    # ------------------------------------------------------------------
    def test_many_clients(self):
        n = 20

        def echo(c):
            while True:
                data = c.recv(65536)
                if not data:
                    break
                c.sendall(data)
            c.shutdown(socket.SHUT_WR)
        up = UpstreamServer(echo)
        self.addCleanup(up.close)
        x = self.start_xmitm(up.port)
        barrier = threading.Barrier(n)
        results = [None] * n

        def client(i):
            payload = stream_header(
                "client%d.localhost" % i, " from='user%d@localhost'" % i) + (
                "<message to='peer%d@localhost' id='m%d' type='chat'>"
                "<body>message number %d from client %d</body></message>"
                % (i, i, i, i)).encode()
            try:
                barrier.wait(10)
                with socket.create_connection((peers.LOOPBACK, x.port),
                                              10) as s:
                    s.sendall(payload)
                    data, _ = read_all(s, timeout=15, limit=len(payload))
                results[i] = (payload, data)
            except Exception as e:
                results[i] = (payload, e)
        threads = [threading.Thread(target=client, args=(i,))
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for i, (sent, got) in enumerate(results):
            self.assertEqual(got, sent, "client %d did not get its own "
                             "bytes back\n%s" % (i, x.describe()))
        up.close()
        self.assertEqual(up.errors, [])
        self.assert_exit_0(x)
        numbers = Printed(x.output()).connection_numbers()
        self.assertGreaterEqual(len(numbers), n, "expected %d connection "
                                "numbers in the output, got %s"
                                % (n, sorted(numbers)))

    # ------------------------------------------------------------------
    def run_cli(self, *args):
        try:
            return subprocess.run([XMITM] + list(args),
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("`xmitm %s` still running after 10 s"
                      % " ".join(args))

    def test_bad_cli(self):
        listen = "127.0.0.1:%d" % peers.free_port()
        # (a name alone is a domain, found through its SRV records)
        for bad, why in (("non sense", "neither HOST:PORT nor a domain"),
                         ("127.0.0.1", "has no port"),
                         ("host:99999", "port must be")):
            r = self.run_cli("proxy", "--listen", listen, "--upstream", bad)
            self.assertEqual(r.returncode, 2, "`xmitm proxy --upstream %s` "
                             "exited %d, stderr %r" % (bad, r.returncode, r.stderr))
            lines = r.stderr.strip("\n").splitlines()
            self.assertEqual(len(lines), 1, "expected one line on stderr, got %r"
                             % r.stderr)
            self.assertIn(why, lines[0])

        r = self.run_cli("proxy", "--bogus-option")
        self.assertEqual(r.returncode, 2, "`xmitm proxy --bogus-option` "
                         "exited %d, stderr %r" % (r.returncode, r.stderr))
        self.assertTrue(r.stderr.strip(), "no message on stderr")

        with socket.socket() as busy:
            busy.bind((peers.LOOPBACK, 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            r = self.run_cli("proxy", "--listen", "127.0.0.1:%d" % port,
                             "--upstream", "127.0.0.1:%d" % peers.free_port(),
                             "--color=never")
        self.assertEqual(r.returncode, 2, "listening on a busy port exited "
                         "%d, stderr %r" % (r.returncode, r.stderr))
        self.assertIn("Address already in use", r.stderr)


if __name__ == "__main__":
    peers.run_tests()
