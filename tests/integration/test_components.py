#!/usr/bin/python3
"""XEP-0114 components through xmitm: a real slixmpp ComponentXMPP against a
real prosody's component port.

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_components.py

prosody runs from a throwaway config with `Component "comp.localhost"` and a
component_secret on a component port bound to 127.0.0.1; the component asks
the server disco#info and its version. What the tests hold xmitm to:
  * `xmitm proxy` shows the session decoded: the stream headers, the
    <handshake> with its digest hidden (a digest of the secret) unless
    --show-secrets, and the server's empty <handshake/> as success; the
    digest is not in the recording either;
  * a wrong secret and a wrong domain are each explained in one line
    (prosody answers <not-authorized/> and <host-unknown/>);
  * `xmitm show` of the recording prints what the live proxy printed;
  * `xmitm replay` against a fresh prosody computes the handshake anew from
    --password and the live stream id and exits 0; a wrong secret exits 2
    saying so; without a secret it exits 2 saying what to give;
  * `xmitm replay --serve` plays the recorded server to the component: exit
    0; a component with a wrong secret gets <not-authorized/> and exit 1;
    a recorded component stanza changed in the file exits 1 naming it.
The same component against ejabberd's ejabberd_service listener (which
answers an unknown domain with <not-authorized/> too) is shown, recorded
and replayed. biboumi (Debian's XMPP-IRC gateway) through xmitm answers a
client's disco#info; `--serve` of that recording to a fresh biboumi exits 0.
XEP-0220 dialback between scripted peers: keys hidden, a db:verify on one
connection tied to the connection whose key it checks.
"""

import asyncio
import hashlib
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
from ejabberd import Ejabberd, _yaml_str  # noqa: E402

XMITM = os.environ.get("XMITM")
DOMAIN = "comp.localhost"
SECRET = "comp-s3cret <&>"


class ComponentProsody(peers.Prosody):
    """peers.Prosody with an XEP-0114 component port on 127.0.0.1 (.component_port)
    accepting `domain` with `secret`."""

    def __init__(self, secret=SECRET, domain=DOMAIN, **kw):
        super().__init__(**kw)
        self.secret = secret
        self.component_domain = domain
        self.component_port = None

    def _write_config(self):
        super()._write_config()
        with open(self.config) as f:
            cfg = f.read()
        cfg = cfg.replace("component_ports = {}",
                          "component_ports = { %d }\ncomponent_interfaces = { %s }"
                          % (self.component_port, peers._lua(peers.LOOPBACK)), 1)
        cfg += "\nComponent %s\n    component_secret = %s\n" % (
            peers._lua(self.component_domain), peers._lua(self.secret))
        with open(self.config, "w") as f:
            f.write(cfg)

    def start(self):
        self.component_port = peers.free_port()
        super().start()
        try:
            peers.wait_listening(self.component_port, self.proc,
                                 describe=self.log_tail)
        except BaseException:
            self.stop()
            raise
        return self


class ComponentEjabberd(Ejabberd):
    """ejabberd.Ejabberd with an ejabberd_service listener (XEP-0114) on
    127.0.0.1 (.component_port) accepting `domain` with `secret`."""

    def __init__(self, secret=SECRET, domain=DOMAIN, **kw):
        super().__init__(**kw)
        self.secret = secret
        self.component_domain = domain
        self.component_port = None

    def _write_configs(self):
        super()._write_configs()
        with open(self.config) as f:
            cfg = f.read()
        listener = f"""listen:
  - port: {self.component_port}
    ip: "{peers.LOOPBACK}"
    module: ejabberd_service
    hosts:
      {_yaml_str(self.component_domain)}:
        password: {_yaml_str(self.secret)}
"""
        with open(self.config, "w") as f:
            f.write(cfg.replace("listen:\n", listener, 1))

    def start(self):
        self.component_port = peers.free_port()
        super().start()
        try:
            peers.wait_listening(self.component_port, self.proc,
                                 describe=self.log_tail)
        except BaseException:
            self.stop()
            raise
        return self


