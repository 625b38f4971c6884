#!/usr/bin/python3
"""Transparent mode (issue 7) with real peers in network namespaces.

    client (slixmpp) ---- router (xmitm, firewall) ---- server (prosody)
    10.77.1.2 fd77:1::2                                 10.77.2.2 fd77:2::2

prosody listens on 10.77.2.2 and fd77:2::2 port 5222, STARTTLS required,
with a certificate for `localhost`.  The clients connect to 10.77.2.2:5222
(or [fd77:2::2]:5222) as if nothing were in between, with `localhost` as
their stream `to` and TLS name, trusting xmitm's CA; the firewall rules of
docs/transparent.md, run verbatim (tests/integration/netns.py reads them
from the document), divert them to xmitm, which verifies prosody with
--upstream-ca for `localhost`.  Each test checks that the document's undo
block leaves the firewall and routing as they were.

test_00_* need no xmitm: the namespaces and plain routing, and every rule
block with netns.py's reference relay (the rules deliver what the document
says, whatever xmitm does).

Needs root, iproute2, iptables, nftables, prosody, setpriv (util-linux) or
capsh (libcap2-bin).  Everything happens inside namespaces named
xmt-*-PID that the test creates and deletes; nothing leaves the machine.

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_transparent.py
Exit status 0 all passed, 1 a failure (a missing tool fails, never skips).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns   # noqa: E402
import peers   # noqa: E402

XMITM = os.environ.get("XMITM")
HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_PY = os.path.join(HERE, "client.py")
NETNS_PY = os.path.join(HERE, "netns.py")
PY = "/usr/bin/python3"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
T = netns.Topology
PORT = 5222          # what the clients connect to (as in the document)
LISTEN = 15222       # xmitm's port (as in the document)
NOBODY = 65534
USERS = {"alice": "alice-pw", "bob": "bob-pw"}
# The document's words that stand for this test's names.
GATEWAY = {"eth1": T.IF_ROUTER_C}
OWNER = {"--uid-owner xmitm": "--uid-owner nobody",
         "skuid != xmitm": "skuid != nobody"}



def wait_for(pred, timeout=10.0):
    return peers.wait_for(pred, timeout)


def hostport(host, port):
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def re_addr(host):
    """Regex for host:port as xmitm prints it (any port)."""
    return re.escape(hostport(host, 0))[:-1] + r"\d+"


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def unprivileged():
    """argv prefix that runs a command as nobody, without capabilities."""
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
                "--clear-groups", "--inh-caps=-all"]
    if shutil.which("capsh"):
        return ["capsh", "--drop=cap_net_admin", "--"]  # then -c 'exec ...'
    raise RuntimeError("neither setpriv (util-linux) nor capsh "
                       "(libcap2-bin) found: apt-get install util-linux")


# Where each scenario runs: (role of the namespace holding the rules and
# the proxy, rule blocks, undo blocks, listen address, proxy options,
# address family the client uses, what xmitm says, whom prosody sees).
ROUTING = ["tproxy-routing"]
ROUTING_UNDO = ["tproxy-routing-undo"]
SCENARIOS = {
    "nat-gateway-iptables-v4": (
        "router", ["nat-gateway-iptables"], ["nat-gateway-iptables-undo"],
        "0.0.0.0", ["--transparent"], 4, "NAT redirect", T.ROUTER_S4),
    "nat-gateway-nft-v6": (
        "router", ["nat-gateway-nft"], ["nft-undo"],
        "::", ["--transparent"], 6, "NAT redirect", T.ROUTER_S6),
    "tproxy-gateway-iptables-v4": (
        "router", ROUTING + ["tproxy-gateway-iptables"],
        ["tproxy-gateway-iptables-undo"] + ROUTING_UNDO,
        "0.0.0.0", ["--tproxy"], 4, "TPROXY", T.ROUTER_S4),
    "tproxy-gateway-nft-v6": (
        "router", ROUTING + ["tproxy-gateway-nft"], ["nft-undo"] + ROUTING_UNDO,
        "::", ["--tproxy"], 6, "TPROXY", T.ROUTER_S6),
    "keep-source-iptables-v4": (
        "router", ROUTING + ["tproxy-gateway-iptables", "keep-source-iptables"],
        ["keep-source-iptables-undo", "tproxy-gateway-iptables-undo"]
        + ROUTING_UNDO,
        "0.0.0.0", ["--tproxy", "--keep-source"], 4, "TPROXY", T.CLIENT4),
    "keep-source-nft-v6": (
        "router", ROUTING + ["tproxy-gateway-nft", "keep-source-nft"],
        ["nft-undo"] + ROUTING_UNDO,
        "::", ["--tproxy", "--keep-source"], 6, "TPROXY", T.CLIENT6),
    "nat-local-iptables-mark-v4": (
        "client", ["nat-local-iptables-mark"], ["nat-local-iptables-mark-undo"],
        "127.0.0.1", ["--transparent", "--mark", "7"], 4, "NAT redirect",
        T.CLIENT4),
    "nat-local-nft-mark-v6": (
        "client", ["nat-local-nft-mark"], ["nft-undo"],
        "::1", ["--transparent", "--mark", "7"], 6, "NAT redirect", T.CLIENT6),
    "nat-local-iptables-owner-v6": (
        "client", ["nat-local-iptables-owner"],
        ["nat-local-iptables-owner-undo"],
        "::1", ["--transparent"], 6, "NAT redirect", T.CLIENT6),
    "nat-local-nft-owner-v4": (
        "client", ["nat-local-nft-owner"], ["nft-undo"],
        "127.0.0.1", ["--transparent"], 4, "NAT redirect", T.CLIENT4),
    "tproxy-local-iptables-v4": (
        "client", ROUTING + ["tproxy-local-iptables"],
        ["tproxy-local-iptables-undo"] + ROUTING_UNDO,
        "127.0.0.1", ["--tproxy", "--mark", "7"], 4, "TPROXY", T.CLIENT4),
    "tproxy-local-nft-v6": (
        "client", ROUTING + ["tproxy-local-nft"], ["nft-undo"] + ROUTING_UNDO,
        "::1", ["--tproxy", "--mark", "7"], 6, "TPROXY", T.CLIENT6),
}


class TransparentTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        netns.check_environment()
        unprivileged()
        for tool in ("prosody", "prosodyctl", "openssl"):
            if shutil.which(tool) is None:
                raise RuntimeError("%s not found: apt-get install prosody "
                                   "openssl" % tool)
        cls.topo = netns.Topology()
        cls.topo.up()
        try:
            cls.prosody = peers.Prosody(
                users=USERS, tls_required=True, port=PORT,
                interfaces=(T.SERVER4, T.SERVER6), netns=cls.topo.server.name)
            cls.prosody.start()
            # prosody's certificate where an unprivileged xmitm can read it
            cls.tmp = tempfile.mkdtemp(prefix="xmitm-transparent-")
            os.chmod(cls.tmp, 0o755)
            cls.cert = os.path.join(cls.tmp, "prosody.crt")
            shutil.copyfile(cls.prosody.cert, cls.cert)
            os.chmod(cls.cert, 0o644)
            # and xmitm and netns.py where nobody can run them (the
            # checkout may be in a directory only root can enter)
            cls.xmitm_copy = os.path.join(cls.tmp, "xmitm")
            shutil.copy(XMITM, cls.xmitm_copy)
            cls.netns_copy = os.path.join(cls.tmp, "netns.py")
            shutil.copy(NETNS_PY, cls.netns_copy)
            for f in (cls.xmitm_copy, cls.netns_copy):
                os.chmod(f, 0o755)
            cls.baseline = {ns.name: netns.firewall_state(ns)
                            for ns in cls.topo.all}
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "prosody", None) is not None:
            cls.prosody.stop()
        if getattr(cls, "tmp", None):
            shutil.rmtree(cls.tmp, ignore_errors=True)
        cls.topo.down()

    # ---- helpers ----

    def ns(self, role):
        return getattr(self.topo, role)

    def server_addr(self, family):
        return T.SERVER4 if family == 4 else T.SERVER6

    def rules(self, role, blocks, subs=None):
        """Apply the document's blocks in the namespace; on the way out
        (whatever happened) the namespace's firewall is emptied."""
        ns = self.ns(role)
        self.addCleanup(netns.reset_firewall, ns)
        for b in blocks:
            ns.apply(netns.doc_rules(b, subs))

    def undo(self, role, blocks, subs=None):
        """Apply the document's undo blocks: everything is as before."""
        ns = self.ns(role)
        for b in blocks:
            ns.apply(netns.doc_rules(b, subs))
        self.assertEqual(netns.firewall_state(ns), self.baseline[ns.name],
                         "the undo blocks %s leave rules behind" % blocks)

    def xmitm(self, role, listen_host, *args, unprivileged_user=False):
        wrapper = []
        if unprivileged_user:
            wrapper = unprivileged()
            if wrapper[0] == "capsh":
                raise RuntimeError("this test runs xmitm as another user: "
                                   "install setpriv (util-linux)")
        x = peers.Xmitm(None, None, listen_host=listen_host,
                        binary=self.xmitm_copy if unprivileged_user else None,
                        listen_port=LISTEN, netns=self.ns(role).name,
                        wrapper=wrapper,
                        extra_args=list(args) + ["--upstream-ca", self.cert])
        if unprivileged_user:
            os.chown(x.dir, NOBODY, NOBODY)
        self.addCleanup(x.cleanup)
        x.start()
        return x

    def stop_ok(self, x):
        rc = x.stop()
        self.assertEqual(rc, 0, "xmitm exited %r\n%s" % (rc, x.describe()))
        return ANSI.sub("", x.output())

    def client(self, user, host, ca, **kw):
        """client.py for user inside the client namespace (Popen)."""
        argv = [PY, CLIENT_PY, "--jid", "%s@localhost" % user,
                "--password", USERS[user], "--host", host,
                "--port", str(PORT), "--tls", "--ca", ca,
                "--tls-name", "localhost", "--timeout", str(kw.pop("timeout",
                                                                  15))]
        for k, v in kw.items():
            argv += ["--" + k.replace("_", "-"), v]
        p = self.topo.client.popen(argv, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    def exchange(self, host, ca, describe=lambda: ""):
        """bob logs in and waits; alice sends him a message over
        host:5222.  Returns the peers prosody saw while bob was on."""
        body = "through the firewall to %s <&> \u2603" % host
        bob = self.client("bob", host, ca, expect_body=body)
        lines = peers.LineReader(bob.stdout)
        if not lines.wait_for("READY", 20):
            bob.kill()
            self.fail("bob's session did not come up: %s\n%s\n%s"
                      % (lines.text(), bob.stderr.read(), describe()))
        seen = [peer for _, peer in self.topo.server.established(PORT)]
        alice = self.client("alice", host, ca, send_to="bob@localhost",
                            body=body)
        a_out, a_err = alice.communicate(timeout=30)
        try:
            bob.wait(30)
        except subprocess.TimeoutExpired:
            bob.kill()
            bob.wait()
        b_err = bob.stderr.read()
        lines.text()
        bob.stdout.close()
        bob.stderr.close()
        self.assertEqual(alice.returncode, 0,
                         "alice: %s%s\n%s" % (a_out, a_err, describe()))
        self.assertEqual(bob.returncode, 0,
                         "bob: %s%s\n%s" % (lines.text(), b_err, describe()))
        self.assertIn("RECEIVED from alice@localhost", lines.text())
        return [h for h, _ in seen], body

    def raw_connect(self, host, port, data=b"", timeout=8.0):
        """From the client namespace: connect, send data, read until the
        connection ends.  Returns (seconds until it was closed, by EOF or a
        reset; None if it was not: timeout, refused), and what came back
        or the error."""
        code = ("import socket, sys, time\n"
                "t = time.monotonic()\n"
                "got = b''\n"
                "try:\n"
                "    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=%r)\n"
                "    s.sendall(sys.argv[3].encode())\n"
                "    while True:\n"
                "        d = s.recv(65536)\n"
                "        if not d: break\n"
                "        got += d\n"
                "    print('CLOSED %%.3f EOF after %%r' %% (time.monotonic() - t, got))\n"
                "except ConnectionResetError as e:\n"
                "    print('CLOSED %%.3f reset after %%r' %% (time.monotonic() - t, got))\n"
                "except OSError as e:\n"
                "    print('ERR %%.3f %%s after %%r' %% (time.monotonic() - t, e, got))\n"
                % timeout)
        r = self.topo.client.run([PY, "-c", code, host, str(port),
                                  data.decode()], timeout=timeout + 10)
        kind, secs, rest = r.stdout.strip().split(" ", 2)
        return (float(secs) if kind == "CLOSED" else None), rest

    def run_scenario(self, name, exchange=True, extra=(), check=None):
        role, blocks, undo, listen, args, family, how, seen_as = \
            SCENARIOS[name]
        args = list(args) + list(extra)
        subs = dict(GATEWAY)
        unpriv = "owner" in name
        if unpriv:
            subs.update(OWNER)
        self.rules(role, blocks, subs)
        x = self.xmitm(role, listen, *args, unprivileged_user=unpriv)
        if check:
            check(x)
        dst = self.server_addr(family)
        if exchange:
            seen, body = self.exchange(dst, x.ca_cert, x.describe)
        else:
            seen, body = None, None
            p = self.client("alice", dst, x.ca_cert)
            out, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, "alice: %s%s\n%s"
                             % (out, err, x.describe()))
        self.undo(role, undo, subs)
        out = self.stop_ok(x)
        client_addr = T.CLIENT4 if family == 4 else T.CLIENT6
        self.assertRegex(out, r"#\d+ connected: client %s, original destination "
                              r"%s \(%s\)" % (re_addr(client_addr),
                                              re.escape(hostport(dst, PORT)),
                                              re.escape(how)))
        self.assertRegex(out, r"layer: TLS with the server up in [\d.]+ ms: .*"
                              r"verified for 'localhost'")
        self.assertRegex(out, r"C->S \[tls\] auth, \d+ bytes")
        if exchange:
            self.assertRegex(out, r"C->S \[tls\] message")
            self.assertRegex(out, r"S->C \[tls\] message")
            self.assertIn(body.replace("&", "&amp;").replace("<", "&lt;")
                          .replace(">", "&gt;"), out)
            self.assertIn(seen_as, seen,
                          "prosody saw the connection from %s, not %s"
                          % (seen, seen_as))
        self.assertNotIn("error:", out)
        return out

    # ---- the harness alone (no xmitm): pass whatever xmitm does ----

    def test_00_plain_routing(self):
        """Namespaces up, prosody in server reachable from client through
        router, v4 and v6, with no rules at all."""
        for fam, client_addr in ((4, T.CLIENT4), (6, T.CLIENT6)):
            with self.subTest(family=fam):
                seen, _ = self.exchange(self.server_addr(fam), self.cert)
                self.assertEqual(seen, [client_addr])
        for ns in self.topo.all:
            self.assertEqual(netns.firewall_state(ns), self.baseline[ns.name])

    def test_00_rules_with_reference_relay(self):
        """Every scenario's rule blocks, with netns.py's reference relay
        in place of xmitm: the document's rules deliver the connection with
        the original destination, and its undo blocks undo them."""
        header = ("<?xml version='1.0'?><stream:stream to='localhost' "
                  "xmlns='jabber:client' xmlns:stream='http://etherx.jabber."
                  "org/streams' version='1.0'></stream:stream>")
        for name, (role, blocks, undo, listen, args, family, how,
                   seen_as) in SCENARIOS.items():
            with self.subTest(scenario=name):
                subs = dict(GATEWAY)
                wrapper, relay_py = [], NETNS_PY
                if "owner" in name:
                    subs.update(OWNER)
                    wrapper, relay_py = unprivileged(), self.netns_copy
                ns = self.ns(role)
                self.addCleanup(netns.reset_firewall, ns)
                for b in blocks:
                    ns.apply(netns.doc_rules(b, subs))
                rargs = [a for a in args if a != "--transparent"]
                relay = ns.popen(wrapper + [PY, relay_py, "relay", "--listen",
                                            hostport(listen, LISTEN)] + rargs,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
                try:
                    self.assertTrue(wait_for(lambda: ns.listening(LISTEN), 10),
                                    "the relay did not start")
                    dst = self.server_addr(family)
                    secs, got = self.raw_connect(dst, PORT, header.encode())
                finally:
                    relay.terminate()
                    rout = relay.communicate(timeout=10)[0]
                self.assertIn("from='localhost'", got, rout)
                client_addr = T.CLIENT4 if family == 4 else T.CLIENT6
                self.assertRegex(
                    rout, r"#1 connected: client %s, original destination "
                          r"%s \(%s\)" % (re_addr(client_addr),
                                         re.escape(hostport(dst, PORT)),
                                         re.escape(how)))
                self.assertRegex(rout, r"#1 upstream \S+ from %s"
                                 % re_addr(seen_as))
                self.assertNotIn("#2", rout)
                for b in undo:
                    ns.apply(netns.doc_rules(b, subs))
                self.assertEqual(netns.firewall_state(ns),
                                 self.baseline[ns.name])

    # ---- xmitm ----

    def test_nat_redirect_iptables_v4(self):
        self.run_scenario("nat-gateway-iptables-v4")

    def test_nat_redirect_nft_v6(self):
        self.run_scenario("nat-gateway-nft-v6")

    def test_tproxy_iptables_v4(self):
        self.run_scenario("tproxy-gateway-iptables-v4")

    def test_tproxy_nft_v6(self):
        self.run_scenario("tproxy-gateway-nft-v6")

    def test_tproxy_keep_source_iptables_v4(self):
        self.run_scenario("keep-source-iptables-v4")

    def test_tproxy_keep_source_nft_v6(self):
        self.run_scenario("keep-source-nft-v6")

    def test_tproxy_keep_source_as_nobody(self):
        """Started as root with --user nobody: TPROXY with --keep-source
        works as nobody with CAP_NET_ADMIN alone (each upstream socket
        needs IP_TRANSPARENT and a bind to the client's address)."""
        def dropped(x):
            deadline = time.monotonic() + 5
            while ("running as user" not in x.errors()
                   and time.monotonic() < deadline):
                time.sleep(0.05)
            with open("/proc/%d/status" % x.proc.pid) as f:
                st = dict(l.split(":", 1) for l in f)
            self.assertEqual(st["Uid"].split(), [str(NOBODY)] * 4)
            for field in ("CapEff", "CapPrm", "CapBnd"):
                self.assertEqual(int(st[field], 16), 1 << 12, (field, st))
            self.assertIn("capabilities kept: CAP_NET_ADMIN", x.errors())
        self.run_scenario("keep-source-iptables-v4", extra=["--user", "nobody"],
                          check=dropped)

    def test_local_nat_mark_iptables_v4(self):
        self.run_scenario("nat-local-iptables-mark-v4")

    def test_local_nat_mark_nft_v6(self):
        self.run_scenario("nat-local-nft-mark-v6", exchange=False)

    def test_local_tproxy_iptables_v4(self):
        self.run_scenario("tproxy-local-iptables-v4", exchange=False)

    def test_local_loop_then_excluded_by_owner(self):
        """OUTPUT redirect without excluding xmitm, xmitm without --mark:
        its upstream connection comes back to it.  A `redirect loop`
        line, the client fails at once, xmitm lives on with no leaked
        descriptor, and once the rule excludes xmitm's user it serves the
        next connection."""
        subs = dict(OWNER)
        good = netns.doc_rules("nat-local-iptables-owner", subs)
        good_undo = netns.doc_rules("nat-local-iptables-owner-undo", subs)
        exclusion = " -m owner ! --uid-owner nobody"
        self.assertIn(exclusion, good)
        loop, loop_undo = (good.replace(exclusion, ""),
                           good_undo.replace(exclusion, ""))
        ns = self.topo.client
        self.addCleanup(netns.reset_firewall, ns)
        # xmitm as nobody, without --mark, on loopback as documented
        x = self.xmitm("client", "127.0.0.1", "--transparent",
                       unprivileged_user=True)
        base_fds = fd_count(x.proc.pid)
        ns.apply(loop)
        t0 = time.monotonic()
        p = self.client("alice", T.SERVER4, x.ca_cert, timeout=10)
        out, err = p.communicate(timeout=30)
        elapsed = time.monotonic() - t0
        self.assertNotEqual(p.returncode, 0, "the client got through a loop?")
        self.assertLess(elapsed, 6.0, "the client's attempt did not fail "
                        "promptly: %s %s" % (out, err))
        self.assertTrue(wait_for(lambda: "redirect loop" in x.output(), 5),
                        x.describe())
        connections = lambda: len(re.findall(  # noqa: E731
            r"connected: client .*, original destination", x.output()))
        n = connections()
        time.sleep(1)
        self.assertLessEqual(n, 2, x.describe())
        self.assertEqual(connections(), n, "the loop goes on\n" + x.describe())
        self.assertIsNone(x.proc.poll(), "xmitm died\n" + x.describe())
        self.assertTrue(wait_for(lambda: fd_count(x.proc.pid) == base_fds, 5),
                        "xmitm holds %d descriptors, %d before the loop\n%s"
                        % (fd_count(x.proc.pid), base_fds, x.describe()))
        # Now exclude xmitm (by user, as documented): the next works.
        ns.apply(loop_undo)
        ns.apply(good)
        seen, body = self.exchange(T.SERVER4, x.ca_cert, x.describe)
        self.assertEqual(seen, [T.CLIENT4])
        ns.apply(good_undo)
        self.assertEqual(netns.firewall_state(ns), self.baseline[ns.name])
        out = self.stop_ok(x)
        # the looped connection's line (and perhaps one for the client's)
        self.assertIn(len(re.findall(r"error: .*redirect loop", out)), (1, 2),
                      out)
        self.assertIn("<body>%s</body>" % body.replace("&", "&amp;")
                      .replace("<", "&lt;").replace(">", "&gt;"), out)

    def test_not_redirected(self):
        """Straight to xmitm's port, before and with NAT rules loaded (with
        them conntrack has an entry, whose destination is xmitm itself)."""
        x = self.xmitm("router", "0.0.0.0", "--transparent")
        base_fds = fd_count(x.proc.pid)
        hello = ("<?xml version='1.0'?><stream:stream to='localhost' "
                 "xmlns='jabber:client' xmlns:stream='http://etherx.jabber."
                 "org/streams' version='1.0'>").encode()
        secs, got = self.raw_connect(T.ROUTER_C4, LISTEN, hello)
        self.assertIsNotNone(secs, "xmitm did not close it: %s\n%s"
                             % (got, x.describe()))
        self.assertLess(secs, 5)
        self.assertTrue(wait_for(lambda: "not redirected" in x.output(), 5),
                        x.describe())
        self.rules("router", ["nat-gateway-iptables"], GATEWAY)
        secs, got = self.raw_connect(T.ROUTER_C4, LISTEN, hello)
        self.assertIsNotNone(secs, "xmitm did not close it: %s\n%s"
                             % (got, x.describe()))
        self.assertTrue(wait_for(lambda: x.output().count("not redirected")
                                 == 2, 5), x.describe())
        self.undo("router", ["nat-gateway-iptables-undo"], GATEWAY)
        self.assertTrue(wait_for(lambda: fd_count(x.proc.pid) == base_fds, 5),
                        x.describe())
        out = self.stop_ok(x)
        self.assertEqual(len(re.findall(r"error: .*not redirected", out)), 2,
                         out)
        self.assertNotRegex(out, r"upstream \S+ connected")

    def test_not_redirected_tproxy(self):
        """Straight to a --tproxy listener: the accepted socket's address
        is xmitm's own, an error, closed (the contract allows either word
        here: it arrived without a redirect, and its destination is xmitm's
        listener)."""
        x = self.xmitm("router", "0.0.0.0", "--tproxy")
        secs, got = self.raw_connect(T.ROUTER_C4, LISTEN, b"<?xml version='1.0'?>")
        self.assertIsNotNone(secs, "xmitm did not close it: %s\n%s"
                             % (got, x.describe()))
        out = self.stop_ok(x)
        self.assertRegex(out, r"error: .*(not redirected|redirect loop)")

    def test_capability_required(self):
        """--tproxy and --mark without CAP_NET_ADMIN: one line naming it on
        stderr, exit 1.  Plain --transparent needs nothing."""
        prefix = unprivileged()
        data = tempfile.mkdtemp(prefix="xmitm-nocap-")
        self.addCleanup(shutil.rmtree, data, True)
        os.chown(data, NOBODY, NOBODY)
        env = dict(os.environ, XDG_DATA_HOME=data)
        listen = "127.0.0.1:%d" % LISTEN
        for args in (["--tproxy"], ["--transparent", "--mark", "7"],
                     ["--tproxy", "--keep-source"]):
            with self.subTest(args=args):
                cmd = [XMITM, "proxy", "--listen", listen, "--color=never"] \
                    + args
                cmd[0] = self.xmitm_copy
                if prefix[0] == "capsh":
                    cmd = prefix + ["-c", "exec " + " ".join(cmd)]
                else:
                    cmd = prefix + cmd
                r = subprocess.run(self.topo.router.cmd(cmd), env=env,
                                   stdin=subprocess.DEVNULL,
                                   capture_output=True, text=True, timeout=10)
                self.assertEqual(r.returncode, 1, r)
                self.assertIn("CAP_NET_ADMIN", r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1,
                                 r.stderr)
        # the same user without those options starts and stops cleanly
        x = self.xmitm("router", "127.0.0.1", "--transparent",
                       unprivileged_user=True)
        self.assertEqual(x.stop(), 0, x.describe())

    def test_usage_transparent_with_upstream(self):
        r = subprocess.run([XMITM, "proxy", "--transparent", "--upstream",
                            "127.0.0.1:5222", "--listen",
                            "127.0.0.1:%d" % peers.free_port()],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(r.returncode, 2, r)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        # says why, not just "unknown option"
        self.assertIn("--upstream", r.stderr)
        self.assertIn("--transparent", r.stderr)


if __name__ == "__main__":
    peers.run_tests()
