/* script.c: see script.h. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "component.h"
#include "http-msg.h"
#include "pcap-read.h"
#include "plain-tree.h"
#include "xml-scan.h"
#include "record.h"
#include "script.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_SASL2 "urn:xmpp:sasl:2"
#define NS_COMPRESS "http://jabber.org/protocol/compress"
#define NS_COMPRESS_FEATURE "http://jabber.org/features/compress"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_PING "urn:xmpp:ping"
#define NS_SM "urn:xmpp:sm:3"
#define NS_IQ_AUTH "jabber:iq:auth"

/* One recorded event worth keeping. */
typedef struct {
  XmEventKind kind;
  guint conn;
  XmDir dir;
  gint64 time_us;
  XmStanza *stanza;  /* STREAM_OPEN, STANZA */
  char *layer;       /* LAYER: "starttls", "direct-tls", "zlib", ... */
} Rec;

typedef struct {
  GArray *recs;         /* Rec, in file order */
  GHashTable *conns;    /* conn number -> XmScriptConn* */
  guint64 oversized;
  GHashTable *encrypted; /* capture: conn numbers whose TLS hides the rest */
  XmStanzaSlab *slab;   /* the script's: where the stanzas kept go */
  XmScan scan;          /* rebuildable()'s, its stack reused */
} Loader;

/* ---- stanza helpers ---- */

gboolean
xm_stanza_is_iq (const XmNode *el, const char *type1, const char *type2)
{
  const char *type;

  if (el == NULL || strcmp (el->name, "iq") != 0)
    return FALSE;
  type = xm_node_attr (el, "type");
  return type && (g_strcmp0 (type, type1) == 0 || g_strcmp0 (type, type2) == 0);
}

gboolean
xm_stanza_is_ping (const XmNode *el)
{
  return xm_stanza_is_iq (el, "get", NULL) && xm_node_child (el, NS_PING, "ping");
}

gboolean
xm_stanza_is_sm_ack (const XmNode *el)
{
  return el && (xm_node_is (el, NS_SM, "r") || xm_node_is (el, NS_SM, "a"));
}

char *
xm_stanza_bind_jid (const XmNode *el)
{
  XmNode *bind, *jid;

  if (!xm_stanza_is_iq (el, "result", NULL))
    return NULL;
  bind = xm_node_child (el, NS_BIND, "bind");
  jid = bind ? xm_node_child (bind, NS_BIND, "jid") : NULL;
  if (jid == NULL)
    return NULL;
  {
    char *t = xm_node_text (jid);
    g_strstrip (t);
    if (*t == '\0')
      {
        g_free (t);
        return NULL;
      }
    return t;
  }
}

gboolean
xm_features_offer_zlib (const XmNode *features)
{
  XmNode *c = xm_node_child (features, NS_COMPRESS_FEATURE, "compression");

  for (const XmNode *m = c ? c->children : NULL; m; m = m->next)
    if (m->type == XM_NODE_ELEMENT && strcmp (m->name, "method") == 0)
      {
        g_autofree char *t = xm_node_text (m);
        if (strcmp (g_strstrip (t), "zlib") == 0)
          return TRUE;
      }
  return FALSE;
}

/* Elements of stream negotiation (RFC 6120 §5, §6, XEP-0138, XEP-0388). */
static gboolean
is_negotiation (const XmNode *el)
{
  return el->ns && (strcmp (el->ns, NS_TLS) == 0 || strcmp (el->ns, NS_SASL) == 0
                    || strcmp (el->ns, NS_SASL2) == 0
                    || strcmp (el->ns, NS_COMPRESS) == 0
                    || (strcmp (el->ns, NS_STREAMS) == 0
                        && strcmp (el->name, "features") == 0));
}

static gboolean
is_features (const Rec *r)
{
  return r->kind == XM_EVENT_STANZA && r->dir == XM_DIR_S2C && r->stanza->root
         && xm_node_is (r->stanza->root, NS_STREAMS, "features");
}

/* ---- the sink collecting events ---- */

typedef struct {
  XmSink sink;
  Loader *loader;
} CollectSink;

