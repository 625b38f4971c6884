#!/usr/bin/python3
"""Real peers for xmitm's integration tests.

* ``Prosody``: a throwaway prosody instance on a free loopback port.
* ``Tap``: a byte-recording TCP relay, the independent witness of what went
  over a connection.
* ``Xmitm``: the xmitm binary under test (path from $XMITM).

Run with Debian's /usr/bin/python3 (python3-slixmpp is installed for it only).

CLI (used by demo.sh)::

    /usr/bin/python3 peers.py serve [--user NAME:PASS ...] [--group]

prints ``PORT <c2s port>`` and ``DIR <temp dir>`` on stdout, then runs until
SIGTERM / SIGINT, stopping prosody and removing its files on the way out.
"""

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

LOOPBACK = "127.0.0.1"


# --------------------------------------------------------------------------
# Small helpers

_handed_out = set()


def wait_for(pred, timeout=10.0, step=0.05):
    """Polls pred() until it is true or timeout seconds pass; its last
    answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def free_port(host=LOOPBACK):
    """A TCP port on host that nothing listens on right now, and that this
    process has not handed out before: the kernel may give the same
    ephemeral port to consecutive binds, and a server configured with
    several ports (ejabberd) refuses overlapping listeners."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def _listening_ports(pid=None):
    """Local TCP ports in LISTEN state, read from /proc (None if unreadable);
    with pid, those of that process's network namespace."""
    ports = set()
    found = False
    base = "/proc/%d/net" % pid if pid else "/proc/net"
    for name in (base + "/tcp", base + "/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A":  # TCP_LISTEN
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
            found = True
        except OSError:
            pass
    return ports if found else None


def _in_netns(pid, netns):
    """True once process pid is in the named network namespace."""
    try:
        return (os.stat("/proc/%d/ns/net" % pid).st_ino
                == os.stat(os.path.join("/run/netns", netns)).st_ino)
    except OSError:
        return False


def wait_listening(port, proc=None, timeout=20.0, host=LOOPBACK, probe=False,
                   describe=lambda: "", netns=None):
    """Wait until something listens on host:port.

    By default the check reads /proc/net/tcp, so it opens no connection
    (a probe connection would show up in xmitm's output and in the taps).
    probe=True (or no /proc) connects instead.  Raises RuntimeError on
    timeout, or as soon as proc exits, with describe() in the message.
    netns: proc was started with `ip netns exec NETNS`; the port is looked
    for in that namespace (in /proc/PID/net/tcp, once proc is in it).
    """
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process %s exited with status %s before "
                               "listening on %s:%d\n%s"
                               % (proc.args, proc.returncode, host, port,
                                  describe()))
        if netns is not None:
            ports = (_listening_ports(proc.pid)
                     if _in_netns(proc.pid, netns) else set())
        else:
            ports = None if probe else _listening_ports()
        if ports is None:
            try:
                with socket.create_connection((host, port), timeout=1):
                    return
            except OSError:
                pass
        elif port in ports:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("nothing listens on %s:%d after %.0f s\n%s"
                               % (host, port, timeout, describe()))
        time.sleep(0.02)


# What AddressSanitizer, LeakSanitizer and UBSan print when they find
# something (the ASan+UBSan build of scripts/dev.sh test).
_SANITIZER = re.compile(r"ERROR: (Leak|Address|Thread|Memory)Sanitizer|"
                        r"SUMMARY: (Leak|Address|UndefinedBehavior)Sanitizer|"
                        r"\bruntime error: ")


def relay(a, b, timeout=None):
    """Copies bytes both ways between sockets a and b until both sides are
    done, passing half-closes on (a reset becomes a shutdown of both), then
    closes both. Waits at most timeout seconds for the b -> a direction."""
    def pump(src, dst):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
    t = threading.Thread(target=pump, args=(b, a), daemon=True)
    t.start()
    pump(a, b)
    t.join(timeout)
    a.close()
    b.close()


def sanitizer_report(text):
    """The sanitizer report in a process's stderr, or None."""
    m = _SANITIZER.search(text or "")
    if m is None:
        return None
    start = text.rfind("\n", 0, max(0, m.start() - 200)) + 1
    return text[start:start + 6000]


def _tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)


