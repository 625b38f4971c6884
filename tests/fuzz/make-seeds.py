#!/usr/bin/python3
"""Writes hand-made seed inputs for the fuzz targets into a directory (one
subdirectory per target), from the framer's seed vectors (tests/data/seeds/)
and the protocol exchanges of the RFCs and XEPs. The corpora in
tests/fuzz/corpus/ started from these and from real sessions, then grew and
were minimised by libFuzzer (docs/fuzzing.md); this script is kept to show
how the seeds are laid out, not run by the build.

    tests/fuzz/make-seeds.py OUTDIR
"""
import hashlib
import os
import struct
import sys
import zlib

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SEEDS = os.path.join(TOP, "tests", "data", "seeds")


def write(outdir, target, data):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def framer_seeds(outdir):
    files = sorted(f for f in os.listdir(SEEDS) if f.endswith(".xml"))
    for f in files:
        data = open(os.path.join(SEEDS, f), "rb").read()
        write(outdir, "xml-framer", b"\x00" + data)
        write(outdir, "xml-framer", b"\x80" + data)
    # One direction across its restarts (<proceed/>, <success/>).
    for session in sorted({f[:3] for f in files}):
        for d in ("c2s", "s2c"):
            parts = [open(os.path.join(SEEDS, f), "rb").read() for f in files
                     if f.startswith(session + "-" + d)]
            write(outdir, "xml-framer", b"\x01" + b"".join(parts))
            write(outdir, "xml-framer", b"\x65" + b"".join(parts))


SASL_MECHS = ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512", "SCRAM-SHA-1-PLUS",
              "SCRAM-SHA-256-PLUS", "SCRAM-SHA3-512", "SCRAM-SHA-224", "SCRAM-SHA-384",
              "DIGEST-MD5", "CRAM-MD5", "OAUTHBEARER", "X-OAUTH2", "X-GOOGLE-TOKEN",
              "X-YANDEX-OAUTH", "EXTERNAL", "ANONYMOUS", "GSSAPI", "HT-SHA-256-NONE"]
# element indexes of fuzz-sasl.c
AUTH, CHALLENGE, RESPONSE, SUCCESS, FAILURE, ABORT = range(6)
AUTHENTICATE, CHALLENGE2, RESPONSE2, SUCCESS2, CONTINUE2, FAILURE2 = range(6, 12)
IQ_SET, IQ_RESULT, IQ_ERROR, IQ_FIELDS = range(12, 16)
C2S = 0x10
RAW = 0x20


def sasl_input(mech, msgs):
    out = bytes([SASL_MECHS.index(mech)])
    for h, payload in msgs:
        if len(payload) > 255:
            out += bytes([h | 0x40]) + struct.pack("<H", len(payload))
        else:
            out += bytes([h, len(payload)])
        out += payload
    return out