static XmScriptConn *
conn_get (Loader *l, guint n)
{
  XmScriptConn *c = g_hash_table_lookup (l->conns, GUINT_TO_POINTER (n));

  if (c == NULL)
    {
      c = g_new0 (XmScriptConn, 1);
      c->conn = n;
      c->headers = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      c->stream_ids = g_ptr_array_new_with_free_func (g_free);
      c->steps = g_ptr_array_new ();
      g_hash_table_insert (l->conns, GUINT_TO_POINTER (n), c);
    }
  return c;
}

static const char *
sasl_field (const XmSaslDecode *d, const char *name)
{
  for (guint i = 0; i < d->fields->len; i++)
    {
      XmSaslField *f = d->fields->pdata[i];
      if (strcmp (f->name, name) == 0 && !f->binary && !f->secret)
        return f->value;
    }
  return NULL;
}

/* Can the script keep st without its children (xm_script_stanza_full)?
 * A message or presence whose bytes the scanner finds plain: plain-tree.c
 * builds from them the tree the framer built (the plain-tree and xml-scan
 * tests hold the two equal). Nothing that reading the recording or
 * scheduling looks at is below the root of such a stanza. */
static gboolean
rebuildable (Loader *l, const XmStanza *st)
{
  gsize end = 0;
  gboolean ok;

  if (st->root == NULL || st->raw == NULL || st->raw_len == 0 || st->raw[0] != '<'
      || (strcmp (st->root->name, "message") != 0
          && strcmp (st->root->name, "presence") != 0))
    return FALSE;
  ok = xm_scan_element (&l->scan, st->raw, st->raw_len, &end) == XM_SCAN_DONE
       && end == st->raw_len && xm_scan_is_plain (&l->scan);
  if (!ok)
    xm_scan_clear (&l->scan); /* ready for the next one (DONE leaves it so) */
  return ok;
}

XmStanza *
xm_script_stanza_full (XmStanza *st)
{
  XmStanza *full;

  if (!st->shallow || st->root == NULL)
    return xm_stanza_ref (st);
  full = xm_stanza_new ();
  /* The bytes stay the slab's: the copy lives shorter than the script. */
  full->raw = st->raw;
  full->raw_len = st->raw_len;
  full->offset = st->offset;
  /* The root's namespace is the default one in scope when its bytes
   * declare none, and is what they declare when they do. */
  full->root = xm_plain_tree_build (full, st->raw, st->raw_len, st->root->ns);
  return full;
}

/* The path of a recorded request line "METHOD /path HTTP/1.1 (...)", or
 * NULL: replay writes it into a request line of its own, so a recording
 * (which anyone may have edited) gives only a plain path, never a CR, LF
 * or space that would end the line or add a header. */
static char *
recorded_path (const char *text, const char *method)
{
  const char *path, *end;

  if (!g_str_has_prefix (text, method))
    return NULL;
  path = text + strlen (method);
  end = strstr (path, " HTTP/");
  if (end == NULL || !xm_http_path_ok (path, end - path))
    return NULL;
  return g_strndup (path, end - path);
}

