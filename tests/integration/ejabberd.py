#!/usr/bin/python3
"""A throwaway ejabberd 23.01 for xmitm's integration tests.

    with Ejabberd(users={"alice": "pw", "bob": "pw"}) as e:
        e.port          c2s, STARTTLS required, XEP-0138 zlib offered
        e.plain_port    c2s without TLS, zlib offered (inflate without TLS)
        e.tls_port      c2s direct TLS (XEP-0368), only with direct_tls=True
        e.http_port     with web=True: ejabberd_http, cleartext HTTP, with
                        /ws (ejabberd_http_ws, RFC 7395) and /bosh (mod_bosh)
        e.https_port    with web=True: the same over HTTPS (tls: true)
        e.web_url("ws"|"bosh", tls=False, host="localhost")
                        ws://, wss://, http://.../bosh, https://.../bosh
        e.cert          the self-signed certificate for `localhost` (PEM),
                        for xmitm's --upstream-ca
        e.certfile      key + certificate (PEM), what ejabberd serves
        e.dir           the instance's temp dir (owned by user ejabberd)

Everything lives in a temp dir owned by the `ejabberd` system user (ejabberdctl
switches to it): config, spool (mnesia), logs, pid file.  Nothing in
/etc/ejabberd, /var/lib/ejabberd or /var/log/ejabberd is used, and no epmd is
started: Erlang distribution listens on a free loopback port
(ERL_DIST_PORT, INET_DIST_INTERFACE) under a node name and a cookie unique to
the instance, so several instances (and a system ejabberd) can coexist.

`auth_password_format: plain` and `disable_sasl_mechanisms: []` turn
DIGEST-MD5 on (ejabberd then offers DIGEST-MD5, PLAIN, SCRAM-SHA-{1,256,512}
and their -PLUS variants).  Users are registered with `ejabberdctl register`
(mod_admin_extra) and get mutual roster items (subscription both) with
`add_rosteritem`, so presence flows between them without client work.

start() returns once every listener is up and the users exist (about 3 s
on a 2-core Debian 12 machine, most of it Erlang start-up); stop() runs `ejabberdctl stop` with the same flags, waits, then
kills what is left of THIS instance only (its process group, and any process
whose command line names its node).  Failures raise RuntimeError with the
tail of ejabberd's logs.

Run with Debian's /usr/bin/python3.  XMITM_KEEP_TMP=1 keeps the temp dir.
"""

import grp
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from peers import LOOPBACK, free_port, wait_listening, _tail

EJABBERDCTL = "/usr/sbin/ejabberdctl"
USER = "ejabberd"


