#!/usr/bin/python3
"""The catalogue of hostile inputs (docs/hostile.md): one test per entry.

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_hostile.py
Exit status 0 all passed, 1 a failure (a missing binary or peer fails, it is
never skipped).  XMITM_KEEP_TMP=1 keeps the temp dirs.

Each test starts one xmitm (recording to a file) in front of a Router: the
Router relays the well-behaved connection (a scripted client logging in to a
real prosody with PLAIN: stream header to='localhost') to prosody and hands
every other connection to the test's scripted peer (by default an echo, so
both directions carry the hostile bytes).  The well-behaved session is up
before the hostile input and must still work after it; at the end xmitm must
be alive with its descriptors back at the count it had before any
connection, exit 0 on SIGTERM with nothing on stderr but its start line (no
sanitizer report), and `xmitm show` of its recording must print exactly what
it printed live.

What each test holds xmitm to is in its docstring and in docs/hostile.md.
"""

import base64
import hashlib
import io
import json
import os
import re
import resource
import shutil
import signal
import socket
import selectors
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import client            # noqa: E402
import peers             # noqa: E402
import test_robustness as rb  # noqa: E402

XMITM = os.environ.get("XMITM")
GLOOX_CLIENT = os.environ.get("GLOOX_CLIENT")
LOOPBACK = peers.LOOPBACK
MiB = 1024 * 1024
STREAM_NS = "http://etherx.jabber.org/streams"
RSS_SLACK = 16 * MiB      # allowed growth of xmitm's RSS during one input
GOOD_USER, GOOD_PW = "good", "good-Pw-5e1f"
HOSTILE_DOMAIN = "hostile.test"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"

HEADER = ("<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
          "xmlns:stream='%s' version='1.0'>" % (HOSTILE_DOMAIN, STREAM_NS)
          ).encode()
GOOD_MARK = b"to='localhost'"
SERVER_HEADER = ("<?xml version='1.0'?><stream:stream from='%s' id='h1' "
                 "xmlns='jabber:client' xmlns:stream='%s' version='1.0'>"
                 % (HOSTILE_DOMAIN, STREAM_NS)).encode()


# --------------------------------------------------------------------------
# Small helpers

def sha(data):
    return hashlib.sha256(data).hexdigest()


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def vm_peak(pid):
    """VmPeak (the largest virtual size so far) in bytes: memory reserved but
    not touched (no RSS) shows there."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmPeak:"):
                return int(line.split()[1]) * 1024
    return 0


def fd_listing(pid):
    out = []
    try:
        for name in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
            try:
                out.append("%s -> %s" % (name, os.readlink(
                    "/proc/%d/fd/%s" % (pid, name))))
            except OSError:
                pass
    except OSError as e:
        out.append(str(e))
    return "\n".join(out)


def settled_fds(pid, timeout=5.0):
    """The descriptor count once it stopped changing for 0.3 s."""
    deadline = time.monotonic() + timeout
    last = fd_count(pid)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = fd_count(pid)
        if now == last:
            return now
        last = now
    return last


def recv_until(sock, marker, timeout=10.0, buf=b""):
    """Bytes (buf first) until marker is in them, EOF or timeout."""
    deadline = time.monotonic() + timeout
    data = bytearray(buf)
    while marker not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def recv_all(sock, timeout=30.0):
    """(bytes until EOF, how): how is 'eof', 'reset' or 'timeout'."""
    how, data = rb.wait_closed(sock, timeout)
    return data, how


def conn_lines(out, n):
    """The printed lines of connection n (event lines, not the XML)."""
    pat = re.compile(r" #%d " % n)
    return [l for l in out.splitlines() if pat.search(l)]


def decodes(out):
    """(conn, dir, line) of every `decoded:` line, after the event it
    belongs to."""
    res, cur = [], None
    for line in out.splitlines():
        m = re.search(r" #(\d+) (C->S|S->C) ", line)
        if m and not line.startswith(" "):
            cur = (int(m.group(1)), m.group(2))
        elif line.startswith("  decoded: ") and cur:
            res.append((cur[0], cur[1], line))
    return res


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --------------------------------------------------------------------------
# The upstream: prosody for the well-behaved client, scripts for the rest

def echo_handler(c, first):
    """Every byte back, then the close."""
    data = first
    while data:
        c.sendall(data)
        data = c.recv(262144)
    c.shutdown(socket.SHUT_WR)


def sink_handler(c, first):
    """Reads to EOF; answers with the length and SHA-256 of what it got."""
    h = hashlib.sha256(first)
    n = len(first)
    while True:
        data = c.recv(262144)
        if not data:
            break
        h.update(data)
        n += len(data)
    c.sendall(b"%d %s" % (n, h.hexdigest().encode()))
    c.shutdown(socket.SHUT_WR)


def b64(data):
    return base64.b64encode(data).decode()


def sasl(name, payload=None, mechanism=None):
    mech = " mechanism='%s'" % mechanism if mechanism else ""
    if payload is None:
        return "<%s xmlns='%s'%s/>" % (name, SASL_NS, mech)
    return "<%s xmlns='%s'%s>%s</%s>" % (name, SASL_NS, mech, payload, name)


SCRAM_FIRST = sasl("auth", b64(b"n,,n=bob,r=abc"), "SCRAM-SHA-1")
PLAIN = sasl("auth", b64(b"\0bob\0pw"), "PLAIN")

# What a client sends, and the note its decode must carry (C->S).
SASL_CLIENT_CASES = [
    (sasl("auth", "!!!not*base64", "PLAIN"),
     "base64: 4 invalid base64 characters, the first '!' at offset 0 (RFC "
     "4648 §4); decoded ignoring them"),
    (sasl("auth", "AGJv YgBw\ndw==", "PLAIN"),
     "base64: whitespace inside the base64 data (RFC 6120 §6.3.5 forbids "
     "it); decoded without it"),
    (sasl("auth", "  \n ", "PLAIN"),
     "payload is only whitespace, taken as no data (RFC 6120 §6.3.5)"),
    (sasl("auth", "AGJvYgBwd", "PLAIN"),
     "base64: bad base64 length: 9 characters leave one that encodes no "
     "whole byte (RFC 4648 §4); it is dropped"),
    (sasl("auth", "AGJvYgBwdw=", "PLAIN"),
     "base64: bad base64 padding: 10 characters with 1 '=' (RFC 4648 §4 "
     "wants 2)"),
    (sasl("auth", "AA==AA==", "PLAIN"),
     "base64: base64 data after '=' padding (RFC 4648 §3.3)"),
    (sasl("auth", "AGJvYgBwdx==", "PLAIN"),
     "base64: base64 padding bits are not zero (RFC 4648 §3.5)"),
    (sasl("auth", b64(b"bobpassword"), "PLAIN"),
     "PLAIN message without its two NUL separators (RFC 4616 §2: [authzid] "
     "NUL authcid NUL password); shown whole, as a secret"),
    (sasl("auth", b64(b"\0bob\0pw\0extra"), "PLAIN"),
     "more than two NULs: the password holds the rest, NULs included (RFC "
     "4616 §2 forbids NUL in it)"),
    (sasl("auth", b64(b"\0\0pw"), "PLAIN"),
     "empty authcid (RFC 4616 §2 wants one)"),
    (sasl("auth", b64(b"\0b\xffo\x1bb\0pw"), "PLAIN"),
     "authcid='b\\xffo\\x1bb'"),
    (sasl("auth", b64(b"\0bob\0pw")),
     "<auth/> without mechanism attribute (RFC 6120 §6.4.2 requires one)"),
    (sasl("auth", b64(bytes(range(32))), "X-UNKNOWN"),
     "X-UNKNOWN: client data of a mechanism xmitm does not know is treated "
     "as a secret"),
    (sasl("auth", b64(b"n,,n=bob"), "SCRAM-SHA-1"),
     "SCRAM client-first message without r= (RFC 5802 §7): truncated or "
     "malformed"),
    (sasl("auth", b64(b"n=bob,r=abc"), "SCRAM-SHA-1"),
     "malformed GS2 header (RFC 5801 §4: 'n', 'y' or 'p=<type>', a comma, "
     "'a=<authzid>' or nothing, a comma); read on as if there were none"),
    (sasl("auth", b64(b"n,,n=bob,r=abc,garbage"), "SCRAM-SHA-1"),
     "SCRAM: malformed attribute 'garbage' (RFC 5802 §7: a letter, '=', a "
     "value)"),
    (sasl("auth", b64(b"n,,n=b=ob,r=abc"), "SCRAM-SHA-1"),
     "SCRAM: n has a '=' that is not =2C or =3D (RFC 5802 §5.1 saslname)"),
    (sasl("auth", b64(b"n,a=bob,\x01garbage"), "OAUTHBEARER"),
     "OAUTHBEARER: no auth= pair (RFC 7628 §3.1 requires one)"),
    (sasl("challenge", b64(b"r=abc")),
     "<challenge/> came from the client, but RFC 6120 §6.4.3 has only the "
     "server send it"),
    (sasl("success", b64(b"v=AAAA")),
     "<success/> came from the client, but RFC 6120 §6.4.6 has only the "
     "server send it"),
    (sasl("auth", b64(b"\0bob\0" + b"p" * 600000), "PLAIN"),
     "password=<redacted, 600000 bytes>"),
    ("<authenticate xmlns='urn:xmpp:sasl:2'><initial-response>%s"
     "</initial-response></authenticate>" % b64(b"\0bob\0pw"),
     "<authenticate/> without mechanism attribute (XEP-0388 requires one)"),
    ("<iq type='set' id='a1'><query xmlns='jabber:iq:auth'><username>bob"
     "</username><digest>XYZ</digest><resource>r</resource></query></iq>",
     "digest is not 40 lowercase hex digits (XEP-0078 §3: hex SHA-1 of "
     "stream id + password)"),
]

# What the client sent first, what the server answers, and the note the
# answer's decode must carry (S->C).
SASL_SERVER_CASES = [
    (SCRAM_FIRST, sasl("challenge", b64(b"r=abcdef,s=c2FsdA==,i=-5")),
     "i= is not a positive number (RFC 5802 §7)"),
    (SCRAM_FIRST, sasl("challenge", b64(b"r=xyz,s=c2FsdA==,i=4096")),
     "r= does not start with the client's nonce (RFC 5802 §5.1)"),
    (SCRAM_FIRST, sasl("challenge", b64(b"r=abc,s=c2FsdA==,i=4096")),
     "r= adds no server nonce to the client's (RFC 5802 §5.1)"),
    (SCRAM_FIRST, sasl("challenge", "!!bad base64"),
     "base64: 2 invalid base64 characters, the first '!' at offset 0 (RFC "
     "4648 §4); decoded ignoring them"),
    (SCRAM_FIRST, sasl("success"),
     "success without a SCRAM server-final message (v=): the client cannot "
     "verify the server (RFC 5802 §5)"),
    (SCRAM_FIRST, sasl("success", b64(b"e=other-error")),
     "e=other-error: an unspecified error"),
    (sasl("auth", "", "DIGEST-MD5"),
     sasl("challenge", b64(b'realm="x,nonce=abc,,,==')),
     "DIGEST-MD5: the quoted value of realm is not closed (RFC 2831 §7.2)"),
    (sasl("auth", "", "DIGEST-MD5"),
     sasl("challenge", b64(b'nonce="a",nonce="b",qop=auth-conf')),
     "DIGEST-MD5: nonce appears more than once (RFC 2831 §2.1 lets only "
     "realm repeat)"),
    (PLAIN, sasl("failure"),
     "no defined condition in <failure/> (RFC 6120 §6.4.5 requires one)"),
    (PLAIN, "<failure xmlns='%s'><bogus/></failure>" % SASL_NS,
     "condition 'bogus' is not one of RFC 6120 §6.5"),
]


def sasl_handler(c, first):
    """to='srv-N...': answer client case N with SASL_SERVER_CASES[N];
    anything else: echo."""
    m = re.search(rb"to='srv-(\d+)\.", first)
    if not m:
        return echo_handler(c, first)
    sent, answer, _ = SASL_SERVER_CASES[int(m.group(1))]
    got = recv_until(c, sent.encode(), 10, first)
    c.sendall(SERVER_HEADER + answer.encode())
    c.shutdown(socket.SHUT_WR)
    got += recv_all(c, 10)[0]
    SASL_SEEN[int(m.group(1))] = got


SASL_SEEN = {}


def zlib_handler(c, first):
    """Plaintext XMPP up to XEP-0138 zlib, then an echo of the compressed
    bytes (a valid zlib stream from the server too)."""
    recv_until(c, b"version='1.0'>", 10, first)
    c.sendall(SERVER_HEADER + b"<stream:features><compression xmlns='http://"
              b"jabber.org/features/compress'><method>zlib</method>"
              b"</compression></stream:features>")
    recv_until(c, b"</compress>", 10)
    c.sendall(b"<compressed xmlns='http://jabber.org/protocol/compress'/>")
    echo_handler(c, c.recv(262144))


class Router:
    """A TCP server on loopback, xmitm's upstream.  A connection whose first
    bytes hold to='localhost' (the well-behaved client's stream header) is
    relayed to prosody; any other goes to handler(sock, first_bytes) in its
    own thread.  Handler exceptions are kept in .errors."""

    def __init__(self, prosody_port, handler=echo_handler):
        self.target = (LOOPBACK, prosody_port)
        self.handler = handler
        self.errors = []
        self.conns = []
        self.closing = False
        self._lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                if self.closing:
                    c.close()
                    return
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(60)
            first = c.recv(65536)
            if GOOD_MARK in first:
                self._relay(c, first)
            elif first:
                self.handler(c, first)
        except (ConnectionResetError, BrokenPipeError):
            pass    # hostile peers reset connections
        except Exception as e:
            if not self.closing:
                self.errors.append(repr(e))
        finally:
            c.close()

    def _relay(self, c, first):
        u = socket.create_connection(self.target, 10)
        with self._lock:
            self.conns.append(u)
        u.sendall(first)
        peers.relay(c, u, timeout=60)

    def close(self):
        self.closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self._lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._t.join(5)


class IdleRouter(Router):
    """A Router for thousands of connections that send nothing: one thread
    and a selector hold them (closing each on EOF); those that send the
    well-behaved client's header are relayed to prosody in a thread."""

    def __init__(self, prosody_port):
        self.sel = selectors.DefaultSelector()
        self.held = 0
        super().__init__(prosody_port)

    def _accept(self):
        self.sock.setblocking(False)
        self.sel.register(self.sock, selectors.EVENT_READ, None)
        while not self.closing:
            for key, _ in self.sel.select(0.2):
                if key.data is None:
                    try:
                        c, _ = self.sock.accept()
                    except OSError:
                        continue
                    c.setblocking(False)
                    self.sel.register(c, selectors.EVENT_READ, "conn")
                    with self._lock:
                        self.conns.append(c)
                    self.held += 1
                    continue
                c = key.fileobj
                try:
                    first = c.recv(65536)
                except OSError:
                    first = b""
                self.sel.unregister(c)
                self.held -= 1
                if GOOD_MARK in first:
                    c.setblocking(True)
                    threading.Thread(target=self._relay_one, args=(c, first),
                                     daemon=True).start()
                else:
                    c.close()

    def _relay_one(self, c, first):
        try:
            self._relay(c, first)
        except OSError:
            pass
        finally:
            c.close()


class GoodClient:
    """A scripted, well-behaved client: plaintext stream to prosody
    (through xmitm and the Router), SASL PLAIN, bind; roundtrip() sends a
    message to its own full JID and a ping, and waits for both."""

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.buf = b""
        self.jid = None
        self.n = 0

    def _send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _wait(self, marker, what, timeout=15.0):
        marker = marker.encode()
        self.buf = recv_until(self.sock, marker, timeout, self.buf)
        i = self.buf.find(marker)
        if i < 0:
            raise AssertionError("the well-behaved client got no %s (%r) "
                                 "within %.0f s; it got: %r"
                                 % (what, marker, timeout, self.buf[-2000:]))
        got = self.buf[:i + len(marker)]
        self.buf = self.buf[i + len(marker):]
        return got

    def _header(self):
        self._send("<?xml version='1.0'?><stream:stream to='localhost' "
                   "xmlns='jabber:client' xmlns:stream='%s' version='1.0'>"
                   % STREAM_NS)
        self._wait("</stream:features>", "stream features")

    def login(self):
        self.sock = socket.create_connection((LOOPBACK, self.port), 10)
        self.local_port = self.sock.getsockname()[1]
        self._header()
        plain = base64.b64encode(b"\0" + GOOD_USER.encode() + b"\0"
                                 + GOOD_PW.encode()).decode()
        self._send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                   "mechanism='PLAIN'>%s</auth>" % plain)
        self._wait("<success", "SASL success")
        self._header()
        self._send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:"
                   "xml:ns:xmpp-bind'><resource>good</resource></bind></iq>")
        got = self._wait("</iq>", "bind result")
        m = re.search(rb"<jid>([^<]+)</jid>", got)
        if not m:
            raise AssertionError("no bound JID in %r" % got)
        self.jid = m.group(1).decode()
        return self

    def roundtrip(self, tag):
        """A message to itself and a ping, both answered by prosody."""
        self.n += 1
        body = "good-%s-%d" % (tag, self.n)
        self._send("<message to='%s' type='chat' id='m%d'><body>%s</body>"
                   "</message>" % (self.jid, self.n, body))
        self._wait("<body>%s</body>" % body, "its own message back")
        self._send("<iq type='get' id='ping%d' to='localhost'><ping "
                   "xmlns='urn:xmpp:ping'/></iq>" % self.n)
        self._wait("id='ping%d'" % self.n, "the ping's answer")
        return body

    def close(self):
        try:
            self._send("</stream:stream>")
            recv_until(self.sock, b"</stream:stream>", 10, self.buf)
        finally:
            self.sock.close()