static void
collect_event (XmSink *sink, const XmEvent *ev)
{
  Loader *l = ((CollectSink *) sink)->loader;
  XmScriptConn *c;
  Rec r = { .kind = ev->kind, .conn = ev->conn, .dir = ev->dir,
            .time_us = ev->time_us };

  if (ev->conn == 0)
    return;
  /* BOSH: one session over several HTTP connections (decoders/bosh.c);
   * the HTTP lines of a connection are its own, not a session's. */
  if ((ev->flags & XM_EVENT_FLAG_BOSH) && ev->session)
    r.conn = ev->session;
  c = conn_get (l, r.conn);
  switch (ev->kind)
    {
    case XM_EVENT_CONN_OPEN:
    case XM_EVENT_STREAM_CLOSE:
      break;
    case XM_EVENT_NOTE:
      /* A capture: TLS from the first byte (pcap-read.c's note). */
      if (l->encrypted && ev->text && g_str_has_prefix (ev->text, "this connection is encrypted"))
        g_hash_table_add (l->encrypted, GUINT_TO_POINTER (ev->conn));
      return;
    case XM_EVENT_STREAM_OPEN:
    case XM_EVENT_STANZA:
      if (ev->stanza == NULL || ev->stanza->oversized || ev->stanza->root == NULL)
        {
          l->oversized++;
          return;
        }
      if (ev->flags & XM_EVENT_FLAG_WS)
        c->ws = TRUE;
      if (ev->flags & XM_EVENT_FLAG_BOSH)
        c->bosh = TRUE;
      /* Packed: the script keeps every stanza to the end (stanza.h). */
      r.stanza = xm_stanza_slab_copy (l->slab, ev->stanza, !rebuildable (l, ev->stanza));
      break;
    case XM_EVENT_TRANSPORT:
      /* the WebSocket upgrade's request line: "GET /path HTTP/1.1 (...)";
       * a BOSH request: "POST /path HTTP/1.1 (...)" (the carrier
       * connection's number is the session's when it created it) */
      if (g_strcmp0 (ev->transport, "http-request") == 0)
        {
          if (c->ws_path == NULL && strstr (ev->text, "websocket"))
            c->ws_path = recorded_path (ev->text, "GET ");
          if (c->bosh_path == NULL)
            c->bosh_path = recorded_path (ev->text, "POST ");
        }
      return;
    case XM_EVENT_LAYER:
      if (ev->layer == NULL || ev->layer->layer == NULL)
        return;
      r.layer = g_strdup (ev->layer->layer);
      if (strcmp (r.layer, "starttls") == 0)
        {
          c->starttls = TRUE;
          if (l->encrypted)
            g_hash_table_add (l->encrypted, GUINT_TO_POINTER (ev->conn));
        }
      else if (strcmp (r.layer, "direct-tls") == 0)
        c->direct_tls = TRUE;
      else if (strcmp (r.layer, "zlib") == 0)
        c->compression = TRUE;
      break;
    case XM_EVENT_SASL:
      {
        const XmSaslDecode *d = ev->sasl;
        const char *user = NULL, *authzid;

        if (d == NULL || ev->dir == XM_DIR_S2C)
          return;
        user = sasl_field (d, "authcid");
        if (user == NULL)
          user = sasl_field (d, "n");
        if (user == NULL)
          user = sasl_field (d, "username");
        authzid = sasl_field (d, "authzid");
        if (user && c->authcid == NULL)
          c->authcid = g_strdup (user);
        if (authzid && *authzid && c->authzid == NULL)
          c->authzid = g_strdup (authzid);
      }
      return;
    default:
      return;
    }
  g_array_append_val (l->recs, r);
}

static void
collect_free (XmSink *sink)
{
  g_free (sink);
}

static const XmSinkVTable collect_vtable = {
  .event = collect_event,
  .free = collect_free,
};

/* ---- turning events into steps ---- */

static void
step_free (gpointer p)
{
  XmStep *s = p;

  if (s->data_free && s->data)
    s->data_free (s->data);
  g_clear_pointer (&s->stanza, xm_stanza_unref);
  g_free (s);
}

static void
conn_free (gpointer p)
{
  XmScriptConn *c = p;

  g_free (c->domain);
  g_free (c->ws_path);
  g_free (c->bosh_path);
  g_ptr_array_unref (c->headers);
  g_free (c->mechanism);
  g_free (c->authcid);
  g_free (c->authzid);
  g_clear_pointer (&c->initial_response, g_bytes_unref);
  g_clear_pointer (&c->sasl2_authenticate, xm_stanza_unref);
  g_clear_pointer (&c->sasl2_success, xm_stanza_unref);
  g_clear_pointer (&c->iq_auth_get, xm_stanza_unref);
  g_clear_pointer (&c->iq_auth_fields, xm_stanza_unref);
  g_clear_pointer (&c->iq_auth_set, xm_stanza_unref);
  g_free (c->jid);
  g_ptr_array_unref (c->stream_ids);
  for (int i = 0; i < XM_FEATURES_N; i++)
    g_clear_pointer (&c->features[i], xm_stanza_unref);
  if (c->index_free && c->index)
    c->index_free (c->index);
  g_ptr_array_unref (c->steps);
  g_free (c);
}