def _lua(s):
    """A Lua string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --------------------------------------------------------------------------
# Prosody

class Prosody:
    """A throwaway prosody on 127.0.0.1, as a context manager.

        with Prosody(users={"alice": "pw", "bob": "pw"}) as p:
            p.port, p.domain, p.cert (self-signed for localhost), p.dir

    Users listed in ``group`` (default: all of them) are put in one shared
    roster group with mod_groups, so they have mutual subscriptions
    ("both") and presence flows between them without any client work.

    tls_required=True sets c2s_require_encryption (STARTTLS mandatory);
    direct_tls_port=True picks a free port (or pass an int) for XEP-0368
    direct TLS, exposed as .direct_tls_port.

    interfaces: the addresses it listens on (default 127.0.0.1 only);
    netns: the name of a network namespace to run it in (`ip netns exec`;
    give port explicitly then).

    modules: more modules to enable; extra_config: Lua appended after the
    VirtualHost (options, or a Component such as a MUC).

    Web transports (mod_websocket, RFC 7395, and mod_bosh, XEP-0206), on
    when http_port or https_port is given (True picks a free port):
    http_port serves cleartext HTTP, https_port HTTPS with the same
    certificate (self-signed for localhost).  Authentication over cleartext
    HTTP is allowed (consider_websocket_secure, consider_bosh_secure).
    Endpoints /xmpp-websocket and /http-bind, whatever the Host header says
    (http_default_host is the VirtualHost):

        p.web_url("ws")               ws://localhost:HTTP/xmpp-websocket
        p.web_url("ws", tls=True)     wss://localhost:HTTPS/xmpp-websocket
        p.web_url("bosh")             http://localhost:HTTP/http-bind
        p.web_url("bosh", tls=True)   https://localhost:HTTPS/http-bind
        (host="127.0.0.1" for an address in the URL; the certificate only
        names localhost)

    s2s_port: federation on that port of the interfaces (off by default);
    cert_files: (certificate, key) to serve instead of a self-signed one
    made for the domain; ca_file: the CA prosody trusts for peers'
    certificates (ssl.cafile); s2s_secure_auth: prosody's option of that
    name (certificates only, no dialback); s2s_require_encryption=False
    allows s2s in the clear (prosody's default requires TLS);
    s2s_direct_tls_port: XEP-0368 direct TLS for s2s on that port.
    extra_ports: more c2s (STARTTLS) ports besides port.
    """

    WEB_PATHS = {"ws": "/xmpp-websocket", "bosh": "/http-bind"}

    MODULES = ["roster", "saslauth", "tls", "disco", "ping", "posix",
               "groups", "time", "version", "uptime"]

    def __init__(self, users=None, group=None, domain="localhost",
                 tls_required=False, direct_tls_port=None, port=None,
                 start_timeout=20.0, debug_log=True, interfaces=(LOOPBACK,),
                 netns=None, modules=(), extra_config="", http_port=None,
                 https_port=None, s2s_port=None, cert_files=None, ca_file=None,
                 s2s_secure_auth=False, s2s_require_encryption=True,
                 s2s_direct_tls_port=None, extra_ports=()):
        self.users = dict(users or {})
        self.extra_ports = list(extra_ports)
        self.http_port = http_port
        self.https_port = https_port
        web = ["websocket", "bosh"] if http_port or https_port else []
        self.modules = self.MODULES + web + list(modules)
        self.extra_config = extra_config   # Lua appended after the VirtualHost
        self.s2s_port = s2s_port
        self.cert_files = cert_files
        self.ca_file = ca_file
        self.s2s_secure_auth = s2s_secure_auth
        self.s2s_require_encryption = s2s_require_encryption
        self.s2s_direct_tls_port = s2s_direct_tls_port
        self.interfaces = list(interfaces)
        self.netns = netns
        self.group = list(self.users) if group is None else list(group)
        self.domain = domain
        self.tls_required = tls_required
        self.port = port
        self.direct_tls_port = direct_tls_port
        self.start_timeout = start_timeout
        self.debug_log = debug_log
        self.dir = None
        self.proc = None

    # paths
    def _p(self, name):
        return os.path.join(self.dir, name)

    @property
    def config(self):
        return self._p("prosody.cfg.lua")

    @property
    def log(self):
        return self._p("prosody.log")

    @property
    def cert(self):
        return self._p("certs/%s.crt" % self.domain)

    @property
    def key(self):
        return self._p("certs/%s.key" % self.domain)

    def jid(self, user):
        return "%s@%s" % (user, self.domain)

    def web_url(self, transport, tls=False, host="localhost"):
        """URL of the WebSocket ("ws") or BOSH ("bosh") endpoint, on the
        HTTPS port with tls=True."""
        port = self.https_port if tls else self.http_port
        if not port:
            raise ValueError("this prosody has no %s port"
                             % ("https" if tls else "http"))
        scheme = {("ws", False): "ws", ("ws", True): "wss",
                  ("bosh", False): "http", ("bosh", True): "https"}[
                      (transport, bool(tls))]
        return "%s://%s:%d%s" % (scheme, host, port,
                                 self.WEB_PATHS[transport])

    def log_tail(self, lines=30):
        return "prosody log tail (%s):\n%s" % (self.log, _tail(self.log, lines))

    # setup
    def _check_installed(self):
        for tool in ("prosody", "prosodyctl", "openssl"):
            if shutil.which(tool) is None:
                pkg = "openssl" if tool == "openssl" else "prosody"
                raise RuntimeError("%s not found: apt-get install %s"
                                   % (tool, pkg))

    def _make_cert(self):
        os.makedirs(self._p("certs"), exist_ok=True)
        if self.cert_files:
            shutil.copyfile(self.cert_files[0], self.cert)
            shutil.copyfile(self.cert_files[1], self.key)
            os.chmod(self.key, 0o600)
            return
        r = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", self.key, "-out", self.cert, "-days", "30",
             "-subj", "/CN=%s" % self.domain,
             # RFC 6120 §13.7.1.2 names too, so xmitm's copy of them into
             # the forged leaf can be checked.
             "-addext", "subjectAltName=DNS:%s,"
             "otherName:1.3.6.1.5.5.7.8.5;UTF8:%s,"
             "otherName:1.3.6.1.5.5.7.8.7;IA5:_xmpp-client.%s"
             % (self.domain, self.domain, self.domain)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError("openssl req failed:\n" + r.stdout)
        os.chmod(self.key, 0o600)

    def _write_config(self):
        d = self.dir
        groups_file = self._p("groups.txt")
        with open(groups_file, "w") as f:
            f.write("[Friends]\n")
            for u in self.group:
                f.write("%s=%s\n" % (self.jid(u), u.capitalize()))
        cafile = "cafile = %s; " % _lua(self.ca_file) if self.ca_file else ""
        ssl = "{ key = %s; certificate = %s; %s}" % (_lua(self.key),
                                                       _lua(self.cert), cafile)
        s2s_ports = "{ %d }" % self.s2s_port if self.s2s_port else "{}"
        s2s_dtls = ("{ %d }" % self.s2s_direct_tls_port
                    if self.s2s_direct_tls_port else "{}")
        disabled = "{}" if self.s2s_port else '{ "s2s", "s2s_auth_certs" }'
        dtls = "{ %d }" % self.direct_tls_port if self.direct_tls_port else "{}"
        level = "debug" if self.debug_log else "info"
        ifs = "{ %s }" % ", ".join(_lua(i) for i in self.interfaces)
        http = "{ %d }" % self.http_port if self.http_port else "{}"
        https = "{ %d }" % self.https_port if self.https_port else "{}"
        cfg = f"""-- throwaway prosody written by xmitm's tests/integration/peers.py
run_as_root = true
daemonize = false
pidfile = {_lua(os.path.join(d, "prosody.pid"))}
data_path = {_lua(os.path.join(d, "data"))}
certificates = {_lua(os.path.join(d, "certs"))}
log = {{ {level} = {_lua(self.log)} }}

interfaces = {ifs}
local_interfaces = {ifs}
c2s_interfaces = {ifs}
c2s_ports = {{ {", ".join(str(p) for p in [self.port] + self.extra_ports)} }}
c2s_direct_tls_interfaces = {ifs}
c2s_direct_tls_ports = {dtls}
legacy_ssl_ports = {{}}
s2s_interfaces = {ifs}
s2s_ports = {s2s_ports}
s2s_direct_tls_interfaces = {ifs}
s2s_direct_tls_ports = {s2s_dtls}
s2s_secure_auth = {"true" if self.s2s_secure_auth else "false"}
s2s_require_encryption = {"true" if self.s2s_require_encryption else "false"}
component_ports = {{}}
http_ports = {http}
http_interfaces = {ifs}
https_ports = {https}
https_interfaces = {ifs}
https_ssl = {ssl}
http_default_host = {_lua(self.domain)}
consider_websocket_secure = true
consider_bosh_secure = true
modules_disabled = {disabled}

c2s_require_encryption = {"true" if self.tls_required else "false"}
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"
ssl = {ssl}
c2s_timeout = 60

modules_enabled = {{ {", ".join(_lua(m) for m in self.modules)} }}
groups_file = {_lua(groups_file)}

VirtualHost {_lua(self.domain)}
    ssl = {ssl}
{self.extra_config}
"""
        with open(self.config, "w") as f:
            f.write(cfg)

    def register(self, user, password):
        r = subprocess.run(
            ["prosodyctl", "--config", self.config, "register", user,
             self.domain, password],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=30)
        if r.returncode != 0:
            raise RuntimeError("prosodyctl register %s failed (%d):\n%s\n%s"
                               % (user, r.returncode, r.stdout,
                                  self.log_tail()))
        self.users[user] = password

    def start(self):
        self._check_installed()
        self.dir = tempfile.mkdtemp(prefix="xmitm-prosody-")
        try:
            if self.port is None:
                self.port = free_port()
            if self.direct_tls_port is True:
                self.direct_tls_port = free_port()
            if self.http_port is True:
                self.http_port = free_port()
            if self.https_port is True:
                self.https_port = free_port()
            self._make_cert()
            self._write_config()
            for user, password in list(self.users.items()):
                self.register(user, password)
            self._out = open(self._p("prosody.out"), "w")
            prefix = (["ip", "netns", "exec", self.netns] if self.netns
                      else [])
            self.proc = subprocess.Popen(
                prefix + ["prosody", "--config", self.config, "-F"],
                stdin=subprocess.DEVNULL, stdout=self._out,
                stderr=subprocess.STDOUT, start_new_session=True)
            describe = lambda: (self.log_tail() + "\nprosody stdout:\n"
                                + _tail(self._p("prosody.out")))
            wait_listening(self.port, self.proc, self.start_timeout,
                           describe=describe, netns=self.netns)
            for extra in [self.direct_tls_port, self.http_port,
                          self.https_port, self.s2s_port,
                          self.s2s_direct_tls_port] + self.extra_ports:
                if extra:
                    wait_listening(extra, self.proc, self.start_timeout,
                                   describe=describe, netns=self.netns)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
            self._out.close()
        if self.dir is not None and not os.environ.get("XMITM_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class LineReader:
    """Reads a subprocess's output in a thread, to wait for a line.
    .lines holds the lines so far, without their newlines."""

    def __init__(self, stream):
        self.lines = []
        self._q = queue.Queue()
        self._t = threading.Thread(target=self._run, args=(stream,),
                                   daemon=True)
        self._t.start()

    def _run(self, stream):
        for line in stream:
            line = line.rstrip("\n")
            self.lines.append(line)
            self._q.put(line)
        self._q.put(None)

    def wait_for(self, prefix, timeout=20.0):
        """True once a line starts with prefix (False on EOF or timeout)."""
        if any(l.startswith(prefix) for l in self.lines):
            return True
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._q.get(timeout=max(0.01,
                                               deadline - time.monotonic()))
            except queue.Empty:
                return False
            if line is None:
                return False
            if line.startswith(prefix):
                return True

    def text(self):
        """All lines, once the stream ended (or after 5 s)."""
        self._t.join(5)
        return "\n".join(self.lines)


# --------------------------------------------------------------------------
# Tap: byte-recording relay

class TapConn:
    """One relayed connection: .c2s / .s2c are the bytes seen so far."""

    def __init__(self, index, peer):
        self.index = index
        self.peer = peer            # (host, port) of the accepted client
        self.upstream_local = None  # our local address towards the target
        self._c2s = bytearray()
        self._s2c = bytearray()
        self.c2s_eof = False        # the client half-closed (or closed)
        self.s2c_eof = False        # the target half-closed (or closed)
        self.error = None
        self.done = threading.Event()
        self._lock = threading.Lock()

    @property
    def c2s(self):
        with self._lock:
            return bytes(self._c2s)

    @property
    def s2c(self):
        with self._lock:
            return bytes(self._s2c)

    def __repr__(self):
        return ("<TapConn #%d peer=%s c2s=%d bytes%s s2c=%d bytes%s%s>"
                % (self.index, self.peer, len(self._c2s),
                   " EOF" if self.c2s_eof else "", len(self._s2c),
                   " EOF" if self.s2c_eof else "",
                   " error=%r" % self.error if self.error else ""))


class Tap:
    """A TCP relay on 127.0.0.1:<free port> to target (host, port).

    Records the exact bytes of both directions of every accepted connection
    (``tap.conns[i].c2s`` / ``.s2c``, in accept order) and propagates
    half-close: EOF from one side becomes shutdown(SHUT_WR) towards the
    other.  A connection is done when both directions reached EOF (or on
    error, e.g. a reset, which is relayed as a close of both sockets).
    """

    def __init__(self, target_host, target_port, host=LOOPBACK, port=0):
        self.target = (target_host, target_port)
        self.conns = []
        self._lock = threading.Lock()
        self._socks = []
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind((host, port))
        self._lsock.listen(64)
        self.host, self.port = self._lsock.getsockname()
        self._closing = False
        self._thread = threading.Thread(target=self._accept_loop,
                                        name="tap-accept", daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while True:
            try:
                csock, peer = self._lsock.accept()
            except OSError:
                return
            if self._closing:
                csock.close()
                return
            with self._lock:
                conn = TapConn(len(self.conns), peer)
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn, csock),
                             name="tap-conn-%d" % conn.index,
                             daemon=True).start()

    def _serve(self, conn, csock):
        try:
            usock = socket.create_connection(self.target, timeout=10)
            usock.settimeout(None)
        except OSError as e:
            conn.error = "connect %s:%d: %s" % (self.target + (e,))
            conn.c2s_eof = conn.s2c_eof = True
            csock.close()
            conn.done.set()
            return
        conn.upstream_local = usock.getsockname()
        with self._lock:
            self._socks += [csock, usock]
        t = threading.Thread(target=self._pump,
                             args=(conn, csock, usock, conn._c2s, "c2s"),
                             daemon=True)
        t.start()
        self._pump(conn, usock, csock, conn._s2c, "s2c")
        t.join()
        for s in (csock, usock):
            s.close()
        conn.done.set()

    def _pump(self, conn, src, dst, record, direction):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with conn._lock:
                    record += data
                dst.sendall(data)
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        except OSError as e:
            if conn.error is None:
                conn.error = "%s: %s" % (direction, e)
            # a reset or broken pipe on one side: tear both down
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        setattr(conn, direction + "_eof", True)

    def wait_idle(self, count=None, timeout=10.0):
        """Wait until at least count connections were accepted (default:
        those accepted so far) and all of them are done.  Returns True if
        so, False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                conns = list(self.conns)
            if (count is None or len(conns) >= count) and \
                    all(c.done.is_set() for c in conns):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def close(self):
        self._closing = True
        try:
            self._lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._lsock.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------
# Xmitm

class Xmitm:
    """The xmitm binary under test:

        XMITM proxy --listen 127.0.0.1:PORT --upstream HOST:PORT
              --color=never [extra args]

    stdout and stderr go to files in a temp dir; start() waits until the
    listen port is in LISTEN state (read from /proc, no probe connection).
    stop() sends SIGTERM and returns the exit status; output() / errors()
    return what it printed on stdout / stderr.  cleanup() (every test
    registers it) fails the test if xmitm's stderr holds a sanitizer
    report (LeakSanitizer runs at a normal exit: the ASan build's leak
    check), or if SIGTERM did not make it exit within the timeout (it was
    killed, so no leak check could run).

    upstream_host=None leaves out --upstream (transparent mode);
    listen_host replaces 127.0.0.1; netns runs it in that network namespace
    (`ip netns exec NETNS`, give listen_port then) and wrapper is put
    before the binary (e.g. setpriv); both exec, so .proc.pid is xmitm's.
    """

    def __init__(self, upstream_host, upstream_port, extra_args=(),
                 binary=None, listen_port=None, color="never",
                 stdout=None, start_timeout=10.0, env=None,
                 listen_host=LOOPBACK, netns=None, wrapper=()):
        self.binary = binary or os.environ.get("XMITM")
        if not self.binary:
            raise RuntimeError("set XMITM to the path of the xmitm binary")
        self.upstream = (upstream_host, upstream_port)
        self.listen_host = listen_host
        self.netns = netns
        self.wrapper = list(wrapper)
        self.port = listen_port or free_port()
        self.extra_args = list(extra_args)
        self.color = color
        self.passthrough_stdout = stdout  # e.g. sys.stdout for the demo
        self.start_timeout = start_timeout
        self.proc = None
        self.returncode = None
        self.problem = None      # a sanitizer report, or a kill by stop()
        self._problem_raised = False
        self.dir = tempfile.mkdtemp(prefix="xmitm-run-")
        # Each instance makes its own CA in its temp dir, never in ~.
        self.env = dict(env if env is not None else os.environ)
        self.env.setdefault("XDG_DATA_HOME", os.path.join(self.dir, "data"))
        self.stdout_path = os.path.join(self.dir, "stdout")
        self.stderr_path = os.path.join(self.dir, "stderr")

    @property
    def args(self):
        host = self.listen_host
        a = [self.binary, "proxy", "--listen",
             ("[%s]:%d" if ":" in host else "%s:%d") % (host, self.port)]
        if self.upstream[0] is not None:
            a += ["--upstream", "%s:%d" % self.upstream]
        if self.color is not None:
            a.append("--color=%s" % self.color)
        return a + self.extra_args

    @property
    def ca_cert(self):
        """xmitm's CA certificate (made at start-up), for clients to trust."""
        return os.path.join(self.env["XDG_DATA_HOME"], "xmitm", "ca.pem")

    @property
    def command(self):
        """args with the netns and wrapper prefixes: what is run."""
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        return prefix + self.wrapper + self.args

    def describe(self):
        return ("command: %s\nxmitm stdout tail:\n%s\nxmitm stderr tail:\n%s"
                % (" ".join(self.command), _tail(self.stdout_path),
                   _tail(self.stderr_path)))

    def start(self):
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL,
            stdout=self.passthrough_stdout or self._out, stderr=self._err,
            env=self.env)
        try:
            wait_listening(self.port, self.proc, self.start_timeout,
                           host=self.listen_host, describe=self.describe,
                           netns=self.netns)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout=10.0):
        """SIGTERM, wait; returns the exit status (negative: killed by that
        signal; after timeout it is SIGKILLed and -9 is returned)."""
        if self.proc is not None and self.returncode is None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    self.problem = ("xmitm did not exit within %.0f s of "
                                    "SIGTERM and was killed\n%s"
                                    % (timeout, self.describe()))
            self.returncode = self.proc.returncode
            self._out.close()
            self._err.close()
            report = sanitizer_report(self.errors())
            if report:
                self.problem = "xmitm's sanitizer report:\n" + report
        return self.returncode

    def _read(self, path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def output(self):
        return self._read(self.stdout_path)

    def errors(self):
        return self._read(self.stderr_path)

    def cleanup(self):
        self.stop()
        problem = self.problem
        if not os.environ.get("XMITM_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        if problem and not self._problem_raised:
            self._problem_raised = True
            raise AssertionError(problem)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


def run_tests():
    """main() of a test file: a missing xmitm binary fails, never skips."""
    import unittest
    binary = os.environ.get("XMITM")
    if not (binary and os.access(binary, os.X_OK)):
        print("FAIL: set XMITM to the xmitm binary (got %r)" % binary,
              file=sys.stderr)
        sys.exit(1)
    unittest.main(module="__main__", verbosity=2)


# --------------------------------------------------------------------------
# CLI

def _serve(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="peers.py serve",
                                 description="run a throwaway prosody until "
                                 "SIGTERM/SIGINT")
    ap.add_argument("--user", action="append", default=[],
                    metavar="NAME:PASS",
                    help="register a user (default alice:alicepw, bob:bobpw)")
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--tls-required", action="store_true")
    ap.add_argument("--direct-tls", action="store_true")
    a = ap.parse_args(argv)
    users = dict(u.split(":", 1) for u in a.user) or \
        {"alice": "alicepw", "bob": "bobpw"}
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    with Prosody(users=users, port=a.port, tls_required=a.tls_required,
                 direct_tls_port=True if a.direct_tls else None) as p:
        print("PORT %d" % p.port)
        if p.direct_tls_port:
            print("DIRECT_TLS_PORT %d" % p.direct_tls_port)
        print("DIR %s" % p.dir)
        print("CERT %s" % p.cert, flush=True)
        while not stop.wait(0.5):
            if p.proc.poll() is not None:
                print("prosody exited with status %s\n%s"
                      % (p.proc.returncode, p.log_tail()), file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        sys.exit(_serve(sys.argv[2:]))
    print("usage: peers.py serve [--user NAME:PASS ...] [--port N] "
          "[--tls-required] [--direct-tls]", file=sys.stderr)
    sys.exit(2)