class MemTls:
    """TLS over a socket through memory BIOs, so a test can send part of a
    record, or bytes it already read (first) can start the handshake."""

    def __init__(self, sock, ctx, server_side, server_hostname=None, first=b""):
        self.sock = sock
        self.inc = ssl.MemoryBIO()
        self.out = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_side=server_side,
                                server_hostname=server_hostname)
        if first:
            self.inc.write(first)

    def flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the peer closed the connection")
        self.inc.write(data)

    def handshake(self):
        while True:
            try:
                self.obj.do_handshake()
                self.flush()
                return
            except ssl.SSLWantReadError:
                self.flush()
                self._fill()

    def hello(self):
        """The ClientHello (client side), not sent."""
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.out.read()

    def records(self, data):
        """data as TLS records, not sent."""
        self.obj.write(data)
        return self.out.read()

    def write(self, data):
        self.obj.write(data)
        self.flush()

    def read(self):
        """Plaintext; b'' on close_notify or EOF."""
        while True:
            try:
                return self.obj.read(65536)
            except ssl.SSLWantReadError:
                try:
                    self._fill()
                except EOFError:
                    return b""
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""


def tls_echo_handler(cert, key):
    """A direct-TLS upstream (prosody's certificate) that echoes what it
    decrypts; on CUT it sends half a record of its own and closes."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def handler(c, first):
        if not first.startswith(b"\x16"):
            return echo_handler(c, first)
        t = MemTls(c, ctx, True, first=first)
        t.handshake()
        while True:
            data = t.read()
            if not data:
                break
            if b"CUT" in data:
                rec = t.records(b"<message><body>cut short by the server"
                                b"</body></message>")
                c.sendall(rec[:len(rec) // 2])
                c.shutdown(socket.SHUT_WR)
                recv_all(c, 10)
                return
            t.write(data)
        c.shutdown(socket.SHUT_WR)
    return handler


class KeyUpdateFlood:
    """A TLS 1.3 client (OpenSSL through ctypes, over memory BIOs) that
    floods KeyUpdates (RFC 8446 §4.6.3): no packaged client sends more
    than a few, and Python's ssl module cannot send one.  flood(n) makes
    n KeyUpdates (no update requested) and sends them 2,000 at a time;
    returns how many went out before the connection broke."""

    def __init__(self, port):
        import ctypes
        self.ct = ctypes
        vp, ci = ctypes.c_void_p, ctypes.c_int
        self.ssl = ssl_ = ctypes.CDLL("libssl.so.3")
        self.crypto = crypto = ctypes.CDLL("libcrypto.so.3")
        for lib, name, res, args in [
                (ssl_, "TLS_client_method", vp, []),
                (ssl_, "SSL_CTX_new", vp, [vp]),
                (ssl_, "SSL_CTX_free", None, [vp]),
                (ssl_, "SSL_new", vp, [vp]),
                (ssl_, "SSL_free", None, [vp]),
                (ssl_, "SSL_set_bio", None, [vp, vp, vp]),
                (ssl_, "SSL_set_connect_state", None, [vp]),
                (ssl_, "SSL_do_handshake", ci, [vp]),
                (ssl_, "SSL_key_update", ci, [vp, ci]),
                (ssl_, "SSL_ctrl", ctypes.c_long, [vp, ci, ctypes.c_long, vp]),
                (crypto, "BIO_s_mem", vp, []),
                (crypto, "BIO_new", vp, [vp]),
                (crypto, "BIO_write", ci, [vp, ctypes.c_char_p, ci]),
                (crypto, "BIO_read", ci, [vp, ctypes.c_char_p, ci])]:
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        self.ctx = ssl_.SSL_CTX_new(ssl_.TLS_client_method())
        self.s = ssl_.SSL_new(self.ctx)
        self.rbio = crypto.BIO_new(crypto.BIO_s_mem())
        self.wbio = crypto.BIO_new(crypto.BIO_s_mem())
        ssl_.SSL_set_bio(self.s, self.rbio, self.wbio)
        ssl_.SSL_set_connect_state(self.s)
        # SSL_set_tlsext_host_name
        ssl_.SSL_ctrl(self.s, 55, 0, ctypes.c_char_p(b"localhost"))
        self.buf = ctypes.create_string_buffer(1 << 20)
        self.sock = socket.create_connection((LOOPBACK, port), 10)

    def _out(self):
        out = []
        while True:
            k = self.crypto.BIO_read(self.wbio, self.buf, len(self.buf))
            if k <= 0:
                return b"".join(out)
            out.append(self.buf.raw[:k])

    def handshake(self):
        while True:
            r = self.ssl.SSL_do_handshake(self.s)
            self.sock.sendall(self._out())
            if r == 1:
                return
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("closed during the handshake")
            self.crypto.BIO_write(self.rbio, data, len(data))

    def flood(self, n):
        sent = 0
        try:
            for i in range(n):
                self.ssl.SSL_key_update(self.s, 0)
                self.ssl.SSL_do_handshake(self.s)
                if i % 2000 == 1999:
                    self.sock.sendall(self._out())
                    sent = i + 1
            self.sock.sendall(self._out())
            sent = n
        except OSError:
            pass
        return sent

    def close(self):
        self.sock.close()
        self.ssl.SSL_free(self.s)
        self.ssl.SSL_CTX_free(self.ctx)


# --------------------------------------------------------------------------
# A packet capture of cleartext XMPP, written by hand (pcap, Ethernet)

class CaptureConn:
    def __init__(self, cap, port):
        self.cap = cap
        self.port = port
        self.seq_c = 1000
        self.seq_s = 5000
        self.frames = []
        self._emit(0, 0x02, b"", self.seq_c - 1, 0)        # SYN
        self._emit(1, 0x12, b"", self.seq_s - 1, self.seq_c)
        self._emit(0, 0x10, b"", self.seq_c, self.seq_s)

    def frame(self, payload, direction, flags=0x18, seq=None, ack=None):
        src, dst = (b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02")
        sport, dport = self.port, 5222
        if direction:
            src, dst, sport, dport = dst, src, dport, sport
        if seq is None:
            seq = self.seq_s if direction else self.seq_c
        if ack is None:
            ack = self.seq_c if direction else self.seq_s
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xffffffff,
                          ack & 0xffffffff, 5 << 4, flags, 65535, 0, 0)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload),
                         0, 0x4000, 64, 6, 0, src, dst)
        eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
        return eth + ip + tcp + payload

    def _emit(self, direction, flags, payload, seq, ack, snap=None):
        self.cap.add(self.frame(payload, direction, flags, seq, ack), snap)

    def c2s(self, data, keep=False, drop=False, snap=None):
        if not drop:
            self._emit(0, 0x18, data, self.seq_c, self.seq_s, snap)
        self.seq_c += len(data)

    def c2s_at(self, seq, data):
        self._emit(0, 0x18, data, seq, self.seq_s)

    def c2s_reordered(self, first, second):
        self._emit(0, 0x18, second, self.seq_c + len(first), self.seq_s)
        self._emit(0, 0x18, first, self.seq_c, self.seq_s)
        self.seq_c += len(first) + len(second)

    def s2c(self, data):
        self._emit(1, 0x18, data, self.seq_s, self.seq_c)
        self.seq_s += len(data)

    def fin(self):
        self._emit(0, 0x11, b"", self.seq_c, self.seq_s)
        self._emit(1, 0x11, b"", self.seq_s, self.seq_c + 1)
        self._emit(0, 0x10, b"", self.seq_c + 1, self.seq_s + 1)


class Capture:
    def __init__(self):
        self.packets = []
        self.t = 1795000000

    def conn(self, port):
        return CaptureConn(self, port)

    def packet(self, frame, snap=None):
        data = frame[:snap] if snap else frame
        self.t += 1
        return struct.pack("<IIII", self.t, 0, len(data), len(frame)) + data

    def add(self, frame, snap=None):
        self.packets.append(self.packet(frame, snap))

    def bytes(self):
        return (struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)
                + b"".join(self.packets))


class Ctx:
    """One test's xmitm, router and well-behaved client."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


# --------------------------------------------------------------------------

class HostileTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        cls.fd_limit = raise_fd_limit()
        cls.prosody = peers.Prosody(users={GOOD_USER: GOOD_PW,
                                           "alice": "alice-Pw-0c1d"},
                                    debug_log=False)
        cls.prosody.start()

    @classmethod
    def tearDownClass(cls):
        cls.prosody.stop()

    # ---- set-up and the checks every test ends with ----

    def start(self, *extra, handler=echo_handler, rss=False, router=True,
              wrapper=(), login=True):
        """xmitm (recording) in front of a Router (router=False: in front of
        prosody), its descriptor baseline, and the well-behaved client
        logged in."""
        tmp = tempfile.mkdtemp(prefix="xmitm-hostile-")
        if not os.environ.get("XMITM_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, tmp, True)
        if router is True:
            router = Router(self.prosody.port, handler)
        if router:
            self.addCleanup(router.close)
        rec = os.path.join(tmp, "rec.jsonl")
        x = peers.Xmitm(LOOPBACK, router.port if router else self.prosody.port,
                        extra_args=["--record", rec] + list(extra),
                        env=rb.rss_env() if rss else None, wrapper=wrapper)
        self.addCleanup(x.cleanup)
        x.start()
        base = settled_fds(x.proc.pid)
        ctx = Ctx(x=x, router=router, good=None, base=base, rec=rec, tmp=tmp,
                  rss0=rb.rss_bytes(x.proc.pid))
        if login:
            self.login(ctx)
        return ctx

    def login(self, ctx):
        ctx.good = GoodClient(ctx.x.port).login()
        self.addCleanup(ctx.good.sock.close)
        ctx.good.roundtrip("before")

    def hostile(self, ctx, timeout=10):
        """A raw connection to xmitm for the hostile side."""
        s = socket.create_connection((LOOPBACK, ctx.x.port), timeout)
        self.addCleanup(s.close)
        return s

    def conn_no(self, ctx, sock_or_port):
        port = (sock_or_port if isinstance(sock_or_port, int)
                else sock_or_port.getsockname()[1])
        deadline = time.monotonic() + 5
        while True:
            n = rb.conn_number(ctx.x.output(), port)
            if n is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertIsNotNone(n, "no `#N connected:` line for client port %d\n%s"
                             % (port, ctx.x.describe()))
        return n

    def wait_closed_line(self, ctx, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not rb.closed_lines(ctx.x.output(), n):
            if time.monotonic() > deadline:
                self.fail("no `#%d closed:` line\n%s" % (n, ctx.x.describe()))
            time.sleep(0.05)
        return rb.closed_lines(ctx.x.output(), n)[0]

    def assert_alive(self, ctx, when=""):
        self.assertIsNone(ctx.x.proc.poll(), "xmitm exited (status %s) %s\n%s"
                          % (ctx.x.proc.returncode, when, ctx.x.describe()))

    def assert_rss(self, ctx, peak, what):
        self.assertLessEqual(
            peak - ctx.rss0, RSS_SLACK,
            "xmitm's RSS grew by %.1f MiB during %s (from %.1f MiB; allowed "
            "%.0f MiB)\n%s" % ((peak - ctx.rss0) / MiB, what, ctx.rss0 / MiB,
                               RSS_SLACK / MiB, ctx.x.describe()))

    def finish(self, ctx, stderr_ok=None):
        """The well-behaved session still works and ends cleanly; xmitm is
        alive, back at its descriptor baseline, exits 0 with a clean
        stderr, and `show` of the recording equals the live output.
        Returns the live output."""
        x = ctx.x
        self.assert_alive(ctx, "after the hostile input")
        body = ctx.good.roundtrip("after")
        ctx.good.close()
        deadline = time.monotonic() + 15
        while fd_count(x.proc.pid) != ctx.base and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(fd_count(x.proc.pid), ctx.base,
                         "xmitm's descriptors did not come back to the "
                         "baseline once every connection closed:\n%s\n%s"
                         % (fd_listing(x.proc.pid), x.describe()))
        rc = x.stop()
        self.assertEqual(rc, 0, "xmitm exited %r after SIGTERM\n%s"
                         % (rc, x.describe()))
        err = [l for l in x.errors().splitlines()
               if not l.startswith("xmitm: listening on ")
               and not (stderr_ok and re.match(stderr_ok, l))]
        self.assertEqual(err, [], "xmitm printed on stderr:\n%s" % x.errors())
        out = x.output()
        good = self.conn_no(ctx, ctx.good.local_port)
        glines = conn_lines(out, good)
        self.assertEqual([l for l in glines if re.search(
            r" (error|warning): ", l)], [],
            "the well-behaved session #%d got errors or warnings" % good)
        self.assertEqual(out.count("<body>%s</body>" % body), 2,
                         "the well-behaved client's last message is not "
                         "printed in each direction:\n%s"
                         % "\n".join(glines))
        self.assertIn("closed: both sides closed", glines[-1])
        if ctx.router:
            self.assertEqual(ctx.router.errors, [])
        show = subprocess.run([XMITM, "show", "--color=never", ctx.rec],
                              capture_output=True, timeout=120)
        self.assertEqual((show.returncode, show.stderr), (0, b""),
                         "xmitm show of the recording")
        if show.stdout.decode("utf-8", "replace") != out:
            import difflib
            diff = list(difflib.unified_diff(
                out.splitlines(), show.stdout.decode("utf-8", "replace")
                .splitlines(), "live", "show", lineterm="", n=1))
            self.fail("xmitm show of the recording differs from the live "
                      "output:\n%s" % "\n".join(diff[:60]))
        return out

    # ------------------------------------------------------------------
    # XML

    def echo(self, ctx, payload, header=HEADER, timeout=30):
        """A hostile connection sends header + payload and closes its side;
        the echo must bring every byte back.  Returns its number."""
        s = self.hostile(ctx)
        got = {}

        def read():
            got["data"], got["how"] = recv_all(s, timeout)
        t = threading.Thread(target=read)
        t.start()
        s.sendall(header + payload)
        s.shutdown(socket.SHUT_WR)
        t.join(timeout + 5)
        sent = header + payload
        self.assertEqual((len(got["data"]), got["how"]), (len(sent), "eof"),
                         "the echo did not bring every byte back\n%s"
                         % ctx.x.describe())
        self.assertEqual(sha(got["data"]), sha(sent), "other bytes came back")
        n = self.conn_no(ctx, s)
        self.wait_closed_line(ctx, n)
        return n

    def assert_both(self, out, n, text, count=1):
        """text is in `count` lines of #n in each direction."""
        for d in ("C->S", "S->C"):
            lines = [l for l in conn_lines(out, n) if " %s " % d in l
                     and text in l]
            self.assertEqual(len(lines), count, "#%d %s: %d lines with %r, "
                             "not %d:\n%s" % (n, d, len(lines), text, count,
                                              "\n".join(conn_lines(out, n))))

    def test_billion_laughs(self):
        """A DOCTYPE declaring nested entities before the stream header,
        then 10 MB of references to the biggest: reported once per
        direction, never expanded, decoding of the direction stops, every
        byte is forwarded, memory stays flat."""
        ctx = self.start(rss=True)
        ents = "".join('<!ENTITY l%d "%s">' % (i, "&l%d;" % (i - 1) * 10
                                                 if i else "lol")
                       for i in range(10))
        doc = ("<?xml version='1.0'?><!DOCTYPE stream:stream [%s]>" % ents
               ).encode()
        refs = b"<message><body>" + b"&l9;" * (10 * MiB // 4) + b"</body></message>"
        rss = rb.RssSampler(ctx.x.proc.pid)
        self.addCleanup(rss.stop)
        n = self.echo(ctx, HEADER[len(b"<?xml version='1.0'?>"):] + refs,
                      header=doc)
        rss.stop()
        self.assert_rss(ctx, rss.peak("start"), "the billion laughs")
        out = self.finish(ctx)
        self.assert_both(out, n, "warning: DOCTYPE in the stream: XMPP forbids "
                         "it (RFC 6120 §11.1); not expanded, decoding of this "
                         "direction stops until the stream restarts (at byte ")
        self.assertNotIn("lollol", out)
        self.assertNotRegex("\n".join(conn_lines(out, n)), r" message, ")

    def test_comments_and_processing_instructions(self):
        """Comments and PIs between and inside stanzas: one warning each,
        skipped; the stanzas around them are decoded and printed."""
        ctx = self.start()
        payload = (b"<message id='c1'><!-- inside --><body>one</body>"
                   b"<?pi inside?></message><!-- between -->"
                   b"<?php echo 'between'; ?><message id='c2'><body>two"
                   b"</body></message>")
        n = self.echo(ctx, payload)
        out = self.finish(ctx)
        for what, count in (("comment", 2), ("processing instruction", 2)):
            self.assert_both(out, n, "warning: %s in the stream: XMPP forbids "
                             "it (RFC 6120 §11.1); skipped" % what, count)
        self.assert_both(out, n, " message, ", 2)
        self.assertEqual(out.count("<body>two</body>"), 2)

    def test_100mb_stanza(self):
        """A 100 MB stanza, then a normal one: reported as over the size cap
        (1 MiB by default), forwarded byte for byte, memory flat; the next
        stanza is decoded."""
        ctx = self.start(handler=sink_handler, rss=True)
        s = self.hostile(ctx, timeout=60)
        big = (b"<message id='big'><body>" + b"x" * (100 * MiB)
               + b"</body></message>")
        after = b"<message id='after'><body>after the big one</body></message>"
        rss = rb.RssSampler(ctx.x.proc.pid)
        self.addCleanup(rss.stop)
        vm0 = vm_peak(ctx.x.proc.pid)
        t0 = time.monotonic()
        s.sendall(HEADER + big + after)
        s.shutdown(socket.SHUT_WR)
        answer, how = recv_all(s, 120)
        took = time.monotonic() - t0
        rss.stop()
        sent = HEADER + big + after
        self.assertEqual(answer.decode(), "%d %s" % (len(sent), sha(sent)),
                         "the upstream did not get every byte (%s)\n%s"
                         % (how, ctx.x.describe()))
        self.assert_rss(ctx, rss.peak("start"), "the 100 MB stanza")
        vm1 = vm_peak(ctx.x.proc.pid)
        self.assertLessEqual(vm1 - vm0, 64 * MiB, "xmitm's virtual size grew "
                             "by %.0f MiB for the 100 MB stanza: it reserved "
                             "memory in proportion to it" % ((vm1 - vm0) / MiB))
        n = self.conn_no(ctx, s)
        self.wait_closed_line(ctx, n)
        out = self.finish(ctx)
        lines = "\n".join(conn_lines(out, n))
        self.assertIn("C->S warning: stanza larger than 1048576 bytes: not "
                      "decoded, still forwarded (at byte %d of this direction)"
                      % len(HEADER), lines)
        self.assertIn("C->S stanza too large to decode, %d bytes (forwarded)"
                      % len(big), lines)
        self.assertIn("C->S message, %d bytes" % len(after), lines)
        self.assertIn("<body>after the big one</body>", out)
        print("  [hostile] 100 MB stanza relayed in %.1f s, RSS %.1f -> peak "
              "%.1f MiB" % (took, ctx.rss0 / MiB, rss.peak("start") / MiB),
              file=sys.stderr)

    def test_deep_nesting(self):
        """64 levels (the cap) are decoded; 10,000 nested elements stop
        decoding of the direction with one warning; a million levels (3 MB,
        inside a stanza over the size cap) cost no memory; bytes always flow
        byte for byte."""
        ctx = self.start(rss=True)

        def nested(levels, tag):
            return (b"<message id='%s'>" % tag + b"<a>" * (levels - 1)
                    + b"</a>" * (levels - 1) + b"</message>")
        ok = self.echo(ctx, nested(64, b"deep64") + b"<presence/>")
        rss = rb.RssSampler(ctx.x.proc.pid)
        self.addCleanup(rss.stop)
        deep = self.echo(ctx, nested(10000, b"deep10k") + b"<presence/>")
        huge = self.echo(ctx, nested(1 << 20, b"deep1m") + b"<presence/>")
        rss.stop()
        self.assert_rss(ctx, rss.peak("start"), "the nested elements")
        out = self.finish(ctx)
        self.assert_both(out, ok, " message, ")
        self.assert_both(out, ok, " presence, ")
        for n, tag in ((deep, "deep10k"), (huge, "deep1m")):
            # at the 65th level's start tag
            at = len(HEADER) + len("<message id='%s'>" % tag) + 3 * 63
            self.assert_both(out, n, "warning: elements nested more than 64 "
                             "deep: decoding of this direction stops until the "
                             "stream restarts; bytes are still forwarded (at "
                             "byte %d of this direction)" % at)
        for n in (deep, huge):
            self.assertNotRegex("\n".join(conn_lines(out, n)),
                                r" (message|presence), ")
        self.assertLess(len(out), 200000, "the output is too long")

    def test_invalid_utf8(self):
        """Bytes that are not UTF-8 (a stray continuation byte, an overlong
        form, a UTF-16 surrogate, a sequence cut by markup): each is one
        error line per direction, decoding of the direction stops, every
        byte is forwarded."""
        ctx = self.start()
        cases = [b"\xff\xfe", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80",
                 b"\xe2\x98", b"\xf4\x90\x80\x80"]
        conns = []
        for bad in cases:
            payload = (b"<message><body>a" + bad + b"</body></message>"
                       b"<message><body>after</body></message>")
            conns.append(self.echo(ctx, payload))
        out = self.finish(ctx)
        for n in conns:
            self.assert_both(out, n, "error: not well-formed XML (not "
                             "well-formed (invalid token)): decoding of this "
                             "direction stops until the stream restarts; bytes "
                             "are still forwarded")
            self.assertNotIn(" message, ", "\n".join(conn_lines(out, n)))

    def test_nul_bytes(self):
        """NUL in text, in a tag name, in an attribute and before the stream
        header: one error line per direction, every byte forwarded."""
        ctx = self.start()
        cases = [(HEADER, b"<message><body>a\0b</body></message>"),
                 (HEADER, b"<mess\0age/>"),
                 (HEADER, b"<message id='a\0'/>"),
                 (b"\0", HEADER + b"<message/>")]
        conns = [self.echo(ctx, p, header=h) for h, p in cases]
        out = self.finish(ctx)
        for n in conns:
            self.assert_both(out, n, "error: not well-formed XML (")
            self.assertNotIn(" message, ", "\n".join(conn_lines(out, n)))

    def test_stream_header_without_namespace(self):
        """<stream> in no namespace, or a wrong streams namespace: a warning,
        and decoding goes on; <stream:stream> with its prefix unbound is
        malformed XML (an error, decoding stops).  Bytes flow."""
        ctx = self.start()
        msg = b"<message><body>m</body></message>"
        none = self.echo(ctx, msg, header=b"<stream to='x' version='1.0'>")
        wrong = self.echo(ctx, msg, header=b"<stream:stream xmlns:stream="
                          b"'urn:wrong' xmlns='jabber:client' to='x'>")
        unbound = self.echo(ctx, msg, header=b"<?xml version='1.0'?>"
                            b"<stream:stream to='x' version='1.0'>")
        out = self.finish(ctx)
        tail = (", not <stream:stream> in the namespace "
                "http://etherx.jabber.org/streams (RFC 6120 §4.8.1); taken as "
                "the stream header anyway (at byte 0 of this direction)")
        self.assert_both(out, none, "warning: the stream header is <stream> "
                         "in no namespace" + tail)
        self.assert_both(out, wrong, "warning: the stream header is "
                         "<stream:stream> in the namespace 'urn:wrong'" + tail)
        for n in (none, wrong):
            self.assert_both(out, n, " message, ")
        self.assert_both(out, unbound, "error: not well-formed XML (unbound "
                         "prefix): decoding of this direction stops until the "
                         "stream restarts; bytes are still forwarded (at byte "
                         "21 of this direction)")

    # ------------------------------------------------------------------
    # TLS

    def tls_client(self, ctx, sock):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.load_verify_locations(ctx.x.ca_cert)
        return MemTls(sock, c, False, server_hostname="localhost")

    def tls_start(self, *extra):
        p = self.prosody
        return self.start("--upstream-ca", p.cert, "--tls-timeout", "2", *extra,
                          handler=tls_echo_handler(p.cert, p.key))

    def starttls_client(self, ctx):
        """A raw connection through xmitm to prosody, up to <proceed/>:
        the socket, ready for the client's ClientHello."""
        s = self.hostile(ctx)
        s.sendall(("<?xml version='1.0'?><stream:stream to='localhost' "
                   "xmlns='jabber:client' xmlns:stream='%s' version='1.0'>"
                   % STREAM_NS).encode())
        recv_until(s, b"</stream:features>")
        s.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.assertIn(b"<proceed", recv_until(s, b"<proceed"))
        return s

    def test_client_rejects_certificate_after_handshake(self):
        """Clients that check the certificate only after the TLS handshake
        (mcabber, psi, NSS-based ones; here gloox, over GnuTLS, a real
        peer) finish the handshake and then close, with no alert and
        before sending a byte over TLS, when they do not trust xmitm's CA.
        xmitm does not claim the client accepted its certificate: it says
        the handshake finished, then the client closed (or reset, here a
        scripted client) before sending anything, which usually means it
        does not trust xmitm's CA, and how to export it."""
        if not (GLOOX_CLIENT and os.access(GLOOX_CLIENT, os.X_OK)):
            raise RuntimeError("set GLOOX_CLIENT to the gloox_client binary "
                               "(built when g++ and libgloox-dev are "
                               "installed)")
        ctx = self.start("--upstream-ca", self.prosody.cert, router=False)
        # gloox trusts prosody's own certificate, not xmitm's CA. In the
        # sanitizer build the peer is instrumented too: what GnuTLS keeps
        # when gloox gives up is the peer's, not xmitm's (test_decoders
        # does the same).
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(
            filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
        g = subprocess.run([GLOOX_CLIENT, "--host", LOOPBACK, "--port",
                            str(ctx.x.port), "--jid", "alice@localhost",
                            "--password", "alice-Pw-0c1d", "--tls", "--ca",
                            self.prosody.cert, "--timeout", "10"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=30, env=env)
        self.assertEqual(g.returncode, 1, g)
        self.assertIn("the server's certificate does not verify", g.stderr)
        deadline = time.monotonic() + 10
        while ctx.x.output().count("closed:") < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        # A scripted client that resets instead.
        s = self.starttls_client(ctx)
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.check_hostname = False
        c.verify_mode = ssl.CERT_NONE
        t = MemTls(s, c, False, server_hostname="localhost")
        t.handshake()
        nr = self.conn_no(ctx, s)
        rb.reset(s)
        line_r = self.wait_closed_line(ctx, nr)
        out = self.finish(ctx)
        ng = 2  # after the well-behaved client's #1
        gl = "\n".join(conn_lines(out, ng))
        self.assertRegex(gl, r"#2 layer: TLS with the client up in [\d.]+ ms: "
                         r"TLSv1\.2, [^;]*\n")
        self.assertNotIn("accepted", out)
        why = ("the TLS handshake with the client finished, then the client "
               "%s before sending anything over it: this usually means it "
               "does not trust xmitm's CA (some clients check the "
               "certificate only after the handshake, and close without an "
               "alert); export it with `xmitm ca export` (it is %s) and add "
               "it to the client's trust store")
        self.assertRegex(gl, r"#2 error: %s" % re.escape(why % (
            "MARK", ctx.x.ca_cert)).replace("MARK", "(closed the connection|"
                                            r"closed TLS \(close_notify\))"))
        self.assertRegex(gl, r"#2 closed: %s" % re.escape(why % (
            "MARK", ctx.x.ca_cert)).replace("MARK", "(closed the connection|"
                                            r"closed TLS \(close_notify\))"))
        self.assertIn("closed: " + why % ("closed the connection (Connection "
                                          "reset by peer)", ctx.x.ca_cert),
                      line_r)
        print("  [hostile] gloox: %s" % [l for l in gl.splitlines()
                                         if " error: " in l][0][:140],
              file=sys.stderr)

    def test_garbage_instead_of_client_hello(self):
        """Binary garbage as the first bytes is not TLS, so it is taken as
        XML: malformed, forwarded byte for byte.  A TLS record header with
        garbage after it ends that connection with one error line.  (After
        STARTTLS, and a handshake header with a short body: test_tls.py
        test_garbage_instead_of_client_hello.)"""
        ctx = self.tls_start()
        junk = bytes(range(256)) * 64
        n1 = self.echo(ctx, junk[1:], header=b"\x01")
        s = self.hostile(ctx)
        s.sendall(b"\x16\x03\x01\x02\x00" + junk[:512])
        data, how = recv_all(s, 10)
        n2 = self.conn_no(ctx, s)
        line = self.wait_closed_line(ctx, n2)
        out = self.finish(ctx)
        self.assert_both(out, n1, "error: not well-formed XML (not well-formed "
                         "(invalid token)): decoding of this direction stops "
                         "until the stream restarts; bytes are still forwarded "
                         "(at byte 0 of this direction)")
        self.assertIn("closed: the client did not speak TLS where it should "
                      "have: not TLS", line)
        self.assertIn("error: the client did not speak TLS where it should "
                      "have: not TLS", "\n".join(conn_lines(out, n2)))

    def test_tls_record_cut_in_half(self):
        """Half a ClientHello, then the close: one error line, the session
        ends.  Half a ClientHello, then nothing: the handshake times out
        (--tls-timeout).  Mid-session, half an application data record and
        the close, from the client and from the server: the whole records
        before it are decrypted and forwarded, the cut one is reported (it
        cannot be decrypted), the session ends."""
        ctx = self.tls_start()
        hello = self.tls_client(ctx, None).hello()

        s = self.hostile(ctx)
        s.sendall(hello[:len(hello) // 2])
        s.shutdown(socket.SHUT_WR)
        recv_all(s, 10)
        closed_hs = self.wait_closed_line(ctx, self.conn_no(ctx, s))

        s2 = self.hostile(ctx)
        s2.sendall(hello[:len(hello) // 2])
        data, how = recv_all(s2, 10)
        timed_out = self.wait_closed_line(ctx, self.conn_no(ctx, s2))

        # Mid-session, the client cuts a record.
        s3 = self.hostile(ctx)
        t3 = self.tls_client(ctx, s3)
        t3.handshake()
        t3.write(HEADER)
        self.assertEqual(t3.read(), HEADER)
        rec = t3.records(b"<message><body>never whole</body></message>")
        s3.sendall(rec[:len(rec) // 2])
        s3.shutdown(socket.SHUT_WR)
        self.assertEqual(t3.read(), b"")
        n3 = self.conn_no(ctx, s3)
        self.wait_closed_line(ctx, n3)

        # Mid-session, the server cuts a record.
        s4 = self.hostile(ctx)
        t4 = self.tls_client(ctx, s4)
        t4.handshake()
        t4.write(HEADER)
        self.assertEqual(t4.read(), HEADER)
        t4.write(b"<message><body>CUT</body></message>")
        self.assertEqual(t4.read(), b"")
        s4.shutdown(socket.SHUT_WR)
        n4 = self.conn_no(ctx, s4)
        self.wait_closed_line(ctx, n4)

        out = self.finish(ctx)
        self.assertIn("closed: the client closed the connection during the "
                      "TLS handshake", closed_hs)
        self.assertIn("closed: the TLS handshake with the client did not "
                      "finish within 2 s", timed_out)
        self.assertIn("C->S warning: the client closed the connection in the "
                      "middle of a TLS record: what it held cannot be "
                      "decrypted and was not forwarded",
                      "\n".join(conn_lines(out, n3)))
        self.assertIn("S->C warning: the server closed the connection in the "
                      "middle of a TLS record: what it held cannot be "
                      "decrypted and was not forwarded",
                      "\n".join(conn_lines(out, n4)))

    def s_client_key_updates(self, ctx, count, cmd, gap=0.01):
        """openssl s_client (direct TLS) sends count KeyUpdates, typed as
        its `k`/`K` command one line at a time, then a stream header to
        echo.
        Returns (its output, the connection's number)."""
        p = subprocess.Popen(
            ["openssl", "s_client", "-connect", "%s:%d" % (LOOPBACK, ctx.x.port),
             "-servername", "localhost", "-tls1_3"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        self.addCleanup(p.kill)
        try:
            line = b""
            while b"Verify return code" not in line:   # handshake done
                line = p.stdout.readline()
                if not line:
                    break
            port = None
            for i in range(count):
                p.stdin.write(cmd + b"\n")
                p.stdin.flush()
                time.sleep(gap)
            p.stdin.write(HEADER + b"\n")
            p.stdin.flush()
        except BrokenPipeError:
            pass
        time.sleep(1)
        for pid_port in re.findall(r"connected: client 127\.0\.0\.1:(\d+)",
                                   ctx.x.output()):
            port = int(pid_port)
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass
        out = p.stdout.read() if p.wait(10) is not None else b""
        return out.decode("utf-8", "replace"), self.conn_no(ctx, port)

    def test_key_update_flood(self):
        """TLS 1.3 KeyUpdates (RFC 8446 §4.6.3): a peer may send 32 in a
        row, then one a second; one more and xmitm closes that connection
        with a line, before it reads any further.  A real peer: openssl
        s_client sending 5 (its `K` command: update requested, so xmitm
        answers each) keeps its session, and its next line is echoed;
        sending 60 in 0.6 s, it is cut off at the 33rd.  A scripted peer
        (OpenSSL through ctypes) sends 100,000 in 256 KiB reads: xmitm
        closes it at the 33rd, the key log grows by a few lines, not by one
        a KeyUpdate, and the well-behaved session's round trip stays short
        meanwhile (it used to wait for whole reads of KeyUpdates, each a
        key derivation and a key log line)."""
        keylog = os.path.join(tempfile.mkdtemp(prefix="xmitm-keylog-"), "k")
        self.addCleanup(shutil.rmtree, os.path.dirname(keylog), True)
        ctx = self.tls_start("--keylog", keylog)

        out5, n5 = self.s_client_key_updates(ctx, 5, b"K")
        self.assertEqual(out5.count("KEYUPDATE"), 5, out5[-2000:])
        self.assertIn(HEADER.decode(), out5, "the line after the KeyUpdates "
                      "did not come back")
        out60, n60 = self.s_client_key_updates(ctx, 60, b"k")
        self.assertNotEqual(n5, n60)
        line60 = self.wait_closed_line(ctx, n60)

        flood = KeyUpdateFlood(ctx.x.port)
        self.addCleanup(flood.close)
        flood.handshake()
        with open(keylog) as f:
            keys_before = len(f.read().splitlines())
        nf = self.conn_no(ctx, flood.sock)
        rtts, problems, stop = [], [], threading.Event()

        def roundtrips():
            try:
                while not stop.is_set():
                    t0 = time.monotonic()
                    ctx.good.roundtrip("during the flood")
                    rtts.append(time.monotonic() - t0)
            except Exception as e:
                problems.append(repr(e))
        t = threading.Thread(target=roundtrips)
        t.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        sent = flood.flood(100000)
        took = time.monotonic() - t0
        time.sleep(0.5)
        stop.set()
        t.join(60)
        self.assertEqual(problems, [], "the well-behaved session during the "
                         "flood")
        self.assertNotEqual(rtts, [])
        linef = self.wait_closed_line(ctx, nf)
        with open(keylog) as f:
            keys_after = len(f.read().splitlines())
        out = self.finish(ctx)
        self.assertNotRegex("\n".join(conn_lines(out, n5)), r"KeyUpdate")
        for n, line in ((n60, line60), (nf, linef)):
            self.assertIn("closed: the client sent 33 TLS KeyUpdates in ", line)
            self.assertIn("(RFC 8446 §4.6.3; xmitm allows 32 in a row, then one "
                          "a second): a KeyUpdate flood, the connection is "
                          "closed", line)
            self.assertIn("C->S error: the client sent 33 TLS KeyUpdates",
                          "\n".join(conn_lines(out, n)))
        self.assertLess(keys_after - keys_before, 40,
                        "the flood wrote %d key log lines"
                        % (keys_after - keys_before))
        self.assertLess(max(rtts), 0.5, "the well-behaved session's round "
                        "trips during the flood: %s" % rtts)
        print("  [hostile] KeyUpdate flood: %d of 100,000 sent in %.2f s "
              "before xmitm closed it; %d key log lines; the well-behaved "
              "session's %d round trips meanwhile took at most %.1f ms"
              % (sent, took, keys_after - keys_before, len(rtts),
                 max(rtts) * 1000), file=sys.stderr)

    def test_key_update_flood_from_server(self):
        """The same limit for the server: openssl s_server (a real peer,
        prosody's certificate) behind xmitm sends 5 KeyUpdates with its `K`
        command (update requested: xmitm answers each) and the session
        goes on; 50 in 0.25 s with `k` and xmitm closes the connection at
        the 33rd, with a line."""
        p = self.prosody
        port = peers.free_port()
        srv = subprocess.Popen(
            ["openssl", "s_server", "-accept", "%s:%d" % (LOOPBACK, port),
             "-cert", p.cert, "-key", p.key, "-tls1_3"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.addCleanup(srv.wait, 10)
        self.addCleanup(srv.kill)
        peers.wait_listening(port, srv, 10)

        def to_s_server(c, first):
            u = socket.create_connection((LOOPBACK, port), 10)
            u.sendall(first)
            peers.relay(c, u, timeout=60)
            u.close()
        ctx = self.start("--upstream-ca", p.cert, handler=to_s_server)
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.load_verify_locations(ctx.x.ca_cert)
        lines = []
        for cmd, count in ((b"K", 5), (b"k", 50)):
            t = c.wrap_socket(self.hostile(ctx), server_hostname="localhost")
            t.sendall(HEADER)
            time.sleep(0.3)     # s_server has the connection
            for i in range(count):
                srv.stdin.write(cmd + b"\n")
                srv.stdin.flush()
                time.sleep(0.005)
            srv.stdin.write(b"after the KeyUpdates\n")
            srv.stdin.flush()
            got = b""
            try:
                t.settimeout(5)
                while b"after the KeyUpdates" not in got:
                    d = t.recv(65536)
                    if not d:
                        break
                    got += d
            except (OSError, ssl.SSLError):
                pass
            lines.append((got, self.conn_no(ctx, t)))
            t.close()
            self.wait_closed_line(ctx, lines[-1][1])
        out = self.finish(ctx)
        (got5, n5), (got50, n50) = lines
        self.assertIn(b"after the KeyUpdates", got5)
        self.assertNotIn(b"after the KeyUpdates", got50)
        self.assertNotRegex("\n".join(conn_lines(out, n5)), r"KeyUpdate")
        self.assertIn("S->C error: the server sent 33 TLS KeyUpdates in ",
                      "\n".join(conn_lines(out, n50)))
        self.assertIn("closed: the server sent 33 TLS KeyUpdates in ",
                      rb.closed_lines(out, n50)[0])

    # ------------------------------------------------------------------
    # Resets

    def test_reset_mid_handshake(self):
        """A client that resets after its ClientHello (xmitm is still
        shaking hands with the server), one that resets once xmitm answered,
        and a server that resets on the ClientHello: each connection ends
        with its reason in the closed line, the reset is passed on to the
        other side, nothing else is affected."""
        ctx = self.tls_start()

        s1 = self.hostile(ctx)
        s1.sendall(self.tls_client(ctx, None).hello())
        p1 = s1.getsockname()[1]
        rb.reset(s1)
        n1 = self.conn_no(ctx, p1)

        s2 = self.hostile(ctx)
        t2 = self.tls_client(ctx, s2)
        s2.sendall(t2.hello())
        self.assertTrue(recv_until(s2, b"\x16\x03", 10).startswith(b"\x16\x03"))
        p2 = s2.getsockname()[1]
        rb.reset(s2)
        n2 = self.conn_no(ctx, p2)

        old = ctx.router.handler

        def resetting(c, first):
            if first.startswith(b"\x16"):
                rb.reset(c)
            else:
                old(c, first)
        ctx.router.handler = resetting
        s3 = self.hostile(ctx)
        s3.sendall(self.tls_client(ctx, None).hello())
        data, how = recv_all(s3, 10)
        n3 = self.conn_no(ctx, s3)
        ctx.router.handler = old

        l1 = self.wait_closed_line(ctx, n1)
        l2 = self.wait_closed_line(ctx, n2)
        l3 = self.wait_closed_line(ctx, n3)
        self.assertEqual(how, "reset", "the server's reset was not passed on "
                         "to the client\n%s" % ctx.x.describe())
        self.finish(ctx)
        self.assertRegex(l1, r"closed: (client connection failed|cannot write "
                         r"to the client): Connection reset by peer")
        self.assertRegex(l2, r"closed: client connection failed: Connection "
                         r"reset by peer")
        self.assertRegex(l3, r"closed: server connection failed: Connection "
                         r"reset by peer")

    # ------------------------------------------------------------------
    # zlib (XEP-0138)

    def zlib_conn(self, ctx, compressed_payload, inflated_start):
        """A client negotiates zlib with the scripted server, then sends
        compressed_payload (a zlib stream of its own); every byte must come
        back.  Returns the connection number."""
        s = self.hostile(ctx, timeout=30)
        s.sendall(HEADER)
        got = recv_until(s, b"</stream:features>", 10)
        s.sendall(b"<compress xmlns='http://jabber.org/protocol/compress'>"
                  b"<method>zlib</method></compress>")
        got = recv_until(s, b"<compressed", 10, got)
        self.assertIn(b"<compressed", got, ctx.x.describe())
        got = recv_until(s, b"/>", 10, got.split(b"<compressed", 1)[1])
        reader = {}

        def read():
            reader["data"], reader["how"] = recv_all(s, 60)
        t = threading.Thread(target=read)
        t.start()
        s.sendall(compressed_payload)
        s.shutdown(socket.SHUT_WR)
        t.join(65)
        self.assertEqual((len(reader["data"]), reader["how"]),
                         (len(compressed_payload), "eof"), ctx.x.describe())
        self.assertEqual(sha(reader["data"]), sha(compressed_payload))
        n = self.conn_no(ctx, s)
        self.wait_closed_line(ctx, n)
        return n

    def test_decompression_bomb(self):
        """After XEP-0138 zlib: a stanza that inflates 1000:1 (100 MB of
        spaces in about 100 KB) trips the ratio cap (200:1) once 1 MiB has
        been inflated; one that inflates 12:1 past 4 MiB without ending
        trips --max-inflate.  A warning, decoding of that direction stops,
        the compressed bytes flow on untouched, memory stays flat."""
        ctx = self.start("--max-inflate", "4M", handler=zlib_handler, rss=True)
        restart = HEADER + b"<message><body>zipped</body></message>"

        z = zlib.compressobj()
        bomb = z.compress(restart + b"<message><body>")
        bomb += z.compress(b" " * (100 * MiB)) + z.flush(zlib.Z_SYNC_FLUSH)

        z2 = zlib.compressobj()
        chunk = bytes(range(48, 123)) + b" " * 800
        slow = z2.compress(restart + b"<message><body>")
        rnd = os.urandom(6 * MiB // len(chunk) * 100)
        for i in range(6 * MiB // len(chunk)):
            slow += z2.compress(rnd[i * 100:(i + 1) * 100].hex().encode()[:100]
                                + chunk)
        slow += z2.flush(zlib.Z_SYNC_FLUSH)

        rss = rb.RssSampler(ctx.x.proc.pid)
        self.addCleanup(rss.stop)
        n1 = self.zlib_conn(ctx, bomb, restart)
        n2 = self.zlib_conn(ctx, slow, restart)
        rss.stop()
        self.assert_rss(ctx, rss.peak("start"), "the decompression bombs")
        out = self.finish(ctx)
        self.assert_both(out, n1, "[zlib] message, ")
        self.assert_both(out, n1, "warning: zlib: expansion ratio over 200:1 (")
        self.assert_both(out, n1, "bytes inflated): a decompression bomb?: "
                         "decoding of this direction stops; the bytes are still "
                         "forwarded (see --max-inflate-ratio)")
        self.assert_both(out, n2, "[zlib] message, ")
        self.assert_both(out, n2, "warning: zlib: more than 4194304 inflated "
                         "bytes without a complete stanza (see --max-inflate): "
                         "decoding of this direction stops; the bytes are still "
                         "forwarded")
        self.assertNotIn("expansion ratio", "\n".join(conn_lines(out, n2)))
        print("  [hostile] bomb: %d compressed bytes for 100 MiB; slow bomb: "
              "%d compressed bytes, ratio %.0f:1" % (
                  len(bomb), len(slow), 6 * MiB * 1.0 / len(slow)),
              file=sys.stderr)

    def test_zlib_switches_to_garbage(self):
        """A zlib stream that turns to garbage after a good stanza: the good
        stanza is decoded, then one error line; the garbage is forwarded
        byte for byte and decoding of the direction stops."""
        ctx = self.start(handler=zlib_handler)
        z = zlib.compressobj()
        good = z.compress(HEADER + b"<message><body>still zlib</body>"
                          b"</message>") + z.flush(zlib.Z_SYNC_FLUSH)
        garbage = b"\xff\xfe this is not deflate " + os.urandom(4096)
        n = self.zlib_conn(ctx, good + garbage, None)
        out = self.finish(ctx)
        self.assert_both(out, n, "[zlib] message, ")
        self.assert_both(out, n, "error: zlib: not a valid zlib stream after ")
        self.assert_both(out, n, "decoding of this direction stops; the bytes "
                         "are still forwarded")
        self.assertEqual(out.count("<body>still zlib</body>"), 2)

    # ------------------------------------------------------------------
    # SASL

    def test_sasl_malformed(self):
        """Every malformed kind of SASL payload xmitm decodes, one per
        connection: from the client (bad base64 of each sort, whitespace,
        PLAIN without or with extra NULs, bytes that are not UTF-8, no
        mechanism, an unknown one, truncated and malformed SCRAM,
        OAUTHBEARER without auth=, server elements sent by the client, a
        600 KB payload, SASL2, XEP-0078) and from the server (SCRAM
        server-first with bad nonces and iteration counts, bad base64, a
        success without v=, a SCRAM error, malformed DIGEST-MD5 challenges,
        failures without or with an unknown condition).  Each decode line
        carries its note; bytes flow unchanged; passwords stay hidden."""
        ctx = self.start(handler=sasl_handler)
        conns = [self.echo(ctx, c.encode()) for c, _ in SASL_CLIENT_CASES]
        sconns = []
        SASL_SEEN.clear()
        for i, (sent, answer, _) in enumerate(SASL_SERVER_CASES):
            s = self.hostile(ctx)
            header = HEADER.replace(b"to='hostile.test'",
                                    b"to='srv-%d.hostile.test'" % i)
            s.sendall(header + sent.encode())
            s.shutdown(socket.SHUT_WR)
            data, how = recv_all(s, 10)
            self.assertEqual(data, SERVER_HEADER + answer.encode())
            n = self.conn_no(ctx, s)
            self.wait_closed_line(ctx, n)
            deadline = time.monotonic() + 10
            while i not in SASL_SEEN and time.monotonic() < deadline:
                time.sleep(0.02)   # the handler thread finishes after xmitm
            self.assertEqual(SASL_SEEN.get(i), header + sent.encode())
            sconns.append(n)
        out = self.finish(ctx)
        lines = decodes(out)
        for n, (_, note) in zip(conns, SASL_CLIENT_CASES):
            mine = [l for c, d, l in lines if c == n and d == "C->S"]
            self.assertEqual(len(mine), 1, (n, mine))
            self.assertIn(note, mine[0])
        for n, (_, _, note) in zip(sconns, SASL_SERVER_CASES):
            mine = [l for c, d, l in lines if c == n and d == "S->C"]
            self.assertEqual(len(mine), 1, (n, mine))
            self.assertIn(note, mine[0])
        self.assertNotIn("password='", out)
        self.assertNotRegex(out, r"[\x00-\x08\x0b-\x1f]",
                            "a control character reached the output")
        self.assertNotRegex("\n".join(l for l in out.splitlines()
                                      if re.search(r" #\d+ ", l)),
                            r" error: ", "a SASL payload made an XML error")

    # ------------------------------------------------------------------
    # xmitm's own XML

    def test_injection_into_the_stream_error(self):
        """The upstream cannot be reached: the <stream:error> xmitm answers
        with carries the client's namespace and `to` escaped.  A header
        with ', ", <, & and > in every attribute (the namespace too) gets a
        reply that parses, holds the values as sent, and has no element
        the client injected.  (Replay's recorded stream id and mechanism:
        test_replay.py test_recorded_values_are_escaped.)"""
        hostile = "x'\"<&>y"
        esc = (hostile.replace("&", "&amp;").replace("<", "&lt;")
               .replace(">", "&gt;").replace("'", "&apos;")
               .replace('"', "&quot;"))
        x = peers.Xmitm(LOOPBACK, peers.free_port(), extra_args=["-q"])
        self.addCleanup(x.cleanup)
        x.start()
        for ns, to in (("jabber:client'><evil/><x a='", "localhost"),
                       ("jabber:client" + hostile, hostile),
                       ("jabber:client", "a.test'><evil/>")):
            header = ("<?xml version='1.0'?><stream:stream xmlns='%s' "
                      "xmlns:stream='%s' to='%s' from='%s' id='%s' "
                      "version='%s' xml:lang='%s'>"
                      % (ns.replace("&", "&amp;").replace("<", "&lt;")
                         .replace(">", "&gt;").replace("'", "&apos;"),
                         STREAM_NS, to.replace("&", "&amp;").replace(
                             "<", "&lt;").replace(">", "&gt;").replace(
                             "'", "&apos;"), esc, esc, esc, esc))
            with socket.create_connection((LOOPBACK, x.port), 10) as s:
                s.sendall(header.encode())
                reply, how = recv_all(s, 15)
            self.assertEqual(how, "eof", reply)
            decls = []
            try:
                elems = [e for ev, e in ET.iterparse(
                    io.BytesIO(reply), events=("start-ns", "start"))
                    if ev == "start" or decls.append(e)]
            except ET.ParseError as e:
                self.fail("xmitm's reply is not well-formed XML (%s): %r"
                          % (e, reply))
            self.assertIn(("", ns), decls, reply)
            root = elems[0]
            self.assertEqual(root.get("from"), to, reply)
            self.assertEqual([e.tag.split("}")[-1] for e in elems], [
                "stream", "error", "remote-connection-failed", "text"], reply)
        self.assertEqual(x.stop(), 0, x.describe())

    # ------------------------------------------------------------------
    # Internationalised domains

    def test_unicode_stream_to(self):
        """issue 25 defect 8: a client's stream header says to='münchen.test'
        (U-labels); the server's certificate names xn--mnchen-3ya.test (its
        A-labels, RFC 6125 §6.4.2).  xmitm verifies the upstream against
        the A-label name (and sends it as SNI), and the leaf it forges
        carries it: the client's TLS check for the A-label passes, and a
        message goes through both ways."""
        alabel = "xn--mnchen-3ya.test"
        tmp = tempfile.mkdtemp(prefix="xmitm-hostile-idna-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        r = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
             "-days", "30", "-subj", "/CN=%s" % alabel, "-addext",
             "subjectAltName=DNS:%s" % alabel], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cert, key)
        seen = {}

        def handler(c, first):
            got = recv_until(c, b"version='1.0'>", 10, first)
            c.sendall(SERVER_HEADER + b"<stream:features><starttls xmlns="
                      b"'urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>")
            recv_until(c, b"tls'/>", 10, got)
            c.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            t = MemTls(c, sctx, True)
            t.handshake()
            while True:
                data = t.read()
                if not data:
                    break
                t.write(data)
            c.shutdown(socket.SHUT_WR)

        sctx.sni_callback = lambda sock, name, ctx: seen.__setitem__(
            "sni", name)
        ctx = self.start("--upstream-ca", cert, handler=handler)
        s = self.hostile(ctx)
        s.sendall(("<?xml version='1.0'?><stream:stream to='münchen.test' "
                   "xmlns='jabber:client' xmlns:stream='%s' version='1.0'>"
                   "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                   % STREAM_NS).encode())
        got = recv_until(s, b"<proceed", 10)
        self.assertIn(b"<proceed", got, ctx.x.describe())
        recv_until(s, b"/>", 10, got[got.index(b"<proceed"):])
        cctx = ssl.create_default_context(cafile=ctx.x.ca_cert)
        t = MemTls(s, cctx, False, server_hostname=alabel)
        try:
            t.handshake()
        except (ssl.SSLError, EOFError) as e:
            self.fail("the client's TLS handshake for %s failed: %s\n%s"
                      % (alabel, e, ctx.x.describe()))
        leaf = t.obj.getpeercert()
        self.assertIn(("DNS", alabel), leaf["subjectAltName"])
        msg = b"<message><body>gr\xc3\xbc\xc3\x9fe</body></message>"
        t.write(msg)
        back = b""
        while msg not in back:
            data = t.read()
            if not data:
                break
            back += data
        self.assertIn(msg, back, ctx.x.describe())
        s.shutdown(socket.SHUT_WR)
        recv_all(s, 10)
        self.assertEqual(seen.get("sni"), alabel)
        n = self.conn_no(ctx, s)
        self.wait_closed_line(ctx, n)
        out = self.finish(ctx)
        self.assertIn("grüße", "\n".join(l for l in out.splitlines()))

    # ------------------------------------------------------------------
    # Secrets beyond SASL

    def test_secrets_beyond_sasl(self):
        """A real prosody (mod_register, a MUC): an account registered in
        band (XEP-0077 <password>), a room made password-protected through
        its owner form (the XEP-0004 text-private room secret) and joined
        with the password (XEP-0045 <password>, prosody lets the client in);
        scripted peers (echoed, so in both directions): an XEP-0114
        <handshake>, XEP-0220 dialback keys, a text-private field in a
        message.  Each is `[secret: N bytes hidden, ...]` in the output, and
        none is in the output, the recording, `show` or `export --pcap`."""
        muc = "conference.localhost"
        prosody = peers.Prosody(
            users={GOOD_USER: GOOD_PW}, debug_log=False, modules=["register"],
            extra_config='allow_registration = true\nComponent "%s" "muc"\n'
            % muc)
        prosody.start()
        self.addCleanup(prosody.stop)
        ctx = self.start(router=Router(prosody.port))
        reg_pw, room_pw, hs, key, pin = ("REG-secret-1f2e", "ROOM-secret-3d4c",
                                         "a9993e364706816aba3e25717850c26c9cd0d89d",
                                         "b4835385f37fe2895af6c196b59097b16862406db8055990",
                                         "PIN-secret-5b6a-77")
        secrets = (reg_pw, room_pw, hs, key, pin)
        # XEP-0077 in band, then a login as the new account
        owner = GoodClient(ctx.x.port)
        owner.sock = socket.create_connection((LOOPBACK, ctx.x.port), 10)
        self.addCleanup(owner.sock.close)
        owner._header()
        owner._send("<iq type='set' id='reg1'><query xmlns='jabber:iq:register'>"
                    "<username>newbie</username><password>%s</password>"
                    "</query></iq>" % reg_pw)
        def tag(c, marker, what):
            """The start tag holding marker."""
            return c._wait(marker, what) + c._wait(">", what)
        self.assertIn(b"type='result'", tag(owner, "'reg1'", "registration"))
        owner._send(sasl("auth", b64(b"\0newbie\0" + reg_pw.encode()),
                         "PLAIN"))
        owner._wait("<success", "SASL success with the registered password")
        owner._header()
        owner._send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:"
                    "ns:xmpp-bind'><resource>r</resource></bind></iq>")
        owner._wait("</iq>", "bind")
        # a room, made password-protected (the owner form's text-private
        # field, submitted as clients do: without the field types)
        room = "den@" + muc
        owner._send("<presence to='%s/owner'><x xmlns='http://jabber.org/"
                    "protocol/muc'/></presence>" % room)
        owner._wait("status code='201'", "the new room")
        owner._send("<iq type='get' id='cfg1' to='%s'><query xmlns='http://"
                    "jabber.org/protocol/muc#owner'/></iq>" % room)
        form = owner._wait("</iq>", "the room's configuration form")
        self.assertRegex(form, rb"var=.muc#roomconfig_roomsecret.")
        owner._send(
            "<iq type='set' id='cfg2' to='%s'><query xmlns='http://jabber.org/"
            "protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>"
            "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#"
            "roomconfig</value></field><field var='muc#roomconfig_password"
            "protectedroom'><value>1</value></field><field var='muc#roomconfig"
            "_roomsecret'><value>%s</value></field></x></query></iq>"
            % (room, room_pw))
        self.assertIn(b"type='result'", tag(owner, "'cfg2'", "configuration"))
        # the well-behaved client joins with the password: prosody agrees
        ctx.good._send("<presence to='%s/good'><x xmlns='http://jabber.org/"
                       "protocol/muc'><password>%s</password></x></presence>"
                       % (room, room_pw))
        ctx.good._wait("status code='110'", "its own presence in the room")
        ctx.good._send("<presence to='%s/good' type='unavailable'/>" % room)
        ctx.good._wait("type='unavailable'", "leaving the room")
        owner.close()
        # scripted: a component's handshake, dialback, a private field
        comp = self.echo(ctx, ("<handshake>%s</handshake>" % hs).encode(),
                         header=HEADER.replace(b"jabber:client",
                                               b"jabber:component:accept"))
        dialback = self.echo(ctx, (
            "<db:result from='a.test' to='b.test'>%s</db:result>"
            "<db:verify from='b.test' to='a.test' id='i1'>%s</db:verify>"
            "<db:result from='a.test' to='b.test' type='valid'/>"
            % (key, key)).encode(), header=HEADER.replace(
                b"jabber:client'", b"jabber:server' xmlns:db='jabber:server:"
                b"dialback'"))
        form = self.echo(ctx, ("<message id='f'><x xmlns='jabber:x:data' "
                               "type='form'><field var='pin' type='text-private'>"
                               "<value>%s</value></field></x></message>"
                               % pin).encode())
        out = self.finish(ctx)
        with open(ctx.rec) as f:
            rec = f.read()
        for what, text in (("output", out), ("recording", rec)):
            self.assertEqual([sec for sec in secrets if sec in text], [],
                             "secrets in the %s" % what)
        pcap = os.path.join(ctx.tmp, "out.pcap")
        r = self.run_file("export", "--pcap", pcap, ctx.rec)
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        with open(pcap, "rb") as f:
            data = f.read()
        self.assertEqual([sec for sec in secrets if sec.encode() in data], [],
                         "secrets in the exported capture")
        hidden = "[secret: %d bytes hidden, --show-secrets shows them]"
        lines = out.splitlines()
        for sec in (reg_pw, room_pw):
            self.assertTrue(any(hidden % len(sec) in l for l in lines), sec)
        for n, sec, count in ((comp, hs, 1), (dialback, key, 2),
                              (form, pin, 1)):
            self.assertEqual(out.count(hidden % len(sec)), 2 * count,
                             "\n".join(conn_lines(out, n)))

    def test_secrets_quiet_recording(self):
        """The same secrets through `xmitm proxy --quiet --record`: its
        recorder frames messages and presences lazily (no tree), yet a
        MUC join's or invitation's <password> and a form's text-private
        value in them are redacted in the recording and `export --pcap`."""
        tmp = tempfile.mkdtemp(prefix="xmitm-hostile-quiet-")
        self.addCleanup(shutil.rmtree, tmp, True)
        router = Router(self.prosody.port)
        self.addCleanup(router.close)
        rec = os.path.join(tmp, "quiet.jsonl")
        x = peers.Xmitm(LOOPBACK, router.port, extra_args=["-q", "--record",
                                                            rec])
        self.addCleanup(x.cleanup)
        x.start()
        secrets = ("JOIN-secret-71", "INVITE-secret-802", "FORM-secret-9a3b")
        payload = (
            "<presence to='den@muc.test/me'><x xmlns='http://jabber.org/"
            "protocol/muc'><password>%s</password></x></presence>"
            "<message to='den@muc.test'><x xmlns='http://jabber.org/protocol/"
            "muc#user'><invite to='b@x.test'/><password>%s</password></x>"
            "</message><message id='f'><x xmlns='jabber:x:data' type='form'>"
            "<field var='pin' type='text-private'><value>%s</value></field>"
            "</x></message><message><body>plain</body></message>"
            % secrets).encode()
        s = socket.create_connection((LOOPBACK, x.port), 10)
        self.addCleanup(s.close)
        s.sendall(HEADER + payload)
        s.shutdown(socket.SHUT_WR)
        data, how = recv_all(s, 15)
        self.assertEqual((data, how), (HEADER + payload, "eof"))
        self.assertEqual(x.stop(), 0, x.describe())
        with open(rec) as f:
            text = f.read()
        self.assertIn("<body>plain</body>", text)
        self.assertEqual([sec for sec in secrets if sec in text], [],
                         "secrets in the recording")
        self.assertEqual(text.count('"redacted":'), 2 * len(secrets))
        pcap = os.path.join(tmp, "out.pcap")
        r = self.run_file("export", "--pcap", pcap, rec)
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        with open(pcap, "rb") as f:
            data = f.read()
        self.assertEqual([sec for sec in secrets if sec.encode() in data], [],
                         "secrets in the exported capture")

    # ------------------------------------------------------------------
    # Connections that do nothing

    SLOWLORIS = 5000

    def test_slowloris(self):
        """5,000 connections that send nothing: xmitm holds them (two
        descriptors each; it raised its soft descriptor limit to the hard
        one at start-up), and two real slixmpp clients log in through the
        same xmitm to prosody and exchange a message meanwhile.  Once the
        idle ones close, every descriptor is given back.  (The idle
        connections' upstream is a script holding them: prosody's own
        handling of 5,000 half-closed strangers is not under test.  They
        are held with --tls-timeout 300: by default a connection silent
        for 10 s is closed, test_silent_connections.)"""
        n = self.SLOWLORIS
        ctx = self.start("--tls-timeout", "300",
                         router=IdleRouter(self.prosody.port))
        x = ctx.x
        with open("/proc/%d/limits" % x.proc.pid) as f:
            lim = [l.split() for l in f if l.startswith("Max open files")][0]
        self.assertEqual(lim[3], lim[4], "xmitm did not raise its soft "
                         "descriptor limit to the hard one: %s" % lim)
        need = 2 * n + 100
        self.assertGreaterEqual(
            min(int(lim[3]), self.fd_limit), need,
            "this machine allows %s descriptors per process (hard limit), "
            "%d are needed: raise it (ulimit -Hn, or LimitNOFILE in systemd)"
            % (min(int(lim[3]), self.fd_limit), need))
        idle = []
        self.addCleanup(lambda: [c.close() for c in idle])
        t0 = time.monotonic()
        for i in range(n):
            idle.append(socket.create_connection((LOOPBACK, x.port), 10))
        opened = time.monotonic() - t0
        deadline = time.monotonic() + 60
        while (fd_count(x.proc.pid) < ctx.base + 2 * n + 2
               and time.monotonic() < deadline):
            time.sleep(0.1)
        held = fd_count(x.proc.pid)
        rss = rb.rss_bytes(x.proc.pid)
        self.assertGreaterEqual(held, ctx.base + 2 * n, "xmitm does not hold "
                                "the idle connections\n%s" % x.describe())

        body = "through 5,000 idle connections"
        results = {}
        bob = threading.Thread(target=lambda: results.__setitem__(
            "bob", client.run(self.prosody.jid("alice"), "alice-Pw-0c1d",
                              LOOPBACK, x.port, expect_body=body,
                              timeout=60)))
        bob.start()
        deadline = time.monotonic() + 60
        while "presence" not in x.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        results["good"] = client.run(
            self.prosody.jid(GOOD_USER), GOOD_PW, LOOPBACK, x.port,
            send_to=self.prosody.jid("alice"), body=body, timeout=60)
        bob.join(70)
        self.assertEqual((results.get("bob"), results.get("good")),
                         (None, None), x.describe())
        self.assert_alive(ctx, "with 5,000 idle connections")

        t0 = time.monotonic()
        for c in idle:
            c.close()
        idle.clear()
        deadline = time.monotonic() + 60
        while fd_count(x.proc.pid) > ctx.base + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        released = time.monotonic() - t0
        out = self.finish(ctx)
        self.assertEqual(out.count("closed: both sides closed"), n + 3)
        print("  [hostile] %d idle connections opened in %.1f s; xmitm held "
              "%d descriptors, RSS %.1f MiB (%.1f KiB per connection over "
              "%.1f MiB); all released %.1f s after closing"
              % (n, opened, held, rss / MiB, (rss - ctx.rss0) / 1024.0 / n,
                 ctx.rss0 / MiB, released), file=sys.stderr)

    def silent_connections(self, ctx, count, timeout_s):
        """count connections that connect and close at once, and count
        that connect and stay silent.  Returns (closers, silent): their
        `closed:` lines, and how long the slowest silent one waited for
        xmitm to close it."""
        closers = []
        for i in range(count):
            s = socket.create_connection((LOOPBACK, ctx.x.port), 10)
            closers.append(s.getsockname()[1])
            s.close()
        silent = [self.hostile(ctx) for i in range(count)]
        t0 = time.monotonic()
        waited = 0.0
        for s in silent:
            data, how = recv_all(s, timeout_s + 10)
            self.assertEqual((data, how), (b"", "eof"), "a silent connection "
                             "was not closed by xmitm within %d s\n%s"
                             % (timeout_s + 10, ctx.x.describe()))
            waited = max(waited, time.monotonic() - t0)
        closed = [self.wait_closed_line(ctx, self.conn_no(ctx, p), 5)
                  for p in closers]
        quiet = [self.wait_closed_line(ctx, self.conn_no(ctx, s), 5)
                 for s in silent]
        return closed, quiet, waited

    def test_silent_connections(self):
        """A TCP connection that sends nothing is closed within
        --tls-timeout, with a `closed:` line, in every mode.  With
        --upstream-tls xmitm connects upstream only once the first bytes
        say where: a client that connects and closes without a byte is
        closed at once (it used to stay in CLOSE-WAIT for ever, one
        descriptor each); one that stays silent is closed after
        --tls-timeout.  Without --upstream-tls (the upstream connected at
        once) the same timeout holds."""
        for mode in ("--upstream-tls", "plain"):
            router = Router(self.prosody.port)
            extra = ["--tls-timeout", "2"]
            if mode == "--upstream-tls":
                extra += ["--upstream-tls", "%s:%d" % (LOOPBACK, router.port)]
            ctx = self.start(*extra, router=router)
            closed, quiet, waited = self.silent_connections(ctx, 20, 2)
            self.assertLess(waited, 2 + 1.5, "%s: the silent connections "
                            "waited %.1f s for xmitm to close them "
                            "(--tls-timeout 2)" % (mode, waited))
            if mode == "--upstream-tls":
                for line in closed:
                    self.assertIn("closed: the client closed the connection "
                                  "without sending anything", line)
            for line in quiet:
                self.assertIn("closed: the client sent nothing within 2 s of "
                              "connecting (--tls-timeout)", line)
            self.finish(ctx)
            print("  [hostile] %s: 20 silent connections closed after %.1f s "
                  "(--tls-timeout 2)" % (mode, waited), file=sys.stderr)

    def test_out_of_descriptors(self):
        """With only 64 descriptors (hard limit): 100 idle connections; xmitm
        serves what it can, says once that it cannot accept more (with the
        count and the limit), does not spin while new connections wait,
        says when it accepts again, and serves the waiting ones once
        descriptors are free."""
        ctx = self.start(router=False, wrapper=["prlimit", "--nofile=64:64"],
                         login=False)
        x = ctx.x
        idle = []
        self.addCleanup(lambda: [c.close() for c in idle])
        for i in range(100):
            idle.append(socket.create_connection((LOOPBACK, x.port), 10))
        deadline = time.monotonic() + 10
        while ("cannot accept" not in x.errors()
               and time.monotonic() < deadline):
            time.sleep(0.05)
        with open("/proc/%d/stat" % x.proc.pid) as f:
            t0 = sum(int(v) for v in f.read().rsplit(")", 1)[1].split()[11:13])
        time.sleep(2)
        with open("/proc/%d/stat" % x.proc.pid) as f:
            t1 = sum(int(v) for v in f.read().rsplit(")", 1)[1].split()[11:13])
        ticks = os.sysconf("SC_CLK_TCK")
        self.assertLess((t1 - t0) / ticks, 0.2, "xmitm used %.2f s of CPU in "
                        "2 s while out of descriptors: it spins" %
                        ((t1 - t0) / ticks))
        self.assertRegex(x.errors(), r"xmitm: cannot accept more connections: "
                         r"Too many open files \(\d+ connections open, 64 "
                         r"descriptors allowed: raise the limit with ulimit "
                         r"-n\); new connections wait until descriptors are "
                         r"free\n")
        for c in idle:
            c.close()
        idle.clear()
        deadline = time.monotonic() + 20
        while x.output().count("closed:") < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(x.output().count("closed:"), 100, x.describe())
        self.assertRegex(x.errors(), r"xmitm: accepting connections again")
        self.login(ctx)
        out = self.finish(ctx, stderr_ok=r"xmitm: (cannot accept more "
                          r"connections|accepting connections again)")
        self.assertEqual(out.count("closed:"), 101)

    # ------------------------------------------------------------------
    # Signals

    def test_signals(self):
        """SIGUSR1 and SIGUSR2 (sent by mistake, or by a tool expecting a
        reload) are ignored: xmitm goes on serving.  SIGHUP (the terminal
        closed) stops it as SIGTERM does: every open session gets its
        `closed:` line, the recording keeps them, exit 0."""
        ctx = self.start()
        x = ctx.x
        s = self.hostile(ctx)
        s.sendall(HEADER)
        self.assertEqual(recv_until(s, HEADER, 10), HEADER)
        n = self.conn_no(ctx, s)
        for sig in (signal.SIGUSR1, signal.SIGUSR2):
            x.proc.send_signal(sig)
            time.sleep(0.3)
            self.assert_alive(ctx, "after %s" % sig.name)
        ctx.good.roundtrip("after SIGUSR1 and SIGUSR2")
        good = self.conn_no(ctx, ctx.good.local_port)
        x.proc.send_signal(signal.SIGHUP)
        try:
            rc = x.proc.wait(10)
        except subprocess.TimeoutExpired:
            rc = None
        self.assertEqual(rc, 0, "xmitm did not exit 0 within 10 s of SIGHUP "
                         "(%r)\n%s" % (rc, x.describe()))
        self.assertEqual(rb.wait_closed(s, 5)[0], "eof")
        x.stop()
        err = [l for l in x.errors().splitlines()
               if not l.startswith("xmitm: listening on ")]
        self.assertEqual(err, [], "xmitm printed on stderr:\n%s" % x.errors())
        out = x.output()
        for k in (n, good):
            self.assertIn("closed: xmitm is stopping (signal)",
                          "\n".join(rb.closed_lines(out, k)))
        show = subprocess.run([XMITM, "show", "--color=never", ctx.rec],
                              capture_output=True, timeout=120)
        self.assertEqual((show.returncode, show.stderr), (0, b""))
        self.assertEqual(show.stdout.decode("utf-8", "replace"), out,
                         "the recording lost lines at SIGHUP")

    # ------------------------------------------------------------------
    # Files

    def run_file(self, *args, timeout=120):
        """xmitm on a file; any GLib critical aborts it."""
        env = dict(os.environ, G_DEBUG="fatal-criticals")
        return subprocess.run([XMITM] + list(args), capture_output=True,
                              timeout=timeout, env=env)

    def test_corrupted_recording(self):
        """A recording damaged every way a file can be: lines that are not
        JSON or not objects, members of the wrong type, numbers far out of
        range, a stanza without a direction, recorded XML that is a billion
        laughs, 100,000 levels deep, not well-formed or holds a NUL, binary
        garbage, and a last line cut short.  show and export read it (exit
        0), name each damaged line on stderr, print the rest; replay refuses
        it with exit 2.  (A cut, an empty, a garbage and a foreign file:
        test_recording.py test_sigkill_keeps_every_complete_line and
        test_bad_files.)"""
        tmp = tempfile.mkdtemp(prefix="xmitm-hostile-rec-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "damaged.jsonl")

        def ev(**kw):
            return json.dumps(kw).encode()
        ents = "".join('<!ENTITY l%d "%s">' % (i, "&l%d;" % (i - 1) * 10
                                                 if i else "lol")
                       for i in range(10))
        lines = [
            b'{"format":"xmitm-recording","format_version":1,"source":"proxy"}',
            ev(t=1, conn=1, ev="open", text="client 127.0.0.1:1"),
            ev(t=2, conn=1, ev="stream-open", dir="c2s",
               xml=HEADER.decode()),
            ev(t=3, conn=1, ev="stanza", dir="c2s",
               xml="<!DOCTYPE m [%s]><message><body>&l9;</body></message>"
               % ents),
            ev(t=4, conn=1, ev="stanza", dir="c2s",
               xml="<message>" + "<a>" * 100000 + "</a>" * 100000
               + "</message>"),
            ev(t=5, conn=1, ev="stanza", dir="c2s",
               xml="<message><body>not closed"),
            ev(t=6, conn=1, ev="stanza", dir="c2s",
               xml="<message><body>\u0000</body></message>"),
            ev(t=7, conn=1, ev="stanza", dir="sideways", xml="<message/>"),
            ev(t=1e300, conn=1e300, ev="note", text="far future"),
            ev(t=8, conn=1, ev="sasl", dir="c2s", protocol="SASL",
               fields=[1, "x", None, {"name": None, "value": 5}],
               notes=[None, 5, "a note"]),
            ev(t=9, conn=1, ev="sasl", dir="c2s", fields="not an array",
               notes={"not": "an array"}),
            ev(t=10, conn=1, ev="layer", dir="s2c", layer="tls",
               cert="not an object", verified=7),
            ev(t=11, conn=1, ev="note", level="panic", text=None),
            ev(t=12, conn=1, ev="keepalive", dir="c2s", count="many"),
            b"[1, 2, 3]",
            b"\x00\x01\x02 binary \xff\xfe",
            os.urandom(2048).replace(b"\n", b" "),
            b'{"t": 13' + b', "x": 1' * 100000 + b'}',
            ev(t=14, conn=1, ev="stanza", dir="c2s",
               xml="<message><body>the last good one</body></message>"),
            ev(t=15, conn=1, ev="close", text="done", c2s_bytes=-1,
               s2c_bytes=1e300),
        ]
        with open(path, "wb") as f:
            f.write(b"\n".join(lines) + b'\n{"t":16,"conn":1,"ev":"sta')
        show = self.run_file("show", "--color=never", path)
        err = show.stderr.decode("utf-8", "replace")
        self.assertEqual(show.returncode, 0, err)
        self.assertNotIn("CRITICAL", err)
        self.assertNotIn("Sanitizer", err)
        for no, what in ((4, "the recorded stanza is not well-formed XML; "
                          "skipped"),
                         (5, "the recorded stanza is not well-formed XML; "
                          "skipped"),
                         (6, "the recorded stanza is not well-formed XML; "
                          "skipped"),
                         (7, "the recorded stanza is not well-formed XML; "
                          "skipped"),
                         (8, "a stanza without a direction; skipped"),
                         (15, "not a JSON object (not an object); skipped"),
                         (16, "not a JSON object ("),
                         (17, "not a JSON object ("),
                         (21, "the last line is cut short")):
            self.assertIn("damaged.jsonl: line %d: %s" % (no, what), err)
        out = show.stdout.decode("utf-8", "replace")
        self.assertIn("<body>the last good one</body>", out)
        self.assertIn("closed: done", out)
        self.assertNotIn("lollol", out)
        self.assertLess(len(out), 100000)
        exp = self.run_file("export", "--pcap", os.path.join(tmp, "o.pcap"),
                            path)
        self.assertEqual(exp.returncode, 0, exp.stderr)
        self.assertNotIn(b"CRITICAL", exp.stderr)
        rep = self.run_file("replay", path, "--server", "127.0.0.1:9",
                            "--password", "x")
        self.assertEqual(rep.returncode, 2, rep)
        self.assertNotIn(b"CRITICAL", rep.stderr)
        self.assertNotIn(b"Sanitizer", rep.stderr)

    def brief_proxy(self, *args):
        """xmitm proxy with args, stopped (SIGTERM) once it listens, or its
        refusal: (exit status, stderr)."""
        p = subprocess.Popen(
            [XMITM, "proxy", "--listen", "%s:%d" % (LOOPBACK, peers.free_port()),
             "--upstream", "%s:1" % LOOPBACK, "-q"] + list(args),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=dict(os.environ, G_DEBUG="fatal-criticals"))
        self.addCleanup(lambda: p.poll() is None and p.kill())
        line = p.stderr.readline()
        if b"listening on" in line:
            time.sleep(0.3)     # its SIGTERM handler comes after the line
            p.terminate()
        err = line + p.stderr.read()
        p.stderr.close()
        return p.wait(10), err

    def test_output_files_through_links(self):
        """--record, --pcap, --keylog and replay's --junit named through a
        symbolic link to someone else's file: refused with one line (exit 1,
        replay 2), and the file behind the link keeps its content and mode.
        Through a hard link: xmitm writes a new private file in its place,
        and the file behind the link keeps its content and mode.  An
        existing key log that others can read is refused, never chmod-ed."""
        tmp = tempfile.mkdtemp(prefix="xmitm-hostile-links-")
        self.addCleanup(shutil.rmtree, tmp, True)
        victim = os.path.join(tmp, "victim")

        def plant(name, how):
            with open(victim, "w") as f:
                f.write("precious\n")
            os.chmod(victim, 0o644)
            path = os.path.join(tmp, name)
            how(victim, path)
            return path

        def intact(what):
            with open(victim) as f:
                self.assertEqual(f.read(), "precious\n", what)
            self.assertEqual(os.stat(victim).st_mode & 0o7777, 0o644, what)

        for opt in ("--record", "--pcap", "--keylog"):
            link = plant("sym" + opt, os.symlink)
            rc, err = self.brief_proxy(opt, link)
            self.assertEqual(rc, 1, err)
            self.assertIn(b"%s is a symbolic link: xmitm does not write "
                          b"through one" % link.encode(), err)
            intact(opt)
        for opt in ("--record", "--pcap", "--keylog"):
            path = plant("hard" + opt, os.link)
            rc, err = self.brief_proxy(opt, path)
            intact(opt + " through a hard link")
            if opt == "--keylog":
                # appended to, so it must be private and ours already
                self.assertEqual(rc, 1, err)
                self.assertIn(b"%s can be read or written by others (mode "
                              b"0644): xmitm does not add secrets to it"
                              % path.encode(), err)
                continue
            self.assertEqual(rc, 0, err)
            st = os.stat(path)
            self.assertEqual((st.st_mode & 0o7777, st.st_nlink), (0o600, 1),
                             opt)

        ctx = self.start(router=False)
        self.finish(ctx)
        link = plant("report.xml", os.symlink)
        r = self.run_file("replay", ctx.rec, "--server", "%s:9" % LOOPBACK,
                          "--password", "x", "--junit", link)
        self.assertEqual(r.returncode, 2, r)
        self.assertIn(b"%s is a symbolic link" % link.encode(), r.stderr)
        intact("--junit")

    def test_output_is_the_input(self):
        """`export --pcap F F` (and through a hard or symbolic link to F),
        and `replay F --junit F`: refused with one line, exit 2, before
        anything is written; F is left byte for byte."""
        ctx = self.start(router=False)
        self.finish(ctx)
        with open(ctx.rec, "rb") as f:
            before = f.read()
        hard = os.path.join(ctx.tmp, "hard.jsonl")
        os.link(ctx.rec, hard)
        soft = os.path.join(ctx.tmp, "soft.jsonl")
        os.symlink(ctx.rec, soft)
        for out in (ctx.rec, hard, soft):
            r = self.run_file("export", "--pcap", out, ctx.rec)
            self.assertEqual(r.returncode, 2, r)
            self.assertEqual(r.stderr.decode(), "xmitm: --pcap %s is %s itself: "
                             "writing it would destroy the recording (name "
                             "another file)\n" % (out, ctx.rec))
            r = self.run_file("export", "--pcap", ctx.rec, out)
            self.assertEqual(r.returncode, 2, r)
            with open(ctx.rec, "rb") as f:
                self.assertEqual(f.read(), before, out)
        r = self.run_file("replay", ctx.rec, "--server", "%s:9" % LOOPBACK,
                          "--password", "x", "--junit", hard)
        self.assertEqual(r.returncode, 2, r)
        self.assertIn(b"--junit %s is %s itself" % (hard.encode(),
                                                    ctx.rec.encode()), r.stderr)
        with open(ctx.rec, "rb") as f:
            self.assertEqual(f.read(), before, "replay --junit")

    def run_measured(self, *args, timeout=300):
        """xmitm on a file, through a wrapper that reports its peak RSS:
        (CompletedProcess with stdout dropped, peak RSS in bytes)."""
        wrapper = ("import resource, subprocess, sys\n"
                   "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
                   "sys.stderr.write('\\nrc=%d maxrss=%d\\n' % (r.returncode, "
                   "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n")
        env = dict(rb.rss_env() or os.environ, G_DEBUG="fatal-criticals")
        r = subprocess.run([sys.executable, "-c", wrapper, XMITM] + list(args),
                           capture_output=True, timeout=timeout, env=env)
        m = re.search(rb"\nrc=(-?\d+) maxrss=(\d+)\n$", r.stderr)
        self.assertIsNotNone(m, r.stderr[-2000:])
        r.returncode = int(m.group(1))
        r.stderr = r.stderr[:m.start()]
        return r, int(m.group(2)) * 1024

    FILE_RSS = 100 * MiB     # what xmitm may take to read any file here

    def file_rss(self):
        """FILE_RSS, doubled for an ASan binary (shadow memory and redzones
        add about 70% here, even with the quarantine cut to 1 MiB)."""
        return self.FILE_RSS * (2 if rb.is_asan_binary(XMITM) else 1)

    def test_memory_reading_files(self):
        """issue 25 defect 10: a capture of 50,000 unfinished TCP flows, a
        recording of 50,000 connections left open (the first one talks
        again at the end, with a prefix its stream header bound), and a
        recording with one 200 MB line: `xmitm show` stays under 100 MB
        for each (it took about 13 KiB per open flow and 7 times the
        longest line); the long line is skipped with its number (show,
        export: exit 0; replay: exit 2), the lines after it are read."""
        tmp = tempfile.mkdtemp(prefix="xmitm-hostile-mem-")
        self.addCleanup(shutil.rmtree, tmp, True)
        n = 50000
        # the capture
        cap = Capture()
        for i in range(n):
            a = cap.conn(1024 + i % 60000)
            src = struct.pack("!I", 0x0a000000 + i + 1)
            a.frame = (lambda orig, src: lambda *x, **k: orig(*x, **k).replace(
                b"\x0a\x00\x00\x01", src, 1))(a.frame, src)
            a.c2s(HEADER)
        pcap = os.path.join(tmp, "flows.pcap")
        with open(pcap, "wb") as f:
            f.write(cap.bytes())
        r, rss = self.run_measured("show", "--color=never", pcap)
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        self.assertLess(rss, self.file_rss(), "xmitm show of %d unfinished "
                        "flows took %.0f MiB" % (n, rss / MiB))
        print("  [hostile] show of %d unfinished flows: peak RSS %.0f MiB"
              % (n, rss / MiB), file=sys.stderr)

        # the recording of connections left open
        def ev(**kw):
            return json.dumps(kw)
        hdr_s = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                 "xmlns:db='jabber:server:dialback' xmlns:stream='%s' "
                 "from='b.test' id='%%s' version='1.0'>" % STREAM_NS)
        rec = os.path.join(tmp, "open.jsonl")
        with open(rec, "w") as f:
            f.write('{"format":"xmitm-recording","format_version":1,'
                    '"source":"proxy"}\n')
            for i in range(1, n + 1):
                f.write(ev(t=i, conn=i, ev="open", text="c") + "\n")
                f.write(ev(t=i, conn=i, ev="stream-open", dir="s2c",
                           xml=hdr_s % ("id-%d" % i)) + "\n")
                f.write(ev(t=i, conn=i, ev="stanza", dir="s2c",
                           xml="<db:result from='b.test' to='a.test' "
                               "type='valid'/>") + "\n")
            f.write(ev(t=n + 1, conn=1, ev="stanza", dir="s2c",
                       xml="<db:result from='b.test' to='a.test' "
                           "type='invalid'/>") + "\n")
        r, rss = self.run_measured("show", "--color=never", rec)
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        self.assertLess(rss, self.file_rss(), "xmitm show of %d connections "
                        "left open took %.0f MiB" % (n, rss / MiB))
        print("  [hostile] show of %d connections left open: peak RSS %.0f "
              "MiB" % (n, rss / MiB), file=sys.stderr)
        out = subprocess.run([XMITM, "show", "--color=never", "--conn", "1",
                              rec], capture_output=True, timeout=120)
        self.assertEqual(out.stderr, b"")
        self.assertIn(b"type='invalid'", out.stdout)

        # one 200 MB line
        big = os.path.join(tmp, "long-line.jsonl")
        with open(big, "w") as f:
            f.write('{"format":"xmitm-recording","format_version":1,'
                    '"source":"proxy"}\n')
            f.write(ev(t=1, conn=1, ev="open", text="c") + "\n")
            long_line = ev(t=2, conn=1, ev="stanza", dir="c2s", xml="<message>"
                           "<body>" + "x" * (200 * MiB) + "</body></message>")
            f.write(long_line + "\n")
            f.write(ev(t=3, conn=1, ev="stanza", dir="c2s", xml="<message>"
                       "<body>after the long line</body></message>") + "\n")
        want = (b"long-line.jsonl: line 3: %d bytes, longer than any event "
                b"xmitm writes (64 MiB at most is read); skipped"
                % (len(long_line) + 1))
        for args in (("show", "--color=never", big),
                     ("export", "--pcap", os.path.join(tmp, "o.pcap"), big)):
            r, rss = self.run_measured(*args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(want, r.stderr)
            self.assertLess(rss, self.file_rss(), "xmitm %s of a 200 MB line "
                            "took %.0f MiB" % (args[0], rss / MiB))
        out = subprocess.run([XMITM, "show", "--color=never", big],
                             capture_output=True, timeout=120)
        self.assertIn(b"after the long line", out.stdout)
        r, rss = self.run_measured("replay", big, "--server", "127.0.0.1:9",
                                   "--password", "x")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(want, r.stderr)
        self.assertLess(rss, self.file_rss())

    def test_damaged_pcap(self):
        """A capture of cleartext XMPP with a retransmission that differs
        from the first copy (overlap), a segment missing, segments out of
        order, a packet cut by the snap length, and the file cut in the
        middle of a packet: show names each, decodes the rest (exit 0);
        a capture whose header is damaged is refused (exit 1).  (The
        reassembler case by case: tests/unit/test-pcap-read.c.)"""
        tmp = tempfile.mkdtemp(prefix="xmitm-hostile-pcap-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cap = Capture()
        a = cap.conn(40001)
        a.c2s(HEADER)
        a.s2c(SERVER_HEADER)
        first = b"<message id='o1'><body>overlap one</body></message>"
        a.c2s(first, keep=True)
        a.c2s_at(a.seq_c - len(first), first.replace(b"one", b"two"))  # conflict
        m2 = b"<message id='o2'><body>late</body></message>"
        m3 = b"<message id='o3'><body>early</body></message>"
        a.c2s_reordered(m2, m3)
        a.c2s(b"<message id='o4'><body>after the overlap</body></message>")
        a.fin()
        b = cap.conn(40002)
        b.c2s(HEADER)
        b.s2c(SERVER_HEADER)
        b.c2s(b"<message id='g1'><body>before the gap</body></message>")
        b.c2s(b"<message id='g2'><body>LOST</body></message>", drop=True)
        b.c2s(b"<message id='g3'><body>after the gap</body></message>")
        b.c2s(HEADER + b"<message id='g4'><body>new stream</body></message>")
        b.c2s(b"<message id='s1'><body>" + b"x" * 3000 + b"</body></message>",
              snap=200)
        b.fin()
        path = os.path.join(tmp, "damaged.pcap")
        data = cap.bytes()
        with open(path, "wb") as f:
            f.write(data + cap.packet(b.frame(b"trailing", 1))[:30])
        show = self.run_file("show", "--color=never", path)
        out = show.stdout.decode("utf-8", "replace")
        err = show.stderr.decode("utf-8", "replace")
        self.assertEqual((show.returncode, err), (0, ""), out[-3000:])
        self.assertIn("TCP: a retransmission differs from the first", out)
        self.assertRegex(out, r"TCP: \d+ bytes missing at offset \d+ of this "
                         r"direction \(not in the capture\)")
        self.assertIn("was cut by the capture's snap length", out)
        self.assertIn("the capture cannot be read past packet", out)
        for body in ("overlap one", "late", "early", "after the overlap",
                     "before the gap", "new stream"):
            self.assertIn("<body>%s</body>" % body, out)
        self.assertNotIn("LOST", out)
        self.assertNotIn("overlap two", out)
        self.assertLess(out.index("<body>late</body>"),
                        out.index("<body>early</body>"))
        bad = os.path.join(tmp, "bad-header.pcap")
        with open(bad, "wb") as f:
            f.write(data[:4] + b"\xff" * 20 + data[24:])
        r = self.run_file("show", bad)
        self.assertEqual(r.returncode, 1, r)
        self.assertNotIn(b"CRITICAL", r.stderr)


if __name__ == "__main__":
    peers.run_tests()
