#!/usr/bin/python3
"""Replay: a recording as a regression test, against real prosody servers.

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_replay.py

A real slixmpp session (two accounts: roster, presence, disco#info, a
message and its answer) is recorded through `xmitm proxy --record` against a
throwaway prosody, once in the clear and once with STARTTLS. What the tests
hold replay to:
  * against a fresh prosody with the same accounts it exits 0 (new stream
    ids, SCRAM nonces, bound resources, delay stamps, server iq ids);
  * against one where the third account of the shared roster group is gone
    it exits 1 and the diff names the missing roster item (and --junit
    reports it);
  * a bad file, an unreachable server, a wrong or missing password exit 2
    with one clear message;
  * the password from --password-file FILE, standard input or
    XMITM_PASSWORD works as --password does (kept out of ps);
  * a PLAIN login recorded with --record-secrets replays without a password;
  * a DIGEST-MD5 login (ejabberd, the packaged server that offers it) is
    recomputed: exit 0, and exit 2 with the server's refusal for a wrong
    password;
  * a server that pings (XEP-0199) and asks for an XEP-0198 ack in the
    middle of the session (a scripted fake server) gets both answered.
Serve mode (--serve): the same slixmpp script, run against the recorded
server (STARTTLS with xmitm's CA, SCRAM), completes and exits 0; a changed
message body exits 1 naming the body; without a password SCRAM exits 2.

XEP-0078: slixmpp logs in with jabber:iq:auth to prosody's mod_legacyauth
(recorded, replayed, served with password and digest). XEP-0388 SASL2
(SCRAM, and a FAST token reused from a recording with secrets) against the
scripted peers of sasl2_peers.py: no packaged server or client speaks it.
A tcpdump capture of a cleartext session replays like a recording; one of
STARTTLS exits 2. DIGEST-MD5 served to slixmpp. The --serve report names a
client that logged in and went quiet, and counts played connections.

XEP-0138 zlib: a gloox session (tests/integration/gloox_client.cpp, found
through $GLOOX_CLIENT) compressed after SASL over STARTTLS, recorded against
an ejabberd, replays compressed against a fresh ejabberd (exit 0); an
xmitm proxy between them sees zlib on the wire; a server that no longer
offers zlib is named and the replay goes on uncompressed; one that refuses
it exits 2. gloox against --serve of that recording compresses too.
"""

import asyncio
import base64
import json
import xml.etree.ElementTree as ET
import os
import re
import signal
import socket
import threading
import time
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import client  # noqa: E402
import peers  # noqa: E402
from ejabberd import Ejabberd  # noqa: E402
from sasl2_peers import HT, Sasl2Server, sasl2_client  # noqa: E402

XMITM = os.environ.get("XMITM")
GLOOX_CLIENT = os.environ.get("GLOOX_CLIENT")
ZLIB_LAYER = ("layer: XEP-0138: both directions are zlib streams from the "
              "next byte; xmitm forwards them as they are and inflates a copy")
USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
BODY = "hello bob <&>"


async def session(host, port, users, tls=False, ca=None, timeout=20, body=BODY):
    """bob logs in, then alice; both fetch the roster and send presence and
    wait for each other's; alice asks the server disco#info and sends bob a
    message; bob answers it; alice, then bob, close their streams."""
    import slixmpp  # noqa: F401  (client imported it)
    loop = asyncio.get_running_loop()
    clients, ev = {}, {}
    for u in ("bob", "alice"):
        x = client._Client("%s@localhost" % u, users[u], host, port, "localhost")
        x['feature_mechanisms'].unencrypted_plain = True
        x.register_plugin('xep_0030')
        if ca:
            x.ca_certs = ca
        ev[u] = {k: loop.create_future() for k in ("start", "msg", "pres")}

        def handlers(u, x):
            async def start(_):
                await x.get_roster(timeout=timeout)
                x.send_presence()
                ev[u]["start"].set_result(True)

            def message(m):
                if m['type'] == 'chat' and not ev[u]["msg"].done():
                    ev[u]["msg"].set_result(m['body'])

            def presence(p):
                if p['from'].bare != x.boundjid.bare and not ev[u]["pres"].done():
                    ev[u]["pres"].set_result(True)
            x.add_event_handler("session_start", start)
            x.add_event_handler("message", message)
            x.add_event_handler("presence_available", presence)
        handlers(u, x)
        clients[u] = x

    def connect(x):
        x.connect((host, port), force_starttls=tls, disable_starttls=not tls)
        x.default_domain = "localhost"

    alice, bob = clients["alice"], clients["bob"]
    connect(bob)
    await asyncio.wait_for(ev["bob"]["start"], timeout)
    connect(alice)
    await asyncio.wait_for(ev["alice"]["start"], timeout)
    await asyncio.wait_for(ev["alice"]["pres"], timeout)
    await asyncio.wait_for(ev["bob"]["pres"], timeout)
    await alice['xep_0030'].get_info(jid="localhost", timeout=timeout)
    alice.send_message(mto="bob@localhost", mbody=body, mtype="chat")
    got = await asyncio.wait_for(ev["bob"]["msg"], timeout)
    bob.send_message(mto=alice.boundjid.full, mbody="re: " + got, mtype="chat")
    await asyncio.wait_for(ev["alice"]["msg"], timeout)
    await alice.disconnect(wait=5)
    await bob.disconnect(wait=5)


class LegacyProsody(peers.Prosody):
    """prosody with mod_legacyauth: XEP-0078 jabber:iq:auth (plaintext
    passwords: prosody 0.12 offers no <digest/>)."""
    MODULES = peers.Prosody.MODULES + ["legacyauth"]


async def legacy_session(host, port, user, password, body, digest=False,
                         timeout=15):
    """slixmpp logging in with XEP-0078 jabber:iq:auth instead of SASL:
    its xep_0078 plugin awaits nothing (slixmpp 1.8 holds the iq back until
    the session starts, and reads the fields from a future), so the same
    steps are done here: get the fields, set username, resource and the
    password (or, with digest, SHA-1 of stream id and password). Then
    roster, presence, a message to herself, and the close."""
    import hashlib
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatcherId
    loop = asyncio.get_running_loop()
    x = client._Client("%s@localhost/legacy" % user, password, host, port, "localhost")
    done, got = loop.create_future(), loop.create_future()

    def send_iq(iq):
        fut = loop.create_future()
        x.register_handler(Callback("legacy %s" % iq["id"], MatcherId(iq["id"]),
                                    lambda r: fut.done() or fut.set_result(r), once=True))
        x.send_raw(str(iq))
        return fut

    async def legacy(features):
        iq = x.Iq()
        iq["type"], iq["to"] = "get", "localhost"
        iq["auth"]["username"] = user
        fields = await send_iq(iq)
        iq = x.Iq()
        iq["type"] = "set"
        iq["auth"]["username"] = user
        iq["auth"]["resource"] = "legacy"
        if digest:
            iq["auth"]["digest"] = hashlib.sha1((x.stream_id + password).encode()).hexdigest()
        else:
            iq["auth"]["password"] = password
        answer = await send_iq(iq)
        if answer["type"] != "result" or fields["type"] != "result":
            if not done.done():
                done.set_exception(RuntimeError("XEP-0078 login refused"))
            return True
        x.authenticated = True
        x.features.add("auth")
        x.boundjid = slixmpp.JID("%s@localhost/legacy" % user)
        x.event("session_bind", x.boundjid)
        x.sessionstarted = True
        x.event("session_start")
        return True

    import slixmpp
    x.register_plugin("xep_0078")
    x.unregister_feature("auth", x.plugin["xep_0078"].order)
    x.unregister_feature("mechanisms", x.plugin["feature_mechanisms"].order)
    x.register_feature("auth", legacy, restart=False, order=15)

    async def start(_):
        await x.get_roster(timeout=timeout)
        x.send_presence()
        x.send_message(mto="%s@localhost" % user, mbody=body, mtype="chat")

    def message(m):
        if m["type"] == "chat" and not got.done():
            got.set_result(m["body"])
    x.add_event_handler("session_start", start)
    x.add_event_handler("message", message)
    x.connect((host, port), disable_starttls=True)
    x.default_domain = "localhost"
    try:
        await asyncio.wait_for(asyncio.wait([done, got], return_when=asyncio.FIRST_COMPLETED),
                               timeout)
        if done.done():
            done.result()
        if not got.done():
            raise RuntimeError("no message back")
        return got.result()
    finally:
        await x.disconnect(wait=5)


