#!/usr/bin/python3
"""xmitm's decoders and rewrites against a real ejabberd 23.01: XEP-0138 zlib
(over STARTTLS and over plaintext), --no-compression, SCRAM-*-PLUS stripping
(STARTTLS and direct TLS) and --keep-channel-binding, DIGEST-MD5.

Clients: gloox (tests/integration/gloox_client.cpp, the one packaged client
that negotiates XEP-0138 zlib) and slixmpp (client.py).  One ejabberd for the
whole class (ejabberd.py; a few seconds to start).

Run:  XMITM=build/cli/xmitm GLOOX_CLIENT=build/tests/gloox_client \\
        /usr/bin/python3 tests/integration/test_decoders.py
Exit status 0 all passed, 1 a failure (a missing binary or peer fails, it is
never skipped).  XMITM_KEEP_TMP=1 keeps the temp dirs.
"""

import atexit
import os
import re
import signal
import subprocess
import sys
import threading
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import client    # noqa: E402
import ejabberd  # noqa: E402
import peers     # noqa: E402

XMITM = os.environ.get("XMITM")
GLOOX_CLIENT = os.environ.get("GLOOX_CLIENT")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Distinctive passwords, to prove they never reach the output.
USERS = {"alice": "alice-Pw-7f3c9e", "bob": "bob-Pw-41d2aa",
         "carol": "carol-Pw-9b0e51"}
PLUS_STRIPPED = ("xmitm removed SCRAM-SHA-512-PLUS, SCRAM-SHA-256-PLUS, "
                 "SCRAM-SHA-1-PLUS from these features before passing them on "
                 "(channel binding cannot work through a man in the middle; "
                 "--keep-channel-binding keeps it)")
ZLIB_LAYER = ("layer: XEP-0138: both directions are zlib streams from the "
              "next byte; xmitm forwards them as they are and inflates a copy")


# Everything started, stopped at exit too: a SIGTERM (meson's timeout)
# becomes KeyboardInterrupt, which skips unittest's clean-ups but not atexit.
_LIVE = []


def _stop_all():
    for stop in reversed(_LIVE):
        try:
            stop()
        except Exception:
            pass


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


atexit.register(_stop_all)


