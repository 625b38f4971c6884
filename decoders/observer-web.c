/* observer-web.c: XMPP over HTTP in an observed connection (see
 * observer-private.h). The client's requests and the server's responses go
 * through an HTTP/1.1 reader each (http-msg.h), shown one line a message;
 * after a WebSocket upgrade (RFC 6455 §4, RFC 7395 §3.1) each direction's
 * frames go through a WebSocket reader (ws-frame.h), and each text message
 * is one element for the direction's framer in RFC 7395 framing mode.
 *
 * Pure like the rest of the observer: a copy of the bytes in, events out.
 * The proxy forwards the frames as they came (masks, fragments and all). */
#include "config.h"

#include <string.h>

#include "observer-private.h"
#include "http-msg.h"
#include "ws-frame.h"

/* Client bytes after an upgrade request, before the response says whether
 * they are WebSocket frames or HTTP: a client must wait for the response
 * (RFC 6455 §4.1), so little ever waits here. */
#define MAX_HELD (64 * 1024)
/* Requests whose responses have not begun (pipelining is rare on BOSH):
 * past it, requests and responses are no longer paired. */
#define MAX_PENDING 64

typedef enum {
  WEB_HTTP,      /* HTTP messages */
  WEB_AWAIT,     /* c2s: an upgrade request ended; its response decides */
  WEB_WS,        /* WebSocket frames */
  WEB_STOPPED,   /* nothing more is decoded */
} WebState;

struct _XmWebFlow {
  Flow *flow;
  WebState state;
  XmHttpParser *http;
  XmWsReader *ws;
  guint64 base;        /* direction offset where the current reader began */
  guint64 fed;         /* direction bytes seen */
  GByteArray *held;    /* WEB_AWAIT: client bytes kept for the decision */
  gboolean upgrade;    /* c2s: the request being read asks for WebSocket */
  gboolean awaiting;   /* c2s: the upgrade request ended, no answer yet */
  gboolean upgraded;   /* a 101 came: frames follow the current message */
  gboolean deflate;    /* permessage-deflate was agreed */
  gboolean no_takeover;
  /* BOSH */
  GByteArray *body;    /* the message's body, while it is kept */
  gboolean keep_body;
  GQueue pending;      /* c2s: Pending*, requests without a response yet */
  struct Pending *reading; /* c2s: the request being read */
  struct Pending *answering; /* s2c: what the response being read answers */
  gboolean unpaired;   /* too many requests ahead of their responses */
};

/* A request, from its head until its response's end: the response reader
 * pairs each final response with the oldest request (HTTP/1.1 answers in
 * order), whether or not the request has ended (a server may answer
 * early). Held by the queue, the request reader and the response reader. */
typedef struct Pending {
  guint refs;
  gboolean upgrade;    /* asks for WebSocket */
  XmBoshAsk *ask;      /* its BOSH body, once it has ended; NULL if none */
} Pending;

static Pending *
pending_ref (Pending *p)
{
  p->refs++;
  return p;
}

static void
pending_unref (Pending *p)
{
  if (p && --p->refs == 0)
    {
      xm_bosh_ask_free (p->ask);
      g_free (p);
    }
}

static void feed_http (XmWebFlow *w, const guint8 *data, gsize len);
static XmHttpParser *http_of (XmWebFlow *w);

static XmWebFlow *
other (XmWebFlow *w)
{
  return w->flow->obs->flow[!w->flow->dir].web;
}

static void
transport (XmWebFlow *w, const char *what, const char *text)
{
  XmEvent ev = { .kind = XM_EVENT_TRANSPORT, .dir = w->flow->dir,
                 .flags = w->flow->flags, .transport = what, .text = text };

  xm_observer_emit (w->flow->obs, &ev);
}

static void
stop (XmWebFlow *w)
{
  w->state = WEB_STOPPED;
  g_clear_pointer (&w->held, g_byte_array_unref);
}

/* ---- detection ---- */

