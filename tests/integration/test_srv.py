#!/usr/bin/python3
"""--upstream DOMAIN and replay --server DOMAIN against a real DNS server
(issue 23): xmitm finds the server as a client would, by SRV records.

    client namespace               router                server namespace
    xmitm proxy -u example.test    dnsd.py 10.77.1.1:53  prosody example.test
    slixmpp, replay                                      10.77.2.2: 5222, 5333
                                                         STARTTLS, 5223 direct TLS

The client namespace's resolv.conf (/etc/netns/NAME/resolv.conf, which
`ip netns exec` bind-mounts over /etc/resolv.conf; the test writes and
removes it) names dnsd.py in the router, which answers A for example.test
and xmpp.example.test, the SRV records each test gives, and NXDOMAIN for
everything else; it forwards nothing, so no query leaves the namespaces.
prosody requires STARTTLS with its own certificate for example.test, which
xmitm and replay trust (--upstream-ca); slixmpp (client.py) trusts xmitm's
CA.  Cases: a direct-TLS client through _xmpps-client, a STARTTLS one
through _xmpp-client on another port, priority order past a target that
does not resolve and one that refuses, the "." target (service not
available), no SRV record (the domain on 5222), a direct-TLS client with
no _xmpps-client record, and replay --server example.test (both services
merged for a recording that used TLS; "." exits 2).

Needs root, iproute2, prosody, python3-slixmpp, openssl.
Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_srv.py
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns      # noqa: E402
import peers      # noqa: E402

XMITM = os.environ.get("XMITM")
HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_PY = os.path.join(HERE, "client.py")
DNSD_PY = os.path.join(HERE, "dnsd.py")
PY = "/usr/bin/python3"
T = netns.Topology
DOMAIN = "example.test"
HOST = "xmpp.example.test"
SERVER = T.SERVER4
STARTTLS_PORT, OTHER_PORT, DIRECT_PORT, CLOSED_PORT = 5222, 5333, 5223, 5999
LISTEN = 15222
USERS = {"alice": "alice-pw", "bob": "bob-pw"}
XMPP = "_xmpp-client._tcp." + DOMAIN
XMPPS = "_xmpps-client._tcp." + DOMAIN

# A raw client inside the client namespace: opens a stream (over TLS if
# asked, trusting xmitm's CA) and prints everything until the close.
RAW_CLIENT = r"""
import socket, ssl, sys
port, mode, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=20)
if mode == "tls":
    ctx = ssl.create_default_context(cafile=ca)
    s = ctx.wrap_socket(s, server_hostname="example.test")
if mode == "http":
    s.sendall(b"GET /xmpp-websocket HTTP/1.1\r\nHost: example.test\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n")
else:
    s.sendall(b"<?xml version='1.0'?><stream:stream to='example.test' "
              b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
              b"version='1.0'>")
data = b""
while True:
    try:
        d = s.recv(65536)
    except (ConnectionResetError, ssl.SSLError):
        break
    if not d:
        break
    data += d
