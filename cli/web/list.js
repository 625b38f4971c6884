// xmitm web: the stanza list, virtual. Rows have a fixed height and only
// those on screen exist as elements, over a spacer as tall as the whole
// list, so a million events scroll like a hundred. Without a filter, row i
// is event i: pages are asked for by id as the view reaches them and a
// bounded number is kept. With a filter the matches are not known ahead:
// they are asked for in order as the view nears the end of those loaded.
"use strict";

(function () {
  const X = (window.xmitm = window.xmitm || {});
  const ROW = 20;          // px, as .row in app.css
  const PAGE = 200;
  const KEEP_PAGES = 100;  // unfiltered: pages of rows kept (20,000 rows)
  const OVERSCAN = 10;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function pad(n, w) { return String(n).padStart(w, "0"); }

  X.clock = function (us) {
    const d = new Date(us / 1000);
    return pad(d.getHours(), 2) + ":" + pad(d.getMinutes(), 2) + ":" +
      pad(d.getSeconds(), 2) + "." + pad(d.getMilliseconds(), 3);
  };

  X.ms = function (us) {
    return us < 10000 ? (us / 1000).toFixed(2) + " ms"
      : us < 10000000 ? (us / 1000).toFixed(0) + " ms" : (us / 1e6).toFixed(1) + " s";
  };

  // The iq pairing of a row: a link to the other half, the time between
  // them, or a mark for a request that never got its answer.
  X.pairBadge = function (e, jump) {
    if (!e.iq) return null;
    let b;
    if (e.pair !== undefined) {
      b = el("a", "pair " + e.iq,
             (e.iq === "answer" ? "\u21a9 #" : "\u2192 #") + e.pair + " " + X.ms(e.rtt_us));
      b.href = "#";
      b.title = e.iq === "answer" ? "the request this answers" : "its answer";
      b.addEventListener("click", (ev) => { ev.preventDefault(); ev.stopPropagation(); jump(e.pair); });
    } else if (e.unanswered) {
      b = el("span", "pair unanswered", "no answer");
      b.title = "no result or error with this id came back";
    } else if (e.untracked) {
      b = el("span", "pair untracked", "not paired");
      b.title = "too many requests of this connection were waiting";
    } else if (e.iq === "request") {
      b = el("span", "pair waiting", "waiting");
    } else return null;
    return b;
  };

  X.List = class {
    constructor(box, counter, status, onSelect) {
      this.box = box;
      this.counter = counter;
      this.status = status;
      this.onSelect = onSelect;
      this.spacer = el("div", "spacer");
      box.textContent = "";
      box.appendChild(this.spacer);
      this.pool = [];
      this.selected = null;
      this.pendingJump = null;
      box.addEventListener("scroll", () => this.schedule());
      window.addEventListener("resize", () => this.schedule());
      this.reset(0, []);
    }

    reset(file, filter) {
      this.gen = (this.gen || 0) + 1;
      this.file = file;
      this.filter = filter;
      this.filtered = filter.length > 0;
      this.total = 0;           // unfiltered: events in the file
      this.pages = new Map();   // unfiltered: page number -> rows
      this.asked = new Set();   // pages asked for
      this.rows = [];           // filtered: the matches loaded
      this.next = 0;
      this.done = false;
      this.loading = false;
      this.box.scrollTop = 0;
      this.known = false;
      this.fetchMore();
    }

    params(from, count) {
      const p = new URLSearchParams();
      p.append("file", this.file);
      p.append("from", from);
      p.append("count", count);
      p.append("detail", "0");
      this.filter.forEach(([n, v]) => p.append(n, v));
      return p;
    }

    length() { return this.filtered ? this.rows.length : this.total; }

    // A live file grew (proxy --web, or a file still being indexed): the
    // list is longer. The last page was read when it was not full: it is
    // read again. A filtered list reads on from where its scan ended,
    // also when the growth came while a round was on the way.
    grow(total) {
      this.latest = Math.max(this.latest || 0, total);
      if (!this.filtered && total > this.total) {
        const last = Math.floor(this.total / PAGE);
        this.pages.delete(last);
        this.asked.delete(last);
        this.total = total;
        this.schedule();
      } else if (this.filtered && this.done && total > this.next) {
        this.done = false;
        this.schedule();
      }
    }

    async fetchPage(p) {
      if (this.asked.has(p)) return;
      this.asked.add(p);
      const gen = this.gen;
      let data;
      try {
        data = await X.api("/api/events", this.params(p * PAGE, PAGE));
      } catch (err) {
        this.asked.delete(p);
        if (gen === this.gen) this.status(err.message, true);
        return;
      }
      if (gen !== this.gen) return;
      this.pages.set(p, data.events);
      while (this.pages.size > KEEP_PAGES) {
        const oldest = this.pages.keys().next().value;
        this.pages.delete(oldest);
        this.asked.delete(oldest);
      }
      this.total = Math.max(this.total, data.total);
      this.known = true;
      this.counter.textContent = "(" + this.total + ")";
      this.status(data.total + " events");
      this.schedule();
    }

    // Filtered: the next matches, round after round until the screen is
    // full or the file ends (a round stops after a bounded scan).
    async fetchMore() {
      if (!this.filtered) return this.fetchPage(0);
      if (this.loading || this.done) return;
      this.loading = true;
      const gen = this.gen;
      let data;
      this.status("filtering\u2026");
      try {
        data = await X.api("/api/events", this.params(this.next, PAGE));
      } catch (err) {
        if (gen === this.gen) { this.loading = false; this.status(err.message, true); }
        return;
      }
      if (gen !== this.gen) return;
      this.rows.push(...data.events);
      this.next = data.next;
      this.done = data.done && !(this.latest > data.next);
      this.loading = false;
      this.known = true;
      this.counter.textContent = "(" + this.rows.length + (this.done ? "" : "+") + ")";
      this.status(this.done ? data.total + " events, filtered"
        : "filtered: read " + data.next + " of " + data.total + " events\u2026");
      this.schedule();
    }

    row(i) {
      if (this.filtered) return this.rows[i] || null;
      const p = Math.floor(i / PAGE);
      const page = this.pages.get(p);
      if (!page) { this.fetchPage(p); return null; }
      return page[i - p * PAGE] || null;
    }

    schedule() {
      if (this.frame) return;
      this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
    }

    fill(r, e) {
      r.textContent = "";
      r.className = "row";
      if (!e) {
        r.classList.add("loading");
        r.appendChild(el("span", "summary", "\u2026"));
        return;
      }
      const inline = e.ev === "sasl" || e.ev === "note";
      if (inline) r.classList.add("inline");
      if (e.ev !== "stanza" && e.ev !== "stream-open") r.classList.add("meta");
      if (e.ev === "note" && /^(warning|error)/.test(e.summary)) r.classList.add(e.summary.split(":")[0]);
      if (e.id === this.selected) r.classList.add("selected");
      r.dataset.id = e.id;
      r.appendChild(el("span", "time", X.clock(e.t)));
      r.appendChild(el("span", "conn", "#" + e.conn));
      r.appendChild(el("span", "dir " + (e.dir || ""), e.dir === "c2s" ? "C->S" : e.dir === "s2c" ? "S->C" : ""));
      r.appendChild(el("span", "summary", e.summary));
      const b = X.pairBadge(e, (id) => this.jump(id));
      if (b) r.appendChild(b);
      r.title = e.summary;
      r.onclick = () => this.select(e);
    }

    render() {
      const n = this.length();
      this.spacer.style.height = Math.max(n * ROW, 1) + "px";
      // follow (live.js): the newest row in view
      if (this.follow) this.box.scrollTop = this.box.scrollHeight;
      const first = Math.max(0, Math.floor(this.box.scrollTop / ROW) - OVERSCAN);
      const last = Math.min(n, Math.ceil((this.box.scrollTop + this.box.clientHeight) / ROW) + OVERSCAN);
      const want = Math.max(0, last - first);
      while (this.pool.length < want) {
        const r = el("div", "row");
        this.pool.push(r);
        this.spacer.appendChild(r);
      }
      // rows past the end go: only what is on screen exists
      while (this.pool.length > want) this.pool.pop().remove();
      this.pool.forEach((r, k) => {
        const i = first + k;
        r.style.top = i * ROW + "px";
        this.fill(r, this.row(i));
      });
      // filtered: near the end of what is loaded, load on
      if (this.filtered && !this.done && last + 2 * OVERSCAN >= n) this.fetchMore();
      if (this.pendingJump !== null) this.finishJump();
    }

    select(e) {
      this.selected = e.id;
      for (const r of this.pool) r.classList.toggle("selected", r.dataset.id === String(e.id));
      this.onSelect(e);
    }

    // Shows event id: scrolls to its row when the list has it (always
    // without a filter) and selects it.
    jump(id) {
      let i = -1;
      if (!this.filtered) i = id;
      else i = this.rows.findIndex((e) => e.id === id);
      if (i >= 0 && i < this.length()) {
        this.box.scrollTop = Math.max(0, i * ROW - this.box.clientHeight / 2);
        this.pendingJump = { id: id, i: i };
        this.schedule();
      } else {
        // not among the matches: the detail pane shows it all the same
        this.selected = id;
        this.onSelect({ id: id });
      }
    }

    finishJump() {
      const e = this.row(this.pendingJump.i);
      if (!e) return; // its page is on the way
      this.pendingJump = null;
      this.select(e);
    }
  };
})();
