#!/usr/bin/python3
"""Server-to-server federation through xmitm's transparent mode (issue 24).

    server a (prosody a.test)      router (xmitm, DNS)        server b (b.test)
    10.77.1.2 :5222 c2s :5269 s2s  REDIRECT tcp/5269 -> xmitm  10.77.2.2 :5269

netns.Topology's "client" namespace holds server a, its "server"
namespace server b (ejabberd, or a second prosody).  A DNS server
(dnsd.py) in the router answers A for a.test and b.test and NXDOMAIN for
the SRV names, so each server connects to the other's DOMAIN:5269
(ejabberd reads no hosts file); each namespace's resolv.conf points at it
(`ip netns exec` bind-mounts /etc/netns/NAME/resolv.conf, which the test
writes and removes).  The router's PREROUTING rule diverts both directions
of federation to xmitm, which runs in --transparent mode and verifies each
server against the test's CA (--upstream-ca); the servers' certificates
come from that CA (DNS names only: ejabberd 23.01 crashes on an XmppAddr).

alice@a.test and bob@b.test log in to their own servers directly (slixmpp,
client.py, inside the namespaces) and send each other a message, which
crosses xmitm on the s2s streams.  The output must show those streams
decoded (jabber:server), named by their domains, the dialback keys hidden;
with both servers trusting xmitm's CA, SASL EXTERNAL on client certificates
xmitm forges; without, the failure explained.  In the clear, tcpdump on the
router's two interfaces shows the same bytes on both legs of every s2s
connection.  HostileS2sTest: scripted peers on loopback (a `from` the
certificate is not for, a dialback flood) and a prosody (an unknown `to`).

Needs root, iproute2, iptables, prosody, ejabberd, openssl.  Nothing
leaves the machine: every address is inside namespaces the test makes and
removes; no DNS query leaves them (dnsd.py forwards nothing).

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_s2s.py
"""

import json
import os
import re
import shutil
import signal
import socket
import struct
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns      # noqa: E402
import peers      # noqa: E402
import test_robustness as rb   # noqa: E402  (the ASan RSS environment)
from ejabberd import Ejabberd   # noqa: E402

XMITM = os.environ.get("XMITM")
HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_PY = os.path.join(HERE, "client.py")
DNSD_PY = os.path.join(HERE, "dnsd.py")
PY = "/usr/bin/python3"
T = netns.Topology
A_ADDR, B_ADDR = T.CLIENT4, T.SERVER4
S2S, C2S, LISTEN = 5269, 5222, 15269
S2S_TLS = 5270   # XEP-0368 direct TLS (xmpps-server)
A_USERS = {"alice": "alice-pw"}
B_USERS = {"bob": "bob-pw"}
REDIRECT = ("iptables -t nat -A PREROUTING -p tcp -m multiport --dports "
            "%d,%d -j REDIRECT --to-ports %d" % (S2S, S2S_TLS, LISTEN))



def wait_for(pred, timeout=10.0):
    return peers.wait_for(pred, timeout)


def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed:\n%s" % (args[0], r.stdout))


def read_text(path):
    with open(path, errors="replace") as f:
        return f.read()


def tcp_flows(pcap_path):
    """{(src, sport, dst, dport): payload bytes in sequence order} of the
    IPv4 TCP packets of an Ethernet pcap (what tcpdump -w writes on a
    veth); a retransmitted segment counts once."""
    with open(pcap_path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise RuntimeError("%s: link type %d, not Ethernet" % (pcap_path, linktype))
    segs = {}
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 34 or pkt[12:14] != b"\x08\x00":
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 0x0f) * 4
        if ip[9] != 6:
            continue
        total = struct.unpack("!H", ip[2:4])[0]
        tcp = ip[ihl:total]
        sport, dport, seq = struct.unpack("!HHI", tcp[:8])
        payload = tcp[(tcp[12] >> 4) * 4:]
        key = (socket.inet_ntoa(ip[12:16]), sport, socket.inet_ntoa(ip[16:20]),
               dport)
        flow = segs.setdefault(key, {})
        if payload:
            flow[seq] = payload
    flows = {}
    for key, by_seq in segs.items():
        out, nxt = b"", None
        for seq in sorted(by_seq):  # (no 2^32 wrap in a short test)
            p = by_seq[seq]
            if nxt is not None and seq < nxt:
                p = p[nxt - seq:]
            out += p
            nxt = seq + len(by_seq[seq]) if nxt is None else max(nxt, seq + len(by_seq[seq]))
        flows[key] = out
    return flows