def xml_text(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Gloox:
    """One run of gloox_client, its stdout read line by line in a thread."""

    def __init__(self, args, env=None):
        self.args = [GLOOX_CLIENT] + args
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=env)
        self._out = peers.LineReader(self.proc.stdout)
        self.lines = self._out.lines
        self._err = []
        self._te = threading.Thread(
            target=lambda: self._err.append(self.proc.stderr.read()),
            daemon=True)
        self._te.start()

    def wait_line(self, prefix, timeout=20.0):
        """True once a stdout line starts with prefix (False on EOF or
        timeout)."""
        return self._out.wait_for(prefix, timeout)

    def finish(self, timeout=30.0):
        """Exit status (after a kill on timeout: -9)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.text()  # waits for the reader to see the end
        self._te.join(5)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.finish(5)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def stderr(self):
        return "".join(self._err)

    def describe(self):
        return ("command: %s\nexit: %s\nstdout:\n%s\nstderr:\n%s"
                % (" ".join(self.args), self.proc.returncode,
                   "\n".join(self.lines), self.stderr()))


class DecodersTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        if not (GLOOX_CLIENT and os.access(GLOOX_CLIENT, os.X_OK)):
            raise RuntimeError("set GLOOX_CLIENT to the gloox_client binary "
                               "(got %r; it is built when g++ and "
                               "libgloox-dev are installed)" % GLOOX_CLIENT)
        signal.signal(signal.SIGTERM, _on_sigterm)
        cls.ejabberd = ejabberd.Ejabberd(users=USERS, direct_tls=True)
        _LIVE.append(cls.ejabberd.stop)
        cls.ejabberd.start()

    @classmethod
    def tearDownClass(cls):
        cls.ejabberd.stop()

    # ---- helpers ----

    def xmitm(self, *extra, tls=True, upstream_port=None):
        e = self.ejabberd
        args = list(extra)
        if tls:
            args += ["--upstream-ca", e.cert]
        port = upstream_port or (e.port if tls else e.plain_port)
        x = peers.Xmitm("127.0.0.1", port, extra_args=args)
        _LIVE.append(x.cleanup)
        self.addCleanup(x.cleanup)
        x.start()
        return x

    def stop_ok(self, x):
        rc = x.stop()
        self.assertEqual(rc, 0, "xmitm exited %r\n%s" % (rc, x.describe()))
        self.assertNotRegex(x.errors(), r"ERROR: AddressSanitizer|runtime error:",
                            x.errors())
        return ANSI.sub("", x.output())

    def gloox(self, port, user, *, x=None, tls=True, compress=False,
              require_compression=False, mech=None, send_to=None, body=None,
              expect_body=None, resource=None, ca=None, timeout=20):
        """Starts gloox_client as user (with tls=True, trusting ca, by
        default x's CA)."""
        args = ["--host", "127.0.0.1", "--port", str(port),
                "--jid", self.ejabberd.jid(user) + "/" + (resource or "gloox"),
                "--password", USERS[user], "--timeout", str(timeout)]
        if tls:
            args += ["--tls", "--ca", ca or x.ca_cert]
        if require_compression:
            args.append("--require-compression")
        elif compress:
            args.append("--compress")
        if mech:
            args += ["--mech", mech]
        if send_to:
            args += ["--send-to", send_to, "--body", body]
        if expect_body is not None:
            args += ["--expect-body", expect_body]
        # The leak checker is for xmitm: in the sanitizer build gloox_client
        # is instrumented too, and gloox 1.0.24 leaves its GnuTLS objects
        # (3 MB) to the exit.
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(
            filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
        g = Gloox(args, env)
        _LIVE.append(g.kill)
        self.addCleanup(g.kill)
        return g

    def gloox_ok(self, g, x=None, timeout=30):
        rc = g.finish(timeout)
        self.assertEqual(rc, 0, g.describe()
                         + ("\n" + x.describe() if x is not None else ""))

    def message_exchange(self, x, *, tls, **kw):
        """bob logs in and waits; alice sends him BODY; both through x."""
        e = self.ejabberd
        body = "zlib <&> \u2603 " + "compressible text, " * 6
        bob = self.gloox(x.port, "bob", x=x, tls=tls, expect_body=body, **kw)
        self.assertTrue(bob.wait_line("READY", 20),
                        bob.describe() + "\n" + x.describe())
        alice = self.gloox(x.port, "alice", x=x, tls=tls,
                           send_to=e.jid("bob"), body=body, **kw)
        self.gloox_ok(alice, x)
        self.gloox_ok(bob, x)
        self.assertIn("RECEIVED from alice@localhost/gloox: " + body, bob.lines)
        return alice, bob, body

    def assert_zlib_session(self, out, mark, body):
        self.assertEqual(out.count(ZLIB_LAYER), 2, out)
        # Every stanza after <compressed/> is marked; the message body is
        # the inflated text.
        stanza = r"#\d+ %s %s %s, \d+ bytes( \(\d+ compressed\))?\n"
        self.assertRegex(out, stanza % ("S->C", re.escape(mark), "iq")
                         + r"(  .*\n)*?\s+<jid>alice@localhost/gloox</jid>")
        for d in ("C->S", "S->C"):
            self.assertRegex(out, stanza % (d, re.escape(mark), "message")
                             + r"(  .*\n)*?\s+<body>"
                             + re.escape(xml_text(body)) + "</body>")
        # A stanza shows the compressed bytes that arrived since the one
        # before it (decoders/event.h): stanzas that shared a read show none.
        for conn in (1, 2):
            for d in ("C->S", "S->C"):
                sizes = self.zlib_stanzas(out, conn, d, mark)
                self.assertGreater(len(sizes), 3, (conn, d, out))
                self.assertTrue(any(w for _, _, w in sizes), (conn, d, sizes))
        # The decoder had nothing to complain about.
        self.assertNotRegex(out, r"#\d+ (C->S |S->C )?(error|warning): "
                                 r"(?!xmitm removed)", out)

    @staticmethod
    def zlib_stanzas(out, conn, d, mark):
        """[(name, inflated size, compressed size or 0)] of the zlib-layer
        stream opens, stanzas and whitespace keepalives of one connection
        and direction."""
        r = re.compile(r"^\S+ #%d %s %s (?:(.+?), (\d+) bytes(?: \((\d+) "
                       r"compressed\))?|whitespace keepalive, (\d+) bytes?)$"
                       % (conn, d, re.escape(mark)), re.M)
        return [(m.group(1) or "keepalive", int(m.group(2) or m.group(4)),
                 int(m.group(3) or 0)) for m in r.finditer(out)]

    # ---- a. zlib inside TLS ----

    def test_zlib_over_starttls(self):
        x = self.xmitm()
        alice, bob, body = self.message_exchange(x, tls=True,
                                                 require_compression=True)
        for g in (alice, bob):
            self.assertIn("COMPRESSED", g.lines)
            self.assertTrue(any(l.startswith("TLS ") for l in g.lines))
        out = self.stop_ok(x)
        self.assert_zlib_session(out, "[tls+zlib]", body)
        self.assertRegex(out, r"S->C \[tls\] compressed, \d+ bytes\n  <compressed "
                              r"xmlns='http://jabber.org/protocol/compress'/>")
        self.assertRegex(out, r"C->S \[tls\+zlib\] stream open")
        self.assertNotIn(USERS["alice"], out)

    def test_gloox_verifies_with_the_given_ca(self):
        # The harness itself: gloox_client trusts --ca and nothing else, so
        # the TLS sessions here really were with xmitm's forged leaf.
        x = self.xmitm()
        bad = self.gloox(x.port, "alice", x=x, ca=self.ejabberd.cert)
        self.assertEqual(bad.finish(30), 1, bad.describe())
        self.assertIn("the server's certificate does not verify (status invalid "
                      "signer-unknown, issuer 'O=xmitm,CN=xmitm CA",
                      bad.stderr())
        self.gloox_ok(self.gloox(x.port, "alice", x=x), x)
        self.stop_ok(x)

    # ---- b. zlib without TLS; the bytes on both sides are the same ----

    def test_zlib_plaintext_bytes_untouched(self):
        e = self.ejabberd
        with peers.Tap("127.0.0.1", e.plain_port) as server_tap:
            x = self.xmitm(tls=False, upstream_port=server_tap.port)
            with peers.Tap("127.0.0.1", x.port) as client_tap:
                # The clients connect through the client-side tap.
                body = "zlib in the clear <&> \u2603 " + "again and again, " * 6
                bob = self.gloox(client_tap.port, "bob", tls=False,
                                 require_compression=True, expect_body=body)
                self.assertTrue(bob.wait_line("READY", 20),
                                bob.describe() + "\n" + x.describe())
                alice = self.gloox(client_tap.port, "alice", tls=False,
                                   require_compression=True,
                                   send_to=e.jid("bob"), body=body)
                self.gloox_ok(alice, x)
                self.gloox_ok(bob, x)
                self.assertTrue(client_tap.wait_idle(2, 10), client_tap.conns)
                self.assertTrue(server_tap.wait_idle(2, 10), server_tap.conns)
        out = self.stop_ok(x)
        self.assert_zlib_session(out, "[zlib]", body)
        self.assertNotIn("[tls", out)
        self.assertEqual(len(client_tap.conns), 2)
        self.assertEqual(len(server_tap.conns), 2)
        for c, s in zip(client_tap.conns, server_tap.conns):
            for d in ("c2s", "s2c"):
                a, b = getattr(c, d), getattr(s, d)
                self.assertTrue(a == b, "%s of connection %d differs across "
                                "xmitm: %s" % (d, c.index, _difference(a, b)))
        # Inflate the wire bytes independently: xmitm printed every element
        # of the zlib layer with its exact inflated size, and counted the
        # compressed bytes that carried them.
        for n, c in enumerate(client_tap.conns, 1):
            for d, wire, marker in (
                    ("C->S", c.c2s, b"<method>zlib</method></compress>"),
                    ("S->C", c.s2c, b"<compressed xmlns='http://jabber.org/"
                                    b"protocol/compress'/>")):
                self.assertIn(marker, wire)
                deflated = wire.split(marker, 1)[1]
                z = zlib.decompressobj()
                inflated = z.decompress(deflated) + z.flush()
                self.assertEqual(z.unused_data, b"")
                printed = self.zlib_stanzas(out, n, d, "[zlib]")
                self.assertTrue(inflated.endswith(b"</stream:stream>"),
                                inflated[-100:])
                self.assertEqual(sum(i for _, i, _ in printed),
                                 len(inflated) - len(b"</stream:stream>"),
                                 (n, d, printed, inflated))
                # All but the compressed stream close, which follows the
                # last stanza.
                carried = sum(w for _, _, w in printed)
                self.assertLessEqual(carried, len(deflated), (n, d, printed))
                self.assertGreaterEqual(carried, len(deflated) - 40,
                                        (n, d, printed))
                self.assertNotIn(b"<iq", deflated)

    # ---- c. --no-compression ----

    def test_no_compression(self):
        x = self.xmitm("--no-compression")
        e = self.ejabberd
        body = "uncompressed round trip"
        me = e.jid("carol") + "/nocomp"
        g = self.gloox(x.port, "carol", x=x, compress=True, resource="nocomp",
                       send_to=me, body=body, expect_body=body)
        self.gloox_ok(g, x)
        self.assertNotIn("COMPRESSED", g.lines)
        self.assertIn("RECEIVED from %s: %s" % (me, body), g.lines)
        out = self.stop_ok(x)
        self.assertIn("S->C warning: xmitm removed compression (XEP-0138) from "
                      "these features before passing them on (--no-compression)",
                      out)
        self.assertNotIn("XEP-0138: both directions", out)
        self.assertNotIn("zlib]", out)
        self.assertNotRegex(out, r"C->S \[tls\] compress,")
        self.assertRegex(out, r"S->C \[tls\] message, \d+ bytes\n(  .*\n)*?"
                              r"\s+<body>uncompressed round trip</body>")

    # ---- d. SCRAM-*-PLUS ----

    def slixmpp(self, x, user, **kw):
        return client.run(self.ejabberd.jid(user), USERS[user], "127.0.0.1",
                          x.port, tls=True, ca=x.ca_cert, tls_name="localhost",
                          timeout=15, **kw)

    def test_scram_plus_stripped(self):
        x = self.xmitm()
        self.assertIsNone(self.slixmpp(x, "alice", send_to=self.ejabberd.jid("alice"),
                                       body="after SCRAM", expect_body="after SCRAM"))
        out = self.stop_ok(x)
        # ejabberd offers -PLUS over TLS 1.3 too; the features are printed
        # as the server sent them, then what xmitm took out.
        self.assertRegex(out, r"layer: TLS with the server up .*TLSv1\.3")
        self.assertIn("<mechanism>SCRAM-SHA-512-PLUS</mechanism>", out)
        self.assertIn("S->C warning: " + PLUS_STRIPPED, out)
        self.assertRegex(out, r"C->S \[tls\] auth, \d+ bytes\n  <auth xmlns="
                              r"'urn:ietf:params:xml:ns:xmpp-sasl' "
                              r"mechanism='SCRAM-SHA-512'>")
        self.assertRegex(out, r"S->C \[tls\] success")
        self.assertNotIn(USERS["alice"], out)

    def test_scram_plus_stripped_direct_tls(self):
        e = self.ejabberd
        x = self.xmitm("--upstream-tls", "127.0.0.1:%d" % e.tls_port)
        self.assertIsNone(client.run(e.jid("bob"), USERS["bob"], "127.0.0.1",
                                     x.port, direct_tls=True, ca=x.ca_cert,
                                     tls_name="localhost", timeout=15))
        out = self.stop_ok(x)
        self.assertIn("the client opened with a TLS ClientHello (XEP-0368 "
                      "direct TLS)", out)
        self.assertIn("upstream 127.0.0.1:%d connected" % e.tls_port, out)
        self.assertIn("S->C warning: " + PLUS_STRIPPED, out)
        self.assertRegex(out, r"mechanism='SCRAM-SHA-512'>")
        self.assertRegex(out, r"S->C \[tls\] iq, \d+ bytes\n(  .*\n)*?"
                              r"\s+<jid>bob@localhost/")

    def test_keep_channel_binding_fails(self):
        x = self.xmitm("--keep-channel-binding")
        reason = self.slixmpp(x, "alice")
        self.assertIsNotNone(reason, "a channel-bound login through xmitm "
                             "cannot succeed\n" + x.describe())
        self.assertIn("authentication failed", reason)
        out = self.stop_ok(x)
        self.assertNotIn("xmitm removed", out)
        self.assertRegex(out, r"C->S \[tls\] auth, \d+ bytes\n  <auth xmlns="
                              r"'urn:ietf:params:xml:ns:xmpp-sasl' "
                              r"mechanism='SCRAM-SHA-512-PLUS'>")
        self.assertRegex(out, r"S->C \[tls\] failure, \d+ bytes\n"
                              r"  <failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\n"
                              r"    <not-authorized/>\n"
                              r"    <text xml:lang='en'>Invalid channel binding</text>\n"
                              r"  </failure>")
        self.assertNotRegex(out, r"S->C \[tls\] success")

    # ---- e. DIGEST-MD5 ----

    def test_digest_md5(self):
        x = self.xmitm()
        g = self.gloox(x.port, "bob", x=x, mech="DIGEST-MD5")
        self.gloox_ok(g, x)
        self.assertIn("AUTH DIGEST-MD5", g.lines)
        self.assertIsNone(self.slixmpp(x, "carol", mech="DIGEST-MD5"))
        out = self.stop_ok(x)
        auths = re.findall(r"C->S \[tls\] auth, \d+ bytes\n  (<auth [^\n]*)", out)
        self.assertEqual(auths, ["<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                                 "mechanism='DIGEST-MD5'/>"] * 2, out)
        self.assertEqual(len(re.findall(r"S->C \[tls\] challenge", out)), 4, out)
        self.assertEqual(len(re.findall(r"S->C \[tls\] success", out)), 2, out)
        # The client's digest response is hidden like any SASL payload.
        self.assertRegex(out, r"C->S \[tls\] response, \d+ bytes\n  <response "
                              r"xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\[secret: "
                              r"\d+ bytes hidden")
        for pw in USERS.values():
            self.assertNotIn(pw, out)
            self.assertNotIn(pw, x.errors())


def _difference(a, b):
    n = min(len(a), len(b))
    i = next((k for k in range(n) if a[k] != b[k]), n)
    return ("lengths %d vs %d, first difference at offset %d: %r / %r"
            % (len(a), len(b), i, a[max(0, i - 20):i + 40],
               b[max(0, i - 20):i + 40]))


if __name__ == "__main__":
    peers.run_tests()
