/* layer-ws.c: see layer-ws.h. */
#include "config.h"

#include <string.h>

#include "http-msg.h"
#include "layer-ws.h"
#include "leg.h"
#include "ws-frame.h"

typedef struct {
  XmLayer base;
  gboolean server;     /* --serve: we answer the upgrade */
  char *host;
  char *path;
  char *key;           /* Sec-WebSocket-Key, base64 of 16 random bytes */
  XmHttpParser *http;  /* the server's answer, until the upgrade */
  XmWsReader *ws;      /* then its frames */
  gboolean upgraded;
  gboolean closed;     /* a close frame went out */
  GPtrArray *waiting;  /* GBytes*: messages sent before the upgrade */
  gsize waiting_len;
  char *refused;       /* why the answer is not an upgrade */
} WsLayer;

static WsLayer *
ws_of (XmLayer *layer)
{
  return (WsLayer *) layer;
}

static void
fail (WsLayer *w, const char *message)
{
  xm_leg_fail (w->base.leg, &w->base,
               g_error_new (XM_LEG_ERROR, XM_LEG_ERROR_LAYER, "WebSocket: %s", message));
}

/* One frame of ours: a client masks every frame, a server none (RFC 6455
 * §5.1, §5.3). */
static void
send_frame (WsLayer *w, guint8 opcode, const guint8 *data, gsize len)
{
  g_autoptr (GByteArray) frame = g_byte_array_sized_new (len + 14);
  guint32 mask = g_random_int ();

  xm_ws_frame_append (frame, opcode, TRUE, w->server ? NULL : (const guint8 *) &mask,
                      data, len);
  xm_layer_down (&w->base, frame->data, frame->len);
}

/* ---- the upgrade ---- */

static void
ws_start (XmLayer *layer)
{
  WsLayer *w = ws_of (layer);

  if (w->server)
    return; /* the client asks first */
  guint8 nonce[16];
  g_autofree char *request = NULL;

  for (guint i = 0; i < sizeof nonce; i += 4)
    {
      guint32 r = g_random_int ();
      memcpy (nonce + i, &r, 4);
    }
  w->key = g_base64_encode (nonce, sizeof nonce);
  request = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                             "Sec-WebSocket-Version: 13\r\n"
                             "Sec-WebSocket-Protocol: xmpp\r\n\r\n",
                             w->path, w->host, w->key);
  xm_layer_down (layer, (const guint8 *) request, strlen (request));
}

static void
on_head (const XmHttpHead *head, gpointer user_data)
{
  WsLayer *w = user_data;

  if (w->server)
    {
      /* --serve: the client's request (RFC 6455 §4.2.1, RFC 7395 §3.1) */
      const char *key = soup_message_headers_get_one (head->headers, "Sec-WebSocket-Key");

      if (strcmp (head->method, "GET") != 0
          || !soup_message_headers_header_contains (head->headers, "Upgrade", "websocket"))
        w->refused = g_strdup_printf ("the client's first request is %s %s, not a "
                                      "WebSocket upgrade", head->method, head->path);
      else if (key == NULL)
        w->refused = g_strdup ("the client's upgrade request has no Sec-WebSocket-Key "
                               "(RFC 6455 §4.1)");
      else if (!soup_message_headers_header_contains (head->headers,
                                                      "Sec-WebSocket-Protocol", "xmpp"))
        w->refused = g_strdup ("the client's upgrade request does not ask for the "
                               "'xmpp' subprotocol (RFC 7395 §3.1)");
      else
        w->key = g_strdup (key);
      return; /* the request ends (no body): on_end */
    }
  if (head->status >= 100 && head->status < 200 && head->status != 101)
    return; /* interim (100 Continue, 103): the answer is still to come */
  g_autofree char *accept = xm_ws_accept_key (w->key);
  const char *got = soup_message_headers_get_one (head->headers, "Sec-WebSocket-Accept");
  const char *proto = soup_message_headers_get_one (head->headers, "Sec-WebSocket-Protocol");

  if (head->status != 101)
    w->refused = g_strdup_printf ("the server answered the upgrade to %s with %u %s, "
                                  "not 101 (is it the server's WebSocket endpoint?)",
                                  w->path, head->status, head->reason ? head->reason : "");
  else if (!soup_message_headers_header_contains (head->headers, "Upgrade", "websocket"))
    w->refused = g_strdup ("the server's 101 does not upgrade to websocket");
  else if (g_strcmp0 (got, accept) != 0)
    w->refused = g_strdup_printf ("the server's Sec-WebSocket-Accept is %s, not %s "
                                  "(RFC 6455 §4.1)", got ? got : "missing", accept);
  else if (g_strcmp0 (proto, "xmpp") != 0)
    w->refused = g_strdup_printf ("the server did not select the 'xmpp' subprotocol "
                                  "(Sec-WebSocket-Protocol: %s; RFC 7395 §3.1)",
                                  proto ? proto : "none");
  xm_http_parser_stop (w->http);
}