void
xm_script_free (XmScript *s)
{
  if (s == NULL)
    return;
  g_ptr_array_unref (s->steps);
  g_ptr_array_unref (s->conns);
  /* After the steps and connections: they point into it. */
  xm_stanza_slab_free (s->slab);
  xm_order_free (s->order);
  g_free (s->path);
  g_free (s);
}

/* The recorded payload of <auth/> when it was recorded with secrets. */
static GBytes *
auth_payload (const XmNode *auth)
{
  g_autofree char *text = xm_node_text (auth);
  gsize len = 0;
  guchar *data;

  g_strstrip (text);
  if (*text == '\0' || strchr (text, '*'))
    return NULL;
  if (strcmp (text, "=") == 0)
    return g_bytes_new (NULL, 0);
  data = g_base64_decode (text, &len);
  return g_bytes_new_take (data, len);
}

/* Whether the client's next stanza on connection conn after recs[i] is an
 * XEP-0138 <compress/>. */
static gboolean
compress_next (GArray *recs, guint i, guint conn)
{
  for (guint k = i + 1; k < recs->len; k++)
    {
      Rec *r = &g_array_index (recs, Rec, k);

      if (r->conn != conn || r->kind != XM_EVENT_STANZA || r->dir != XM_DIR_C2S)
        continue;
      return r->stanza->root && xm_node_is (r->stanza->root, NS_COMPRESS, "compress");
    }
  return FALSE;
}

static void
replace_stanza (XmStanza **slot, XmStanza *st)
{
  if (*slot)
    xm_stanza_unref (*slot);
  *slot = xm_stanza_ref (st);
}

/* XEP-0078: an iq carrying a jabber:iq:auth query. */
static gboolean
is_iq_auth (const XmNode *el)
{
  return xm_stanza_is_iq (el, "get", "set") && xm_node_child (el, NS_IQ_AUTH, "query");
}

static char *
child_text (const XmNode *el, const char *ns, const char *name)
{
  XmNode *child = el ? xm_node_child (el, ns, name) : NULL;
  char *t;

  if (child == NULL)
    return NULL;
  t = xm_node_text (child);
  return g_strstrip (t);
}

/* XEP-0078 §3: the full JID the set logs in as: username@domain/resource. */
static char *
iq_auth_jid (const XmScriptConn *c)
{
  XmNode *q = xm_node_child (c->iq_auth_set->root, NS_IQ_AUTH, "query");
  g_autofree char *user = child_text (q, NS_IQ_AUTH, "username");
  g_autofree char *resource = child_text (q, NS_IQ_AUTH, "resource");

  if (user == NULL || *user == '\0' || c->domain == NULL)
    return NULL;
  if (resource == NULL || *resource == '\0')
    return g_strdup_printf ("%s@%s", user, c->domain);
  return g_strdup_printf ("%s@%s/%s", user, c->domain, resource);
}

/* Where the negotiation of connection c ends: the index (in recs) of the
 * server's stream features that open the authenticated stream (or, without
 * a stream restart, of XEP-0388 <success/> or the result of the XEP-0078
 * set). Fills in what was negotiated. -1 if the connection never got that
 * far. */