gboolean
xm_web_looks_like_http (const guint8 *data, gsize len)
{
  /* RFC 9110 §9: a method is a token; every registered one is upper case.
   * An XMPP stream starts with '<', whitespace or a BOM. */
  gsize i = 0;

  while (i < len && i < 16 && data[i] >= 'A' && data[i] <= 'Z')
    i++;
  return i > 0 && (i == len || data[i] == ' ');
}

gboolean
xm_observer_http_for_xmpp (const guint8 *data, gsize len)
{
  static const char *const marks[] = { "xmpp", "http-bind", "httpbind", "/bosh" };
  g_autofree char *lower = NULL;

  if (!xm_web_looks_like_http (data, MIN (len, 17)))
    return FALSE;
  lower = g_ascii_strdown ((const char *) data, (gssize) MIN (len, 4096));
  for (guint i = 0; i < G_N_ELEMENTS (marks); i++)
    if (memmem (lower, strlen (lower), marks[i], strlen (marks[i])))
      return TRUE;
  return FALSE;
}

/* ---- WebSocket ---- */

/* The readers' problems: a fatal one already says that decoding of the
 * direction stops. */

static void
on_ws_message (guint8 opcode, const guint8 *data, gsize len, guint64 offset,
               guint64 end, guint n_frames, gpointer user_data)
{
  XmWebFlow *w = user_data;
  Flow *f = w->flow;
  XmObserver *obs = f->obs;
  guint items = f->items;
  g_autofree char *text = NULL;

  if (opcode == XM_WS_PING || opcode == XM_WS_PONG)
    {
      text = g_strdup_printf ("%s, %" G_GSIZE_FORMAT " byte%s",
                              opcode == XM_WS_PING ? "ping" : "pong", len,
                              len == 1 ? "" : "s");
      transport (w, opcode == XM_WS_PING ? "ws-ping" : "ws-pong", text);
      return;
    }
  if (opcode == XM_WS_CLOSE)
    return; /* on_ws_close says it */
  if (n_frames > 1)
    {
      text = g_strdup_printf ("a %s message in %u frames, %" G_GSIZE_FORMAT " bytes",
                              opcode == XM_WS_BINARY ? "binary" : "text",
                              n_frames, len);
      transport (w, "ws-message", text);
    }
  if (opcode == XM_WS_BINARY)
    xm_observer_note (obs, f->dir, XM_NOTE_WARNING, "RFC 7395 §3.3.1: XMPP is "
                      "sent in text messages; this one is binary (decoded "
                      "anyway)");
  if (xm_framer_is_stalled (f->framer))
    xm_framer_reset (f->framer);
  xm_observer_decode_xml (f, data, len);
  if (xm_framer_pending_offset (f->framer) != xm_framer_offset (f->framer))
    {
      const XmNode *el = xm_framer_pending_element (f->framer);

      xm_observer_note (obs, f->dir, XM_NOTE_WARNING, "RFC 7395 §3.3.3: a "
                        "WebSocket message holds one whole XML element; this "
                        "one (at byte %" G_GUINT64_FORMAT " of this direction) "
                        "ends inside %s%s%s%s", w->base + offset,
                        el ? "<" : "an unfinished element",
                        el && el->prefix ? el->prefix : "",
                        el && el->prefix ? ":" : "", el ? el->name : "");
      if (el && xm_node_is (el, "http://etherx.jabber.org/streams", "stream"))
        xm_observer_note (obs, f->dir, XM_NOTE_WARNING, "RFC 7395 §3.3.2: a "
                          "<stream:stream> header on WebSocket (an early draft's "
                          "framing); RFC 7395 opens with <open xmlns='"
                          XM_FRAMER_NS_FRAMING "'/>");
      xm_framer_reset (f->framer);
    }
  else if (f->items - items > 1)
    xm_observer_note (obs, f->dir, XM_NOTE_WARNING, "RFC 7395 §3.3.3: one "
                      "WebSocket message held %u elements (one per message)",
                      f->items - items);
  else if (f->items == items && !xm_framer_is_stalled (f->framer))
    xm_observer_note (obs, f->dir, XM_NOTE_WARNING, "RFC 7395 §3.3.3: a "
                      "WebSocket message of %" G_GSIZE_FORMAT " byte%s with no "
                      "element (whitespace keepalives are WebSocket pings "
                      "here, §3.4)", len, len == 1 ? "" : "s");
  (void) end;
}

