#!/usr/bin/python3
"""Scripted XEP-0388 (SASL2) peers for xmitm's integration tests.

No packaged server speaks SASL2 here (prosody 0.12 and ejabberd 23.01 do
not), nor does a packaged client, so these two play it on loopback:

* ``Sasl2Server``: offers SASL2 only (SCRAM-SHA-256, PLAIN, and the XEP-0484
  FAST token mechanism HT-SHA-256-NONE inline), binds inline with bind2
  (urn:xmpp:bind:0) to a new random resource each time, issues a FAST
  token when asked, then answers a roster get and echoes a chat message
  back from the bound JID, and closes when the client does.
* ``sasl2_client()``: the client side of that session.

Both check what they can: the SCRAM proof and server signature, the token's
HMAC. Plain sockets and xml.etree's pull parser; no stream restart in SASL2.
"""

import base64
import hashlib
import hmac
import os
import socket
import threading
import uuid
import xml.etree.ElementTree as ET

NS_STREAM = "http://etherx.jabber.org/streams"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_SASL2 = "urn:xmpp:sasl:2"
NS_BIND2 = "urn:xmpp:bind:0"
NS_FAST = "urn:xmpp:fast:0"
NS_ROSTER = "jabber:iq:roster"
HT = "HT-SHA-256-NONE"
DOMAIN = "localhost"

HDR_C = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
         "xmlns:stream='%s' to='%s' version='1.0'>" % (NS_STREAM, DOMAIN))
HDR_S = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
         "xmlns:stream='%s' from='%s' id='%%s' version='1.0'>" % (NS_STREAM, DOMAIN))
FEATURES = ("<stream:features><authentication xmlns='%s'>"
            "<mechanism>SCRAM-SHA-256</mechanism><mechanism>PLAIN</mechanism>"
            "<inline><bind xmlns='%s'/><fast xmlns='%s'><mechanism>%s</mechanism>"
            "</fast></inline></authentication></stream:features>"
            % (NS_SASL2, NS_BIND2, NS_FAST, HT))


def b64(data):
    return base64.b64encode(data).decode()


def q(ns, name):
    return "{%s}%s" % (ns, name)


def ht_hash(token, who):
    """XEP-0484 HT-SHA-256-NONE: HMAC-SHA-256 keyed with the token over
    "Initiator" or "Responder" (no channel binding data)."""
    return hmac.new(token.encode(), who.encode(), hashlib.sha256).digest()