def run_xmitm(*args, timeout=90):
    return subprocess.run([XMITM] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def gloox(port, jid, password, *extra, timeout=15):
    """gloox_client run to its end (it exits 0 once its script is done)."""
    if not (GLOOX_CLIENT and os.access(GLOOX_CLIENT, os.X_OK)):
        raise RuntimeError("set GLOOX_CLIENT to the gloox_client binary (got %r; "
                           "it is built when g++ and libgloox-dev are installed)"
                           % GLOOX_CLIENT)
    # The leak checker is for xmitm: gloox 1.0.24 leaves its GnuTLS objects
    # to the exit.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                 "detect_leaks=0"]))
    return subprocess.run([GLOOX_CLIENT, "--host", "127.0.0.1", "--port", str(port),
                           "--jid", jid, "--password", password,
                           "--timeout", str(timeout)] + list(extra),
                          capture_output=True, text=True, timeout=timeout + 30,
                          stdin=subprocess.DEVNULL, env=env)


# A scripted session: alice logs in with PLAIN and binds, then evs.
HDR_C = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
         "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' "
         "version='1.0'>")
HDR_S = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
         "xmlns:stream='http://etherx.jabber.org/streams' from='localhost' "
         "id='%s' version='1.0'>")
FEAT_SASL = ("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
             "<mechanism>PLAIN</mechanism></mechanisms></stream:features>")
FEAT_BIND = ("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
             "</stream:features>")