static const char *
close_meaning (guint code)
{
  switch (code)
    {
    case 1000: return "normal closure";
    case 1001: return "going away";
    case 1002: return "protocol error";
    case 1003: return "unsupported data";
    case 1007: return "invalid payload data";
    case 1008: return "policy violation";
    case 1009: return "message too big";
    case 1010: return "mandatory extension";
    case 1011: return "internal error";
    default: return NULL;
    }
}

static void
on_ws_close (guint code, const char *reason, guint64 offset, gpointer user_data)
{
  XmWebFlow *w = user_data;
  const char *meaning = close_meaning (code);
  g_autofree char *text = NULL;

  if (code == 0)
    text = g_strdup ("close, no status code");
  else
    text = g_strdup_printf ("close %u%s%s%s%s%s%s", code, meaning ? " (" : "",
                            meaning ? meaning : "", meaning ? ")" : "",
                            reason && *reason ? ": '" : "",
                            reason && *reason ? reason : "",
                            reason && *reason ? "'" : "");
  transport (w, "ws-close", text);
}

/* A reader's problem (what: "WebSocket", "HTTP") at offset of the
 * reader's bytes. */
static void
reader_problem (XmWebFlow *w, const char *what, guint64 offset, gboolean fatal,
                const char *message)
{
  XmObserver *obs = w->flow->obs;

  xm_observer_note (obs, w->flow->dir, fatal ? XM_NOTE_ERROR : XM_NOTE_WARNING,
                    "%s: %s (at byte %" G_GUINT64_FORMAT " of this direction)%s",
                    what, message, w->base + offset,
                    fatal ? xm_observer_still_forwarded (obs) : "");
}

static void
on_ws_problem (guint64 offset, gboolean fatal, const char *message,
               gpointer user_data)
{
  reader_problem (user_data, "WebSocket", offset, fatal, message);
}

static const XmWsEvents ws_events = {
  .message = on_ws_message,
  .close = on_ws_close,
  .problem = on_ws_problem,
};

/* WebSocket frames from rest bytes before the end of what w has seen. */
static void
start_websocket (XmWebFlow *w, gsize rest)
{
  Flow *f = w->flow;

  g_clear_pointer (&w->http, xm_http_parser_free);
  w->state = WEB_WS;
  w->base = w->fed - rest;
  w->ws = xm_ws_reader_new (f->dir == XM_DIR_C2S ? XM_WS_FROM_CLIENT
                            : XM_WS_FROM_SERVER, &ws_events, w);
  xm_ws_reader_set_max_message (w->ws, f->obs->max_message);
  if (w->deflate)
    {
      xm_ws_reader_set_deflate (w->ws, TRUE);
      xm_ws_reader_set_no_context_takeover (w->ws, w->no_takeover);
    }
  f->flags |= XM_EVENT_FLAG_WS;
  xm_framer_set_framing (f->framer, TRUE);
}

/* ---- HTTP ---- */

/* What a peer wrote, for a terminal: control characters (an escape
 * sequence in a path or a reason phrase) and bytes that are not UTF-8 are
 * escaped, \xNN. */
static void
append_printable (GString *s, const char *text)
{
  const char *p = text, *end = text + strlen (text);

  while (p < end)
    {
      const char *next = g_utf8_find_next_char (p, end);
      gsize n = (next ? next : end) - p;

      if ((guchar) *p < 0x20 || *p == 0x7f || *p == '\\'
          || (n > 1 && !g_utf8_validate (p, n, NULL)) || ((guchar) *p >= 0x80 && n == 1))
        {
          for (gsize i = 0; i < n; i++)
            g_string_append_printf (s, "\\x%02x", (guchar) p[i]);
        }
      else
        g_string_append_len (s, p, n);
      p += n;
    }
}

/* A request's target without its query, which carries tokens as often
 * as not (a WebSocket's ?access_token=...): only its size. */