static gssize
negotiation_end (XmScript *script, GArray *recs, XmScriptConn *c)
{
  XmFeaturesStage stage = c->direct_tls ? XM_FEATURES_TLS : XM_FEATURES_INITIAL;
  gboolean authed = FALSE;
  gssize last_features = -1;
  g_autofree char *iq_auth_id = NULL; /* XEP-0078: the pending request */

  for (guint i = 0; i < recs->len; i++)
    {
      Rec *r = &g_array_index (recs, Rec, i);
      const XmNode *el;

      if (r->conn != c->conn)
        continue;
      if (r->kind == XM_EVENT_LAYER && strcmp (r->layer, "starttls") == 0)
        stage = XM_FEATURES_TLS;
      if (r->kind == XM_EVENT_STREAM_OPEN)
        {
          if (r->dir == XM_DIR_C2S)
            {
              g_ptr_array_add (c->headers, g_bytes_new (r->stanza->raw, r->stanza->raw_len));
              if (c->domain == NULL && xm_node_attr (r->stanza->root, "to"))
                c->domain = g_strdup (xm_node_attr (r->stanza->root, "to"));
              if (xm_component_is_stream (r->stanza->root))
                c->component = TRUE;
            }
          else if (xm_node_attr (r->stanza->root, "id"))
            g_ptr_array_add (c->stream_ids, g_strdup (xm_node_attr (r->stanza->root, "id")));
          else if (c->bosh && xm_node_attr (r->stanza->root, "authid"))
            /* XEP-0206 §3: the session creation response's authid is
             * the stream id */
            g_ptr_array_add (c->stream_ids,
                             g_strdup (xm_node_attr (r->stanza->root, "authid")));
          continue;
        }
      if (r->kind != XM_EVENT_STANZA)
        continue;
      el = r->stanza->root;
      if (is_features (r))
        {
          if (c->features[stage])
            xm_stanza_unref (c->features[stage]);
          c->features[stage] = xm_stanza_ref (r->stanza);
          last_features = i;
          /* Authenticated: done, unless the client compresses first
           * (XEP-0138 §3 after SASL). */
          if (authed && !compress_next (recs, i, c->conn))
            return i;
          continue;
        }
      if (!authed && r->dir == XM_DIR_C2S && is_iq_auth (el))
        {
          gboolean set = xm_stanza_is_iq (el, "set", NULL);

          c->iq_auth = TRUE;
          replace_stanza (set ? &c->iq_auth_set : &c->iq_auth_get, r->stanza);
          g_free (iq_auth_id);
          iq_auth_id = g_strdup (xm_node_attr (el, "id"));
          continue;
        }
      if (iq_auth_id && r->dir == XM_DIR_S2C && xm_stanza_is_iq (el, "result", "error")
          && g_strcmp0 (xm_node_attr (el, "id"), iq_auth_id) == 0)
        {
          gboolean result = xm_stanza_is_iq (el, "result", NULL);

          g_clear_pointer (&iq_auth_id, g_free);
          if (c->iq_auth_set == NULL
              || g_strcmp0 (xm_node_attr (c->iq_auth_set->root, "id"),
                            xm_node_attr (el, "id")) != 0)
            {
              replace_stanza (&c->iq_auth_fields, r->stanza);
              continue;
            }
          if (!result)
            {
              /* That login failed: the client may try again, or not. */
              c->iq_auth = FALSE;
              continue;
            }
          /* XEP-0078 §3: authenticated, no stream restart, no bind. */
          g_free (c->jid);
          c->jid = iq_auth_jid (c);
          return i;
        }
      if (c->component)
        {
          /* XEP-0114 §3: the server's <handshake/> ends it; a stream error
           * (wrong secret, unknown domain) means nothing to replay. */
          if (xm_node_is (el, XM_NS_COMPONENT_ACCEPT, "handshake")
              || xm_node_is (el, XM_NS_COMPONENT_CONNECT, "handshake"))
            {
              if (r->dir == XM_DIR_C2S)
                continue;
              g_free (c->jid);
              c->jid = g_strdup (c->domain);
              return c->domain ? (gssize) i : -1;
            }
          return -1;
        }
      if (!is_negotiation (el))
        return last_features;
      if (r->dir == XM_DIR_C2S && xm_node_is (el, NS_SASL, "auth"))
        {
          g_free (c->mechanism);
          c->mechanism = g_strdup (xm_node_attr (el, "mechanism"));
          g_clear_pointer (&c->initial_response, g_bytes_unref);
          if (script->secrets)
            c->initial_response = auth_payload (el);
        }
      if (r->dir == XM_DIR_C2S && xm_node_is (el, NS_SASL2, "authenticate"))
        {
          XmNode *ir = xm_node_child (el, NS_SASL2, "initial-response");

          g_free (c->mechanism);
          c->mechanism = g_strdup (xm_node_attr (el, "mechanism"));
          c->sasl2 = TRUE;
          c->iq_auth = FALSE;
          replace_stanza (&c->sasl2_authenticate, r->stanza);
          g_clear_pointer (&c->initial_response, g_bytes_unref);
          if (script->secrets && ir)
            c->initial_response = auth_payload (ir);
        }
      if (r->dir == XM_DIR_S2C && xm_node_is (el, NS_SASL2, "success"))
        {
          /* XEP-0388: no stream restart; the authorization identifier is
           * the full JID when a resource was bound inline (bind2). */
          g_autofree char *jid = child_text (el, NS_SASL2, "authorization-identifier");

          replace_stanza (&c->sasl2_success, r->stanza);
          if (jid && *jid)
            {
              g_free (c->jid);
              c->jid = g_steal_pointer (&jid);
            }
          return i;
        }
      if (r->dir == XM_DIR_C2S && xm_node_is (el, NS_COMPRESS, "compress"))
        c->compress_stage = stage;
      if (r->dir == XM_DIR_S2C && xm_node_is (el, NS_COMPRESS, "compressed"))
        stage = XM_FEATURES_COMPRESSED;
      if (r->dir == XM_DIR_S2C && (xm_node_is (el, NS_SASL, "success")
                                   || xm_node_is (el, NS_SASL2, "success")))
        {
          authed = TRUE;
          stage = XM_FEATURES_AUTH;
        }
    }
  /* Never got past negotiation: nothing to replay. */
  return -1;
}

