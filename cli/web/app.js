// xmitm web: the page's script. It asks /api/ for JSON and builds the
// lists with textContent only: stanza text is data, never markup, so a
// stanza that carries <script> or javascript: shows as text. The token
// travels as the cookie the first answer set; nothing here handles it.
"use strict";

(function () {
  const X = (window.xmitm = window.xmitm || {});
  const $ = (id) => document.getElementById(id);
  const state = {
    file: 0,
    filter: [],        // [name, value] pairs, as the command line's options
    selected: null,    // the event in the detail pane
  };
  let list = null;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function status(text, error) {
    $("status").textContent = text;
    $("status").classList.toggle("error", !!error);
  }

  // The JSON of the API; export --html puts its own in place (offline.js).
  X.api = X.api || async function (path, params) {
    const url = path + (params ? "?" + params.toString() : "");
    const r = await fetch(url, { credentials: "same-origin" });
    if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
    return r.json();
  };
  const getJSON = (path, params) => X.api(path, params);

  function bytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
    return (n / 1048576).toFixed(1) + " MiB";
  }

  // ---- sessions ----

  let files = [];

  async function loadSessions() {
    const data = await getJSON("/api/sessions");
    files = data.files;
    const select = $("file");
    select.textContent = "";
    files.forEach((f) => select.appendChild(el("option", null, f.name + " (" + f.events + " events)")));
    select.hidden = files.length < 2;
    showSessions();
  }

  // One short item per layer change, from the texts xmitm prints for them
  // (proxy/intercept.c, decoders/observer*.c): "STARTTLS", "server
  // TLSv1.3 TLS_AES_256_GCM_SHA384, CN=xmpp.example (issuer CN=CA,
  // verified)", "client TLSv1.3 ...", "zlib", "WebSocket". A text of
  // another shape is left to the row's tooltip, which has them all.
  function layerItems(texts) {
    const out = [];
    for (const t of texts) {
      let m;
      if ((m = /^TLS with the (server|client) up in [^:]*: ([^,;]+), ([^,;]+)/.exec(t))) {
        let item = m[1] + " " + m[2] + " " + m[3];
        const c = /certificate subject (.*?), issuer (.*?); (verified|not verified)/.exec(t);
        if (c)
          item += ", " + c[1] + " (issuer " + c[2] + ", " + c[3] + ")";
        out.push(item);
      } else if (/^STARTTLS/.test(t)) {
        out.push("STARTTLS");
      } else if (/^XEP-0138/.test(t)) {
        out.push("zlib");
      } else if (/^WebSocket/.test(t)) {
        out.push("WebSocket");
      }
    }
    return out;
  }

  function showSessions() {
    const body = $("sessions").tBodies[0];
    body.textContent = "";
    const f = files[state.file];
    if (!f) return;
    if (f.sessions_total > f.sessions.length) {
      // the rest are one --conn filter away
      const tr = el("tr");
      const td = el("td", "more", (f.sessions_total - f.sessions.length) +
        " more connections: filter with --conn N");
      td.colSpan = 9;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    f.sessions.forEach((s) => {
      const tr = el("tr");
      tr.dataset.conn = s.conn;
      const layers = [s.transport].concat(s.tls ? ["tls"] : [], s.zlib ? ["zlib"] : []);
      [ "#" + s.conn, s.client, s.jid || (s.to ? "(" + s.to + ")" : ""), s.server,
        layers.join("+"), layerItems(s.layers).join("; "),
        s.closed ? "closed" + (s.close_reason ? ": " + s.close_reason : "") : "open",
        bytes(s.c2s_bytes) + " / " + bytes(s.s2c_bytes),
        (s.duration_ms / 1000).toFixed(1) + " s" ]
        .forEach((v, i) => tr.appendChild(el("td", i === 5 ? "layers" : null, v)));
      tr.title = s.layers.join("\n") + (s.iq_untracked
        ? "\n" + s.iq_untracked + " iq requests not paired: too many were waiting" : "");
      tr.addEventListener("click", () => {
        // a session narrows the list to its connection (--conn N)
        const rest = state.filter.filter(([n]) => n !== "conn");
        $("filter").value = unparse(rest.concat([["conn", String(s.conn)]]));
        applyFilter();
      });
      body.appendChild(tr);
    });
  }

  // ---- the filter box: the command line's options ----

  const OPTIONS = ["conn", "dir", "kind", "ns", "jid", "grep"];

  function tokenize(text) {
    const out = [];
    const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
    let m;
    while ((m = re.exec(text)) !== null)
      out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2] !== undefined ? m[2] : m[3]);
    return out;
  }

  function parse(text) {
    const words = tokenize(text);
    const pairs = [];
    for (let i = 0; i < words.length; i++) {
      let w = words[i];
      if (!w.startsWith("--")) throw new Error("'" + w + "': filters are --conn, --dir, --kind, --ns, --jid, --grep");
      w = w.slice(2);
      let value;
      const eq = w.indexOf("=");
      if (eq >= 0) { value = w.slice(eq + 1); w = w.slice(0, eq); }
      else if (i + 1 < words.length) value = words[++i];
      else throw new Error("--" + w + " needs a value");
      if (!OPTIONS.includes(w)) throw new Error("unknown filter --" + w);
      pairs.push([w, value]);
    }
    return pairs;
  }

  function unparse(pairs) {
    return pairs.map(([n, v]) => "--" + n + " " + (/[\s"']/.test(v) ? JSON.stringify(v) : v)).join(" ");
  }

  function applyFilter() {
    try {
      state.filter = parse($("filter").value);
    } catch (e) {
      status(e.message, true);
      return;
    }
    const conn = state.filter.filter(([n]) => n === "conn").map(([, v]) => v);
    for (const tr of $("sessions").tBodies[0].rows)
      tr.classList.toggle("selected", conn.includes(tr.dataset.conn));
    restart();
  }

  // ---- the stanza list (list.js) and the detail pane ----

  function restart() {
    list.reset(state.file, state.filter);
  }

  function showTab(name) {
    for (const t of ["text", "xml", "raw"]) {
      $("detail-" + t).hidden = t !== name;
      $("tab-" + t).classList.toggle("on", t === name);
    }
  }

  async function select(lite) {
    state.selected = lite.id;
    let e;
    try {
      const p = new URLSearchParams();
      p.append("file", state.file);
      p.append("id", lite.id);
      e = (await getJSON("/api/event", p)).event;
    } catch (err) {
      status(err.message, true);
      return;
    }
    if (!e || state.selected !== lite.id) return;
    $("detail-text").textContent = e.text;
    X.renderXml($("detail-xml"), e.xml);
    X.renderHex($("detail-raw"), e.xml);
    const pair = $("detail-pair");
    pair.textContent = "";
    const b = X.pairBadge(e, (id) => list.jump(id));
    if (b) {
      pair.appendChild(document.createTextNode(
        e.iq === "answer" ? "answers " : e.pair !== undefined ? "answered by " : ""));
      pair.appendChild(b);
    }
    const copy = $("copy-xml");
    copy.disabled = !e.xml;
    copy.onclick = () => copyText(e.xml);
  }

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      status("XML copied");
    } catch (err) {
      // no clipboard permission: put the XML where it can be selected
      showTab("text");
      $("detail-text").textContent = text;
      const range = document.createRange();
      range.selectNodeContents($("detail-text"));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      status("XML selected: press Ctrl+C");
    }
  }

  // ---- the sequence diagram (diagram.js) ----

  const DIAGRAM_PAGE = 1000;
  const diagram = { conns: [], from: {}, svg: null };

  // The connections to draw: those of the --conn filter, else the first
  // few of the file.
  function diagramConns() {
    const f = files[state.file];
    const want = new Set();
    state.filter.filter(([n]) => n === "conn").forEach(([, v]) =>
      v.split(",").forEach((part) => {
        const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
        if (m) for (let c = +m[1]; c <= +(m[2] || m[1]) && want.size < 8; c++) want.add(c);
      }));
    const all = f ? f.sessions : [];
    const picked = want.size ? all.filter((s) => want.has(s.conn)) : all.slice(0, 1);
    return picked.slice(0, 8);
  }

  async function drawDiagram(page) {
    const sessions = diagramConns();
    const columns = [];
    let more = false;
    for (const s of sessions) {
      const p = new URLSearchParams();
      const from = page === 0 ? s.first_event : diagram.from[s.conn];
      p.append("file", state.file);
      p.append("from", from === undefined ? s.first_event : from);
      p.append("count", DIAGRAM_PAGE);
      p.append("detail", "0");
      p.append("conn", String(s.conn));
      const data = await getJSON("/api/events", p);
      diagram.from[s.conn] = data.next;
      if (!data.done && data.events.length) more = true;
      columns.push({ session: s, events: data.events });
    }
    const svg = X.diagram(columns);
    svg.addEventListener("click", (ev) => {
      const g = ev.target.closest("[data-id]");
      if (g) list.jump(Number(g.getAttribute("data-id")));
    });
    const box = $("diagram");
    box.textContent = "";
    box.appendChild(svg);
    diagram.svg = svg;
    $("diagram-more").hidden = !more;
    $("diagram-title").textContent = sessions.length
      ? "Sequence: " + sessions.map((s) => "#" + s.conn).join(", ") : "Sequence: no connection";
  }

  function openDiagram() {
    $("diagram-pane").hidden = false;
    drawDiagram(0).catch((err) => status(err.message, true));
  }

  function downloadSvg() {
    if (!diagram.svg) return;
    const blob = new Blob([X.svgText(diagram.svg)], { type: "image/svg+xml" });
    const a = el("a");
    a.href = URL.createObjectURL(blob);
    a.download = "xmitm-sequence.svg";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    // The first answer set the token's cookie: out of the address bar
    // (and so out of bookmarks and screenshots) with it.
    if (location.protocol !== "file:" && new URLSearchParams(location.search).has("token"))
      history.replaceState(null, "", location.pathname);
    list = new X.List($("events"), $("count"), status, select);
    X.list = list;
    // live.js: the sessions again when a live file grows
    X.refreshSessions = () => loadSessions().catch((e) => status(e.message, true));
    for (const t of ["text", "xml", "raw"]) $("tab-" + t).addEventListener("click", () => showTab(t));
    showTab("text");
    $("show-diagram").addEventListener("click", openDiagram);
    $("diagram-close").addEventListener("click", () => { $("diagram-pane").hidden = true; });
    $("diagram-svg").addEventListener("click", downloadSvg);
    $("diagram-more").addEventListener("click", () => drawDiagram(1).catch((err) => status(err.message, true)));
    $("filter-form").addEventListener("submit", (ev) => { ev.preventDefault(); applyFilter(); });
    $("file").addEventListener("change", () => {
      state.file = $("file").selectedIndex;
      showSessions();
      restart();
    });
    try {
      await loadSessions();
    } catch (e) {
      status(e.message, true);
      return;
    }
    restart();
  });
})();
