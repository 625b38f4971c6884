#!/usr/bin/env python3
"""web_views.py XMITM RECORDING: what `xmitm web` costs on a large recording
(make-recording.py 1000000 OUT makes the million-stanza one). Prints figures,
asserts nothing: the README quotes them.

  * indexing: wall time from start to the printed URL and to the end of
    the background indexing (the WebSocket's "indexing": null), peak RSS
    then; everything below runs on the whole file;
  * pages: the first page, a page in the middle, the last page, as the
    virtual list asks for them (200 rows, detail=0), and one event whole;
  * filters: the time to the first screen of matches (40 rows, the page
    asking again while a round comes back empty, as list.js does) and to
    the end of the file, for filters the index decides (--kind, --dir,
    --conn), the digest (--ns, --jid) or --grep's literals, and a --grep
    that reads every event;
  * with --browser, in headless Chromium: the time from opening the page to
    its first rows, a jump to the middle of the list until its rows are
    filled, and the frames of a scripted scroll of 20,000 rows (the
    longest frame, from requestAnimationFrame).
"""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from test_web_live import WebSocket  # noqa: E402

SCREEN = 40


def main():
    xmitm, rec = sys.argv[1], sys.argv[2]
    t0 = time.monotonic()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([xmitm, "web", "--listen", "127.0.0.1:%d" % port, rec],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    t_index = time.monotonic() - t0
    m = re.search(r"(http://\S+)\?token=([0-9a-f]+)", line)
    if not m:
        print("xmitm web printed %r %r" % (line, proc.stderr.read()))
        return 1
    base, token = m.group(1).rstrip("/"), m.group(2)
    # the file is indexed in the background: measure the views on all of it
    ws = WebSocket(int(base.rsplit(":", 1)[1]), token=token)
    while ws.message().get("indexing"):
        pass
    t_indexed = time.monotonic() - t0
    with open("/proc/%d/status" % proc.pid) as f:
        hwm = [l for l in f if l.startswith("VmHWM")][0].split()[1]

    def get(path, **params):
        params["token"] = token
        url = base + path + "?" + urllib.parse.urlencode(params, doseq=True)
        t = time.monotonic()
        with urllib.request.urlopen(url, timeout=600) as r:
            data = json.loads(r.read())
        return data, time.monotonic() - t

    try:
        print("| what | figure |")
        print("| --- | --- |")
        first, dt = get("/api/events", **{"from": 0, "count": 200, "detail": 0})
        total = first["total"]
        print("| index %d events (%.0f MB) | URL at %.2f s, indexed at %.1f s wall, %d MB peak RSS |"
              % (total, os.path.getsize(rec) / 1e6, t_index, t_indexed, int(hwm) // 1024))
        print("| first page (200 rows) | %.0f ms |" % (dt * 1000))
        _, dt = get("/api/events", **{"from": total // 2, "count": 200, "detail": 0})
        print("| page in the middle | %.0f ms |" % (dt * 1000))
        _, dt = get("/api/events", **{"from": total - 200, "count": 200, "detail": 0})
        print("| last page | %.0f ms |" % (dt * 1000))
        _, dt = get("/api/event", file=0, id=total - 1)
        print("| one event whole (the last) | %.0f ms |" % (dt * 1000))
        # (label, filter, read on to the end of the file)
        for label, flt, whole in (("--kind message", {"kind": "message"}, False),
                                  ("--dir s2c", {"dir": "s2c"}, False),
                                  ("--jid bench@bench.local", {"jid": "bench@bench.local"}, False),
                                  ("--kind iq (4, at the start)", {"kind": "iq"}, True),
                                  ("--conn 2 (no such connection)", {"conn": "2"}, True),
                                  ("--grep id='000025000[0-9]' (20 matches, mid-file)",
                                   {"grep": "id='000025000[0-9]'"}, True),
                                  # a literal per branch: lines without either unparsed
                                  ("--grep (0000250001|0000250002) (4 matches, mid-file)".replace("|", "\\|"),
                                   {"grep": "(0000250001|0000250002)"}, True),
                                  ("--grep (?i)(XMPP-BIND|JABBER:IQ:ROSTER) (at the start)".replace("|", "\\|"),
                                   {"grep": "(?i)(XMPP-BIND|JABBER:IQ:ROSTER)"}, True),
                                  # no literal the reading follows: each line parsed
                                  ("--grep \\x30000250001|\\x30000250002 (no literal; 4 matches, mid-file)".replace("|", "\\|"),
                                   {"grep": "\\x30000250001|\\x30000250002"}, True),
                                  # digests: events without the value unread
                                  ("--ns urn:ietf:params:xml:ns:xmpp-bind (2, at the start)",
                                   {"ns": "urn:ietf:params:xml:ns:xmpp-bind"}, True),
                                  ("--jid nobody@bench.local (none)",
                                   {"jid": "nobody@bench.local"}, True),
                                  ("--jid bench.local/x (none)",
                                   {"jid": "bench.local/x"}, True)):
            got, nxt, rounds, t = 0, 0, 0, time.monotonic()
            t_screen = t_first = None
            while True:
                data, _ = get("/api/events", **dict(flt, **{"from": nxt, "count": 200, "detail": 0}))
                rounds += 1
                got += len(data["events"])
                if t_first is None and got:
                    t_first = time.monotonic() - t
                if t_screen is None and (got >= SCREEN or data["done"]):
                    t_screen = time.monotonic() - t
                    screen_got = got
                if data["done"] or (t_screen is not None and not whole):
                    break
                nxt = data["next"]
            if t_first is not None:
                print("| %s: first match | %.2f s |" % (label, t_first))
            print("| %s: first screen | %.2f s (%d rows) |" % (label, t_screen, min(screen_got, SCREEN)))
            if whole:
                print("| %s: to the end of the file | %.2f s, %d requests, %d matches |"
                      % (label, time.monotonic() - t, rounds, got))
        if "--browser" in sys.argv:
            browser(base + "/?token=" + token)
    finally:
        proc.terminate()
        proc.wait(30)
    return 0


def browser(url):
    import shutil
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,900",
              "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                         options=opts)
    filled = ("return Array.from(document.querySelectorAll('#events .row'))"
              ".filter(r => !r.classList.contains('loading')).length")
    try:
        t = time.monotonic()
        d.get(url)
        while not d.execute_script(filled):
            time.sleep(0.01)
        print("| Chromium: page opened to first rows | %.2f s |" % (time.monotonic() - t))
        t = time.monotonic()
        d.execute_script("var b = document.getElementById('events');"
                         "b.scrollTop = b.scrollHeight / 2;")
        while d.execute_script("return document.querySelectorAll('#events .row.loading').length") \
                or not d.execute_script(filled):
            time.sleep(0.01)
        print("| Chromium: jump to the middle to its rows | %.0f ms |" % ((time.monotonic() - t) * 1000))
        d.set_script_timeout(120)
        worst = d.execute_async_script("""
            var done = arguments[0], b = document.getElementById('events');
            var start = b.scrollTop, last = performance.now(), frames = [], n = 0;
            function step(now) {
              frames.push(now - last); last = now;
              b.scrollTop = start + (++n) * 400;   // 20 rows a frame
              if (n < 1000) requestAnimationFrame(step);
              else { frames.sort(function (a, b) { return a - b; });
                     done([frames[n >> 1], frames[Math.floor(n * 0.95)], frames[n - 1], n]); }
            }
            requestAnimationFrame(step);""")
        print("| Chromium: scroll of 20,000 rows, 20 a frame | frames: median %.0f ms, "
              "95th percentile %.0f ms, longest %.0f ms (%d frames) |" % tuple(worst))
    finally:
        d.quit()


if __name__ == "__main__":
    sys.exit(main())
