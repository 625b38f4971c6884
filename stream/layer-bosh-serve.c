/* layer-bosh-serve.c: see layer-bosh-serve.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "layer-bosh-serve.h"
#include "leg.h"
#include "xml-framer.h"

#define NS_HTTPBIND "http://jabber.org/protocol/httpbind"
#define NS_XBOSH "urn:xmpp:xbosh"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define STREAM_CLOSE "</stream:stream>"
/* Requests that came before an earlier rid: a client has two in flight. */
#define MAX_WAITING 8

typedef struct {
  guint64 rid;
  XmLeg *carrier;
  GBytes *body;
} Req;

typedef struct {
  guint64 rid;
  XmLeg *carrier;
} Held;

typedef struct {
  XmLayer base;
  char *sid;
  guint wait_s;
  guint64 next_rid;       /* 0: the session is not created yet */
  GQueue waiting;         /* Req*, by rid: ahead of next_rid */
  GQueue held;            /* Held*, oldest first */
  GByteArray *out;        /* the owner's elements for the next response */
  char *authid, *from;    /* from the owner's stream header, escaped */
  gboolean created;       /* the creation response went out */
  gboolean close_due;     /* the owner closed its stream */
  gboolean client_terminated;
  gboolean ended;
  guint timer;
  /* the body being read */
  XmFramer *framer;
  GByteArray *children;
  gboolean root_ok, restart, terminate;
  char *to;
  guint64 root_wait;
} Serve;

/* A body's start tag, for the owner's lookup and the rid order. */
typedef struct {
  gboolean seen;
  gboolean body;
  char *sid;
  guint64 rid;
} Peek;

static guint64 body_rid (const guint8 *body, gsize len);

static Serve *
serve_of (XmLayer *layer)
{
  return (Serve *) layer;
}

static gboolean
alive (Serve *s)
{
  return s->base.leg && xm_leg_alive (s->base.leg);
}

void
xm_bosh_http_answer (XmLeg *carrier, const char *status, const char *body, gsize len)
{
  g_autoptr (GString) r = g_string_new (NULL);

  /* Access-Control-Allow-Origin: web clients run from other origins */
  g_string_append_printf (r, "HTTP/1.1 %s\r\nContent-Type: text/xml; charset=utf-8\r\n"
                          "Access-Control-Allow-Origin: *\r\nContent-Length: %zu\r\n\r\n",
                          status, len);
  g_string_append_len (r, body, len);
  if (carrier && xm_leg_alive (carrier))
    xm_leg_send (carrier, (const guint8 *) r->str, r->len);
}

/* ---- answers ---- */

static gboolean on_timer (gpointer data);

static void
answer_held (Serve *s, Held *h, gboolean terminate)
{
  g_autoptr (GString) b = g_string_new ("<body xmlns='" NS_HTTPBIND "' "
                                        "xmlns:stream='" NS_STREAMS "'");

  if (!s->created)
    {
      /* XEP-0124 §7.2, XEP-0206 §3 */
      s->created = TRUE;
      g_string_append_printf (b, " sid='%s' wait='%u' requests='2' hold='1' ver='1.6' "
                              "xmpp:version='1.0' xmlns:xmpp='" NS_XBOSH "'",
                              s->sid, s->wait_s);
      if (s->authid)
        g_string_append_printf (b, " authid='%s'", s->authid);
      if (s->from)
        g_string_append_printf (b, " from='%s'", s->from);
    }
  if (terminate)
    {
      g_string_append (b, " type='terminate'");
      s->ended = TRUE; /* later requests get item-not-found */
    }
  if (s->out->len)
    {
      g_string_append_c (b, '>');
      g_string_append_len (b, (const char *) s->out->data, s->out->len);
      g_string_append (b, "</body>");
      g_byte_array_set_size (s->out, 0);
    }
  else
    g_string_append (b, "/>");
  xm_bosh_http_answer (h->carrier, "200 OK", b->str, b->len);
  g_free (h);
}

/* Answers what can be answered: the oldest held request when there is
 * something to send or a newer one is held (hold='1'), all of them at the
 * end of the session; expired says the oldest's wait is over. */