async def _component(port, secret, domain, queries, timeout):
    """queries: what to ask the server once connected ("disco", "version")."""
    import slixmpp  # noqa: F401
    from slixmpp.componentxmpp import ComponentXMPP
    comp = ComponentXMPP(domain, secret, peers.LOOPBACK, port)
    comp.register_plugin("xep_0030")
    comp.register_plugin("xep_0092")
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def finish(result):
        if not done.done():
            done.set_result(result)

    async def on_start(_):
        try:
            if "disco" in queries:
                await comp["xep_0030"].get_info(jid="localhost", ifrom=domain,
                                                timeout=timeout)
            if "version" in queries:
                await comp["xep_0092"].get_version("localhost", ifrom=domain,
                                                   timeout=timeout)
            finish(None)
        except Exception as e:  # IqTimeout, IqError
            finish("query failed: %r" % (e,))

    comp.add_event_handler("session_start", on_start)
    comp.add_event_handler("stream_error",
                           lambda e: finish("stream error: %s" % e))
    comp.add_event_handler("disconnected", lambda _: finish("disconnected"))
    comp.connect()
    try:
        result = await asyncio.wait_for(done, timeout)
    except asyncio.TimeoutError:
        result = "timeout"
    comp.disconnect()
    await asyncio.sleep(0.3)
    return result


def component(port, secret=SECRET, domain=DOMAIN, queries=("disco", "version"),
              timeout=15):
    """A slixmpp component session on port: handshake, then (queries)
    disco#info and jabber:iq:version of the server. None on success, else
    why."""
    return asyncio.run(_component(port, secret, domain, queries, timeout))


async def _disco(jid, password, port, target, timeout):
    import client as cl
    xmpp = cl._Client(jid, password, peers.LOOPBACK, port, "localhost")
    xmpp['feature_mechanisms'].unencrypted_plain = True
    xmpp.register_plugin("xep_0030")
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def finish(result):
        if not done.done():
            done.set_result(result)

    async def on_start(_):
        try:
            info = await xmpp["xep_0030"].get_info(jid=target, timeout=timeout)
            finish(sorted(info["disco_info"]["identities"]))
        except Exception as e:  # IqTimeout, IqError
            finish("disco#info of %s failed: %r" % (target, e))

    xmpp.add_event_handler("session_start", on_start)
    xmpp.add_event_handler("failed_auth", lambda _: finish("login failed"))
    xmpp.add_event_handler("disconnected", lambda _: finish("disconnected"))
    xmpp.connect((peers.LOOPBACK, port), use_ssl=False, force_starttls=False,
                 disable_starttls=True)
    xmpp.default_domain = "localhost"
    try:
        result = await asyncio.wait_for(done, timeout)
    except asyncio.TimeoutError:
        result = "timeout"
    xmpp.disconnect()
    await asyncio.sleep(0.3)
    return result


def disco(jid, password, port, target, timeout=15):
    """A slixmpp client logs in on port and asks target disco#info: its
    identities (sorted), or why not (a string)."""
    return asyncio.run(_disco(jid, password, port, target, timeout))