static XmStep *
add_step (XmScript *s, XmScriptConn *c, XmStepKind kind, XmStanza *stanza,
          guint flags, gint64 time_us)
{
  XmStep *step = g_new0 (XmStep, 1);
  gboolean send = s->serve ? kind == XM_STEP_EXPECT || kind == XM_STEP_EXPECT_CLOSE
                           : kind == XM_STEP_CONNECT || kind == XM_STEP_SEND
                             || kind == XM_STEP_CLOSE;

  step->kind = kind;
  step->conn = c;
  step->stanza = stanza ? xm_stanza_ref (stanza) : NULL;
  step->time_us = time_us;
  step->order = xm_order_add (s->order, c->conn,
                              send ? XM_ORDER_SEND : XM_ORDER_RECEIVE,
                              flags | (kind == XM_STEP_CLOSE ? XM_ORDER_CLOSE : 0),
                              time_us);
  g_ptr_array_add (s->steps, step);
  g_ptr_array_add (c->steps, step);
  return step;
}

typedef struct {
  gssize neg_end;
  gboolean started;
  gboolean closed;          /* the client's stream close was seen */
  GHashTable *sent_ids;     /* ids of the client's iq get/set */
  GHashTable *answered_ids; /* ids of the client's iq result/error */
  GHashTable *ping_ids;     /* ids of server pings left out */
} ConnState;

static void
conn_state_free (gpointer p)
{
  ConnState *st = p;

  g_hash_table_unref (st->sent_ids);
  g_hash_table_unref (st->answered_ids);
  g_hash_table_unref (st->ping_ids);
  g_free (st);
}

