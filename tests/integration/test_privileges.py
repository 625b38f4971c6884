#!/usr/bin/python3
"""Least privilege: private files, a loopback listener by default, and
`xmitm proxy --user NAME` (started as root, it runs as NAME with only the
capabilities it needs), and `xmitm replay --serve --user NAME`.

Run (as root: the --user tests start xmitm as root):
    XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_privileges.py
Exit status 0 all passed, 1 a failure (a missing binary, peer or root
fails, it is never skipped).

What is checked:
  * the CA key xmitm makes, recordings, captures and key logs are 0600 even
    under umask 0; existing recordings and captures are replaced by new
    0600 files, an existing key log is appended to only if it is private
    (the CA directory 0700); symbolic links: test_hostile.py
    test_output_files_through_links;
  * with no --listen, xmitm listens on 127.0.0.1:5222 only (in a network
    namespace of its own, so nothing else can hold the port);
  * --user nobody: after binding, every uid and gid is nobody's, no
    capability is left in any set (bounding included), no_new_privs is set,
    one line says so; a STARTTLS session through it works and lands in the
    recording it opened as root;
  * --user nobody --mark 7: CAP_NET_ADMIN alone is kept (effective,
    permitted, bounding), and SO_MARK works on each upstream connection;
  * --user for an unknown user, or when not root: exit 1, one line;
  * replay --serve --user nobody: the same drop once listening; a client's
    login recorded through the proxy is played to the end (exit 0), the
    recording, CA and --junit report in a directory only root may enter
    (read and created before the drop, the report written after it);
    an unknown user, or not root: exit 2, the proxy's line, nothing opened.
(--tproxy --keep-source --user nobody in network namespaces:
test_transparent.py test_tproxy_keep_source_as_nobody.)
"""

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import client  # noqa: E402
import peers   # noqa: E402

XMITM = os.environ.get("XMITM")
USERS = {"alice": "alice-Pw-priv", "bob": "bob-Pw-priv"}
CAP_NET_ADMIN = 1 << 12
NOBODY = 65534


