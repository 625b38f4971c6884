#!/usr/bin/python3
"""The web transports' real peers, checked directly (no xmitm in between).

Every web client library of tests/web (client.mjs: xmpp.js, strophe.js,
stanza) logs in over every transport it has (WebSocket, RFC 7395; BOSH,
XEP-0206) to prosody 0.12 and ejabberd 23.01, over cleartext HTTP and over
HTTPS (the server's self-signed certificate trusted with --ca), fetches
the roster, and alice sends bob a message that bob (the same library over
the same transport) receives.  So when a proxy test through xmitm fails,
the peers are known to work.

Combinations that cannot exist are checked to be refused, not skipped:
xmpp.js (@xmpp/client 0.14.0) has no BOSH transport at all, so
`client.mjs --lib xmpp.js --transport bosh` must exit 2 saying so.

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_web_peers.py
      (XMITM is not used here, only accepted like the other suites)
Needs node (18 or later) and tests/web/node_modules: `scripts/dev.sh deps`
installs both.  A missing peer fails, never skips.
XMITM_KEEP_TMP=1 keeps the servers' temp dirs.  WEB_PEERS_JOBS=N runs N
combinations at a time (default 2: each is two Node processes, mostly CPU
(module loading); more does not help on 2 cores).
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers  # noqa: E402
from ejabberd import Ejabberd  # noqa: E402

WEB = os.path.normpath(os.path.join(HERE, "..", "web"))
CLIENT = os.path.join(WEB, "client.mjs")
USERS = {"alice": "alice-web-pw", "bob": "bob-web-pw"}
JOBS = int(os.environ.get("WEB_PEERS_JOBS", "2"))
TIMEOUT = 30

# (library, transport) pairs client.mjs supports.  xmpp.js over BOSH does
# not exist (no BOSH package in xmpp.js): test_impossible checks it is
# refused.
LIBS = [("xmpp.js", "ws"), ("strophe", "ws"), ("strophe", "bosh"),
        ("stanza", "ws"), ("stanza", "bosh")]


def node_binary():
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node not found: run scripts/dev.sh deps "
                           "(installs nodejs and the npm web clients)")
    if not os.path.isdir(os.path.join(WEB, "node_modules", "strophe.js")):
        raise RuntimeError("%s/node_modules missing: run scripts/dev.sh deps "
                           "(npm ci in tests/web)" % WEB)
    return node


class Steps:
    """client.mjs's JSON lines, read as they come."""

    def __init__(self, stream):
        self.reader = peers.LineReader(stream)

    def wait(self, step, timeout):
        return self.reader.wait_for('{"step":"%s"' % step, timeout)

    def steps(self):
        out = []
        for line in self.reader.lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"step": "garbage", "line": line})
        return out

    def get(self, step):
        return next((s for s in self.steps() if s.get("step") == step), None)


def client_args(lib, transport, url, user, ca, extra=()):
    return ([node_binary(), CLIENT, "--lib", lib, "--transport", transport,
             "--url", url, "--jid", "%s@localhost" % user,
             "--password", USERS[user], "--timeout", str(TIMEOUT)]
            + (["--ca", ca] if ca else []) + list(extra))


