// xmitm's page, the part that moves: a WebSocket (/api/live) says when
// there are more events (xmitm proxy --web, or a large file still being
// indexed by xmitm web), how many the live view missed, how far indexing
// is. It carries counts only; the events come through /api/events like
// any page (list.js), filtered on the server. Each message is answered
// with "ack": the server sends the next one only then, so a tab that
// stops reading costs it nothing.
"use strict";

(function () {
  const X = (window.xmitm = window.xmitm || {});
  const $ = (id) => document.getElementById(id);
  const live = {
    isLive: false,    // proxy --web (not a file being indexed)
    events: 0,        // events the server has
    missed: 0,
    paused: false,
    pausedAt: 0,      // events when the pause began
    follow: true,
    sessionsAt: 0,    // when the sessions were last asked for (ms)
    sessionsTimer: null,
  };

  function showState() {
    const el = $("live-state");
    if (live.paused) {
      const n = live.events - live.pausedAt;
      el.textContent = "paused" + (n > 0 ? ": " + n + " new event" + (n === 1 ? "" : "s") : "");
    } else {
      el.textContent = "live";
    }
    el.className = live.paused ? "paused" : "on";
  }

  function showMissed(missed) {
    if (missed <= live.missed) return;
    live.missed = missed;
    $("missed-text").textContent = missed + " event" + (missed === 1 ? " was" : "s were") +
      " missed: xmitm's web view fell behind the proxy and dropped them " +
      "(the proxy forwarded every byte; its terminal output, --record and " +
      "--pcap have them). A note in the list marks where.";
    $("missed-banner").hidden = false;
  }

  // the sessions table at most once a second: bytes and durations move
  // with every event
  function refreshSessions() {
    if (live.sessionsTimer) return;
    const wait = live.sessionsAt + 1000 - Date.now();
    live.sessionsTimer = setTimeout(() => {
      live.sessionsTimer = null;
      live.sessionsAt = Date.now();
      X.refreshSessions();
    }, Math.max(0, wait));
  }

  function setFollow(on) {
    live.follow = on;
    $("follow").checked = on;
    // a file is read as it scrolls; only the live view keeps to its end
    X.list.follow = live.isLive && on && !live.paused;
    X.list.schedule();
  }

  function onState(s) {
    if (s.live && !live.isLive) {
      live.isLive = true;
      $("live-controls").hidden = false;
      setFollow(live.follow);
    }
    if (s.missed) showMissed(s.missed);
    if (s.indexing) {
      const pct = s.indexing.size ? Math.floor(100 * s.indexing.read / s.indexing.size) : 100;
      $("live-controls").hidden = false;
      $("follow").parentElement.hidden = true;
      $("pause").hidden = true;
      $("live-state").textContent = "indexing " + pct + "% (" + s.events + " events)";
    } else if (!s.live) {
      $("live-controls").hidden = true;
    }
    const grew = s.events !== live.events;
    live.events = s.events;
    if (s.live) showState();
    if (!grew || live.paused) return;
    refreshSessions();
    X.list.grow(s.events);
  }

  function setPaused(p) {
    live.paused = p;
    live.pausedAt = live.events;
    $("pause").textContent = p ? "Resume" : "Pause";
    showState();
    setFollow(live.follow);
    if (!p) {
      refreshSessions();
      X.list.grow(live.events);
    }
  }

  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") +
                             location.host + "/api/live");
    ws.onmessage = (m) => {
      let s;
      try {
        s = JSON.parse(m.data);
      } catch (e) {
        return;
      }
      ws.send("ack");
      onState(s);
    };
    ws.onclose = () => {
      if (!live.isLive) return;
      const el = $("live-state");
      el.textContent = "disconnected: xmitm stopped or the page lost it (reload)";
      el.className = "off";
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    // export --html: a file, nothing live
    if (location.protocol === "file:") return;
    $("follow").addEventListener("change", () => setFollow($("follow").checked));
    $("pause").addEventListener("click", () => setPaused(!live.paused));
    $("missed-reload").addEventListener("click", () => location.reload());
    // scrolling up to read (wheel or keys) leaves follow; the scroll event
    // itself cannot tell the reader from the list keeping to its end
    $("events").addEventListener("wheel", (ev) => { if (ev.deltaY < 0) setFollow(false); },
                                 { passive: true });
    $("events").addEventListener("keydown", (ev) => {
      if (["ArrowUp", "PageUp", "Home"].includes(ev.key)) setFollow(false);
    });
    // the list shrinks when the sessions table grows: still the newest
    new ResizeObserver(() => X.list && X.list.schedule()).observe($("events"));
    connect();
  });
})();