def status(pid):
    """/proc/PID/status as a dict of its fields."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def umask0():
    os.umask(0)


class PrivilegesTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        if os.geteuid() != 0:
            raise RuntimeError("these tests start xmitm as root: run them as "
                               "root (scripts/dev.sh does)")
        for tool in ("setpriv", "unshare", "ip"):
            if shutil.which(tool) is None:
                raise RuntimeError("%s not found: apt-get install util-linux "
                                   "iproute2" % tool)
        cls.prosody = peers.Prosody(users=USERS, tls_required=True,
                                    debug_log=False)
        cls.prosody.start()

    @classmethod
    def tearDownClass(cls):
        cls.prosody.stop()

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="xmitm-priv-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    # ---- files ----

    def test_ca_key_is_private(self):
        """The CA xmitm makes on first use, under umask 0: key 0600, its
        directory 0700, the certificate 0644."""
        d = self.tmpdir()
        env = dict(os.environ, XDG_DATA_HOME=os.path.join(d, "data"))
        r = subprocess.run([XMITM, "ca", "path"], env=env, capture_output=True,
                           text=True, timeout=30, preexec_fn=umask0)
        self.assertEqual(r.returncode, 0, r.stderr)
        ca_dir = os.path.join(d, "data", "xmitm")
        self.assertEqual(r.stdout.strip(), os.path.join(ca_dir, "ca.pem"))
        self.assertEqual(mode(os.path.join(ca_dir, "ca-key.pem")), 0o600)
        self.assertEqual(mode(ca_dir), 0o700)
        self.assertEqual(mode(os.path.join(ca_dir, "ca.pem")), 0o644)

    def test_output_files_are_private(self):
        """--record, --pcap and --keylog under umask 0: new files 0600;
        existing world-readable recordings and captures replaced by new
        0600 files, an existing private key log appended to."""
        d = self.tmpdir()
        for existing in (False, True):
            paths = {k: os.path.join(d, "%s-%s" % (k, existing))
                     for k in ("record", "pcap", "keylog")}
            if existing:
                for k, p in paths.items():
                    with open(p, "w") as f:
                        f.write("old\n")
                    os.chmod(p, 0o600 if k == "keylog" else 0o666)
            x = peers.Xmitm("127.0.0.1", self.prosody.port, extra_args=[
                "--upstream-ca", self.prosody.cert, "--record",
                paths["record"], "--pcap", paths["pcap"], "--keylog",
                paths["keylog"]])
            x.start()   # peers.Xmitm does not take preexec_fn: umask below
            self.addCleanup(x.cleanup)
            self.assertIsNone(self.login(x, "alice"))
            self.assertEqual(x.stop(), 0, x.describe())
            for k, p in paths.items():
                self.assertEqual(mode(p), 0o600, "%s (existing: %s)"
                                 % (k, existing))
            if existing:
                with open(paths["keylog"]) as f:
                    self.assertTrue(f.read().startswith("old\n"))
        # The same under umask 0, new files only.
        paths = [os.path.join(d, n) for n in ("r0", "p0", "k0")]
        r = subprocess.Popen(
            [XMITM, "proxy", "--listen", "127.0.0.1:%d" % peers.free_port(),
             "--upstream", "127.0.0.1:%d" % self.prosody.port, "--record",
             paths[0], "--pcap", paths[1], "--keylog", paths[2], "-q"],
            env=dict(os.environ, XDG_DATA_HOME=os.path.join(d, "data")),
            stderr=subprocess.PIPE, preexec_fn=umask0)
        self.addCleanup(lambda: r.poll() is None and r.kill())
        # Its SIGTERM handler is set up after the listening line.
        line = r.stderr.readline()
        self.assertIn(b"xmitm: listening on", line)
        time.sleep(0.3)
        self.assertTrue(all(os.path.exists(p) for p in paths))
        r.terminate()
        self.assertEqual(r.wait(10), 0, r.stderr.read())
        r.stderr.close()
        for p in paths:
            self.assertEqual(mode(p), 0o600, p)

    def test_listener_defaults_to_loopback(self):
        """No --listen: 127.0.0.1:5222, and nothing else."""
        port = 5222
        p = subprocess.Popen(
            ["unshare", "--net", "sh", "-c",
             "ip link set lo up && exec \"$0\" proxy --upstream 127.0.0.1:1 "
             "--color=never", XMITM],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, XDG_DATA_HOME=self.tmpdir()))
        self.addCleanup(lambda: p.poll() is None and p.kill())
        listening = []
        deadline = time.monotonic() + 10
        while not listening and time.monotonic() < deadline:
            time.sleep(0.1)
            for name in ("tcp", "tcp6"):
                try:
                    with open("/proc/%d/net/%s" % (p.pid, name)) as f:
                        next(f)
                        listening += [l.split()[1] for l in f
                                      if l.split()[3] == "0A"]
                except OSError:
                    pass
        p.terminate()
        rc = p.wait(10)
        err = p.stderr.read()
        p.stderr.close()
        self.assertEqual(listening, ["0100007F:%04X" % port], err)
        self.assertEqual(rc, 0, err)
        self.assertIn("xmitm: listening on 127.0.0.1:5222", err)

    # ---- --user ----

    def login(self, x, user):
        return client.run(self.prosody.jid(user), USERS[user], "127.0.0.1",
                          x.port, tls=True, ca=x.ca_cert, tls_name="localhost",
                          timeout=20)

    def start_as_root(self, *extra):
        d = self.tmpdir()
        os.chmod(d, 0o700)     # nobody cannot even look: files opened as root
        rec = os.path.join(d, "rec.jsonl")
        x = peers.Xmitm("127.0.0.1", self.prosody.port, extra_args=[
            "--upstream-ca", self.prosody.cert, "--record", rec] + list(extra))
        self.addCleanup(x.cleanup)
        x.start()
        return x, rec

    def assert_dropped(self, pid, errors, caps):
        """Once errors() (its stderr so far) says so, process pid runs as
        nobody with the capabilities caps and no other."""
        deadline = time.monotonic() + 5
        while "running as user" not in errors() and time.monotonic() < deadline:
            time.sleep(0.05)
        st = status(pid)
        self.assertEqual(st["Uid"], [str(NOBODY)] * 4, st)
        self.assertEqual(st["Gid"], [str(NOBODY)] * 4, st)
        self.assertEqual(st["Groups"], [str(NOBODY)], st)
        for field in ("CapEff", "CapPrm", "CapBnd"):
            self.assertEqual(int(st[field][0], 16), caps, (field, st[field]))
        for field in ("CapInh", "CapAmb"):
            self.assertEqual(int(st[field][0], 16), 0, (field, st[field]))
        self.assertEqual(st["NoNewPrivs"], ["1"])

    def conversation(self, x):
        body = "as nobody <&>"
        res = {}
        bob = threading.Thread(target=lambda: res.__setitem__(
            "bob", client.run(self.prosody.jid("bob"), USERS["bob"],
                              "127.0.0.1", x.port, tls=True, ca=x.ca_cert,
                              tls_name="localhost", expect_body=body,
                              timeout=20)))
        bob.start()
        deadline = time.monotonic() + 20
        while "[tls] presence" not in x.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        res["alice"] = client.run(self.prosody.jid("alice"), USERS["alice"],
                                  "127.0.0.1", x.port, tls=True, ca=x.ca_cert,
                                  tls_name="localhost",
                                  send_to=self.prosody.jid("bob"), body=body,
                                  timeout=20)
        bob.join(30)
        self.assertEqual((res.get("alice"), res.get("bob")), (None, None),
                         x.describe())
        return body

    def test_user_drops_everything(self):
        """--user nobody: nobody's ids, no capability at all, no_new_privs;
        TLS interception and the recording (opened as root) still work."""
        x, rec = self.start_as_root("--user", "nobody")
        self.assert_dropped(x.proc.pid, x.errors, 0)
        self.conversation(x)
        self.assertEqual(x.stop(), 0, x.describe())
        self.assertIn("xmitm: running as user nobody (uid 65534, gid 65534); "
                      "capabilities kept: none\n", x.errors())
        self.assertNotIn("error:", x.output())
        with open(rec) as f:
            self.assertIn("as nobody &lt;&amp;&gt;", f.read())
        self.assertEqual(os.stat(rec).st_uid, 0)
        self.assertEqual(mode(rec), 0o600)

    def test_user_keeps_net_admin_for_mark(self):
        """--user nobody --mark 7: CAP_NET_ADMIN alone stays, and SO_MARK is
        set on every upstream connection (no `cannot set --mark`)."""
        x, rec = self.start_as_root("--user", "nobody", "--mark", "7")
        self.assert_dropped(x.proc.pid, x.errors, CAP_NET_ADMIN)
        self.conversation(x)
        # Both clients are done; their sessions close as the server answers
        # (stopping xmitm first would close them "stopping" instead).
        deadline = time.monotonic() + 10
        while (x.output().count("closed: both sides closed") < 2
               and time.monotonic() < deadline):
            time.sleep(0.05)
        self.assertEqual(x.stop(), 0, x.describe())
        self.assertIn("capabilities kept: CAP_NET_ADMIN (for --mark and "
                      "--keep-source)\n", x.errors())
        self.assertNotIn("cannot set --mark", x.output())
        self.assertEqual(x.output().count("closed: both sides closed"), 2,
                         x.output())

    def test_user_errors(self):
        """An unknown user, or not started as root: exit 1, one line, no
        listener."""
        port = peers.free_port()
        self.check_user_errors([XMITM, "proxy", "--listen", "127.0.0.1:%d" % port,
                                "--upstream", "127.0.0.1:1"], 1)
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))   # nothing kept it

    def check_user_errors(self, base, status):
        """base + --user for an unknown user, then as nobody: each exits
        with status and prints one line on stderr, nothing on stdout."""
        r = subprocess.run(base + ["--user", "no-such-user-xmitm"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (status, "", "xmitm: --user: there is no user "
                                      "'no-such-user-xmitm' on this system\n"))
        r = subprocess.run(["setpriv", "--reuid=%d" % NOBODY,
                            "--regid=%d" % NOBODY, "--clear-groups"] + base
                           + ["--user", "nobody"],
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, XDG_DATA_HOME="/nonexistent"))
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (status, "", "xmitm: --user drops root's privileges, "
                                      "but xmitm is not running as root (uid "
                                      "65534); start it as root, or leave out "
                                      "--user\n"))

    # ---- replay --serve --user ----

    def record_alice(self, rec):
        """alice's STARTTLS login recorded through the proxy into rec."""
        x = peers.Xmitm("127.0.0.1", self.prosody.port, extra_args=[
            "--upstream-ca", self.prosody.cert, "--record", rec, "-q"])
        self.addCleanup(x.cleanup)
        x.start()
        self.assertIsNone(self.login(x, "alice"))
        self.assertEqual(x.stop(), 0, x.describe())

    def test_replay_serve_user_drops_everything(self):
        """replay --serve --user nobody: the recording, the CA and the
        --junit report live in a directory only root may enter; once
        listening it runs as nobody with no capability, the client's login
        is played to the end (exit 0) and the report, created as root
        before the drop, holds the result."""
        d = self.tmpdir()
        os.chmod(d, 0o700)     # nobody cannot even look: files opened as root
        rec = os.path.join(d, "rec.jsonl")
        junit = os.path.join(d, "serve.xml")
        self.record_alice(rec)
        logs = self.tmpdir()
        out_path, err_path = (os.path.join(logs, n) for n in ("stdout", "stderr"))
        port = peers.free_port()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            p = subprocess.Popen(
                [XMITM, "replay", rec, "--serve", "--listen",
                 "127.0.0.1:%d" % port, "--password", USERS["alice"],
                 "--timeout", "3", "--junit", junit, "--user", "nobody"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                env=dict(os.environ, XDG_DATA_HOME=os.path.join(d, "data")))
        self.addCleanup(lambda: p.poll() is None and p.kill())

        def read(path):
            with open(path) as f:
                return f.read()

        def describe():
            return "stdout:\n%s\nstderr:\n%s" % (read(out_path), read(err_path))
        peers.wait_listening(port, p, describe=describe)
        self.assert_dropped(p.pid, lambda: read(err_path), 0)
        self.assertIsNone(client.run(
            self.prosody.jid("alice"), USERS["alice"], "127.0.0.1", port,
            tls=True, ca=os.path.join(d, "data", "xmitm", "ca.pem"),
            tls_name="localhost", timeout=20), describe())
        self.assertEqual(p.wait(30), 0, describe())
        self.assertIn("xmitm: running as user nobody (uid 65534, gid 65534); "
                      "capabilities kept: none\n", read(err_path))
        self.assertIn("replay: SAME: the client behaved as recorded\n",
                      read(out_path))
        self.assertIsNone(peers.sanitizer_report(read(err_path)), describe())
        self.assertEqual(os.stat(junit).st_uid, 0)
        self.assertEqual(mode(junit), 0o600)
        root = ET.parse(junit).getroot()
        self.assertEqual((root.tag, root.get("tests"), root.get("failures"),
                          root.get("errors")), ("testsuites", "1", "0", "0"))
        self.assertEqual([t.get("name") for t in root.iter("testcase")],
                         ["#1 alice@localhost"])

    def test_replay_serve_user_errors(self):
        """replay --serve with an unknown user, or not started as root:
        exit 2 (replay's error status), the proxy's line, and nothing
        opened: no listener, no --junit file, the recording not read.
        --user without --serve is a usage error."""
        d = self.tmpdir()
        os.chmod(d, 0o777)     # nobody could create the report here
        junit = os.path.join(d, "serve.xml")
        port = peers.free_port()
        base = [XMITM, "replay", os.path.join(d, "no-such-recording.jsonl"),
                "--serve", "--listen", "127.0.0.1:%d" % port, "--junit", junit]
        self.check_user_errors(base, 2)
        self.assertFalse(os.path.exists(junit))
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))   # nothing kept it
        r = subprocess.run([XMITM, "replay", base[2], "--server",
                            "127.0.0.1:1", "--user", "nobody"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual((r.returncode, r.stderr),
                         (2, "xmitm: replay: --listen, --ca-cert, --ca-key "
                             "and --user go with --serve\n"))


if __name__ == "__main__":
    peers.run_tests()
