#!/usr/bin/python3
"""xmitm proxy --web: the live view, in a real browser.

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_web_live.py

Real slixmpp clients through `xmitm proxy --web=127.0.0.1:0` to a
throwaway prosody, and headless Chromium (Selenium) on the URL xmitm
prints. What the tests hold it to:
  * alice's message to bob shows in the open page (the time from her send
    to the row is printed; the poll allows 10 s, the issue asks for 1);
    clicked, its XML, the markup as text; bob's session shows with his
    bound JID, alice's goes from open to closed;
  * pause stops the list (it says how many new events wait), resume
    brings exactly the events the API has; follow keeps the newest row in
    view, without it the list stays where it was scrolled;
  * the WebSocket and the API refuse a request without the token (403)
    and one from a foreign Origin;
  * a flood through xmitm with a tiny web queue (XMITM_WEB_QUEUE) and a
    WebSocket client that completed its upgrade and never reads again:
    every echo comes back, the bytes on both sides of xmitm are the same,
    the events the web view missed are counted (what it has plus what it
    missed is exactly what --record has), the page's banner says so.
Screenshots go to $WEB_LIVE_ARTIFACTS (default: a temporary directory,
kept and printed when KEEP_WEB_UI_ARTIFACTS=1).
"""

import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import client  # noqa: E402
import peers  # noqa: E402

XMITM = os.environ.get("XMITM")
BODY = "live <script>alert('xmitm')</script> & bob"


def wait_for(pred, timeout=15.0):
    return peers.wait_for(pred, timeout)


class LiveProxy:
    """xmitm proxy --web=127.0.0.1:0 in front of prosody; .url, .base,
    .token, .web_port from what it printed on stderr."""

    def __init__(self, server, extra=(), env=None, upstream_port=None):
        e = dict(os.environ)
        e.update(env or {})
        self.x = peers.Xmitm("127.0.0.1", upstream_port or server.port,
                             extra_args=["--web=127.0.0.1:0", "-q"] + list(extra), env=e)
        self.x.start()
        line = []

        def printed():
            with open(self.x.stderr_path, encoding="utf-8") as f:
                m = re.search(r"web view on (http://\S+/)\?token=([0-9a-f]+)", f.read())
            if m:
                line.append(m)
            return bool(m)
        if not wait_for(printed):
            self.x.stop()
            raise AssertionError("no web URL printed\n" + self.x.describe())
        m = line[0]
        self.base, self.token = m.group(1), m.group(2)
        self.url = self.base + "?token=" + self.token
        self.web_port = int(re.search(r":(\d+)/$", self.base).group(1))
        self.port = self.x.port

    def api(self, path, **params):
        params["token"] = self.token
        query = urllib.parse.urlencode([(k, v) for k, vs in params.items()
                                        for v in (vs if isinstance(vs, list) else [vs])])
        with urllib.request.urlopen(self.base.rstrip("/") + path + "?" + query, timeout=30) as r:
            return json.loads(r.read())

    def all_events(self, **filters):
        out, nxt = [], 0
        while True:
            data = self.api("/api/events", **dict(filters, count=1000, **{"from": nxt}))
            out += data["events"]
            if data["done"]:
                return out
            nxt = data["next"]

    def stop(self):
        return self.x.stop()


