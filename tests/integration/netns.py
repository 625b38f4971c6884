#!/usr/bin/python3
"""Network namespaces for xmitm's transparent-mode tests.

``Topology`` builds three namespaces joined by two veth pairs and removes
them again::

    client                 router                          server
    xmt-c  ------------  xmt-rc    xmt-rs  -------------  xmt-s
    10.77.1.2/24         10.77.1.1/24  10.77.2.1/24       10.77.2.2/24
    fd77:1::2/64         fd77:1::1/64  fd77:2::1/64       fd77:2::2/64

client and server have default routes (v4 and v6) via the router, which
forwards both families; lo is up everywhere; addresses are ``nodad`` so they
are usable at once.  The namespaces are called ``xmt-client-PID``,
``xmt-router-PID`` and ``xmt-server-PID``; the veths are created inside
them, so nothing is added to the host's own namespace and its network
configuration and firewall are never touched.

    with Topology() as t:
        t.client.run(["ping", "-c1", t.SERVER4])
        p = t.router.popen([...])            # ip netns exec NAME ...
        t.router.apply('''iptables -t nat -A ...''')   # one command a line

``Topology.up()`` first removes stale ``xmt-*`` namespaces left by a run
that crashed (those whose PID suffix is no longer a running process, with
whatever still runs inside them); ``down()`` (also at exit, on SIGTERM, and
when ``up()`` fails half-way) kills what runs in its namespaces and deletes
them.

``doc_rules(NAME, subs)`` returns a rule block of docs/transparent.md (the
```sh block after ``<!-- rules: NAME -->``) with words replaced, so the
tests run exactly the documented commands.  ``firewall_state(ns)`` is a
comparable snapshot (rules, ip rules, table 100) to check an undo block;
``reset_firewall(ns)`` empties everything in a namespace.

CLI (for exploring by hand; root only)::

    /usr/bin/python3 netns.py up        # builds it, prints the names, waits
    /usr/bin/python3 netns.py clean     # removes stale xmt-* namespaces
    /usr/bin/python3 netns.py relay --listen ADDR:PORT [--tproxy]
        [--keep-source] [--mark N]      # a reference transparent relay

The reference relay is a tiny plain-TCP transparent proxy (SO_ORIGINAL_DST,
IP_TRANSPARENT, SO_MARK): it checks that the documented rules deliver
connections as documented, independently of xmitm.
"""

import atexit
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "docs", "transparent.md")
NETNS_DIR = "/run/netns"
PREFIX = "xmt-"
ROLES = ("client", "router", "server")
_NAME_RE = re.compile(r"^xmt-(?:%s)-(\d+)$" % "|".join(ROLES))


class NetnsError(RuntimeError):
    pass


# ip, iptables, nft and ss live in /usr/sbin, which a test runner's PATH
# may lack.
for _d in ("/usr/sbin", "/sbin"):
    if _d not in os.environ.get("PATH", "").split(":"):
        os.environ["PATH"] = os.environ.get("PATH", "") + ":" + _d


def _run(argv, check=True, timeout=30, input=None):
    try:
        r = subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise NetnsError("%s not found (apt-get install iproute2 iptables "
                         "nftables): %s" % (argv[0], e))
    if check and r.returncode != 0:
        raise NetnsError("`%s` failed (%d): %s%s"
                         % (" ".join(shlex.quote(a) for a in argv),
                            r.returncode, r.stderr.strip(), r.stdout.strip()))
    return r


def missing_tools():
    """What the harness needs and is not there, as 'tool (package)'."""
    need = {"ip": "iproute2", "ss": "iproute2", "iptables": "iptables",
            "ip6tables": "iptables", "iptables-save": "iptables",
            "ip6tables-save": "iptables", "nft": "nftables"}
    return ["%s (%s)" % (t, p) for t, p in need.items()
            if shutil.which(t) is None]


