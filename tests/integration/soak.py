#!/usr/bin/python3
"""Soak: a real client reconnecting through xmitm for a long time.

Not part of `meson test` (it runs for as long as it is told).  A throwaway
prosody requiring STARTTLS, xmitm in front of it (TLS intercepted, recording
to a file), and a loop of real slixmpp sessions through xmitm: bob logs in
and waits for a message, alice logs in and sends it, both log out; again,
until the time is up.  xmitm's RSS and descriptor count are sampled all
along; at the end the growth after the warm-up is printed, and the exit
status says whether it stayed within the tolerances.

Run (nice it on a shared machine):

    XMITM=build/cli/xmitm nice /usr/bin/python3 tests/integration/soak.py \\
        --minutes 60 [--warmup-minutes 5] [--sample-seconds 30] \\
        [--rss-slack-mib 4] [--csv soak.csv]

Prints one line per sample (elapsed, sessions so far, RSS, descriptors)
and a summary.  Exit status 0: RSS after the warm-up grew by at most
--rss-slack-mib and the descriptors with no session open are back at the
baseline; 1 otherwise, or when a session failed.
"""

import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import client  # noqa: E402
import peers   # noqa: E402

MiB = 1024 * 1024
USERS = {"alice": "alice-soak-pw", "bob": "bob-soak-pw"}


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def one_exchange(p, x, n):
    """bob waits for a message from alice; both through xmitm, STARTTLS."""
    body = "soak message %d" % n
    kw = dict(tls=True, ca=x.ca_cert, tls_name="localhost", timeout=30)
    res = {}
    ready = threading.Event()
    bob = threading.Thread(target=lambda: res.__setitem__(
        "bob", client.run(p.jid("bob"), USERS["bob"], "127.0.0.1", x.port,
                          expect_body=body, on_ready=ready.set, **kw)))
    bob.start()
    if not ready.wait(30):
        bob.join(35)
        return "bob's session did not come up: %s" % res.get("bob")
    res["alice"] = client.run(p.jid("alice"), USERS["alice"], "127.0.0.1",
                              x.port, send_to=p.jid("bob"), body=body, **kw)
    bob.join(35)
    if res.get("alice") or res.get("bob") or bob.is_alive():
        return "alice: %s; bob: %s" % (res.get("alice"), res.get("bob"))
    return None


def quiet_fds(x, base, timeout=10.0):
    """Descriptors once the last session's close went through."""
    deadline = time.monotonic() + timeout
    n = fds(x.proc.pid)
    while n != base and time.monotonic() < deadline:
        time.sleep(0.1)
        n = fds(x.proc.pid)
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--warmup-minutes", type=float, default=5)
    ap.add_argument("--sample-seconds", type=float, default=30)
    ap.add_argument("--rss-slack-mib", type=float, default=4)
    ap.add_argument("--csv", help="write the samples to this file")
    a = ap.parse_args(argv)
    if not os.environ.get("XMITM"):
        print("set XMITM to the xmitm binary", file=sys.stderr)
        return 1

    failures = []
    samples = []   # (elapsed s, sessions, rss, fds with no session open)
    with peers.Prosody(users=USERS, tls_required=True, debug_log=False) as p:
        rec = os.path.join(p.dir, "soak.jsonl")
        x = peers.Xmitm("127.0.0.1", p.port, extra_args=[
            "--upstream-ca", p.cert, "--record", rec, "-q"])
        x.start()
        try:
            time.sleep(0.5)
            base = fds(x.proc.pid)
            t0 = time.monotonic()
            end = t0 + a.minutes * 60
            next_sample = t0
            n = 0
            while time.monotonic() < end:
                why = one_exchange(p, x, n)
                n += 1
                if why:
                    failures.append((n, why))
                    print("exchange %d failed: %s" % (n, why), flush=True)
                    if len(failures) > 10:
                        break
                if time.monotonic() >= next_sample:
                    f = quiet_fds(x, base)
                    s = (time.monotonic() - t0, 2 * n, rss(x.proc.pid), f)
                    samples.append(s)
                    print("%7.0f s  %6d sessions  RSS %7.2f MiB  fds %d "
                          "(baseline %d)" % (s[0], s[1], s[2] / MiB, s[3],
                                             base), flush=True)
                    next_sample += a.sample_seconds
            f = quiet_fds(x, base)
            samples.append((time.monotonic() - t0, 2 * n, rss(x.proc.pid), f))
        finally:
            rc = x.stop()
            x.cleanup()
    if a.csv:
        with open(a.csv, "w") as out:
            out.write("elapsed_s,sessions,rss_bytes,fds\n")
            for s in samples:
                out.write("%.0f,%d,%d,%d\n" % s)

    warm = [s for s in samples if s[0] >= a.warmup_minutes * 60] or samples
    first, last = warm[0], warm[-1]
    peak = max(s[2] for s in warm)
    growth = last[2] - first[2]
    print("soak: %d sessions (%d exchanges) in %.0f min; %d failed"
          % (last[1], last[1] // 2, last[0] / 60, len(failures)))
    print("soak: RSS after %.0f min warm-up %.2f MiB, at the end %.2f MiB "
          "(growth %+.2f MiB, peak %.2f MiB; allowed %.1f MiB)"
          % (a.warmup_minutes, first[2] / MiB, last[2] / MiB, growth / MiB,
             peak / MiB, a.rss_slack_mib))
    print("soak: descriptors with no session open: baseline %d, at the end "
          "%d, highest %d" % (base, last[3], max(s[3] for s in samples)))
    print("soak: xmitm exit status %s" % rc)
    ok = (not failures and growth <= a.rss_slack_mib * MiB
          and last[3] == base and rc == 0)
    print("soak: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