class WebSocket:
    """A WebSocket client on a raw socket: the handshake, unmasked frames
    from the server, masked "ack"s from us. read=False: never reads after
    the upgrade (a stalled browser), with a small receive buffer."""

    def __init__(self, port, token=None, origin=None, cookie=None, small_buffer=False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if small_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(30)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        path = "/api/live" + ("?token=" + token if token else "")
        head = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                "Sec-WebSocket-Version: 13\r\n" % (path, port, key))
        if origin:
            head += "Origin: %s\r\n" % origin
        if cookie:
            head += "Cookie: %s\r\n" % cookie
        self.sock.sendall((head + "\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(head.split()[1]) if head else 0
        self.head = head.decode("latin-1")

    def _frame(self):
        """A whole frame from the buffer (opcode, payload), or None."""
        if len(self.buf) < 2:
            return None
        b0, b1 = self.buf[0], self.buf[1]
        n, at = b1 & 0x7F, 2
        if n == 126:
            if len(self.buf) < 4:
                return None
            n, at = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            if len(self.buf) < 10:
                return None
            n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
        if len(self.buf) < at + n:
            return None
        payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
        return b0 & 0x0F, payload

    def message(self):
        """The next text message (JSON), acknowledged; a socket timeout
        leaves a partial frame in the buffer for the next call."""
        while True:
            f = self._frame()
            if f is None:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("closed")
                self.buf += chunk
                continue
            if f[0] == 1:
                self.send_text(b"ack")
                return json.loads(f[1])

    def latest(self, quiet=0.5):
        """The last state the server sent, reading until it says nothing
        for quiet seconds."""
        self.sock.settimeout(quiet)
        try:
            while True:
                self.last = self.message()
        except socket.timeout:
            pass
        finally:
            self.sock.settimeout(30)
        return getattr(self, "last", None)

    def send_text(self, data):
        mask = os.urandom(4)
        masked = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
        head = (bytes([0x81, 0x80 | len(data)]) if len(data) < 126
                else bytes([0x81, 0x80 | 126]) + struct.pack(">H", len(data)))
        self.sock.sendall(head + mask + masked)

    def close(self):
        self.sock.close()


def chromium(profile_dir):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--window-size=1400,800",
              # nothing leaves the machine: no name resolves but loopback
              "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
              "--user-data-dir=" + profile_dir):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(service=Service(driver_path), options=opts)


class LiveStartFailureTest(unittest.TestCase):
    def test_no_temporary_recording(self):
        """The live view's temporary recording cannot be made (TMPDIR does
        not exist): one line naming it, exit 2, and nothing left behind
        (under ASan, LeakSanitizer checks the web server was freed too)."""
        d = tempfile.mkdtemp(prefix="xmitm-live-fail-")
        self.addCleanup(shutil.rmtree, d, True)
        env = dict(os.environ, TMPDIR=os.path.join(d, "missing"),
                   XDG_DATA_HOME=os.path.join(d, "data"))
        r = subprocess.run([XMITM, "proxy", "--listen", "127.0.0.1:%d" % peers.free_port(),
                            "--upstream", "127.0.0.1:%d" % peers.free_port(),
                            "--web=127.0.0.1:0", "--color=never"],
                           capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("xmitm: --web: ", r.stderr)
        self.assertIn("missing", r.stderr)
        self.assertNotIn("Sanitizer", r.stderr)


class WebLiveTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        try:
            import selenium  # noqa: F401
        except ImportError:
            raise RuntimeError("python3-selenium missing: scripts/dev.sh deps installs it")
        cls.dir = tempfile.mkdtemp(prefix="xmitm-weblive-")
        cls.artifacts = os.environ.get("WEB_LIVE_ARTIFACTS") or os.path.join(cls.dir, "artifacts")
        os.makedirs(cls.artifacts, exist_ok=True)
        cls.users = {"alice": "alice-pw", "bob": "bob-pw"}
        cls.server = peers.Prosody(users=cls.users)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        if os.environ.get("KEEP_WEB_UI_ARTIFACTS") or os.environ.get("WEB_LIVE_ARTIFACTS"):
            print("screenshots in", cls.artifacts)
        if not os.environ.get("KEEP_WEB_UI_ARTIFACTS"):
            shutil.rmtree(cls.dir, True)

    def login(self, proxy_port, user, **kw):
        return client.run(self.server.jid(user), self.users[user], "127.0.0.1", proxy_port,
                          timeout=kw.pop("timeout", 30), **kw)

    def shot(self, driver, name):
        path = os.path.join(self.artifacts, name + ".png")
        driver.save_screenshot(path)
        self.assertGreater(os.path.getsize(path), 10000)
        return path

    def start_proxy(self, **kw):
        p = LiveProxy(self.server, **kw)
        # cleanups run last in, first out: the exit status, then the
        # sanitizer's report
        self.addCleanup(p.x.cleanup)
        self.addCleanup(lambda: self.assertEqual(p.stop(), 0, p.x.describe()))
        return p

    # ---- the token, the Origin ----

    def test_websocket_and_api_need_the_token_and_this_origin(self):
        p = self.start_proxy()
        ws = WebSocket(p.web_port)
        self.assertEqual(ws.status, 403, ws.head)
        ws.close()
        ws = WebSocket(p.web_port, token="0" * 32)
        self.assertEqual(ws.status, 403, ws.head)
        ws.close()
        ws = WebSocket(p.web_port, token=p.token, origin="http://rebound.example:%d" % p.web_port)
        self.assertEqual(ws.status, 403, ws.head)
        ws.close()
        ws = WebSocket(p.web_port, token=p.token, origin="http://127.0.0.1:%d" % p.web_port)
        self.assertEqual(ws.status, 101, ws.head)
        state = ws.message()
        self.assertEqual(state["live"], True)
        self.assertEqual(state["missed"], 0)
        # 16 pages at once; the 17th is closed (1008)
        many = [WebSocket(p.web_port, token=p.token) for _ in range(15)]
        self.assertTrue(all(w.status == 101 for w in many))
        extra = WebSocket(p.web_port, token=p.token)
        self.assertEqual(extra.status, 101)
        self.assertRaises(EOFError, lambda: [extra.message() for _ in range(10)])
        for w in many + [extra]:
            w.close()
        # the page answers "ack"; anything larger than a few bytes ends it
        ws.send_text(b"x" * 1000)
        self.assertRaises(EOFError, lambda: [ws.message() for _ in range(10)])
        ws.close()
        try:
            urllib.request.urlopen(p.base + "api/events", timeout=30)
            self.fail("the API answered without the token")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 403)

    # ---- a real session, watched in Chromium ----

    def test_live_view_in_headless_chromium(self):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
        p = self.start_proxy()
        driver = chromium(os.path.join(self.dir, "profile-live"))
        self.addCleanup(driver.quit)
        driver.set_page_load_timeout(60)
        driver.get(p.url)
        wait = WebDriverWait(driver, 30)
        state = driver.find_element(By.ID, "live-state")
        wait.until(lambda d: state.text == "live")
        self.assertNotIn("token", driver.current_url)

        results = {}
        bob = threading.Thread(target=lambda: results.__setitem__(
            "bob", self.login(p.port, "bob", expect_body=BODY, timeout=60)))
        bob.start()
        self.addCleanup(bob.join, 60)

        def session_rows(d):
            # in one script: the table is rebuilt as sessions change
            return d.execute_script(
                "return [...document.querySelectorAll('#sessions tbody tr')]"
                ".map((r) => [...r.cells].map((c) => c.textContent).join(' '));")
        # bob's session, with the JID the server bound, while it is open
        wait.until(lambda d: any("bob@localhost" in r and "open" in r for r in session_rows(d)))

        sent = []
        alice = threading.Thread(target=lambda: results.__setitem__(
            "alice", self.login(p.port, "alice", send_to=self.server.jid("bob"), body=BODY,
                                on_ready=lambda: sent.append(time.monotonic()))))
        alice.start()

        # one script per poll (a WebDriver call per row would take longer
        # than the page does)
        WebDriverWait(driver, 10, poll_frequency=0.01).until(lambda d: d.execute_script(
            "return [...document.querySelectorAll('#events .row')].some("
            "(r) => r.textContent.includes('message chat to=bob@localhost'));"))
        seen = time.monotonic()
        self.assertTrue(sent)
        print("\nalice's message in the live view %.0f ms after her client sent it"
              % ((seen - sent[0]) * 1000), file=sys.stderr)
        alice.join(60)
        bob.join(60)
        self.assertIsNone(results.get("alice"), results)
        self.assertIsNone(results.get("bob"), results)

        # both sessions closed now, bytes counted
        wait.until(lambda d: len(session_rows(d)) == 2
                   and all(" closed" in r for r in session_rows(d)))
        api_sessions = p.api("/api/sessions")["files"][0]["sessions"]
        self.assertEqual(sorted(s["jid"].split("/")[0] for s in api_sessions),
                         ["alice@localhost", "bob@localhost"])
        self.assertTrue(all(s["closed"] and s["c2s_bytes"] > 0 for s in api_sessions))

        # the filter narrows the list to what the API gives for it
        box = driver.find_element(By.ID, "filter")
        box.send_keys("--kind message")
        driver.find_element(By.CSS_SELECTOR, "#filter-form button").click()
        want = len(p.all_events(kind="message"))

        def message_rows(d):
            r = d.execute_script("return [...document.querySelectorAll('#events .row')]"
                                 ".map((r) => r.textContent);")
            return r if r and all("message" in x for x in r) else None
        wait.until(lambda d: message_rows(d) and len(message_rows(d)) == want)

        # a click on the message (the list is virtual: its row looked up
        # now, with follow off, not kept from before) shows its XML
        driver.find_element(By.ID, "follow").click()
        chat = [r for r in driver.find_elements(By.CSS_SELECTOR, "#events .row")
                if "message chat to=bob@localhost" in r.text]
        chat[0].click()
        detail = driver.find_element(By.ID, "detail-text")
        wait.until(lambda d: "<body>" in detail.text)
        self.assertIn("&lt;script&gt;", detail.text)
        self.assertEqual(driver.find_elements(By.CSS_SELECTOR, "#detail-text *"), [])
        self.shot(driver, "live-message")
        driver.find_element(By.ID, "follow").click()

        # pause: new events wait, the page says how many
        driver.find_element(By.ID, "pause").click()
        wait.until(lambda d: state.text.startswith("paused"))
        before = len(message_rows(driver))
        self.assertIsNone(self.login(p.port, "alice", rounds=[3]))
        wait.until(lambda d: re.match(r"paused: \d+ new events", state.text))
        self.assertEqual(len(message_rows(driver)), before)
        self.shot(driver, "live-paused")
        driver.find_element(By.ID, "pause").click()
        want = len(p.all_events(kind="message"))
        self.assertEqual(want, before + 6)  # three to herself, each way
        wait.until(lambda d: len(message_rows(d)) == want)

        # secrets as the printer hides them: a PLAIN login's password is
        # in no event the page can get
        self.assertIsNone(self.login(p.port, "alice", mech="PLAIN"))
        events = json.dumps(p.all_events())
        self.assertIn("PLAIN", events)
        self.assertNotIn(self.users["alice"], events)
        self.assertNotIn(base64.b64encode(b"\0alice\0" + self.users["alice"].encode()).decode(),
                         events)

        # follow: every event, the newest row in view
        box.clear()
        driver.find_element(By.CSS_SELECTOR, "#filter-form button").click()
        self.assertTrue(driver.find_element(By.ID, "follow").is_selected())
        self.assertIsNone(self.login(p.port, "alice", rounds=[20]))

        def last_id(d):
            return d.execute_script("const r = document.querySelectorAll('#events .row');"
                                    "return r.length ? Number(r[r.length - 1].dataset.id) : -1;")
        list_el = driver.find_element(By.ID, "events")

        def at_bottom(d):
            return d.execute_script(
                "const l = arguments[0]; return l.scrollTop + l.clientHeight >= l.scrollHeight - 4;",
                list_el)
        # the newest event xmitm has (the session's close may come after
        # the client's last word): the page's last row, in view
        try:
            wait.until(lambda d: last_id(d) == len(p.all_events()) - 1 and at_bottom(d))
        except Exception:
            self.shot(driver, "live-follow-failed")
            raise AssertionError("follow: last row %d of %d, at bottom %r, page %s, %s"
                                 % (last_id(driver), len(p.all_events()), at_bottom(driver),
                                    driver.execute_script("return JSON.stringify(window.xmitmApp.state);"),
                                    driver.find_element(By.ID, "live-state").text))
        self.assertGreater(driver.execute_script("return arguments[0].scrollTop;", list_el), 0)
        self.shot(driver, "live-follow")

        # follow off: new rows come, the list stays where it was scrolled
        driver.find_element(By.ID, "follow").click()
        driver.execute_script("arguments[0].scrollTop = 0;", list_el)
        self.assertIsNone(self.login(p.port, "alice", rounds=[5]))
        # the list (virtual: only the rows on screen exist) is as long as
        # the events, its view where it was
        wait.until(lambda d: d.execute_script("return window.xmitm.list.length();")
                   == len(p.all_events()))
        self.assertEqual(driver.execute_script("return arguments[0].scrollTop;", list_el), 0)

        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        self.assertEqual(errors, [])

    # ---- xmitm web on a large recording: indexed in the background ----

    def test_large_recording_served_while_indexed(self):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
        rec = os.path.join(self.dir, "large.jsonl")
        n = 300000
        subprocess.run(["/usr/bin/python3", os.path.join(HERE, "..", "bench", "make-recording.py"),
                        str(n), rec], check=True, timeout=300)
        with open(rec, encoding="utf-8") as f:
            lines = sum(1 for _ in f)
        # the browser first, so that the page opens while xmitm indexes
        driver = chromium(os.path.join(self.dir, "profile-large"))
        self.addCleanup(driver.quit)
        proc = subprocess.Popen([XMITM, "web", "--listen", "127.0.0.1:0", rec],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def stop():
            proc.terminate()
            self.assertEqual(proc.wait(30), 0)
            report = peers.sanitizer_report(proc.stderr.read())
            proc.stdout.close()
            proc.stderr.close()
            self.assertFalse(report, report)
        self.addCleanup(stop)
        m = re.search(r"(http://\S+/)\?token=([0-9a-f]+)", proc.stdout.readline())
        base, token = m.group(1), m.group(2)
        port = int(re.search(r":(\d+)/$", base).group(1))
        driver.get(base + "?token=" + token)
        ws = WebSocket(port, token=token)
        self.addCleanup(ws.close)
        self.assertEqual(ws.status, 101)
        first = ws.message()
        # the first page is served while the rest is read
        with urllib.request.urlopen(base + "api/events?count=100&token=" + token, timeout=30) as r:
            page = json.loads(r.read())
        self.assertTrue(page["events"])
        self.assertEqual(page["events"][0]["id"], 0)
        self.shot(driver, "web-indexing")
        st = first
        while st["indexing"] is not None:
            self.assertLessEqual(st["indexing"]["read"], st["indexing"]["size"])
            st = ws.message()
        print("\nxmitm web: first state %s; %d events at the end" % (first, st["events"]),
              file=sys.stderr)
        self.assertIsNotNone(first["indexing"], "indexed before the first state: nothing to see")
        self.assertEqual(st["events"], lines - 1)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.find_element(By.ID, "live-controls").get_attribute("hidden"))
        # the session as the whole file has it (closed), and the list
        # read as far as the screen asks, not on to the end
        wait.until(lambda d: d.execute_script(
            "const r = document.querySelector('#sessions tbody tr');"
            "return r !== null && !r.textContent.includes('open');"))
        self.assertLess(len(driver.find_elements(By.CSS_SELECTOR, "#events .row")), 2000)
        self.shot(driver, "web-indexed")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        self.assertEqual(errors, [])

    # ---- a flood, a stalled WebSocket, a tiny queue ----

    def test_sessions_stay_right_when_the_view_falls_behind(self):
        """A queue of one event: nearly every round's events are dropped,
        yet the connections' opens, closes and layers still reach the
        view, so its sessions table has each of four logins, closed and
        why, with its layers (the SASL restart here). Before, they went
        with the rest: connections missing, or shown open for ever."""
        p = self.start_proxy(env={"XMITM_WEB_QUEUE": "1,100"})
        for _ in range(4):
            self.assertIsNone(self.login(p.port, "alice"))
        last = {}

        def all_closed():
            last["sessions"] = p.api("/api/sessions")["files"][0]["sessions"]
            return len(last["sessions"]) == 4 and all(s["closed"] for s in last["sessions"])
        self.assertTrue(wait_for(all_closed, 15), last)
        self.assertTrue(all(s["layers"] and s["close_reason"] for s in last["sessions"]), last)
        # the queue really was too small: events were missed, and noted
        notes = [e for e in p.all_events()
                 if e["conn"] == 0 and "the web view missed" in e["text"]]
        self.assertTrue(notes)
        print("\nsessions right with a queue of one event: %s"
              % notes[0]["text"][:60], file=sys.stderr)

    def test_flood_with_a_stalled_websocket_loses_no_byte(self):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
        record = os.path.join(self.dir, "flood.jsonl")
        tap_b = peers.Tap(peers.LOOPBACK, self.server.port)
        self.addCleanup(tap_b.close)
        # a queue of 40 events: a round of the flood is more than that
        p = self.start_proxy(extra=["--record", record], upstream_port=tap_b.port,
                             env={"XMITM_WEB_QUEUE": "40,1000000"})
        tap_a = peers.Tap(peers.LOOPBACK, p.port)
        self.addCleanup(tap_a.close)

        stalled = WebSocket(p.web_port, token=p.token, small_buffer=True)
        self.assertEqual(stalled.status, 101, stalled.head)
        self.addCleanup(stalled.close)
        watcher = WebSocket(p.web_port, token=p.token)
        self.assertEqual(watcher.status, 101)
        self.addCleanup(watcher.close)

        start = time.monotonic()
        reason = self.login(tap_a.port, "alice", rounds=[300] * 10, pad=300, timeout=120)
        took = time.monotonic() - start
        self.assertIsNone(reason)
        self.assertTrue(tap_a.wait_idle(1) and tap_b.wait_idle(1))
        a, b = tap_a.conns[0], tap_b.conns[0]
        self.assertEqual(a.c2s, b.c2s)
        self.assertEqual(a.s2c, b.s2c)
        print("\nflood: 3000 messages echoed in %.2f s, %d bytes each way through xmitm"
              % (took, len(a.c2s)), file=sys.stderr)

        # what the web view has plus what it missed is what --record has
        def recorded():
            with open(record, encoding="utf-8") as f:
                return sum(1 for _ in f) - 1
        last = {}

        def balanced():
            st = watcher.latest()
            if st is None:
                return False
            notes = [e for e in p.all_events()
                     if e["conn"] == 0 and "the web view missed" in e["text"]]
            missed_noted = sum(int(re.search(r"missed (\d+) events", e["text"]).group(1))
                               for e in notes)
            last.update(state=st, notes=len(notes), noted=missed_noted, rec=recorded())
            return (st["missed"] > 0 and missed_noted == st["missed"]
                    and st["events"] - len(notes) + st["missed"] == last["rec"])
        self.assertTrue(wait_for(balanced, 30), last)
        # the stalled client never acknowledged the first state: it was
        # sent nothing else, whatever happened meanwhile
        frames = []
        stalled.sock.settimeout(1)
        try:
            while True:
                f = stalled._frame()
                if f is not None:
                    frames.append(f)
                    continue
                chunk = stalled.sock.recv(65536)
                if not chunk:
                    break
                stalled.buf += chunk
        except socket.timeout:
            pass
        self.assertEqual(len(frames), 1, frames)
        print("flood: the web view has %d events, missed %d (queue of 40 events)"
              % (last["state"]["events"] - last["notes"], last["state"]["missed"]), file=sys.stderr)

        driver = chromium(os.path.join(self.dir, "profile-flood"))
        self.addCleanup(driver.quit)
        driver.get(p.url)
        wait = WebDriverWait(driver, 30)
        banner = driver.find_element(By.ID, "missed-banner")
        wait.until(lambda d: banner.is_displayed()
                   and ("%d events were missed" % last["state"]["missed"]) in banner.text)
        # the session and the rows on screen loaded, then the picture
        wait.until(lambda d: d.execute_script(
            "return document.querySelector('#sessions tbody tr') !== null"
            " && document.querySelector('#events .row') !== null"
            " && document.querySelector('#events .row.loading') === null;"))
        self.shot(driver, "live-missed")


if __name__ == "__main__":
    unittest.main(verbosity=2)
