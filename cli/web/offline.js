// xmitm export --html: the page's API answered from the JSON the file
// carries (<script type="application/json" id="xmitm-data">), so the same
// app.js, list.js and diagram.js run from file:// with no server.
//
// The filter here is a copy in JavaScript of the command line's, over
// fields web-api.c worked out from ui/filter.c's own notions (the kind as
// --kind sees it, the namespaces --ns looks at, from and to): ui/filter.c
// is the reference. Two differences: --grep is a JavaScript regular
// expression, not PCRE (a leading (?i) is understood), and it searches the
// XML as exported, so secrets redacted in the file are not found.
"use strict";

(function () {
  const X = (window.xmitm = window.xmitm || {});
  const holder = document.getElementById("xmitm-data");
  if (!holder) return;
  const data = JSON.parse(holder.textContent);
  const file = {
    file: 0, name: document.title.replace(/^xmitm: /, ""), events: data.events.length,
    ...data.sessions.files[0],
  };
  const KIND = { message: 1, presence: 2, iq: 4, stream: 8 };
  const MAX_PAGE = 1000;

  function bad(name, value, why) {
    throw new Error("bad --" + name + " '" + value + "': " + why);
  }

  // "user@Domain/res" -> { local, domain, resource } folded as the C code
  // folds (lower case local part and domain, resource as written).
  function jid(s) {
    const slash = s.indexOf("/");
    const bare = slash >= 0 ? s.slice(0, slash) : s;
    const at = bare.indexOf("@");
    return {
      local: at >= 0 ? bare.slice(0, at).toLowerCase() : null,
      domain: (at >= 0 ? bare.slice(at + 1) : bare).toLowerCase().replace(/\.$/, ""),
      resource: slash >= 0 ? s.slice(slash + 1) : null,
    };
  }

  function jidMatches(want, got) {
    return want.local === got.local && want.domain === got.domain &&
      (want.resource === null || want.resource === got.resource);
  }

  function compile(params) {
    const f = { conns: null, dirs: null, kinds: 0, ns: null, jids: null, res: null };
    for (const [n, v] of params) {
      if (v === "") continue;
      if (n === "conn") {
        f.conns = f.conns || [];
        for (const part of v.split(",")) {
          const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
          if (!m) bad("conn", v, "use a number, a list 3,5 or a range 3-7");
          f.conns.push([+m[1], +(m[2] || m[1])]);
        }
      } else if (n === "dir") {
        f.dirs = f.dirs || new Set();
        for (const d of v.split(",")) {
          const t = d.trim();
          if (t === "c2s" || t === "client") f.dirs.add("c2s");
          else if (t === "s2c" || t === "server") f.dirs.add("s2c");
          else bad("dir", v, "use c2s (or client) or s2c (or server)");
        }
      } else if (n === "kind") {
        for (const k of v.split(",")) {
          if (!KIND[k.trim()]) bad("kind", v, "use message, presence, iq or stream");
          f.kinds |= KIND[k.trim()];
        }
      } else if (n === "ns") {
        (f.ns = f.ns || []).push(v);
      } else if (n === "jid") {
        (f.jids = f.jids || []).push(jid(v));
      } else if (n === "grep") {
        let src = v, flags = "";
        if (src.startsWith("(?i)")) { src = src.slice(4); flags = "i"; }
        try {
          (f.res = f.res || []).push(new RegExp(src, flags));
        } catch (e) {
          bad("grep", v, e.message);
        }
      }
    }
    return f;
  }

  function evaluate(f, e) {
    const hasEl = e.ev === "stanza" || e.ev === "stream-open";
    if (f.conns && !f.conns.some(([lo, hi]) => e.conn >= lo && e.conn <= hi)) return false;
    if (f.dirs && e.dir && !f.dirs.has(e.dir)) return false;
    if (f.kinds && !(f.kinds & e.k)) return false;
    if (f.ns && !(hasEl && e.nss && e.nss.some((n) => f.ns.includes(n)))) return false;
    if (f.jids && !(hasEl && e.jids && e.jids.some((j) => {
      const got = jid(j);
      return f.jids.some((w) => jidMatches(w, got));
    }))) return false;
    if (f.res) {
      const text = hasEl ? e.xml : e.gt;
      if (typeof text !== "string" || !f.res.some((re) => re.test(text))) return false;
    }
    return true;
  }

  // As xm_filter_match: a SASL decode follows the verdict on the last
  // stanza of its connection.
  function matcher(f) {
    const verdicts = new Map();
    return (e) => {
      if (e.ev === "sasl" && verdicts.has(e.conn)) return verdicts.get(e.conn);
      const pass = evaluate(f, e);
      if (e.ev === "stanza") verdicts.set(e.conn, pass);
      else if (e.ev === "close") verdicts.delete(e.conn);
      return pass;
    };
  }

  function lite(e, detail) {
    if (detail) return e;
    const { text, xml, ...rest } = e; // eslint-disable-line no-unused-vars
    return rest;
  }

  X.offline = true;
  X.api = async function (path, params) {
    const p = params || new URLSearchParams();
    if (path === "/api/sessions") return { files: [file] };
    if (path === "/api/event") {
      const e = data.events[Number(p.get("id"))];
      return { event: e || null };
    }
    if (path === "/api/events") {
      const from = Number(p.get("from") || 0);
      const count = Math.min(Number(p.get("count") || 100), MAX_PAGE);
      const detail = p.get("detail") !== "0";
      const pairs = Array.from(p.entries()).filter(([n]) =>
        ["conn", "dir", "kind", "ns", "jid", "grep"].includes(n));
      const total = data.events.length;
      const events = [];
      let next = from;
      if (pairs.length === 0) {
        for (; next < total && events.length < count; next++) events.push(lite(data.events[next], detail));
      } else {
        const match = matcher(compile(pairs));
        // the event before from, unshown, for a SASL decode at from
        if (from > 0 && from <= total) match(data.events[from - 1]);
        for (; next < total && events.length < count; next++)
          if (match(data.events[next])) events.push(lite(data.events[next], detail));
      }
      return { events: events, from: from, next: next, done: next >= total, total: total,
               filtered: pairs.length > 0 };
    }
    throw new Error("not in this file: " + path);
  };
})();