static void
append_target (GString *s, const char *target)
{
  const char *q = strchr (target, '?');
  g_autofree char *path = g_strndup (target, q ? (gsize) (q - target) : strlen (target));

  append_printable (s, path);
  if (q)
    g_string_append_printf (s, "?[query: %zu bytes hidden]", strlen (q + 1));
}

static void
append_subprotocols (GString *s, const char *v)
{
  g_auto (GStrv) tokens = g_strsplit (v, ",", -1);

  for (guint k = 0; tokens[k]; k++)
    {
      const char *t = g_strstrip (tokens[k]);
      if (k)
        g_string_append (s, ", ");
      if (strcmp (t, "xmpp") == 0)
        g_string_append (s, t);
      else
        g_string_append_printf (s, "[%zu bytes hidden]", strlen (t));
    }
}

/* Header values worth a place on the one line of a message; the rest are
 * in the bytes. Credentials are never shown: only their size; of the
 * subprotocols, only 'xmpp' (browsers pass bearer tokens as others). */
static void
append_headers (GString *s, SoupMessageHeaders *h)
{
  static const char *const shown[] = {
    "Host", "Upgrade", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions",
    "Sec-WebSocket-Version", "Origin", "Content-Type", "Content-Length",
    "Transfer-Encoding", "Location", "Connection",
  };
  static const char *const hidden[] = {
    "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie",
  };
  const char *sep = " (";

  for (guint i = 0; i < G_N_ELEMENTS (shown); i++)
    {
      const char *v = soup_message_headers_get_list (h, shown[i]);
      if (v == NULL)
        continue;
      g_string_append_printf (s, "%s%s: ", sep, shown[i]);
      if (g_ascii_strcasecmp (shown[i], "Sec-WebSocket-Protocol") == 0)
        append_subprotocols (s, v);
      else
        append_printable (s, v);
      sep = "; ";
    }
  for (guint i = 0; i < G_N_ELEMENTS (hidden); i++)
    {
      const char *v = soup_message_headers_get_list (h, hidden[i]);
      if (v == NULL)
        continue;
      g_string_append_printf (s, "%s%s: %zu bytes hidden", sep, hidden[i], strlen (v));
      sep = "; ";
    }
  if (*sep == ';')
    g_string_append_c (s, ')');
}

static gboolean
header_has_token (SoupMessageHeaders *h, const char *name, const char *token)
{
  return soup_message_headers_header_contains (h, name, token);
}

/* RFC 7395 §3.1 asks for the 'xmpp' subprotocol both ways. */
static void
check_subprotocol (XmWebFlow *w, const XmHttpHead *head)
{
  XmObserver *obs = w->flow->obs;
  const char *proto = soup_message_headers_get_list (head->headers,
                                                     "Sec-WebSocket-Protocol");
  g_autoptr (GString) shown = g_string_new (proto ? NULL : "none");

  if (proto)
    append_subprotocols (shown, proto);
  if (head->method && !header_has_token (head->headers, "Sec-WebSocket-Protocol", "xmpp"))
    xm_observer_note (obs, w->flow->dir, XM_NOTE_WARNING, "RFC 7395 §3.1: the "
                      "upgrade request does not ask for the 'xmpp' subprotocol "
                      "(Sec-WebSocket-Protocol: %s)", shown->str);
  else if (head->status == 101 && g_strcmp0 (proto, "xmpp") != 0)
    xm_observer_note (obs, w->flow->dir, XM_NOTE_WARNING, "RFC 7395 §3.1: the "
                      "server's upgrade response does not select the 'xmpp' "
                      "subprotocol (Sec-WebSocket-Protocol: %s); a client must "
                      "then close the connection", shown->str);
}

/* RFC 7692: the server's answer says whether messages may be compressed,
 * and whether each side resets its context after every message. */