class Stream:
    """One side of an XML stream over a socket: top-level elements as they
    complete, and the peer's stream header."""

    def __init__(self, sock, timeout=10):
        self.sock = sock
        sock.settimeout(timeout)
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.header = None
        self.closed = False
        self.pending = []

    def send(self, text):
        self.sock.sendall(text.encode())

    def _pump(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the peer closed the connection")
        self.parser.feed(data)
        for ev, el in self.parser.read_events():
            if ev == "start":
                self.depth += 1
                if self.depth == 1:
                    self.header = el
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.pending.append(el)
                elif self.depth == 0:
                    self.closed = True

    def wait_header(self):
        while self.header is None:
            self._pump()
        return self.header

    def next(self):
        """The next top-level element, or None once the peer closed its
        stream."""
        while not self.pending:
            if self.closed:
                return None
            self._pump()
        return self.pending.pop(0)


# ---- SCRAM-SHA-256 (RFC 5802, RFC 7677) ----

def _h(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _attrs(msg):
    return dict(kv.split("=", 1) for kv in msg.split(",") if "=" in kv)


class ScramClient:
    def __init__(self, user, password):
        self.password = password
        self.nonce = b64(os.urandom(18))
        self.bare = "n=%s,r=%s" % (user, self.nonce)

    def first(self):
        return ("n,," + self.bare).encode()

    def final(self, server_first):
        self.server_first = server_first.decode()
        a = _attrs(self.server_first)
        if not a["r"].startswith(self.nonce):
            raise ValueError("the server's nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(),
                                     base64.b64decode(a["s"]), int(a["i"]))
        without_proof = "c=biws,r=" + a["r"]
        self.auth_message = "%s,%s,%s" % (self.bare, self.server_first, without_proof)
        client_key = _h(salted, "Client Key")
        sig = _h(hashlib.sha256(client_key).digest(), self.auth_message)
        proof = bytes(x ^ y for x, y in zip(client_key, sig))
        self.server_sig = _h(_h(salted, "Server Key"), self.auth_message)
        return ("%s,p=%s" % (without_proof, b64(proof))).encode()

    def verify(self, server_final):
        if _attrs(server_final.decode()).get("v") != b64(self.server_sig):
            raise ValueError("the server's SCRAM signature is wrong")


class ScramServer:
    def __init__(self, passwords):
        self.passwords = passwords
        self.user = None

    def first(self, client_first):
        text = client_first.decode()
        if not text.startswith("n,"):
            raise ValueError("channel binding is not offered here")
        self.bare = text.split(",", 2)[2]
        a = _attrs(self.bare)
        self.user = a["n"]
        self.nonce = a["r"] + b64(os.urandom(18))
        salt = os.urandom(16)
        self.salted = hashlib.pbkdf2_hmac(
            "sha256", self.passwords.get(self.user, "\0no such user").encode(), salt, 4096)
        self.server_first = "r=%s,s=%s,i=4096" % (self.nonce, b64(salt))
        return self.server_first.encode()

    def final(self, client_final):
        """The server-final-message, or None for a wrong proof."""
        text = client_final.decode()
        without_proof, _, proof = text.rpartition(",p=")
        if _attrs(without_proof).get("r") != self.nonce:
            return None
        auth_message = "%s,%s,%s" % (self.bare, self.server_first, without_proof)
        client_key = _h(self.salted, "Client Key")
        stored = hashlib.sha256(client_key).digest()
        sig = _h(stored, auth_message)
        got = bytes(x ^ y for x, y in zip(base64.b64decode(proof), sig))
        if hashlib.sha256(got).digest() != stored:
            return None
        return ("v=" + b64(_h(_h(self.salted, "Server Key"), auth_message))).encode()


# ---- the server ----

class Sasl2Server:
    """A scripted SASL2 server on 127.0.0.1, as a context manager:

        with Sasl2Server({"alice": "pw"}, tokens={"tok": "alice"}) as s:
            s.port, s.logins  # [(mechanism, user, ok), ...]
    """

    def __init__(self, users, tokens=None):
        self.users = dict(users)
        self.tokens = dict(tokens or {})
        self.tls_required = False  # cleartext only
        self.logins = []
        self.errors = []
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.threads = []

    def __enter__(self):
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        return self

    def __exit__(self, *exc):
        self.lsock.close()
        for t in self.threads:
            t.join(10)

    def _accept(self):
        while True:
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn):
        try:
            self._session(Stream(conn))
        except (OSError, EOFError, ValueError, ET.ParseError) as e:
            self.errors.append(repr(e))
        finally:
            conn.close()

    def _fail(self, s, condition="not-authorized"):
        s.send("<failure xmlns='%s'><%s xmlns='%s'/></failure>" % (NS_SASL2, condition, NS_SASL))

    def _session(self, s):
        s.wait_header()
        s.send(HDR_S % uuid.uuid4() + FEATURES)
        user = None
        while user is None:
            el = s.next()
            if el is None:
                s.send("</stream:stream>")
                return
            if el.tag != q(NS_SASL2, "authenticate"):
                raise ValueError("not an <authenticate/>: %s" % el.tag)
            user, extra = self._authenticate(s, el)
        resource = "%s.%s" % ((el.find(q(NS_BIND2, "bind")) is not None
                               and el.findtext(q(NS_BIND2, "bind") + "/" + q(NS_BIND2, "tag"))
                               or "r"), uuid.uuid4().hex[:8])
        jid = "%s@%s/%s" % (user, DOMAIN, resource)
        token = ""
        if el.find(q(NS_FAST, "request-token")) is not None:
            new = uuid.uuid4().hex
            self.tokens[new] = user
            token = ("<token xmlns='%s' expiry='2030-01-01T00:00:00Z' token='%s'/>"
                     % (NS_FAST, new))
        s.send("<success xmlns='%s'>%s<authorization-identifier>%s</authorization-identifier>"
               "<bound xmlns='%s'/>%s</success>" % (NS_SASL2, extra, jid, NS_BIND2, token))
        while True:
            el = s.next()
            if el is None:
                s.send("</stream:stream>")
                return
            if el.tag == "{jabber:client}iq" and el.find(q(NS_ROSTER, "query")) is not None:
                s.send("<iq type='result' id='%s' to='%s'><query xmlns='%s' ver='1'>"
                       "<item jid='bob@%s' subscription='both'/></query></iq>"
                       % (el.get("id"), jid, NS_ROSTER, DOMAIN))
            elif el.tag == "{jabber:client}message":
                s.send("<message from='%s' to='%s' type='chat' id='%s'><body>%s</body>"
                       "</message>" % (jid, jid, el.get("id"), el.findtext("{jabber:client}body")))

    def _response(self, s):
        el = s.next()
        if el is None or el.tag != q(NS_SASL2, "response"):
            raise ValueError("no <response/>")
        return base64.b64decode(el.text or "")

    def _authenticate(self, s, el):
        """(user, extra <success/> children) once logged in, or (None, _)
        after a <failure/>."""
        mech = el.get("mechanism")
        ir = base64.b64decode(el.findtext(q(NS_SASL2, "initial-response")) or "")
        if mech == "PLAIN":
            _, user, pw = ir.decode().split("\0")
            ok = self.users.get(user) == pw
            extra = ""
        elif mech == "SCRAM-SHA-256":
            scram = ScramServer(self.users)
            s.send("<challenge xmlns='%s'>%s</challenge>" % (NS_SASL2, b64(scram.first(ir))))
            final = scram.final(self._response(s))
            user, ok = scram.user, final is not None
            extra = ok and "<additional-data>%s</additional-data>" % b64(final) or ""
        elif mech == HT:
            user, _, got = ir.partition(b"\0")
            user = user.decode()
            ok = any(u == user and hmac.compare_digest(got, ht_hash(t, "Initiator"))
                     for t, u in self.tokens.items())
            extra = "<additional-data>%s</additional-data>" % b64(
                ht_hash(next(t for t, u in self.tokens.items() if u == user), "Responder")) \
                if ok else ""
        else:
            self.logins.append((mech, None, False))
            self._fail(s, "invalid-mechanism")
            return None, ""
        self.logins.append((mech, user, ok))
        if not ok:
            self._fail(s)
            return None, ""
        return user, extra


# ---- the client ----

def sasl2_client(port, user, password=None, mech="SCRAM-SHA-256", token=None,
                 request_token=False, body="over SASL2", timeout=10):
    """Logs in as user@localhost over SASL2 (bind2 inline), gets the
    roster, sends itself a chat message and waits for it, closes. Returns
    {"jid": the bound JID, "token": a FAST token issued, "body": ...};
    raises on any failure."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s = Stream(sock, timeout)
    try:
        s.send(HDR_C)
        s.wait_header()
        features = s.next()
        if features is None or features.find(q(NS_SASL2, "authentication")) is None:
            raise ValueError("no SASL2 offered")
        extra = ("<user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'>"
                 "<software>sasl2_peers</software><device>test</device></user-agent>"
                 "<bind xmlns='%s'><tag>sasl2test</tag></bind>" % NS_BIND2)
        scram = None
        if mech == "SCRAM-SHA-256":
            scram = ScramClient(user, password)
            ir = scram.first()
        elif mech == "PLAIN":
            ir = ("\0%s\0%s" % (user, password)).encode()
        elif mech == HT:
            ir = user.encode() + b"\0" + ht_hash(token, "Initiator")
            extra += "<fast xmlns='%s' count='1'/>" % NS_FAST
        else:
            raise ValueError(mech)
        if request_token:
            extra += "<request-token xmlns='%s' mechanism='%s'/>" % (NS_FAST, HT)
        s.send("<authenticate xmlns='%s' mechanism='%s'><initial-response>%s"
               "</initial-response>%s</authenticate>" % (NS_SASL2, mech, b64(ir), extra))
        while True:
            el = s.next()
            if el is None:
                raise EOFError("the server closed its stream during authentication")
            if el.tag == q(NS_SASL2, "challenge"):
                answer = scram.final(base64.b64decode(el.text or ""))
                s.send("<response xmlns='%s'>%s</response>" % (NS_SASL2, b64(answer)))
            elif el.tag == q(NS_SASL2, "success"):
                data = base64.b64decode(el.findtext(q(NS_SASL2, "additional-data")) or "")
                if scram:
                    scram.verify(data)
                elif mech == HT and data != ht_hash(token, "Responder"):
                    raise ValueError("the server's HT-SHA-256-NONE proof is wrong")
                break
            elif el.tag == q(NS_SASL2, "failure"):
                raise PermissionError("SASL2 failure: %s" % ET.tostring(el).decode())
            else:
                raise ValueError("unexpected %s" % el.tag)
        jid = el.findtext(q(NS_SASL2, "authorization-identifier"))
        tok = el.find(q(NS_FAST, "token"))
        if el.find(q(NS_BIND2, "bound")) is None or "/" not in (jid or ""):
            raise ValueError("bind2: no resource bound")
        s.send("<iq type='get' id='roster1'><query xmlns='%s'/></iq>" % NS_ROSTER)
        el = s.next()
        if el is None or el.get("id") != "roster1" or el.get("type") != "result":
            raise ValueError("no roster result")
        s.send("<message to='%s@%s' type='chat' id='m1'><body>%s</body></message>"
               % (user, DOMAIN, body))
        el = s.next()
        if el is None or el.findtext("{jabber:client}body") != body:
            raise ValueError("the message did not come back")
        s.send("</stream:stream>")
        if s.next() is not None:
            raise ValueError("more after the close")
        return {"jid": jid, "token": tok.get("token") if tok is not None else None,
                "body": body}
    finally:
        sock.close()
