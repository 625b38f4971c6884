#!/usr/bin/python3
"""A client of xmitm proxy --web for tests/bench/web-live.sh.

    web_client.py follow|stalled|chromium URL

follow    a WebSocket that acknowledges every state and reads the new
          events through /api/events as a following page does
stalled   a WebSocket that completes its upgrade, then never reads again
chromium  headless Chromium on the page (follow is on by default)

Runs until SIGTERM, then prints one line: what the web view had and
missed (read on a fresh WebSocket) and, for follow, the events it read.
"""

import os
import signal
import sys
import time
import urllib.parse
import urllib.request
import json

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from test_web_live import WebSocket, chromium  # noqa: E402

stop = False


def on_term(*_):
    global stop
    stop = True


def main():
    mode, url = sys.argv[1], sys.argv[2]
    u = urllib.parse.urlparse(url)
    token = urllib.parse.parse_qs(u.query)["token"][0]
    port = u.port
    base = "http://%s" % u.netloc
    signal.signal(signal.SIGTERM, on_term)
    read = 0
    keep = []
    if mode == "chromium":
        import tempfile
        d = chromium(tempfile.mkdtemp(prefix="xmitm-bench-chromium-"))
        d.get(url)
        keep.append(d)
    elif mode in ("follow", "stalled"):
        ws = WebSocket(port, token=token, small_buffer=(mode == "stalled"))
        assert ws.status == 101, ws.head
        keep.append(ws)
    nxt = 0
    while not stop:
        if mode != "follow":
            time.sleep(0.2)
            continue
        ws.sock.settimeout(0.5)
        try:
            st = ws.message()
        except OSError:
            continue
        while st["events"] > nxt and not stop:
            with urllib.request.urlopen("%s/api/events?token=%s&from=%d&count=1000"
                                        % (base, token, nxt), timeout=30) as r:
                data = json.loads(r.read())
            read += len(data["events"])
            nxt = data["next"]
    final = WebSocket(port, token=token)
    st = final.message()
    print("web_events=%d web_missed=%d client_read=%d" % (st["events"], st["missed"], read))
    for k in keep:
        (k.quit if hasattr(k, "quit") else k.close)()


if __name__ == "__main__":
    main()