static void
check_deflate (XmWebFlow *s2c, const XmHttpHead *head)
{
  XmWebFlow *c2s = other (s2c);
  const char *ext = soup_message_headers_get_list (head->headers,
                                                   "Sec-WebSocket-Extensions");
  g_auto (GStrv) offers = NULL;

  if (ext == NULL)
    return;
  offers = g_strsplit (ext, ",", -1);
  for (guint i = 0; offers[i]; i++)
    {
      g_auto (GStrv) params = g_strsplit (offers[i], ";", -1);

      if (g_strcmp0 (g_strstrip (params[0]), "permessage-deflate") != 0)
        continue;
      s2c->deflate = c2s->deflate = TRUE;
      for (guint k = 1; params[k]; k++)
        {
          const char *p = g_strstrip (params[k]);
          if (g_str_has_prefix (p, "server_no_context_takeover"))
            s2c->no_takeover = TRUE;
          else if (g_str_has_prefix (p, "client_no_context_takeover"))
            c2s->no_takeover = TRUE;
        }
      xm_observer_note (s2c->flow->obs, XM_DIR_S2C, XM_NOTE_INFO,
                        "permessage-deflate (RFC 7692) agreed: xmitm forwards "
                        "the compressed frames as they are and inflates a copy");
      return;
    }
}

static void
on_http_head (const XmHttpHead *head, gpointer user_data)
{
  XmWebFlow *w = user_data;
  XmWebFlow *peer = other (w);
  g_autoptr (GString) s = g_string_new (NULL);
  gboolean websocket = head->upgrade
    && header_has_token (head->headers, "Upgrade", "websocket");
  gboolean answers_upgrade = FALSE;

  if (head->method)
    {
      append_printable (s, head->method);
      g_string_append_c (s, ' ');
      append_target (s, head->path);
      g_string_append_printf (s, " HTTP/1.%u", head->minor);
    }
  else
    {
      g_string_append_printf (s, "HTTP/1.%u %u ", head->minor, head->status);
      append_printable (s, head->reason ? head->reason : "");
    }
  append_headers (s, head->headers);
  transport (w, head->method ? "http-request" : "http-response", s->str);

  g_clear_pointer (&w->body, g_byte_array_unref);
  w->keep_body = FALSE;
  if (head->method)
    {
      /* XEP-0124 §4: BOSH requests are POSTs; the body says the rest. */
      w->keep_body = strcmp (head->method, "POST") == 0;
      w->upgrade = websocket;
      g_clear_pointer (&w->reading, pending_unref);
      if (!w->unpaired && g_queue_get_length (&w->pending) >= MAX_PENDING)
        {
          w->unpaired = TRUE;
          xm_observer_note (w->flow->obs, w->flow->dir, XM_NOTE_WARNING,
                            "more than %d HTTP requests ahead of their responses: "
                            "responses are no longer paired with requests (BOSH "
                            "responses not decoded on this connection)", MAX_PENDING);
        }
      if (!w->unpaired)
        {
          Pending *p = g_new0 (Pending, 1);
          p->refs = 1;
          p->upgrade = websocket;
          g_queue_push_tail (&w->pending, p);
          w->reading = pending_ref (p);
        }
      /* the response reader needs each request's method, in order
       * (a HEAD's response has no body, a CONNECT's 2xx ends HTTP) */
      if (peer->state == WEB_HTTP)
        xm_http_parser_expect_response (http_of (peer), head->method);
      if (websocket)
        check_subprotocol (w, head);
      return;
    }
  if (head->status == 101 || head->status >= 200)
    {
      /* a final response: to the oldest request without one */
      g_clear_pointer (&w->answering, pending_unref);
      w->answering = g_queue_pop_head (&peer->pending);
      w->keep_body = TRUE; /* a BOSH answer, if its request was BOSH */
      /* Only the upgrade's own answer decides what follows it; one to an
       * earlier pipelined request does not. */
      answers_upgrade = w->answering && w->answering->upgrade;
    }
  if (head->status == 101 && websocket)
    {
      check_subprotocol (w, head);
      check_deflate (w, head);
      /* The response's last byte is the last of HTTP this way. */
      xm_http_parser_stop (w->http);
      w->upgraded = TRUE;
      if (peer->state == WEB_AWAIT)
        {
          g_autoptr (GByteArray) held = g_steal_pointer (&peer->held);

          start_websocket (peer, held->len);
          xm_ws_reader_feed (peer->ws, held->data, held->len);
        }
      else
        peer->upgraded = TRUE; /* when its request is over */
    }
  else if (head->status == 101)
    {
      /* h2c or anything else but WebSocket: nothing here reads it */
      const char *upgrade = soup_message_headers_get_list (head->headers, "Upgrade");
      g_autoptr (GString) proto = g_string_new (upgrade ? NULL : "an unnamed protocol");

      if (upgrade)
        append_printable (proto, upgrade);
      xm_observer_note (w->flow->obs, XM_DIR_S2C, XM_NOTE_WARNING, "the server "
                        "switched this connection to %s, not WebSocket: the rest of "
                        "it is not decoded%s", proto->str,
                        xm_observer_still_forwarded (w->flow->obs));
      stop (peer);
      w->upgrade = FALSE;
    }
  else if (head->status >= 200 && peer->state == WEB_AWAIT && answers_upgrade)
    {
      /* The upgrade was refused: the client's bytes are HTTP again. */
      g_autoptr (GByteArray) held = g_steal_pointer (&peer->held);

      peer->state = WEB_HTTP;
      feed_http (peer, held->data, held->len);
    }
}

