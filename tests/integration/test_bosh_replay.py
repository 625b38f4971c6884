#!/usr/bin/python3
"""xmitm replay over BOSH (XEP-0206, stream/layer-bosh.c), against real
servers, and against a scripted connection manager for what real ones do
not do.

* strophe.js (npm, in Node) over BOSH through `xmitm proxy --record`
  against prosody 0.12 (mod_bosh): alice alone sends herself a message.
  That recording replays over BOSH against a fresh prosody (exit 0), against
  one where alice and bob are no longer contacts (exit 1), over
  `--transport tcp` and `--transport ws` (exit 0); replay uses two HTTP
  connections and ends the session with a terminate.
* stanza (npm) over BOSH uses two TCP connections for its session: the
  recording's events of both are one session, replayed as one (exit 0).
* a TCP recording (two slixmpp clients, test_replay.session) replays over
  `--transport bosh` against a fresh prosody (exit 0).
* ejabberd 23.01's /bosh over TLS (ejabberd_http with tls: true): the same
  strophe.js session recorded through xmitm over https replays against it
  over https (exit 0).
* `replay --serve` plays the recorded server to strophe.js and to stanza
  (whose session comes over two HTTP connections) over BOSH (exit 0), a
  changed message exits 1; an unknown sid, a body that is not <body/>
  and a 2 MB body get 404, 400 and 413.
* a scripted connection manager: a 100 MB body (announced, and chunked),
  a wrong sid, an answer that is not HTTP, a 404, a terminate with a
  condition: exit 2 with one sentence each, promptly.

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_bosh_replay.py
"""

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers  # noqa: E402
import test_robustness as rb  # noqa: E402
from ejabberd import Ejabberd  # noqa: E402
from test_web_peers import USERS, client_args, node_binary  # noqa: E402

BODY = "to myself over BOSH"


def write_creds(d, users):
    path = os.path.join(d, "credentials")
    with open(path, "w") as f:
        for user, pw in users.items():
            f.write("%s@localhost %s\n" % (user, pw))
    os.chmod(path, 0o600)
    return path


