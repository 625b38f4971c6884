// xmitm web: the detail pane's XML, pretty-printed, highlighted and
// collapsible, and the raw bytes as hex and text. Every node is built with
// createElement and textContent: a stanza's text never becomes markup.
"use strict";

(function () {
  const X = (window.xmitm = window.xmitm || {});

  function span(cls, text) {
    const s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }

  // Prefixes a stanza may use without declaring them: they were declared
  // on the stream header it was sent in.
  const WRAP_OPEN = "<xmitm-wrap xmlns:stream='http://etherx.jabber.org/streams'>";

  // The element of xml, or null when it is no well-formed element on its
  // own (a stream header, a stanza cut short by --max-stanza).
  function parse(xml) {
    const body = xml.replace(/^<\?xml[^>]*\?>/, "");
    const doc = new DOMParser().parseFromString(WRAP_OPEN + body + "</xmitm-wrap>",
                                                "application/xml");
    if (doc.getElementsByTagName("parsererror").length) return null;
    const root = doc.documentElement;
    return root.children.length === 1 ? root.children[0] : null;
  }

  // Shown as XML writes them, so what the pane shows is XML (and text
  // that looked like markup reads as escaped text, as it was sent).
  function esc(s) {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function attrs(line, el) {
    for (const a of el.attributes) {
      line.appendChild(document.createTextNode(" "));
      line.appendChild(span("xa", a.name));
      line.appendChild(document.createTextNode("="));
      line.appendChild(span("xv", "'" + esc(a.value).replace(/'/g, "&apos;") + "'"));
    }
  }

  // One element: its start tag on a line (with a toggle when it has
  // content), its children indented below, its end tag.
  function element(el) {
    const box = document.createElement("div");
    box.className = "xel";
    const kids = Array.from(el.childNodes).filter(
      (n) => n.nodeType === 1 || (n.nodeType === 3 && n.nodeValue.trim() !== ""));
    const head = document.createElement("div");
    head.className = "xline";
    const toggle = span("xt", kids.length ? "\u25be" : " ");
    head.appendChild(toggle);
    head.appendChild(span("xp", "<"));
    head.appendChild(span("xn", el.tagName));
    attrs(head, el);
    if (!kids.length) {
      head.appendChild(span("xp", "/>"));
      box.appendChild(head);
      return box;
    }
    head.appendChild(span("xp", ">"));
    if (kids.length === 1 && kids[0].nodeType === 3) {
      // <body>text</body> on one line
      toggle.textContent = " ";
      head.appendChild(span("xx", esc(kids[0].nodeValue.trim())));
      head.appendChild(span("xp", "</"));
      head.appendChild(span("xn", el.tagName));
      head.appendChild(span("xp", ">"));
      box.appendChild(head);
      return box;
    }
    const body = document.createElement("div");
    body.className = "xbody";
    for (const k of kids)
      body.appendChild(k.nodeType === 1 ? element(k) : span("xx", esc(k.nodeValue.trim())));
    const tail = document.createElement("div");
    tail.className = "xline xclose";
    tail.appendChild(span("xp", "</"));
    tail.appendChild(span("xn", el.tagName));
    tail.appendChild(span("xp", ">"));
    const more = span("xmore", "\u2026");
    more.hidden = true;
    head.appendChild(more);
    box.append(head, body, tail);
    toggle.classList.add("on");
    toggle.addEventListener("click", () => {
      const closed = !body.hidden;
      body.hidden = closed;
      tail.hidden = closed;
      more.hidden = !closed;
      toggle.textContent = closed ? "\u25b8" : "\u25be";
    });
    return box;
  }

  // Fills container with xml pretty-printed; as plain text when it does
  // not parse on its own.
  X.renderXml = function (container, xml) {
    container.textContent = "";
    if (!xml) return;
    const el = parse(xml);
    if (el === null) {
      container.appendChild(span("xraw", xml));
      return;
    }
    container.appendChild(element(el));
  };

  function hex2(b) { return b.toString(16).padStart(2, "0"); }

  // The bytes of text (UTF-8, as recorded) as a hex dump: offset, 16
  // bytes in hex, the same as text (dots for what is not printable).
  X.renderHex = function (container, text) {
    const bytes = new TextEncoder().encode(text || "");
    const lines = [];
    for (let o = 0; o < bytes.length; o += 16) {
      const row = bytes.subarray(o, o + 16);
      let h = "", a = "";
      for (let i = 0; i < 16; i++) {
        h += i < row.length ? hex2(row[i]) + " " : "   ";
        if (i === 7) h += " ";
        if (i < row.length) a += row[i] >= 0x20 && row[i] < 0x7f ? String.fromCharCode(row[i]) : ".";
      }
      lines.push(o.toString(16).padStart(8, "0") + "  " + h + " " + a);
    }
    container.textContent = lines.join("\n");
  };
})();
