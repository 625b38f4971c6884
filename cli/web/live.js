// xmitm's page, the part that moves: a WebSocket (/api/live) says when
// there are more events (xmitm proxy --web, or a large file still being
// indexed by xmitm web), how many the live view missed, how far indexing
// is. It carries counts only; the events come through /api/events like
// any page, filtered on the server. Each message is answered with "ack":
// the server sends the next one only then, so a tab that stops reading
// costs it nothing.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const app = window.xmitmApp;
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

  function atBottom(list) {
    return list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  }

  function stateText(s) {
    if (live.paused) {
      const n = s.events - live.pausedAt;
      return "paused" + (n > 0 ? ": " + n + " new event" + (n === 1 ? "" : "s") : "");
    }
    return "live";
  }

  function showState(s) {
    const el = $("live-state");
    el.textContent = stateText(s);
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
    const wait = live.sessionsAt + 1000 - Date.now();
    if (live.sessionsTimer) return;
    live.sessionsTimer = setTimeout(() => {
      live.sessionsTimer = null;
      live.sessionsAt = Date.now();
      app.refreshSessions();
    }, Math.max(0, wait));
  }

  // more events on the server: read on from the list's end
  function more() {
    const st = app.state;
    if (st.done && live.events > st.next) {
      st.done = false;
      app.loadMore();
    }
  }

  function onState(s) {
    if (s.live) {
      live.isLive = true;
      $("live-controls").hidden = false;
    }
    if (s.missed) showMissed(s.missed);
    if (s.indexing) {
      const pct = s.indexing.size ? Math.floor(100 * s.indexing.read / s.indexing.size) : 100;
      $("live-state").textContent = "indexing " + pct + "% (" + s.events + " events)";
      $("live-controls").hidden = false;
      $("follow").parentElement.hidden = true;
      $("pause").hidden = true;
    } else if (!s.live && s.indexing === null) {
      $("live-controls").hidden = true;
    }
    const grew = s.events !== live.events;
    live.events = s.events;
    if (s.live) showState(s);
    if (!grew || live.paused) return;
    if (!app.state.loading && !app.state.filter.length)
      $("status").textContent = live.events + " events";
    refreshSessions();
    more();
  }

  // after each page: events that came while it loaded are read on; with
  // follow on, on to the newest and keep it in view
  app.hooks.loaded = () => {
    const list = $("events");
    if (live.paused) return;
    if (app.state.done && live.events > app.state.next) more();
    // a file is read as it scrolls; only the live view runs to its end
    if (!live.isLive || !live.follow) return;
    if (!app.state.done) app.loadMore();
    list.scrollTop = list.scrollHeight;
  };

  // scrolling up to read (wheel or keys) leaves follow; the scroll event
  // itself cannot tell the reader from the rows that follow appends
  function leaveFollow() {
    if (!live.follow) return;
    live.follow = false;
    $("follow").checked = false;
  }

  function setPaused(p) {
    live.paused = p;
    live.pausedAt = live.events;
    $("pause").textContent = p ? "Resume" : "Pause";
    showState({ events: live.events });
    if (!p) {
      refreshSessions();
      more();
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
      const el = $("live-state");
      if ($("live-controls").hidden) return;
      el.textContent = "disconnected: xmitm stopped or the page lost it (reload)";
      el.className = "off";
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("follow").addEventListener("change", () => {
      live.follow = $("follow").checked;
      if (live.follow) {
        more();
        app.hooks.loaded();
      }
    });
    $("pause").addEventListener("click", () => setPaused(!live.paused));
    $("events").addEventListener("wheel", (ev) => { if (ev.deltaY < 0) leaveFollow(); },
                                 { passive: true });
    $("events").addEventListener("keydown", (ev) => {
      if (["ArrowUp", "PageUp", "Home"].includes(ev.key)) leaveFollow();
    });
    $("missed-reload").addEventListener("click", () => location.reload());
    // the list shrinks when the sessions table grows: still the newest
    new ResizeObserver(() => {
      if (live.isLive && live.follow && !live.paused)
        $("events").scrollTop = $("events").scrollHeight;
    }).observe($("events"));
    connect();
  });
})();
