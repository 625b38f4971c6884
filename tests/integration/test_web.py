#!/usr/bin/python3
"""XMPP over WebSocket (RFC 7395) and BOSH (XEP-0206) through xmitm, with
real web clients and real servers.

For prosody 0.12 and ejabberd 23.01, over each transport, cleartext (HTTP)
and TLS (HTTPS, xmitm's forged certificate trusted by the client): bob
waits for a message that alice sends, both npm web clients (client.mjs:
xmpp.js, strophe.js, stanza) going through xmitm.  Checked:

* both clients' steps (login, roster, presence, the message) succeed;
* xmitm shows the HTTP requests and responses, the stanzas marked [ws] /
  [bosh] ([tls+ws] / [tls+bosh] over TLS), SASL decoded, the message body,
  and no error;
* cleartext: the bytes each side sent arrive unchanged (taps on both sides
  of xmitm, every TCP connection);
* the recording, shown again, reads exactly like the live output;
* cleartext: a tcpdump of the server side reads back (`xmitm show`) as the
  same WebSocket and BOSH stanzas as the recording;
* one export per transport is read by Wireshark's XMPP dissector;
* a WebSocket recording replays against a fresh server over WebSocket and,
  converted, over TCP (exit 0), and a server that changed exits 1;
* `replay --serve` plays the recorded server to the same web clients.

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_web.py
The peers themselves are checked without xmitm in test_web_peers.py.
"""

import json
import os
import re
import signal
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers  # noqa: E402
from ejabberd import Ejabberd  # noqa: E402
from test_web_peers import USERS, node_binary, run_pair  # noqa: E402

JOBS = int(os.environ.get("WEB_PEERS_JOBS", "2"))

# (server, library, transport): each library where its transport works
# best, both servers for each transport.
CASES = [("prosody", "xmpp.js", "ws"), ("prosody", "strophe", "bosh"),
         ("ejabberd", "strophe", "ws"), ("ejabberd", "stanza", "bosh")]

TIME = re.compile(r"^\d\d:\d\d:\d\d\.\d+ ")


def through(url, port):
    """url with its port replaced: the client goes to xmitm (or a tap)."""
    return re.sub(r"^(\w+://[^:/]+):\d+", r"\g<1>:%d" % port, url)


def printed_lines(text):
    """xmitm's output without timestamps and without its own start line."""
    return [TIME.sub("", l) for l in text.splitlines()
            if not l.startswith("xmitm: ")]


