/* bosh.c: see bosh.h. The sessions by sid, the rid order of requests, and
 * the events of a <body/> wrapper in a session's stream. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "bosh.h"
#include "observer-private.h"

#define NS_HTTPBIND "http://jabber.org/protocol/httpbind"
#define NS_XBOSH "urn:xmpp:xbosh"

/* Sessions kept: past it, the one least recently used goes. */
#define MAX_SESSIONS 1024
/* Request bodies held while an earlier rid has not come (XEP-0124 §14.1:
 * a client has at most 'requests' of them open; servers ask 2 to 5). */
#define MAX_HELD 8
/* XEP-0124 §14.1: a rid more than this far ahead is out of any window. */
#define MAX_WINDOW 16

/* What all sessions together may hold for rids that have not come: each
 * session holds at most MAX_HELD bodies, but a peer can open many
 * sessions (1,024 of 8 bodies of a megabyte each would be 8 GiB). */
#define MAX_HELD_BYTES (16u << 20)

typedef struct {
  XmBosh *bosh;
  guint64 rid;
  GBytes *body;
} Held;

typedef struct {
  XmBosh *bosh;
  char *sid;               /* NULL: a session that failed to start */
  guint number;            /* the connection that created it */
  XmObserver *obs;         /* the stream's own decoding */
  const XmBoshVia *via;    /* the connection delivering a body now */
  guint64 next_rid;        /* the rid expected next; 0: not known */
  GQueue held;             /* Held*, by rid */
  GList *link;             /* in XmBosh.order */
  gboolean terminated;
  char *client;            /* the address of the client that uses it */
  gboolean shared;         /* a second client used it: said once */
} Session;

typedef struct {
  XmStanza *root;
} Peek;

struct _XmBosh {
  GHashTable *by_sid;      /* sid -> Session* */
  GQueue order;            /* Session*, least recently used first */
  XmFramer *peek;          /* reads a body's start tag */
  gsize held_bytes;        /* all sessions' held bodies */
  Peek peeked;
};

struct _XmBoshAsk {
  char *sid;               /* NULL: a session creation request */
  guint64 rid;
  GBytes *creation;        /* the creation request's body, shown with its
                            * response (which names the session) */
  gboolean terminate;
};

/* ---- a body's root ---- */

static void
peek_open (XmStanza *header, gpointer user_data)
{
  Peek *p = user_data;
  if (p->root == NULL)
    p->root = xm_stanza_ref (header);
}

static const XmFramerEvents peek_events = { .stream_open = peek_open };

/* Where the first start tag of data ends (after its '>'), or len: only
 * the wrapper's start tag is needed to find the session, not its stanzas. */
static gsize
start_tag_end (const guint8 *data, gsize len)
{
  const guint8 *lt = memchr (data, '<', len);
  guint8 quote = 0;

  /* an XML declaration or whitespace may come first */
  while (lt && lt + 1 < data + len && lt[1] == '?')
    {
      const guint8 *q = memmem (lt, len - (lt - data), "?>", 2);
      lt = q ? memchr (q, '<', len - (q - data)) : NULL;
    }
  for (const guint8 *p = lt; p && p < data + len; p++)
    {
      if (quote)
        quote = *p == quote ? 0 : quote;
      else if (*p == '"' || *p == '\'')
        quote = *p;
      else if (*p == '>')
        return (gsize) (p + 1 - data);
    }
  return len;
}

/* The <body/> element of a wrapper (attributes, no children), or NULL if
 * the bytes do not start with one. */
static XmStanza *
body_root (XmBosh *b, const guint8 *data, gsize len)
{
  Peek p = { NULL };

  if (b->peek == NULL)
    b->peek = xm_framer_new (&peek_events, &b->peeked);
  b->peeked.root = NULL;
  xm_framer_reset (b->peek);
  xm_framer_feed (b->peek, data, start_tag_end (data, len));
  p = b->peeked;
  b->peeked.root = NULL;
  if (p.root && !xm_node_is (p.root->root, NS_HTTPBIND, "body"))
    g_clear_pointer (&p.root, xm_stanza_unref);
  return p.root;
}

static guint64
attr_u64 (const XmNode *el, const char *name)
{
  const char *v = xm_node_attr (el, name);
  char *end = NULL;
  guint64 n;

  if (v == NULL || !g_ascii_isdigit (*v))
    return 0;
  n = g_ascii_strtoull (v, &end, 10);
  return *end ? 0 : n;
}