def http_exchange(port, request, first=b""):
    """request on a new connection to port, and the answer up to the end
    of its head, as text; first: its first bytes, sent alone one at a
    time (a method in pieces) before the rest."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        for i in range(len(first)):
            s.sendall(first[i:i + 1])
            time.sleep(0.05)
        s.sendall(request[len(first):])
        data = b""
        while b"\r\n\r\n" not in data:
            more = s.recv(65536)
            if not more:
                break
            data += more
        return data.decode(errors="replace")


def binary():
    x = os.environ.get("XMITM")
    if not (x and os.access(x, os.X_OK)):
        raise RuntimeError("set XMITM to the xmitm binary (got %r)" % x)
    return x


def replay(record, creds, *args, timeout=120):
    r = subprocess.run([binary(), "replay", record, "--credentials", creds,
                        "--timeout", "20"] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def record_strophe(d, server, tls=False, name="bosh.jsonl", lib="strophe"):
    """alice alone over BOSH (strophe.js, or lib) through xmitm: one
    session, so nothing in it races."""
    record = os.path.join(d, name)
    port = server.https_port if tls else server.http_port
    extra = ["--record", record]
    if tls:
        extra += ["--upstream-ca", server.cert]
    x = peers.Xmitm("localhost" if tls else peers.LOOPBACK, port, extra)
    x.start()
    try:
        url = re.sub(r":\d+/", ":%d/" % x.port, server.web_url("bosh", tls=tls), 1)
        r = subprocess.run(
            client_args(lib, "bosh", url, "alice",
                        x.ca_cert if tls else None,
                        ["--to", "alice@localhost", "--body", BODY,
                         "--expect-body", BODY]),
            capture_output=True, text=True, timeout=90)
        time.sleep(0.3)  # the last responses reach the recording
        rc = x.stop()
        out = x.describe()
    finally:
        x.cleanup()
    if r.returncode != 0 or rc != 0:
        raise RuntimeError("recording failed: client %d, xmitm %d\n%s%s%s"
                           % (r.returncode, rc, r.stdout, r.stderr, out))
    return record


class BoshReplayProsodyTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        node_binary()
        cls.dir = tempfile.mkdtemp(prefix="xmitm-bosh-replay-")
        cls.creds = write_creds(cls.dir, USERS)
        cls.servers = []
        recorded = cls.prosody()
        cls.record = record_strophe(cls.dir, recorded)
        cls.fresh = cls.prosody()

    @classmethod
    def prosody(cls, users=USERS, **kw):
        p = peers.Prosody(users=users, http_port=True, **kw)
        p.start()
        cls.servers.append(p)
        return p

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.stop()
        if not os.environ.get("XMITM_KEEP_TMP"):
            shutil.rmtree(cls.dir, ignore_errors=True)

    def test_recording_is_bosh(self):
        with open(self.record) as f:
            text = f.read()
        self.assertIn('"bosh":true', text)
        self.assertIn("POST /http-bind", text)

    def test_over_bosh_same(self):
        t0 = time.monotonic()
        rc, out = replay(self.record, self.creds, "--server",
                         "127.0.0.1:%d" % self.fresh.http_port, "-v")
        secs = time.monotonic() - t0
        self.assertEqual(rc, 0, out)
        self.assertIn("SAME: the server behaved as recorded", out)
        self.assertIn(BODY, out)
        # the features were compared: the same transport
        self.assertNotIn("--transport differs", out)
        sys.stderr.write("  BOSH replay against prosody: %.2f s\n" % secs)

    def test_wrong_path(self):
        """prosody's 404 for a path that is not its BOSH endpoint: one
        sentence, exit 2."""
        rc, out = replay(self.record, self.creds, "--path", "/nowhere",
                         "--server", "127.0.0.1:%d" % self.fresh.http_port)
        self.assertEqual(rc, 2, out)
        self.assertIn("BOSH: the server answered POST /nowhere with 404", out)

    def test_session_over_two_connections(self):
        """stanza (npm) spreads its session over two TCP connections: the
        recording's events of connection #2 carry session 1, and replay
        takes them as one session (one connection to replay)."""
        record = record_strophe(self.dir, self.servers[0], name="stanza.jsonl",
                                lib="stanza")
        with open(record) as f:
            evs = [json.loads(l) for l in f.read().splitlines()[1:]]
        carriers = {e["conn"] for e in evs if e.get("session") == 1}
        self.assertIn(1, carriers)
        self.assertGreaterEqual(len(carriers), 2, carriers)
        rc, out = replay(record, self.creds, "--server",
                         "127.0.0.1:%d" % self.fresh.http_port)
        self.assertEqual(rc, 0, out)
        self.assertIn(": 1 connection,", out)
        self.assertIn("SAME", out)

    def test_over_bosh_changed_server(self):
        changed = self.prosody(group=[])
        rc, out = replay(self.record, self.creds, "--server",
                         "127.0.0.1:%d" % changed.http_port)
        self.assertEqual(rc, 1, out)
        self.assertIn("DIFFERENT", out)
        self.assertIn("bob@localhost", out)

    def test_over_tcp_and_ws(self):
        rc, out = replay(self.record, self.creds, "--transport", "tcp",
                         "--server", "127.0.0.1:%d" % self.fresh.port)
        self.assertEqual(rc, 0, out)
        self.assertIn("--transport differs from the recording", out)
        rc, out = replay(self.record, self.creds, "--transport", "ws",
                         "--server", "127.0.0.1:%d" % self.fresh.http_port)
        self.assertEqual(rc, 0, out)
        self.assertIn("SAME", out)

    def test_two_connections_and_terminate(self):
        """Through a byte-recording relay: replay opens at most two HTTP
        connections (the held request and the one carrying stanzas; one
        alone when the server answered every poll before replay had more
        to send, as happens on a loaded machine), restarts after SASL, ends
        with a terminate, every rid once and in order."""
        tap = peers.Tap(peers.LOOPBACK, self.fresh.http_port)
        self.addCleanup(tap.close)
        rc, out = replay(self.record, self.creds, "--server",
                         "127.0.0.1:%d" % tap.port)
        self.assertEqual(rc, 0, out)
        tap.wait_idle(timeout=10)
        self.assertIn(len(tap.conns), (1, 2), tap.conns)
        sent = b"".join(c.c2s for c in tap.conns).decode()
        self.assertIn("xmpp:restart='true'", sent)
        self.assertIn("type='terminate'", sent)
        rids = sorted(int(r) for r in re.findall(r"<body rid='(\d+)'", sent))
        self.assertEqual(rids, list(range(rids[0], rids[0] + len(rids))))
        # the held request is answered at the terminate, not after its wait
        self.assertTrue(all(c.c2s_eof for c in tap.conns), tap.conns)

    def test_tcp_recording_over_bosh(self):
        import test_replay
        users = test_replay.USERS
        d = tempfile.mkdtemp(prefix="xmitm-bosh-tcp-", dir=self.dir)
        rec = os.path.join(d, "tcp.jsonl")
        with peers.Prosody(users=users) as server:
            x = peers.Xmitm("127.0.0.1", server.port, ["--record", rec, "-q"])
            x.start()
            try:
                asyncio.run(test_replay.session("127.0.0.1", x.port, users))
            finally:
                self.assertEqual(x.stop(), 0)
                x.cleanup()
        fresh = self.prosody(users=users)
        rc, out = replay(rec, write_creds(d, users), "--transport", "bosh",
                         "--server", "127.0.0.1:%d" % fresh.http_port)
        self.assertEqual(rc, 0, out)
        self.assertIn("SAME", out)
        self.assertIn("--transport differs from the recording", out)

    def serve(self, record, lib, *extra, body=BODY, expect=True):
        """record played by replay --serve to lib (npm, over BOSH): the
        client's exit status, replay's and its output."""
        port = peers.free_port()
        serve = subprocess.Popen([binary(), "replay", record, "--serve",
                                  "--listen", "127.0.0.1:%d" % port,
                                  "--credentials", self.creds, "--timeout", "20",
                                  # client.mjs binds a resource of its own each run
                                  "--ignore", "//resource/text()"] + list(extra),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
        self.addCleanup(lambda: serve.poll() is None and serve.kill())
        peers.wait_listening(port, serve)
        r = subprocess.run(client_args(lib, "bosh", "http://localhost:%d/http-bind" % port,
                                       "alice", None, ["--to", "alice@localhost",
                                                       "--body", body]
                                       + (["--expect-body", body] if expect else [])),
                           capture_output=True, text=True, timeout=90)
        try:
            out, _ = serve.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            out, _ = serve.communicate()
        return r.returncode, serve.returncode, r.stdout + r.stderr + out

    def test_serve_to_strophe(self):
        """The recorded server played to strophe.js over BOSH: the client
        completes its steps, replay exits 0; a changed message exits 1."""
        client, rc, out = self.serve(self.record, "strophe")
        self.assertEqual(client, 0, out)
        self.assertEqual(rc, 0, out)
        self.assertIn("SAME: the client behaved as recorded", out)
        client, rc, out = self.serve(self.record, "strophe", body="something else",
                                     expect=False)
        self.assertEqual(rc, 1, out)
        self.assertIn("something else", out)

    def test_serve_to_stanza_over_two_connections(self):
        """stanza's session comes over two HTTP connections: one session
        served (its XEP-0359 origin-id is random each run)."""
        record = record_strophe(self.dir, self.servers[0], name="stanza-serve.jsonl",
                                lib="stanza")
        client, rc, out = self.serve(record, "stanza", "--ignore", "//origin-id/@id", "-v")
        self.assertEqual(client, 0, out)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.count(": a BOSH session"), 1, out)
        self.assertIn("SAME: the client behaved as recorded", out)

    def test_serve_refusals(self):
        """What --serve answers to HTTP that is not a session's: an unknown
        sid (404, item-not-found), a body that is not <body/> (400), a
        2 MB body (413); replay goes on and ends as usual. A method that
        comes a byte at a time is still HTTP (a POST, a WebSocket
        upgrade's GET)."""
        port = peers.free_port()
        serve = subprocess.Popen([binary(), "replay", self.record, "--serve",
                                  "--listen", "127.0.0.1:%d" % port,
                                  "--credentials", self.creds, "--timeout", "3"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
        self.addCleanup(lambda: serve.poll() is None and serve.kill())
        peers.wait_listening(port, serve)

        def post(body, first=b""):
            return http_exchange(port, b"POST /http-bind HTTP/1.1\r\nHost: x\r\n"
                                 b"Content-Length: %d\r\n\r\n" % len(body) + body, first)

        def ask(request, first=b""):
            return http_exchange(port, request, first)

        got = post(b"<body xmlns='http://jabber.org/protocol/httpbind' rid='5' sid='nope'/>")
        self.assertTrue(got.startswith("HTTP/1.1 404 "), got)
        got = post(b"<message/>")
        self.assertTrue(got.startswith("HTTP/1.1 400 "), got)
        # the method in pieces ("P", "O", "S", "T", " "): still HTTP
        got = post(b"<body xmlns='http://jabber.org/protocol/httpbind' rid='5' sid='nope'/>",
                   first=b"POST ")
        self.assertTrue(got.startswith("HTTP/1.1 404 "), got)
        got = ask(b"GET /xmpp-websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Protocol: xmpp\r\n\r\n", first=b"GE")
        self.assertTrue(got.startswith("HTTP/1.1 101 "), got)
        got = post(b"<body xmlns='http://jabber.org/protocol/httpbind'>"
                   + b"x" * (2 << 20) + b"</body>")
        self.assertTrue(got.startswith("HTTP/1.1 413 "), got)
        out, _ = serve.communicate(timeout=120)
        self.assertIn("session 'nope', which is not one of replay's", out)
        self.assertNotIn("AddressSanitizer", out)


    def test_serve_frees_closed_connections(self):
        """A client that opens an HTTP connection for each request (no
        keep-alive), 3,000 of them: replay --serve frees each once it
        closes, so its memory stays flat (each one kept 2.4 KB until the
        end before)."""
        port = peers.free_port()
        serve = subprocess.Popen([binary(), "replay", self.record, "--serve",
                                  "--listen", "127.0.0.1:%d" % port,
                                  "--credentials", self.creds, "--timeout", "60"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 env=rb.rss_env())
        self.addCleanup(lambda: serve.poll() is None and serve.kill())
        peers.wait_listening(port, serve)
        body = b"<body xmlns='http://jabber.org/protocol/httpbind' rid='5' sid='nope'/>"
        request = (b"POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                   % len(body) + body)

        def requests(n):
            for _ in range(n):
                got = http_exchange(port, request)
                self.assertTrue(got.startswith("HTTP/1.1 404 "), got)

        requests(500)  # allocator and caches settle
        time.sleep(0.2)
        before = rb.rss_bytes(serve.pid)
        requests(3000)
        time.sleep(0.2)
        grown = rb.rss_bytes(serve.pid) - before
        rb.note("replay --serve: %d KB more after 3,000 HTTP connections", grown // 1024)
        self.assertLess(grown, 2 << 20)
        serve.terminate()
        self.assertEqual(serve.wait(timeout=30), 2)


class BoshReplayEjabberdTest(unittest.TestCase):
    """ejabberd's /bosh over TLS: recorded through xmitm over https,
    replayed over https (the recording's direct TLS)."""

    def test_https(self):
        node_binary()
        d = tempfile.mkdtemp(prefix="xmitm-bosh-ejabberd-")
        self.addCleanup(shutil.rmtree, d, True)
        server = Ejabberd(users=USERS, web=True)
        server.start()
        self.addCleanup(server.stop)
        record = record_strophe(d, server, tls=True)
        creds = write_creds(d, USERS)
        rc, out = replay(record, creds, "--server", "localhost:%d" % server.https_port,
                         "--upstream-ca", server.cert)
        self.assertEqual(rc, 0, out + server.log_tail())
        self.assertIn("SAME", out)
        # the certificate is checked: without its CA, one sentence, exit 2
        rc, out = replay(record, creds, "--server", "localhost:%d" % server.https_port)
        self.assertEqual(rc, 2, out)
        self.assertIn("TLS with the server failed", out)


class ScriptedCM:
    """A connection manager that does one wrong thing (mode), on loopback.
    Session creation is answered properly, so the wrong thing comes where
    replay is already speaking BOSH."""

    FEATURES = ("<stream:features xmlns='jabber:client'><mechanisms "
                "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN"
                "</mechanism></mechanisms></stream:features>")

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind((peers.LOOPBACK, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.sent = 0
        self.stop = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def close(self):
        self.stop.set()
        self.sock.close()

    def accept(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def read_request(c):
        data = b""
        while b"\r\n\r\n" not in data:
            more = c.recv(65536)
            if not more:
                return None
            data += more
        head, body = data.split(b"\r\n\r\n", 1)
        n = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        while len(body) < n:
            body += c.recv(65536)
        return body.decode()

    @staticmethod
    def answer(c, body, status="200 OK"):
        b = body.encode()
        c.sendall(b"HTTP/1.1 %s\r\nContent-Type: text/xml; charset=utf-8\r\n"
                  b"Content-Length: %d\r\n\r\n" % (status.encode(), len(b)) + b)

    def serve(self, c):
        try:
            while True:
                req = self.read_request(c)
                if req is None:
                    return
                if "sid=" not in req:
                    if self.mode == "not-http":
                        c.sendall(b"<?xml version='1.0'?><stream:stream "
                                  b"xmlns:stream='http://etherx.jabber.org/streams'>")
                        time.sleep(5)
                        return
                    if self.mode == "404":
                        self.answer(c, "not here", "404 Not Found")
                        continue
                    self.answer(c, "<body xmlns='http://jabber.org/protocol/httpbind' "
                                "xmlns:xmpp='urn:xmpp:xbosh' sid='s1' authid='s1' "
                                "requests='2' wait='20' hold='1' xmpp:version='1.0' "
                                "from='localhost' xmlns:stream="
                                "'http://etherx.jabber.org/streams'>%s</body>"
                                % self.FEATURES)
                    continue
                if self.mode == "huge":
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n")
                    self.flood(c)
                elif self.mode == "chunked":
                    c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    self.flood(c, chunked=True)
                elif self.mode == "wrong-sid":
                    self.answer(c, "<body xmlns='http://jabber.org/protocol/httpbind' "
                                "sid='somebody-else'/>")
                elif self.mode == "terminate":
                    self.answer(c, "<body xmlns='http://jabber.org/protocol/httpbind' "
                                "type='terminate' condition='host-unknown'/>")
                return
        except OSError:
            pass
        finally:
            c.close()

    def flood(self, c, chunked=False):
        """100 MB of a body, 64 KiB at a time, until replay hangs up."""
        block = b"<a/>" * 16384
        for _ in range(100 * 16):
            data = (b"%x\r\n" % len(block) + block + b"\r\n") if chunked else block
            c.sendall(data)
            self.sent += len(block)


class BoshReplayHostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="xmitm-bosh-hostile-")
        # a recording to replay: written by hand, the shape a BOSH session
        # recorded through xmitm has (as in BoshReplayProsodyTest)
        cls.record = os.path.join(cls.dir, "bosh.jsonl")
        hdr = ('{"format":"xmitm-recording","format_version":2,"xmitm":"0.1.0",'
               '"t":1,"started":"2026-01-01T00:00:00Z","source":"proxy",'
               '"secrets":"redacted"}\n')
        ev = [
            '{"t":2,"conn":1,"ev":"open","client":"127.0.0.1:1","server":"127.0.0.1:2","text":"x"}',
            '{"t":3,"conn":1,"ev":"transport","dir":"c2s","transport":"http-request","text":"POST /http-bind HTTP/1.1 (Host: x)"}',
            '{"t":4,"conn":1,"session":1,"bosh":true,"ev":"stream-open","dir":"c2s","len":1,"name":"body","xml":"<body xmlns=\'http://jabber.org/protocol/httpbind\' rid=\'1\' to=\'localhost\'>"}',
            '{"t":5,"conn":1,"session":1,"bosh":true,"ev":"stream-open","dir":"s2c","len":1,"name":"body","xml":"<body xmlns=\'http://jabber.org/protocol/httpbind\' sid=\'a\' authid=\'a\'>"}',
            '{"t":6,"conn":1,"session":1,"bosh":true,"ev":"stanza","dir":"s2c","len":1,"name":"stream:features","xml":"%s"}' % ScriptedCM.FEATURES,
            '{"t":7,"conn":1,"session":1,"bosh":true,"ev":"stanza","dir":"c2s","len":1,"name":"auth","xml":"<auth xmlns=\'urn:ietf:params:xml:ns:xmpp-sasl\' mechanism=\'PLAIN\'>AGFsaWNlAHB3</auth>"}',
            '{"t":8,"conn":1,"session":1,"bosh":true,"ev":"stanza","dir":"s2c","len":1,"name":"success","xml":"<success xmlns=\'urn:ietf:params:xml:ns:xmpp-sasl\'/>"}',
            '{"t":9,"conn":1,"session":1,"bosh":true,"ev":"stream-open","dir":"c2s","len":1,"name":"body","xml":"<body xmlns=\'http://jabber.org/protocol/httpbind\' rid=\'3\' sid=\'a\' xmpp:restart=\'true\' xmlns:xmpp=\'urn:xmpp:xbosh\'>"}',
            '{"t":10,"conn":1,"session":1,"bosh":true,"ev":"stanza","dir":"s2c","len":1,"name":"stream:features","xml":"<stream:features xmlns=\'jabber:client\'/>"}',
            '{"t":11,"conn":1,"session":1,"bosh":true,"ev":"stanza","dir":"c2s","len":1,"name":"presence","xml":"<presence xmlns=\'jabber:client\'/>"}',
        ]
        with open(cls.record, "w") as f:
            f.write(hdr + "\n".join(ev) + "\n")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def against(self, mode):
        cm = ScriptedCM(mode)
        self.addCleanup(cm.close)
        t0 = time.monotonic()
        r = subprocess.run([binary(), "replay", self.record, "--password", "pw",
                            "--timeout", "20", "--transport", "bosh",
                            "--server", "127.0.0.1:%d" % cm.port],
                           capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout + r.stderr, time.monotonic() - t0, cm

    def check(self, mode, sentence):
        rc, out, secs, cm = self.against(mode)
        self.assertEqual(rc, 2, out)
        self.assertIn(sentence, out)
        self.assertNotIn("AddressSanitizer", out)
        # one sentence: the error line is a single line
        lines = [l for l in out.splitlines() if "BOSH:" in l]
        self.assertEqual(len(lines), 1, out)
        sys.stderr.write("  %s: exit 2 after %.2f s, %d body bytes sent\n"
                         % (mode, secs, cm.sent))
        return out, cm

    def test_unreachable(self):
        port = peers.free_port()
        r = subprocess.run([binary(), "replay", self.record, "--password", "pw",
                            "--transport", "bosh", "--server", "127.0.0.1:%d" % port],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("BOSH: cannot connect to 127.0.0.1:%d: Connection refused" % port,
                      r.stderr)

    def test_domain_without_port(self):
        # SRV records name TCP services: a domain alone gives no HTTP port,
        # and replay says so instead of connecting to port 0
        for transport, name in (("bosh", "BOSH"), ("ws", "WebSocket")):
            r = subprocess.run([binary(), "replay", self.record, "--password", "pw",
                                "--transport", transport, "--server", "localhost"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("is a %s connection: SRV records name XMPP's TCP services, "
                          "so give --server HOST:PORT" % name, r.stderr)
            self.assertNotIn("port 0", r.stderr)
            self.assertNotIn(":0:", r.stderr)

    def test_huge_announced(self):
        self.check("huge", "announces 104857600 bytes, more than the 8 MiB")

    def test_huge_chunked(self):
        out, cm = self.check("chunked", "larger than the 8 MiB a body may have")
        self.assertLess(cm.sent, 100 * 1024 * 1024)

    def test_wrong_sid(self):
        self.check("wrong-sid", "names session 'somebody-else', not this one ('s1')")

    def test_not_http(self):
        self.check("not-http", "is not HTTP (it starts with")

    def test_404(self):
        self.check("404", "answered POST /http-bind with 404 Not Found")

    def test_terminate_condition(self):
        self.check("terminate", "ended the session: condition 'host-unknown'")


if __name__ == "__main__":
    unittest.main(verbosity=2)