def check_environment():
    """Raise NetnsError naming what is missing (root, tools)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (network namespaces, firewall "
                        "rules)")
    problems += ["%s not found" % m for m in missing_tools()]
    if problems:
        raise NetnsError("; ".join(problems) +
                         ": apt-get install iproute2 iptables nftables")


# --------------------------------------------------------------------------
# One namespace

class Netns:
    """A named network namespace: commands run in it with ip netns exec."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "<Netns %s>" % self.name

    def cmd(self, argv):
        """argv prefixed with `ip netns exec NAME`."""
        return ["ip", "netns", "exec", self.name] + list(argv)

    def run(self, argv, check=True, timeout=30, input=None):
        """Run argv inside; CompletedProcess (text), NetnsError if check and
        it fails."""
        return _run(self.cmd(argv), check=check, timeout=timeout, input=input)

    def popen(self, argv, **kw):
        """subprocess.Popen of argv inside.  `ip netns exec` execs the
        command, so .pid is the command's own pid."""
        return subprocess.Popen(self.cmd(argv), **kw)

    def apply(self, text):
        """Run a rule block: one command a line (shell-style quoting, no
        shell); blank lines and # comments are ignored."""
        for argv in rule_commands(text):
            self.run(argv)

    def pids(self):
        r = _run(["ip", "netns", "pids", self.name], check=False)
        return [int(p) for p in r.stdout.split()]

    @property
    def inode(self):
        return os.stat(os.path.join(NETNS_DIR, self.name)).st_ino

    def holds(self, pid):
        """True if process pid is in this namespace (it has done setns)."""
        try:
            return os.stat("/proc/%d/ns/net" % pid).st_ino == self.inode
        except OSError:
            return False

    def listening(self, port):
        """True if something listens on TCP port (any address) inside."""
        r = self.run(["ss", "-Hltn", "sport = :%d" % port], check=False)
        return bool(r.stdout.strip())

    def established(self, port):
        """[(local, peer)] of established TCP connections with local port
        `port` inside, as ('addr', port) pairs."""
        r = self.run(["ss", "-Htn", "state", "established",
                      "sport = :%d" % port], check=False)
        conns = []
        for line in r.stdout.splitlines():
            f = line.split()
            if len(f) >= 4:
                conns.append((_split_ss(f[-2]), _split_ss(f[-1])))
        return conns

    def delete(self):
        _kill_all(self.name)
        _run(["ip", "netns", "del", self.name], check=False)


def _split_ss(s):
    host, port = s.rsplit(":", 1)
    host = host.strip("[]")
    if host.startswith("::ffff:"):
        host = host[7:]
    return host, int(port)


