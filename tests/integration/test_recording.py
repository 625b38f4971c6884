#!/usr/bin/python3
"""Recording, show, JSON output, Wireshark export, captures: real peers.

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_recording.py

Sessions are real slixmpp clients through xmitm to a throwaway prosody on
loopback. What the tests hold xmitm to:
  * `xmitm show REC` prints exactly (byte for byte) what the live proxy
    printed, with the same options;
  * the recording holds every byte the peers exchanged (checked against a
    byte-recording tap between xmitm and prosody);
  * after SIGKILL every complete line is there and readable;
  * damaged, empty and foreign files give one clear message;
  * `tshark -r` on the exported capture lists the stanzas;
  * a tcpdump capture of the same cleartext session reads back as the same
    stanzas as xmitm's own recording.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import client  # noqa: E402
import peers  # noqa: E402

XMITM = os.environ.get("XMITM")
BODY = "recorded <&> \u2603 message"



def wait_for(pred, timeout=15.0):
    return peers.wait_for(pred, timeout)


def run_xmitm(*args, timeout=60):
    return subprocess.run([XMITM] + list(args), capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def events(path):
    with open(path, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    return lines[0], lines[1:]


class RecordingTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        for tool in ("tshark", "tcpdump"):
            if shutil.which(tool) is None:
                raise RuntimeError("%s not found: scripts/dev.sh deps installs it" % tool)
        cls.users = {"alice": "alice-pw", "bob": "bob-pw"}
        cls.tls = peers.Prosody(users=cls.users, tls_required=True)
        cls.tls.start()
        cls.plain = peers.Prosody(users=cls.users)
        cls.plain.start()

    @classmethod
    def tearDownClass(cls):
        cls.tls.stop()
        cls.plain.stop()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="xmitm-rec-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def xmitm(self, server, *extra, upstream=None):
        args = list(extra)
        if server is self.tls:
            args += ["--upstream-ca", server.cert]
        x = peers.Xmitm("127.0.0.1", upstream or server.port, extra_args=args)
        x.start()
        self.addCleanup(x.cleanup)
        return x

    def login(self, server, x, user, **kw):
        if server is self.tls:
            kw.update(tls=True, ca=x.ca_cert, tls_name="localhost")
        kw.setdefault("timeout", 20)
        return client.run(server.jid(user), self.users[user], "127.0.0.1",
                          x.port, **kw)

    def conversation(self, server, x, ready=None, **alice_kw):
        """bob waits for a message; alice logs in and sends it. ready():
        bob's session is up (default: xmitm printed a presence)."""
        results = {}
        bob = threading.Thread(target=lambda: results.__setitem__(
            "bob", self.login(server, x, "bob", expect_body=BODY)))
        bob.start()
        self.assertTrue(wait_for(ready or (lambda: "presence" in x.output())),
                        "bob's session did not come up\n" + x.describe())
        results["alice"] = self.login(server, x, "alice", send_to=server.jid("bob"),
                                      body=BODY, **alice_kw)
        bob.join(30)
        self.assertIsNone(results.get("alice"), results)
        self.assertIsNone(results.get("bob"), results)

    def stop_ok(self, x):
        rc = x.stop()
        self.assertEqual(rc, 0, "xmitm exited %r\n%s" % (rc, x.describe()))
        return x.output()

    # ---- record and show ----

    def test_show_reproduces_live_output(self):
        rec = self.path("s.jsonl")
        x = self.xmitm(self.tls, "--record", rec, "--utc")
        self.conversation(self.tls, x)
        live = self.stop_ok(x)
        self.assertEqual(os.stat(rec).st_mode & 0o777, 0o600)
        r = run_xmitm("show", "--color=never", "--utc", rec)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, b"")
        self.assertEqual(r.stdout.decode(), live)
        # Other options: the same as the live printer would do with them.
        r = run_xmitm("show", "--color=always", rec)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"\x1b[1;32mC->S\x1b[0m \x1b[2m[tls]\x1b[0m \x1b[2mmessage", r.stdout[:100000])
        r = run_xmitm("show", "--color=never", "--max-text=8", rec)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue("<body>recorded…[+".encode() in r.stdout, "no shortened body")

        header, evs = events(rec)
        self.assertEqual(header["format"], "xmitm-recording")
        self.assertEqual(header["format_version"], 2)
        self.assertEqual(header["secrets"], "redacted")
        kinds = {e["ev"] for e in evs}
        self.assertTrue({"open", "stream-open", "stanza", "layer", "sasl", "note",
                         "stream-close", "close"} <= kinds, kinds)
        tls = [e for e in evs if e["ev"] == "layer" and e.get("layer") == "tls"]
        self.assertEqual(len(tls), 4)  # client and server leg, two connections
        server_leg = [e for e in tls if e["leg"] == "server"][0]
        self.assertRegex(server_leg["tls_version"], r"TLSv1\.[23]")
        self.assertEqual(server_leg["cert"]["subject"], "CN=localhost")
        self.assertEqual(server_leg["verified"], "localhost")
        msgs = [e for e in evs if e["ev"] == "stanza" and e["name"] == "message"]
        body = "<body>recorded &lt;&amp;&gt; \u2603 message</body>"
        self.assertEqual([(m["conn"], m["dir"]) for m in msgs if body in m["xml"]],
                         [(2, "c2s"), (1, "s2c")])
        self.assertTrue(all(m["tls"] for m in msgs))
        opens = [e for e in evs if e["ev"] == "open"]
        self.assertRegex(opens[0]["client"], r"^127\.0\.0\.1:\d+$")
        closes = [e for e in evs if e["ev"] == "close"]
        self.assertEqual(len(closes), 2)
        self.assertTrue(all(c["c2s_bytes"] > 0 and c["s2c_bytes"] > 0 for c in closes))

    def test_json_output_live_and_show(self):
        rec = self.path("j.jsonl")
        x = self.xmitm(self.tls, "--record", rec, "--json")
        self.conversation(self.tls, x)
        live = self.stop_ok(x)
        lines = [json.loads(line) for line in live.splitlines()]
        self.assertEqual(lines[0]["format"], "xmitm-recording")
        _, evs = events(rec)
        self.assertEqual(lines[1:], evs)
        r = run_xmitm("show", "--json", rec)
        self.assertEqual(r.returncode, 0, r.stderr)
        shown = [json.loads(line) for line in r.stdout.decode().splitlines()]
        self.assertEqual(shown[1:], evs)

    def test_recording_holds_every_byte_exchanged(self):
        # Cleartext, with a byte-recording tap between xmitm and prosody:
        # the recorded events of each direction rebuild exactly what the
        # server received and sent.
        rec = self.path("b.jsonl")
        with peers.Tap("127.0.0.1", self.plain.port) as tap:
            x = self.xmitm(self.plain, "--record", rec, "--record-secrets",
                           upstream=tap.port)
            self.conversation(self.plain, x)
            self.stop_ok(x)
            tap.wait_idle(2)
            conns = tap.conns
        self.assertEqual(len(conns), 2)
        self.assert_rebuilds(rec, conns)

    def assert_rebuilds(self, rec, conns):
        """The recorded events of each direction rebuild exactly the bytes
        the tap saw (conns, numbered from 1 as in the recording)."""
        header, evs = events(rec)
        self.assertEqual(header["secrets"], "recorded")
        rebuilt = {}
        for e in evs:
            key = (e["conn"], e.get("dir"))
            if e["ev"] in ("stream-open", "stanza"):
                rebuilt.setdefault(key, []).append(e["xml"].encode())
            elif e["ev"] == "keepalive":
                rebuilt.setdefault(key, []).append(b" " * e["count"])
            elif e["ev"] == "stream-close":
                rebuilt.setdefault(key, []).append(b"</stream:stream>")
        for i, conn in enumerate(conns, start=1):
            self.assertEqual(b"".join(rebuilt[(i, "c2s")]), conn.c2s)
            self.assertEqual(b"".join(rebuilt[(i, "s2c")]), conn.s2c)

    def test_long_recording_holds_every_byte(self):
        # Recordings are written behind every 2 MiB (ui/files.c: what is
        # on disk leaves the page cache). About 6 MiB of messages through
        # xmitm and a byte-recording tap: the steps run, and the file
        # still rebuilds every byte prosody received and sent.
        rec = self.path("long.jsonl")
        with peers.Tap("127.0.0.1", self.plain.port) as tap:
            x = self.xmitm(self.plain, "--record", rec, "--record-secrets",
                           upstream=tap.port)
            err = self.login(self.plain, x, "alice", rounds=(48,), pad=60000)
            self.assertIsNone(err, x.describe())
            self.stop_ok(x)
            tap.wait_idle(2)
            conns = tap.conns
        self.assertGreater(os.path.getsize(rec), 5 << 20)
        self.assertEqual(len(conns), 1)
        self.assert_rebuilds(rec, conns)

    def test_secrets_redacted_unless_asked(self):
        rec = self.path("r.jsonl")
        x = self.xmitm(self.tls, "--record", rec)
        self.assertIsNone(self.login(self.tls, x, "alice", mech="PLAIN"))
        self.stop_ok(x)
        plain = base64.b64encode(b"\0alice\0alice-pw")
        with open(rec, "rb") as f:
            data = f.read()
        self.assertNotIn(b"alice-pw", data)
        self.assertNotIn(plain, data)
        auth = [e for e in events(rec)[1] if e["ev"] == "stanza" and e["name"] == "auth"][0]
        self.assertEqual(auth["redacted"], len(plain))
        self.assertIn("*" * len(plain), auth["xml"])
        sasl = [e for e in events(rec)[1] if e["ev"] == "sasl"][0]
        pw = [f for f in sasl["fields"] if f["name"] == "password"][0]
        self.assertNotIn("value", pw)
        self.assertEqual(pw["len"], len("alice-pw"))
        r = run_xmitm("show", "--color=never", "--show-secrets", rec)
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"recorded without --record-secrets", r.stderr)
        self.assertNotIn(b"alice-pw", r.stdout)

        rec2 = self.path("r2.jsonl")
        x = self.xmitm(self.tls, "--record", rec2, "--record-secrets")
        self.assertIsNone(self.login(self.tls, x, "alice", mech="PLAIN"))
        self.stop_ok(x)
        with open(rec2, "rb") as f:
            self.assertIn(plain, f.read())
        r = run_xmitm("show", "--color=never", "--show-secrets", rec2)
        self.assertIn(b"password='alice-pw'", r.stdout)
        r = run_xmitm("show", "--color=never", rec2)
        self.assertNotIn(b"alice-pw", r.stdout)

    # ---- filters ----

    def test_filters_live_and_show(self):
        rec = self.path("f.jsonl")
        x = self.xmitm(self.tls, "--record", rec, "--kind", "message")

        def bob_ready():
            with open(rec, "rb") as f:
                return b'"name":"presence"' in f.read()
        self.conversation(self.tls, x, ready=bob_ready)
        live = self.stop_ok(x)
        heads = [line for line in live.splitlines() if not line.startswith(" ")]
        self.assertEqual(len(heads), 2, live)
        self.assertTrue(all(" message, " in h for h in heads), live)

        def show(*opts):
            r = run_xmitm("show", "--color=never", *opts, rec)
            self.assertEqual(r.returncode, 0, r.stderr)
            return [line for line in r.stdout.decode().splitlines()
                    if not line.startswith(" ")]

        # The recording is complete whatever was printed live.
        self.assertEqual(show("--kind", "message"), heads)
        self.assertGreater(len(show()), 40)
        self.assertEqual(len(show("--conn", "1", "--dir", "s2c", "--kind", "message")), 1)
        self.assertEqual(len(show("--jid", "bob@localhost", "--kind", "message")), 2)
        self.assertEqual(len(show("--jid", "bob@localhost/nope", "--kind", "message")), 0)
        roster = show("--ns", "jabber:iq:roster")
        self.assertEqual(len(roster), 4, roster)   # get and result, twice
        self.assertTrue(all(" iq, " in h for h in roster), roster)
        self.assertEqual(len(show("--grep", "recorded <", "--kind", "message")), 0)
        self.assertEqual(len(show("--grep", "recorded &lt;", "--kind", "message")), 2)
        # SASL decodes go with their stanza.
        r = run_xmitm("show", "--color=never", "--ns", "urn:ietf:params:xml:ns:xmpp-sasl", rec)
        self.assertEqual(r.stdout.decode().count("decoded: SASL"),
                         r.stdout.decode().count("[tls] auth,")
                         + r.stdout.decode().count("[tls] challenge,")
                         + r.stdout.decode().count("[tls] response,")
                         + r.stdout.decode().count("[tls] success,"))
        r = run_xmitm("show", "--dir", "up", rec)
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad --dir 'up'", r.stderr.decode())

    # ---- crashes and damage ----

    def test_sigkill_keeps_every_complete_line(self):
        rec = self.path("k.jsonl")
        x = self.xmitm(self.tls, "--record", rec)
        done = {}
        bob = threading.Thread(target=lambda: done.__setitem__(
            "bob", self.login(self.tls, x, "bob", expect_body="never sent",
                              timeout=8)))
        bob.start()
        self.assertTrue(wait_for(lambda: "presence" in x.output()), x.describe())
        time.sleep(0.5)   # bob's session is idle: everything printed is final
        live = x.output()
        x.proc.send_signal(signal.SIGKILL)
        x.proc.wait()
        bob.join(15)
        with open(rec, "rb") as f:
            data = f.read()
        self.assertTrue(data.endswith(b"\n"))
        for line in data.splitlines():
            json.loads(line)
        r = run_xmitm("show", "--color=never", rec)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), live)

        # Cut the last line in half, as a crash mid-write would.
        cut = self.path("cut.jsonl")
        last = data.rstrip(b"\n").rfind(b"\n")
        with open(cut, "wb") as f:
            f.write(data[:last + 1 + (len(data) - last) // 2])
        r = run_xmitm("show", "--color=never", cut)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr.decode(), r"cut\.jsonl: line \d+: the last line is cut short")
        self.assertTrue(live.startswith(r.stdout.decode()))
        self.assertGreater(len(r.stdout), len(live) // 2)

    def test_bad_files(self):
        cases = {
            "empty": (b"", "is empty: not an xmitm recording"),
            "garbage": (os.urandom(4096), "is not an xmitm recording or a packet capture"),
            "text": (b"hello world\nsecond line\n", "is not an xmitm recording or a packet capture"),
            "json": (b'{"some":"json"}\n', "not a recording header"),
            "newer": (b'{"format":"xmitm-recording","format_version":99}\n',
                      "format version 99"),
        }
        for name, (content, message) in cases.items():
            p = self.path(name)
            with open(p, "wb") as f:
                f.write(content)
            for cmd in (["show", p], ["export", "--pcap", self.path("o.pcap"), p]):
                r = run_xmitm(*cmd)
                self.assertEqual(r.returncode, 1, (name, cmd, r))
                self.assertIn(message, r.stderr.decode(), (name, cmd))
                self.assertEqual(r.stderr.decode().count("\n"), 1, r.stderr)
        r = run_xmitm("show", self.path("missing"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot open", r.stderr.decode())
        r = run_xmitm("show")
        self.assertEqual(r.returncode, 2)
        # A damaged line in the middle is skipped with its line number.
        p = self.path("mid")
        with open(p, "wb") as f:
            f.write(b'{"format":"xmitm-recording","format_version":1}\n'
                    b'{"t":1,"conn":1,"ev":"open","text":"client x"}\n'
                    b'{not json\n'
                    b'{"t":2,"conn":1,"ev":"future-kind"}\n'
                    b'{"t":3,"conn":1,"ev":"close","text":"done","c2s_bytes":1,"s2c_bytes":2}\n')
        r = run_xmitm("show", "--color=never", p)
        self.assertEqual(r.returncode, 0)
        self.assertIn("line 3: not a JSON object", r.stderr.decode())
        self.assertIn("line 4: unknown event 'future-kind'", r.stderr.decode())
        self.assertIn(b"closed: done (client sent 1 bytes, server sent 2 bytes)", r.stdout)

    def test_write_error_is_reported_once_and_proxying_goes_on(self):
        x = self.xmitm(self.tls, "--record", "/dev/full")
        self.conversation(self.tls, x)
        self.stop_ok(x)
        err = x.errors()
        self.assertEqual(err.count("writing /dev/full failed"), 1, err)
        self.assertIn("No space left on device", err)

    def test_existing_file_becomes_private(self):
        rec = self.path("old.jsonl")
        with open(rec, "w") as f:
            f.write("old content\n")
        os.chmod(rec, 0o644)
        x = self.xmitm(self.tls, "--record", rec)
        self.stop_ok(x)
        self.assertEqual(os.stat(rec).st_mode & 0o777, 0o600)
        with open(rec) as f:
            self.assertNotIn("old content", f.read())

    # ---- Wireshark ----

    def tshark_messages(self, pcap):
        """(tcp stream, payload) of each packet the XMPP dissector calls a
        message."""
        r = subprocess.run(["tshark", "-r", pcap, "-Y", "xmpp.message", "-T", "fields",
                            "-e", "tcp.stream", "-e", "tcp.payload"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = []
        for line in r.stdout.splitlines():
            stream, payload = line.split("\t")
            out.append((int(stream), bytes.fromhex(payload.replace(":", ""))))
        return out

    def test_export_and_live_pcap_read_by_tshark(self):
        rec = self.path("w.jsonl")
        live_pcap = self.path("live.pcap")
        x = self.xmitm(self.tls, "--record", rec, "--pcap", live_pcap)
        self.conversation(self.tls, x)
        self.stop_ok(x)
        self.assertEqual(os.stat(live_pcap).st_mode & 0o777, 0o600)
        out = self.path("export.pcap")
        r = run_xmitm("export", "--pcap", out, rec)
        self.assertEqual(r.returncode, 0, r.stderr)
        body = "<body>recorded &lt;&amp;&gt; \u2603 message</body>".encode()
        for pcap in (out, live_pcap):
            msgs = self.tshark_messages(pcap)
            # alice's message to the server, and the server's to bob, both
            # in the phase after STARTTLS: TCP streams 1 and 3 (0 and 2 end
            # at <proceed/>).
            self.assertEqual(sorted(s for s, p in msgs if body in p), [1, 3], msgs)
            # No TLS dissection anywhere: every phase is plaintext XML.
            r = subprocess.run(["tshark", "-r", pcap, "-Y", "tls"], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.stdout.strip(), "")
            r = subprocess.run(["tshark", "-r", pcap, "-Y", "tcp.analysis.flags"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.stdout.strip(), "", "TCP problems in the capture")

    # ---- captures taken by tcpdump ----

    def test_tcpdump_capture_reads_like_the_recording(self):
        rec = self.path("c.jsonl")
        cap = self.path("c.pcap")
        tcpdump = subprocess.Popen(
            ["tcpdump", "-Z", "root", "--immediate-mode", "-i", "lo", "-U", "-w", cap, "-s", "0",
             "tcp port %d" % self.plain.port],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(lambda: tcpdump.poll() is None and tcpdump.kill())
        # tcpdump says "listening on lo" once its filter is in place.
        line = tcpdump.stderr.readline().decode()
        self.assertIn("listening on", line)
        x = self.xmitm(self.plain, "--record", rec, "--record-secrets")
        self.conversation(self.plain, x)
        self.stop_ok(x)
        time.sleep(0.5)
        tcpdump.send_signal(signal.SIGINT)
        _, err = tcpdump.communicate(timeout=10)

        def stanzas(path):
            r = run_xmitm("show", "--json", path)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr, b"")
            evs = [json.loads(line) for line in r.stdout.decode().splitlines()[1:]]
            per = {}
            for e in evs:
                if e["ev"] in ("stanza", "stream-open"):
                    per.setdefault((e["conn"], e["dir"]), []).append(e["xml"])
            return per

        # The capture is of xmitm's upstream side: the same bytes.
        self.assertGreater(os.path.getsize(cap), 1000, err)
        self.assertEqual(stanzas(cap), stanzas(rec))
        # The same capture as pcapng (what dumpcap and tshark write).
        capng = self.path("c.pcapng")
        r = subprocess.run(["editcap", "-F", "pcapng", cap, capng], capture_output=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(capng, "rb") as f:
            self.assertEqual(f.read(4), b"\x0a\x0d\x0d\x0a")
        self.assertEqual(stanzas(capng), stanzas(rec))
        r = run_xmitm("show", "--color=never", cap)
        self.assertIn("<body>recorded &lt;&amp;&gt; \u2603 message</body>",
                      r.stdout.decode())
        self.assertRegex(r.stdout.decode(), r"decoded: SASL SCRAM-SHA-\d+ auth")


if __name__ == "__main__":
    peers.run_tests()
