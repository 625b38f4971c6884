#!/usr/bin/env node
// A scripted XMPP web client for xmitm's integration tests: a real npm
// library speaking XMPP over WebSocket (RFC 7395) or BOSH (XEP-0206).
//
//   node tests/web/client.mjs --lib xmpp.js|strophe|stanza --transport ws|bosh
//        --url URL --jid JID --password P
//        [--resource R] [--to JID --body TEXT] [--expect-body TEXT]
//        [--ca FILE] [--timeout SECONDS] [--verbose]
//
// Logs in (SASL, resource binding), fetches the roster, sends available
// presence, then optionally sends one chat message (--to/--body) and/or
// waits for a message with exactly the body --expect-body, and disconnects
// cleanly. One JSON object per line on stdout, one per step:
//
//   {"step":"online","jid":"alice@localhost/xyz"}   SASL and bind done
//   {"step":"roster","items":1}                     roster fetched
//   {"step":"ready"}                                presence sent: messages
//                                                   to the bare JID arrive
//   {"step":"sent","to":"bob@localhost"}
//   {"step":"received","from":"alice@localhost/xyz","body":"..."}
//   {"step":"done"}                                 disconnected cleanly
//   {"step":"error","message":"..."}                 (then exit status 1)
//   {"step":"warning","message":"..."}               the library threw while
//                                                   disconnecting (below)
//
// Exit status 0 on success; 1 on failure or timeout (default 20 s) with the
// reason on stderr and in the "error" line; 2 on a usage error.
//
// --ca FILE trusts that CA (PEM) for wss:// and https:// on top of Node's own
// roots: the script re-runs itself with NODE_EXTRA_CA_CERTS=FILE, which every
// library's TLS (ws, xhr2, fetch) honours.
//
// Libraries and transports (tests/web/package.json pins the versions):
//   xmpp.js  @xmpp/client 0.14.0, WebSocket only (xmpp.js has no BOSH
//            transport); the `ws` package is installed as globalThis.WebSocket
//            (Node 20 has none without --experimental-websocket).
//   strophe  strophe.js 5.0.0, WebSocket and BOSH. Its Node entry point sets
//            `ws` and @xmldom/xmldom as DOM globals itself; BOSH needs an
//            XMLHttpRequest: xhr2, with a responseXML getter added (xhr2 has
//            none, and strophe 5.0.0's Request.getResponse() parses
//            responseText but then returns null, so without it every BOSH
//            response would be dropped).
//   stanza   stanza 12.22.1, WebSocket (ws) and BOSH (Node's fetch).
//
// No DNS is needed: the URL is used as given (use 127.0.0.1 or localhost;
// localhost comes from /etc/hosts, IPv4 first, since the test servers
// listen on 127.0.0.1 only and Node 18 would not fall back from ::1).

