// xmitm web: the sequence diagram. Client, xmitm and server as lanes, one
// arrow per stanza (stream headers and HTTP/WebSocket frames as thinner
// arrows), layer changes (STARTTLS, TLS up, zlib, the WebSocket upgrade)
// and the connection's open and close as bands across, notes and SASL
// decodes on xmitm's lane where they happened (a removed -PLUS mechanism
// is a note). Several connections stand side by side. The same code draws
// it in the served page and in export --html; the SVG is built with
// createElementNS and textContent, with presentation attributes only (no
// <style>, no script), so it can be downloaded as it is and a stanza's
// text never becomes markup.
"use strict";

(function () {
  const X = (window.xmitm = window.xmitm || {});
  const NS = "http://www.w3.org/2000/svg";
  const COL = 600;       // width of one connection
  const LANE = [90, 300, 510];
  const TOP = 56;        // below the lane titles
  const STEP = 26;       // one event
  const LABEL = 62;      // characters of a summary on an arrow
  const FONT = "monospace";

  function node(tag, attrs, text) {
    const n = document.createElementNS(NS, tag);
    for (const k in attrs) n.setAttribute(k, String(attrs[k]));
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function cut(s, n) {
    s = String(s || "");
    return s.length > n ? s.slice(0, n - 1) + "\u2026" : s;
  }

  function pad(n, w) { return String(n).padStart(w, "0"); }
  function clock(us) {
    const d = new Date(us / 1000);
    return pad(d.getHours(), 2) + ":" + pad(d.getMinutes(), 2) + ":" +
      pad(d.getSeconds(), 2) + "." + pad(d.getMilliseconds(), 3);
  }

  // The arrow of one event from lane a to lane b at y.
  function arrow(g, x, y, a, b, cls, label, e) {
    const x1 = x + LANE[a], x2 = x + LANE[b];
    const dir = x2 > x1 ? 1 : -1;
    const grp = node("g", { class: "arrow " + cls, "data-id": e.id });
    const colour = cls === "stanza" ? (e.dir === "c2s" ? "#1a7f37" : "#0550ae") : "#8c959f";
    grp.appendChild(node("line", { x1: x1, y1: y, x2: x2 - 6 * dir, y2: y, stroke: colour,
                                   "stroke-width": cls === "stanza" ? 1.6 : 1,
                                   "stroke-dasharray": cls === "stanza" ? "none" : "4 3" }));
    grp.appendChild(node("path", { d: "M" + x2 + " " + y + " l" + (-8 * dir) + " -4 v8 z",
                                   fill: colour }));
    const t = node("text", { x: (x1 + x2) / 2, y: y - 4, "text-anchor": "middle",
                             "font-family": FONT, "font-size": 11, fill: "#222" },
                   cut(label, LABEL));
    grp.appendChild(t);
    if (e.rtt_us !== undefined && e.iq === "answer")
      grp.appendChild(node("text", { x: x2 + 6 * dir, y: y + 4, "font-family": FONT,
                                     "font-size": 10, fill: "#6a4c93",
                                     "text-anchor": dir > 0 ? "start" : "end" },
                           (e.rtt_us / 1000).toFixed(1) + " ms"));
    if (e.unanswered)
      grp.appendChild(node("text", { x: x2 + 6 * dir, y: y + 4, "font-family": FONT,
                                     "font-size": 10, fill: "#b35900",
                                     "text-anchor": dir > 0 ? "start" : "end" },
                           "no answer"));
    grp.appendChild(node("title", {}, "#" + e.id + " " + (e.summary || "")));
    g.appendChild(grp);
  }

  function band(g, x, y, text, fill, cls, e) {
    const grp = node("g", { class: "band " + cls, "data-id": e.id });
    grp.appendChild(node("rect", { x: x + 64, y: y - 13, width: COL - 74, height: 18,
                                   fill: fill, rx: 3 }));
    grp.appendChild(node("text", { x: x + 32 + COL / 2, y: y, "text-anchor": "middle",
                                   "font-family": FONT, "font-size": 11, fill: "#222" },
                         cut(text, 78)));
    grp.appendChild(node("title", {}, text));
    g.appendChild(grp);
  }

  function note(g, x, y, text, fill, cls, e) {
    const grp = node("g", { class: "note " + cls, "data-id": e.id });
    const w = 360;
    grp.appendChild(node("rect", { x: x + LANE[1] - w / 2, y: y - 13, width: w, height: 18,
                                   fill: fill, stroke: "#d0c080", rx: 2 }));
    grp.appendChild(node("text", { x: x + LANE[1], y: y, "text-anchor": "middle",
                                   "font-family": FONT, "font-size": 10.5, fill: "#222" },
                         cut(text, 58)));
    grp.appendChild(node("title", {}, text));
    g.appendChild(grp);
  }

  // One connection's column: its lanes and its events from top to bottom.
  function column(svg, x, session, events) {
    const g = node("g", { class: "connection", "data-conn": session.conn });
    const upgrades = events.filter((e) => e.ev === "transport" &&
      /^http-response: HTTP\/1\.[01] 101 /.test(e.summary) && /websocket/i.test(e.summary)).length;
    const height = TOP + (events.length + upgrades) * STEP + 20;
    const titles = ["client " + (session.client || ""),
                    "xmitm #" + session.conn,
                    "server " + (session.jid ? "" : "") + (session.server || "")];
    titles.forEach((t, i) => {
      g.appendChild(node("rect", { x: x + LANE[i] - 85, y: 8, width: 170, height: 24,
                                   fill: i === 1 ? "#2d3e50" : "#eef1f4", rx: 4 }));
      g.appendChild(node("text", { x: x + LANE[i], y: 24, "text-anchor": "middle",
                                   "font-family": FONT, "font-size": 11,
                                   fill: i === 1 ? "#fff" : "#222" }, cut(t, 26)));
      g.appendChild(node("line", { x1: x + LANE[i], y1: 32, x2: x + LANE[i], y2: height,
                                   stroke: "#c0c8d0", "stroke-width": 1 }));
    });
    if (session.jid)
      g.appendChild(node("text", { x: x + LANE[0], y: 46, "text-anchor": "middle",
                                   "font-family": FONT, "font-size": 10, fill: "#555" },
                         cut(session.jid, 34)));
    let y = TOP;
    for (const e of events) {
      y += STEP;
      g.appendChild(node("text", { x: x + 4, y: y + 4, "font-family": FONT, "font-size": 9,
                                   fill: "#999" }, clock(e.t).slice(3)));
      const [a, b] = e.dir === "c2s" ? [0, 2] : [2, 0];
      switch (e.ev) {
        case "stanza":
          arrow(g, x, y, a, b, "stanza", e.summary, e);
          break;
        case "stream-open":
        case "stream-close":
        case "keepalive":
          arrow(g, x, y, a, b, "stream", e.summary, e);
          break;
        case "transport":
          arrow(g, x, y, a, b, "stream", e.summary, e);
          // the server's 101 to a WebSocket upgrade: from here on the
          // stream is in WebSocket messages (RFC 7395), a layer change
          if (/^http-response: HTTP\/1\.[01] 101 /.test(e.summary) && /websocket/i.test(e.summary)) {
            y += STEP;
            band(g, x, y, "WebSocket up: XMPP in WebSocket messages from here (RFC 7395)",
                 "#d8ecd8", "layer", e);
          }
          break;
        case "layer":
          band(g, x, y, e.summary, "#d8ecd8", "layer", e);
          break;
        case "open":
        case "close":
          band(g, x, y, e.summary, "#e4e8ee", "conn", e);
          break;
        case "sasl":
          note(g, x, y, e.summary, "#efe6fa", "sasl", e);
          break;
        default:
          // notes; what xmitm changed on the way (features it removed:
          // -PLUS mechanisms, compression) stands out as a rewrite
          if (/^warning: xmitm (removed|replaced|rewrote)/.test(e.summary))
            note(g, x, y, e.summary, "#ffd6d6", "note rewrite", e);
          else
            note(g, x, y, e.summary, /^(warning|error)/.test(e.summary) ? "#ffe6cc" : "#fff8d6",
                 "note", e);
      }
    }
    svg.appendChild(g);
    return height;
  }

  // An <svg> of the connections side by side: columns is a list of
  // { session, events } (events as /api/events gives them).
  X.diagram = function (columns) {
    const svg = node("svg", { xmlns: NS, version: "1.1" });
    svg.appendChild(node("rect", { x: 0, y: 0, width: "100%", height: "100%", fill: "#fff" }));
    let h = 0;
    columns.forEach((c, i) => { h = Math.max(h, column(svg, i * COL, c.session, c.events)); });
    const w = Math.max(1, columns.length) * COL;
    svg.setAttribute("width", w);
    svg.setAttribute("height", h + 10);
    svg.setAttribute("viewBox", "0 0 " + w + " " + (h + 10));
    return svg;
  };

  // The SVG as a standalone file.
  X.svgText = function (svg) {
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(svg);
  };
})();