static void
on_http_body (const guint8 *data, gsize len, gpointer user_data)
{
  XmWebFlow *w = user_data;

  if (!w->keep_body)
    return;
  if (w->body == NULL)
    w->body = g_byte_array_new ();
  if (w->body->len + len > w->flow->obs->max_message)
    {
      xm_observer_note (w->flow->obs, w->flow->dir, XM_NOTE_WARNING,
                        "an HTTP body larger than %" G_GSIZE_FORMAT " bytes: "
                        "not decoded (see --max-stanza)%s", w->flow->obs->max_message,
                        xm_observer_still_forwarded (w->flow->obs));
      w->keep_body = FALSE;
      g_clear_pointer (&w->body, g_byte_array_unref);
      return;
    }
  g_byte_array_append (w->body, data, len);
}

static XmBosh *
bosh_of (XmObserver *obs)
{
  if (obs->bosh == NULL)
    {
      obs->bosh = xm_bosh_new ();
      obs->own_bosh = TRUE;
    }
  return obs->bosh;
}

/* A whole request or response: BOSH bodies go to their session. */
static void
bosh_message_end (XmWebFlow *w)
{
  XmObserver *obs = w->flow->obs;
  XmBoshVia via = { obs, obs->conn, w->flow->flags, obs->client };
  g_autoptr (GByteArray) body = g_steal_pointer (&w->body);
  gboolean kept = w->keep_body;

  w->keep_body = FALSE;
  if (w->flow->dir == XM_DIR_C2S)
    {
      g_autoptr (XmBoshAsk) ask = NULL;
      Pending *p = g_steal_pointer (&w->reading);

      if (kept && body && body->len)
        ask = xm_bosh_request (bosh_of (obs), &via, body->data, body->len);
      /* its response may have begun already: it is in time when it ends */
      if (p && p->refs > 1)
        p->ask = g_steal_pointer (&ask);
      pending_unref (p);
      return;
    }
  if (w->answering)
    {
      Pending *p = g_steal_pointer (&w->answering);
      XmBoshAsk *ask = g_steal_pointer (&p->ask);

      if (ask && kept && body)
        xm_bosh_response (bosh_of (obs), &via, ask, body->data, body->len);
      else
        xm_bosh_ask_free (ask);
      pending_unref (p);
    }
}

static void
on_http_end (guint64 end, gpointer user_data)
{
  XmWebFlow *w = user_data;

  bosh_message_end (w);
  if (w->flow->dir == XM_DIR_C2S && w->upgrade)
    {
      /* What follows is frames if the answer is 101, HTTP if not. */
      xm_http_parser_stop (w->http);
      w->upgrade = FALSE;
      w->awaiting = !w->upgraded;
    }
  (void) end;
}

static void
on_http_problem (guint64 offset, gboolean fatal, const char *message,
                 gpointer user_data)
{
  reader_problem (user_data, "HTTP", offset, fatal, message);
}