import { spawnSync } from "node:child_process";
import dns from "node:dns";
import { format, parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import path from "node:path";

const USAGE = "usage: node client.mjs --lib xmpp.js|strophe|stanza " +
  "--transport ws|bosh --url URL --jid JID --password P [--resource R] " +
  "[--to JID --body TEXT] [--expect-body TEXT] [--ca FILE] " +
  "[--timeout SECONDS] [--verbose]";

function usage(msg) {
  process.stderr.write(`client.mjs: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

let opts;
try {
  opts = parseArgs({
    options: {
      lib: { type: "string" },
      transport: { type: "string" },
      url: { type: "string" },
      jid: { type: "string" },
      password: { type: "string" },
      resource: { type: "string" },
      to: { type: "string" },
      body: { type: "string" },
      "expect-body": { type: "string" },
      ca: { type: "string" },
      timeout: { type: "string", default: "20" },
      verbose: { type: "boolean", short: "v", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  }).values;
} catch (e) {
  usage(e.message);
}
if (opts.help) {
  process.stdout.write(USAGE + "\n");
  process.exit(0);
}
for (const k of ["lib", "transport", "url", "jid", "password"]) {
  if (opts[k] === undefined) usage(`--${k} is required`);
}
if (!["xmpp.js", "strophe", "stanza"].includes(opts.lib)) {
  usage(`unknown --lib ${opts.lib}`);
}
if (!["ws", "bosh"].includes(opts.transport)) {
  usage(`unknown --transport ${opts.transport}`);
}
if (opts.lib === "xmpp.js" && opts.transport === "bosh") {
  usage("xmpp.js has no BOSH transport (use --lib strophe or stanza)");
}
if ((opts.to === undefined) !== (opts.body === undefined)) {
  usage("--to and --body go together");
}
const timeout = Number(opts.timeout);
if (!(timeout > 0)) usage(`bad --timeout ${opts.timeout}`);
const scheme = opts.url.split(":", 1)[0];
const wantSchemes = opts.transport === "ws" ? ["ws", "wss"] : ["http", "https"];
if (!wantSchemes.includes(scheme)) {
  usage(`--transport ${opts.transport} needs a ${wantSchemes.join(":// or ")}:// URL, got ${opts.url}`);
}
const at = opts.jid.indexOf("@");
if (at <= 0 || opts.jid.includes("/")) usage(`--jid must be a bare JID, got ${opts.jid}`);
const username = opts.jid.slice(0, at);
const domain = opts.jid.slice(at + 1);
const resource = opts.resource ?? `web-${opts.lib.replace(".", "")}-${process.pid}`;

// --ca: re-run with NODE_EXTRA_CA_CERTS (read once, at Node's start-up).
if (opts.ca !== undefined) {
  const ca = path.resolve(opts.ca);
  try {
    readFileSync(ca);
  } catch (e) {
    usage(`cannot read --ca ${opts.ca}: ${e.message}`);
  }
  if (process.env.NODE_EXTRA_CA_CERTS !== ca) {
    const r = spawnSync(process.execPath, process.argv.slice(1), {
      stdio: "inherit",
      env: { ...process.env, NODE_EXTRA_CA_CERTS: ca },
    });
    process.exit(r.status ?? 1);
  }
}

dns.setDefaultResultOrder("ipv4first");

// stdout is for the JSON lines only: whatever a library logs goes to stderr.
for (const k of ["log", "info", "debug", "warn"]) {
  console[k] = (...a) => process.stderr.write(format(...a) + "\n");
}

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function debug(...args) {
  if (opts.verbose) process.stderr.write(args.join(" ") + "\n");
}

let stage = "connecting";
let finished = false;
let cleanup = async () => {};

async function fail(message) {
  if (finished) return;
  finished = true;
  if (!message.includes(" while ")) message += ` (while ${stage}, ${opts.url})`;
  say({ step: "error", message });
  process.stderr.write(`client.mjs (${opts.lib}, ${opts.transport}, ${opts.jid}): FAILED: ${message}\n`);
  try {
    await Promise.race([cleanup(), new Promise((r) => setTimeout(r, 2000))]);
  } catch {
    // already failing
  }
  process.exit(1);
}

const timer = setTimeout(() => {
  fail(`timeout after ${timeout} s while ${stage} (${opts.url})`);
}, timeout * 1000);

// A library that throws while the session is being closed, after every step
// succeeded, gets a warning line, not a failure: stanza 12.22.1's BOSH throws
// ERR_STREAM_PUSH_AFTER_EOF on ejabberd's answer to its terminate request.
function thrown(what, e) {
  const message = `${what}: ${e?.stack ?? e}`;
  if (stage === "disconnecting" && !finished) {
    say({ step: "warning", message });
    process.stderr.write(`client.mjs: warning while disconnecting: ${message}\n`);
    return;
  }
  fail(message);
}
process.on("unhandledRejection", (e) => thrown("unhandled rejection", e));
process.on("uncaughtException", (e) => thrown("uncaught exception", e));

function errText(e) {
  if (e === undefined || e === null) return "unknown error";
  if (typeof e === "string") return e;
  const parts = [e.message || e.name || String(e)];
  if (e.condition) parts.push(`condition ${e.condition}`);
  if (e.code) parts.push(`code ${e.code}`);
  if (e.cause) parts.push(`cause ${e.cause.message ?? e.cause}`);
  return parts.join(", ");
}

// ---------------------------------------------------------------------------
// The script, the same for every library: each lib() returns an object with
// start() -> full JID, roster() -> item count, presence(), send(to, body),
// ping() (an XEP-0199 ping to the server, resolved on its answer),
// onMessage(cb(from, body)) and stop().

async function run(session) {
  const received = new Promise((resolve) => {
    session.onMessage((from, body) => {
      debug("message from", from, ":", body);
      if (opts["expect-body"] !== undefined && body === opts["expect-body"]) {
        resolve({ from, body });
      }
    });
  });
  stage = "logging in (SASL, bind)";
  const jid = await session.start();
  say({ step: "online", jid });
  stage = "fetching the roster";
  say({ step: "roster", items: await session.roster() });
  stage = "sending presence";
  await session.presence();
  say({ step: "ready" });
  if (opts.to !== undefined) {
    stage = "sending the message";
    await session.send(opts.to, opts.body);
    // A ping (XEP-0199) to the server, answered after the message was
    // handled: "sent" means the server has it (stanza queues its output,
    // and a disconnect right after the send would drop it).
    stage = "pinging the server after the message";
    await session.ping();
    say({ step: "sent", to: opts.to });
  }
  if (opts["expect-body"] !== undefined) {
    stage = `waiting for a message with body ${JSON.stringify(opts["expect-body"])}`;
    const m = await received;
    say({ step: "received", from: m.from, body: m.body });
  }
  stage = "disconnecting";
  // At most 5 s: stanza 12.22.1's BOSH sometimes never reports the end of
  // a session ejabberd has closed (after the exception described above).
  let stopTimer;
  const stopped = await Promise.race([
    session.stop().then(() => true),
    new Promise((r) => { stopTimer = setTimeout(() => r(false), 5000); }),
  ]);
  clearTimeout(stopTimer);
  if (!stopped && !finished) {
    const message = "the library did not report the disconnect within 5 s";
    say({ step: "warning", message });
    process.stderr.write(`client.mjs: warning: ${message}\n`);
  }
  if (finished) return; // fail() is on its way out
  finished = true;
  clearTimeout(timer);
  say({ step: "done" });
  process.exit(0);
}

// ---------------------------------------------------------------------------
// xmpp.js

async function xmppjs() {
  const WS = (await import("ws")).default;
  globalThis.WebSocket ??= WS;
  // @xmpp/client 0.14.0 declares Node >= 20.10 and calls
  // globalThis.crypto.randomUUID(): Node 18 (Debian 12) has no global
  // crypto without a flag.
  globalThis.crypto ??= (await import("node:crypto")).webcrypto;
  const { client, xml } = await import("@xmpp/client");
  const xmpp = client({
    service: opts.url,
    domain,
    resource,
    username,
    password: opts.password,
  });
  xmpp.reconnect?.stop?.();
  const handlers = [];
  xmpp.on("error", (e) => fail(`xmpp.js error: ${errText(e)}`));
  xmpp.on("stanza", (s) => {
    if (s.is("message")) {
      const body = s.getChildText("body");
      if (body !== null) for (const h of handlers) h(s.attrs.from, body);
    }
  });
  if (opts.verbose) {
    xmpp.on("input", (d) => debug("IN ", d));
    xmpp.on("output", (d) => debug("OUT", d));
  }
  cleanup = () => xmpp.stop();
  return {
    start: async () => String(await xmpp.start()),
    roster: async () => {
      const q = await xmpp.iqCaller.get(xml("query", { xmlns: "jabber:iq:roster" }));
      return q.getChildren("item").length;
    },
    presence: () => xmpp.send(xml("presence")),
    send: (to, body) => xmpp.send(xml("message", { to, type: "chat" }, xml("body", {}, body))),
    ping: () => xmpp.iqCaller.get(xml("ping", { xmlns: "urn:xmpp:ping" }), domain),
    onMessage: (cb) => handlers.push(cb),
    stop: () => xmpp.stop(),
  };
}

// ---------------------------------------------------------------------------
// strophe.js

async function strophe() {
  const { DOMParser } = await import("@xmldom/xmldom");
  const S = await import("strophe.js"); // node entry: installs ws + xmldom globals
  const { Strophe, $iq, $msg, $pres } = S;
  // strophe 5.0.0 starts at DEBUG (its docs say INFO)
  Strophe.setLogLevel(opts.verbose ? Strophe.LogLevel.DEBUG : Strophe.LogLevel.WARN);
  if (opts.transport === "bosh") {
    const XHR2 = (await import("xhr2")).default;
    // xhr2 has no responseXML; strophe 5.0.0 needs it (see the top).
    class XHR extends XHR2 {
      get responseXML() {
        if (this.readyState !== 4 || !this.responseText) return null;
        try {
          return new DOMParser().parseFromString(this.responseText, "text/xml");
        } catch {
          return null;
        }
      }
    }
    globalThis.XMLHttpRequest = XHR;
  }
  const conn = new Strophe.Connection(opts.url, {});
  if (opts.verbose) {
    conn.xmlInput = (e) => debug("IN ", Strophe.serialize(e));
    conn.xmlOutput = (e) => debug("OUT", Strophe.serialize(e));
  }
  const handlers = [];
  conn.addHandler((m) => {
    const b = m.getElementsByTagName("body")[0];
    // textContent: Strophe.getText() returns the text XML-escaped
    if (b) for (const h of handlers) h(m.getAttribute("from"), b.textContent);
    return true;
  }, null, "message");
  const names = Object.fromEntries(Object.entries(Strophe.Status).map(([k, v]) => [v, k]));
  let onConnected, onDisconnected;
  const connected = new Promise((r) => { onConnected = r; });
  const disconnected = new Promise((r) => { onDisconnected = r; });
  let closing = false;
  const onStatus = (status, condition) => {
    debug("strophe status", names[status], condition ?? "");
    switch (status) {
      case Strophe.Status.CONNECTED:
        onConnected();
        break;
      case Strophe.Status.AUTHFAIL:
        fail(`authentication failed${condition ? ": " + condition : ""}`);
        break;
      case Strophe.Status.CONNFAIL:
      case Strophe.Status.ERROR:
      case Strophe.Status.CONNTIMEOUT:
        if (!closing) fail(`strophe ${names[status]}${condition ? ": " + condition : ""}`);
        break;
      case Strophe.Status.DISCONNECTED:
        onDisconnected();
        if (!closing) fail(`disconnected by the server${condition ? ": " + condition : ""}`);
        break;
    }
  };
  const stop = async () => {
    closing = true;
    if (conn.connected) conn.disconnect("done");
    else onDisconnected();
    await disconnected;
  };
  cleanup = stop;
  return {
    start: async () => {
      conn.connect(`${opts.jid}/${resource}`, opts.password, onStatus);
      await connected;
      return conn.jid;
    },
    roster: () => new Promise((resolve, reject) => {
      conn.sendIQ($iq({ type: "get" }).c("query", { xmlns: Strophe.NS.ROSTER }),
        (iq) => resolve(iq.getElementsByTagName("item").length),
        (iq) => reject(new Error(iq ? `roster error: ${Strophe.serialize(iq)}` : "roster request timed out")),
        timeout * 1000);
    }),
    presence: async () => conn.send($pres()),
    send: async (to, body) => {
      conn.send($msg({ to, type: "chat" }).c("body").t(body));
      conn.flush();
    },
    ping: () => new Promise((resolve, reject) => {
      conn.sendIQ($iq({ type: "get", to: domain }).c("ping", { xmlns: "urn:xmpp:ping" }),
        () => resolve(),
        (iq) => reject(new Error(iq ? `ping error: ${Strophe.serialize(iq)}` : "ping timed out")),
        timeout * 1000);
    }),
    onMessage: (cb) => handlers.push(cb),
    stop,
  };
}

// ---------------------------------------------------------------------------
// stanza

async function stanza() {
  const mod = await import("stanza");
  const createClient = mod.createClient ?? mod.default.createClient;
  const client = createClient({
    jid: opts.jid,
    password: opts.password,
    resource,
    server: domain,
    transports: opts.transport === "ws"
      ? { websocket: opts.url, bosh: false }
      : { websocket: false, bosh: opts.url },
    allowResumption: false,
  });
  if (opts.verbose) client.on("raw:*", (dir, d) => debug(dir, d));
  const handlers = [];
  let closing = false;
  let onStarted, onDisconnected;
  const started = new Promise((r) => { onStarted = r; });
  const disconnected = new Promise((r) => { onDisconnected = r; });
  client.on("session:started", () => onStarted());
  client.on("auth:failed", () => fail("authentication failed"));
  client.on("stream:error", (e) => fail(`stream error: ${e?.condition ?? errText(e)}`));
  client.on("disconnected", (e) => {
    onDisconnected();
    if (!closing) fail(`disconnected${e ? ": " + errText(e) : ""}`);
  });
  client.on("message", (m) => {
    if (m.body !== undefined) for (const h of handlers) h(m.from, m.body);
  });
  const stop = async () => {
    closing = true;
    client.disconnect();
    await disconnected;
  };
  cleanup = stop;
  return {
    start: async () => {
      client.connect();
      await started;
      return client.jid;
    },
    roster: async () => (await client.getRoster()).items?.length ?? 0,
    presence: async () => client.sendPresence(),
    send: async (to, body) => client.sendMessage({ to, body, type: "chat" }),
    ping: () => client.ping(domain),
    onMessage: (cb) => handlers.push(cb),
    stop,
  };
}

// ---------------------------------------------------------------------------

const libs = { "xmpp.js": xmppjs, strophe, stanza };
try {
  await run(await libs[opts.lib]());
} catch (e) {
  await fail(`${stage}: ${errText(e)}`);
}
