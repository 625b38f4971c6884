#!/usr/bin/python3
"""A tiny authoritative DNS server for the s2s tests (UDP only).

ejabberd 23.01 finds other servers through DNS and never reads a hosts
file, so the federation test runs this inside its network namespaces:

    ip netns exec ROUTER /usr/bin/python3 dnsd.py --listen 10.77.1.1 \\
        --listen 10.77.2.1 --a a.test=10.77.1.2 --a b.test=10.77.2.2

It answers an A query for a name given with --a, an SRV query for a name
given with --srv (NAME=TARGET:PORT, e.g. the XEP-0368
_xmpps-server._tcp.b.test=b.test:5270, or NAME=PRIORITY:WEIGHT:TARGET:PORT;
--srv repeated for one name gives it several records, and the target "."
is the root name, RFC 2782's "not available"), an empty NOERROR for other types
of such names (AAAA), and NXDOMAIN for everything else, so without --srv
both servers fall back to DOMAIN:5269 as RFC 6120 §3.2.2 says.  Nothing is ever forwarded: a query
for a name it does not know never leaves the namespace.  Prints READY once
bound, one line per query it answered (for the test's failure messages).
"""

import argparse
import socket
import struct
import sys
import threading

QTYPE_A = 1
QTYPE_SRV = 33


def encode_name(name):
    if name in (".", ""):
        return b"\0"
    return b"".join(bytes([len(l)]) + l.encode("ascii")
                    for l in name.split(".")) + b"\0"


def parse_question(msg):
    """(id, flags, qname lower-case, qtype, end offset of the question)."""
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    if qd != 1:
        raise ValueError("%d questions" % qd)
    labels, i = [], 12
    while True:
        n = msg[i]
        i += 1
        if n == 0:
            break
        if n & 0xC0:
            raise ValueError("compressed question")
        labels.append(msg[i:i + n].decode("ascii", "replace").lower())
        i += n
    qtype, _qclass = struct.unpack("!HH", msg[i:i + 4])
    return qid, flags, ".".join(labels), qtype, i + 4


def answer(msg, records, srv=None):
    qid, flags, name, qtype, end = parse_question(msg)
    rd = flags & 0x0100
    question = msg[12:end]
    srv = srv or {}
    if name in srv:
        if qtype != QTYPE_SRV:
            head = struct.pack("!HHHHHH", qid, 0x8400 | rd, 1, 0, 0, 0)
            return head + question, name, qtype, "no data"
        rrs = b""
        for prio, weight, target, port in srv[name]:
            rdata = struct.pack("!HHH", prio, weight, port) + encode_name(target)
            rrs += struct.pack("!HHHIH", 0xC00C, QTYPE_SRV, 1, 5,
                               len(rdata)) + rdata
        head = struct.pack("!HHHHHH", qid, 0x8400 | rd, 1, len(srv[name]), 0, 0)
        return head + question + rrs, name, qtype, ", ".join(
            "%d %d %s:%d" % r for r in srv[name])
    if name not in records:
        # response, authoritative, NXDOMAIN
        head = struct.pack("!HHHHHH", qid, 0x8400 | rd | 3, 1, 0, 0, 0)
        return head + question, name, qtype, "NXDOMAIN"
    if qtype != QTYPE_A:
        head = struct.pack("!HHHHHH", qid, 0x8400 | rd, 1, 0, 0, 0)
        return head + question, name, qtype, "no data"
    head = struct.pack("!HHHHHH", qid, 0x8400 | rd, 1, 1, 0, 0)
    rr = struct.pack("!HHHIH", 0xC00C, QTYPE_A, 1, 5, 4) + \
        socket.inet_aton(records[name])
    return head + question + rr, name, qtype, records[name]


def serve(sock, records, srv, lock):
    while True:
        msg, peer = sock.recvfrom(4096)
        try:
            reply, name, qtype, what = answer(msg, records, srv)
        except (ValueError, IndexError, struct.error) as e:
            with lock:
                print("bad query from %s: %s" % (peer[0], e), flush=True)
            continue
        sock.sendto(reply, peer)
        with lock:
            print("%s asked %s type %d: %s" % (peer[0], name, qtype, what),
                  flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description="tiny DNS server for tests")
    ap.add_argument("--listen", action="append", required=True,
                    metavar="ADDR")
    ap.add_argument("--a", action="append", default=[], metavar="NAME=ADDR")
    ap.add_argument("--srv", action="append", default=[],
                    metavar="NAME=[PRIO:WEIGHT:]TARGET:PORT")
    a = ap.parse_args(argv)
    records, srv = {}, {}
    for item in a.a:
        name, addr = item.split("=", 1)
        records[name.lower().rstrip(".")] = addr
    for item in a.srv:
        name, value = item.split("=", 1)
        parts = value.split(":")
        prio, weight = (int(parts[0]), int(parts[1])) if len(parts) == 4 else (0, 0)
        srv.setdefault(name.lower().rstrip("."), []).append(
            (prio, weight, parts[-2], int(parts[-1])))
    lock = threading.Lock()
    socks = []
    for addr in a.listen:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, 53))
        socks.append(s)
    print("READY", flush=True)
    threads = [threading.Thread(target=serve, args=(s, records, srv, lock),
                                daemon=True) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    sys.exit(main())