static void
respond (Serve *s, gboolean expired)
{
  while (s->held.head)
    {
      gboolean end = s->close_due;
      gboolean header_out = s->created || s->authid != NULL;

      if (!(end || expired || g_queue_get_length (&s->held) > 1
            || (s->out->len > 0 && header_out && !s->client_terminated)))
        break;
      expired = FALSE;
      {
        Held *h = g_queue_pop_head (&s->held);
        gboolean last = s->held.head == NULL;
        /* the session ends with the last request when either side ended */
        answer_held (s, h, last && (end || s->client_terminated));
      }
    }
  if (s->timer)
    {
      g_source_remove (s->timer);
      s->timer = 0;
    }
  if (s->held.head && !s->ended)
    s->timer = g_timeout_add_seconds (s->wait_s, on_timer, s);
}

static gboolean
on_timer (gpointer data)
{
  Serve *s = data;

  s->timer = 0;
  respond (s, TRUE);
  return G_SOURCE_REMOVE;
}

/* ---- requests ---- */

static void
on_body_open (XmStanza *header, gpointer data)
{
  Serve *s = data;
  const XmNode *body = header->root;
  const char *wait = xm_node_attr (body, "wait");

  s->root_ok = xm_node_is (body, NS_HTTPBIND, "body");
  s->restart = g_strcmp0 (xm_node_attr_ns (body, NS_XBOSH, "restart"), "true") == 0;
  s->terminate = g_strcmp0 (xm_node_attr (body, "type"), "terminate") == 0;
  g_free (s->to);
  s->to = g_strdup (xm_node_attr (body, "to"));
  s->root_wait = wait ? g_ascii_strtoull (wait, NULL, 10) : 0;
}

static void
on_body_child (XmStanza *st, gpointer data)
{
  Serve *s = data;

  if (st->raw)
    g_byte_array_append (s->children, st->raw, st->raw_len);
}

static const XmFramerEvents body_events = {
  .stream_open = on_body_open,
  .stanza = on_body_child,
};

static void
up_str (Serve *s, const char *str)
{
  if (alive (s))
    xm_layer_up (&s->base, (const guint8 *) str, strlen (str));
}

/* The client's stream opens (creation, restart): a header for the owner. */
static void
up_header (Serve *s)
{
  g_autofree char *to = s->to ? g_markup_escape_text (s->to, -1) : NULL;
  g_autofree char *h = g_strdup_printf ("<stream:stream xmlns='jabber:client' "
                                        "xmlns:stream='" NS_STREAMS "' version='1.0'"
                                        "%s%s%s>", to ? " to='" : "", to ? to : "",
                                        to ? "'" : "");
  up_str (s, h);
}

static void
take (Serve *s, Req *r)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (r->body, &len);
  Held *h = g_new0 (Held, 1);
  gboolean creation = s->next_rid == 0;

  s->root_ok = FALSE;
  g_byte_array_set_size (s->children, 0);
  xm_framer_reset (s->framer);
  xm_framer_feed (s->framer, data, len);
  if (!s->root_ok)
    {
      xm_bosh_http_answer (r->carrier, "400 Bad Request", "", 0);
      xm_leg_fail (s->base.leg, &s->base,
                   g_error_new (XM_LEG_ERROR, XM_LEG_ERROR_LAYER, "BOSH: the client's "
                                "request rid %" G_GUINT64_FORMAT " is not a <body/> in "
                                "the namespace " NS_HTTPBIND, r->rid));
      g_free (h);
      return;
    }
  s->next_rid = r->rid + 1;
  /* held first: what the owner answers while reading it goes in it */
  h->rid = r->rid;
  h->carrier = r->carrier;
  if (h->carrier)
    g_queue_push_tail (&s->held, h);
  else
    g_free (h); /* its connection closed while it waited: read, not held */
  if (creation)
    s->wait_s = s->root_wait ? (guint) MIN (s->root_wait, XM_LAYER_BOSH_SERVE_MAX_WAIT_S)
                             : XM_LAYER_BOSH_SERVE_MAX_WAIT_S;
  if (creation || s->restart)
    up_header (s);
  if (s->children->len && alive (s))
    {
      g_autoptr (GByteArray) c = g_byte_array_new ();
      g_byte_array_append (c, s->children->data, s->children->len);
      xm_layer_up (&s->base, c->data, c->len);
    }
  if (s->terminate && alive (s))
    {
      s->client_terminated = TRUE;
      up_str (s, STREAM_CLOSE);
    }
  if (alive (s))
    respond (s, FALSE);
}

