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
* `replay --serve` plays the recorded server to the same web clients;
* converse.js in headless Chromium (a real browser) logs in over WebSocket
  through xmitm and sends bob a message he receives.

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_web.py
The peers themselves are checked without xmitm in test_web_peers.py.
"""

import functools
import http.server
import json
import os
import re
import signal
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers  # noqa: E402
from ejabberd import Ejabberd  # noqa: E402
from test_web_peers import USERS, client_args, node_binary, run_pair  # noqa: E402

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

    def record_alone(self, server):
        """alice alone over WebSocket through xmitm, sending herself a
        message she receives: one connection, so nothing in it races (two
        clients' closes and presences do, and a replay can only differ)."""
        d = tempfile.mkdtemp(prefix="xmitm-web-")
        self.addCleanup(shutil.rmtree, d, True)
        record = os.path.join(d, "alone.jsonl")
        x = peers.Xmitm(peers.LOOPBACK, server.http_port, ["--record", record])
        self.addCleanup(x.cleanup)
        x.start()
        r = self.alice("ws://localhost:%d/xmpp-websocket" % x.port)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + x.describe())
        time.sleep(0.3)
        self.assertEqual(x.stop(), 0)
        creds = os.path.join(d, "credentials")
        with open(creds, "w") as f:
            for user, pw in USERS.items():
                f.write("%s@localhost %s\n" % (user, pw))
        os.chmod(creds, 0o600)
        return record, creds, x.binary

    def alice(self, url):
        body = "to myself over WebSocket"
        return subprocess.run(
            client_args("xmpp.js", "ws", url, "alice", None,
                        ["--to", "alice@localhost", "--body", body,
                         "--expect-body", body]),
            capture_output=True, text=True, timeout=90)

    def test_replay_websocket(self):
        node_binary()
        recorded = self.server()
        record, creds, binary = self.record_alone(recorded)

        fresh = self.server()
        rc, out = self.replay(binary, record, creds, "--server",
                              "127.0.0.1:%d" % fresh.http_port)
        self.assertEqual(rc, 0, out)
        self.assertIn("SAME: the server behaved as recorded", out)

        # the same recording over a TCP stream (c2s port)
        rc, out = self.replay(binary, record, creds, "--transport", "tcp",
                              "--server", "127.0.0.1:%d" % fresh.port)
        self.assertEqual(rc, 0, out)
        self.assertIn("--transport differs from the recording", out)

        # a server where alice and bob are not each other's contacts
        changed = self.server(group=[])
        rc, out = self.replay(binary, record, creds, "--server",
                              "127.0.0.1:%d" % changed.http_port)
        self.assertEqual(rc, 1, out)
        self.assertIn("DIFFERENT", out)

        # the recorded server, played to the same web client
        port = peers.free_port()
        serve = subprocess.Popen([binary, "replay", record, "--serve",
                                  "--listen", "127.0.0.1:%d" % port,
                                  "--credentials", creds, "--timeout", "20",
                                  # client.mjs binds a resource of its own each run
                                  "--ignore", "//resource/text()"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
        self.addCleanup(lambda: serve.poll() is None and serve.kill())
        peers.wait_listening(port, serve)
        r = self.alice("ws://localhost:%d/xmpp-websocket" % port)
        try:
            out, _ = serve.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            out, _ = serve.communicate()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + out)
        self.assertEqual(serve.returncode, 0, out)
        self.assertIn("SAME: the client behaved as recorded", out)

        # not a WebSocket endpoint: one sentence, exit 2
        rc, out = self.replay(binary, record, creds, "--path", "/nowhere",
                              "--server", "127.0.0.1:%d" % fresh.http_port)
        self.assertEqual(rc, 2, out)
        self.assertIn("WebSocket: the server answered the upgrade to /nowhere with 404", out)


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class ConverseInChromiumTest(unittest.TestCase):
    """converse.js 14 (npm) in headless Chromium through xmitm."""

    def test_converse_logs_in_and_sends(self):
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
        except ImportError:
            self.fail("python3-selenium missing: scripts/dev.sh deps installs it")
        web = os.path.join(HERE, "..", "web")
        if not os.path.isdir(os.path.join(web, "node_modules", "converse.js", "dist")):
            self.fail("converse.js missing: scripts/dev.sh deps (npm ci in tests/web)")
        p = peers.Prosody(users=USERS, http_port=True)
        p.start()
        self.addCleanup(p.stop)
        x = peers.Xmitm(peers.LOOPBACK, p.http_port)
        self.addCleanup(x.cleanup)
        x.start()
        # converse is served over http (it does not run from file://)
        srv = http.server.ThreadingHTTPServer(
            (peers.LOOPBACK, 0), functools.partial(Quiet, directory=web))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        body = "from converse.js through xmitm"
        ws = "ws://127.0.0.1:%d/xmpp-websocket" % x.port
        # bob, an xmpp.js client through xmitm too, waits for the message
        bob = subprocess.Popen(
            [node_binary(), os.path.join(web, "client.mjs"), "--lib", "xmpp.js",
             "--transport", "ws", "--url", "ws://localhost:%d/xmpp-websocket" % x.port,
             "--jid", "bob@localhost", "--password", USERS["bob"],
             "--expect-body", body, "--timeout", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(bob.stderr.close)
        self.addCleanup(bob.stdout.close)
        self.addCleanup(lambda: bob.poll() is None and bob.kill())
        reader = peers.LineReader(bob.stdout)
        self.assertTrue(reader.wait_for('{"step":"ready"', 60), reader.text())
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        profile = tempfile.mkdtemp(prefix="xmitm-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-dev-shm-usage", "--user-data-dir=" + profile,
                  # no name leaves the machine (converse's login page shows
                  # logos from its web site): every host name is unknown
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
            opts.add_argument(a)
        driver = webdriver.Chrome(
            service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
            options=opts)
        try:
            driver.set_page_load_timeout(60)
            driver.get("http://127.0.0.1:%d/converse.html?%s" % (
                srv.server_address[1], urllib.parse.urlencode({
                    "ws": ws, "jid": "alice@localhost", "password": USERS["alice"],
                    "to": "bob@localhost", "body": body})))
            deadline = time.monotonic() + 60
            steps = []
            while time.monotonic() < deadline and "sent" not in steps:
                steps = driver.execute_script("return window.xmitmSteps || []")
                if any(s.startswith("error") for s in steps):
                    break
                time.sleep(0.5)
            self.assertIn("sent", steps, "converse.js: %s\n%s" % (
                steps, [e.get("message") for e in driver.get_log("browser")]))
            rc = bob.wait(60)
        finally:
            driver.quit()
        self.assertEqual(rc, 0, reader.text() + bob.stderr.read())
        self.assertIn('"step":"received"', reader.text())
        time.sleep(0.3)
        self.assertEqual(x.stop(), 0)
        out = x.output()
        self.assertRegex(out, r"decoded: SASL SCRAM-SHA-\d+ auth")
        self.assertRegex(out, r"Origin: http://127\.0\.0\.1:\d+")
        self.assertIn("C->S [ws] message", out)
        self.assertIn(body, out)
        self.assertNotRegex(out, r"\d error: ", out)


if __name__ == "__main__":
    unittest.main()