static gboolean
build_steps (XmScript *s, Loader *l, GError **error)
{
  g_autoptr (GHashTable) states = g_hash_table_new_full (NULL, NULL, NULL, conn_state_free);
  GHashTableIter it;
  gpointer key, value;

  g_hash_table_iter_init (&it, l->conns);
  while (g_hash_table_iter_next (&it, &key, &value))
    {
      XmScriptConn *c = value;
      ConnState *st = g_new0 (ConnState, 1);

      st->neg_end = negotiation_end (s, l->recs, c);
      st->sent_ids = g_hash_table_new (g_str_hash, g_str_equal);
      st->answered_ids = g_hash_table_new (g_str_hash, g_str_equal);
      st->ping_ids = g_hash_table_new (g_str_hash, g_str_equal);
      g_hash_table_insert (states, key, st);
    }

  /* Which server requests the client answered (to wait for them). */
  for (guint i = 0; i < l->recs->len; i++)
    {
      Rec *r = &g_array_index (l->recs, Rec, i);
      ConnState *st = g_hash_table_lookup (states, GUINT_TO_POINTER (r->conn));
      const char *id;

      if (r->kind != XM_EVENT_STANZA || r->dir != XM_DIR_C2S
          || (gssize) i <= st->neg_end)
        continue;
      id = xm_node_attr (r->stanza->root, "id");
      if (id && xm_stanza_is_iq (r->stanza->root, "result", "error"))
        g_hash_table_add (st->answered_ids, (gpointer) id);
    }

  for (guint i = 0; i < l->recs->len; i++)
    {
      Rec *r = &g_array_index (l->recs, Rec, i);
      XmScriptConn *c = g_hash_table_lookup (l->conns, GUINT_TO_POINTER (r->conn));
      ConnState *st = g_hash_table_lookup (states, GUINT_TO_POINTER (r->conn));
      const XmNode *el;
      const char *id;
      guint flags = 0;

      if (st->neg_end < 0)
        continue; /* never reached an authenticated stream: nothing to do */
      if (!st->started)
        {
          st->started = TRUE;
          add_step (s, c, XM_STEP_CONNECT, NULL, 0, r->time_us);
        }
      if ((gssize) i <= st->neg_end)
        continue;
      if (r->kind == XM_EVENT_STREAM_CLOSE)
        {
          if (r->dir == XM_DIR_C2S)
            st->closed = TRUE;
          add_step (s, c, r->dir == XM_DIR_C2S ? XM_STEP_CLOSE : XM_STEP_EXPECT_CLOSE,
                    NULL, 0, r->time_us);
          continue;
        }
      if (r->kind != XM_EVENT_STANZA)
        continue;
      el = r->stanza->root;
      /* A refused XEP-0138 negotiation: not a stanza to replay. */
      if (el->ns && strcmp (el->ns, NS_COMPRESS) == 0)
        continue;
      id = xm_node_attr (el, "id");
      if (c->jid == NULL && r->dir == XM_DIR_S2C)
        c->jid = xm_stanza_bind_jid (el);
      /* Answered live: pings, XEP-0198 acks. */
      if (xm_stanza_is_sm_ack (el))
        {
          s->skipped++;
          continue;
        }
      if (r->dir == XM_DIR_S2C && xm_stanza_is_ping (el))
        {
          if (id)
            g_hash_table_add (st->ping_ids, (gpointer) id);
          s->skipped++;
          continue;
        }
      if (r->dir == XM_DIR_C2S && id && xm_stanza_is_iq (el, "result", "error")
          && g_hash_table_remove (st->ping_ids, id))
        {
          s->skipped++;
          continue;
        }
      if (st->closed && r->dir == XM_DIR_C2S)
        continue; /* nothing goes after the client's close */
      if (r->dir == XM_DIR_C2S)
        {
          if (id && xm_stanza_is_iq (el, "get", "set"))
            g_hash_table_add (st->sent_ids, (gpointer) id);
          add_step (s, c, XM_STEP_SEND, r->stanza, 0, r->time_us);
          continue;
        }
      if (id && xm_stanza_is_iq (el, "result", "error")
          && g_hash_table_contains (st->sent_ids, id))
        flags |= XM_ORDER_ANSWER;
      if (id && xm_stanza_is_iq (el, "get", "set")
          && g_hash_table_contains (st->answered_ids, id))
        flags |= XM_ORDER_REQUEST;
      add_step (s, c, XM_STEP_EXPECT, r->stanza, flags, r->time_us);
    }

  if (s->steps->len == 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s holds no client session to replay (no connection got "
                   "as far as an authenticated stream)", s->path);
      return FALSE;
    }
  return TRUE;
}

static int
conn_cmp (gconstpointer a, gconstpointer b)
{
  const XmScriptConn *x = *(XmScriptConn *const *) a;
  const XmScriptConn *y = *(XmScriptConn *const *) b;

  return x->conn < y->conn ? -1 : x->conn > y->conn;
}

/* Whether path starts like a pcap or pcapng file. */
static gboolean
is_capture (const char *path)
{
  guint8 head[16];
  gsize n = 0;
  FILE *f = fopen (path, "rb");

  if (f == NULL)
    return FALSE;
  n = fread (head, 1, sizeof head, f);
  fclose (f);
  return xm_capture_sniff (head, n);
}

/* A capture whose connections went into TLS: what came after cannot be
 * read, so those sessions cannot be replayed. */