static void
on_http_problem (guint64 offset, gboolean fatal, const char *message, gpointer user_data)
{
  WsLayer *w = user_data;

  if (fatal && w->refused == NULL)
    w->refused = g_strdup_printf ("the server's answer to the upgrade is not HTTP: %s",
                                  message);
}

static void
on_end (guint64 end, gpointer user_data)
{
  WsLayer *w = user_data;

  if (w->server)
    xm_http_parser_stop (w->http);
}

static const XmHttpEvents http_events = {
  .head = on_head,
  .message_end = on_end,
  .problem = on_http_problem,
};

/* --serve: the answer to the client's request. */
static void
answer_upgrade (WsLayer *w)
{
  g_autofree char *reply = NULL;

  if (w->refused)
    reply = g_strdup_printf ("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                             strlen (w->refused) + 1, w->refused);
  else
    {
      g_autofree char *accept = xm_ws_accept_key (w->key);
      reply = g_strdup_printf ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                               "Sec-WebSocket-Protocol: xmpp\r\n\r\n", accept);
    }
  xm_layer_down (&w->base, (const guint8 *) reply, strlen (reply));
}

/* ---- frames ---- */

static void
on_message (guint8 opcode, const guint8 *data, gsize len, guint64 offset,
            guint64 end, guint n_frames, gpointer user_data)
{
  WsLayer *w = user_data;

  if (opcode == XM_WS_PING && !w->closed)
    send_frame (w, XM_WS_PONG, data, len);
  else if (opcode == XM_WS_TEXT || opcode == XM_WS_BINARY)
    xm_layer_up (&w->base, data, len);
}

static void
on_close (guint code, const char *reason, guint64 offset, gpointer user_data)
{
  WsLayer *w = user_data;

  if (!w->closed)
    {
      /* RFC 6455 §5.5.1: answer with a close (echoing the code). */
      guint8 body[2] = { code >> 8, code & 0xff };
      w->closed = TRUE;
      send_frame (w, XM_WS_CLOSE, body, code ? 2 : 0);
    }
  xm_leg_layer_eof (w->base.leg, &w->base);
}

static void
on_ws_problem (guint64 offset, gboolean fatal, const char *message, gpointer user_data)
{
  WsLayer *w = user_data;

  if (fatal)
    fail (w, message);
}

static const XmWsEvents ws_events = {
  .message = on_message,
  .close = on_close,
  .problem = on_ws_problem,
};

static void
upgraded (WsLayer *w)
{
  g_autoptr (GPtrArray) waiting = g_steal_pointer (&w->waiting);

  w->upgraded = TRUE;
  w->waiting_len = 0;
  g_clear_pointer (&w->http, xm_http_parser_free);
  w->ws = xm_ws_reader_new (w->server ? XM_WS_FROM_CLIENT : XM_WS_FROM_SERVER,
                            &ws_events, w);
  for (guint i = 0; i < waiting->len && xm_leg_alive (w->base.leg); i++)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (waiting->pdata[i], &len);
      send_frame (w, XM_WS_TEXT, data, len);
    }
  xm_leg_layer_settled (w->base.leg, &w->base);
}