def _kill_all(name, grace=3.0):
    """SIGTERM, then SIGKILL, every process inside namespace `name` (all of
    them were started by these tests)."""
    pids = [int(p) for p in
            _run(["ip", "netns", "pids", name], check=False).stdout.split()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if os.path.exists("/proc/%d" % p)]
            time.sleep(0.05)
        if not pids:
            return


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale():
    """Remove xmt-ROLE-PID namespaces whose PID is not running any more
    (a crashed or killed run).  Returns their names."""
    removed = []
    r = _run(["ip", "netns", "list"], check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = _NAME_RE.match(name)
        if m and not _pid_alive(int(m.group(1))):
            Netns(name).delete()
            removed.append(name)
    return removed


# --------------------------------------------------------------------------
# The topology

class Topology:
    CLIENT4, CLIENT6 = "10.77.1.2", "fd77:1::2"
    ROUTER_C4, ROUTER_C6 = "10.77.1.1", "fd77:1::1"  # router, client side
    ROUTER_S4, ROUTER_S6 = "10.77.2.1", "fd77:2::1"  # router, server side
    SERVER4, SERVER6 = "10.77.2.2", "fd77:2::2"
    # interface names, each inside its namespace
    IF_CLIENT = "xmt-c"    # client's, towards the router
    IF_ROUTER_C = "xmt-rc"  # router's, towards the client
    IF_ROUTER_S = "xmt-rs"  # router's, towards the server
    IF_SERVER = "xmt-s"    # server's, towards the router

    def __init__(self, tag=None):
        tag = tag or str(os.getpid())
        self.client = Netns("%sclient-%s" % (PREFIX, tag))
        self.router = Netns("%srouter-%s" % (PREFIX, tag))
        self.server = Netns("%sserver-%s" % (PREFIX, tag))
        self.all = (self.client, self.router, self.server)
        self._up = False

    def up(self):
        check_environment()
        cleanup_stale()
        self._up = True
        atexit.register(self.down)
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            # meson's timeout and a plain kill: tear down on the way out
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:
            self._build()
        except BaseException:
            self.down()
            raise
        return self

    def _build(self):
        c, r, s = self.client, self.router, self.server
        for ns in self.all:
            if os.path.exists(os.path.join(NETNS_DIR, ns.name)):
                ns.delete()
            _run(["ip", "netns", "add", ns.name])
            # no DAD, for the link-local addresses too: usable at once
            ns.run(["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0"])
            ns.run(["ip", "link", "set", "lo", "up"])
        # veths are made inside the namespaces: never in the host's
        c.run(["ip", "link", "add", self.IF_CLIENT, "type", "veth", "peer",
               "name", self.IF_ROUTER_C, "netns", r.name])
        s.run(["ip", "link", "add", self.IF_SERVER, "type", "veth", "peer",
               "name", self.IF_ROUTER_S, "netns", r.name])
        for ns, ifname, v4, v6 in (
                (c, self.IF_CLIENT, self.CLIENT4, self.CLIENT6),
                (r, self.IF_ROUTER_C, self.ROUTER_C4, self.ROUTER_C6),
                (r, self.IF_ROUTER_S, self.ROUTER_S4, self.ROUTER_S6),
                (s, self.IF_SERVER, self.SERVER4, self.SERVER6)):
            ns.run(["ip", "addr", "add", v4 + "/24", "dev", ifname])
            ns.run(["ip", "-6", "addr", "add", v6 + "/64", "dev", ifname,
                    "nodad"])
            ns.run(["ip", "link", "set", ifname, "up"])
        r.run(["sysctl", "-qw", "net.ipv4.ip_forward=1",
               "net.ipv6.conf.all.forwarding=1"])
        for ns, v4, v6 in ((c, self.ROUTER_C4, self.ROUTER_C6),
                           (s, self.ROUTER_S4, self.ROUTER_S6)):
            ns.run(["ip", "route", "add", "default", "via", v4])
            ns.run(["ip", "-6", "route", "add", "default", "via", v6])
        self._wait_ready()

    def _wait_ready(self, timeout=10.0):
        """Until every interface is up and no address is tentative."""
        deadline = time.monotonic() + timeout
        while True:
            pending = []
            for ns in self.all:
                out = ns.run(["ip", "-o", "addr", "show"]).stdout
                if "tentative" in out:
                    pending.append("%s: tentative address" % ns.name)
                links = ns.run(["ip", "-o", "link", "show"]).stdout
                for line in links.splitlines():
                    if "xmt-" in line and "LOWER_UP" not in line:
                        pending.append("%s: %s" % (ns.name,
                                                   line.split(":")[1]))
            if not pending:
                return
            if time.monotonic() > deadline:
                raise NetnsError("topology not ready after %.0f s: %s"
                                 % (timeout, "; ".join(pending)))
            time.sleep(0.05)

    def down(self):
        if not self._up:
            return
        for ns in self.all:
            ns.delete()
        self._up = False

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()


# --------------------------------------------------------------------------
# Firewall rules

def rule_commands(text):
    """The commands of a rule block, as argv lists."""
    cmds = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        cmds.append(shlex.split(line, comments=True))
    return cmds


def doc_blocks(path=DOC):
    """{name: text} of every ```sh block preceded by <!-- rules: NAME -->."""
    with open(path) as f:
        text = f.read()
    blocks = {}
    for m in re.finditer(r"<!-- rules: ([\w-]+) -->\s*\n```sh\n(.*?)```",
                         text, re.S):
        if m.group(1) in blocks:
            raise NetnsError("%s: two blocks named %s" % (path, m.group(1)))
        blocks[m.group(1)] = m.group(2)
    return blocks


def doc_rules(name, subs=None, path=DOC):
    """The rule block NAME of docs/transparent.md with the whole words in
    subs ({'eth1': 'xmt-rc'}) replaced."""
    blocks = doc_blocks(path)
    if name not in blocks:
        raise NetnsError("%s has no rule block %r (has: %s)"
                         % (path, name, ", ".join(sorted(blocks))))
    text = blocks[name]
    for old, new in (subs or {}).items():
        text = re.sub(r"(?<![\w-])%s(?![\w-])" % re.escape(old), new, text)
    return text


# iptables-nft leaves the tables it made behind (empty) after -D
_IPTABLES_TABLES = re.compile(r"^table (ip|ip6) (filter|nat|mangle|raw|"
                              r"security)$")


def firewall_state(ns):
    """A comparable snapshot of what rules add in ns: iptables/ip6tables
    rules, nftables tables other than iptables' own, policy routing rules
    and routes in table 100."""
    state = {}
    for tool in ("iptables-save", "ip6tables-save"):
        out = ns.run([tool], check=False).stdout
        state[tool] = sorted(l for l in out.splitlines()
                             if l.startswith("-A ") or l.startswith(":")
                             and not re.match(r":(PREROUTING|INPUT|FORWARD|"
                                              r"OUTPUT|POSTROUTING) ", l))
    out = ns.run(["nft", "list", "tables"], check=False).stdout
    state["nft tables"] = sorted(l for l in out.splitlines()
                                 if not _IPTABLES_TABLES.match(l.strip()))
    for fam in ("-4", "-6"):
        state["ip %s rule" % fam] = ns.run(["ip", fam, "rule"]).stdout
        state["ip %s route table 100" % fam] = ns.run(
            ["ip", fam, "route", "show", "table", "100"], check=False).stdout
    return state


def reset_firewall(ns):
    """Flush every rule and table in ns, and the policy routing rules and
    table 100 the documented TPROXY setup adds."""
    ns.run(["nft", "flush", "ruleset"], check=False)
    for fam in ("-4", "-6"):
        for _ in range(20):
            if ns.run(["ip", fam, "rule", "del", "fwmark", "1", "lookup",
                       "100"], check=False).returncode != 0:
                break
        ns.run(["ip", fam, "route", "flush", "table", "100"], check=False)


# --------------------------------------------------------------------------
# Reference relay (plain TCP): what the rules deliver, without xmitm

SO_ORIGINAL_DST = 80          # linux/netfilter_ipv4.h
IP6T_SO_ORIGINAL_DST = 80     # linux/netfilter_ipv6/ip6_tables.h
IP_TRANSPARENT = 19
IPV6_TRANSPARENT = 75
SO_MARK = 36


def _original_dst(sock):
    if sock.family == socket.AF_INET:
        raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port, = struct.unpack("!H", raw[2:4])
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), port
    raw = sock.getsockopt(socket.IPPROTO_IPV6, IP6T_SO_ORIGINAL_DST, 28)
    port, = struct.unpack("!H", raw[2:4])
    return socket.inet_ntop(socket.AF_INET6, raw[8:24]), port