class Run:
    """One (server, lib, transport, tls) through xmitm."""

    def __init__(self, server, name, lib, transport, tls):
        self.server, self.name = server, name
        self.lib, self.transport, self.tls = lib, transport, tls
        self.dir = None
        self.x = None
        self.taps = ()

    def go(self):
        s = self.server
        port = s.https_port if self.tls else s.http_port
        self.dir = tempfile.mkdtemp(prefix="xmitm-web-")
        self.record = os.path.join(self.dir, "session.jsonl")
        extra = ["--record", self.record]
        if self.tls:
            self.x = peers.Xmitm("localhost", port,
                                 extra + ["--upstream-ca", s.cert])
            self.x.start()
            url = through(s.web_url(self.transport, tls=True), self.x.port)
            problem, detail, secs = run_pair(s, self.lib, self.transport, True,
                                             url=url, ca=self.x.ca_cert)
        else:
            tap_b = peers.Tap(peers.LOOPBACK, port)
            self.capture = os.path.join(self.dir, "server-side.pcap")
            tcpdump = subprocess.Popen(
                ["tcpdump", "-Z", "root", "--immediate-mode", "-i", "lo", "-U",
                 "-w", self.capture, "-s", "0", "tcp port %d" % tap_b.port],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            tcpdump.stderr.readline()  # "listening on lo": the filter is set
            self.x = peers.Xmitm(peers.LOOPBACK, tap_b.port, extra)
            self.x.start()
            tap_a = peers.Tap(peers.LOOPBACK, self.x.port)
            self.taps = (tap_a, tap_b)
            url = through(s.web_url(self.transport), tap_a.port)
            problem, detail, secs = run_pair(s, self.lib, self.transport, False,
                                             url=url)
        time.sleep(0.3)  # the last responses reach xmitm's output
        self.rc = self.x.stop()
        if not self.tls:
            time.sleep(0.2)
            tcpdump.send_signal(signal.SIGINT)
            tcpdump.communicate(timeout=10)
        self.problem, self.detail, self.secs = problem, detail, secs
        return self

    def cleanup(self):
        for t in self.taps:
            t.close()
        if self.x:
            try:
                self.x.cleanup()
            except AssertionError as e:
                self.problem = self.problem or str(e)
        if self.dir and not os.environ.get("XMITM_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def label(self):
        return "%s %s over %s%s" % (self.name, self.lib, self.transport,
                                    " (TLS)" if self.tls else "")


class WebThroughXmitmTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        node_binary()
        cls.servers = {}
        makers = {
            "prosody": lambda: peers.Prosody(users=USERS, http_port=True,
                                             https_port=True),
            "ejabberd": lambda: Ejabberd(users=USERS, web=True),
        }
        with ThreadPoolExecutor(2) as pool:
            started = {n: pool.submit(lambda m=m: m().start())
                       for n, m in makers.items()}
        for name, fut in started.items():
            cls.servers[name] = fut.result()

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers.values():
            s.stop()

    def run_all(self, tls):
        runs = [Run(self.servers[n], n, lib, tr, tls) for n, lib, tr in CASES]
        with ThreadPoolExecutor(JOBS) as pool:
            done = list(pool.map(lambda r: r.go(), runs))
        for r in done:
            self.addCleanup(r.cleanup)
        return done

    def check_output(self, r):
        out = r.x.output()
        where = "%s\n%s\n%s" % (r.label(), r.detail, r.x.describe())
        self.assertIsNone(r.problem, "%s: %s" % (r.problem, where))
        self.assertEqual(r.rc, 0, where)
        tag = "[%s%s]" % ("tls+" if r.tls else "", r.transport)
        self.assertRegex(out, r"C->S (\[tls\] )?http: (GET|POST) /", where)
        self.assertRegex(out, r"S->C (\[tls\] )?http: HTTP/1.1 (101|200) ", where)
        self.assertIn("C->S %s auth" % tag, out, where)
        self.assertIn("decoded: SASL", out, where)
        self.assertIn("C->S %s message" % tag, out, where)
        self.assertIn("S->C %s message" % tag, out, where)
        self.assertIn("web %s %s %s %s" % (type(r.server).__name__, r.lib,
                                           r.transport,
                                           "tls" if r.tls else "clear"), out)
        self.assertNotRegex(out, r"\d error: ", where)
        # read again from the recording, it is the same
        shown = subprocess.run([r.x.binary, "show", "--color=never", r.record],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(shown.returncode, 0, shown.stderr)
        self.assertEqual(printed_lines(shown.stdout), printed_lines(out),
                         "show of the recording differs: " + r.label())

    def check_same_bytes(self, r):
        tap_a, tap_b = r.taps
        a = sorted((c.c2s, c.s2c) for c in tap_a.conns)
        b = sorted((c.c2s, c.s2c) for c in tap_b.conns)
        self.assertTrue(a, r.label())
        self.assertEqual(len(a), len(b), r.label())
        for (ac, as_), (bc, bs) in zip(a, b):
            self.assertEqual(ac, bc, "client bytes changed: " + r.label())
            self.assertEqual(as_, bs, "server bytes changed: " + r.label())

    def check_capture(self, r):
        """The tcpdump of the server side, read by xmitm, holds the same
        WebSocket or BOSH stanzas, both ways, as the recording."""
        def stanzas(path):
            shown = subprocess.run([r.x.binary, "show", "--json", path],
                                   capture_output=True, text=True, timeout=60)
            self.assertEqual(shown.returncode, 0, shown.stderr)
            evs = [json.loads(l) for l in shown.stdout.splitlines()[1:]]
            return sorted((e["dir"], e["xml"]) for e in evs
                          if e["ev"] in ("stanza", "stream-open")
                          and (e.get("ws") or e.get("bosh")))
        recorded = stanzas(r.record)
        self.assertGreater(len(recorded), 10, r.label())
        self.assertEqual(stanzas(r.capture), recorded,
                         "the capture reads differently: " + r.label())

    def check_export(self, r):
        if shutil.which("tshark") is None:
            self.fail("tshark not found: scripts/dev.sh deps installs it")
        pcap = os.path.join(r.dir, "session.pcap")
        e = subprocess.run([r.x.binary, "export", "--pcap", pcap, r.record],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(e.returncode, 0, e.stderr)
        t = subprocess.run(["tshark", "-r", pcap, "-Y", "xmpp"],
                           capture_output=True, text=True, timeout=120)
        for what in ("STREAM", "AUTH", "SUCCESS", "MESSAGE"):
            self.assertIn(what, t.stdout.upper(),
                          "Wireshark misses %s in %s:\n%s" % (what, r.label(), t.stdout))

    def test_cleartext(self):
        for r in self.run_all(tls=False):
            with self.subTest(r.label()):
                self.check_output(r)
                self.check_same_bytes(r)
                self.check_capture(r)
                if r.name == "prosody":
                    self.check_export(r)

    def test_tls(self):
        for r in self.run_all(tls=True):
            with self.subTest(r.label()):
                self.check_output(r)
                self.assertIn("TLS with the client up", r.x.output())


class WebReplayTest(unittest.TestCase):
    """xmitm replay of a WebSocket session recorded through xmitm."""
    maxDiff = None

    def server(self, **kw):
        p = peers.Prosody(users=USERS, http_port=True, **kw)
        p.start()
        self.addCleanup(p.stop)
        return p

    def replay(self, binary, record, creds, *args):
        r = subprocess.run([binary, "replay", record, "--credentials", creds,
                            "--timeout", "20"] + list(args),
                           capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout + r.stderr

    def test_replay_websocket(self):
        node_binary()
        recorded = self.server()
        run = Run(recorded, "prosody", "xmpp.js", "ws", False).go()
        self.addCleanup(run.cleanup)
        self.assertIsNone(run.problem, "%s\n%s" % (run.problem, run.detail))
        creds = os.path.join(run.dir, "credentials")
        with open(creds, "w") as f:
            for user, pw in USERS.items():
                f.write("%s@localhost %s\n" % (user, pw))
        os.chmod(creds, 0o600)
        binary = run.x.binary

        fresh = self.server()
        rc, out = self.replay(binary, run.record, creds, "--server",
                              "127.0.0.1:%d" % fresh.http_port)
        self.assertEqual(rc, 0, out)
        self.assertIn("SAME: the server behaved as recorded", out)
        self.assertIn("C->S", self.replay(binary, run.record, creds, "-v",
                                          "--server", "127.0.0.1:%d" % fresh.http_port)[1])

        # the same recording over a TCP stream (c2s port)
        rc, out = self.replay(binary, run.record, creds, "--transport", "tcp",
                              "--server", "127.0.0.1:%d" % fresh.port)
        self.assertEqual(rc, 0, out)
        self.assertIn("--transport differs from the recording", out)

        # a server where alice and bob are not each other's contacts
        changed = self.server(group=[])
        rc, out = self.replay(binary, run.record, creds, "--server",
                              "127.0.0.1:%d" % changed.http_port)
        self.assertEqual(rc, 1, out)
        self.assertIn("DIFFERENT", out)

        # the recorded server, played to the same web clients
        port = peers.free_port()
        serve = subprocess.Popen([binary, "replay", run.record, "--serve",
                                  "--listen", "127.0.0.1:%d" % port,
                                  "--credentials", creds, "--timeout", "20",
                                  # client.mjs binds a resource of its own each run
                                  "--ignore", "//resource/text()"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
        self.addCleanup(lambda: serve.poll() is None and serve.kill())
        peers.wait_listening(port, serve)
        url = "ws://localhost:%d/xmpp-websocket" % port
        problem, detail, _ = run_pair(recorded, "xmpp.js", "ws", False, url=url)
        try:
            out, _ = serve.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            out, _ = serve.communicate()
        self.assertIsNone(problem, "%s\n%s\n%s" % (problem, detail, out))
        self.assertEqual(serve.returncode, 0, out)
        self.assertIn("SAME: the client behaved as recorded", out)

        # not a WebSocket endpoint: one sentence, exit 2
        rc, out = self.replay(binary, run.record, creds, "--path", "/nowhere",
                              "--server", "127.0.0.1:%d" % fresh.http_port)
        self.assertEqual(rc, 2, out)
        self.assertIn("WebSocket: the server answered the upgrade to /nowhere with 404", out)


if __name__ == "__main__":
    unittest.main()