static void
ws_from_below (XmLayer *layer, const guint8 *data, gsize len)
{
  WsLayer *w = ws_of (layer);

  if (!w->upgraded)
    {
      gsize n;

      if (!w->server && xm_http_parser_offset (w->http) == 0
          && memcmp (data, "HTTP/", MIN (len, (gsize) 5)) != 0)
        {
          /* not an HTTP server at all (an XMPP port?): say so now rather
           * than wait for a head that will not come */
          g_autofree char *start = g_strndup ((const char *) data, MIN (len, (gsize) 40));
          g_autofree char *shown = g_strescape (start, NULL);
          g_autofree char *why = g_strdup_printf ("the server's answer to the upgrade "
                                                  "is not HTTP (it starts with \"%s\")",
                                                  shown);
          fail (w, why);
          return;
        }
      n = xm_http_parser_feed (w->http, data, len);

      if (!xm_http_parser_stopped (w->http))
        return;
      if (w->server)
        answer_upgrade (w);
      if (w->refused)
        {
          fail (w, w->refused);
          return;
        }
      upgraded (w);
      if (!xm_leg_alive (layer->leg))
        return;
      data += n;
      len -= n;
    }
  if (len)
    xm_ws_reader_feed (w->ws, data, len);
}

/* Each send from above is one element: one message. */
static void
ws_from_above (XmLayer *layer, const guint8 *data, gsize len)
{
  WsLayer *w = ws_of (layer);

  if (w->closed)
    return;
  if (!w->upgraded)
    {
      g_ptr_array_add (w->waiting, g_bytes_new (data, len));
      w->waiting_len += len;
      return;
    }
  send_frame (w, XM_WS_TEXT, data, len);
}

static gsize
ws_pending (XmLayer *layer)
{
  return ws_of (layer)->waiting_len;
}

static gboolean
ws_busy (XmLayer *layer)
{
  return !ws_of (layer)->upgraded;
}

static void
ws_shutdown (XmLayer *layer)
{
  WsLayer *w = ws_of (layer);
  static const guint8 normal[2] = { 1000 >> 8, 1000 & 0xff };

  if (w->upgraded && !w->closed)
    {
      w->closed = TRUE;
      send_frame (w, XM_WS_CLOSE, normal, sizeof normal);
    }
}

static void
ws_free (XmLayer *layer)
{
  WsLayer *w = ws_of (layer);

  g_clear_pointer (&w->http, xm_http_parser_free);
  g_clear_pointer (&w->ws, xm_ws_reader_free);
  g_clear_pointer (&w->waiting, g_ptr_array_unref);
  g_free (w->refused);
  g_free (w->key);
  g_free (w->host);
  g_free (w->path);
  g_free (w);
}

const XmLayerClass xm_layer_ws_class = {
  .name = "websocket",
  .start = ws_start,
  .from_below = ws_from_below,
  .from_above = ws_from_above,
  .pending = ws_pending,
  .busy = ws_busy,
  .shutdown = ws_shutdown,
  .free = ws_free,
};

/* Either side: until the upgrade, an HTTP reader of what the other
 * side says (its request for a server, its answer for a client). */
static WsLayer *
ws_new (gboolean server)
{
  WsLayer *w = g_new0 (WsLayer, 1);

  w->base.klass = &xm_layer_ws_class;
  w->server = server;
  w->http = xm_http_parser_new (server ? XM_HTTP_REQUESTS : XM_HTTP_RESPONSES,
                                &http_events, w);
  w->waiting = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  return w;
}

XmLayer *
xm_layer_ws_new_server (void)
{
  return &ws_new (TRUE)->base;
}

XmLayer *
xm_layer_ws_new_client (const char *host, const char *path)
{
  WsLayer *w = ws_new (FALSE);

  w->host = g_strdup (host);
  w->path = g_strdup (path && *path ? path : "/xmpp-websocket");
  xm_http_parser_expect_response (w->http, "GET");
  return &w->base;
}