def _fmt(addr):
    host, port = addr[0], addr[1]
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def _parse_hostport(s):
    m = re.match(r"^\[(.*)\]:(\d+)$", s) or re.match(r"^(.*):(\d+)$", s)
    if not m:
        raise ValueError("bad ADDR:PORT %r" % s)
    return m.group(1), int(m.group(2))


def _relay(a, b):
    # (peers.relay's twin: this file is copied alone to run as nobody, so it
    # imports nothing of the test directory)
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
    t.join()
    a.close()
    b.close()


def relay_main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="netns.py relay")
    ap.add_argument("--listen", required=True)
    ap.add_argument("--tproxy", action="store_true")
    ap.add_argument("--keep-source", action="store_true")
    ap.add_argument("--mark", type=int)
    a = ap.parse_args(argv)
    host, port = _parse_hostport(a.listen)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if a.tproxy:
        if fam == socket.AF_INET6:
            ls.setsockopt(socket.IPPROTO_IPV6, IPV6_TRANSPARENT, 1)
        else:
            ls.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
    ls.bind((host, port))
    ls.listen(64)
    print("listening on %s" % a.listen, flush=True)
    n = 0
    while True:
        cs, peer = ls.accept()
        n += 1
        local = cs.getsockname()
        if a.tproxy:
            dst, how = local[:2], "TPROXY"
        else:
            try:
                dst, how = _original_dst(cs), "NAT redirect"
            except OSError:
                dst = local[:2]
            if dst == local[:2]:
                print("#%d error: not redirected" % n, flush=True)
                cs.close()
                continue
        print("#%d connected: client %s, original destination %s (%s)"
              % (n, _fmt(peer), _fmt(dst), how), flush=True)
        us = socket.socket(fam, socket.SOCK_STREAM)
        if a.mark is not None:
            us.setsockopt(socket.SOL_SOCKET, SO_MARK, a.mark)
        try:
            if a.keep_source:
                if fam == socket.AF_INET6:
                    us.setsockopt(socket.IPPROTO_IPV6, IPV6_TRANSPARENT, 1)
                else:
                    us.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
                us.bind((peer[0], 0))
            us.settimeout(10)
            us.connect(dst)
            us.settimeout(None)
        except OSError as e:
            print("#%d error: cannot connect to %s: %s" % (n, _fmt(dst), e),
                  flush=True)
            cs.close()
            us.close()
            continue
        print("#%d upstream %s from %s" % (n, _fmt(dst),
                                           _fmt(us.getsockname())),
              flush=True)
        threading.Thread(target=_relay, args=(cs, us), daemon=True).start()


def _up_main():
    t = Topology()
    t.up()
    print("client %s\nrouter %s\nserver %s\n(Ctrl-C removes them)"
          % tuple(ns.name for ns in t.all), flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    t.down()


if __name__ == "__main__":
    if sys.argv[1:2] == ["relay"]:
        sys.exit(relay_main(sys.argv[2:]))
    if sys.argv[1:2] == ["up"]:
        sys.exit(_up_main())
    if sys.argv[1:2] == ["clean"]:
        for name in cleanup_stale():
            print("removed", name)
        sys.exit(0)
    print(__doc__.split("CLI")[1], file=sys.stderr)
    sys.exit(2)