def legs(flows, clients, port=S2S):
    """[(bytes client->server, bytes server->client)] of the connections to
    port opened from one of the addresses in clients."""
    out = []
    for (src, sport, dst, dport), c2s in flows.items():
        if dport == port and src in clients:
            out.append((c2s, flows.get((dst, dport, src, sport), b"")))
    return out


class TestCA:
    """A CA of the test's own, and a leaf for each domain signed by it
    (DNS names only, server and client use)."""

    def __init__(self, d):
        self.dir = d
        self.cert = os.path.join(d, "test-ca.pem")
        self.key = os.path.join(d, "test-ca.key")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key,
                "-out", self.cert, "-days", "30", "-subj", "/CN=xmitm s2s test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def leaf(self, domain):
        crt = os.path.join(self.dir, domain + ".crt")
        key = os.path.join(self.dir, domain + ".key")
        csr = os.path.join(self.dir, domain + ".csr")
        ext = os.path.join(self.dir, domain + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,"
                    "clientAuth\nbasicConstraints=CA:FALSE\n" % domain)
        openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                "-out", csr, "-subj", "/CN=%s" % domain)
        openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                "-CAcreateserial", "-out", crt, "-days", "30", "-extfile", ext)
        os.chmod(key, 0o644)  # ejabberd reads it as its own user
        return crt, key


class Federation:
    """One test's servers: prosody for a.test in namespace a, `b_kind`
    ('ejabberd' or 'prosody') for b.test in namespace b."""

    def __init__(self, topo, ca, b_kind, trust=None, secure_auth=False,
                 modules=(), plaintext=False, direct_tls=False):
        self.topo, self.ca, self.b_kind = topo, ca, b_kind
        # the CA file both servers trust for peers: by default the test's
        # own (each trusts the other's real certificate), not xmitm's
        self.trust = trust or ca.cert
        self.secure_auth = secure_auth
        self.modules = ["offline", "dialback"] + list(modules)  # prosody's
        # prosody without mod_tls and without s2s_require_encryption:
        # federation in the clear, so the bytes of both legs can be compared
        self.plaintext = plaintext
        self.direct_tls = direct_tls  # prosody's: also XEP-0368 on S2S_TLS
        self.a = self.b = None

    def prosody(self, domain, users, addr, ns, files):
        p = peers.Prosody(
            users=users, domain=domain, port=C2S, s2s_port=S2S,
            interfaces=(addr,), netns=ns.name, modules=self.modules,
            cert_files=files, ca_file=self.trust,
            s2s_secure_auth=self.secure_auth,
            s2s_require_encryption=not self.plaintext,
            s2s_direct_tls_port=S2S_TLS if self.direct_tls else None)
        if self.plaintext:
            p.modules.remove("tls")
        return p

    def start(self):
        a_files = self.ca.leaf("a.test")
        b_files = self.ca.leaf("b.test")
        self.a = self.prosody("a.test", A_USERS, A_ADDR, self.topo.client,
                              a_files)
        self.a.start()
        if self.b_kind == "ejabberd":
            self.b = Ejabberd(users=B_USERS, domain="b.test", roster=False,
                              netns=self.topo.server.name, ip=B_ADDR,
                              s2s_port=S2S, cert_files=b_files,
                              ca_file=self.trust,
                              modules="  mod_s2s_dialback: {}\n")
            self.b.start()
            self.b_c2s = self.b.plain_port
        else:
            self.b = self.prosody("b.test", B_USERS, B_ADDR, self.topo.server,
                                  b_files)
            self.b.start()
            self.b_c2s = C2S
        return self

    def stop(self):
        for srv in (self.a, self.b):
            if srv is not None:
                srv.stop()

    def logs(self):
        out = []
        for srv in (self.a, self.b):
            if srv is not None and srv.dir:
                out.append(srv.log_tail(60))
        return "\n".join(out)


