/* serve-bosh.c: `xmitm replay --serve` to a BOSH client (XEP-0124,
 * XEP-0206). The client's requests come over HTTP connections (carriers:
 * accepted connections whose first bytes were a POST) that come and go;
 * each request's body names its session by sid. A session is a Conn of
 * its own whose leg has no socket, only the connection manager's layer
 * (stream/layer-bosh-serve.h): the carriers hand it their requests and it
 * answers on them. Carriers are not clients: nothing is counted or timed
 * out for them. */
#include "config.h"

#include <string.h>

#include "layer-bosh-serve.h"
#include "replay-private.h"

/* A request body larger than this is refused (413): a client's bodies
 * hold a few stanzas. */
#define MAX_REQUEST_BODY (1u << 20)

static void
refuse (Conn *c, const char *status, const char *why)
{
  xm_bosh_http_answer (c->leg, status, why, strlen (why));
  if (c->r->opts->verbose)
    xm_replay_say (c->r, "%s: %s", c->label, why);
}

static void
on_head (const XmHttpHead *head, gpointer data)
{
  Conn *c = data;

  c->http_post = strcmp (head->method, "POST") == 0;
  if (strcmp (head->method, "OPTIONS") == 0)
    {
      /* a browser's CORS preflight before its POSTs */
      static const char ok[] = "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\n"
        "Access-Control-Allow-Methods: POST, OPTIONS\r\nAccess-Control-Allow-Headers: "
        "Content-Type\r\nContent-Length: 0\r\n\r\n";
      xm_leg_send (c->leg, (const guint8 *) ok, sizeof ok - 1);
      return;
    }
  if (!c->http_post)
    {
      refuse (c, "405 Method Not Allowed", "replay --serve takes BOSH POSTs here");
      return;
    }
  if (head->content_length > (gint64) MAX_REQUEST_BODY)
    {
      refuse (c, "413 Content Too Large", "a BOSH request body over 1 MiB");
      c->http_post = FALSE;
      return;
    }
  c->http_body = g_byte_array_new ();
}

static void
on_body (const guint8 *data, gsize len, gpointer user_data)
{
  Conn *c = user_data;

  if (c->http_body == NULL)
    return;
  if (c->http_body->len + len > MAX_REQUEST_BODY)
    {
      refuse (c, "413 Content Too Large", "a BOSH request body over 1 MiB");
      g_clear_pointer (&c->http_body, g_byte_array_unref);
      c->http_post = FALSE;
      return;
    }
  g_byte_array_append (c->http_body, data, len);
}

/* A whole request: to its session, or a new one. */
static void
dispatch (Conn *c, GByteArray *body)
{
  Replay *r = c->r;
  g_autofree char *sid = NULL;
  Conn *s;

  if (!xm_bosh_body_sid (body->data, body->len, &sid))
    {
      refuse (c, "400 Bad Request", "the request is not a BOSH <body/> (XEP-0124 §4)");
      return;
    }
  if (r->bosh_sessions == NULL)
    r->bosh_sessions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (sid == NULL)
    {
      s = xm_serve_new_bosh_session (r, c->peer);
      g_hash_table_insert (r->bosh_sessions,
                           g_strdup (xm_layer_bosh_serve_sid (xm_leg_find (
                             s->leg, &xm_layer_bosh_serve_class))), s);
    }
  else if ((s = g_hash_table_lookup (r->bosh_sessions, sid)) == NULL)
    {
      static const char gone[] = "<body xmlns='http://jabber.org/protocol/httpbind' "
                                 "type='terminate' condition='item-not-found'/>";
      xm_bosh_http_answer (c->leg, "404 Not Found", gone, sizeof gone - 1);
      xm_replay_say (r, "%s: a BOSH request for session '%s', which is not one of "
                     "replay's", c->label, sid);
      return;
    }
  xm_layer_bosh_serve_request (xm_leg_find (s->leg, &xm_layer_bosh_serve_class),
                               c->leg, body->data, body->len);
}

static void
on_end (guint64 end, gpointer data)
{
  Conn *c = data;
  g_autoptr (GByteArray) body = g_steal_pointer (&c->http_body);

  /* a request read after its connection closed (pipelined behind one
   * whose answer failed to go) has nowhere to be answered: not taken */
  if (c->http_post && body && c->state != NEG_CLOSED)
    dispatch (c, body);
  c->http_post = FALSE;
}

static void
on_problem (guint64 offset, gboolean fatal, const char *message, gpointer data)
{
  Conn *c = data;

  if (fatal)
    {
      refuse (c, "400 Bad Request", message);
      xm_leg_shutdown (c->leg);
    }
}

static const XmHttpEvents http_events = {
  .head = on_head,
  .body = on_body,
  .message_end = on_end,
  .problem = on_problem,
};

void
xm_serve_bosh_carrier (Conn *c)
{
  c->bosh_carrier = TRUE;
  c->http = xm_http_parser_new (XM_HTTP_REQUESTS, &http_events, c);
  g_free (c->label);
  c->label = g_strdup_printf ("HTTP connection %s", c->peer);
}

/* Frees the carriers that closed: a long session over clients that open a
 * connection per request would otherwise keep every one (2.4 KB each)
 * until the end. From an idle source, outside their legs' callbacks. */
static gboolean
reap_carriers (gpointer data)
{
  Replay *r = data;
  guint kept = 0;

  r->reap_carriers = 0;
  for (guint k = 0; k < r->conns->len; k++)
    {
      Conn *c = r->conns->pdata[k];

      if (c->bosh_carrier && c->state == NEG_CLOSED)
        xm_conn_free (c);
      else
        r->conns->pdata[kept++] = c;
    }
  /* (the array's free function must not see the ones freed above) */
  r->conns->len = kept;
  return G_SOURCE_REMOVE;
}

void
xm_serve_bosh_carrier_closed (Conn *c)
{
  Replay *r = c->r;
  GHashTableIter it;
  gpointer value;

  if (r->bosh_sessions)
    {
      g_hash_table_iter_init (&it, r->bosh_sessions);
      while (g_hash_table_iter_next (&it, NULL, &value))
        {
          Conn *s = value;
          XmLayer *layer = s->leg ? xm_leg_find (s->leg, &xm_layer_bosh_serve_class) : NULL;

          if (layer)
            xm_layer_bosh_serve_forget (layer, c->leg);
        }
    }
  if (r->reap_carriers == 0)
    r->reap_carriers = g_idle_add (reap_carriers, r);
}

void
xm_serve_bosh_feed (Conn *c, const guint8 *data, gsize len)
{
  if (!xm_http_parser_stopped (c->http))
    xm_http_parser_feed (c->http, data, len);
}
