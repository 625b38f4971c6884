#!/usr/bin/env python3
"""make-recording.py N OUT: an xmitm recording of one session through the
bench's echo server (xmpp_sink) with N 256-byte messages, N/2 each way.

The negotiation (STARTTLS, SASL PLAIN as bench@bench.local, bind, session)
is the one xmitm recorded live through the harness's peers; the messages are
the ones xmpp_bench sends and the sink echoes. The same file serves the
show, show --json and export rows (tests/bench/run.sh) and, since the sink
accepts any password and echoes every message, replay against the sink
(xmitm replay OUT --server 127.0.0.1:PORT --password x --upstream-ca ...)."""
import json
import sys

# Recorded by xmitm 7857026 (times left out).
NEGOTIATION = json.loads(r"""[
{
"conn":1,
"ev":"open",
"client":"127.0.0.1:49062",
"server":"127.0.0.1:16051",
"text":"client 127.0.0.1:49062"
},
{
"conn":1,
"ev":"note",
"level":"info",
"text":"upstream 127.0.0.1:16051 connected (127.0.0.1:16051) in 0.3 ms"
},
{
"conn":1,
"ev":"stream-open",
"dir":"c2s",
"len":137,
"name":"stream:stream",
"xml":"<?xml version='1.0'?><stream:stream to='bench.local' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
},
{
"conn":1,
"ev":"stream-open",
"dir":"s2c",
"len":161,
"name":"stream:stream",
"xml":"<?xml version='1.0'?><stream:stream from='bench.local' id='s1' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
},
{
"conn":1,
"ev":"stanza",
"dir":"s2c",
"len":107,
"name":"stream:features",
"xml":"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"
},
{
"conn":1,
"ev":"stanza",
"dir":"c2s",
"len":51,
"name":"starttls",
"xml":"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
},
{
"conn":1,
"ev":"stanza",
"dir":"s2c",
"len":50,
"name":"proceed",
"xml":"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
},
{
"conn":1,
"ev":"layer",
"dir":"s2c",
"text":"STARTTLS: the server sent <proceed/>; xmitm now runs TLS with the server, then with the client",
"layer":"starttls"
},
{
"conn":1,
"ev":"layer",
"text":"TLS with the server up in 2.3 ms: TLSv1.3, TLS_AES_256_GCM_SHA384, SNI bench.local, ALPN none; certificate subject CN=bench.local, issuer CN=bench.local; verified for 'bench.local'",
"layer":"tls",
"leg":"server",
"tls_version":"TLSv1.3",
"cipher":"TLS_AES_256_GCM_SHA384",
"sni":"bench.local",
"cert":{
"subject":"CN=bench.local",
"issuer":"CN=bench.local",
"sha256":"F1:33:34:F0:BE:A3:20:FA:F7:A0:59:EE:91:AD:F7:9B:DF:7E:62:94:88:6B:18:5A:C6:91:52:9C:76:E5:36:14"
},
"verified":"bench.local",
"handshake_us":2339
},
{
"conn":1,
"ev":"note",
"level":"info",
"text":"certificate for the client made for bench.local in 1.38 ms"
},
{
"conn":1,
"ev":"layer",
"text":"TLS with the client up in 5.7 ms: TLSv1.3, TLS_AES_256_GCM_SHA384, SNI none, ALPN none; it accepted xmitm's certificate",
"layer":"tls",
"leg":"client",
"tls_version":"TLSv1.3",
"cipher":"TLS_AES_256_GCM_SHA384",
"handshake_us":5698
},
{
"conn":1,
"ev":"stream-open",
"dir":"c2s",
"tls":true,
"len":137,
"name":"stream:stream",
"xml":"<?xml version='1.0'?><stream:stream to='bench.local' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
},
{
"conn":1,
"ev":"stream-open",
"dir":"s2c",
"tls":true,
"len":161,
"name":"stream:stream",
"xml":"<?xml version='1.0'?><stream:stream from='bench.local' id='s1' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
},
{
"conn":1,
"ev":"stanza",
"dir":"s2c",
"tls":true,
"len":129,
"name":"stream:features",
"xml":"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
},
{
"conn":1,
"ev":"stanza",
"dir":"c2s",
"tls":true,
"len":88,
"name":"auth",
"xml":"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>****************</auth>",
"redacted":16
},
{
"conn":1,
"ev":"sasl",
"dir":"c2s",
"tls":true,
"protocol":"SASL",
"element":"auth",
"mechanism":"PLAIN",
"step":"auth",
"fields":[
{
"name":"authzid",
"value":"",
"len":0
},
{
"name":"authcid",
"value":"bench",
"len":5
},
{
"name":"password",
"len":5,
"secret":true
}
]
},
{
"conn":1,
"ev":"stanza",
"dir":"s2c",
"tls":true,
"len":51,
"name":"success",
"xml":"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
},
{
"conn":1,
"ev":"sasl",
"dir":"s2c",
"tls":true,
"protocol":"SASL",
"element":"success",
"mechanism":"PLAIN",
"step":"success",
"fields":[]
},
{
"conn":1,
"ev":"layer",
"dir":"s2c",
"text":"SASL success: both streams restart",
"layer":"stream-restart"
},
{
"conn":1,
"ev":"stream-open",
"dir":"c2s",
"tls":true,
"len":137,
"name":"stream:stream",
"xml":"<?xml version='1.0'?><stream:stream to='bench.local' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
},
{
"conn":1,
"ev":"stream-open",
"dir":"s2c",
"tls":true,
"len":161,
"name":"stream:stream",
"xml":"<?xml version='1.0'?><stream:stream from='bench.local' id='s1' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
},
{
"conn":1,
"ev":"stanza",
"dir":"s2c",
"tls":true,
"len":157,
"name":"stream:features",
"xml":"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>"
},
{
"conn":1,
"ev":"stanza",
"dir":"c2s",
"tls":true,
"len":110,
"name":"iq",
"xml":"<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>echo</resource></bind></iq>"
},
{
"conn":1,
"ev":"stanza",
"dir":"s2c",
"tls":true,
"len":122,
"name":"iq",
"xml":"<iq type='result' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>bench@bench.local/bench</jid></bind></iq>"
},
{
"conn":1,
"ev":"stanza",
"dir":"c2s",
"tls":true,
"len":85,
"name":"iq",
"xml":"<iq type='set' id='sess1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>"
},
{
"conn":1,
"ev":"stanza",
"dir":"s2c",
"tls":true,
"len":30,
"name":"iq",
"xml":"<iq type='result' id='sess1'/>"
}
]""")
CLOSING = json.loads(r"""[
{
"conn":1,
"ev":"stream-close",
"dir":"c2s",
"tls":true
},
{
"conn":1,
"ev":"close",
"text":"both sides closed",
"c2s_bytes":1785,
"s2c_bytes":2153
}
]""")
BODY = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod "
        "tempor incididunt ut labore et dolore magna aliqua lorem ipsum dolor sit ")


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    t = 1795268460000000
    head = {"format": "xmitm-recording", "format_version": 1, "xmitm": "0.1.0",
            "t": t, "started": "2026-11-21T13:41:00Z", "source": "proxy",
            "secrets": "redacted"}
    with open(out, "w", encoding="utf-8") as f:
        f.write(json.dumps(head, separators=(",", ":")) + "\n")
        batch = []

        def ev(d):
            nonlocal t
            t += 5
            batch.append('{"t":%d,' % t + json.dumps(d, separators=(",", ":"))[1:])

        for d in NEGOTIATION:
            ev(d)
        for i in range(n // 2):
            xml = ("<message to='echo@bench.local' from='bench@bench.local/bench' "
                   "type='chat' id='%010d'><body>%s</body></message>" % (i, BODY))
            for d in ("c2s", "s2c"):
                ev({"conn": 1, "ev": "stanza", "dir": d, "tls": True, "len": len(xml),
                    "name": "message", "xml": xml})
            if len(batch) >= 4096:
                f.write("\n".join(batch) + "\n")
                batch.clear()
        for d in CLOSING:
            ev(d)
        f.write("\n".join(batch) + "\n")


main()