/* ---- sessions ---- */

static void
session_emit (XmEvent *ev, gpointer user_data)
{
  Session *s = user_data;

  ev->session = s->number;
  ev->flags |= s->via->flags | XM_EVENT_FLAG_BOSH;
  xm_observer_emit (s->via->obs, ev);
}

static void
held_free (gpointer p)
{
  Held *h = p;
  h->bosh->held_bytes -= g_bytes_get_size (h->body);
  g_bytes_unref (h->body);
  g_free (h);
}

static void
session_free (Session *s)
{
  xm_observer_free (s->obs);
  g_queue_clear_full (&s->held, held_free);
  g_free (s->client);
  g_free (s->sid);
  g_free (s);
}

static Session *
session_new (XmBosh *b, const char *sid, const XmBoshVia *via)
{
  Session *s = g_new0 (Session, 1);

  s->bosh = b;
  s->sid = g_strdup (sid);
  s->number = via->conn;
  s->client = g_strdup (via->client);
  s->obs = xm_observer_new (session_emit, s);
  xm_observer_bosh_flows (s->obs, via->obs);
  if (sid == NULL)
    return s;
  if (g_queue_get_length (&b->order) >= MAX_SESSIONS)
    {
      Session *old = g_queue_pop_head (&b->order);
      g_hash_table_remove (b->by_sid, old->sid);
      session_free (old);
    }
  g_queue_push_tail (&b->order, s);
  s->link = b->order.tail;
  g_hash_table_insert (b->by_sid, s->sid, s);
  return s;
}

static void
session_drop (Session *s)
{
  XmBosh *b = s->bosh;

  if (s->sid)
    {
      g_queue_delete_link (&b->order, s->link);
      g_hash_table_remove (b->by_sid, s->sid);
    }
  session_free (s);
}

static Session *
session_find (XmBosh *b, const char *sid)
{
  Session *s = g_hash_table_lookup (b->by_sid, sid);

  if (s)
    {
      /* most recently used last */
      g_queue_unlink (&b->order, s->link);
      g_queue_push_tail_link (&b->order, s->link);
    }
  return s;
}

static void
session_note (Session *s, const XmBoshVia *via, XmDir dir, XmNoteLevel level,
              const char *fmt, ...) G_GNUC_PRINTF (5, 6);

static void
session_note (Session *s, const XmBoshVia *via, XmDir dir, XmNoteLevel level,
              const char *fmt, ...)
{
  g_autofree char *text = NULL;
  XmEvent ev = { .kind = XM_EVENT_NOTE, .dir = dir, .level = level };
  va_list ap;

  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  ev.text = text;
  s->via = via;
  session_emit (&ev, s);
}

/* One body of direction dir through the session's stream. */
static void
decode_body (Session *s, const XmBoshVia *via, XmDir dir, GBytes *body)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (body, &len);

  s->via = via;
  xm_observer_bosh_body (s->obs, dir, data, len);
}

/* Requests go through in rid order; a later one waits (bounded) for the
 * ones before it. */