void
xm_layer_bosh_serve_forget (XmLayer *layer, XmLeg *carrier)
{
  Serve *s = serve_of (layer);

  /* a held request on a closed connection answers nothing: what the owner
   * sends goes in the next one the client makes */
  for (GList *l = s->held.head, *next; l; l = next)
    {
      next = l->next;
      if (((Held *) l->data)->carrier == carrier)
        {
          g_free (l->data);
          g_queue_delete_link (&s->held, l);
        }
    }
  if (s->held.head == NULL && s->timer)
    {
      g_source_remove (s->timer);
      s->timer = 0;
    }
  /* one waiting for an earlier rid is still read in its turn */
  for (GList *l = s->waiting.head; l; l = l->next)
    if (((Req *) l->data)->carrier == carrier)
      ((Req *) l->data)->carrier = NULL;
}

void
xm_layer_bosh_serve_request (XmLayer *layer, XmLeg *carrier, const guint8 *body, gsize len)
{
  Serve *s = serve_of (layer);
  Req *r = g_new0 (Req, 1);
  GList *l;

  if (!alive (s) || s->ended)
    {
      g_autofree char *b = g_strdup ("<body xmlns='" NS_HTTPBIND "' type='terminate' "
                                     "condition='item-not-found'/>");
      xm_bosh_http_answer (carrier, "404 Not Found", b, strlen (b));
      g_free (r);
      return;
    }
  /* the rid, for the order (take() reads the rest) */
  r->rid = body_rid (body, len);
  if (r->rid == 0)
    {
      xm_bosh_http_answer (carrier, "400 Bad Request", "", 0);
      xm_leg_fail (s->base.leg, &s->base,
                   g_error_new (XM_LEG_ERROR, XM_LEG_ERROR_LAYER, "BOSH: the client's "
                                "request has no rid from 1 to 2^53-1 (XEP-0124 §14.1)"));
      g_free (r);
      return;
    }
  /* a closed carrier may be freed soon (replay frees closed ones): its
   * request is read in turn, and answered nowhere */
  r->carrier = xm_leg_alive (carrier) ? carrier : NULL;
  r->body = g_bytes_new (body, len);
  if (s->next_rid && r->rid < s->next_rid)
    {
      /* a retransmission (XEP-0124 §14.3) or garbage: answered empty */
      xm_bosh_http_answer (carrier, "200 OK", "<body xmlns='" NS_HTTPBIND "'/>",
                           strlen ("<body xmlns='" NS_HTTPBIND "'/>"));
      g_bytes_unref (r->body);
      g_free (r);
      return;
    }
  for (l = s->waiting.head; l && ((Req *) l->data)->rid < r->rid; l = l->next)
    ;
  g_queue_insert_before (&s->waiting, l, r);
  if (g_queue_get_length (&s->waiting) > MAX_WAITING)
    {
      xm_leg_fail (s->base.leg, &s->base,
                   g_error_new (XM_LEG_ERROR, XM_LEG_ERROR_LAYER, "BOSH: rid %"
                                G_GUINT64_FORMAT " never came (XEP-0124 §14.1)",
                                s->next_rid));
      return;
    }
  while (alive (s) && s->waiting.head
         && (s->next_rid == 0 || ((Req *) s->waiting.head->data)->rid == s->next_rid))
    {
      Req *next = g_queue_pop_head (&s->waiting);
      take (s, next);
      g_bytes_unref (next->body);
      g_free (next);
    }
}

/* ---- from above ---- */

/* The value of attribute name in a start tag serve.c wrote ('...'), as
 * written (escaped). */
static char *
header_attr (const guint8 *data, gsize len, const char *name)
{
  g_autofree char *pat = g_strdup_printf (" %s='", name);
  g_autofree char *head = g_strndup ((const char *) data, len);
  const char *at = strstr (head, pat), *end;

  if (at == NULL)
    return NULL;
  at += strlen (pat);
  end = strchr (at, '\'');
  return end ? g_strndup (at, end - at) : NULL;
}

static gboolean
starts (const guint8 *data, gsize len, const char *prefix)
{
  gsize n = strlen (prefix);
  return len >= n && memcmp (data, prefix, n) == 0;
}

static void
serve_from_above (XmLayer *layer, const guint8 *data, gsize len)
{
  Serve *s = serve_of (layer);
  gsize n = strlen (STREAM_CLOSE);

  if (s->ended)
    return;
  if (starts (data, len, "<?xml") || starts (data, len, "<stream:stream"))
    {
      /* the stream header: its id and from are the session's; a BOSH
       * response has no header of its own (a restart's neither) */
      if (s->authid == NULL)
        {
          s->authid = header_attr (data, len, "id");
          s->from = header_attr (data, len, "from");
        }
      return;
    }
  if (len >= n && memcmp (data + len - n, STREAM_CLOSE, n) == 0)
    {
      s->close_due = TRUE;
      len -= n;
    }
  g_byte_array_append (s->out, data, len);
  respond (s, FALSE);
}

