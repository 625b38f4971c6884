#!/usr/bin/python3
"""xmitm web: a real recording served to a browser.

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_web_ui.py

A real session (two slixmpp clients through `xmitm proxy --record` to a
throwaway prosody with STARTTLS, as test_recording.py records it; alice's
message carries markup) is served by `xmitm web`. What the tests hold it to:
  * every request without the token, with a wrong one, with a foreign Host
    or Origin is refused with 403; the token's cookie works on its own;
  * /api/sessions names both connections with their bound JIDs;
  * /api/events filtered with --kind message (and others) gives exactly
    the events `xmitm show` prints with the same filter, in pages;
  * the stanza's markup comes back as data; the page has no inline script
    and a strict Content-Security-Policy;
  * in headless Chromium (Selenium), the page lists the message and shows
    its XML when clicked, the markup as text (a screenshot is saved).
"""

import http.cookiejar
import json
import os
import re
import shutil
import socket
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
from test_web_live import WebSocket  # noqa: E402

XMITM = os.environ.get("XMITM")
BODY = "hi bob <script>alert('xmitm')</script> & javascript:alert(1)"



def wait_for(pred, timeout=15.0):
    return peers.wait_for(pred, timeout)


class Web:
    """A running `xmitm web` and what it printed."""

    def __init__(self, *files, extra=(), env=None):
        # Port 0: xmitm picks a free one and prints it; the Host check
        # must then use the bound port.
        self.proc = subprocess.Popen(
            [XMITM, "web", "--listen", "127.0.0.1:0"] + list(extra) + list(files),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
            env=env)
        line = self.proc.stdout.readline()
        m = re.search(r"(http://\S+)\?token=([0-9a-f]+)", line)
        if not m:
            self.proc.kill()
            raise AssertionError("xmitm web printed %r; stderr %r" % (line, self.proc.stderr.read()))
        self.base, self.token = m.group(1), m.group(2)
        self.port = int(re.search(r":(\d+)/$", self.base).group(1))
        self.url = line.split()[-1]
        # The files are indexed in the background: what the API answers
        # grows until the WebSocket says indexing is over.
        ws = WebSocket(self.port, token=self.token)
        try:
            if ws.status != 101:
                raise AssertionError("xmitm web's WebSocket: %s" % ws.head)
            while ws.message()["indexing"] is not None:
                pass
        finally:
            ws.close()

    def stop(self):
        """Its exit status, after SIGTERM; a sanitizer report (ASan build)
        is a failure."""
        self.proc.terminate()
        try:
            rc = self.proc.wait(30)
            report = peers.sanitizer_report(self.proc.stderr.read())
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()
        if report:
            raise AssertionError("xmitm web: sanitizer report:\n" + report)
        return rc

    def get(self, path, headers=None, token=True, opener=None):
        """(status, headers, body) of a GET."""
        url = self.base.rstrip("/") + path
        if token:
            url += ("&" if "?" in url else "?") + "token=" + self.token
        req = urllib.request.Request(url, headers=headers or {})
        try:
            r = (opener.open if opener else urllib.request.urlopen)(req, timeout=30)
            return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def api(self, path, **params):
        query = urllib.parse.urlencode([(k, v) for k, vs in params.items()
                                        for v in (vs if isinstance(vs, list) else [vs])])
        status, _, body = self.get(path + ("?" + query if query else ""))
        if status != 200:
            raise AssertionError("%s: %d %s" % (path, status, body))
        return json.loads(body)

    def all_events(self, page=7, **filters):
        """Every event through the API, page by page."""
        out, nxt = [], 0
        while True:
            data = self.api("/api/events", **dict(filters, count=page, **{"from": nxt}))
            out += data["events"]
            self.last = data
            if data["done"]:
                return out
            nxt = data["next"]


class WebUiTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        cls.dir = tempfile.mkdtemp(prefix="xmitm-webui-")
        cls.users = {"alice": "alice-pw", "bob": "bob-pw"}
        cls.server = peers.Prosody(users=cls.users, tls_required=True)
        cls.server.start()
        try:
            cls.rec = os.path.join(cls.dir, "session.jsonl")
            cls.record_session()
        except BaseException:
            cls.server.stop()
            raise
        cls.web = Web(cls.rec)

    @classmethod
    def tearDownClass(cls):
        rc = cls.web.stop()
        cls.server.stop()
        if rc != 0:
            raise AssertionError("xmitm web exited %r" % rc)
        if os.environ.get("KEEP_WEB_UI_ARTIFACTS"):
            print("artifacts in", cls.dir)
        else:
            shutil.rmtree(cls.dir, True)

    @classmethod
    def record_session(cls):
        x = peers.Xmitm("127.0.0.1", cls.server.port,
                        extra_args=["--upstream-ca", cls.server.cert, "--record", cls.rec, "-q"])
        x.start()
        try:
            def login(user, **kw):
                return client.run(cls.server.jid(user), cls.users[user], "127.0.0.1", x.port,
                                  tls=True, ca=x.ca_cert, tls_name="localhost", timeout=20, **kw)
            results = {}
            bob = threading.Thread(target=lambda: results.__setitem__(
                "bob", login("bob", expect_body=BODY)))
            bob.start()
            # bob is online once his presence is recorded
            def bob_online():
                if not os.path.exists(cls.rec):
                    return False
                with open(cls.rec, encoding="utf-8") as f:
                    return "presence" in f.read()
            if not wait_for(bob_online):
                raise AssertionError("bob's session did not come up\n" + x.describe())
            results["alice"] = login("alice", send_to=cls.server.jid("bob"), body=BODY)
            bob.join(30)
            if results.get("alice") or results.get("bob"):
                raise AssertionError("clients failed: %r" % results)
        finally:
            rc = x.stop()
        if rc != 0:
            raise AssertionError("xmitm proxy exited %r\n%s" % (rc, x.describe()))

    def show(self, *args):
        r = subprocess.run([XMITM, "show", "--color=never", self.rec] + list(args),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    @staticmethod
    def shown_events(text):
        """The first line of each event xmitm show printed: a time, or a
        SASL decode under its stanza."""
        return [line for line in text.splitlines()
                if re.match(r"^(\d\d:\d\d:\d\d\.\d{6} |  decoded: )", line)]

    # ---- access ----

    def test_refused_without_token_or_with_foreign_host_or_origin(self):
        for path in ("/", "/app.js", "/api/sessions", "/api/events"):
            status, _, body = self.web.get(path, token=False)
            self.assertEqual(status, 403, path)
            self.assertNotIn(b"alice", body)
        status, _, _ = self.web.get("/api/sessions?token=" + "0" * 32, token=False)
        self.assertEqual(status, 403)
        status, _, _ = self.web.get("/api/sessions", headers={"Host": "evil.example:%d" % self.web.port})
        self.assertEqual(status, 403)
        status, _, _ = self.web.get("/api/sessions", headers={"Origin": "http://evil.example"})
        self.assertEqual(status, 403)
        status, _, _ = self.web.get("/api/sessions", headers={"Host": "localhost:%d" % self.web.port})
        self.assertEqual(status, 200)

    def test_a_large_request_body_is_not_kept(self):
        """A page elsewhere may POST to 127.0.0.1 without the token: the
        body is read past, not held (libsoup reads it before any handler
        runs). 256 MiB in, the peak memory of xmitm web grows by far less.
        Its own xmitm web: in the ASan build, memory freed waits in the
        sanitizer's quarantine (256 MiB by default) before it is used
        again, which would count what was read past as kept; no quarantine
        there (the plain build ignores ASAN_OPTIONS)."""
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [
            env.get("ASAN_OPTIONS"), "quarantine_size_mb=0", "thread_local_quarantine_size_kb=0"]))
        web = Web(self.rec, env=env)
        self.addCleanup(web.stop)

        def peak_kib():
            with open("/proc/%d/status" % web.proc.pid) as f:
                return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1))
        before = peak_kib()
        size, block = 256 << 20, b"x" * (1 << 20)
        for path in ("/", "/api/sessions"):
            with socket.create_connection(("127.0.0.1", web.port), timeout=60) as s:
                s.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d"
                          b"\r\n\r\n" % (path.encode(), web.port, size))
                for _ in range(size // len(block)):
                    s.sendall(block)
                answer = s.recv(4096)
            self.assertTrue(answer.startswith(b"HTTP/1.1 403 "), answer)
        grew = peak_kib() - before
        sys.stderr.write("  2 POSTs of 256 MiB: peak RSS of xmitm web grew %d KiB\n" % grew)
        self.assertLess(grew, 64 << 10)
        status, _, _ = web.get("/api/sessions")
        self.assertEqual(status, 200)

    def test_cookie_carries_the_token(self):
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        status, headers, _ = self.web.get("/", opener=opener)
        self.assertEqual(status, 200)
        self.assertIn("HttpOnly", headers["Set-Cookie"])
        status, _, body = self.web.get("/api/sessions", token=False, opener=opener)
        self.assertEqual(status, 200)
        self.assertIn(b"alice@localhost", body)

    def test_page_has_strict_csp_and_no_inline_script(self):
        status, headers, body = self.web.get("/")
        self.assertEqual(status, 200)
        csp = headers["Content-Security-Policy"]
        self.assertIn("default-src 'none'", csp)
        self.assertIn("script-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)
        html = body.decode()
        self.assertEqual(re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html), [])
        self.assertNotRegex(html, r"\son\w+=")
        self.assertNotRegex(html, r"https?://")  # nothing from elsewhere
        for asset in ("/app.js", "/app.css"):
            status, headers, _ = self.web.get(asset)
            self.assertEqual(status, 200, asset)
            self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
        js = self.web.get("/app.js")[2].decode()
        self.assertNotIn("innerHTML", js)

    def test_usage_errors(self):
        for args, rc, says in ((["web"], 2, "say which recordings"),
                               (["web", "--listen", "nowhere", self.rec], 2, "bad --listen"),
                               (["web", "--listen", "0.0.0.0:%d" % peers.free_port(), self.rec], 2,
                                "not a wildcard"),
                               (["web", "--listen", "127.0.0.1:%d" % self.web.port, self.rec], 2,
                                "cannot listen"),
                               (["web", "--listen", "127.0.0.1:%d" % peers.free_port(),
                                 os.path.join(self.dir, "missing.jsonl")], 1, "cannot open")):
            r = subprocess.run([XMITM] + args, capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, rc, (args, r.stderr))
            self.assertIn(says, r.stderr, args)
            self.assertEqual(r.stdout, "", args)

    # ---- the API ----

    def test_sessions(self):
        data = self.web.api("/api/sessions")
        self.assertEqual(len(data["files"]), 1)
        f = data["files"][0]
        self.assertEqual(f["name"], "session.jsonl")
        sessions = f["sessions"]
        self.assertEqual([s["conn"] for s in sessions], [1, 2])
        self.assertEqual([s["jid"].split("/")[0] for s in sessions],
                         ["bob@localhost", "alice@localhost"])
        for s in sessions:
            self.assertRegex(s["client"], r"^127\.0\.0\.1:\d+$")
            self.assertEqual(s["transport"], "tcp")
            self.assertTrue(s["tls"])
            self.assertTrue(any("TLS" in layer for layer in s["layers"]), s["layers"])
            self.assertTrue(s["closed"])
            self.assertGreater(s["c2s_bytes"], 0)
            self.assertGreater(s["s2c_bytes"], 0)
            self.assertGreaterEqual(s["duration_ms"], 0)
        self.assertEqual(f["events"], sum(s["events"] for s in sessions))

    def test_events_match_xmitm_show(self):
        everything = self.web.all_events()
        self.assertEqual([e["id"] for e in everything], list(range(len(everything))))
        self.assertEqual(len(everything), len(self.shown_events(self.show())))
        for filters, args in (
                ({"kind": "message"}, ["--kind", "message"]),
                ({"kind": "iq", "dir": "s2c"}, ["--kind", "iq", "--dir", "s2c"]),
                ({"ns": "jabber:iq:roster"}, ["--ns", "jabber:iq:roster"]),
                ({"conn": "2", "kind": ["message", "presence"]},
                 ["--conn", "2", "--kind", "message", "--kind", "presence"]),
                ({"jid": "bob@localhost"}, ["--jid", "bob@localhost"]),
                ({"grep": "xmpp-sasl"}, ["--grep", "xmpp-sasl"]),
                # skipped on the index's digest, and on --grep's literals
                ({"ns": "urn:ietf:params:xml:ns:xmpp-bind"},
                 ["--ns", "urn:ietf:params:xml:ns:xmpp-bind"]),
                ({"jid": "BOB@LOCALHOST"}, ["--jid", "BOB@LOCALHOST"]),
                ({"jid": "localhost"}, ["--jid", "localhost"]),
                ({"grep": "(xmpp-sasl|jabber:iq:roster)"},
                 ["--grep", "(xmpp-sasl|jabber:iq:roster)"]),
                ({"grep": "(?i)(XMPP-SASL|Jabber:IQ:Roster)"},
                 ["--grep", "(?i)(XMPP-SASL|Jabber:IQ:Roster)"])):
            got = self.web.all_events(**filters)
            shown = self.shown_events(self.show(*args))
            self.assertGreater(len(shown), 0, args)
            self.assertEqual(len(got), len(shown), args)
            # the same events, printed by the same printer
            self.assertEqual([e["text"].splitlines()[0] for e in got], shown, args)
        messages = self.web.all_events(kind="message")
        self.assertEqual([(m["conn"], m["dir"]) for m in messages
                          if "<body>" in m["xml"]], [(2, "c2s"), (1, "s2c")])
        self.assertTrue(all(m["summary"].startswith("message chat to=bob@localhost")
                            for m in messages if "<body>" in m["xml"]))

    def test_summaries_and_secrets(self):
        evs = self.web.all_events(page=500)
        summaries = [e["summary"] for e in evs]
        self.assertIn("iq get jabber:iq:roster", [s.split(" to=")[0] for s in summaries])
        sasl = [e for e in evs if e["ev"] == "sasl"]
        self.assertTrue(sasl)
        self.assertTrue(all(e["summary"].startswith("decoded: SASL") for e in sasl))
        auth = [e for e in evs if e.get("name") == "auth"]
        self.assertTrue(auth)
        # redacted in the recording, and shown redacted as the printer does
        self.assertIn("hidden", auth[0]["text"])
        self.assertNotIn("alice-pw", json.dumps(evs))

    def test_stanza_markup_is_data(self):
        msg = [e for e in self.web.all_events(kind="message") if "<body>" in (e["xml"] or "")][0]
        # the XML as sent: the body's markup escaped as in the stanza
        self.assertIn("&lt;script&gt;", msg["xml"])
        self.assertIn("&lt;script&gt;", msg["text"])

    def test_bad_filters_say_why(self):
        status, _, body = self.web.get("/api/events?dir=up")
        self.assertEqual(status, 400)
        self.assertIn(b"--dir 'up'", body)
        status, _, body = self.web.get("/api/events?colour=red")
        self.assertEqual(status, 400)
        status, _, _ = self.web.get("/api/events?count=99999")
        self.assertEqual(status, 400)
        # a pattern that is not UTF-8 (PCRE2 would read past its end)
        for name in ("grep", "jid", "ns"):
            status, _, body = self.web.get("/api/events?%s=%%FE%%28a" % name)
            self.assertEqual(status, 400, name)
            self.assertIn(b"not valid UTF-8", body)

    def test_pages_of_a_larger_interleaved_recording(self):
        # Ten copies of the session, their lines interleaved, as ten more
        # connections each: pages read back from the middle of the file
        # (past the 512 events read at once, mid-connection, after a SASL
        # stanza) must print as xmitm show prints the whole file.
        with open(self.rec, encoding="utf-8") as f:
            header, *lines = f.read().splitlines()
        # A SASL decode stays right after its stanza, as xmitm records it.
        steps = []
        for line in lines:
            if json.loads(line)["ev"] == "sasl":
                steps[-1].append(line)
            else:
                steps.append([line])
        copies = []
        for k in range(10):
            copy = []
            for step in steps:
                evs = [json.loads(line) for line in step]
                for ev in evs:
                    if ev.get("conn"):
                        ev["conn"] += 2 * k
                copy.append("".join(json.dumps(ev) + "\n" for ev in evs))
            copies.append(copy)
        big = os.path.join(self.dir, "big.jsonl")
        with open(big, "w", encoding="utf-8") as f:
            f.write(header + "\n")
            for i in range(len(steps)):
                for copy in copies:
                    f.write(copy[i])
        web = Web(big)
        try:
            for page, filters, args in ((37, {}, []),
                                        (5, {"kind": "message"}, ["--kind", "message"]),
                                        (50, {"grep": "sasl"}, ["--grep", "sasl"]),
                                        (3, {"conn": "7-9", "dir": "c2s"}, ["--conn", "7-9", "--dir", "c2s"])):
                r = subprocess.run([XMITM, "show", "--color=never", big] + args,
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                got = [e["text"] for e in web.all_events(page=page, **filters)]
                self.assertEqual("".join(got), r.stdout, args)
            self.assertEqual(web.last["total"], 10 * len(lines))
            sessions = web.api("/api/sessions")["files"][0]["sessions"]
            self.assertEqual(len(sessions), 20)
            self.assertEqual(len({s["jid"] for s in sessions}), 2)
            f = web.api("/api/sessions", **{"from": 5, "count": 3})["files"][0]
            self.assertEqual(f["sessions"], sessions[5:8])
            self.assertEqual(f["sessions_total"], 20)
        finally:
            self.assertEqual(web.stop(), 0)

    def test_damaged_lines_are_read_past(self):
        # Lines that are no event (not JSON, an unknown event, a last line
        # cut short) between events: pages still print as xmitm show does.
        with open(self.rec, encoding="utf-8") as f:
            header, *lines = f.read().splitlines()
        damaged = os.path.join(self.dir, "damaged.jsonl")
        with open(damaged, "w", encoding="utf-8") as f:
            f.write(header + "\n")
            for i, line in enumerate(lines):
                if i % 9 == 4 and json.loads(line)["ev"] != "sasl":
                    f.write("{not json\n" if i % 2 else '{"ev":"from-the-future","conn":1}\n')
                f.write(line + "\n")
            f.write('{"ev":"stanza","conn":1,"dir":"c2s","xml":"<iq')
        r = subprocess.run([XMITM, "show", "--color=never", damaged],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("cut short", r.stderr)
        web = Web(damaged)
        try:
            for page in (1, 4, 1000):
                self.assertEqual("".join(e["text"] for e in web.all_events(page=page)), r.stdout)
            self.assertEqual(web.last["total"], len(lines))
        finally:
            self.assertEqual(web.stop(), 0)

    def test_a_capture_is_served_like_a_recording(self):
        # xmitm export writes the recording's XML streams as a capture of
        # cleartext XMPP; xmitm web reads it through the capture reader.
        pcap = os.path.join(self.dir, "session.pcap")
        r = subprocess.run([XMITM, "export", "--pcap", pcap, self.rec],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        shown = subprocess.run([XMITM, "show", "--color=never", "--kind", "message", pcap],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(shown.returncode, 0, shown.stderr)
        web = Web(pcap)
        try:
            got = web.all_events(kind="message")
            self.assertEqual("".join(e["text"] for e in got), shown.stdout)
            self.assertEqual(len([e for e in got if BODY.split()[0] in e["text"]]), 2)
            f = web.api("/api/sessions")["files"][0]
            self.assertEqual(f["name"], "session.pcap")
            self.assertTrue(f["secrets_recorded"])
        finally:
            self.assertEqual(web.stop(), 0)

    # ---- a real browser ----

    def test_page_in_headless_chromium(self):
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
            from selenium.webdriver.common.by import By
            from selenium.webdriver.support.ui import WebDriverWait
            from selenium.common.exceptions import StaleElementReferenceException
        except ImportError:
            self.fail("python3-selenium missing: scripts/dev.sh deps installs it")
        driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-dev-shm-usage", "--window-size=1400,900",
                  "--user-data-dir=" + os.path.join(self.dir, "chromium-profile")):
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service(driver_path), options=opts)
        try:
            driver.set_page_load_timeout(60)
            driver.get(self.web.url)
            wait = WebDriverWait(driver, 30)
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")) == 2)
            self.assertNotIn("token", driver.current_url)
            # narrow to messages through the filter box
            box = driver.find_element(By.ID, "filter")
            box.send_keys("--kind message")
            driver.find_element(By.CSS_SELECTOR, "#filter-form button").click()

            def message_rows(d):
                # the list is virtual: a row may be redrawn under us
                try:
                    rows = d.find_elements(By.CSS_SELECTOR, "#events .row")
                    done = "+" not in d.find_element(By.ID, "count").text
                    return rows if done and rows and all(
                        "message" in r.text for r in rows) else None
                except StaleElementReferenceException:
                    return None
            rows = wait.until(message_rows)
            self.assertEqual(len(rows), len(self.shown_events(self.show("--kind", "message"))))
            chat = [r for r in rows if "message chat to=bob@localhost" in r.text]
            self.assertTrue(chat, [r.text for r in rows])
            chat[0].click()
            detail = driver.find_element(By.ID, "detail-text")
            wait.until(lambda d: "<body>" in detail.text)
            self.assertIn("<message", detail.text)
            # the markup is text: no element came of it, no script ran
            self.assertIn("&lt;script&gt;", detail.text)
            self.assertEqual(driver.find_elements(By.CSS_SELECTOR, "#detail-text *"), [])
            # the page's own scripts only, each a file
            scripts = driver.find_elements(By.TAG_NAME, "script")
            self.assertTrue(scripts)
            self.assertTrue(all(s.get_attribute("src") for s in scripts))
            self.assertFalse(driver.find_element(By.ID, "copy-xml").get_attribute("disabled"))
            shot = os.path.join(self.dir, "web-ui.png")
            driver.save_screenshot(shot)
            self.assertGreater(os.path.getsize(shot), 10000)
            # a reload, without the token in the URL: the cookie is enough
            driver.refresh()
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")) == 2)
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            self.assertEqual(errors, [])
        finally:
            driver.quit()


if __name__ == "__main__":
    unittest.main(verbosity=2)