sys.stdout.write(data.decode("utf-8", "replace"))
"""


class SrvTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        netns.check_environment()
        cls.tmp = tempfile.mkdtemp(prefix="xmitm-srv-")
        os.chmod(cls.tmp, 0o755)
        cls.topo = netns.Topology()
        cls.resolv_dir = None
        cls.dnsd = None
        cls.prosody = None
        cls.topo.up()
        try:
            cls.resolv_dir = os.path.join("/etc/netns", cls.topo.client.name)
            os.makedirs(cls.resolv_dir, exist_ok=True)
            with open(os.path.join(cls.resolv_dir, "resolv.conf"), "w") as f:
                f.write("nameserver %s\noptions timeout:1 attempts:2\n" % T.ROUTER_C4)
            cls.dns_log = open(os.path.join(cls.tmp, "dns.log"), "w+")
            cls.prosody = peers.Prosody(
                users=USERS, domain=DOMAIN, tls_required=True,
                port=STARTTLS_PORT, extra_ports=(OTHER_PORT,),
                direct_tls_port=DIRECT_PORT, interfaces=(SERVER,),
                netns=cls.topo.server.name)
            cls.prosody.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.dns_stop()
        if cls.prosody is not None:
            cls.prosody.stop()
        if getattr(cls, "dns_log", None) is not None:
            cls.dns_log.close()
        cls.topo.down()
        if cls.resolv_dir:
            shutil.rmtree(cls.resolv_dir, ignore_errors=True)
        if not os.environ.get("XMITM_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- DNS ----

    @classmethod
    def dns_stop(cls):
        if cls.dnsd is not None and cls.dnsd.poll() is None:
            cls.dnsd.terminate()
            cls.dnsd.wait(5)
        cls.dnsd = None

    def dns(self, *srv):
        """dnsd.py with A records for the domain and the SRV host, and the
        SRV records NAME=PRIO:WEIGHT:TARGET:PORT given."""
        self.dns_stop()
        self.dns_log.truncate(0)
        self.dns_log.seek(0)
        args = [PY, DNSD_PY, "--listen", T.ROUTER_C4,
                "--a", "%s=%s" % (DOMAIN, SERVER), "--a", "%s=%s" % (HOST, SERVER)]
        for r in srv:
            args += ["--srv", r]
        type(self).dnsd = self.topo.router.popen(args, stdout=self.dns_log,
                                                stderr=subprocess.STDOUT)
        self.addCleanup(self.dns_stop)
        if not peers.wait_for(lambda: "READY" in self.dns_queries(), 10):
            self.fail("dnsd.py did not start:\n" + self.dns_queries())

    def dns_queries(self):
        with open(self.dns_log.name) as f:
            return f.read()

    # ---- peers ----

    def xmitm(self, *extra):
        x = peers.Xmitm(None, 0, listen_port=LISTEN, netns=self.topo.client.name,
                        extra_args=["--upstream", DOMAIN, "--upstream-ca",
                                    self.prosody.cert] + list(extra))
        x.start()
        self.addCleanup(x.cleanup)
        return x

    def login(self, x, user="alice", direct=False):
        """slixmpp in the client namespace through xmitm: logs in, sends
        itself a message and waits for it."""
        jid = "%s@%s" % (user, DOMAIN)
        r = self.topo.client.run(
            [PY, CLIENT_PY, "--jid", jid, "--password", USERS[user],
             "--host", "127.0.0.1", "--port", str(x.port), "--ca", x.ca_cert,
             "--direct-tls" if direct else "--tls", "--send-to", jid,
             "--body", "via SRV", "--expect-body", "via SRV", "--timeout", "20"],
            check=False, timeout=60)
        if r.returncode != 0:
            self.fail("%s could not log in through xmitm (%d): %s%s\n%s\n%s\nDNS:\n%s"
                      % (jid, r.returncode, r.stdout, r.stderr, x.describe(),
                         self.prosody.log_tail(), self.dns_queries()))
        return r

    def raw(self, x, tls=False, mode=None):
        r = self.topo.client.run([PY, "-c", RAW_CLIENT, str(x.port),
                                  mode or ("tls" if tls else "plain"), x.ca_cert],
                                 check=False, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def wait_output(self, x, text):
        if not peers.wait_for(lambda: text in x.output(), 15):
            self.fail("xmitm did not print %r:\n%s\nDNS:\n%s"
                      % (text, x.output(), self.dns_queries()))

    # ---- the proxy ----

    def test_each_client_takes_its_service(self):
        self.dns("%s=0:0:%s:%d" % (XMPPS, HOST, DIRECT_PORT),
                 "%s=0:0:%s:%d" % (XMPP, HOST, OTHER_PORT))
        x = self.xmitm()
        # XEP-0368: a client that opens with TLS goes to the direct-TLS record
        self.login(x, direct=True)
        self.wait_output(x, "#1 closed:")
        out = x.output()
        self.assertIn("upstream %s connected (%s:%d)" % (DOMAIN, SERVER, DIRECT_PORT), out)
        self.assertIn("via %s SRV -> %s:%d (direct TLS)" % (XMPPS, HOST, DIRECT_PORT), out)
        # verified against the domain, not the SRV target (RFC 6125)
        self.assertIn("verified for '%s'" % DOMAIN, out)
        self.assertIn("<body>via SRV</body>", out)
        # a STARTTLS client to the _xmpp-client record's other port
        self.login(x, user="bob")
        self.wait_output(x, "#2 closed:")
        out = x.output()
        self.assertIn("upstream %s connected (%s:%d)" % (DOMAIN, SERVER, OTHER_PORT), out)
        self.assertIn("via %s SRV -> %s:%d (STARTTLS)" % (XMPP, HOST, OTHER_PORT), out)
        self.assertIn("#2 layer: TLS with the server up", out)
        self.assertIn("listening on 127.0.0.1:%d, relaying to %s (found through its "
                      "SRV records)" % (LISTEN, DOMAIN), x.errors())
        self.assertIn("asked %s type 33" % XMPPS, self.dns_queries())

    def test_priority_order(self):
        # the first target does not resolve, the second refuses, the third works
        self.dns("%s=10:0:nowhere.%s:%d" % (XMPP, DOMAIN, STARTTLS_PORT),
                 "%s=30:0:%s:%d" % (XMPP, HOST, OTHER_PORT),
                 "%s=20:0:%s:%d" % (XMPP, HOST, CLOSED_PORT))
        x = self.xmitm()
        self.login(x)
        self.wait_output(x, "#1 closed:")
        out = x.output()
        line = [l for l in out.splitlines() if "tried first:" in l]
        self.assertEqual(len(line), 1, out)
        first = line[0].index("nowhere.%s:%d (STARTTLS): cannot resolve the name"
                              % (DOMAIN, STARTTLS_PORT))
        second = line[0].index("%s:%d (STARTTLS): Connection refused" % (HOST, CLOSED_PORT))
        self.assertLess(first, second)
        self.assertIn("upstream %s connected (%s:%d)" % (DOMAIN, SERVER, OTHER_PORT), out)
        self.assertIn("via %s SRV -> %s:%d (STARTTLS)" % (XMPP, HOST, OTHER_PORT), out)
        # the target that does not exist was asked of the test's DNS server
        self.assertIn("asked nowhere.%s type 1: NXDOMAIN" % DOMAIN, self.dns_queries())

    def test_no_srv_record_falls_back_to_the_domain(self):
        self.dns()
        x = self.xmitm()
        self.login(x)
        self.wait_output(x, "#1 closed:")
        out = x.output()
        self.assertIn("upstream %s connected (%s:%d)" % (DOMAIN, SERVER, STARTTLS_PORT), out)
        self.assertIn("via A/AAAA %s:5222 (no SRV records)" % DOMAIN, out)
        self.assertIn("asked %s type 33: NXDOMAIN" % XMPP, self.dns_queries())
        # ... but a client that opens with TLS has no fall-back (XEP-0368)
        reply = self.raw(x, tls=True)
        self.assertIn("<remote-connection-failed", reply)
        self.assertIn("has no %s SRV record" % XMPPS, reply)
        self.wait_output(x, "#2 closed:")
        self.assertIn("cannot connect to upstream %s: %s has no %s SRV record"
                      % (DOMAIN, DOMAIN, XMPPS), x.output())

    def test_dot_target_is_not_available(self):
        # RFC 2782: "." means decidedly not available: no fall-back to A
        self.dns("%s=0:0:.:0" % XMPP)
        x = self.xmitm()
        reply = self.raw(x)
        self.assertIn("<remote-connection-failed", reply)
        self.assertIn("%s has the target &quot;.&quot;" % XMPP, reply)
        self.assertTrue(reply.endswith("</stream:stream>"), reply)
        self.wait_output(x, "#1 closed:")
        out = x.output()
        self.assertIn("cannot connect to upstream %s: %s has the target \".\": %s "
                      "offers no XMPP client service" % (DOMAIN, XMPP, DOMAIN), out)
        self.assertNotIn("asked %s type 1" % DOMAIN, self.dns_queries())

    def test_every_target_fails(self):
        self.dns("%s=10:0:nowhere.%s:%d" % (XMPP, DOMAIN, STARTTLS_PORT),
                 "%s=20:0:%s:%d" % (XMPP, HOST, CLOSED_PORT))
        x = self.xmitm()
        reply = self.raw(x)
        self.assertIn("<remote-connection-failed", reply)
        self.wait_output(x, "#1 closed:")
        out = x.output()
        self.assertIn("cannot connect to upstream %s: no target answered: %s SRV -> "
                      "nowhere.%s:%d (STARTTLS): cannot resolve the name"
                      % (DOMAIN, XMPP, DOMAIN, STARTTLS_PORT), out)
        self.assertIn("; %s SRV -> %s:%d (STARTTLS): Connection refused"
                      % (XMPP, HOST, CLOSED_PORT), out)

    def test_web_client_is_told_to_give_host_port(self):
        # SRV names XMPP's TCP service; a WebSocket client gets an HTTP
        # answer saying so, and no DNS query is made for it
        self.dns("%s=0:0:%s:%d" % (XMPP, HOST, OTHER_PORT))
        x = self.xmitm()
        reply = self.raw(x, mode="http")
        # (text mode: the CRLFs read back as newlines)
        self.assertTrue(reply.startswith("HTTP/1.1 502 Bad Gateway\n"), reply)
        self.assertIn("give --upstream HOST:PORT, the server's HTTP port", reply)
        self.wait_output(x, "#1 closed:")
        self.assertIn("cannot connect to upstream %s: a WebSocket or BOSH client"
                      % DOMAIN, x.output())
        self.assertNotIn(" asked ", self.dns_queries())

    # ---- replay ----

    def replay(self, rec, *extra):
        r = self.topo.client.run(
            [XMITM, "replay", rec, "--server", DOMAIN, "--upstream-ca",
             self.prosody.cert, "--password", USERS["alice"]] + list(extra),
            check=False, timeout=120)
        report = peers.sanitizer_report(r.stderr)
        self.assertFalse(report, report)
        return r

    def test_replay(self):
        rec = os.path.join(self.tmp, "session.jsonl")
        self.dns()
        x = self.xmitm("--record", rec)
        self.login(x)
        self.wait_output(x, "#1 closed:")
        x.stop()
        # A recording that used TLS: both services merged by priority, so
        # the direct-TLS record (priority 5) comes first (XEP-0368 §3).
        self.dns("%s=5:0:%s:%d" % (XMPPS, HOST, DIRECT_PORT),
                 "%s=10:0:%s:%d" % (XMPP, HOST, OTHER_PORT))
        r = self.replay(rec)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.prosody.log_tail())
        self.assertIn("connected to %s via %s SRV -> %s:%d (direct TLS)"
                      % (DOMAIN, XMPPS, HOST, DIRECT_PORT), r.stdout)
        # --tls starttls: only the _xmpp-client records
        r = self.replay(rec, "--tls", "starttls")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.prosody.log_tail())
        self.assertIn("connected to %s via %s SRV -> %s:%d (STARTTLS)"
                      % (DOMAIN, XMPP, HOST, OTHER_PORT), r.stdout)
        # "." for both: exit 2, one line saying so
        self.dns("%s=0:0:.:0" % XMPPS, "%s=0:0:.:0" % XMPP)
        r = self.replay(rec)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("cannot connect to %s: %s has the target \".\"" % (DOMAIN, XMPP),
                      r.stderr)


if __name__ == "__main__":
    peers.run_tests()
