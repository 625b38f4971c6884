#!/usr/bin/python3
"""Churn: 1,000 STARTTLS connections opened and closed through xmitm.

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_churn.py
Exit status 0 passed, 1 a failure (a missing binary or peer fails, it is
never skipped).

Each connection is a scripted client against a real prosody that requires
STARTTLS: stream header, <starttls/>, a TLS handshake with xmitm (which
verifies prosody's certificate and forges one for the client, checked
against xmitm's CA), a new stream header over TLS and the server's
features back, then the stream close.  Four clients run at a time.

Held to: every connection works; once the first WARMUP connections have
warmed the caches (the leaf certificate, OpenSSL's and the allocator's
free lists), the next ones leave xmitm's RSS within RSS_SLACK of what it
was after the warm-up, and with no connection open its descriptor count
is back at what it was before the first.
"""

import concurrent.futures
import os
import socket
import ssl
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers                  # noqa: E402
import test_robustness as rb  # noqa: E402

XMITM = os.environ.get("XMITM")
MiB = 1024 * 1024
TOTAL = 1000
WARMUP = 100
PARALLEL = 4
RSS_SLACK = 2 * MiB
STREAM_NS = "http://etherx.jabber.org/streams"
HEADER = ("<?xml version='1.0'?><stream:stream to='localhost' "
          "xmlns='jabber:client' xmlns:stream='%s' version='1.0'>"
          % STREAM_NS).encode()
STARTTLS = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"


def recv_until(sock, marker, timeout=20.0):
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed before %r; got %r" % (marker, data[-300:]))
        data += chunk
    return data


def one(port, ctx):
    """One STARTTLS session up to the features after TLS, then closed."""
    with socket.create_connection(("127.0.0.1", port), 20) as s:
        s.sendall(HEADER)
        recv_until(s, b"</stream:features>")
        s.sendall(STARTTLS)
        recv_until(s, b"<proceed")
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            t.sendall(HEADER)
            recv_until(t, b"</stream:features>")
            t.sendall(b"</stream:stream>")
            recv_until(t, b"</stream:stream>")


class ChurnTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        cls.prosody = peers.Prosody(users={"alice": "alice-pw"},
                                    tls_required=True, debug_log=False)
        cls.prosody.start()

    @classmethod
    def tearDownClass(cls):
        cls.prosody.stop()

    def fds(self, x):
        return len(os.listdir("/proc/%d/fd" % x.proc.pid))

    def settle(self, x, want, timeout=20.0):
        """Descriptor count once it reached want (or timeout)."""
        deadline = time.monotonic() + timeout
        n = self.fds(x)
        while n != want and time.monotonic() < deadline:
            time.sleep(0.05)
            n = self.fds(x)
        return n

    def batch(self, x, ctx, n):
        with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
            futures = [pool.submit(one, x.port, ctx) for _ in range(n)]
            errors = [repr(f.exception()) for f in futures if f.exception()]
        self.assertEqual(errors[:3], [], "%d of %d connections failed\n%s"
                         % (len(errors), n, x.describe()))

    def test_churn(self):
        x = peers.Xmitm("127.0.0.1", self.prosody.port, env=rb.rss_env(),
                        extra_args=["--upstream-ca", self.prosody.cert, "-q"])
        self.addCleanup(x.cleanup)
        x.start()
        time.sleep(0.3)
        base_fds = self.fds(x)
        ctx = ssl.create_default_context(cafile=x.ca_cert)

        t0 = time.monotonic()
        self.batch(x, ctx, WARMUP)
        self.assertEqual(self.settle(x, base_fds), base_fds)
        rss_warm = rb.rss_bytes(x.proc.pid)
        rss = rb.RssSampler(x.proc.pid, interval=0.5)
        self.addCleanup(rss.stop)
        self.batch(x, ctx, TOTAL - WARMUP)
        took = time.monotonic() - t0
        fds_end = self.settle(x, base_fds)
        rss.stop()
        rss_end = rb.rss_bytes(x.proc.pid)
        peak = rss.peak("start")
        print("  [churn] %d STARTTLS connections in %.1f s; RSS after %d: "
              "%.2f MiB, at the end %.2f MiB (%+.2f MiB), peak while "
              "connecting %.2f MiB; descriptors %d before, %d after%s"
              % (TOTAL, took, WARMUP, rss_warm / MiB, rss_end / MiB,
                 (rss_end - rss_warm) / MiB, peak / MiB, base_fds, fds_end,
                 " (ASan quarantine cut to 1 MiB)" if rb.rss_env() else ""),
              file=sys.stderr)
        self.assertEqual(fds_end, base_fds, "descriptors left open after "
                         "every connection closed\n%s" % x.describe())
        self.assertLessEqual(
            rss_end - rss_warm, RSS_SLACK,
            "xmitm's RSS grew by %.2f MiB over %d connections after the "
            "warm-up (allowed %.0f MiB)" % ((rss_end - rss_warm) / MiB,
                                           TOTAL - WARMUP, RSS_SLACK / MiB))
        self.assertEqual(x.stop(), 0, x.describe())


if __name__ == "__main__":
    peers.run_tests()