BIND = ("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        "<resource>r</resource></bind></iq>")
BOUND = ("<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
         "<jid>alice@localhost/r</jid></bind></iq>")


def write_recording(path, evs):
    """A recording (with secrets) of alice's scripted login, then evs
    (direction, event, XML), then both stream closes."""
    plain = base64.b64encode(b"\0alice\0pw").decode()
    evs = [("c2s", "stream-open", HDR_C), ("s2c", "stream-open", HDR_S % "s1"),
           ("s2c", "stanza", FEAT_SASL),
           ("c2s", "stanza", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                             "mechanism='PLAIN'>%s</auth>" % plain),
           ("s2c", "stanza", "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"),
           ("c2s", "stream-open", HDR_C), ("s2c", "stream-open", HDR_S % "s2"),
           ("s2c", "stanza", FEAT_BIND), ("c2s", "stanza", BIND),
           ("s2c", "stanza", BOUND)] + evs + [
           ("c2s", "stream-close", None), ("s2c", "stream-close", None)]
    with open(path, "w") as f:
        f.write(json.dumps({"format": "xmitm-recording", "format_version": 1,
                            "secrets": "recorded"}) + "\n")
        f.write(json.dumps({"t": 1, "conn": 1, "ev": "open"}) + "\n")
        for t, (d, ev, xml) in enumerate(evs, 2):
            e = {"t": t, "conn": 1, "ev": ev, "dir": d}
            if xml:
                e.update(xml=xml, name=re.match(r"(?:<\?xml[^>]*>)?<([\w:]+)", xml).group(1))
            f.write(json.dumps(e) + "\n")


def negotiate(conn, until, answer_bind=True):
    """The fake server's side of write_recording's login."""
    until(r"<stream:stream[^>]*>")
    conn.sendall((HDR_S % "live1" + FEAT_SASL).encode())
    until(r"</auth>")
    conn.sendall(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    until(r"<stream:stream[^>]*>")
    conn.sendall((HDR_S % "live2" + FEAT_BIND).encode())
    until(r"</iq>")
    if answer_bind:
        conn.sendall(BOUND.encode())


class ReplayTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        cls.dir = tempfile.mkdtemp(prefix="xmitm-replay-")
        cls.creds = os.path.join(cls.dir, "credentials")
        with open(cls.creds, "w") as f:
            f.write("# JID PASSWORD\n")
            for u, pw in USERS.items():
                f.write("%s@localhost %s\n" % (u, pw))
        cls.plain_rec = cls.record(tls=False)
        cls.tls_rec = cls.record(tls=True)

    @classmethod
    def tearDownClass(cls):
        if not os.environ.get("XMITM_KEEP_TMP"):
            shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def record(cls, tls, body=BODY, name=None):
        """Records the session through xmitm; returns the recording's path."""
        rec = os.path.join(cls.dir, name or ("tls.jsonl" if tls else "plain.jsonl"))
        with peers.Prosody(users=USERS, tls_required=tls) as server:
            extra = ["--record", rec, "-q"]
            if tls:
                extra += ["--upstream-ca", server.cert]
            x = peers.Xmitm("127.0.0.1", server.port, extra_args=extra)
            x.start()
            try:
                asyncio.run(session("127.0.0.1", x.port, USERS, tls=tls,
                                    ca=x.ca_cert if tls else None, body=body))
            finally:
                rc = x.stop()
                out = x.describe()
                x.cleanup()
            if rc != 0:
                raise RuntimeError("xmitm proxy exited %r\n%s" % (rc, out))
        return rec

    def path(self, name):
        return os.path.join(self.dir, name)

    def replay(self, rec, server, *extra, creds=True, host="127.0.0.1"):
        args = ["replay", rec, "--server", "%s:%d" % (host, server.port)]
        if creds:
            args += ["--credentials", self.creds]
        if server.tls_required:
            args += ["--upstream-ca", server.cert]
        return run_xmitm(*(args + list(extra)))

    def check(self, r, status, server=None):
        """Exit status status; on failure the output and (inside the
        server's with block) its log."""
        if r.returncode != status:
            log = server.log_tail(60) if server and server.dir else ""
            self.fail("exit %d, not %d\nstdout:\n%s\nstderr:\n%s%s"
                      % (r.returncode, status, r.stdout, r.stderr, log))

    # ---- the same server state: the same behaviour ----

    def test_recordings_hold_the_session(self):
        for rec in (self.plain_rec, self.tls_rec):
            with open(rec) as f:
                evs = [json.loads(line) for line in f][1:]
            stanzas = [e for e in evs if e["ev"] == "stanza"]
            self.assertTrue(any("jabber:iq:roster" in e["xml"] for e in stanzas))
            self.assertTrue(any("disco#info" in e["xml"] for e in stanzas))
            bodies = [e for e in stanzas if e["name"] == "message"]
            self.assertEqual(len(bodies), 4, bodies)   # two sent, two received
            layers = {e.get("layer") for e in evs if e["ev"] == "layer"}
            self.assertEqual("starttls" in layers, rec == self.tls_rec)

    def test_same_server_plaintext(self):
        with peers.Prosody(users=USERS) as server:
            r = self.replay(self.plain_rec, server)
            self.check(r, 0, server)
        self.assertIn("2 connections", r.stdout)
        self.assertIn("bound bob@localhost/", r.stdout)
        self.assertIn("0 different, 0 missing, 0 unexpected", r.stdout)
        self.assertIn("replay: SAME", r.stdout)
        self.assertEqual(r.stderr, "")

    def test_server_by_name(self):
        """--server with a name: resolved by GLib's resolver off the loop
        (core/connect.c; localhost from the hosts file, no DNS query)."""
        with peers.Prosody(users=USERS) as server:
            r = self.replay(self.plain_rec, server, host="localhost")
            self.check(r, 0, server)
        self.assertIn("replay: SAME", r.stdout)

    def test_same_server_starttls(self):
        with peers.Prosody(users=USERS, tls_required=True, direct_tls_port=True) as server:
            r = self.replay(self.tls_rec, server)
            self.check(r, 0, server)
            self.assertIn("#1 bob@localhost: connected over TLS, authenticated with SCRAM-",
                          r.stdout)
            self.assertIn("#2 alice@localhost: connected over TLS", r.stdout)
            self.assertIn("replay: SAME", r.stdout)
            # The same session over XEP-0368 direct TLS.
            r = run_xmitm("replay", self.tls_rec, "--server",
                          "127.0.0.1:%d" % server.direct_tls_port, "--tls", "direct",
                          "--upstream-ca", server.cert, "--credentials", self.creds)
            self.check(r, 0, server)
            self.assertIn("#2 alice@localhost: connected over TLS", r.stdout)
        # And in the clear against a server that does not insist on TLS:
        # the stanzas are compared, the negotiation's features are not.
        with peers.Prosody(users=USERS) as server:
            r = self.replay(self.tls_rec, server, "--tls", "none")
            self.check(r, 0, server)
            self.assertIn("#1 bob@localhost: connected, authenticated with SCRAM-", r.stdout)
            self.assertIn("stream features not compared (--tls differs", r.stdout)

    def test_large_stanzas_over_tls(self):
        # A 100 kB message (and its 100 kB answer) spans several reads: TLS
        # records cut by the end of a read must wait for their rest.
        rec = self.record(tls=True, body="x" * 100000, name="large-tls.jsonl")
        with peers.Prosody(users=USERS, tls_required=True) as server:
            r = self.replay(rec, server)
            self.check(r, 0, server)
        self.assertIn("0 different, 0 missing, 0 unexpected", r.stdout)
        self.assertIn("replay: SAME", r.stdout)
        self.assertEqual(r.stderr, "")

    def test_paces(self):
        with peers.Prosody(users=USERS) as server:
            for pace in ("recorded", "fast"):
                r = self.replay(self.plain_rec, server, "--pace", pace)
                if pace == "fast" and r.returncode == 1:
                    # fast waits for nothing: what several connections cause
                    # may reach one out of order (README), nothing else.
                    self.assertRegex(r.stdout, r"0 different, 0 missing, 0 unexpected, "
                                     r"[1-9]\d* out of order")
                else:
                    self.check(r, 0, server)
                self.assertIn("pace %s" % pace, r.stdout)

    # ---- a changed server state: a difference, named ----

    def test_missing_account_is_a_difference(self):
        junit = self.path("junit.xml")
        users = {u: p for u, p in USERS.items() if u != "carol"}
        with peers.Prosody(users=users, tls_required=True) as server:
            r = self.replay(self.tls_rec, server, "--timeout", "2", "--junit", junit)
            self.check(r, 1, server)
        out = r.stdout
        # Both roster results, each naming carol's item, with the item
        # marked as recorded-only in the stanza diff.
        self.assertEqual(out.count("iq/query{jabber:iq:roster}: missing item "
                                   "jid='carol@localhost'"), 2, out)
        self.assertIn("-     <item jid='carol@localhost' name='Carol' subscription='both'>", out)
        self.assertIn("-       <group>Friends</group>", out)
        self.assertIn("<item jid='alice@localhost' name='Alice' subscription='both'>", out)
        # Her unavailable presence (the server's answer to the probes) is gone.
        self.assertIn("S->C presence type='unavailable' from='carol@localhost' did not arrive", out)
        self.assertIn("2 different, 2 missing, 0 unexpected", out)
        self.assertIn("replay: DIFFERENT", out)
        self.assertEqual(r.stderr, "")
        suites = ET.parse(junit).getroot()
        self.assertEqual(suites.get("failures"), "2")
        self.assertEqual(suites.get("errors"), "0")
        cases = suites.findall("./testsuite/testcase")
        self.assertEqual([c.get("name") for c in cases],
                         ["#1 bob@localhost", "#2 alice@localhost"])
        for c in cases:
            failure = c.find("failure")
            self.assertIn("missing item jid='carol@localhost'", failure.text)

    def test_ignore_hides_the_difference(self):
        users = {u: p for u, p in USERS.items() if u != "carol"}
        with peers.Prosody(users=users) as server:
            r = self.replay(self.plain_rec, server, "--timeout", "2",
                            "--ignore", "//item[@jid='carol@localhost']",
                            "--ignore", "/presence[@from='carol@localhost']")
            # The roster results now agree; carol's presence still does not come.
            self.check(r, 1, server)
        self.assertNotIn("missing item", r.stdout)
        self.assertIn("0 different, 2 missing", r.stdout)

    # ---- errors ----

    def test_bad_files(self):
        cases = {
            "empty": (b"", "is empty"),
            "garbage": (os.urandom(2048), "is not an xmitm recording"),
            "json": (b'{"some":"json"}\n', "not a recording header"),
            "newer": (b'{"format":"xmitm-recording","format_version":99}\n',
                      "format version 99"),
            "nothing": (b'{"format":"xmitm-recording","format_version":1}\n',
                        "no client session to replay"),
        }
        port = peers.free_port()
        for name, (content, message) in cases.items():
            p = self.path(name)
            with open(p, "wb") as f:
                f.write(content)
            r = run_xmitm("replay", p, "--server", "127.0.0.1:%d" % port)
            self.assertEqual(r.returncode, 2, (name, r))
            self.assertIn(message, r.stderr, name)
            self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        r = run_xmitm("replay", self.path("missing.jsonl"), "--server", "127.0.0.1:1")
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot open", r.stderr)
        for args, message in (([], "say which recording"),
                              ([self.plain_rec], "--server HOST:PORT is required"),
                              ([self.plain_rec, "--server", "no pe"], "bad --server"),
                              ([self.plain_rec, "--server", "127.0.0.1"], "has no port"),
                              ([self.plain_rec, "--server", "h:1", "--pace", "slow"], "bad --pace"),
                              ([self.plain_rec, "--server", "h:1", "--tls", "maybe"], "bad --tls"),
                              ([self.plain_rec, "--server", "h:1", "--ignore", "//x[@a=b]"],
                               "bad --ignore"),
                              ([self.plain_rec, "--server", "h:1", "--credentials",
                                self.path("missing")], "--credentials")):
            r = run_xmitm("replay", *args)
            self.assertEqual(r.returncode, 2, (args, r))
            self.assertIn(message, r.stderr, args)

    def test_unreachable_server(self):
        port = peers.free_port()
        r = run_xmitm("replay", self.plain_rec, "--server", "127.0.0.1:%d" % port,
                      "--credentials", self.creds)
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("cannot connect to 127.0.0.1:%d: Connection refused" % port, r.stderr)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)

    def test_wrong_or_missing_password(self):
        with peers.Prosody(users=USERS) as server:
            r = self.replay(self.plain_rec, server, "--password", "wrong", creds=False)
            self.check(r, 2, server)
            self.assertRegex(r.stderr, r"#1 bob@localhost: authentication as "
                             r"bob@localhost with SCRAM-SHA-\d+ failed: the server "
                             r"said <not-authorized/>")
            self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
            r = self.replay(self.plain_rec, server, creds=False)
            self.check(r, 2, server)
            self.assertIn("bob@localhost logged in with SCRAM-", r.stderr)
            self.assertIn("give --password PW or --credentials FILE", r.stderr)

    def test_password_off_the_command_line(self):
        """issue 25 defect 12: the password from --password-file FILE, from
        standard input (--password-file -) or from XMITM_PASSWORD, so ps
        never shows it; --help says the command line is visible.  A wrong
        one from a file fails like a wrong --password; an empty or missing
        file, or both options, is a usage error."""
        pw = "same-Pw-for-all-3f9a"
        good = self.path("pw.txt")
        with open(good, "w") as f:
            f.write(pw + "\r\n# the first line only\n")
        wrong = self.path("wrong-pw.txt")
        with open(wrong, "w") as f:
            f.write("not-it\n")
        empty = self.path("empty-pw.txt")
        open(empty, "w").close()
        base = ["replay", self.plain_rec]
        with peers.Prosody(users={u: pw for u in USERS}) as server:
            base += ["--server", "127.0.0.1:%d" % server.port]
            r = run_xmitm(*base, "--password-file", good)
            self.check(r, 0, server)
            self.assertIn("replay: SAME", r.stdout)
            r = subprocess.run([XMITM] + base + ["--password-file", "-"],
                               input=pw + "\n", capture_output=True,
                               text=True, timeout=90)
            self.check(r, 0, server)
            r = subprocess.run([XMITM] + base, capture_output=True, text=True,
                               timeout=90, stdin=subprocess.DEVNULL,
                               env=dict(os.environ, XMITM_PASSWORD=pw))
            self.check(r, 0, server)
            r = run_xmitm(*base, "--password-file", wrong)
            self.check(r, 2, server)
            self.assertIn("failed: the server said <not-authorized/>", r.stderr)
        for extra, msg in (
                (["--password-file", empty], "xmitm: replay: --password-file: %s holds "
                 "no password (its first line is empty)\n" % empty),
                (["--password-file", self.path("nowhere")], "xmitm: replay: "
                 "--password-file: cannot open %s: No such file or directory\n"
                 % self.path("nowhere")),
                (["--password-file", good, "--password", pw], "xmitm: replay: give "
                 "--password or --password-file, not both\n")):
            r = run_xmitm("replay", self.plain_rec, "--server", "127.0.0.1:9",
                          *extra)
            self.assertEqual((r.returncode, r.stderr), (2, msg))
        r = run_xmitm("replay", "--help")
        self.assertIn("The command line, --password included, is visible to "
                      "every user of the\nmachine (ps, /proc)", r.stdout)

    def test_tls_certificate_not_trusted(self):
        with peers.Prosody(users=USERS, tls_required=True) as server:
            r = run_xmitm("replay", self.tls_rec, "--server", "127.0.0.1:%d" % server.port,
                          "--credentials", self.creds)
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("TLS with the server failed: its certificate does not verify", r.stderr)
        self.assertIn("--upstream-ca", r.stderr)

    # ---- serve mode: the recorded server for a client under test ----

    def serve(self, rec, *extra, creds=True):
        """Starts `xmitm replay REC --serve`; returns (process, port, CA)."""
        home = tempfile.mkdtemp(prefix="home-", dir=self.dir)
        port = peers.free_port()
        args = [XMITM, "replay", rec, "--serve", "--listen", "127.0.0.1:%d" % port,
                "--timeout", "3"] + list(extra)
        if creds:
            args += ["--credentials", self.creds]
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, stdin=subprocess.DEVNULL,
                             env=dict(os.environ, XDG_DATA_HOME=home))
        self.addCleanup(lambda: p.poll() is None and p.kill())
        peers.wait_listening(port, p)
        return p, port, os.path.join(home, "xmitm", "ca.pem")

    def serve_session(self, rec, *extra, creds=True, body=BODY):
        """The recorded script against --serve: (client error, replay result)."""
        p, port, ca = self.serve(rec, *extra, creds=creds)
        try:
            asyncio.run(session("127.0.0.1", port, USERS, tls=rec == self.tls_rec,
                                ca=ca, timeout=10, body=body))
            err = None
        except Exception as e:  # the client's view of a failure
            err = repr(e)
        out, errs = p.communicate(timeout=60)
        return err, subprocess.CompletedProcess(p.args, p.returncode, out, errs)

    def test_serve_same_client(self):
        for rec in (self.tls_rec, self.plain_rec):
            err, r = self.serve_session(rec)
            self.assertIsNone(err, r.stdout + r.stderr)
            self.check(r, 0)
            self.assertIn("serving 2 recorded connections", r.stdout)
            tls = " over TLS" if rec == self.tls_rec else ""
            self.assertRegex(r.stdout, r"#1 bob@localhost: client 127\.0\.0\.1:\d+ "
                             r"connected%s, authenticated with SCRAM-" % tls)
            self.assertIn("#2 alice@localhost: client", r.stdout)
            self.assertIn("0 different, 0 missing, 0 unexpected", r.stdout)
            self.assertIn("replay: SAME: the client behaved as recorded", r.stdout)

    def test_serve_interrupted(self):
        """SIGTERM while --serve waits for its clients: it stops at once, says
        so, exits 2 (the replay did not end), and --junit reports each
        connection not played to the end as an error."""
        junit = self.path("interrupted.xml")
        p, port, ca = self.serve(self.tls_rec, "--junit", junit)
        p.send_signal(signal.SIGTERM)
        out, errs = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 2, out + errs)
        self.assertIn("replay: stopped by SIGTERM", out)
        self.assertIn("replay: INTERRUPTED: stopped by SIGTERM before the replay ended",
                      out)
        self.assertNotIn("SAME", out)
        suites = ET.parse(junit).getroot()
        self.assertEqual(suites.get("errors"), "2")
        for c in suites.findall("./testsuite/testcase"):
            self.assertEqual(c.find("error").get("message"),
                             "stopped by SIGTERM before this connection was "
                             "played to the end")

    def test_serve_hangup(self):
        """SIGHUP (the terminal closed) stops replay as SIGTERM does, with
        its report; it used to kill it without one (issue 25, defect 9)."""
        p, port, ca = self.serve(self.tls_rec)
        p.send_signal(signal.SIGHUP)
        out, errs = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 2, out + errs)
        self.assertIn("replay: INTERRUPTED: stopped by SIGHUP before the replay ended",
                      out)

    def test_serve_changed_client(self):
        err, r = self.serve_session(self.tls_rec, "-v", body="a changed body")
        # The client still gets the recorded server's answers and completes.
        self.assertIsNone(err, r.stdout + r.stderr)
        self.check(r, 1)
        self.assertRegex(r.stdout, r"#2 alice@localhost: C->S message type='chat' id='[^']+' "
                         r"differs from the recording")
        self.assertIn("message/body: text recorded 'hello bob <&>', now 'a changed body'",
                      r.stdout)
        self.assertIn("-   <body>hello bob &lt;&amp;&gt;</body>", r.stdout)
        self.assertIn("+   <body>a changed body</body>", r.stdout)
        self.assertIn("1 different, 0 missing, 0 unexpected", r.stdout)
        # -v: arrows as in the recording: what the client sends is C->S,
        # what --serve plays to it S->C.
        self.assertRegex(r.stdout, r"\n#2 alice@localhost C->S <message[^\n]*"
                         r"<body>a changed body</body>")
        self.assertRegex(r.stdout, r"\n#1 bob@localhost S->C <message[^\n]*"
                         r"<body>hello bob &lt;&amp;&gt;</body>")
        self.assertNotRegex(r.stdout, r"S->C <message[^\n]*a changed body")

    def test_serve_failed_login(self):
        """Logins with the wrong password, where the recorded ones
        succeeded: named differences, and --serve still ends on --timeout."""
        p, port, _ = self.serve(self.plain_rec, "--timeout", "1")
        for user, mech in (("bob", "PLAIN"), ("alice", "SCRAM-SHA-1")):
            reason = client.run("%s@localhost" % user, "not-the-password", "127.0.0.1",
                                port, mech=mech, timeout=10)
            self.assertIn("authentication failed", reason or "")
        out, errs = p.communicate(timeout=30)
        r = subprocess.CompletedProcess(p.args, p.returncode, out, errs)
        self.check(r, 1)
        self.assertIn("#1 bob@localhost: C->S login as bob@localhost with PLAIN failed "
                      "(not the password xmitm replay was given); the recorded client "
                      "logged in\n", out)
        self.assertIn("#2 alice@localhost: C->S login as alice@localhost with "
                      "SCRAM-SHA-1 failed (the client's SCRAM proof is wrong (another "
                      "password)); the recorded client logged in\n", out)
        self.assertRegex(out, r"#1 bob@localhost: no client logged in as bob@localhost: "
                         r"its \d+ recorded client stanzas never came")
        self.assertIn("#2 alice@localhost: no client logged in as alice@localhost", out)
        self.assertIn("replay: 2 client stanzas compared: 0 as recorded, 2 different", out)
        self.assertIn("replay: 2 recorded connections: 0 played, 2 not played\n", out)
        self.assertIn("replay: DIFFERENT", out)
        self.assertEqual(errs, "")

    def test_serve_report_says_who_went_quiet(self):
        """A client that logs in and goes quiet, and one that stops half
        way: the report says which, with counts, and tells the recorded
        connections played from those not played (not compared)."""
        rec = self.path("quiet.jsonl")
        write_recording(rec, [("c2s", "stanza", "<presence/>"),
                              ("c2s", "stanza", "<message to='bob@localhost' id='m1'>"
                                                "<body>one</body></message>")])
        plain = base64.b64encode(b"\0alice\0pw").decode()

        def quiet_client(port, stanzas):
            """Logs in with PLAIN; with stanzas, restarts, binds and sends
            them; then says nothing until --serve closes."""
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                buf = b""

                def until(pattern):
                    nonlocal buf
                    while not re.search(pattern, buf):
                        data = s.recv(4096)
                        if not data:
                            raise EOFError(pattern)
                        buf += data
                    buf = b""
                s.sendall(HDR_C.encode())
                until(rb"</stream:features>")
                s.sendall(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism="
                           "'PLAIN'>%s</auth>" % plain).encode())
                until(rb"<success")
                if stanzas:
                    s.sendall(HDR_C.encode())
                    until(rb"</stream:features>")
                    s.sendall(BIND.encode())
                    until(rb"</iq>")
                    s.sendall("".join(stanzas).encode())
                while s.recv(4096):
                    pass

        p, port, _ = self.serve(rec, "--timeout", "1", creds=False)
        quiet_client(port, None)
        out, errs = p.communicate(timeout=60)
        self.check(subprocess.CompletedProcess(p.args, p.returncode, out, errs), 1)
        self.assertIn("#1 alice@localhost: a client logged in as alice@localhost but did "
                      "not start its session: its 3 recorded client stanzas never came\n",
                      out)
        self.assertNotIn("no client logged in", out)
        self.assertIn("replay: 0 client stanzas compared", out)
        self.assertIn("replay: 1 recorded connection: 0 played, 1 not played\n", out)
        self.assertIn("replay: 3 client stanzas of connections not played were not "
                      "compared\n", out)

        p, port, _ = self.serve(rec, "--timeout", "1", creds=False)
        quiet_client(port, ["<presence/>"])
        out, errs = p.communicate(timeout=60)
        self.check(subprocess.CompletedProcess(p.args, p.returncode, out, errs), 1)
        self.assertIn("#1 alice@localhost: C->S message id='m1' did not arrive", out)
        self.assertIn("#1 alice@localhost: alice@localhost logged in but sent only 2 of 3 "
                      "recorded client stanzas\n", out)
        self.assertIn("replay: 1 recorded connection: 1 played, 0 not played\n", out)
        self.assertNotIn("not compared", out)

    def test_serve_needs_the_password_for_scram(self):
        err, r = self.serve_session(self.plain_rec, creds=False)
        self.assertIsNotNone(err)
        self.check(r, 2)
        self.assertIn("the client logs in with SCRAM-", r.stderr)
        self.assertIn("give --password PW or --credentials FILE", r.stderr)

    # ---- what replay answers live ----

    def test_pings_and_acks_answered_live(self):
        message = "<message to='bob@localhost' id='m1'><body>after the ping</body></message>"
        rec = self.path("pinged.jsonl")
        write_recording(rec, [("c2s", "stanza", message)])
        got = {}

        def script(conn, until):
            negotiate(conn, until, answer_bind=False)
            # Before answering the bind: a ping and an ack request.
            conn.sendall(b"<iq type='get' id='ping-1' from='localhost'>"
                         b"<ping xmlns='urn:xmpp:ping'/></iq><r xmlns='urn:xmpp:sm:3'/>")
            got["pong"] = until(r"<iq [^>]*/>")
            got["ack"] = until(r"<a [^>]*/>")
            conn.sendall(BOUND.encode())
            got["message"] = until(r"<message.*?</message>")
            until(r"</stream:stream>")
            conn.sendall(b"</stream:stream>")
        r = self.against_script(rec, script, got)
        self.check(r, 0)
        self.assertNotIn("error", got)
        self.assertRegex(got["pong"], r"<iq type='result' id='ping-1' to='localhost'/>")
        self.assertEqual(got["ack"], "<a xmlns='urn:xmpp:sm:3' h='0'/>")
        self.assertIn("after the ping", got["message"])
        self.assertIn("#1 alice@localhost: connected, authenticated with PLAIN", r.stdout)

    HOSTILE = "x'\"<&>y"     # every character XML must escape

    def test_recorded_values_are_escaped(self):
        """issue 25 defect 6: a recorded stream id (--serve) and SASL
        mechanism (against a server) holding ', ", <, & and > are escaped
        in the XML replay writes: it parses, and holds the value as
        recorded, with no element injected."""
        esc = (self.HOSTILE.replace("&", "&amp;").replace("<", "&lt;")
               .replace(">", "&gt;").replace("'", "&apos;")
               .replace('"', "&quot;"))
        # --serve: the recorded stream id
        rec = self.path("hostile-id.jsonl")
        write_recording(rec, [("c2s", "stanza", "<presence/>")])
        with open(rec) as f:
            text = f.read().replace("id='s1'", "id='%s'" % esc)
        with open(rec, "w") as f:
            f.write(text)
        p, port, _ = self.serve(rec, "--password", "pw", creds=False)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(HDR_C.encode())
            got = b""
            while b"</stream:features>" not in got:
                data = s.recv(4096)
                if not data:
                    break
                got += data
        p.kill()
        p.communicate(timeout=10)
        root = ET.fromstring(got.decode().split("?>", 1)[1]
                             + "</stream:stream>")
        self.assertEqual(root.get("id"), self.HOSTILE, got)
        self.assertEqual([e.tag for e in root], [
            "{http://etherx.jabber.org/streams}features"], got)
        # against a server: the recorded mechanism
        rec = self.path("hostile-mech.jsonl")
        write_recording(rec, [("c2s", "stanza", "<presence/>")])
        with open(rec) as f:
            text = f.read().replace("mechanism='PLAIN'", "mechanism='%s'"
                                    % esc)
        with open(rec, "w") as f:
            f.write(text)
        got = {}

        def script(conn, until):
            until(r"<stream:stream[^>]*>")
            conn.sendall((HDR_S % "live1" + FEAT_SASL.replace(
                "PLAIN", esc)).encode())
            got["auth"] = until(r"<auth.*?(/>|</auth>)")
        r = self.against_script(rec, script, got)
        self.assertIn("auth", got, (r, got))
        auth = ET.fromstring(got["auth"])
        self.assertEqual(auth.get("mechanism"), self.HOSTILE, got["auth"])
        self.assertEqual(list(auth), [], got["auth"])

    def against_script(self, rec, script, got):
        """Replays rec against a scripted fake server: script(conn, until)
        on the one connection it accepts; until(PATTERN) reads up to the
        match and returns it. An error of the script lands in got."""
        lsock = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(lsock.close)

        def server():
            conn, _ = lsock.accept()
            conn.settimeout(10)
            buf = b""

            def until(pattern):
                nonlocal buf
                while True:
                    m = re.search(pattern.encode(), buf, re.S)
                    if m:
                        buf = buf[m.end():]
                        return m.group(0).decode()
                    data = conn.recv(4096)
                    if not data:
                        raise EOFError(pattern)
                    buf += data
            try:
                script(conn, until)
            except (OSError, EOFError) as e:
                got["error"] = repr(e)
            finally:
                conn.close()
        t = threading.Thread(target=server, daemon=True)
        t.start()
        r = run_xmitm("replay", rec, "--server", "127.0.0.1:%d" % lsock.getsockname()[1],
                      "--timeout", "3")
        t.join(10)
        return r

    # ---- the order in which stanzas arrive ----

    def test_presence_reorders_within_its_run_messages_do_not(self):
        presences = ["<presence from='%s@localhost/x' to='alice@localhost/r'/>" % u
                     for u in ("bob", "carol")]
        messages = ["<message from='%s@localhost/x' to='alice@localhost/r' type='chat' "
                    "id='m%d'><body>%s</body></message>" % (u, i, u)
                    for i, u in enumerate(("bob", "carol"), 1)]
        rec = self.path("order.jsonl")
        write_recording(rec, [("c2s", "stanza", "<presence/>")]
                        + [("s2c", "stanza", x) for x in presences + messages])
        got = {}

        def script(conn, until):
            negotiate(conn, until)
            until(r"<presence/>")
            # Presence in another order: as recorded. carol's message
            # before bob's: out of order.
            conn.sendall("".join(presences[::-1] + messages[::-1]).encode())
            until(r"</stream:stream>")
            conn.sendall(b"</stream:stream>")
        r = self.against_script(rec, script, got)
        self.assertNotIn("error", got)
        self.check(r, 1)
        self.assertRegex(r.stdout, r"#1 alice@localhost: S->C message type='chat' "
                         r"from='carol@localhost/x' id='m2' came before message "
                         r"type='chat' from='bob@localhost/x' id='m1', which the "
                         r"recording has first \(recorded at [\d:.]+, this one at "
                         r"[\d:.]+\):\n      <message ")
        self.assertIn("7 as recorded, 0 different, 0 missing, 0 unexpected, "
                      "1 out of order", r.stdout)
        self.assertNotIn("presence", r.stdout)

    # ---- DIGEST-MD5, recomputed ----

    def test_digest_md5_against_ejabberd(self):
        rec = self.path("digest.jsonl")
        users = {"alice": USERS["alice"]}
        with Ejabberd(users=users) as e:
            x = peers.Xmitm("127.0.0.1", e.port, extra_args=[
                "--record", rec, "-q", "--upstream-ca", e.cert])
            x.start()
            try:
                # A message to herself: the session does not end before the
                # server's answers (ejabberd drops the presence echo of a
                # stream closed right after its presence: not replayable).
                reason = client.run("alice@localhost", users["alice"], "127.0.0.1",
                                    x.port, mech="DIGEST-MD5", tls=True, ca=x.ca_cert,
                                    tls_name="localhost", timeout=20,
                                    send_to="alice@localhost", body="digest",
                                    expect_body="digest")
            finally:
                x.cleanup()
            self.assertIsNone(reason)
            base = ["replay", rec, "--server", "127.0.0.1:%d" % e.port,
                    "--upstream-ca", e.cert]
            r = run_xmitm(*base, "--password", users["alice"])
            self.check(r, 0)
            self.assertIn("#1 alice@localhost: connected over TLS, authenticated with "
                          "DIGEST-MD5", r.stdout)
            self.assertIn("replay: SAME", r.stdout)
            r = run_xmitm(*base, "--password", "not-hers")
            self.check(r, 2)
            self.assertIn("authentication as alice@localhost with DIGEST-MD5 failed: "
                          "the server said <not-authorized/>", r.stderr)
        # Served: xmitm plays ejabberd's DIGEST-MD5 (challenge, the
        # response checked, rspauth) to slixmpp.
        p, port, ca = self.serve(rec, "--password", users["alice"], creds=False)
        reason = client.run("alice@localhost", users["alice"], "127.0.0.1", port,
                            mech="DIGEST-MD5", tls=True, ca=ca, tls_name="localhost",
                            timeout=20, send_to="alice@localhost", body="digest",
                            expect_body="digest")
        out, errs = p.communicate(timeout=60)
        self.assertIsNone(reason, out + errs)
        self.check(subprocess.CompletedProcess(p.args, p.returncode, out, errs), 0)
        self.assertRegex(out, r"#1 alice@localhost: client 127\.0\.0\.1:\d+ connected "
                         r"over TLS, authenticated with DIGEST-MD5\n")
        self.assertIn("0 different, 0 missing, 0 unexpected", out)
        # Another password: the response does not check out.
        p, port, ca = self.serve(rec, "--password", users["alice"], "--timeout", "1",
                                 creds=False)
        reason = client.run("alice@localhost", "not-hers", "127.0.0.1", port,
                            mech="DIGEST-MD5", tls=True, ca=ca, tls_name="localhost",
                            timeout=10)
        out, errs = p.communicate(timeout=60)
        self.assertIn("authentication failed", reason or "")
        self.check(subprocess.CompletedProcess(p.args, p.returncode, out, errs), 1)
        self.assertIn("#1 alice@localhost: C->S login as alice@localhost with DIGEST-MD5 "
                      "failed (the client's DIGEST-MD5 response is wrong (another "
                      "password)); the recorded client logged in\n", out)

    # ---- XEP-0078 jabber:iq:auth ----

    def test_legacy_auth_against_prosody_and_served(self):
        """slixmpp logs in with jabber:iq:auth to a prosody with
        mod_legacyauth, through xmitm proxy --record: replayed against a
        fresh one the login is done again (exit 0), with a wrong password
        refused (exit 2); served, the same client logs in (password and
        digest) and the session compares equal."""
        rec = self.path("legacy.jsonl")
        pw = USERS["alice"]
        with LegacyProsody(users={"alice": pw}) as server:
            x = peers.Xmitm("127.0.0.1", server.port, extra_args=["--record", rec, "-q"])
            x.start()
            try:
                got = asyncio.run(legacy_session("127.0.0.1", x.port, "alice", pw, "legacy"))
            finally:
                x.cleanup()
            self.assertEqual(got, "legacy")
        with open(rec) as f:
            evs = [json.loads(line) for line in f][1:]
        self.assertIn("XEP-0078", {e.get("protocol") for e in evs if e["ev"] == "sasl"})
        self.assertFalse(any(e["ev"] == "stanza" and e["name"] == "auth" for e in evs))
        self.assertTrue(any("<password>********</password>" in e.get("xml", "") for e in evs))
        with LegacyProsody(users={"alice": pw}) as server:
            r = self.replay(rec, server, "--password", pw, creds=False)
            self.check(r, 0, server)
            self.assertIn("#1 alice@localhost: connected, authenticated with XEP-0078 "
                          "password\n", r.stdout)
            self.assertIn("0 different, 0 missing, 0 unexpected", r.stdout)
            r = self.replay(rec, server, "--password", "not-hers", creds=False)
            self.check(r, 2, server)
            self.assertEqual(r.stderr, "xmitm: replay: #1 alice@localhost: authentication "
                             "as alice@localhost with XEP-0078 password failed: the server "
                             "said <not-authorized/> (check --password or --credentials)\n")
            r = self.replay(rec, server, creds=False)
            self.check(r, 2, server)
            self.assertIn("alice@localhost logged in with XEP-0078 (jabber:iq:auth) "
                          "password: give --password PW", r.stderr)
        for digest in (False, True):
            p, port, _ = self.serve(rec)
            got = asyncio.run(legacy_session("127.0.0.1", port, "alice", pw, "legacy",
                                             digest=digest))
            out, errs = p.communicate(timeout=60)
            self.assertEqual(got, "legacy")
            self.check(subprocess.CompletedProcess(p.args, p.returncode, out, errs), 0)
            self.assertRegex(out, r"#1 alice@localhost: client 127\.0\.0\.1:\d+ connected, "
                             r"authenticated with XEP-0078 %s\n"
                             % ("digest" if digest else "password"))
            self.assertIn("0 different, 0 missing, 0 unexpected", out)
        # A wrong digest is a failed login.
        p, port, _ = self.serve(rec, "--timeout", "1")
        with self.assertRaises(Exception):
            asyncio.run(legacy_session("127.0.0.1", port, "alice", "wrong", "legacy",
                                       digest=True, timeout=5))
        out, errs = p.communicate(timeout=60)
        self.check(subprocess.CompletedProcess(p.args, p.returncode, out, errs), 1)
        self.assertIn("#1 alice@localhost: C->S login as alice@localhost with XEP-0078 "
                      "digest failed (not the digest of the password xmitm replay was "
                      "given)", out)

    # ---- XEP-0388 SASL2 (scripted peers: no packaged server or client
    # speaks it here, see sasl2_peers.py) ----

    def sasl2_recording(self, name, *extra, tokens=None, **client):
        """A SASL2 session recorded through xmitm proxy against the scripted
        server: (recording, what the client got, the recording's events)."""
        rec = self.path(name)
        with Sasl2Server({"alice": USERS["alice"]}, tokens) as server:
            x = peers.Xmitm("127.0.0.1", server.port,
                            extra_args=["--record", rec, "-q"] + list(extra))
            x.start()
            try:
                got = sasl2_client(x.port, "alice", **client)
            finally:
                x.cleanup()
        with open(rec) as f:
            evs = [json.loads(line) for line in f][1:]
        return rec, got, evs

    def test_sasl2_scram_replayed_and_served(self):
        pw = USERS["alice"]
        rec, got, evs = self.sasl2_recording("sasl2.jsonl", password=pw, request_token=True)
        # What the proxy recorded: SASL2 decoded, the FAST token hidden.
        sasl = [e for e in evs if e["ev"] == "sasl"]
        self.assertEqual({e["protocol"] for e in sasl}, {"SASL2"})
        self.assertIn("SCRAM-SHA-256", {e.get("mechanism") for e in sasl})
        xml = "".join(e.get("xml", "") for e in evs)
        self.assertNotIn(got["token"], xml)
        self.assertIn("token='%s'" % ("*" * len(got["token"])), xml)
        self.assertIn("<authorization-identifier>%s</authorization-identifier>" % got["jid"], xml)
        with Sasl2Server({"alice": pw}) as server:
            r = self.replay(rec, server, "--password", pw, creds=False)
            self.check(r, 0)
            self.assertIn("#1 alice@localhost: connected, authenticated with SCRAM-SHA-256 "
                          "(XEP-0388 SASL2)\n", r.stdout)
            # bind2 bound a new resource; the echo from it compares equal.
            self.assertRegex(r.stdout, r"#1 alice@localhost: bound alice@localhost/"
                             r"sasl2test\.\w+ \(recorded: %s\)" % re.escape(got["jid"]))
            # The features, the roster result, the echo, the close.
            self.assertIn("4 server stanzas compared: 4 as recorded, 0 different, "
                          "0 missing, 0 unexpected", r.stdout)
            self.assertEqual(r.stderr, "")
            r = self.replay(rec, server, "--password", "not-hers", creds=False)
            self.check(r, 2)
            self.assertEqual(r.stderr, "xmitm: replay: #1 alice@localhost: authentication "
                             "as alice@localhost with SCRAM-SHA-256 failed: the server said "
                             "<not-authorized/> (check --password or --credentials)\n")
            self.assertEqual([m for m, _, ok in server.logins], ["SCRAM-SHA-256"] * 2)
        # Served: the scripted client logs in with SCRAM (the signature
        # checks out), is bound to the recorded JID, and compares equal.
        p, port, _ = self.serve(rec, "--password", pw, creds=False)
        served = sasl2_client(port, "alice", password=pw, request_token=True)
        out, errs = p.communicate(timeout=60)
        self.check(subprocess.CompletedProcess(p.args, p.returncode, out, errs), 0)
        self.assertEqual(served["jid"], got["jid"])
        self.assertRegex(out, r"#1 alice@localhost: client 127\.0\.0\.1:\d+ connected, "
                         r"authenticated with SCRAM-SHA-256 \(XEP-0388 SASL2\)\n")
        self.assertIn("0 different, 0 missing, 0 unexpected", out)
        # A wrong password: the client sees the failure, replay a difference.
        p, port, _ = self.serve(rec, "--password", pw, "--timeout", "1", creds=False)
        with self.assertRaises(PermissionError):
            sasl2_client(port, "alice", password="not-hers")
        out, errs = p.communicate(timeout=60)
        self.check(subprocess.CompletedProcess(p.args, p.returncode, out, errs), 1)
        self.assertIn("C->S login as alice@localhost with SCRAM-SHA-256 failed", out)

    def test_sasl2_token_reused_when_recorded_with_secrets(self):
        pw = USERS["alice"]
        # With --record-secrets the FAST token the server issues is kept.
        _, first, evs = self.sasl2_recording("sasl2-issue.jsonl", "--record-secrets",
                                             password=pw, request_token=True)
        token = first["token"]
        self.assertIn("token='%s'" % token, "".join(e.get("xml", "") for e in evs))
        # A token login (XEP-0484 HT-SHA-256-NONE), recorded with secrets:
        # replayed as recorded, no password needed.
        tokens = {token: "alice"}
        rec, got, evs = self.sasl2_recording("sasl2-token.jsonl", "--record-secrets",
                                             tokens=tokens, mech=HT, token=token)
        with Sasl2Server({"alice": pw}, tokens) as server:
            r = self.replay(rec, server, creds=False)
            self.check(r, 0)
            self.assertIn("#1 alice@localhost: connected, authenticated with %s "
                          "(XEP-0388 SASL2)\n" % HT, r.stdout)
            self.assertIn("0 different, 0 missing, 0 unexpected", r.stdout)
            self.assertEqual(server.logins, [(HT, "alice", True)])
        # A server that does not know the token refuses it: exit 2.
        with Sasl2Server({"alice": pw}) as server:
            r = self.replay(rec, server, creds=False)
            self.check(r, 2)
            self.assertIn("authentication as alice@localhost with %s failed: the server "
                          "said <not-authorized/>" % HT, r.stderr)
        # Served: the same token logs in; another one is a difference.
        p, port, _ = self.serve(rec, creds=False)
        served = sasl2_client(port, "alice", mech=HT, token=token)
        out, errs = p.communicate(timeout=60)
        self.check(subprocess.CompletedProcess(p.args, p.returncode, out, errs), 0)
        self.assertEqual(served["jid"], got["jid"])
        self.assertIn("authenticated with %s (XEP-0388 SASL2)" % HT, out)
        p, port, _ = self.serve(rec, "--timeout", "1", creds=False)
        with self.assertRaises(PermissionError):
            sasl2_client(port, "alice", mech=HT, token="another-token")
        out, errs = p.communicate(timeout=60)
        self.check(subprocess.CompletedProcess(p.args, p.returncode, out, errs), 1)
        self.assertIn("C->S login as alice@localhost with %s failed (not the payload the "
                      "recording kept)" % HT, out)

    # ---- a packet capture instead of a recording ----

    def capture(self, name, server, tls):
        """tcpdump of client.py's session with server (no xmitm)."""
        cap = self.path(name)
        tcpdump = subprocess.Popen(
            ["tcpdump", "-Z", "root", "--immediate-mode", "-i", "lo", "-U", "-w", cap,
             "-s", "0", "tcp port %d" % server.port],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(lambda: tcpdump.poll() is None and tcpdump.kill())
        self.assertIn("listening on", tcpdump.stderr.readline().decode())
        reason = client.run("alice@localhost", USERS["alice"], "127.0.0.1", server.port,
                            tls=tls, ca=server.cert if tls else None, timeout=20,
                            send_to="alice@localhost", body="captured",
                            expect_body="captured")
        self.assertIsNone(reason)
        time.sleep(0.5)
        tcpdump.terminate()
        tcpdump.wait(10)
        tcpdump.stderr.close()
        return cap

    def test_capture_replayed(self):
        if shutil.which("tcpdump") is None:
            raise RuntimeError("tcpdump not found: apt-get install tcpdump")
        with peers.Prosody(users=USERS) as server:
            cap = self.capture("plain.pcap", server, tls=False)
        with peers.Prosody(users=USERS) as server:
            r = self.replay(cap, server, "--password", USERS["alice"], creds=False)
            self.check(r, 0, server)
        self.assertIn("#1 alice@localhost: connected, authenticated with SCRAM-", r.stdout)
        self.assertIn("0 different, 0 missing, 0 unexpected", r.stdout)
        self.assertIn("replay: SAME", r.stdout)
        # STARTTLS: the capture cannot be read past it.
        with peers.Prosody(users=USERS, tls_required=True) as server:
            cap = self.capture("tls.pcap", server, tls=True)
            r = self.replay(cap, server, "--password", USERS["alice"], creds=False)
        self.check(r, 2)
        self.assertEqual(r.stderr, "xmitm: replay: %s is a packet capture of XMPP over "
                         "TLS (connection #1 negotiated STARTTLS): a capture cannot be "
                         "decrypted, so replay cannot go past the TLS handshake; capture "
                         "a session without TLS, or record it through xmitm proxy "
                         "--record\n" % cap)

    # ---- PLAIN recorded with secrets ----

    def test_plain_with_recorded_secrets_needs_no_password(self):
        rec = self.path("secrets.jsonl")
        with peers.Prosody(users=USERS) as server:
            x = peers.Xmitm("127.0.0.1", server.port,
                            extra_args=["--record", rec, "--record-secrets", "-q"])
            x.start()
            try:
                reason = client.run("alice@localhost", USERS["alice"], "127.0.0.1",
                                    x.port, mech="PLAIN", timeout=20)
            finally:
                x.cleanup()
            self.assertIsNone(reason)
        with peers.Prosody(users=USERS) as server:
            r = self.replay(rec, server, creds=False)
            self.check(r, 0, server)
        self.assertIn("#1 alice@localhost: connected, authenticated with PLAIN", r.stdout)


    # ---- XEP-0138 zlib, negotiated as recorded ----

    ZLIB_JID = "alice@localhost/gloox"
    ZLIB_BODY = "compressed <&> " + "again and again, " * 8

    @classmethod
    def zlib_recording(cls):
        """gloox over STARTTLS through `xmitm proxy --record` to an ejabberd:
        SCRAM, zlib after SASL, bind, roster, presence, a message to
        herself (recorded once)."""
        rec = os.path.join(cls.dir, "zlib.jsonl")
        if os.path.exists(rec):
            return rec
        pw = USERS["alice"]
        with Ejabberd(users={"alice": pw}) as e:
            x = peers.Xmitm("127.0.0.1", e.port, extra_args=[
                "--record", rec + ".part", "-q", "--upstream-ca", e.cert])
            x.start()
            try:
                g = gloox(x.port, cls.ZLIB_JID, pw, "--tls", "--ca", x.ca_cert,
                          "--require-compression", "--send-to", cls.ZLIB_JID,
                          "--body", cls.ZLIB_BODY, "--expect-body", cls.ZLIB_BODY)
            finally:
                x.cleanup()
        if g.returncode != 0 or "COMPRESSED" not in g.stdout.splitlines():
            raise RuntimeError("gloox through xmitm: exit %d\n%s%s"
                               % (g.returncode, g.stdout, g.stderr))
        os.rename(rec + ".part", rec)
        return rec

    def test_zlib_replayed_against_ejabberd_and_served(self):
        rec = self.zlib_recording()
        with open(rec) as f:
            layers = [json.loads(line).get("layer") for line in f]
        self.assertIn("zlib", layers)
        pw = USERS["alice"]
        with Ejabberd(users={"alice": pw}) as e:
            r = run_xmitm("replay", rec, "--server", "127.0.0.1:%d" % e.port,
                          "--upstream-ca", e.cert, "--password", pw, "-v")
            self.check(r, 0, e)
            self.assertIn("#1 alice@localhost: XEP-0138: zlib both ways from here",
                          r.stdout)
            self.assertIn("#1 alice@localhost: connected over TLS, authenticated with "
                          "SCRAM-SHA-1, compressed with zlib (XEP-0138)", r.stdout)
            self.assertIn("0 different, 0 missing, 0 unexpected", r.stdout)
            self.assertIn("replay: SAME", r.stdout)
            self.assertEqual(r.stderr, "")

            # What goes over the wire is zlib: an xmitm proxy in between (in
            # the clear) inflates a copy of both directions.
            with peers.Xmitm("127.0.0.1", e.plain_port) as x:
                r = run_xmitm("replay", rec, "--server", "127.0.0.1:%d" % x.port,
                              "--tls", "none", "--password", pw)
                self.check(r, 0, e)
                self.assertEqual(x.stop(), 0, x.describe())
                out = x.output()
            self.assertIn("compressed with zlib (XEP-0138)", r.stdout)
            self.assertEqual(out.count(ZLIB_LAYER), 1, out)
            self.assertRegex(out, r"C->S compress, \d+ bytes")
            for d in ("C->S", "S->C"):
                self.assertRegex(out, r"#1 %s \[zlib\] message, \d+ bytes( \(\d+ "
                                 r"compressed\))?\n(  .*\n)*?\s+<body>compressed "
                                 r"&lt;&amp;&gt; again" % d, out)

            # A server that no longer offers zlib: named, and the replay goes
            # on uncompressed.
            with peers.Xmitm("127.0.0.1", e.plain_port,
                             extra_args=["--no-compression", "-q"]) as x:
                r = run_xmitm("replay", rec, "--server", "127.0.0.1:%d" % x.port,
                              "--tls", "none", "--password", pw)
            self.check(r, 0, e)
            self.assertIn("#1 alice@localhost: the recording negotiated XEP-0138 zlib "
                          "compression here; the server does not offer it now: "
                          "replay goes on uncompressed", r.stdout)
            self.assertIn("authenticated with SCRAM-SHA-1\n", r.stdout)

        # --serve: gloox compresses against the recorded server (PLAIN here;
        # SCRAM in test_serve_offers_no_channel_binding).
        for compress in (True, False):
            p, port, ca = self.serve(rec)
            g = gloox(port, self.ZLIB_JID, pw, "--tls", "--ca", ca, "--mech", "PLAIN",
                      "--send-to", self.ZLIB_JID, "--body", self.ZLIB_BODY,
                      "--expect-body", self.ZLIB_BODY,
                      *(["--require-compression"] if compress else []))
            out, errs = p.communicate(timeout=60)
            self.assertEqual(g.returncode, 0, g.stdout + g.stderr + out + errs)
            self.assertEqual("COMPRESSED" in g.stdout.splitlines(), compress, g.stdout)
            self.check(subprocess.CompletedProcess(p.args, p.returncode, out, errs), 0)
            self.assertRegex(out, r"#1 alice@localhost: client 127\.0\.0\.1:\d+ "
                             r"connected over TLS, authenticated with PLAIN%s\n"
                             % (", compressed with zlib \\(XEP-0138\\)" if compress else ""))
            self.assertEqual("this one goes on uncompressed" in out, not compress, out)
            self.assertIn("0 different, 0 missing, 0 unexpected", out)

    def test_serve_offers_no_channel_binding(self):
        """ejabberd over TLS offered SCRAM-*-PLUS; --serve does not do
        channel binding, so it leaves them out and gloox, left to choose,
        takes SCRAM-SHA-1."""
        rec = self.zlib_recording()
        with open(rec) as f:
            self.assertIn("SCRAM-SHA-1-PLUS", f.read())
        p, port, ca = self.serve(rec)
        g = gloox(port, self.ZLIB_JID, USERS["alice"], "--tls", "--ca", ca,
                  "--send-to", self.ZLIB_JID, "--body", self.ZLIB_BODY,
                  "--expect-body", self.ZLIB_BODY)
        out, errs = p.communicate(timeout=60)
        self.assertEqual(g.returncode, 0, g.stdout + g.stderr + out + errs)
        self.assertIn("AUTH SCRAM-SHA-1", g.stdout.splitlines(), g.stdout)
        self.check(subprocess.CompletedProcess(p.args, p.returncode, out, errs), 0)
        self.assertEqual(out.count("replay: removed SCRAM-SHA-512-PLUS, SCRAM-SHA-256-PLUS, "
                                   "SCRAM-SHA-1-PLUS from the recorded stream features "
                                   "(--serve does not do channel binding)\n"), 1, out)
        self.assertIn("authenticated with SCRAM-SHA-1\n", out)
        self.assertIn("0 different, 0 missing, 0 unexpected", out)

    def test_zlib_refused_is_an_error(self):
        rec = self.zlib_recording()
        hdr = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
               "xmlns:stream='http://etherx.jabber.org/streams' from='localhost' "
               "id='%s' version='1.0'>")
        lsock = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(lsock.close)

        def server():
            conn, _ = lsock.accept()
            conn.settimeout(10)
            buf = b""

            def until(pattern):
                nonlocal buf
                while not re.search(pattern, buf):
                    data = conn.recv(4096)
                    if not data:
                        raise EOFError(pattern)
                    buf += data
                buf = b""
            try:
                until(rb"<stream:stream[^>]*>")
                conn.sendall((hdr % "s1" + "<stream:features><mechanisms xmlns="
                              "'urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN"
                              "</mechanism></mechanisms></stream:features>").encode())
                until(rb"</auth>")
                conn.sendall(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
                until(rb"<stream:stream[^>]*>")
                conn.sendall((hdr % "s2" + "<stream:features><compression xmlns="
                              "'http://jabber.org/features/compress'><method>zlib"
                              "</method></compression><bind xmlns='urn:ietf:params:"
                              "xml:ns:xmpp-bind'/></stream:features>").encode())
                until(rb"</compress>")
                conn.sendall(b"<failure xmlns='http://jabber.org/protocol/compress'>"
                             b"<setup-failed/></failure>")
                while conn.recv(4096):  # until replay goes
                    pass
            except (OSError, EOFError):
                pass
            finally:
                conn.close()
        t = threading.Thread(target=server, daemon=True)
        t.start()
        r = run_xmitm("replay", rec, "--server", "127.0.0.1:%d" % lsock.getsockname()[1],
                      "--tls", "none", "--password", USERS["alice"], "--timeout", "3")
        t.join(10)
        self.check(r, 2)
        self.assertIn("the server no longer offers SCRAM-SHA-1; authenticating with PLAIN",
                      r.stdout)
        self.assertEqual(r.stderr, "xmitm: replay: #1 alice@localhost: the server offered "
                         "XEP-0138 zlib compression, which the recording negotiated, but "
                         "refused it: <failure><setup-failed/></failure>\n")


if __name__ == "__main__":
    peers.run_tests()