def sasl_seeds(outdir):
    nonce = b"fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
    scram1 = [
        (AUTH | C2S, b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"),
        (CHALLENGE, b"r=" + nonce + b",s=QSXCR+Q6sek8bf92,i=4096"),
        (RESPONSE | C2S, b"c=biws,r=" + nonce + b",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
        (SUCCESS, b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="),
    ]
    n256 = b"rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    scram256 = [
        (AUTHENTICATE | C2S, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"),
        (CHALLENGE2, b"r=" + n256 + b",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
        (RESPONSE2 | C2S, b"c=biws,r=" + n256 + b",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
        (SUCCESS2, b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
    ]
    plus = [
        (AUTH | C2S, b"p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO"),
        (CHALLENGE, b"r=" + n256 + b",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
        (RESPONSE | C2S, b"c=cD10bHMtZXhwb3J0ZXIsLAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,r="
         + n256 + b",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
        (FAILURE, b"channel binding"),
    ]
    digest = [
        (AUTH | C2S, b""),
        (CHALLENGE, b'nonce="1367436244",qop="auth",charset=utf-8,algorithm=md5-sess'),
        (RESPONSE | C2S, b'username="user2",nonce="1367436244",cnonce="CsTYG/gkOhwPH8KoOjFGQ+7bOMOnrVtNUNT6YPQEVP8=",'
         b'nc=00000001,digest-uri="xmpp/localhost",qop=auth,response=87fc2f40516ba09c4d5a98c6d632023d,charset=utf-8'),
        (CHALLENGE, b"rspauth=58b34b04d977227fe232c2580c721791"),
        (RESPONSE | C2S, b""),
        (SUCCESS, b""),
    ]
    write(outdir, "sasl", sasl_input("SCRAM-SHA-1", scram1))
    write(outdir, "sasl", sasl_input("SCRAM-SHA-256", scram256))
    write(outdir, "sasl", sasl_input("SCRAM-SHA-256-PLUS", plus))
    write(outdir, "sasl", sasl_input("DIGEST-MD5", digest))
    write(outdir, "sasl", sasl_input("PLAIN", [(AUTH | C2S, b"\x00juliet\x00pencil"), (SUCCESS, b"")]))
    write(outdir, "sasl", sasl_input("PLAIN", [(AUTH | C2S, b"admin@example.com\x00juliet\x00pencil"),
                                               (FAILURE | RAW, b"wrong password")]))
    write(outdir, "sasl", sasl_input("X-YANDEX-OAUTH", [(AUTH | C2S, b"login\x00token123")]))
    write(outdir, "sasl", sasl_input("X-OAUTH2", [(AUTH | C2S, b"\x00user@gmail.com\x00ya29.token")]))
    write(outdir, "sasl", sasl_input("OAUTHBEARER", [
        (AUTH | C2S, b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"),
        (CHALLENGE, b'{"status":"invalid_token","scope":"example_scope"}'),
        (RESPONSE | C2S, b"\x01"), (FAILURE2 | RAW, b"no")]))
    write(outdir, "sasl", sasl_input("EXTERNAL", [(AUTH | C2S, b"juliet@example.com"), (SUCCESS, b"")]))
    write(outdir, "sasl", sasl_input("ANONYMOUS", [(AUTH | C2S, b"trace"), (ABORT | C2S, b"")]))
    write(outdir, "sasl", sasl_input("HT-SHA-256-NONE", [(AUTHENTICATE | C2S, b"juliet\x00" + bytes(32)),
                                                         (CONTINUE2, b"next"), (SUCCESS2, b"")]))
    write(outdir, "sasl", sasl_input("PLAIN", [(IQ_FIELDS, b"juliet"), (IQ_SET | C2S | RAW, b"secret"),
                                               (IQ_RESULT, b""), (IQ_SET | C2S | RAW, b"x"), (IQ_ERROR, b"")]))


def inflate_seeds(outdir):
    files = sorted(f for f in os.listdir(SEEDS) if f.endswith(".xml"))
    text = b"".join(open(os.path.join(SEEDS, f), "rb").read() for f in files[:6])
    # deflate mode: plaintext, compressed by the target
    write(outdir, "inflate", bytes([0x01 | 0x06, 0]) + text[:2000])
    write(outdir, "inflate", bytes([0x01 | 0x18, 0]) + text[:300])
    # raw mode: XEP-0138 streams (sync flush per stanza), and a bomb
    for opt, data in ((0x06, text), (0x00, text[:500]), (0x02, b"\x00" * 3000000)):
        z = zlib.compressobj()
        out = b""
        for i in range(0, len(data), 700):
            out += z.compress(data[i:i + 700]) + z.flush(zlib.Z_SYNC_FLUSH)
        write(outdir, "inflate", bytes([opt, 0]) + out)
    write(outdir, "inflate", bytes([0x06, 0]) + zlib.compress(b"<presence/>"))


def observer_record(direction, data, gap=False, deflate=False):
    h = direction | (2 if gap else 0) | (4 if deflate else 0)
    if len(data) > 255:
        return bytes([h | 8]) + struct.pack("<H", len(data)) + data
    return bytes([h, len(data)]) + data


def pieces(data, size=200):
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def observer_seeds(outdir):
    def phase(session, n):
        c = os.path.join(SEEDS, "%s-c2s-%d.xml" % (session, n))
        s = os.path.join(SEEDS, "%s-s2c-%d.xml" % (session, n))
        return (open(c, "rb").read() if os.path.exists(c) else b"",
                open(s, "rb").read() if os.path.exists(s) else b"")

    for session in ("000", "001", "002", "003", "004"):
        out = b"\x03"
        for n in (1, 2, 3):
            c, s = phase(session, n)
            cp, sp = pieces(c), pieces(s)
            for i in range(max(len(cp), len(sp))):
                if i < len(cp):
                    out += observer_record(0, cp[i])
                if i < len(sp):
                    out += observer_record(1, sp[i])
        write(outdir, "observer", out)
        # live (as the proxy decodes), with full and with lazy framing:
        # STARTTLS goes on into the phase inside TLS
        write(outdir, "observer", b"\x10" + out[1:])
        write(outdir, "observer", b"\x30" + out[1:])
    # XEP-0138: plaintext up to <compressed/>, then both directions deflated.
    c1, s1 = phase("004", 1)
    c2, s2 = phase("004", 2)
    hdr_c = c1[:c1.index(b">", c1.index(b"<stream:stream")) + 1]
    hdr_s = s1[:s1.index(b">", s1.index(b"<stream:stream")) + 1]
    out = b"\x03" + observer_record(0, hdr_c) + observer_record(1, hdr_s)
    out += observer_record(1, b"<stream:features><compression xmlns='http://jabber.org/features/compress'>"
                              b"<method>zlib</method></compression></stream:features>")
    out += observer_record(0, b"<compress xmlns='http://jabber.org/protocol/compress'><method>zlib</method></compress>")
    out += observer_record(1, b"<compressed xmlns='http://jabber.org/protocol/compress'/>")
    for piece in pieces(c1, 300):
        out += observer_record(0, piece, deflate=True)
    for piece in pieces(s1, 300):
        out += observer_record(1, piece, deflate=True)
    for piece in pieces(c2, 300):
        out += observer_record(0, piece, deflate=True)
    write(outdir, "observer", out)
    write(outdir, "observer", b"\x30" + out[1:])
    write(outdir, "observer", b"\x70" + out[1:])  # small limits
    # mid-stream start, a gap, resync on a new header
    out = b"\x00" + observer_record(0, c2[40:]) + observer_record(1, s2[30:])
    out += observer_record(0, b"", gap=True) + observer_record(0, c2)
    write(outdir, "observer", out)
    # direct TLS
    write(outdir, "observer", b"\x03" + observer_record(0, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"))


def component_dialback_seeds(outdir):
    """XEP-0114 (handshake accepted, refused, unknown domain) and XEP-0220
    (result, verify, valid, invalid, error) streams for the observer."""
    streams = "http://etherx.jabber.org/streams"
    comp_c = ("<stream:stream xmlns='jabber:component:accept' xmlns:stream='%s' "
              "to='comp.example'>" % streams).encode()
    comp_s = ("<stream:stream xmlns:stream='%s' xmlns='jabber:component:accept' "
              "id='3BF96D32' from='comp.example'>" % streams).encode()
    hs = b"<handshake>7a98dc4c9e92493d7fd66a25364c862637789c45</handshake>"
    err = (b"<stream:error><%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
           b"xmlns='urn:ietf:params:xml:ns:xmpp-streams'>no</text></stream:error>"
           b"</stream:stream>")
    for answer in (b"<handshake/><iq type='get' id='1' to='comp.example' from='a@x/r'>"
                   b"<query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
                   err % b"not-authorized", err % b"host-unknown"):
        out = b"\x03" + observer_record(0, comp_c) + observer_record(1, comp_s)
        out += observer_record(0, hs) + observer_record(1, answer)
        write(outdir, "observer", out)
        write(outdir, "observer", b"\x10" + out[1:])
    s2s_c = ("<stream:stream xmlns='jabber:server' xmlns:stream='%s' xmlns:db="
             "'jabber:server:dialback' from='a.example' to='b.example' version='1.0'>"
             % streams).encode()
    s2s_s = ("<stream:stream xmlns='jabber:server' xmlns:stream='%s' xmlns:db="
             "'jabber:server:dialback' from='b.example' id='s1' version='1.0'>"
             "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/>"
             "</stream:features>" % streams).encode()
    key = b"37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643"
    out = b"\x03" + observer_record(0, s2s_c) + observer_record(1, s2s_s)
    out += observer_record(0, b"<db:result from='a.example' to='b.example'>" + key
                           + b"</db:result>")
    out += observer_record(1, b"<db:result from='b.example' to='a.example' type='valid'/>"
                           b"<db:result from='b.example' to='c.example' type='error'><error "
                           b"type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:"
                           b"xmpp-stanzas'/></error></db:result>")
    out += observer_record(0, b"<db:verify from='b.example' to='a.example' id='s9'>" + key
                           + b"</db:verify>")
    out += observer_record(1, b"<db:verify from='a.example' to='b.example' id='s9' "
                           b"type='invalid'/>")
    write(outdir, "observer", out)
    write(outdir, "observer", b"\x30" + out[1:])


def ip_checksum(b):
    if len(b) % 2:
        b += b"\0"
    total = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while total > 0xffff:
        total = (total & 0xffff) + (total >> 16)
    return (~total) & 0xffff


def tcp_packet(v6, src, dst, sport, dport, seq, ack, flags, payload):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    if v6:
        return struct.pack("!IHBB", 6 << 28, len(tcp), 6, 64) + src + dst + tcp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    return ip + tcp


LINKS = {  # linktype: header before the IP packet (v6 flag)
    1: lambda v6: b"\x02" * 6 + b"\x04" * 6 + (b"\x86\xdd" if v6 else b"\x08\x00"),
    113: lambda v6: struct.pack("!HHH8sH", 0, 772, 6, b"", 0x86dd if v6 else 0x0800),
    276: lambda v6: struct.pack("!HHIHBB8s", 0x86dd if v6 else 0x0800, 0, 1, 772, 0, 6, b""),
    101: lambda v6: b"",
    0: lambda v6: struct.pack("<I", 10 if v6 else 2),
    108: lambda v6: struct.pack("!I", 10 if v6 else 2),
}


def capture(records, linktype=1, v6=False):
    """A pcap of one TCP connection to port 5222 carrying the observer
    records (direction, bytes), with its handshake and close."""
    cli, srv = ((b"\xfd" + b"\0" * 14 + b"\x01", b"\xfd" + b"\0" * 14 + b"\x02") if v6
                else (b"\x7f\0\0\x01", b"\x7f\0\0\x02"))
    seq = [1000, 5000]
    pkts = []

    def send(d, flags, payload=b""):
        src, dst, sp, dp = (cli, srv, 40000, 5222) if d == 0 else (srv, cli, 5222, 40000)
        pkts.append(tcp_packet(v6, src, dst, sp, dp, seq[d], seq[1 - d], flags, payload))
        seq[d] = (seq[d] + len(payload) + (1 if flags & 0x03 else 0)) & 0xffffffff

    send(0, 0x02)
    send(1, 0x12)
    for d, data in records:
        send(d, 0x18, data)
    send(0, 0x11)
    send(1, 0x11)
    out = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, linktype)
    for i, p in enumerate(pkts):
        frame = LINKS[linktype](v6) + p
        out += struct.pack("<IIII", 1700000000 + i, i, len(frame), len(frame)) + frame
    return out


def pcap_seeds(outdir):
    c1 = open(os.path.join(SEEDS, "004-c2s-1.xml"), "rb").read()
    s1 = open(os.path.join(SEEDS, "004-s2c-1.xml"), "rb").read()
    c2 = open(os.path.join(SEEDS, "004-c2s-2.xml"), "rb").read()
    s2 = open(os.path.join(SEEDS, "004-s2c-2.xml"), "rb").read()
    plain = [(0, c1[:300]), (1, s1[:400]), (0, c1[300:]), (1, s1[400:]), (0, c2), (1, s2)]
    for lt in LINKS:
        write(outdir, "pcap-read", capture(plain[:4], lt, v6=(lt in (1, 101))))
    write(outdir, "pcap-read", capture(plain))
    # XEP-0138: both directions deflated after <compressed/>
    hdr_c = c1[:c1.index(b">", c1.index(b"<stream:stream")) + 1]
    hdr_s = s1[:s1.index(b">", s1.index(b"<stream:stream")) + 1]
    zc, zs = zlib.compressobj(), zlib.compressobj()
    recs = [(0, hdr_c), (1, hdr_s),
            (0, b"<compress xmlns='http://jabber.org/protocol/compress'><method>zlib</method></compress>"),
            (1, b"<compressed xmlns='http://jabber.org/protocol/compress'/>"),
            (0, zc.compress(c2) + zc.flush(zlib.Z_SYNC_FLUSH)),
            (1, zs.compress(s2) + zs.flush(zlib.Z_SYNC_FLUSH))]
    write(outdir, "pcap-read", capture(recs))
    # STARTTLS, then a TLS record
    c0 = open(os.path.join(SEEDS, "001-c2s-1.xml"), "rb").read()
    s0 = open(os.path.join(SEEDS, "001-s2c-1.xml"), "rb").read()
    write(outdir, "pcap-read", capture([(0, c0), (1, s0), (0, b"\x16\x03\x01\x00\x05hello")]))


def ws_message_frame(payload, opcode=1, mask=None, fin=True):
    """One RFC 6455 frame; a client's is masked."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


WS_REQUEST = (b"GET /xmpp-websocket HTTP/1.1\r\nHost: example.com\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Protocol: xmpp\r\nSec-WebSocket-Version: 13\r\n\r\n")
WS_RESPONSE = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\n"
               b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
               b"Sec-WebSocket-Protocol: xmpp\r\n\r\n")
FRAMING = b"urn:ietf:params:xml:ns:xmpp-framing"
WS_C = [b"<open xmlns='" + FRAMING + b"' to='example.com' version='1.0'/>",
        b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABw</auth>",
        b"<open xmlns='" + FRAMING + b"' to='example.com' version='1.0'/>",
        b"<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
        b"<message xmlns='jabber:client' to='romeo@example.net'><body>hi</body></message>",
        b"<close xmlns='" + FRAMING + b"'/>"]
WS_S = [b"<open xmlns='" + FRAMING + b"' from='example.com' id='s1' version='1.0'/>",
        b"<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms "
        b"xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>",
        b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
        b"<open xmlns='" + FRAMING + b"' from='example.com' id='s2' version='1.0'/>",
        b"<iq xmlns='jabber:client' type='result' id='b'/>",
        b"<close xmlns='" + FRAMING + b"' see-other-uri='wss://other.example/ws'/>"]
BIND = b"http://jabber.org/protocol/httpbind"


def post(body):
    return (b"POST /http-bind HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/xml\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


def ok(body, chunked=False):
    if chunked:
        return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def bosh_exchange():
    """(connection, direction, bytes): a session over two connections."""
    b = lambda attrs, inner=b"": (b"<body xmlns='" + BIND + b"' " + attrs
                                  + (b">" + inner + b"</body>" if inner else b"/>"))
    return [
        (0, 0, post(b(b"rid='10' to='example.com' wait='60' hold='1' ver='1.6' "
                      b"xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'"))),
        (0, 1, ok(b(b"sid='s1' requests='2' wait='60' xmlns:stream="
                    b"'http://etherx.jabber.org/streams'",
                    b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:"
                    b"xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>"
                    b"</stream:features>"))),
        (0, 0, post(b(b"rid='11' sid='s1'", WS_C[1]))),
        (0, 1, ok(b(b"sid='s1'", WS_S[2]), chunked=True)),
        (0, 0, post(b(b"rid='12' sid='s1' xmlns:xmpp='urn:xmpp:xbosh' xmpp:restart='true'"))),
        (1, 0, post(b(b"rid='13' sid='s1'", WS_C[4]))),
        (1, 1, ok(b(b"sid='s1' ack='13'"))),
        (0, 1, ok(b(b"sid='s1'", WS_S[4]))),
        (1, 0, post(b(b"rid='13' sid='s1'", WS_C[4]))),
        (2, 0, post(b(b"rid='14' sid='s1' type='terminate'"))),
        (2, 1, ok(b(b"sid='s1' type='terminate' condition='system-shutdown'"))),
    ]


def web_seeds(outdir):
    mask = b"\x37\xfa\x21\x3d"
    # the framer in RFC 7395 framing mode (option bit 6)
    for opt in (0x40, 0x41, 0x42, 0xc3):
        write(outdir, "xml-scan", bytes([opt]) + b"".join(WS_S))
        write(outdir, "plain-tree", bytes([opt]) + b"".join(WS_C))
    write(outdir, "xml-scan", b"\x40<stream:stream xmlns='jabber:client'>" + WS_C[4])
    # a WebSocket session for the observer, capture and live
    recs = observer_record(0, WS_REQUEST) + observer_record(1, WS_RESPONSE)
    for c, sv in zip(WS_C, WS_S):
        recs += observer_record(0, ws_message_frame(c, mask=mask))
        recs += observer_record(1, ws_message_frame(sv))
    recs += observer_record(0, ws_message_frame(b"", opcode=9, mask=mask))
    recs += observer_record(1, ws_message_frame(b"\x03\xe8bye", opcode=8))
    write(outdir, "observer", b"\x03" + recs)
    write(outdir, "observer", b"\x13" + recs)
    # fragments, a binary message, two elements in one, a stream header
    frag = WS_C[4]
    odd = (observer_record(0, WS_REQUEST) + observer_record(1, WS_RESPONSE)
           + observer_record(0, ws_message_frame(frag[:20], mask=mask, fin=False)
                             + ws_message_frame(b"", opcode=9, mask=mask)
                             + ws_message_frame(frag[20:], opcode=0, mask=mask))
           + observer_record(0, ws_message_frame(frag, opcode=2, mask=mask))
           + observer_record(0, ws_message_frame(frag + frag, mask=mask))
           + observer_record(1, ws_message_frame(b"<stream:stream xmlns='jabber:client' "
                                         b"xmlns:stream='http://etherx.jabber.org/streams'>"))
           + observer_record(1, b"\x81\x7f\x80\x00\x00\x00\x00\x00\x00\x00"))
    write(outdir, "observer", b"\x03" + odd)
    # BOSH over one connection for the observer; over several for bosh
    one = b"".join(observer_record(d, data) for _, d, data in bosh_exchange())
    write(outdir, "observer", b"\x03" + one)
    many = b""
    for c, d, data in bosh_exchange():
        h = c | (4 if d else 0)
        many += (bytes([h | 8]) + struct.pack("<H", len(data)) if len(data) > 255
                 else bytes([h, len(data)])) + data
    for opt in (0, 1, 2):
        write(outdir, "bosh", bytes([opt]) + many)
    ws = b""
    for c, d, data in [(3, 0, WS_REQUEST), (3, 1, WS_RESPONSE)] + \
            [(3, i % 2, ws_message_frame(x, mask=mask if i % 2 == 0 else None))
             for i, x in enumerate(sum(zip(WS_C, WS_S), ()))]:
        h = c | (4 if d else 0)
        ws += (bytes([h | 8]) + struct.pack("<H", len(data)) if len(data) > 255
               else bytes([h, len(data)])) + data
    write(outdir, "bosh", b"\x00" + many + ws)
def ws_frame(opcode, payload, fin=True, mask=None, rsv=0, length_bytes=None):
    """One RFC 6455 frame; length_bytes forces a (non-minimal) encoding."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | rsv << 4 | opcode
    mbit = 0x80 if mask else 0
    if length_bytes is None:
        length_bytes = 0 if n < 126 else 2 if n < 65536 else 8
    if length_bytes == 0:
        hdr = bytes([b0, mbit | n])
    elif length_bytes == 2:
        hdr = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        hdr = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if mask:
        hdr += mask
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return hdr + payload


def ws_seeds(outdir):
    """fuzz-ws-frame: option byte (bit 0 server, 1 deflate, 2 no context
    takeover, 3-4 cap, 5 encode mode), chunk seed, then the stream."""
    m = b"\x37\xfa\x21\x3d"
    c2s = [b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>",
           b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>",
           b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
           b"<message to='romeo@example.net'><body>\xe2\x98\x83</body></message>"]
    s2c = [b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='example.com' id='x' version='1.0'/>",
           b"<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>",
           b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"]
    client = b"".join(ws_frame(1, x, mask=m) for x in c2s)
    server = b"".join(ws_frame(1, x) for x in s2c)
    write(outdir, "ws-frame", b"\x00\x00" + client)
    write(outdir, "ws-frame", b"\x01\x07" + server)
    # fragmented with a ping and a pong between, a close with a reason
    frag = (ws_frame(1, c2s[3][:10], fin=False, mask=m) + ws_frame(9, b"ping", mask=m)
            + ws_frame(0, c2s[3][10:20], fin=False, mask=m) + ws_frame(10, b"", mask=m)
            + ws_frame(0, c2s[3][20:], mask=m) + ws_frame(8, b"\x03\xe8bye", mask=m))
    write(outdir, "ws-frame", b"\x00\x31" + frag)
    # rule breaks: unmasked client, masked server, RSV, long control,
    # stray continuation, bad close codes, 16/64-bit lengths, 2^63
    write(outdir, "ws-frame", b"\x00\x02" + ws_frame(1, c2s[0]) + ws_frame(1, b"x", rsv=6, mask=m))
    write(outdir, "ws-frame", b"\x01\x03" + ws_frame(1, s2c[0], mask=m) + ws_frame(9, b"p" * 126))
    write(outdir, "ws-frame", b"\x01\x04" + ws_frame(0, b"stray") + ws_frame(1, b"<a", fin=False)
          + ws_frame(2, b"bin") + ws_frame(8, b"\x03\xed") + ws_frame(8, b"\x03") + ws_frame(1, b"late"))
    write(outdir, "ws-frame", b"\x09\x05" + ws_frame(2, b"y" * 300) + ws_frame(2, b"z" * 70000)
          + ws_frame(1, b"abc", length_bytes=2) + ws_frame(1, b"abc", length_bytes=8))
    write(outdir, "ws-frame", b"\x01\x06" + ws_frame(1, b"<a/>") + b"\x82\x7f\x80" + b"\x00" * 7 + b"tail")
    write(outdir, "ws-frame", b"\x01\x08" + ws_frame(1, b"bad \xc0\xaf") + ws_frame(8, b"\x03\xe8\xff"))
    # permessage-deflate, with and without context takeover
    for opt, takeover in ((0x02, True), (0x06, False)):
        out = b""
        z = zlib.compressobj(wbits=-15)
        for x in c2s:
            if not takeover:
                z = zlib.compressobj(wbits=-15)
            d = z.compress(x) + z.flush(zlib.Z_SYNC_FLUSH)
            out += ws_frame(1, d[:-4], mask=m, rsv=4)
        write(outdir, "ws-frame", bytes([opt, 0x11]) + out)
    # a deflate bomb
    z = zlib.compressobj(9, wbits=-15)
    d = z.compress(b"\0" * (2 << 20)) + z.flush(zlib.Z_SYNC_FLUSH)
    write(outdir, "ws-frame", b"\x03\x12" + ws_frame(2, d[:-4], rsv=4))
    # encode mode: length bytes (0x40: fragment it) then the pieces
    enc = b"".join(bytes([len(x) | (0x40 if i % 2 else 0)]) + x
                   for i, x in enumerate([b"<presence/>", b"<r xmlns='urn:xmpp:sm:3'/>", b"", b"x" * 63]))
    write(outdir, "ws-frame", b"\x20\x01" + enc)
    write(outdir, "ws-frame", b"\x21\x02" + enc)


def http_seeds(outdir):
    """fuzz-http-msg: option byte (bit 0 responses, 1-2 head cap, 3 stop at
    an upgrade's head, 4 stop at its end, 5 finish, 6-7 HEAD responses
    expected, 6 a CONNECT), chunk seed, then the stream."""
    upgrade = (b"GET /xmpp-websocket HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               b"Sec-WebSocket-Protocol: xmpp\r\nSec-WebSocket-Version: 13\r\n"
               b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
               b"Origin: http://example.com\r\n\r\n")
    accept = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n")
    write(outdir, "http-msg", b"\x10\x01" + upgrade + ws_frame(1, b"<open/>", mask=b"abcd"))
    write(outdir, "http-msg", b"\x08\x02" + upgrade)
    write(outdir, "http-msg", b"\x01\x03" + accept + ws_frame(1, b"<open/>"))
    body = (b"<body content='text/xml; charset=utf-8' hold='1' rid='1573741820' to='example.com' "
            b"route='xmpp:example.com:9999' secure='true' wait='60' xml:lang='en' xmpp:version='1.0' "
            b"xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh'/>")
    bosh = (b"POST /http-bind HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/xml; charset=utf-8\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body
    write(outdir, "http-msg", b"\x00\x04" + bosh + b"\r\n" + bosh)
    resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: %d\r\n\r\n"
            % len(body)) + body
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"10;ext=1;q=\"a\"\r\n" + body[:16] + b"\r\n" + b"%x\r\n" % (len(body) - 16)
               + body[16:] + b"\r\n0\r\nExpires: never\r\n\r\n")
    write(outdir, "http-msg", b"\x01\x05" + resp + chunked + b"HTTP/1.1 204 No Content\r\n\r\n")
    write(outdir, "http-msg", b"\x81\x06" + b"HTTP/1.1 100 Continue\r\n\r\n"
          + b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + resp)
    write(outdir, "http-msg", b"\x21\x07" + b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html/>")
    write(outdir, "http-msg", b"\x41\x08" + b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01")
    # CORS preflight, HEAD, bare LF, Expect
    write(outdir, "http-msg", b"\x00\x09" + b"OPTIONS /http-bind HTTP/1.1\r\nOrigin: http://a\r\n"
          b"Access-Control-Request-Method: POST\r\n\r\nHEAD / HTTP/1.1\nHost: a\n\n"
          b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
    # smuggling shapes, overflow, a long line
    write(outdir, "http-msg", b"\x00\x0a" + b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
    write(outdir, "http-msg", b"\x00\x0b" + b"POST / HTTP/1.1\r\nContent-Length: 3\r\n"
          b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    write(outdir, "http-msg", b"\x01\x0c" + b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
          b"ffffffffffffffffff\r\n")
    write(outdir, "http-msg", b"\x02\x0d" + b"GET /" + b"a" * 200 + b" HTTP/1.1\r\n\r\n")


def main():
    outdir = sys.argv[1]
    framer_seeds(outdir)
    sasl_seeds(outdir)
    inflate_seeds(outdir)
    observer_seeds(outdir)
    component_dialback_seeds(outdir)
    pcap_seeds(outdir)
    web_seeds(outdir)
    ws_seeds(outdir)
    http_seeds(outdir)


if __name__ == "__main__":
    main()