def _yaml_str(s):
    """A YAML double-quoted scalar."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Ejabberd:
    """A throwaway ejabberd on 127.0.0.1, as a context manager (see the
    module docstring).  roster=True gives every pair of users mutual roster
    items; pass a list of (user, contact) pairs for fewer.

    For federation: netns runs it (and every ejabberdctl) in that network
    namespace, ip is the address its listeners bind (the Erlang
    distribution stays on the namespace's loopback), s2s_port opens an
    ejabberd_s2s_in listener there with STARTTLS required both ways,
    cert_files (certificate, key) replaces the self-signed certificate
    (ejabberd 23.01 crashes on an XmppAddr name in a peer's certificate
    and refuses a file that also holds CA certificates: DNS names only),
    ca_file is the `ca_file` it trusts peers' certificates with."""

    def __init__(self, users=None, domain="localhost", roster=True,
                 direct_tls=False, start_timeout=45.0, loglevel="info",
                 web=False, netns=None, ip=LOOPBACK, s2s_port=None,
                 cert_files=None, ca_file=None, modules=""):
        self.users = dict(users or {})
        self.web = web
        self.domain = domain
        self.roster = roster
        self.direct_tls = direct_tls
        self.start_timeout = start_timeout
        self.loglevel = loglevel
        self.netns = netns
        self.ip = ip
        self.s2s_port = s2s_port
        self.cert_files = cert_files
        self.ca_file = ca_file
        self.extra_modules = modules
        self.dir = None
        self.proc = None
        self.port = self.plain_port = self.tls_port = None
        self.http_port = self.https_port = None
        self.dist_port = None
        self.node = None
        self._out = None

    # ---- paths ----
    def _p(self, *names):
        return os.path.join(self.dir, *names)

    @property
    def cert(self):
        return self._p("cert.pem")

    @property
    def certfile(self):
        return self._p("server.pem")

    @property
    def config(self):
        return self._p("ejabberd.yml")

    @property
    def ctl_config(self):
        return self._p("ejabberdctl.cfg")

    def jid(self, user):
        return "%s@%s" % (user, self.domain)

    WEB_PATHS = {"ws": "/ws", "bosh": "/bosh"}

    def web_url(self, transport, tls=False, host="localhost"):
        """URL of the WebSocket ("ws") or BOSH ("bosh") endpoint (web=True),
        on the HTTPS listener with tls=True.  The certificate names
        localhost only."""
        port = self.https_port if tls else self.http_port
        if not port:
            raise ValueError("this ejabberd has no web listeners (web=True)")
        scheme = {("ws", False): "ws", ("ws", True): "wss",
                  ("bosh", False): "http", ("bosh", True): "https"}[
                      (transport, bool(tls))]
        return "%s://%s:%d%s" % (scheme, host, port,
                                 self.WEB_PATHS[transport])

    def log_tail(self, lines=40):
        parts = []
        for name in ("logs/ejabberd.log", "logs/error.log", "ejabberd.out"):
            path = self._p(name)
            if os.path.exists(path):
                parts.append("--- %s:\n%s" % (path, _tail(path, lines)))
        return "\n".join(parts) or "(no ejabberd logs in %s)" % self.dir

    # ---- set-up ----
    def _check_installed(self):
        if not os.access(EJABBERDCTL, os.X_OK):
            raise RuntimeError("%s not found: apt-get install ejabberd"
                               % EJABBERDCTL)
        if shutil.which("openssl") is None:
            raise RuntimeError("openssl not found: apt-get install openssl")
        try:
            pw = pwd.getpwnam(USER)
        except KeyError:
            raise RuntimeError("no system user %r: apt-get install ejabberd"
                               % USER)
        if os.geteuid() != 0:
            raise RuntimeError("ejabberdctl switches to user %r: run the "
                               "tests as root" % USER)
        return pw.pw_uid, grp.getgrnam(USER).gr_gid

    def _make_cert(self):
        key = self._p("key.pem")
        if self.cert_files:
            shutil.copyfile(self.cert_files[0], self.cert)
            shutil.copyfile(self.cert_files[1], key)
        else:
            r = subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                 "-keyout", key, "-out", self.cert, "-days", "30",
                 "-subj", "/CN=%s" % self.domain,
                 "-addext", "subjectAltName=DNS:%s,"
                 "otherName:1.3.6.1.5.5.7.8.5;UTF8:%s"
                 % (self.domain, self.domain)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                timeout=60)
            if r.returncode != 0:
                raise RuntimeError("openssl req failed:\n" + r.stdout)
        with open(self.certfile, "w") as out:
            for name in (key, self.cert):
                with open(name) as f:
                    out.write(f.read())
        os.remove(key)
        os.chmod(self.certfile, 0o600)

    def _write_configs(self):
        # The ctl config is sourced by ejabberdctl (a shell script) for the
        # server and for every ctl command alike.
        ctl = f"""# throwaway ejabberd, written by xmitm's tests/integration/ejabberd.py
ERLANG_NODE={self.node}
ERL_DIST_PORT={self.dist_port}
INET_DIST_INTERFACE=127.0.0.1
ERL_OPTIONS="-setcookie {self.cookie} -env ERL_CRASH_DUMP_BYTES 0"
EJABBERD_PID_PATH={self._p("ejabberd.pid")}
CONTRIB_MODULES_PATH={self._p("contrib")}
CONTRIB_MODULES_CONF_DIR={self._p("contrib", "conf")}
EJABBERD_BYPASS_WARNINGS=true
"""
        listeners = [
            # STARTTLS required
            f"""  - port: {self.port}
    ip: "{self.ip}"
    module: ejabberd_c2s
    starttls: true
    starttls_required: true
    zlib: true
    max_stanza_size: 262144
    shaper: none
    access: c2s""",
            # plaintext: no TLS at all
            f"""  - port: {self.plain_port}
    ip: "{self.ip}"
    module: ejabberd_c2s
    zlib: true
    max_stanza_size: 262144
    shaper: none
    access: c2s"""]
        if self.tls_port:
            listeners.append(f"""  - port: {self.tls_port}
    ip: "{self.ip}"
    module: ejabberd_c2s
    tls: true
    zlib: true
    max_stanza_size: 262144
    shaper: none
    access: c2s""")
        for port, tls in ((self.http_port, False), (self.https_port, True)):
            if port:
                listeners.append(f"""  - port: {port}
    ip: "{self.ip}"
    module: ejabberd_http
    tls: {"true" if tls else "false"}
    request_handlers:
      /ws: ejabberd_http_ws
      /bosh: mod_bosh""")
        bosh = "  mod_bosh: {}\n" if self.web else ""
        if self.s2s_port:
            listeners.append(f"""  - port: {self.s2s_port}
    ip: "{self.ip}"
    module: ejabberd_s2s_in
    max_stanza_size: 262144
    shaper: none""")
        s2s = ("s2s_access: all\ns2s_use_starttls: required\n"
               if self.s2s_port else "s2s_access: none\n")
        if self.ca_file:
            s2s += "ca_file: %s\n" % _yaml_str(self.ca_file)
        yml = f"""# throwaway ejabberd, written by xmitm's tests/integration/ejabberd.py
hosts:
  - {_yaml_str(self.domain)}
loglevel: {self.loglevel}
log_rotate_count: 0
certfiles:
  - {_yaml_str(self.certfile)}
acme:
  auto: false
listen:
{chr(10).join(listeners)}
{s2s}auth_method: internal
auth_password_format: plain
disable_sasl_mechanisms: []
acl:
  loopback:
    ip:
      - 127.0.0.0/8
access_rules:
  local:
    allow: all
  c2s:
    allow: all
  register:
    deny: all
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
shaper_rules:
  c2s_shaper: none
modules:
  mod_admin_extra: {{}}
  mod_disco: {{}}
  mod_ping: {{}}
  mod_roster:
    versioning: false
  mod_offline: {{}}
{bosh}{self.extra_modules}"""
        with open(self.ctl_config, "w") as f:
            f.write(ctl)
        # ejabberdctl points ERL_INETRC at DIR/inetrc; Erlang complains on
        # every start if it is missing.
        with open(self._p("inetrc"), "w") as f:
            f.write("{lookup, [file, native]}.\n")
        with open(self.config, "w") as f:
            f.write(yml)

    def _ctl_args(self):
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        return prefix + [EJABBERDCTL, "-c", self.ctl_config, "-f", self.config,
                "-s", self._p("spool"), "-l", self._p("logs"),
                "-d", self.dir]

    def ctl(self, *args, timeout=60):
        """Runs `ejabberdctl <this instance's flags> ARGS`; returns stdout,
        raises RuntimeError on failure."""
        try:
            r = subprocess.run(self._ctl_args() + list(args),
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise RuntimeError("ejabberdctl %s: no answer in %d s\n%s\n%s"
                               % (" ".join(args), timeout, e.output or "",
                                  self.log_tail()))
        if r.returncode != 0:
            raise RuntimeError("ejabberdctl %s failed (%d):\n%s\n%s"
                               % (" ".join(args), r.returncode, r.stdout,
                                  self.log_tail()))
        return r.stdout

    def _roster_pairs(self):
        if self.roster is True:
            names = list(self.users)
            return [(a, b) for a in names for b in names if a != b]
        return list(self.roster or [])

    def _populate(self):
        # Each ejabberdctl call is a short-lived Erlang VM (about 1 s):
        # run them side by side.
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda up: self.ctl("register", up[0], self.domain,
                                              up[1]),
                          self.users.items()))
            list(pool.map(lambda p: self.ctl(
                "add_rosteritem", p[0], self.domain, p[1], self.domain,
                p[1].capitalize(), "Friends", "both"),
                self._roster_pairs()))

    def start(self):
        uid, gid = self._check_installed()
        self.dir = tempfile.mkdtemp(prefix="xmitm-ejabberd-")
        try:
            self.port = free_port()
            self.plain_port = free_port()
            self.tls_port = free_port() if self.direct_tls else None
            if self.web:
                self.http_port = free_port()
                self.https_port = free_port()
            self.dist_port = free_port()
            tag = secrets.token_hex(4)
            self.node = "xmitm-test-%s@localhost" % tag
            self.cookie = "XMITMTEST" + secrets.token_hex(8).upper()
            for sub in ("spool", "logs", "contrib", "contrib/conf"):
                os.makedirs(self._p(sub))
            self._make_cert()
            self._write_configs()
            for root, dirs, files in os.walk(self.dir):
                for n in [root] + [os.path.join(root, f) for f in files]:
                    os.chown(n, uid, gid)
            self._out = open(self._p("ejabberd.out"), "w")
            self.proc = subprocess.Popen(
                self._ctl_args() + ["foreground"], cwd=self.dir,
                stdin=subprocess.DEVNULL, stdout=self._out,
                stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + self.start_timeout
            for port in (self.port, self.plain_port, self.tls_port,
                         self.http_port, self.https_port, self.s2s_port):
                if port:
                    wait_listening(port, self.proc,
                                   max(1.0, deadline - time.monotonic()),
                                   describe=self.log_tail,
                                   netns=self.netns)
            self._populate()
        except BaseException:
            self.stop()
            raise
        return self

    # ---- tear-down ----
    def _own_pids(self):
        """Processes of this instance: in its process group, or naming its
        node or its directory on their command line."""
        pids = set()
        pgid = self.proc.pid if self.proc is not None else None
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
                if pgid is not None and os.getpgid(pid) == pgid:
                    pids.add(pid)
                elif (self.node and self.node.split("@")[0] in cmd) or \
                        (self.dir and self.dir in cmd):
                    pids.add(pid)
            except (OSError, ProcessLookupError):
                pass
        pids.discard(os.getpid())
        return pids

    def stop(self, timeout=20.0):
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.ctl("stop", timeout=timeout)
                except RuntimeError:
                    pass
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
            # What is left of this instance only: never by name.
            for sig in (signal.SIGTERM, signal.SIGKILL):
                pids = self._own_pids()
                for pid in pids:
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                end = time.monotonic() + 5
                while pids and time.monotonic() < end:
                    pids = {p for p in pids if os.path.exists("/proc/%d" % p)
                            and not _zombie(p)}
                    time.sleep(0.05)
                if not pids:
                    break
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
        if self._out is not None:
            self._out.close()
            self._out = None
        if self.dir is not None and not os.environ.get("XMITM_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


if __name__ == "__main__":
    # Manual check: start, print the ports, stop.
    t0 = time.monotonic()
    with Ejabberd(users={"alice": "alice-pw", "bob": "bob-pw"},
                  direct_tls=True) as e:
        print("up in %.1f s: starttls %d plain %d tls %d dir %s"
              % (time.monotonic() - t0, e.port, e.plain_port, e.tls_port,
                 e.dir), flush=True)
        print(e.ctl("get_roster", "alice", e.domain))
        t1 = time.monotonic()
    print("stopped in %.1f s" % (time.monotonic() - t1))