static void
take_request (Session *s, const XmBoshVia *via, guint64 rid, GBytes *body)
{
  if (rid == 0 || s->next_rid == 0)
    {
      if (rid)
        s->next_rid = rid + 1;
      decode_body (s, via, XM_DIR_C2S, body);
      return;
    }
  if (rid < s->next_rid)
    {
      session_note (s, via, XM_DIR_C2S, XM_NOTE_INFO, "BOSH: rid %" G_GUINT64_FORMAT
                    " again: a retransmission (XEP-0124 §14.3); its stanzas were "
                    "shown the first time", rid);
      return;
    }
  if (rid > s->next_rid + MAX_WINDOW)
    {
      session_note (s, via, XM_DIR_C2S, XM_NOTE_WARNING, "BOSH: rid %"
                    G_GUINT64_FORMAT " is out of the window (XEP-0124 §14.1: "
                    "the next is %" G_GUINT64_FORMAT "); decoded anyway", rid,
                    s->next_rid);
      s->next_rid = rid + 1;
      decode_body (s, via, XM_DIR_C2S, body);
      return;
    }
  if (rid > s->next_rid
      && s->bosh->held_bytes + g_bytes_get_size (body) > MAX_HELD_BYTES)
    {
      session_note (s, via, XM_DIR_C2S, XM_NOTE_WARNING, "BOSH: bodies waiting "
                    "for earlier rids hold %u MiB across sessions: rid %"
                    G_GUINT64_FORMAT " is decoded now, out of order",
                    MAX_HELD_BYTES >> 20, rid);
      decode_body (s, via, XM_DIR_C2S, body);
      return;
    }
  if (rid > s->next_rid)
    {
      Held *h = g_new0 (Held, 1);
      GList *l = s->held.head;

      h->bosh = s->bosh;
      h->rid = rid;
      h->body = g_bytes_ref (body);
      s->bosh->held_bytes += g_bytes_get_size (body);
      while (l && ((Held *) l->data)->rid < rid)
        l = l->next;
      if (l && ((Held *) l->data)->rid == rid)
        {
          held_free (h);
          return;
        }
      g_queue_insert_before (&s->held, l, h);
      if (g_queue_get_length (&s->held) <= MAX_HELD)
        return;
      /* Too many wait: what they waited for is not coming. */
      h = s->held.head->data;
      session_note (s, via, XM_DIR_C2S, XM_NOTE_WARNING, "BOSH: rid %"
                    G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT " never came "
                    "(XEP-0124 §14.1); going on with rid %" G_GUINT64_FORMAT,
                    s->next_rid, h->rid - 1, h->rid);
      s->next_rid = h->rid;
    }
  else
    {
      s->next_rid = rid + 1;
      decode_body (s, via, XM_DIR_C2S, body);
    }
  while (s->held.head && ((Held *) s->held.head->data)->rid == s->next_rid)
    {
      Held *h = g_queue_pop_head (&s->held);
      s->next_rid++;
      decode_body (s, via, XM_DIR_C2S, h->body);
      held_free (h);
    }
}

/* ---- requests and responses ---- */

XmBoshAsk *
xm_bosh_request (XmBosh *b, const XmBoshVia *via, const guint8 *body, gsize len)
{
  g_autoptr (XmStanza) root = body_root (b, body, len);
  g_autoptr (GBytes) bytes = NULL;
  XmBoshAsk *ask;
  const char *sid;
  Session *s;

  if (root == NULL)
    return NULL;
  ask = g_new0 (XmBoshAsk, 1);
  bytes = g_bytes_new (body, len);
  sid = xm_node_attr (root->root, "sid");
  ask->rid = attr_u64 (root->root, "rid");
  ask->terminate = g_strcmp0 (xm_node_attr (root->root, "type"), "terminate") == 0;
  if (sid == NULL)
    {
      /* XEP-0124 §7.1: a creation request; the response names the session. */
      ask->creation = g_steal_pointer (&bytes);
      return ask;
    }
  ask->sid = g_strdup (sid);
  s = session_find (b, sid);
  if (s == NULL)
    {
      s = session_new (b, sid, via);
      session_note (s, via, XM_DIR_C2S, XM_NOTE_INFO, "BOSH: session '%s' began "
                    "before xmitm saw it: decoded from here", sid);
    }
  else if (via->client && s->client && strcmp (via->client, s->client) != 0
           && !s->shared)
    {
      /* XEP-0124 §14: the sid and rid are all that bind a request to its
       * session; a second client with them is in the same session. */
      s->shared = TRUE;
      session_note (s, via, XM_DIR_C2S, XM_NOTE_WARNING, "BOSH: session '%s' is "
                    "used by a second client (%s, then %s): two clients share "
                    "its sid, a session hijack or clients behind several "
                    "proxies (XEP-0124 §14)", sid, s->client, via->client);
    }
  take_request (s, via, ask->rid, bytes);
  if (ask->terminate)
    s->terminated = TRUE;
  return ask;
}

void
xm_bosh_response (XmBosh *b, const XmBoshVia *via, XmBoshAsk *ask,
                  const guint8 *body, gsize len)
{
  g_autoptr (XmStanza) root = body_root (b, body, len);
  g_autoptr (GBytes) bytes = g_bytes_new (body, len);
  gboolean terminate = root
    && g_strcmp0 (xm_node_attr (root->root, "type"), "terminate") == 0;
  Session *s = NULL;

  if (ask->creation)
    {
      const char *sid = root ? xm_node_attr (root->root, "sid") : NULL;

      s = session_new (b, sid && *sid ? sid : NULL, via);
      s->next_rid = ask->rid ? ask->rid + 1 : 0;
      decode_body (s, via, XM_DIR_C2S, ask->creation);
      if (s->sid == NULL && !terminate)
        session_note (s, via, XM_DIR_S2C, XM_NOTE_WARNING, "BOSH: the session "
                      "creation response has no sid (XEP-0124 §7.2)");
    }
  else
    {
      s = session_find (b, ask->sid);
      if (s == NULL)
        s = session_new (b, ask->sid, via);
    }
  if (root)
    decode_body (s, via, XM_DIR_S2C, bytes);
  else
    session_note (s, via, XM_DIR_S2C, XM_NOTE_WARNING, "BOSH: the response to "
                  "rid %" G_GUINT64_FORMAT " is not a <body/> in the namespace "
                  NS_HTTPBIND " (XEP-0124 §4): not decoded", ask->rid);
  if (terminate || ask->terminate || s->sid == NULL)
    session_drop (s);
  xm_bosh_ask_free (ask);
}