static gsize
serve_pending (XmLayer *layer)
{
  return serve_of (layer)->out->len;
}

static void
serve_close (XmLayer *layer)
{
  Serve *s = serve_of (layer);

  /* the session is over: what is held is answered with its end */
  if (!s->ended)
    {
      s->close_due = TRUE;
      respond (s, FALSE);
      s->ended = TRUE;
    }
  if (s->timer)
    {
      g_source_remove (s->timer);
      s->timer = 0;
    }
}

static void
req_free (Req *r)
{
  g_bytes_unref (r->body);
  g_free (r);
}

static void
serve_free (XmLayer *layer)
{
  Serve *s = serve_of (layer);

  if (s->timer)
    g_source_remove (s->timer);
  g_queue_clear_full (&s->waiting, (GDestroyNotify) req_free);
  g_queue_clear_full (&s->held, g_free);
  g_byte_array_unref (s->out);
  g_byte_array_unref (s->children);
  xm_framer_free (s->framer);
  g_free (s->sid);
  g_free (s->authid);
  g_free (s->from);
  g_free (s->to);
  g_free (s);
}

const XmLayerClass xm_layer_bosh_serve_class = {
  .name = "bosh",
  .from_above = serve_from_above,
  .pending = serve_pending,
  .close = serve_close,
  .free = serve_free,
};

XmLayer *
xm_layer_bosh_serve_new (void)
{
  Serve *s = g_new0 (Serve, 1);

  s->base.klass = &xm_layer_bosh_serve_class;
  s->sid = g_uuid_string_random ();
  s->wait_s = XM_LAYER_BOSH_SERVE_MAX_WAIT_S;
  g_queue_init (&s->waiting);
  g_queue_init (&s->held);
  s->out = g_byte_array_new ();
  s->children = g_byte_array_new ();
  s->framer = xm_framer_new (&body_events, s);
  return &s->base;
}

const char *
xm_layer_bosh_serve_sid (XmLayer *layer)
{
  return serve_of (layer)->sid;
}

/* ---- a body's sid, for the owner's lookup ---- */

/* XEP-0124 §14.1: a rid is a positive integer below 2^53; 0 for anything
 * else (none, not a number, larger), which no request may carry: one
 * near 2^64 would wrap the next expected rid round to 0, a session not
 * created yet. */
static guint64
rid_value (const char *rid)
{
  guint64 v = 0;

  if (rid == NULL || *rid == '\0')
    return 0;
  for (const char *p = rid; *p; p++)
    {
      if (!g_ascii_isdigit (*p) || v > XM_BOSH_MAX_RID / 10)
        return 0;
      v = v * 10 + (guint64) (*p - '0');
    }
  return v <= XM_BOSH_MAX_RID ? v : 0;
}

static void
peek_open (XmStanza *header, gpointer data)
{
  Peek *p = data;
  const char *rid = xm_node_attr (header->root, "rid");

  if (p->seen)
    return; /* bytes after the body start another document: not its */
  p->seen = TRUE;
  p->body = xm_node_is (header->root, NS_HTTPBIND, "body");
  p->sid = g_strdup (xm_node_attr (header->root, "sid"));
  p->rid = rid_value (rid);
}

/* Reads body's start tag (the framer's first event is the root's). */
static void
peek (const guint8 *body, gsize len, Peek *p)
{
  static const XmFramerEvents events = { .stream_open = peek_open };
  g_autoptr (XmFramer) f = xm_framer_new (&events, p);

  xm_framer_feed (f, body, len);
}

static guint64
body_rid (const guint8 *body, gsize len)
{
  Peek p = { FALSE, FALSE, NULL, 0 };

  peek (body, len, &p);
  g_free (p.sid);
  return p.rid;
}

gboolean
xm_bosh_body_sid (const guint8 *body, gsize len, char **sid)
{
  Peek p = { FALSE, FALSE, NULL, 0 };

  peek (body, len, &p);
  *sid = p.sid;
  if (!p.body)
    g_clear_pointer (sid, g_free);
  return p.body;
}