static gboolean
capture_tls_error (XmScript *s, Loader *l, GError **error)
{
  g_autoptr (GString) which = g_string_new (NULL);
  gboolean starttls = FALSE;
  guint max = 0;

  /* In connection order. */
  {
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init (&it, l->encrypted);
    while (g_hash_table_iter_next (&it, &key, NULL))
      max = MAX (max, GPOINTER_TO_UINT (key));
  }
  for (guint n = 1; n <= max; n++)
    {
      XmScriptConn *c;

      if (!g_hash_table_contains (l->encrypted, GUINT_TO_POINTER (n)))
        continue;
      c = g_hash_table_lookup (l->conns, GUINT_TO_POINTER (n));
      g_string_append_printf (which, "%s#%u", which->len ? ", " : "", n);
      starttls |= c && c->starttls;
    }
  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
               "%s is a packet capture of XMPP over TLS (connection%s %s %s): a "
               "capture cannot be decrypted, so replay cannot go past the TLS "
               "handshake; capture a session without TLS, or record it through "
               "xmitm proxy --record", s->path,
               g_hash_table_size (l->encrypted) == 1 ? "" : "s", which->str,
               starttls ? "negotiated STARTTLS" : "started with TLS");
  return FALSE;
}

XmScript *
xm_script_load (const char *path, XmPace pace, gboolean serve,
                void (*warn) (const char *msg, gpointer data), gpointer warn_data,
                GError **error)
{
  g_autoptr (XmScript) s = g_new0 (XmScript, 1);
  Loader l = { 0 };
  CollectSink *sink = g_new0 (CollectSink, 1);
  XmRecordInfo info = { 0 };
  gboolean ok;
  GHashTableIter it;
  gpointer value;

  s->path = g_strdup (path);
  s->serve = serve;
  s->order = xm_order_new (serve ? XM_PACE_RECORDED : pace);
  s->steps = g_ptr_array_new_with_free_func (step_free);
  s->conns = g_ptr_array_new_with_free_func (conn_free);
  l.recs = g_array_new (FALSE, TRUE, sizeof (Rec));
  xm_scan_init (&l.scan);
  s->slab = xm_stanza_slab_new ();
  l.slab = s->slab;
  l.conns = g_hash_table_new (NULL, NULL);
  sink->sink.vtable = &collect_vtable;
  sink->loader = &l;

  s->capture = is_capture (path);
  if (s->capture)
    {
      /* A capture holds every byte: secrets included. */
      l.encrypted = g_hash_table_new (NULL, NULL);
      ok = xm_capture_read (path, &sink->sink, error);
      info.secrets = TRUE;
    }
  else
    ok = xm_record_read (path, &sink->sink, &info, warn, warn_data, error);
  xm_sink_free (&sink->sink);
  s->secrets = info.secrets;
  xm_record_info_clear (&info);
  if (ok && s->capture && g_hash_table_size (l.encrypted) > 0)
    ok = capture_tls_error (s, &l, error);
  if (ok)
    ok = build_steps (s, &l, error);

  g_hash_table_iter_init (&it, l.conns);
  while (g_hash_table_iter_next (&it, NULL, &value))
    g_ptr_array_add (s->conns, value);
  g_ptr_array_sort (s->conns, conn_cmp);
  for (guint i = 0; i < l.recs->len; i++)
    {
      Rec *r = &g_array_index (l.recs, Rec, i);
      g_clear_pointer (&r->stanza, xm_stanza_unref);
      g_free (r->layer);
    }
  g_array_unref (l.recs);
  xm_scan_clear (&l.scan);
  g_hash_table_unref (l.conns);
  g_clear_pointer (&l.encrypted, g_hash_table_unref);
  if (!ok)
    return NULL;
  return g_steal_pointer (&s);
}

char *
xm_script_conn_account (const XmScriptConn *c)
{
  if (c->jid)
    {
      const char *slash = strchr (c->jid, '/');
      return slash ? g_strndup (c->jid, slash - c->jid) : g_strdup (c->jid);
    }
  if (c->authcid && c->domain)
    return strchr (c->authcid, '@') ? g_strdup (c->authcid)
                                    : g_strdup_printf ("%s@%s", c->authcid, c->domain);
  return NULL;
}