def run_pair(server, lib, transport, tls, url=None, ca=None):
    """bob (waiting for the message) and alice (sending it), both with lib
    over transport; returns (problem or None, details, seconds); on
    success details are "" or the warnings.  url and ca: another way to
    the server (through xmitm: its listener and its CA)."""
    t0 = time.monotonic()
    url = url or server.web_url(transport, tls=tls)
    ca = ca or (server.cert if tls else None)
    body = "web %s %s %s %s <&> \u2603" % (type(server).__name__, lib,
                                             transport,
                                             "tls" if tls else "clear")
    bob = subprocess.Popen(
        client_args(lib, transport, url, "bob", ca, ["--expect-body", body]),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    bob_err = []
    err_reader = threading.Thread(
        target=lambda: bob_err.append(bob.stderr.read()), daemon=True)
    err_reader.start()
    bob_steps = Steps(bob.stdout)
    try:
        if not bob_steps.wait("ready", TIMEOUT + 5):
            bob.kill()
            bob.wait()
            time.sleep(0.1)
            return ("bob never got ready: %s %s"
                    % (bob_steps.steps(), "".join(bob_err)), url,
                    time.monotonic() - t0)
        alice = subprocess.run(
            client_args(lib, transport, url, "alice", ca,
                        ["--to", "bob@localhost", "--body", body]),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, timeout=TIMEOUT + 10)
        try:
            bob_rc = bob.wait(TIMEOUT + 5)
        except subprocess.TimeoutExpired:
            bob.kill()
            bob_rc = bob.wait()
    finally:
        if bob.poll() is None:
            bob.kill()
            bob.wait()
    bob_steps.reader.text()
    err_reader.join(5)
    bob.stdout.close()
    bob.stderr.close()
    a = [json.loads(l) for l in alice.stdout.splitlines()
         if l.startswith("{")]
    b = bob_steps.steps()
    # "warning": the library threw while closing, after every step
    # succeeded (stanza's BOSH on ejabberd); shown, not a failure.
    warnings = [s for s in a + b if s.get("step") == "warning"]
    a = [s for s in a if s.get("step") != "warning"]
    b = [s for s in b if s.get("step") != "warning"]
    detail = ("url %s\nalice (exit %s): %s\n%s\nbob (exit %s): %s\n%s"
              % (url, alice.returncode, a, alice.stderr, bob_rc, b,
                 "".join(bob_err)))
    secs = time.monotonic() - t0
    if alice.returncode != 0 or bob_rc != 0:
        return "a client failed", detail, secs
    want = ["online", "roster", "ready", "sent", "done"]
    if [s["step"] for s in a] != want:
        return "alice's steps: %s" % [s["step"] for s in a], detail, secs
    if [s["step"] for s in b] != ["online", "roster", "ready", "received",
                                  "done"]:
        return "bob's steps: %s" % [s["step"] for s in b], detail, secs
    for who, steps in (("alice", a), ("bob", b)):
        online = steps[0]
        if not online.get("jid", "").startswith("%s@localhost/" % who):
            return "%s bound %r" % (who, online.get("jid")), detail, secs
        if steps[1].get("items") != 1:
            return ("%s's roster has %r items, expected 1 (the other)"
                    % (who, steps[1].get("items")), detail, secs)
    got = b[3]
    if got.get("body") != body or \
            not got.get("from", "").startswith("alice@localhost/"):
        return "bob received %r" % got, detail, secs
    if warnings:
        return None, "warning: %s" % "; ".join(
            w.get("message", "").split("\n")[0] for w in warnings), secs
    return None, "", secs


class WebPeersTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        node_binary()
        cls.servers = {}
        cls.started = {}
        errors = []

        def start(name, make):
            t0 = time.monotonic()
            s = make()
            try:
                s.start()
            except Exception as e:
                errors.append("%s: %s" % (name, e))
                return
            cls.servers[name] = s
            cls.started[name] = time.monotonic() - t0

        makers = {
            "prosody": lambda: peers.Prosody(users=USERS, http_port=True,
                                             https_port=True),
            "ejabberd": lambda: Ejabberd(users=USERS, web=True),
        }
        threads = [threading.Thread(target=start, args=(n, m))
                   for n, m in makers.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            cls.tearDownClass()
            raise RuntimeError("\n".join(errors))
        sys.stderr.write("servers up: %s\n" % ", ".join(
            "%s %.1f s" % kv for kv in cls.started.items()))

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers.values():
            s.stop()
        cls.servers = {}

    def check_server(self, name):
        server = self.servers[name]
        combos = [(lib, tr, tls) for lib, tr in LIBS for tls in (False, True)]
        with ThreadPoolExecutor(max_workers=JOBS) as pool:
            results = list(pool.map(lambda c: run_pair(server, *c), combos))
        for (lib, tr, tls), (problem, detail, secs) in zip(combos, results):
            sys.stderr.write("  %-8s %-8s %-4s %-5s %4.1f s %s\n"
                             % (name, lib, tr, "tls" if tls else "clear",
                                secs, "FAILED" if problem is not None else
                                "ok (%s)" % detail if detail else "ok"))
            with self.subTest(server=name, lib=lib, transport=tr, tls=tls):
                self.assertIsNone(problem, "%s\n%s\n%s"
                                  % (problem, detail, server.log_tail()))

    def test_prosody(self):
        """prosody 0.12: mod_websocket /xmpp-websocket, mod_bosh
        /http-bind, over http_ports and https_ports."""
        self.check_server("prosody")

    def test_ejabberd(self):
        """ejabberd 23.01: ejabberd_http with /ws (ejabberd_http_ws) and
        /bosh (mod_bosh), with and without tls: true."""
        self.check_server("ejabberd")

    def test_impossible(self):
        """xmpp.js has no BOSH: client.mjs refuses it (exit 2, says why)
        rather than pretending."""
        r = subprocess.run(
            client_args("xmpp.js", "bosh", "http://localhost:1/http-bind",
                        "alice", None),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("xmpp.js has no BOSH transport", r.stderr)

    def test_certificate_checked(self):
        """Without --ca the servers' self-signed certificate is refused:
        wss:// and https:// really verify (so --ca, and later xmitm's CA,
        is what makes them work)."""
        server = self.servers["prosody"]
        for lib, tr in (("xmpp.js", "ws"), ("strophe", "bosh")):
            with self.subTest(lib=lib, transport=tr):
                r = subprocess.run(
                    client_args(lib, tr, server.web_url(tr, tls=True),
                                "alice", None, ["--timeout", "10"]),
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True, timeout=30)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertNotIn('"step":"online"', r.stdout)
                self.assertIn('"step":"error"', r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
