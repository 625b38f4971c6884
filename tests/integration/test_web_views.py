#!/usr/bin/python3
"""xmitm web's views: iq pairing, the XML detail, the sequence diagram and
export --html, on a real session, in headless Chromium.

Run:  XMITM=build/cli/xmitm /usr/bin/python3 tests/integration/test_web_views.py

Two slixmpp clients log in through `xmitm proxy --record` to a throwaway
prosody with STARTTLS (bob with a resource of his own); alice sends bob a
message carrying markup, a headline to a resource whose name is markup,
and an iq to bob's full JID that bob's client leaves unanswered. Then:
  * /api/events pairs every iq result or error with its request exactly as
    the recording pairs them read independently here (same connection,
    other direction, same id), with the time between; alice's last iq is
    marked unanswered;
  * `xmitm web` in Chromium: the iq filter of alice's connection lists as
    many rows as `xmitm show` prints with the same filter; a result's link
    jumps to its request and shows the time; the unanswered iq is marked;
    the message's XML is highlighted, collapsible, its markup text; the raw
    bytes are a hex dump; the sequence diagram of each connection has one
    arrow per stanza of that connection in the recording; the downloaded
    SVG parses as XML and has the same arrows; the markup in stanzas made
    no element anywhere (list, detail, diagram) and no alert;
  * `export --html` opened from file:// shows the same; it refuses to
    overwrite the recording and a symbolic link;
  * screenshots are saved (KEEP_WEB_UI_ARTIFACTS=1 keeps them).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import client  # noqa: E402
import peers  # noqa: E402
from test_web_ui import Web, BODY, XMITM  # noqa: E402

IQ_ID = "xmitm-unanswered"
EVIL_RESOURCE = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&apos;")


def iq_of(ev):
    """(type, id) of an iq stanza event, else None."""
    if ev.get("ev") != "stanza" or ev.get("name") != "iq":
        return None
    m_type = re.search(r"""\btype=['"]([^'"]*)['"]""", ev["xml"].split(">", 1)[0])
    m_id = re.search(r"""\bid=['"]([^'"]*)['"]""", ev["xml"].split(">", 1)[0])
    return (m_type.group(1) if m_type else None, m_id.group(1) if m_id else None)


def pairs_from_recording(events):
    """{request id: answer id} and the ids of requests left unanswered,
    worked out from the recording alone (RFC 6120 8.2.3)."""
    pending, pairs, unanswered = {}, {}, set()
    for i, ev in enumerate(events):
        if ev["ev"] == "close":
            for key in [k for k in pending if k[0] == ev["conn"]]:
                unanswered.add(pending.pop(key))
            continue
        t = iq_of(ev)
        if not t or t[1] is None:
            continue
        if t[0] in ("get", "set"):
            key = (ev["conn"], ev["dir"], t[1])
            if key in pending:
                unanswered.add(pending[key])
            pending[key] = i
        elif t[0] in ("result", "error"):
            other = "s2c" if ev["dir"] == "c2s" else "c2s"
            req = pending.pop((ev["conn"], other, t[1]), None)
            if req is not None:
                pairs[req] = i
    unanswered |= set(pending.values())
    return pairs, unanswered


class WebViewsTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not (XMITM and os.access(XMITM, os.X_OK)):
            raise RuntimeError("set XMITM to the xmitm binary (got %r)" % XMITM)
        cls.dir = tempfile.mkdtemp(prefix="xmitm-webviews-")
        cls.users = {"alice": "alice-pw", "bob": "bob-pw"}
        cls.server = peers.Prosody(users=cls.users, tls_required=True)
        cls.server.start()
        try:
            cls.rec = os.path.join(cls.dir, "session.jsonl")
            cls.record_session()
        finally:
            cls.server.stop()
        with open(cls.rec, encoding="utf-8") as f:
            cls.events = [json.loads(line) for line in f.read().splitlines()[1:]]
        cls.web = Web(cls.rec)
        cls.html = os.path.join(cls.dir, "session.html")
        r = subprocess.run([XMITM, "export", "--html", cls.html, cls.rec],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError("export --html: %r" % r.stderr)

    @classmethod
    def tearDownClass(cls):
        rc = cls.web.stop()
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
            def login(user, resource=None, **kw):
                jid = cls.server.jid(user) + ("/" + resource if resource else "")
                return client.run(jid, cls.users[user], "127.0.0.1", x.port,
                                  tls=True, ca=x.ca_cert, tls_name="localhost", timeout=20, **kw)
            results = {}
            bob = threading.Thread(target=lambda: results.__setitem__(
                "bob", login("bob", "balcony", expect_body=BODY,
                             ignore_iq_ns="urn:xmitm:test")))
            bob.start()

            def bob_jid():
                if not os.path.exists(cls.rec):
                    return None
                with open(cls.rec, encoding="utf-8") as f:
                    text = f.read()
                m = re.search(r"<jid>(bob@localhost/[^<]+)</jid>", text)
                return m.group(1) if m and "presence" in text else None
            if not peers.wait_for(bob_jid):
                raise AssertionError("bob's session did not come up\n" + x.describe())
            full = bob_jid()
            raw = [
                "<message type='headline' id='evil' to='bob@localhost/%s'>"
                "<body>javascript:alert(3)</body></message>" % xml_escape(EVIL_RESOURCE),
                # bob's client leaves this one unanswered
                "<iq type='get' id='%s' to='%s'><query xmlns='urn:xmitm:test'/></iq>"
                % (IQ_ID, full),
            ]
            results["alice"] = login("alice", send_to=cls.server.jid("bob"), body=BODY,
                                     raw_after=raw)
            bob.join(30)
            if results.get("alice") or results.get("bob"):
                raise AssertionError("clients failed: %r" % results)
        finally:
            rc = x.stop()
        if rc != 0:
            raise AssertionError("xmitm proxy exited %r\n%s" % (rc, x.describe()))

    def conns(self):
        """(alice's connection, bob's), from the recording's bind results."""
        got = {}
        for ev in self.events:
            m = re.search(r"<jid>(\w+)@localhost/", ev.get("xml", ""))
            if m and ev["dir"] == "s2c":
                got[m.group(1)] = ev["conn"]
        return got["alice"], got["bob"]

    # ---- the API ----

    def test_iq_pairing_matches_the_recording(self):
        data = self.web.all_events(page=50)
        self.assertEqual(len(data), len(self.events))
        pairs, unanswered = pairs_from_recording(self.events)
        self.assertTrue(pairs)
        got_pairs = {e["id"]: e["pair"] for e in data if e.get("iq") == "request" and "pair" in e}
        self.assertEqual(got_pairs, pairs)
        for req, ans in pairs.items():
            self.assertEqual(data[ans]["pair"], req)
            self.assertEqual(data[ans]["iq"], "answer")
            self.assertEqual(data[ans]["rtt_us"], self.events[ans]["t"] - self.events[req]["t"])
            self.assertEqual(data[req]["rtt_us"], data[ans]["rtt_us"])
        got_unanswered = {e["id"] for e in data if e.get("unanswered")}
        self.assertEqual(got_unanswered, unanswered)
        # the iq bob ignored is among them, on both connections
        alice, bob = self.conns()
        lost = [e for e in data if e["conn"] == alice and iq_of(self.events[e["id"]]) == ("get", IQ_ID)]
        self.assertEqual(len(lost), 1)
        self.assertTrue(lost[0].get("unanswered"), lost[0])
        bobs = [e for e in data if e["conn"] == bob and iq_of(self.events[e["id"]]) == ("get", IQ_ID)]
        self.assertEqual(len(bobs), 1)
        self.assertEqual(bobs[0]["dir"], "s2c")
        self.assertTrue(bobs[0].get("unanswered"), bobs[0])
        self.assertNotIn("pair", bobs[0])

    def test_export_refuses_the_recording_and_links(self):
        r = subprocess.run([XMITM, "export", "--html", self.rec, self.rec],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("itself", r.stderr)
        link = os.path.join(self.dir, "link.html")
        target = os.path.join(self.dir, "target.txt")
        with open(target, "w") as f:
            f.write("keep\n")
        os.symlink(target, link)
        r = subprocess.run([XMITM, "export", "--html", link, self.rec],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        with open(target) as f:
            self.assertEqual(f.read(), "keep\n")
        self.assertEqual(os.stat(self.html).st_mode & 0o777, 0o600)
        with open(self.html, encoding="utf-8") as f:
            page = f.read()
        # the stanzas' markup is data: no '<' of theirs is left in the file
        self.assertNotIn("<script>alert", page)
        self.assertNotIn("<img", page)
        self.assertIn("Content-Security-Policy", page)
        self.assertNotIn("http://", page.split("<body>")[0].split("<style>")[0])
        # too many events for one file: refused, with what to do instead
        big = os.path.join(self.dir, "big.jsonl")
        subprocess.run([sys.executable, os.path.join(HERE, "..", "bench", "make-recording.py"),
                        "100000", big], check=True, timeout=120)
        out = os.path.join(self.dir, "big.html")
        r = subprocess.run([XMITM, "export", "--html", out, big],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("at most 100000", r.stderr)
        self.assertIn("--conn N", r.stderr)
        self.assertFalse(os.path.exists(out))
        os.unlink(big)
        # few events but many bytes (a sparse file past 128 MiB): refused
        # before anything is read into memory
        with open(self.rec, "rb") as f:
            head = f.read()
        huge = os.path.join(self.dir, "huge.jsonl")
        with open(huge, "wb") as f:
            f.write(head)
            f.truncate(129 << 20)
        r = subprocess.run([XMITM, "export", "--html", out, huge],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("at most 128 MiB", r.stderr)
        self.assertFalse(os.path.exists(out))
        os.unlink(huge)

    # ---- in a real browser ----

    def browser(self):
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
        except ImportError:
            self.fail("python3-selenium missing: scripts/dev.sh deps installs it")
        self.downloads = os.path.join(self.dir, "downloads-%d" % time.monotonic_ns())
        os.makedirs(self.downloads)
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-dev-shm-usage", "--window-size=1400,900",
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                  "--user-data-dir=" + os.path.join(self.downloads, "profile")):
            opts.add_argument(a)
        opts.add_experimental_option("prefs", {
            "download.default_directory": self.downloads,
            "download.prompt_for_download": False,
        })
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        return webdriver.Chrome(service=Service(shutil.which("chromedriver") or
                                                "/usr/bin/chromedriver"), options=opts)

    def expected_rows(self, *args):
        r = subprocess.run([XMITM, "show", "--color=never", self.rec] + list(args),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return len([line for line in r.stdout.splitlines()
                    if re.match(r"^(\d\d:\d\d:\d\d\.\d{6} |  decoded: )", line)])

    def exercise(self, driver, url, tag):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
        from selenium.common.exceptions import StaleElementReferenceException
        wait = WebDriverWait(driver, 30)
        alice, bob = self.conns()

        def js(code, *args):
            return driver.execute_script(code, *args)

        def filter_to(text):
            box = driver.find_element(By.ID, "filter")
            box.clear()
            box.send_keys(text)
            driver.find_element(By.CSS_SELECTOR, "#filter-form button").click()

        def rows_done():
            try:
                if "+" in driver.find_element(By.ID, "count").text:
                    return None
                return js("return Array.from(document.querySelectorAll('#events .row'))"
                          ".map(r => [r.dataset.id, r.textContent])") or None
            except StaleElementReferenceException:
                return None

        def shot(name):
            path = os.path.join(self.dir, "%s-%s.png" % (tag, name))
            driver.save_screenshot(path)
            self.assertGreater(os.path.getsize(path), 10000)

        driver.set_page_load_timeout(60)
        driver.get(url)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")) == 2)
        # a filter narrows the list to what xmitm show prints
        filter_to("--kind iq --conn %d" % alice)
        rows = wait.until(lambda d: rows_done() if all(
            "iq " in t for _, t in (rows_done() or [("", "")])) else None)
        self.assertEqual(len(rows), self.expected_rows("--kind", "iq", "--conn", str(alice)))
        # the unanswered iq is marked
        lost = js("return Array.from(document.querySelectorAll('#events .row'))"
                  ".filter(r => r.querySelector('.pair.unanswered')).map(r => r.dataset.id)")
        want = [str(i) for i, ev in enumerate(self.events)
                if ev["conn"] == alice and iq_of(ev) == ("get", IQ_ID)]
        self.assertEqual(lost, want)
        # a result's link jumps to its request, with the time between
        link = driver.find_element(By.CSS_SELECTOR, "#events .row a.pair.answer")
        self.assertRegex(link.text, r"#\d+ \d+(\.\d+)? ms")
        request = int(re.search(r"#(\d+)", link.text).group(1))
        link.click()
        wait.until(lambda d: js("var r = document.querySelector('#events .row.selected');"
                                "return r && r.dataset.id") == str(request))
        self.assertIn(iq_of(self.events[request])[0], ("get", "set"))
        wait.until(lambda d: "answered by" in d.find_element(By.ID, "detail-pair").text)
        shot("pairing")
        # the message: highlighted, collapsible XML with its markup as text
        filter_to("--kind message --conn %d" % alice)
        wait.until(lambda d: any("message chat" in t for _, t in (rows_done() or [])))
        chat = [r for r in driver.find_elements(By.CSS_SELECTOR, "#events .row")
                if "message chat" in r.text][0]
        chat.click()
        wait.until(lambda d: "<body>" in d.find_element(By.ID, "detail-text").text)
        driver.find_element(By.ID, "tab-xml").click()
        xml = driver.find_element(By.ID, "detail-xml")
        self.assertIn("&lt;script&gt;alert('xmitm')&lt;/script&gt; &amp; javascript:", xml.text)
        self.assertTrue(xml.find_elements(By.CSS_SELECTOR, ".xn"))
        toggle = xml.find_element(By.CSS_SELECTOR, ".xt.on")
        toggle.click()
        self.assertNotIn("hi bob", xml.text)
        shot("xml-collapsed")
        toggle.click()
        self.assertIn("hi bob", xml.text)
        shot("xml")
        driver.find_element(By.ID, "tab-raw").click()
        raw = driver.find_element(By.ID, "detail-raw").text
        self.assertRegex(raw, r"^00000000  3c 6d 65 73")  # "<mes"
        # the headline's markup in the list is text
        filter_to("--kind message --conn %d" % alice)
        wait.until(lambda d: any(EVIL_RESOURCE in t for _, t in (rows_done() or [])))
        # the sequence diagram of each connection: one arrow per stanza
        for conn in (alice, bob):
            filter_to("--conn %d" % conn)
            wait.until(lambda d: rows_done())
            driver.find_element(By.ID, "show-diagram").click()
            wait.until(lambda d: js("var t = document.getElementById('diagram-title');"
                                    "return t.textContent") == "Sequence: #%d" % conn)
            arrows = js("return document.querySelectorAll('#diagram g.arrow.stanza').length")
            stanzas = len([e for e in self.events if e["conn"] == conn and e["ev"] == "stanza"])
            self.assertEqual(arrows, stanzas, conn)
            bands = js("return Array.from(document.querySelectorAll('#diagram g.band.layer'))"
                       ".map(g => g.textContent)")
            self.assertTrue(any("STARTTLS" in b for b in bands), bands)
            self.assertTrue(any("SASL success" in b for b in bands), bands)
            shot("diagram-%d" % conn)
            driver.find_element(By.ID, "diagram-svg").click()
            svg = os.path.join(self.downloads, "xmitm-sequence.svg")
            self.assertTrue(peers.wait_for(lambda: os.path.exists(svg) and
                                           os.path.getsize(svg) > 0, 15), os.listdir(self.downloads))
            root = ET.parse(svg).getroot()
            ns = "{http://www.w3.org/2000/svg}"
            self.assertEqual(root.tag, ns + "svg")
            got = [g for g in root.iter(ns + "g") if "stanza" in g.get("class", "").split()]
            self.assertEqual(len(got), stanzas)
            self.assertFalse([e for e in root.iter() if e.tag in (ns + "script", ns + "foreignObject")])
            os.unlink(svg)
            driver.find_element(By.ID, "diagram-close").click()
        # several connections side by side
        filter_to("--conn %d,%d" % (alice, bob))
        wait.until(lambda d: rows_done())
        driver.find_element(By.ID, "show-diagram").click()
        wait.until(lambda d: js("return document.querySelectorAll('#diagram g.connection').length") == 2)
        shot("diagram-both")
        # no element came of any stanza's markup, no script ran
        self.assertEqual(js("return document.querySelectorAll("
                            "'#events img, #events script, #detail-xml img, #detail-xml script, "
                            "#diagram img, #diagram script, #diagram foreignObject').length"), 0)
        self.assertTrue(all(s.get_attribute("src") or tag == "export"
                            for s in driver.find_elements(By.TAG_NAME, "script")
                            if s.get_attribute("type") != "application/json"))
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        self.assertEqual(errors, [])

    def test_websocket_upgrade_and_rewrite_in_the_diagram(self):
        # a WebSocket connection's events as xmitm records them (the
        # upgrade and its 101 are transport events, not layer changes):
        # the diagram draws the 101 as an arrow and the change as a band
        rec = os.path.join(self.dir, "ws.jsonl")
        with open(rec, "w", encoding="utf-8") as f:
            f.write(json.dumps({"format": "xmitm-recording", "format_version": 2, "xmitm": "0.1.0",
                                "t": 1000000, "source": "proxy", "secrets": "redacted"}) + "\n")
            for ev in ({"conn": 1, "ev": "open", "client": "127.0.0.1:1", "server": "127.0.0.1:2",
                        "text": "client 127.0.0.1:1"},
                       {"conn": 1, "ev": "transport", "dir": "c2s", "transport": "http-request",
                        "text": "GET /xmpp-websocket HTTP/1.1 (Upgrade: websocket)"},
                       {"conn": 1, "ev": "transport", "dir": "s2c", "transport": "http-response",
                        "text": "HTTP/1.1 101 Switching Protocols (Upgrade: websocket)"},
                       # as proxy/session.c words a features rewrite
                       {"conn": 1, "ev": "note", "dir": "s2c", "level": "warning",
                        "text": "xmitm removed SCRAM-SHA-1-PLUS from these features before "
                                "passing them on (channel binding cannot work through a "
                                "man in the middle; --keep-channel-binding keeps it)"},
                       {"conn": 1, "ev": "close", "text": "both sides closed",
                        "c2s_bytes": 1, "s2c_bytes": 1}):
                f.write(json.dumps(dict(ev, t=1000100)) + "\n")
        html = os.path.join(self.dir, "ws.html")
        r = subprocess.run([XMITM, "export", "--html", html, rec],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
        driver = self.browser()
        try:
            driver.get("file://" + html)
            WebDriverWait(driver, 30).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#sessions tbody tr"))
            driver.find_element(By.ID, "show-diagram").click()
            WebDriverWait(driver, 30).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#diagram g.arrow"))
            bands = driver.execute_script(
                "return Array.from(document.querySelectorAll('#diagram g.band.layer'))"
                ".map(g => g.textContent)")
            self.assertEqual(len(bands), 1, bands)
            self.assertIn("WebSocket up", bands[0])
            self.assertEqual(len(driver.find_elements(By.CSS_SELECTOR, "#diagram g.arrow.stream")), 2)
            rewrites = driver.find_elements(By.CSS_SELECTOR, "#diagram g.note.rewrite")
            self.assertEqual(len(rewrites), 1)
            self.assertIn("SCRAM-SHA-1-PLUS", rewrites[0].get_attribute("textContent"))
        finally:
            driver.quit()

    def test_served_page(self):
        driver = self.browser()
        try:
            self.exercise(driver, self.web.url, "web")
        finally:
            driver.quit()

    def test_exported_file(self):
        driver = self.browser()
        try:
            self.exercise(driver, "file://" + self.html, "export")
        finally:
            driver.quit()


if __name__ == "__main__":
    unittest.main(verbosity=2)