class Biboumi:
    """Debian's biboumi (an XMPP-IRC gateway, a real XEP-0114 component)
    from a throwaway config, connecting to 127.0.0.1:port as `domain`."""

    def __init__(self, port, domain="biboumi.localhost", secret=SECRET):
        if shutil.which("biboumi") is None:
            raise RuntimeError("biboumi not found: apt-get install biboumi")
        self.dir = tempfile.mkdtemp(prefix="xmitm-biboumi-")
        self.config = os.path.join(self.dir, "biboumi.cfg")
        with open(self.config, "w") as f:
            f.write("hostname=%s\npassword=%s\nxmpp_server_ip=%s\nport=%d\n"
                    "identd_port=0\nlog_level=0\ndb_name=%s\npolicy_directory=%s\n"
                    % (domain, secret, peers.LOOPBACK, port,
                       os.path.join(self.dir, "biboumi.sqlite"), self.dir))
        self.log = os.path.join(self.dir, "biboumi.log")
        self._out = open(self.log, "w")
        self.proc = subprocess.Popen(["biboumi", self.config], stdout=self._out,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def wait_authenticated(self, timeout=15):
        """True once biboumi says the server accepted its handshake."""
        return self.wait_log("Authenticated with the XMPP server", timeout)

    def wait_log(self, pattern, timeout=15):
        """True once biboumi's log (debug level) matches the regex."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log, errors="replace") as f:
                if re.search(pattern, f.read()):
                    return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        with open(self.log, errors="replace") as f:
            text = f.read()
        if not os.environ.get("XMITM_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        return text


def run_xmitm(*args, timeout=60):
    """Runs xmitm to its end; a sanitizer report on its stderr (the ASan
    build) fails the test."""
    r = subprocess.run([XMITM] + list(args), capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    report = peers.sanitizer_report(r.stderr)
    if report:
        raise AssertionError("xmitm %s: sanitizer report:\n%s" % (args[0], report))
    return r


class ComponentsTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        cls.dir = tempfile.mkdtemp(prefix="xmitm-comp-")
        cls.rec = os.path.join(cls.dir, "component.jsonl")
        cls.prosody = ComponentProsody()
        cls.prosody.start()
        # The recorded session every replay test uses.
        x = peers.Xmitm(peers.LOOPBACK, cls.prosody.component_port,
                        extra_args=["--record", cls.rec])
        x.start()
        try:
            cls.session_result = component(x.port)
        finally:
            cls.rc = x.stop()
            cls.live = x.output()
            problem = x.describe() if cls.rc != 0 else None
            x.cleanup()
        if problem:
            raise RuntimeError("xmitm exited %r\n%s" % (cls.rc, problem))

    @classmethod
    def tearDownClass(cls):
        cls.prosody.stop()
        if not os.environ.get("XMITM_KEEP_TMP"):
            shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="xmitm-comp-t-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def xmitm(self, *extra, port=None):
        x = peers.Xmitm(peers.LOOPBACK, port or self.prosody.component_port,
                        extra_args=list(extra))
        x.start()
        self.addCleanup(x.cleanup)
        return x

    def digests(self, text, secret=SECRET):
        """The handshake digests of the server stream ids in text."""
        ids = re.findall(r"S->C stream open.*\n.*\bid='([^']*)'", text)
        self.assertTrue(ids, text)
        return [hashlib.sha1((i + secret).encode()).hexdigest() for i in ids]

    # ---- through the proxy ----

    def test_session_shown_with_the_handshake_redacted(self):
        self.assertIsNone(self.session_result, self.live)
        out = self.live
        self.assertRegex(out, r"#1 C->S stream open, \d+ bytes\n  <stream:stream "
                         r"xmlns='jabber:component:accept' .*to='comp.localhost'>")
        self.assertIn("<handshake>[secret: 40 bytes hidden, --show-secrets shows "
                      "them]</handshake>\n  decoded: XEP-0114 handshake: "
                      "component='comp.localhost' digest=<redacted, 40 bytes>\n", out)
        self.assertIn("S->C handshake, 12 bytes\n  <handshake/>\n  decoded: XEP-0114 "
                      "handshake (success) [note: the server accepted the handshake: "
                      "comp.localhost is connected]\n", out)
        self.assertIn("<query xmlns='jabber:iq:version'>", out)
        self.assertIn("closed: both sides closed", out)
        digest = self.digests(out)[0]
        self.assertNotIn(digest, out)
        with open(self.rec) as f:
            recorded = f.read()
        self.assertNotIn(digest, recorded)
        self.assertIn('"protocol":"XEP-0114"', recorded)

    def test_show_secrets_shows_the_handshake(self):
        x = self.xmitm("--show-secrets")
        self.assertIsNone(component(x.port, queries=()))
        self.assertEqual(x.stop(), 0, x.describe())
        out = x.output()
        digest = self.digests(out)[0]
        self.assertIn("<handshake>%s</handshake>" % digest, out)
        self.assertIn("digest='%s'" % digest, out)

    def test_wrong_secret_and_wrong_domain_explained(self):
        x = self.xmitm()
        why = component(x.port, secret="not the secret", queries=())
        self.assertIn("not-authorized", why or "")
        why = component(x.port, domain="other.localhost", queries=())
        self.assertIn("host-unknown", why or "")
        self.assertEqual(x.stop(), 0, x.describe())
        out = x.output()
        self.assertIn("#1 S->C stream:error", out)
        self.assertIn("  decoded: XEP-0114 stream:error (failure) [note: "
                      "not-authorized: the server rejected the handshake for "
                      "comp.localhost: wrong secret (the component's secret is not "
                      "the one the server has for this domain; ejabberd also says "
                      "this for a domain it has no component for) (XEP-0114 §3)]\n",
                      out)
        self.assertIn("  decoded: XEP-0114 stream:error (failure) [note: host-unknown: "
                      "the server has no component other.localhost: wrong domain (the "
                      "stream's to= must be a component domain the server is "
                      "configured with) (XEP-0114 §3)]\n", out)
        # Exactly one explanation per failed connection.
        self.assertEqual(out.count("decoded: XEP-0114 stream:error"), 2, out)

    def test_show_prints_what_the_proxy_printed(self):
        r = run_xmitm("show", "--color=never", self.rec)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertEqual(r.stdout, self.live)
        r = run_xmitm("show", "--color=never", "--kind", "stream", self.rec)
        self.assertEqual(r.returncode, 0, r.stderr)

    # ---- replay against a server ----

    def test_replay_against_a_fresh_prosody(self):
        with ComponentProsody() as fresh:
            server = "127.0.0.1:%d" % fresh.component_port
            r = run_xmitm("replay", self.rec, "--server", server, "--password", SECRET)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("#1 comp.localhost: connected, authenticated with the "
                          "XEP-0114 handshake", r.stdout)
            self.assertIn("replay: SAME: the server behaved as recorded", r.stdout)
            self.assertIn("3 server stanzas compared: 3 as recorded", r.stdout)

            creds = os.path.join(self.tmp, "creds")
            with open(creds, "w") as f:
                f.write("%s %s\n" % (DOMAIN, SECRET))
            r = run_xmitm("replay", self.rec, "--server", server, "--credentials", creds)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

            r = run_xmitm("replay", self.rec, "--server", server, "--password", "wrong")
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("xmitm: replay: #1 comp.localhost: the server refused the "
                          "handshake for comp.localhost: <not-authorized/>", r.stderr)
            self.assertIn("the secret is wrong (check --password or --credentials), "
                          "or the server has no component comp.localhost", r.stderr)

            r = run_xmitm("replay", self.rec, "--server", server)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("comp.localhost is an XEP-0114 component: its handshake is "
                          "computed from the live stream id and its secret: give "
                          "--password SECRET", r.stderr)

    # ---- replay --serve to a component under test ----

    def serve(self, rec, *extra):
        port = peers.free_port()
        args = [XMITM, "replay", rec, "--serve", "--listen", "127.0.0.1:%d" % port,
                "--timeout", "3"] + list(extra)
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        peers.wait_listening(port, p)
        return p, port

    def finish(self, p):
        out, err = p.communicate(timeout=60)
        self.assertIsNone(peers.sanitizer_report(err), err)
        return p.returncode, out, err

    def test_serve_to_the_component(self):
        p, port = self.serve(self.rec, "--password", SECRET)
        self.assertIsNone(component(port))
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("#1 comp.localhost: client 127.0.0.1:", out)
        self.assertIn("connected, authenticated with the XEP-0114 handshake", out)
        self.assertIn("replay: 1 recorded connection: 1 played, 0 not played", out)
        self.assertIn("replay: SAME: the client behaved as recorded", out)

    def test_serve_a_wrong_secret_is_a_difference(self):
        p, port = self.serve(self.rec, "--password", SECRET)
        why = component(port, secret="not the secret", queries=())
        self.assertIn("not-authorized", why or "")
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("C->S the XEP-0114 handshake for comp.localhost is not the SHA-1 "
                      "of the stream id and the secret xmitm replay was given (wrong "
                      "secret)", out)
        self.assertIn("replay: DIFFERENT", out)

    def test_serve_an_unknown_domain_gets_host_unknown(self):
        p, port = self.serve(self.rec, "--password", SECRET)
        why = component(port, domain="other.localhost", queries=())
        self.assertIn("host-unknown", why or "")
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("a component connected as other.localhost, which the recording "
                      "has no (more) component connection for", out)

    def test_serve_a_changed_stanza_is_a_difference(self):
        changed = os.path.join(self.tmp, "changed.jsonl")
        n = 0
        with open(self.rec) as src, open(changed, "w") as dst:
            for line in src:
                ev = json.loads(line)
                if ev.get("ev") == "stanza" and ev.get("dir") == "c2s" \
                        and "jabber:iq:version" in ev.get("xml", ""):
                    line = line.replace("jabber:iq:version", "jabber:iq:last")
                    n += 1
                dst.write(line)
        self.assertEqual(n, 1)
        p, port = self.serve(changed, "--password", SECRET)
        component(port)  # the answer it gets is the recorded one: not checked
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("jabber:iq:last", out)
        self.assertIn("replay: DIFFERENT: the client did not behave as recorded", out)


class EjabberdComponentsTest(unittest.TestCase):
    """The same component against ejabberd 23.01's ejabberd_service, which
    answers a wrong secret and an unknown domain alike: <not-authorized/>
    after the handshake."""
    maxDiff = None

    def test_session_shown_recorded_and_replayed(self):
        tmp = tempfile.mkdtemp(prefix="xmitm-comp-e-")
        self.addCleanup(shutil.rmtree, tmp, True)
        rec = os.path.join(tmp, "component.jsonl")
        with ComponentEjabberd() as ej:
            x = peers.Xmitm(peers.LOOPBACK, ej.component_port,
                            extra_args=["--record", rec])
            x.start()
            self.addCleanup(x.cleanup)
            # ejabberd without mod_version: disco#info only
            self.assertIsNone(component(x.port, queries=("disco",)))
            why = component(x.port, secret="not the secret", queries=())
            self.assertIn("not-authorized", why or "")
            why = component(x.port, domain="other.localhost", queries=())
            self.assertIn("not-authorized", why or "")
            self.assertEqual(x.stop(), 0, x.describe())
            out = x.output()
            self.assertIn("<handshake>[secret: 40 bytes hidden, --show-secrets shows "
                          "them]</handshake>", out)
            self.assertIn("decoded: XEP-0114 handshake (success) [note: the server "
                          "accepted the handshake: comp.localhost is connected]", out)
            self.assertIn("decoded: XEP-0114 stream:error (failure) [note: "
                          "not-authorized: the server rejected the handshake for "
                          "comp.localhost: wrong secret", out)
            self.assertIn("decoded: XEP-0114 stream:error (failure) [note: "
                          "not-authorized: the server rejected the handshake for "
                          "other.localhost: wrong secret (the component's secret is "
                          "not the one the server has for this domain; ejabberd also "
                          "says this for a domain it has no component for)", out)
            r = run_xmitm("show", "--color=never", rec)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, out)
            # Only the connection that got in is replayed.
            r = run_xmitm("replay", rec, "--server", "127.0.0.1:%d" % ej.component_port,
                          "--password", SECRET)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("1 connection, 1 client stanzas to send", r.stdout)
            self.assertIn("replay: SAME: the server behaved as recorded", r.stdout)


class BiboumiTest(unittest.TestCase):
    """biboumi, a packaged component, through xmitm to prosody: a client's
    disco#info reaches it and comes back; recorded; `--serve` plays the
    recorded server (the client's query included) to a fresh biboumi."""
    maxDiff = None

    def test_biboumi_through_xmitm_and_served(self):
        tmp = tempfile.mkdtemp(prefix="xmitm-comp-b-")
        self.addCleanup(shutil.rmtree, tmp, True)
        rec = os.path.join(tmp, "biboumi.jsonl")
        with ComponentProsody(domain="biboumi.localhost",
                              users={"alice": "alice-pw"}) as pr:
            x = peers.Xmitm(peers.LOOPBACK, pr.component_port,
                            extra_args=["--record", rec])
            x.start()
            self.addCleanup(x.cleanup)
            b = Biboumi(x.port)
            try:
                self.assertTrue(b.wait_authenticated(), x.describe())
                identities = disco("alice@localhost", "alice-pw", pr.port,
                                   "biboumi.localhost")
            finally:
                log = b.stop()
            self.assertIsInstance(identities, list, "%s\n%s" % (identities, log))
            self.assertEqual(x.stop(), 0, x.describe())
        out = x.output()
        self.assertIn("<handshake xmlns='jabber:component:accept'>[secret: 40 bytes "
                      "hidden, --show-secrets shows them]</handshake>", out)
        self.assertIn("decoded: XEP-0114 handshake (success) [note: the server "
                      "accepted the handshake: biboumi.localhost is connected]", out)
        self.assertRegex(out, r"S->C iq, \d+ bytes\n  <iq [^\n]*to='biboumi.localhost'")
        self.assertIn("<query xmlns='http://jabber.org/protocol/disco#info'>", out)
        r = run_xmitm("show", "--color=never", rec)
        self.assertEqual(r.stdout, out)

        # The recorded server, alice's query included, to a fresh biboumi.
        port = peers.free_port()
        p = subprocess.Popen([XMITM, "replay", rec, "--serve", "--listen",
                              "127.0.0.1:%d" % port, "--password", SECRET,
                              "--timeout", "3"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        peers.wait_listening(port, p)
        b = Biboumi(port)
        try:
            # It answers the recorded query, then (SIGTERM) closes its stream
            # as the recorded biboumi did.
            answered = b.wait_log(r"XMPP SENDING: <iq [^\n]*type='result'")
        finally:
            log = b.stop()
        out, err = p.communicate(timeout=60)
        self.assertTrue(answered, out + err + log)
        self.assertIsNone(peers.sanitizer_report(err), err)
        self.assertEqual(p.returncode, 0, out + err + log)
        self.assertIn("#1 biboumi.localhost: client 127.0.0.1:", out)
        self.assertIn("replay: SAME: the client behaved as recorded", out)


class ScriptedDialbackTest(unittest.TestCase):
    """XEP-0220 through `xmitm proxy` between scripted peers (no packaged
    server here: real federation needs the network namespaces of issue 24):
    #1 a.test -> b.test sends its key, #2 b.test -> a.test verifies it; the
    keys are hidden, #2's verification names #1, show prints the same."""

    KEY = "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643"
    NS = ("xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
          "xmlns:db='jabber:server:dialback'")

    @staticmethod
    def recv_until(sock, needle, timeout=10):
        """What sock sent until needle came (bytes may come in pieces)."""
        sock.settimeout(timeout)
        data = b""
        while needle not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data

    def fake_server(self, lsock):
        """Answers two connections: a stream header with ids s1, s2, then a
        db:result or db:verify verdict; each closes after the client."""
        for sid in ("s1", "s2"):
            c, _ = lsock.accept()
            c.settimeout(10)
            self.recv_until(c, b"version='1.0'>")
            c.sendall(("<stream:stream %s from='x' id='%s' version='1.0'>"
                       "<stream:features/>" % (self.NS, sid)).encode())
            data = self.recv_until(c, b"</db:")
            if b"db:verify" in data:
                c.sendall(b"<db:verify from='a.test' to='b.test' id='s1' type='valid'/>")
            else:
                c.sendall(b"<db:result from='b.test' to='a.test' type='valid'/>")
            self.server_conns.append(c)

    def test_dialback_keys_hidden_and_verification_tied(self):
        tmp = tempfile.mkdtemp(prefix="xmitm-db-")
        self.addCleanup(shutil.rmtree, tmp, True)
        rec = os.path.join(tmp, "s2s.jsonl")
        lsock = socket.socket()
        lsock.bind((peers.LOOPBACK, 0))
        lsock.listen()
        self.addCleanup(lsock.close)
        self.server_conns = []
        t = threading.Thread(target=self.fake_server, args=(lsock,), daemon=True)
        t.start()
        x = peers.Xmitm(peers.LOOPBACK, lsock.getsockname()[1],
                        extra_args=["--record", rec])
        x.start()
        self.addCleanup(x.cleanup)
        one = socket.create_connection((peers.LOOPBACK, x.port))
        one.sendall(("<stream:stream %s from='a.test' to='b.test' version='1.0'>"
                     % self.NS).encode())
        self.assertIn(b"id='s1'", self.recv_until(one, b"<stream:features/>"))
        one.sendall(("<db:result from='a.test' to='b.test'>%s</db:result>"
                     % self.KEY).encode())
        self.assertIn(b"type='valid'", self.recv_until(one, b"/>"))
        two = socket.create_connection((peers.LOOPBACK, x.port))
        two.sendall(("<stream:stream %s from='b.test' to='a.test' version='1.0'>"
                     % self.NS).encode())
        self.assertIn(b"id='s2'", self.recv_until(two, b"<stream:features/>"))
        two.sendall(("<db:verify from='b.test' to='a.test' id='s1'>%s</db:verify>"
                     % self.KEY).encode())
        self.assertIn(b"type='valid'", self.recv_until(two, b"/>"))
        for s in [one, two] + self.server_conns:
            s.close()
        t.join(10)
        self.assertEqual(x.stop(), 0, x.describe())
        out = x.output()
        self.assertNotIn(self.KEY, out)
        with open(rec) as f:
            self.assertNotIn(self.KEY, f.read())
        self.assertIn("#1 C->S db:result, 113 bytes\n  <db:result from='a.test' "
                      "to='b.test'>[secret: 64 bytes hidden, --show-secrets shows "
                      "them]</db:result>\n  decoded: XEP-0220 db:result (request): "
                      "from='a.test' to='b.test' key=<redacted, 64 bytes>", out)
        self.assertIn("decoded: XEP-0220 db:result (valid): from='b.test' "
                      "to='a.test' [note: b.test accepts a.test", out)
        self.assertIn("#2 C->S note: XEP-0220: this db:verify checks the dialback "
                      "key sent on #1 (a.test -> b.test, stream s1)\n", out)
        self.assertIn("#2 S->C note: XEP-0220: the authoritative server's answer "
                      "(valid) about the dialback key sent on #1 (a.test -> b.test, "
                      "stream s1)\n", out)
        r = run_xmitm("show", "--color=never", rec)
        self.assertEqual(r.stdout, out)


if __name__ == "__main__":
    peers.run_tests()