static const XmHttpEvents http_events = {
  .head = on_http_head,
  .body = on_http_body,
  .message_end = on_http_end,
  .problem = on_http_problem,
};

/* w's HTTP reader, from the next byte of its direction on. */
static XmHttpParser *
http_of (XmWebFlow *w)
{
  if (w->http == NULL)
    {
      w->base = w->fed;
      w->http = xm_http_parser_new (w->flow->dir == XM_DIR_C2S ? XM_HTTP_REQUESTS
                                    : XM_HTTP_RESPONSES, &http_events, w);
      xm_http_parser_set_max_head (w->http, MIN (w->flow->obs->max_message,
                                                 XM_HTTP_DEFAULT_MAX_HEAD));
    }
  return w->http;
}

/* The client's bytes while its upgrade waits for an answer. */
static void
hold (XmWebFlow *w, const guint8 *data, gsize len)
{
  if (w->held->len + len > MAX_HELD)
    {
      xm_observer_note (w->flow->obs, w->flow->dir, XM_NOTE_WARNING,
                        "more than %d bytes from the client after its WebSocket "
                        "upgrade request and before the server's answer "
                        "(RFC 6455 §4.1: a client waits): decoding of this "
                        "direction stops%s", MAX_HELD,
                        xm_observer_still_forwarded (w->flow->obs));
      stop (w);
      return;
    }
  g_byte_array_append (w->held, data, len);
}

/* w's next bytes data[0..len) (w->fed counts them already) through the
 * HTTP reader, and what follows a stop: frames after an upgrade, held
 * bytes while the client's upgrade waits for its answer. */
static void
feed_http (XmWebFlow *w, const guint8 *data, gsize len)
{
  gsize n;

  if (w->state != WEB_HTTP || len == 0)
    return;
  if (w->http == NULL)
    {
      w->fed -= len;
      http_of (w);
      w->fed += len;
    }
  n = xm_http_parser_feed (w->http, data, len);
  if (!xm_http_parser_stopped (w->http))
    return;
  data += n;
  len -= n;
  if (w->upgraded)
    {
      start_websocket (w, len);
      xm_ws_reader_feed (w->ws, data, len);
    }
  else if (w->awaiting)
    {
      g_clear_pointer (&w->http, xm_http_parser_free);
      w->awaiting = FALSE;
      w->state = WEB_AWAIT;
      w->held = g_byte_array_new ();
      hold (w, data, len);
    }
  else
    stop (w); /* a fatal problem, said */
}

/* ---- the flows ---- */

void
xm_web_start (XmObserver *obs)
{
  for (int i = 0; i < 2; i++)
    {
      XmWebFlow *w = g_new0 (XmWebFlow, 1);

      w->flow = &obs->flow[i];
      w->state = WEB_HTTP;
      obs->flow[i].web = w;
    }
}

void
xm_web_feed (Flow *f, const guint8 *data, gsize len)
{
  XmWebFlow *w = f->web;

  w->fed += len;
  switch (w->state)
    {
    case WEB_HTTP:
      feed_http (w, data, len);
      break;
    case WEB_AWAIT:
      hold (w, data, len);
      break;
    case WEB_WS:
      xm_ws_reader_feed (w->ws, data, len);
      break;
    case WEB_STOPPED:
      break;
    }
}

void
xm_web_finish (Flow *f)
{
  XmWebFlow *w = f->web;

  if (w->state == WEB_HTTP && w->http)
    xm_http_parser_finish (w->http);
}

void
xm_web_flow_free (XmWebFlow *w)
{
  if (w == NULL)
    return;
  g_clear_pointer (&w->http, xm_http_parser_free);
  g_clear_pointer (&w->ws, xm_ws_reader_free);
  g_clear_pointer (&w->held, g_byte_array_unref);
  g_clear_pointer (&w->body, g_byte_array_unref);
  g_queue_clear_full (&w->pending, (GDestroyNotify) pending_unref);
  g_clear_pointer (&w->reading, pending_unref);
  g_clear_pointer (&w->answering, pending_unref);
  g_free (w);
}