class S2sTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        netns.check_environment()
        for tool in ("prosody", "prosodyctl", "openssl"):
            if shutil.which(tool) is None:
                raise RuntimeError("%s not found: apt-get install prosody "
                                   "openssl" % tool)
        cls.tmp = tempfile.mkdtemp(prefix="xmitm-s2s-")
        os.chmod(cls.tmp, 0o755)
        cls.ca = TestCA(cls.tmp)
        cls.topo = netns.Topology()
        cls.resolv_dirs = []
        cls.dns = None
        cls.topo.up()
        try:
            cls._dns_up()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _dns_up(cls):
        # Each server namespace asks the router's address on its side.
        for ns, server in ((cls.topo.client, T.ROUTER_C4),
                           (cls.topo.server, T.ROUTER_S4)):
            d = os.path.join("/etc/netns", ns.name)
            os.makedirs(d, exist_ok=True)
            cls.resolv_dirs.append(d)
            with open(os.path.join(d, "resolv.conf"), "w") as f:
                f.write("nameserver %s\noptions timeout:1 attempts:2\n" % server)
        cls.dns_log = open(os.path.join(cls.tmp, "dns.log"), "w+")
        cls.dns_start()

    @classmethod
    def dns_start(cls, *extra):
        """(Re)starts dnsd.py with A records for both domains, and extra
        arguments (--srv ...)."""
        cls.dns_stop()
        cls.dns_log.truncate(0)
        cls.dns = cls.topo.router.popen(
            [PY, DNSD_PY, "--listen", T.ROUTER_C4, "--listen", T.ROUTER_S4,
             "--a", "a.test=%s" % A_ADDR, "--a", "b.test=%s" % B_ADDR]
            + list(extra), stdout=cls.dns_log, stderr=subprocess.STDOUT)
        if not wait_for(lambda: "READY" in cls.dns_queries(), 10):
            raise RuntimeError("dnsd.py did not start:\n" + cls.dns_queries())

    @classmethod
    def dns_stop(cls):
        if cls.dns is not None and cls.dns.poll() is None:
            cls.dns.terminate()
            cls.dns.wait(5)
        cls.dns = None

    @classmethod
    def dns_queries(cls):
        """What dnsd.py said: READY, then a line per query."""
        with open(cls.dns_log.name) as f:
            return f.read()

    @classmethod
    def tearDownClass(cls):
        cls.dns_stop()
        if getattr(cls, "dns_log", None) is not None:
            cls.dns_log.close()
        cls.topo.down()
        for d in cls.resolv_dirs:
            shutil.rmtree(d, ignore_errors=True)
        if not os.environ.get("XMITM_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers ----

    def start_xmitm(self, *extra):
        x = peers.Xmitm(None, 0, listen_host="0.0.0.0", listen_port=LISTEN,
                        netns=self.topo.router.name,
                        extra_args=["--transparent", "--upstream-ca",
                                    self.ca.cert] + list(extra))
        x.start()
        self.addCleanup(x.cleanup)
        self.topo.router.apply(REDIRECT)
        self.addCleanup(self.topo.router.run,
                        REDIRECT.replace("-A", "-D").split(), check=False)
        return x

    def federation(self, b_kind, **kw):
        fed = Federation(self.topo, self.ca, b_kind, **kw)
        self.addCleanup(fed.stop)
        fed.start()
        return fed

    def exchange(self, fed, timeout=40):
        """bob and alice log in to their own servers and send each other a
        message; returns (ok, what the clients said)."""
        results = {}

        def run(name, ns, jid, pw, host, port, to, body, expect):
            r = ns.run([PY, CLIENT_PY, "--jid", jid, "--password", pw,
                        "--host", host, "--port", str(port), "--send-to", to,
                        "--body", body, "--expect-body", expect,
                        "--timeout", str(timeout)],
                       check=False, timeout=timeout + 20)
            results[name] = r
        threads = [
            threading.Thread(target=run, args=(
                "bob", self.topo.server, "bob@b.test", B_USERS["bob"], B_ADDR,
                fed.b_c2s, "alice@a.test", "hello alice, from b", "hello bob, from a")),
            threading.Thread(target=run, args=(
                "alice", self.topo.client, "alice@a.test", A_USERS["alice"],
                A_ADDR, C2S, "bob@b.test", "hello bob, from a", "hello alice, from b")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ok = all(r.returncode == 0 for r in results.values())
        said = "\n".join("%s: rc %d\n%s%s" % (n, r.returncode, r.stdout, r.stderr)
                         for n, r in sorted(results.items()))
        return ok, said

    def describe(self, x, fed, said):
        return "%s\n%s\n%s\nDNS:\n%s" % (said, x.describe(), fed.logs(),
                                        self.dns_queries()[-2000:])

    def assert_federated(self, x, fed):
        ok, said = self.exchange(fed)
        self.assertTrue(ok, "the messages did not cross:\n"
                        + self.describe(x, fed, said))
        return x.output()

    def check_s2s_output(self, out):
        # both directions of federation went through xmitm ...
        self.assertRegex(out, r"connected: client 10\.77\.1\.2:\d+, original "
                         r"destination 10\.77\.2\.2:5269 \(NAT redirect\)")
        self.assertRegex(out, r"connected: client 10\.77\.2\.2:\d+, original "
                         r"destination 10\.77\.1\.2:5269 \(NAT redirect\)")
        # ... decoded as jabber:server streams, named by their domains
        self.assertIn("xmlns='jabber:server'", out)
        self.assertRegex(out, r"#\d+ a\.test -> b\.test C->S stream open")
        self.assertRegex(out, r"#\d+ b\.test -> a\.test C->S stream open")
        # the messages themselves, inside TLS
        self.assertIn("hello bob, from a", out)
        self.assertIn("hello alice, from b", out)
        self.assertRegex(out, r"C->S \[tls\] message")

    # ---- tests ----

    def test_prosody_and_ejabberd_federate_through_xmitm(self):
        """Neither server trusts xmitm's CA: they federate by dialback,
        every s2s stanza decoded, the keys hidden."""
        x = self.start_xmitm()
        fed = self.federation("ejabberd")
        out = self.assert_federated(x, fed)
        self.check_s2s_output(out)
        self.assertIn("layer: STARTTLS", out)
        self.assertRegex(out, r"<db:result [^>]*from='a\.test'[^>]*>\[secret: "
                         r"\d+ bytes hidden, --show-secrets shows them\]"
                         r"</db:result>")
        self.assertRegex(out, r"decoded: XEP-0220 db:result \(valid\)")
        self.assertRegex(out, r"decoded: XEP-0220 db:verify \(request\)")
        self.assertNotRegex(out, r"key='")
        # ejabberd offers EXTERNAL on the stream from a.test and refuses
        # xmitm's certificate: said in one sentence, and the fall-back
        self.assertRegex(out, r"#(\d+) S->C error: SASL EXTERNAL "
                         r"failed because b\.test does not trust xmitm's CA, "
                         r"which signed the client certificate xmitm presented "
                         r"for a\.test \(a copy of a\.test's own\): add "
                         r"xmitm's CA \(\S+/ca\.pem\) to b\.test's trusted CAs")
        self.assertRegex(out, r"#\d+ C->S note: a\.test fell back to "
                         r"server dialback \(XEP-0220\) on this stream after "
                         r"SASL EXTERNAL failed")
        self.assertNotIn("wrong username or password", out)
        self.assertIn("did not accept the certificate presented during TLS", out)

    def test_plaintext_federation_same_bytes_on_both_legs(self):
        """Two prosodies federating in the clear (no TLS): tcpdump on the
        router's two interfaces sees, for every s2s connection, the same
        bytes on the initiating server's leg as on xmitm's leg to the
        receiving server, both ways; the recording shows as printed."""
        rec = os.path.join(self.tmp, "plain.jsonl")
        x = self.start_xmitm("--record", rec)
        caps = {}
        for ifname in (T.IF_ROUTER_C, T.IF_ROUTER_S):
            path = os.path.join(self.tmp, "%s.pcap" % ifname)
            err = open(path + ".err", "w+")
            self.addCleanup(err.close)
            proc = self.topo.router.popen(
                ["tcpdump", "-i", ifname, "-U", "-s", "0", "-w", path,
                 "tcp port %d" % S2S], stdout=subprocess.DEVNULL, stderr=err)
            self.addCleanup(lambda p=proc: p.poll() is None and p.kill())
            caps[ifname] = (path, proc)
            self.assertTrue(wait_for(lambda: "listening on" in
                                     read_text(err.name), 10),
                            "tcpdump did not start: " + read_text(err.name))
        fed = self.federation("prosody", plaintext=True)
        out = self.assert_federated(x, fed)
        self.assertNotIn("[tls]", out)
        self.assertRegex(out, r"decoded: XEP-0220 db:result \(valid\)")
        fed.stop()  # the servers close their s2s streams
        self.assertTrue(wait_for(lambda: out.count("connected:") ==
                                 x.output().count("closed:"), 15), x.output())
        time.sleep(0.5)
        flows = {}
        for ifname, (path, proc) in caps.items():
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
            flows[ifname] = tcp_flows(path)
        # a-side interface: a's own connections to b, xmitm's to a;
        # b-side: b's own to a, xmitm's to b
        originals = (legs(flows[T.IF_ROUTER_C], {A_ADDR}) +
                     legs(flows[T.IF_ROUTER_S], {B_ADDR}))
        forwarded = (legs(flows[T.IF_ROUTER_S], {T.ROUTER_S4}) +
                     legs(flows[T.IF_ROUTER_C], {T.ROUTER_C4}))
        self.assertGreaterEqual(len(originals), 2, flows)
        self.assertTrue(all(c and s for c, s in originals), originals)
        self.assertEqual(sorted(originals), sorted(forwarded))
        print("%d s2s connections, %d bytes each way in all, identical on "
              "both legs" % (len(originals), sum(len(c) + len(v) for c, v
                                                in originals)), file=sys.stderr)
        self.assertTrue(any(b"hello bob, from a" in c for c, _ in originals))
        x.stop()
        r = subprocess.run([XMITM, "show", "--color=never", rec],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, x.output())
        # a tcpdump of cleartext s2s reads back: the b-side capture holds
        # xmitm's own connections to b, the same stanzas as recorded
        def stanzas(path):
            shown = subprocess.run([XMITM, "show", "--json", path],
                                   capture_output=True, text=True, timeout=60)
            self.assertEqual(shown.returncode, 0, shown.stderr)
            evs = [json.loads(line) for line in shown.stdout.splitlines()[1:]]
            return sorted((e["dir"], e["xml"]) for e in evs
                          if e["ev"] in ("stanza", "stream-open") and "xml" in e)
        captured = stanzas(caps[T.IF_ROUTER_S][0])
        self.assertTrue(any("hello bob, from a" in xml for _, xml in captured),
                        captured)
        self.assertTrue(set(captured) <= set(stanzas(rec)))
        # exported for Wireshark: its XMPP dissector takes the s2s streams
        # (on port 5222: Wireshark 4.0 registers it there only, not on 5269)
        pcap = os.path.join(self.tmp, "export.pcap")
        r = subprocess.run([XMITM, "export", "--pcap", pcap, rec],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        exported = tcp_flows(pcap)
        self.assertTrue(any(b"hello bob, from a" in v for v in exported.values()))
        if shutil.which("tshark"):
            r = subprocess.run(["tshark", "-r", pcap, "-Y", "xmpp.message"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertGreaterEqual(len(r.stdout.splitlines()), 2, r.stdout)

    def test_two_prosodies_federate_through_xmitm(self):
        x = self.start_xmitm()
        fed = self.federation("prosody")
        out = self.assert_federated(x, fed)
        self.check_s2s_output(out)
        self.assertRegex(out, r"decoded: XEP-0220 db:result \(valid\)")
        self.assertNotRegex(out, r"key='")

    def test_secure_auth_without_trust_explained(self):
        """b.test requires certificates (s2s_secure_auth) and does not
        trust xmitm's CA: federation fails, and the output says why."""
        x = self.start_xmitm()
        fed = self.federation("prosody", secure_auth=True)
        ok, said = self.exchange(fed, timeout=15)
        out = x.output()
        self.assertFalse(ok, "federated without trusting xmitm's CA?\n"
                         + self.describe(x, fed, said))
        # prosody sends <not-authorized/> "Your server's certificate is not
        # trusted" right after TLS, before any authentication
        for frm, to in (("a.test", "b.test"), ("b.test", "a.test")):
            self.assertRegex(out, r"#\d+ S->C error: %s refused the "
                             r"stream because %s does not trust xmitm's CA, "
                             r"which signed the client certificate xmitm "
                             r"presented for %s \(a copy of %s's own\): add "
                             r"xmitm's CA \(\S+\) to %s's trusted CAs"
                             % (to, to, frm, frm, to))

    def test_bidi_and_stream_management_shown(self):
        """prosody 0.12's mod_s2s_bidi (XEP-0288) and mod_smacks (XEP-0198,
        on s2s too) on both servers, authenticating with certificates (a
        stream restart after SASL, so features come again after it): each
        is named on the s2s stream."""
        x = self.start_xmitm()
        fed = self.federation("prosody", modules=["s2s_bidi", "smacks"],
                              trust=self.trust_xmitm(x), secure_auth=True)
        out = self.assert_federated(x, fed)
        self.assertRegex(out, r"S->C note: the receiving server offers "
                         r"XEP-0288 bidirectional s2s")
        self.assertRegex(out, r"C->S note: XEP-0288: the initiating server "
                         r"asks for bidirectional s2s")
        self.assertRegex(out, r"C->S note: XEP-0198 on s2s: the initiating "
                         r"server asks")
        self.assertRegex(out, r"S->C note: XEP-0198 on s2s: stream management "
                         r"is on")

    # ---- certificates (SASL EXTERNAL) through xmitm ----

    def trust_xmitm(self, x):
        """A CA file with the test's CA and xmitm's: what a person
        debugging federation gives both servers."""
        bundle = os.path.join(self.tmp, "trust-%d.pem" % len(os.listdir(self.tmp)))
        with open(bundle, "w") as out:
            for name in (self.ca.cert, x.ca_cert):
                with open(name) as f:
                    out.write(f.read())
        os.chmod(bundle, 0o644)
        return bundle

    def check_external(self, out, initiating, receiving):
        """The stream initiating -> receiving authenticated with SASL
        EXTERNAL, on a certificate xmitm forged like the initiating
        server's."""
        m = re.search(r"#(\d+) %s -> %s C->S (?:\[tls\] )?stream open" % (
            re.escape(initiating), re.escape(receiving)), out)
        self.assertIsNotNone(m, "no stream %s -> %s" % (initiating, receiving))
        conn = m.group(1)
        self.assertRegex(out, r"#%s note: the server asks for a client "
                         r"certificate" % conn)
        self.assertRegex(out, r"#%s note: the client presented a certificate "
                         r"\(subject CN=%s, issuer CN=xmitm s2s test CA\); "
                         r"the server gets one with its names, signed by "
                         r"xmitm's CA" % (conn, re.escape(initiating)))
        self.assertRegex(out, r"#%s C->S \[tls\] auth, .*\n.*mechanism="
                         r"'EXTERNAL'" % conn)
        self.assertRegex(out, r"#%s S->C \[tls\] success, " % conn)

    def test_certificates_through_xmitm_when_both_trust_its_ca(self):
        """Both servers trust xmitm's CA, prosody requires certificates
        (s2s_secure_auth): SASL EXTERNAL works both ways with xmitm's
        default options."""
        x = self.start_xmitm()
        fed = self.federation("ejabberd", trust=self.trust_xmitm(x),
                              secure_auth=True)
        out = self.assert_federated(x, fed)
        self.check_s2s_output(out)
        self.check_external(out, "a.test", "b.test")
        self.check_external(out, "b.test", "a.test")
        self.assertNotIn("db:result", out)
        self.assertNotIn("error:", out)

    def test_direct_tls_with_certificates_through_xmitm(self):
        """XEP-0368: SRV records for _xmpps-server._tcp send both prosodies
        to each other's direct-TLS port; xmitm takes the ClientHello, its
        SNI names the leaf, and the client certificates are forged as with
        STARTTLS (SASL EXTERNAL both ways)."""
        self.dns_start("--srv", "_xmpps-server._tcp.a.test=a.test:%d" % S2S_TLS,
                       "--srv", "_xmpps-server._tcp.b.test=b.test:%d" % S2S_TLS)
        self.addCleanup(self.dns_start)
        x = self.start_xmitm()
        fed = self.federation("prosody", trust=self.trust_xmitm(x),
                              secure_auth=True, direct_tls=True)
        out = self.assert_federated(x, fed)
        for frm, to, addr in (("a.test", "b.test", B_ADDR),
                              ("b.test", "a.test", A_ADDR)):
            self.assertRegex(out, r"original destination %s:%d \(NAT redirect\)"
                             % (re.escape(addr), S2S_TLS))
            # (prosody 0.12 sends SNI on s2s direct TLS, but no ALPN)
            self.assertRegex(out, r"layer: TLS with the server up in [\d.]+ ms: "
                             r"TLSv1\.3, \S+, SNI %s, ALPN none; certificate "
                             r"subject CN=%s" % (re.escape(to), re.escape(to)))
            self.check_external(out, frm, to)
        self.assertIn("the client opened with a TLS ClientHello (XEP-0368", out)
        self.assertNotIn("starttls", out)
        self.assertNotIn("error:", out)

    def test_two_prosodies_with_certificates_through_xmitm(self):
        x = self.start_xmitm()
        fed = self.federation("prosody", trust=self.trust_xmitm(x),
                              secure_auth=True)
        out = self.assert_federated(x, fed)
        self.check_s2s_output(out)
        self.check_external(out, "a.test", "b.test")
        self.check_external(out, "b.test", "a.test")
        self.assertNotIn("error:", out)


# --------------------------------------------------------------------------
# Hostile s2s input, between scripted peers on loopback (xmitm in explicit
# mode in front of them), and one real prosody

NS_STREAMS = "http://etherx.jabber.org/streams"


def s2s_header(frm, to, sid=None):
    return ("<stream:stream xmlns='jabber:server' xmlns:stream='%s' "
            "xmlns:db='jabber:server:dialback' from='%s' to='%s'%s "
            "version='1.0'>" % (NS_STREAMS, frm, to,
                                " id='%s'" % sid if sid else "")).encode()


def read_until(sock, marker, limit=1 << 20):
    """Bytes up to and including marker (one recv at a time, so nothing
    past it is read while the peer waits for an answer)."""
    got = b""
    while marker not in got:
        d = sock.recv(1)
        if not d:
            raise RuntimeError("closed before %r; got %r" % (marker, got[-300:]))
        got += d
        if len(got) > limit:
            raise RuntimeError("no %r in %d bytes" % (marker, limit))
    return got


class ScriptedReceiver:
    """A receiving server on 127.0.0.1: stream header, STARTTLS, TLS asking
    for a client certificate (CERT_OPTIONAL against cafile), the restarted
    header and dialback features, then reads until the peer closes.
    .peer_certs: what each connection's client presented (getpeercert()),
    .received: plaintext bytes read after TLS."""

    def __init__(self, cert, key, cafile):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.verify_mode = ssl.CERT_OPTIONAL
        self.ctx.load_verify_locations(cafile)
        self.lsock = socket.socket()
        self.lsock.bind((peers.LOOPBACK, 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.peer_certs, self.received, self.errors = [], 0, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            try:
                self._session(conn)
            except (OSError, RuntimeError, ssl.SSLError) as e:
                self.errors.append(repr(e))
            finally:
                conn.close()

    def _session(self, conn):
        read_until(conn, b"version='1.0'>")
        conn.sendall(s2s_header("b.test", "a.test", "r1") +
                     b"<stream:features><starttls xmlns='urn:ietf:params:xml:"
                     b"ns:xmpp-tls'/></stream:features>")
        read_until(conn, b"/>")
        conn.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        tls = self.ctx.wrap_socket(conn, server_side=True)
        read_until(tls, b"version='1.0'>")
        self.peer_certs.append(tls.getpeercert())
        tls.sendall(s2s_header("b.test", "a.test", "r2") +
                    b"<stream:features><dialback xmlns='urn:xmpp:features:"
                    b"dialback'/></stream:features>")
        try:
            while True:
                d = tls.recv(65536)
                if not d:
                    break
                self.received += len(d)
        finally:
            tls.close()

    def close(self):
        self.lsock.close()


def initiate(port, frm, to, ca, cert=None, key=None, after_tls=b""):
    """An initiating server through xmitm at 127.0.0.1:port: header,
    STARTTLS, TLS (presenting cert if given, trusting ca), the restarted
    header, then after_tls, then the end of its stream."""
    sock = socket.create_connection((peers.LOOPBACK, port), timeout=30)
    try:
        sock.sendall(s2s_header(frm, to))
        read_until(sock, b"</stream:features>")
        sock.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        read_until(sock, b"/>")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(ca)
        if cert:
            ctx.load_cert_chain(cert, key)
        tls = ctx.wrap_socket(sock, server_hostname=to)
        tls.sendall(s2s_header(frm, to))
        read_until(tls, b"</stream:features>")
        try:
            tls.sendall(after_tls + b"</stream:stream>")
            tls.shutdown(socket.SHUT_WR)
            while tls.recv(65536):
                pass
        finally:
            tls.close()
    finally:
        sock.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for %d" % pid)


class HostileS2sTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        cls.tmp = tempfile.mkdtemp(prefix="xmitm-s2s-hostile-")
        cls.ca = TestCA(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        if not os.environ.get("XMITM_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def xmitm_in_front_of(self, port):
        # an ASan build keeps freed memory in a quarantine that counts in
        # VmRSS: rb.rss_env() cuts it to 1 MiB, as the robustness tests do
        x = peers.Xmitm(peers.LOOPBACK, port, env=rb.rss_env(),
                        extra_args=["--upstream-ca", self.ca.cert])
        x.start()
        self.addCleanup(x.cleanup)
        return x

    def receiver_behind_xmitm(self):
        """A scripted receiving server for b.test, xmitm in front of it,
        trusting xmitm's CA (made when xmitm starts) for client
        certificates."""
        crt, key = self.ca.leaf("b.test")
        r = ScriptedReceiver(crt, key, self.ca.cert)
        self.addCleanup(r.close)
        x = self.xmitm_in_front_of(r.port)
        r.ctx.load_verify_locations(x.ca_cert)
        return r, x

    def test_from_not_in_the_certificate(self):
        """An initiating server says from='a.test' and presents a
        certificate for evil.test: a warning, and the receiving server gets
        a copy for evil.test only, never one for a.test."""
        r, x = self.receiver_behind_xmitm()
        crt, key = self.ca.leaf("evil.test")
        initiate(x.port, "a.test", "b.test", x.ca_cert, crt, key)
        self.assertTrue(wait_for(lambda: "closed:" in x.output(), 10), x.describe())
        out = x.output()
        self.assertRegex(out, r"#1 C->S warning: the client's stream says "
                         r"from='a\.test', but its certificate \(subject "
                         r"CN=evil\.test\) is not for that domain: the server "
                         r"gets a copy with the certificate's names only")
        self.assertEqual(len(r.peer_certs), 1, r.errors)
        names = r.peer_certs[0].get("subjectAltName", ())
        self.assertIn(("DNS", "evil.test"), names)
        self.assertNotIn(("DNS", "a.test"), names)

    def test_dialback_flood(self):
        """20,000 db:result requests on one stream: one warning, every byte
        forwarded, xmitm's memory flat."""
        r, x = self.receiver_behind_xmitm()
        crt, key = self.ca.leaf("a.test")
        one = (b"<db:result from='a.test' to='b.test'>" + b"k" * 64 +
               b"</db:result>")
        initiate(x.port, "a.test", "b.test", x.ca_cert, crt, key, one * 1000)
        self.assertTrue(wait_for(lambda: "#1 closed:" in x.output(), 20))
        before = rss_kib(x.proc.pid)
        flood = one * 20000
        initiate(x.port, "a.test", "b.test", x.ca_cert, crt, key, flood)
        self.assertTrue(wait_for(lambda: "#2 closed:" in x.output(), 60),
                        x.describe())
        after = rss_kib(x.proc.pid)
        print("xmitm RSS %d KiB before the flood, %d KiB after"
              % (before, after), file=sys.stderr)
        out = x.output()
        self.assertEqual(out.count("dialback requests (db:result, db:verify) on "
                                   "this stream: a flood"), 2)
        self.assertRegex(out, r"#2 C->S warning: 100 dialback requests")
        self.assertNotIn("k" * 64, out)
        # all of it reached the receiving server (and its closing tag)
        self.assertEqual(r.received, len(one) * 21000 + 2 * len(b"</stream:stream>"))
        # (shadow memory and redzones: twice as much for an ASan binary)
        self.assertLess(after - before, 4096 * (2 if rb.is_asan_binary(XMITM) else 1),
                        "xmitm grew by %d KiB over a 20,000-request flood"
                        % (after - before))

    def test_unknown_to(self):
        """A stream to a domain the receiving server (a real prosody) does
        not serve: its <host-unknown/> is explained."""
        crt, key = self.ca.leaf("b.test")
        p = peers.Prosody(domain="b.test", s2s_port=peers.free_port(),
                          modules=["dialback"], cert_files=(crt, key),
                          ca_file=self.ca.cert)
        p.start()
        self.addCleanup(p.stop)
        x = self.xmitm_in_front_of(p.s2s_port)
        sock = socket.create_connection((peers.LOOPBACK, x.port), timeout=30)
        try:
            sock.sendall(s2s_header("a.test", "nobody.test"))
            while sock.recv(65536):
                pass
        finally:
            sock.close()
        self.assertTrue(wait_for(lambda: "closed:" in x.output(), 10))
        out = x.output()
        self.assertRegex(out, r"#1 a\.test -> nobody\.test C->S stream open")
        self.assertRegex(out, r"#1 S->C note: host-unknown: the receiving "
                         r"server does not serve the domain in the stream's "
                         r"'to'")


if __name__ == "__main__":
    peers.run_tests()
