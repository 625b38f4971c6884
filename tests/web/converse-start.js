// Starts converse.js from the query string: ws (WebSocket URL), jid,
// password, to and body (a chat message sent once connected). Progress
// goes to document.title and to window.xmitmSteps, which the test reads.
const q = new URLSearchParams(location.search);
window.xmitmSteps = [];
const step = (s) => { window.xmitmSteps.push(s); document.title = s; };

converse.plugins.add("xmitm-test", {
  initialize() {
    const api = this._converse.api;
    const { $msg } = converse.env;
    api.listen.on("connected", async () => {
      step("connected");
      await api.waitUntil("rosterContactsFetched").catch(() => null);
      step("roster");
      if (q.get("to")) {
        api.send($msg({ to: q.get("to"), type: "chat", id: "xmitm-test-1" })
          .c("body").t(q.get("body") || "hello from converse.js"));
        step("sent");
      }
    });
    api.listen.on("message", (data) => {
      const body = data?.attrs?.body;
      if (body) step("received:" + body);
    });
    api.listen.on("disconnected", () => step("disconnected"));
  },
});

converse.initialize({
  websocket_url: q.get("ws"),
  jid: q.get("jid"),
  password: q.get("password"),
  auto_login: true,
  discover_connection_methods: false,
  whitelisted_plugins: ["xmitm-test"],
  view_mode: "fullscreen",
  loglevel: "warn",
  persistent_store: "IndexedDB",
  clear_cache_on_logout: true,
}).catch((e) => step("error:" + e));
