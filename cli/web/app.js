// xmitm web: the page's script. It asks /api/ for JSON and builds the
// lists with textContent only: stanza text is data, never markup, so a
// stanza that carries <script> or javascript: shows as text. The token
// travels as the cookie the first answer set; nothing here handles it.
"use strict";

(function () {
  const PAGE = 200;
  const $ = (id) => document.getElementById(id);
  // live.js (the live view, indexing progress) hooks in here
  const hooks = {};
  const state = {
    file: 0,
    filter: [],        // [name, value] pairs, as the command line's options
    next: 0,           // the id to read on from
    done: false,
    loading: false,
    generation: 0,     // a new filter drops the answers to the old one
    shown: 0,
    selected: null,
  };

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

  async function getJSON(path, params) {
    const url = path + (params ? "?" + params.toString() : "");
    const r = await fetch(url, { credentials: "same-origin" });
    if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
    return r.json();
  }

  function pad(n, w) { return String(n).padStart(w, "0"); }

  function clock(us) {
    const d = new Date(us / 1000);
    return pad(d.getHours(), 2) + ":" + pad(d.getMinutes(), 2) + ":" +
      pad(d.getSeconds(), 2) + "." + pad(d.getMilliseconds(), 3);
  }

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
      td.colSpan = 7;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    f.sessions.forEach((s) => {
      const tr = el("tr");
      tr.dataset.conn = s.conn;
      const layers = [s.transport].concat(s.tls ? ["tls"] : [], s.zlib ? ["zlib"] : []);
      [ "#" + s.conn, s.client, s.jid || (s.to ? "(" + s.to + ")" : ""), s.server,
        layers.join("+"), bytes(s.c2s_bytes) + " / " + bytes(s.s2c_bytes),
        (s.duration_ms / 1000).toFixed(1) + " s" + (s.closed ? "" : ", open") ]
        .forEach((v) => tr.appendChild(el("td", null, v)));
      tr.title = s.layers.join("\n");
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

  // ---- the stanza list, loaded as it scrolls ----

  function restart() {
    state.generation++;
    state.next = 0;
    state.done = false;
    state.loading = false;
    state.shown = 0;
    $("events").textContent = "";
    $("count").textContent = "";
    loadMore();
  }

  function row(e) {
    const inline = e.ev === "sasl" || e.ev === "note";
    const kind = e.ev === "stanza" || e.ev === "stream-open" ? "" : " meta";
    const r = el("div", "row" + (inline ? " inline" : "") + kind);
    r.dataset.id = e.id;
    if (e.ev === "note" && /^(warning|error)/.test(e.summary)) r.classList.add(e.summary.split(":")[0]);
    r.appendChild(el("span", "time", clock(e.t)));
    r.appendChild(el("span", "conn", "#" + e.conn));
    r.appendChild(el("span", "dir " + (e.dir || ""), e.dir === "c2s" ? "C->S" : e.dir === "s2c" ? "S->C" : ""));
    r.appendChild(el("span", "summary", e.summary));
    r.title = e.summary;  // the whole line, when the pane cuts it
    r.addEventListener("click", () => select(r, e));
    return r;
  }

  function select(r, e) {
    if (state.selected) state.selected.classList.remove("selected");
    state.selected = r;
    r.classList.add("selected");
    $("detail-text").textContent = e.text;
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
      $("detail-text").textContent = text;
      const range = document.createRange();
      range.selectNodeContents($("detail-text"));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      status("XML selected: press Ctrl+C");
    }
  }

  async function loadMore() {
    if (state.loading || state.done) return;
    state.loading = true;
    const gen = state.generation;
    const params = new URLSearchParams();
    params.append("file", state.file);
    params.append("from", state.next);
    params.append("count", PAGE);
    state.filter.forEach(([n, v]) => params.append(n, v));
    status("loading…");
    let data;
    try {
      data = await getJSON("/api/events", params);
    } catch (e) {
      if (gen === state.generation) {
        state.loading = false;
        status(e.message, true);
      }
      return;
    }
    if (gen !== state.generation) return;
    const list = $("events");
    const old = list.querySelector(".more");
    if (old) old.remove();
    data.events.forEach((e) => list.appendChild(row(e)));
    state.shown += data.events.length;
    state.next = data.next;
    state.done = data.done;
    state.loading = false;
    $("count").textContent = "(" + state.shown + (state.done ? "" : "+") + ")";
    if (!state.done)
      list.appendChild(el("div", "more", "read " + data.next + " of " + data.total + " events…"));
    status(data.total + " events" + (data.filtered ? ", filtered" : ""));
    // fill the screen, then wait for the scroll
    if (!state.done && list.scrollHeight <= list.clientHeight + 50) loadMore();
    if (hooks.loaded) hooks.loaded();
  }

  function onScroll() {
    const list = $("events");
    if (list.scrollTop + list.clientHeight > list.scrollHeight - 400) loadMore();
  }

  // What live.js may use: the list's state, loading on from its end, the
  // sessions again; and where it is told a page was added.
  window.xmitmApp = { state, loadMore, hooks,
                      refreshSessions: () => loadSessions().catch((e) => status(e.message, true)) };

  document.addEventListener("DOMContentLoaded", async () => {
    // The first answer set the token's cookie: out of the address bar
    // (and so out of bookmarks and screenshots) with it.
    if (new URLSearchParams(location.search).has("token"))
      history.replaceState(null, "", location.pathname);
    $("events").addEventListener("scroll", onScroll);
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
