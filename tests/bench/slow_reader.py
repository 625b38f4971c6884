#!/usr/bin/python3
"""Slow reader: xmitm's memory while a client stops reading and the server floods.

Talks to the bench harness's echo sink through the middlebox (STARTTLS, SASL
PLAIN, bind to resource 'echo'), then sends 256-byte <message/> stanzas for
--seconds without ever reading. The sink echoes each one, so the server side
floods a client that does not read: the middlebox must stop reading instead
of buffering. Samples the middlebox's RSS (process tree) and prints one
RESULT line: bytes the client got out, RSS before and at most, growth.

  slow_reader.py --port P --ca CA.crt --pid MIDDLEBOX_PID [--seconds 10]
"""
import argparse
import base64
import os
import socket
import ssl
import sys
import time

HEADER = ("<?xml version='1.0'?><stream:stream to='bench.local' version='1.0' "
          "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")


def rss_kb(pid):
    """RSS of pid and its descendants, in KiB."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return total


def read_until(sock, marker, limit=1 << 20):
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            sys.exit("slow_reader: the connection closed before %r" % marker)
        data += chunk
        if len(data) > limit:
            sys.exit("slow_reader: no %r in the first %d bytes" % (marker, limit))
    return data


def session(host, port, ca):
    raw = socket.create_connection((host, port), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw.sendall(HEADER.encode())
    read_until(raw, b"</stream:features>")
    raw.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    read_until(raw, b"<proceed")
    ctx = ssl.create_default_context(cafile=ca)
    tls = ctx.wrap_socket(raw, server_hostname="bench.local")
    tls.sendall(HEADER.encode())
    read_until(tls, b"</stream:features>")
    plain = base64.b64encode(b"\0bench\0bench").decode()
    tls.sendall(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
                 % plain).encode())
    read_until(tls, b"<success")
    tls.sendall(HEADER.encode())
    read_until(tls, b"</stream:features>")
    tls.sendall(b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                b"<resource>echo</resource></bind></iq>")
    read_until(tls, b"bind1")  # the sink answers with fixed ids
    tls.sendall(b"<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
    read_until(tls, b"sess1")
    return tls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=10)
    a = ap.parse_args()

    tls = session(a.host, a.port, a.ca)
    body = "x" * 160
    stanza = ("<message to='echo@bench.local' type='chat' id='m'><body>%s</body></message>"
              % body).encode()
    batch = stanza * 64
    before = rss_kb(a.pid)
    peak = before
    sent = 0
    tls.settimeout(0.2)
    end = time.monotonic() + a.seconds
    next_sample = 0
    while time.monotonic() < end:
        try:
            sent += tls.send(batch)
        except (socket.timeout, ssl.SSLWantWriteError):
            pass  # back-pressure: the middlebox stopped reading
        now = time.monotonic()
        if now >= next_sample:
            peak = max(peak, rss_kb(a.pid))
            next_sample = now + 0.2
    peak = max(peak, rss_kb(a.pid))
    print("RESULT sent_mb=%.1f echoed_unread=yes mb_rss_before_kb=%d mb_rss_max_kb=%d "
          "growth_kb=%d" % (sent / 1e6, before, peak, peak - before))
    os._exit(0)


if __name__ == "__main__":
    main()
