#!/usr/bin/python3
"""web-first-page.py XMITM FILE: how soon `xmitm web FILE` serves its first
page while it indexes in the background (issue 22: a 1,000,000-stanza
recording within 2 s), and how long the whole index takes.

Prints: the time from start to the URL, to the first /api/sessions and
/api/events page (200 events), to the end of indexing (the WebSocket's
"indexing": null), the events then, and xmitm's peak RSS. Numbers, not
assertions (tests/bench/make-recording.py makes such a file).
"""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from test_web_live import WebSocket  # noqa: E402


def main():
    xmitm, path = sys.argv[1], sys.argv[2]
    t0 = time.monotonic()
    proc = subprocess.Popen([xmitm, "web", "--listen", "127.0.0.1:0", path],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        t_url = time.monotonic() - t0
        m = re.search(r"(http://[^/]+)/\?token=([0-9a-f]+)", line)
        base, token = m.group(1), m.group(2)

        def get(p):
            with urllib.request.urlopen("%s%s%stoken=%s" % (base, p, "&" if "?" in p else "?",
                                                            token), timeout=60) as r:
                return json.loads(r.read())
        sessions = get("/api/sessions")
        t_sessions = time.monotonic() - t0
        page = get("/api/events?from=0&count=200")
        t_page = time.monotonic() - t0
        ws = WebSocket(int(base.rsplit(":", 1)[1]), token=token)
        st = ws.message()
        progress = []
        while st.get("indexing"):
            progress.append((time.monotonic() - t0, st["events"]))
            st = ws.message()
        t_done = time.monotonic() - t0
        filt = time.monotonic()
        data = get("/api/events?from=0&count=100&kind=iq")
        t_filter = time.monotonic() - filt
        with open("/proc/%d/status" % proc.pid) as f:
            rss = [ln.split()[1] for ln in f if ln.startswith("VmHWM")][0]
    finally:
        proc.terminate()
        proc.wait(30)
    print("URL %.2f s; /api/sessions %.2f s (%d events indexed then); first page "
          "%.2f s (%d events); indexing done %.1f s (%d events); a --kind iq page "
          "after it %.2f s (%d found); peak RSS %s kB"
          % (t_url, t_sessions, sessions["files"][0]["events"], t_page, len(page["events"]),
             t_done, st["events"], t_filter, len(data["events"]), rss))
    if progress:
        print("progress: " + ", ".join("%.1f s %d" % p for p in progress[::max(1, len(progress) // 8)]))


if __name__ == "__main__":
    main()
