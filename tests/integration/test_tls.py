#!/usr/bin/python3
"""TLS interception with real peers: prosody (STARTTLS required, direct TLS,
its own self-signed certificate), slixmpp clients trusting xmitm's CA,
openssl s_client, tshark with the key log; scripted peers for the failures
no real peer produces.

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_tls.py
Exit status 0 all passed, 1 a failure (a missing binary or peer fails).
"""

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import client  # noqa: E402
import peers   # noqa: E402

XMITM = os.environ.get("XMITM")
HEADER = ("<?xml version='1.0'?><stream:stream to='localhost' "
          "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
          "version='1.0'>")
FEATURES_TLS = ("<?xml version='1.0'?><stream:stream from='localhost' id='x1' "
                "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                "version='1.0'><stream:features><starttls "
                "xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
                "</stream:features>")
STARTTLS = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
PROCEED = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def recv_until(sock, marker, timeout=10.0):
    """Bytes from sock until marker (bytes) is seen, EOF, or timeout."""
    sock.settimeout(timeout)
    got = b""
    deadline = time.monotonic() + timeout
    while marker not in got and time.monotonic() < deadline:
        try:
            d = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not d:
            break
        got += d
    return got



def wait_for(pred, timeout=10.0):
    return peers.wait_for(pred, timeout)


class ScriptedServer:
    """An upstream that speaks XMPP up to <proceed/>, then does `after`:
    'close' (closes on the ClientHello) or 'silent' (reads and never
    answers)."""

    def __init__(self, after):
        self.after = after
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            recv_until(c, b"version='1.0'>", 5)
            c.sendall(FEATURES_TLS.encode())
            # <starttls .../>, whatever the quotes and spaces.
            got = recv_until(c, b"xmpp-tls", 5)
            if b">" not in got.split(b"xmpp-tls")[-1]:
                recv_until(c, b">", 5)

            c.sendall(PROCEED.encode())
            hello = recv_until(c, b"\x16\x03", 5)
            if self.after == "close" and hello:
                c.close()
                return
            while not self.stop.is_set():
                c.settimeout(0.2)
                try:
                    if not c.recv(65536):
                        return
                except socket.timeout:
                    continue
        except OSError:
            pass

    def close(self):
        self.stop.set()
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.thread.join(2)


class TlsTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        for tool in ("openssl", "tshark"):
            if shutil.which(tool) is None:
                raise RuntimeError("%s not found: apt-get install %s" % (tool, tool))
        cls.prosody = peers.Prosody(users={"alice": "alice-pw", "bob": "bob-pw"},
                                    tls_required=True, direct_tls_port=True)
        cls.prosody.start()

    @classmethod
    def tearDownClass(cls):
        cls.prosody.stop()

    def xmitm(self, *extra, trust_upstream=True, upstream_port=None):
        args = list(extra)
        if trust_upstream:
            args += ["--upstream-ca", self.prosody.cert]
        x = peers.Xmitm("127.0.0.1", upstream_port or self.prosody.port,
                        extra_args=args)
        x.start()
        self.addCleanup(x.cleanup)
        return x

    def stop_ok(self, x):
        rc = x.stop()
        self.assertEqual(rc, 0, "xmitm exited %r\n%s" % (rc, x.describe()))
        return ANSI.sub("", x.output())

    def login(self, x, user, **kw):
        kw.setdefault("ca", x.ca_cert)
        kw.setdefault("tls", True)
        kw.setdefault("timeout", 15)
        return client.run(self.prosody.jid(user), self.prosody.users[user],
                          "127.0.0.1", x.port, tls_name="localhost", **kw)

    # ---- the real thing ----

    def test_starttls_session_decrypted(self):
        x = self.xmitm()
        body = "over TLS, through xmitm <&> \u2603"
        results = {}
        bob = threading.Thread(target=lambda: results.__setitem__(
            "bob", self.login(x, "bob", expect_body=body)))
        bob.start()
        self.assertTrue(wait_for(lambda: x.output().count("[tls] iq") >= 2, 15),
                        "bob's session did not come up\n" + x.describe())
        results["alice"] = self.login(x, "alice", send_to=self.prosody.jid("bob"),
                                      body=body, expect_contacts=[self.prosody.jid("bob")])
        bob.join(30)
        self.assertIsNone(results.get("alice"), results)
        self.assertIsNone(results.get("bob"), results)
        out = self.stop_ok(x)
        # The handshakes, one line per leg.
        self.assertRegex(out, r"layer: TLS with the server up in [\d.]+ ms: TLSv1\.[23], "
                              r"\S+, SNI localhost, ALPN none; certificate subject "
                              r"CN=localhost, issuer CN=localhost; verified for 'localhost'")
        self.assertRegex(out, r"layer: TLS with the client up in [\d.]+ ms: TLSv1\.[23], "
                              r"\S+, SNI \S+, ALPN \S+\n")
        # Post-TLS SASL, the bind result and the message, marked as TLS.
        self.assertRegex(out, r"C->S \[tls\] auth, \d+ bytes\n  <auth "
                              r"xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-")
        self.assertRegex(out, r"S->C \[tls\] iq, \d+ bytes\n(  .*\n)*?\s+<jid>alice@localhost/")
        self.assertIn("<body>over TLS, through xmitm &lt;&amp;&gt; \u2603</body>", out)
        self.assertRegex(out, r"C->S \[tls\] message")
        self.assertRegex(out, r"S->C \[tls\] message")
        # SCRAM decoded in words: user and nonces shown, proofs too.
        self.assertRegex(out, r"decoded: SASL SCRAM-SHA-\d+ auth \(client-first\): "
                              r"gs2-cbind-flag='[ny]' .*n='alice' r='")
        self.assertRegex(out, r"decoded: SASL SCRAM-SHA-\d+ challenge \(server-first\): r='.*s='.*i='\d+'")
        self.assertRegex(out, r"decoded: SASL SCRAM-SHA-\d+ response \(client-final\): .*p='")
        self.assertRegex(out, r"decoded: SASL SCRAM-SHA-\d+ success \(server-final\): v='")
        # The password never shows.
        self.assertNotIn("alice-pw", out)
        self.assertRegex(out, r"\[secret: \d+ bytes hidden")

    def test_busy_then_quiet_then_busy(self):
        """A burst makes the session busy (its TLS keeps its record
        buffers, and past negotiation plaintext is decoded after it is
        sent); quiet for over a second it gives them back (SSL_free_buffers
        in the middle of the session); then another burst. Every message
        comes back and is shown, in order."""
        x = self.xmitm()
        reason = self.login(x, "alice", rounds=(100, 50), pause=2.5, timeout=40)
        self.assertIsNone(reason, x.describe())
        out = self.stop_ok(x)
        for d in ("C->S", "S->C"):
            shown = [int(n) for n in re.findall(
                r"%s \[tls\] message.*\n(?:  .*\n)*?.*<body>round \d message (\d+)</body>"
                % re.escape(d), out)]
            self.assertEqual(shown, list(range(1, 151)), d)

    def test_openssl_s_client_verifies_forged_chain(self):
        x = self.xmitm()
        r = subprocess.run(
            ["openssl", "s_client", "-connect", "127.0.0.1:%d" % x.port,
             "-starttls", "xmpp", "-xmpphost", "localhost", "-servername", "localhost",
             "-CAfile", x.ca_cert, "-verify_return_error", "-verify_hostname", "localhost",
             "-showcerts"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        self.assertIn("Verify return code: 0 (ok)", r.stdout)
        self.assertRegex(r.stdout, r"i:O = xmitm, CN = xmitm CA ")
        # The leaf carries the server's names, the XMPP otherNames too.
        leaf = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                         r.stdout, re.S).group(0)
        text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=leaf,
                              capture_output=True, text=True).stdout
        self.assertIn("DNS:localhost", text)
        self.assertIn("othername: XmppAddr::localhost", text)
        self.assertIn("othername: SRVName::_xmpp-client.localhost", text)
        self.assertIn("Subject: CN = localhost", text)
        out = self.stop_ok(x)
        self.assertIn("certificate for the client made for localhost", out)

    def test_direct_tls(self):
        x = self.xmitm("--upstream-tls", "127.0.0.1:%d" % self.prosody.direct_tls_port)
        self.assertIsNone(self.login(x, "alice", tls=False, direct_tls=True))
        out = self.stop_ok(x)
        self.assertIn("the client opened with a TLS ClientHello (XEP-0368 direct TLS)", out)
        self.assertIn("upstream 127.0.0.1:%d connected" % self.prosody.direct_tls_port, out)
        self.assertRegex(out, r"TLS with the server up .* SNI localhost")
        self.assertRegex(out, r"S->C \[tls\] iq, \d+ bytes\n(  .*\n)*?\s+<jid>alice@localhost/")

    def test_direct_tls_passes_alpn_and_sni_upstream(self):
        # Neither packaged server selects ALPN, so check what xmitm sends:
        # the ClientHello on the upstream leg carries the client's ALPN and SNI.
        tmp = tempfile.mkdtemp(prefix="xmitm-alpn-")
        self.addCleanup(shutil.rmtree, tmp, True)
        pcap = os.path.join(tmp, "server-leg.pcapng")
        port = self.prosody.direct_tls_port
        x = self.xmitm("--upstream-tls", "127.0.0.1:%d" % port)
        cap = self.capture(port, pcap)
        r = subprocess.run(
            ["openssl", "s_client", "-connect", "127.0.0.1:%d" % x.port,
             "-alpn", "xmpp-client", "-servername", "localhost",
             "-CAfile", x.ca_cert, "-verify_return_error", "-brief"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        time.sleep(0.5)
        cap.terminate()
        cap.wait(10)
        self.stop_ok(x)
        hello = subprocess.run(
            ["tshark", "-r", pcap, "-d", "tcp.port==%d,tls" % port,
             "-Y", "tls.handshake.type == 1", "-T", "fields",
             "-e", "tls.handshake.extensions_server_name",
             "-e", "tls.handshake.extensions_alpn_str"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(hello.stdout.strip(), "localhost\txmpp-client", hello)

    def capture(self, port, pcap):
        """tshark on lo for one TCP port, once it is capturing."""
        cap = subprocess.Popen(
            ["tshark", "-q", "-i", "lo", "-f", "tcp port %d" % port, "-w", pcap],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.addCleanup(cap.stderr.close)
        self.addCleanup(lambda: cap.poll() is None and cap.kill())
        deadline = time.monotonic() + 20
        err = ""
        while "Capturing on" not in err and time.monotonic() < deadline:
            line = cap.stderr.readline()
            if not line:
                break
            err += line
        self.assertIn("Capturing on", err)
        # dumpcap says so before its filter is live: a fast exchange right
        # after it can be missed.
        time.sleep(1)
        return cap

    def test_leaf_cache(self):
        x = self.xmitm()
        self.assertIsNone(self.login(x, "alice"))
        self.assertIsNone(self.login(x, "alice"))
        out = self.stop_ok(x)
        self.assertEqual(out.count("certificate for the client made for localhost"), 1, out)
        self.assertEqual(out.count("certificate for the client for localhost, from the cache"), 1)

    # ---- failures: one clear line, only that connection ----

    def test_upstream_verification_fails(self):
        x = self.xmitm(trust_upstream=False)
        reason = self.login(x, "alice", timeout=4)
        self.assertIsNotNone(reason)
        out = self.stop_ok(x)
        self.assertRegex(out, r"error: upstream 127\.0\.0\.1:\d+: its certificate does not "
                              r"verify for 'localhost': self.signed certificate \(give its "
                              r"CA with --upstream-ca FILE, or skip the check with "
                              r"--upstream-insecure\)")
        # --upstream-insecure lets it through, and says it did not verify.
        x2 = self.xmitm("--upstream-insecure", trust_upstream=False)
        self.assertIsNone(self.login(x2, "alice"))
        self.assertIn("not verified (--upstream-insecure)", self.stop_ok(x2))

    def test_client_rejects_forged_certificate(self):
        x = self.xmitm()
        # The client trusts only prosody's own certificate, not xmitm's CA.
        reason = self.login(x, "alice", ca=self.prosody.cert, timeout=4)
        self.assertIsNotNone(reason)
        self.assertTrue(wait_for(lambda: "closed:" in x.output(), 5))
        # openssl s_client sends an alert (unknown CA) instead of hanging up.
        r = subprocess.run(
            ["openssl", "s_client", "-connect", "127.0.0.1:%d" % x.port,
             "-starttls", "xmpp", "-xmpphost", "localhost", "-CAfile",
             self.prosody.cert, "-verify_return_error"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(wait_for(lambda: x.output().count("closed:") == 2, 5))
        out = self.stop_ok(x)
        self.assertEqual(out.count("the client does not trust xmitm's CA; export it "
                                   "with `xmitm ca export`"), 4, out)

    def test_garbage_instead_of_client_hello(self):
        x = self.xmitm()
        # After <proceed/>, plaintext instead of a ClientHello.
        s = socket.create_connection(("127.0.0.1", x.port))
        s.sendall(HEADER.encode())
        recv_until(s, b"</stream:features>")
        s.sendall(STARTTLS.encode())
        self.assertIn(b"<proceed", recv_until(s, b"<proceed"))
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n" * 4)
        recv_until(s, b"never", 5)  # xmitm closes it
        s.close()
        # A direct-TLS lookalike: a handshake record header, then junk.
        d = socket.create_connection(("127.0.0.1", x.port))
        d.sendall(b"\x16\x03\x01\x00\x05hello, not really TLS")
        recv_until(d, b"never", 5)
        d.close()
        # Other connections are unaffected.
        self.assertIsNone(self.login(x, "alice"))
        out = self.stop_ok(x)
        self.assertEqual(len(re.findall(r"error: the client did not speak TLS where it "
                                        r"should have: not TLS", out)), 2, out)

    def test_pipelined_plaintext_after_starttls(self):
        x = self.xmitm()
        s = socket.create_connection(("127.0.0.1", x.port))
        s.sendall(HEADER.encode())
        recv_until(s, b"</stream:features>")
        # <starttls/> and a stanza in one write, before the server's answer.
        s.sendall((STARTTLS + "<message to='bob@localhost'><body>early</body>"
                   "</message>").encode())
        got = recv_until(s, b"<proceed", 5)
        s.close()
        self.assertTrue(wait_for(lambda: "closed:" in x.output(), 5))
        out = self.stop_ok(x)
        self.assertIn("warning: the client sent <message/> after <starttls/> before "
                      "the server's answer: pipelined plaintext (RFC 6120 §5.4.3.3)", out)
        # It was framed as plaintext, and TLS never saw it.
        self.assertRegex(out, r"C->S message, \d+ bytes\n  <message to='bob@localhost'>")
        self.assertNotRegex(out, r"\[tls\] message")
        self.assertTrue(b"<proceed" in got or b"</stream:stream>" in got or got == b"")

    def test_server_closes_during_handshake(self):
        srv = ScriptedServer("close")
        self.addCleanup(srv.close)
        x = self.xmitm(upstream_port=srv.port)
        self.assertIsNotNone(self.login(x, "alice", timeout=4))
        self.assertTrue(wait_for(lambda: "closed:" in x.output(), 5))
        out = self.stop_ok(x)
        self.assertIn("error: the server closed the connection during the TLS handshake", out)

    def test_handshake_timeout(self):
        srv = ScriptedServer("silent")
        self.addCleanup(srv.close)
        x = self.xmitm("--tls-timeout", "1", upstream_port=srv.port)
        s = socket.create_connection(("127.0.0.1", x.port))
        s.sendall(HEADER.encode())
        recv_until(s, b"</stream:features>")
        s.sendall(STARTTLS.encode())
        self.assertIn(b"<proceed", recv_until(s, b"<proceed"))
        s.sendall(b"\x16\x03\x01\x00\x10" + b"\x01" * 16)  # waits for the server
        recv_until(s, b"never", 10)  # until xmitm closes it
        s.close()
        self.assertTrue(wait_for(lambda: "closed:" in x.output(), 5))
        out = self.stop_ok(x)
        # The timer, not the client, ended it (no timing is asserted here).
        self.assertIn("error: the TLS handshake with the server did not finish within 1 s", out)
        self.assertIn("closed: the TLS handshake with the server did not finish", out)

    # ---- key log: a capture of one leg decrypts in Wireshark ----

    def test_keylog_decrypts_capture(self):
        tmp = tempfile.mkdtemp(prefix="xmitm-keylog-")
        self.addCleanup(shutil.rmtree, tmp, True)
        keylog = os.path.join(tmp, "keys.log")
        pcap = os.path.join(tmp, "client-leg.pcapng")
        x = self.xmitm("--keylog", keylog)
        cap = self.capture(x.port, pcap)
        self.assertIsNone(self.login(x, "alice", send_to=self.prosody.jid("bob"),
                                     body="keylog check message"))
        time.sleep(0.5)
        cap.terminate()
        cap.wait(10)
        self.stop_ok(x)
        self.assertEqual(stat.S_IMODE(os.stat(keylog).st_mode), 0o600)
        with open(keylog) as f:
            lines = f.read().split("\n")
        # Both legs: TLS 1.3 secrets for two handshakes.
        self.assertEqual(sum(1 for l in lines if l.startswith("CLIENT_TRAFFIC_SECRET_0 ")), 2)
        r = subprocess.run(
            ["tshark", "-r", pcap, "-o", "tls.keylog_file:" + keylog,
             "-d", "tcp.port==%d,xmpp" % x.port, "-Y", "xmpp",
             "-T", "fields", "-e", "frame.number", "-e", "xmpp.message"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Without the key log only the cleartext before STARTTLS is XMPP.
        r2 = subprocess.run(
            ["tshark", "-r", pcap, "-x", "-o", "tls.keylog_file:" + keylog,
             "-d", "tcp.port==%d,xmpp" % x.port, "-Y", "tls.app_data"],
            capture_output=True, text=True, timeout=60)
        self.assertIn("keylog check message", _decrypted_text(r2.stdout))


def _decrypted_text(hexdump):
    """The ASCII column of tshark -x output (decrypted TLS data included)."""
    text = []
    for line in hexdump.splitlines():
        m = re.match(r"^[0-9a-f]{4}  (?:[0-9a-f]{2} ){1,16}\s*(.*)$", line)
        if m:
            text.append(m.group(1))
    return "".join(text)


if __name__ == "__main__":
    peers.run_tests()