void
xm_bosh_ask_free (XmBoshAsk *ask)
{
  if (ask == NULL)
    return;
  g_free (ask->sid);
  g_clear_pointer (&ask->creation, g_bytes_unref);
  g_free (ask);
}

/* ---- a body in the session's stream (observer.c's framer callbacks) ---- */

/* XEP-0124's attributes, in the order a reader wants them. */
static void
describe_body (const XmNode *body, GString *s)
{
  static const char *const names[] = {
    "rid", "sid", "ack", "type", "condition", "wait", "hold", "requests",
    "inactivity", "polling", "maxpause", "pause", "to", "from", "ver",
    "report", "time",
  };

  g_string_append (s, "body");
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      const char *v = xm_node_attr (body, names[i]);
      if (v)
        g_string_append_printf (s, " %s=%s", names[i], v);
    }
  if (xm_node_attr_ns (body, NS_XBOSH, "restart"))
    g_string_append_printf (s, " xmpp:restart=%s", xm_node_attr_ns (body, NS_XBOSH, "restart"));
}

void
xm_bosh_body_open (Flow *f, XmStanza *header)
{
  const XmNode *body = header->root;
  gboolean restart = g_strcmp0 (xm_node_attr_ns (body, NS_XBOSH, "restart"), "true") == 0;
  gboolean creation = xm_node_attr (body, "sid") == NULL && f->dir == XM_DIR_C2S;
  const char *condition = xm_node_attr (body, "condition");

  f->bosh_terminate = g_strcmp0 (xm_node_attr (body, "type"), "terminate") == 0;
  if (creation || restart || (f->dir == XM_DIR_S2C && !f->bosh_opened))
    {
      /* The stream opens (XEP-0206 §3, §5): the wrapper is its header. */
      XmEvent ev = { .kind = XM_EVENT_STREAM_OPEN, .dir = f->dir, .flags = f->flags,
                     .stanza = header };
      f->bosh_opened = TRUE;
      xm_observer_emit (f->obs, &ev);
    }
  else
    {
      g_autoptr (GString) s = g_string_new (NULL);
      XmEvent ev = { .kind = XM_EVENT_TRANSPORT, .dir = f->dir, .flags = f->flags,
                     .transport = "bosh-body" };

      describe_body (body, s);
      ev.text = s->str;
      xm_observer_emit (f->obs, &ev);
    }
  if (f->bosh_terminate && condition)
    xm_observer_note (f->obs, f->dir, XM_NOTE_WARNING, "BOSH: the %s ended the "
                      "session: condition '%s' (XEP-0124 §17)",
                      f->dir == XM_DIR_C2S ? "client" : "server", condition);
}

void
xm_bosh_body_close (Flow *f)
{
  if (f->bosh_terminate)
    {
      XmEvent ev = { .kind = XM_EVENT_STREAM_CLOSE, .dir = f->dir, .flags = f->flags };
      xm_observer_emit (f->obs, &ev);
    }
}

/* ---- the registry ---- */

XmBosh *
xm_bosh_new (void)
{
  XmBosh *b = g_new0 (XmBosh, 1);

  b->by_sid = g_hash_table_new (g_str_hash, g_str_equal);
  g_queue_init (&b->order);
  return b;
}

void
xm_bosh_free (XmBosh *b)
{
  if (b == NULL)
    return;
  g_queue_clear_full (&b->order, (GDestroyNotify) session_free);
  g_hash_table_unref (b->by_sid);
  xm_framer_free (b->peek);
  g_free (b);
}

guint
xm_bosh_sessions (const XmBosh *b)
{
  return g_hash_table_size (b->by_sid);
}
