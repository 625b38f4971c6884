/* web-api.c: the JSON answers of `xmitm web`: the connections of each file,
 * and pages of events, filtered by the command line's own filter code
 * (ui/filter.c) and printed by its own printer (ui/printer.c), so the
 * browser shows what `xmitm show` prints, secrets redacted the same way. */
#include "config.h"

#include <string.h>
#include <json-glib/json-glib.h>

#include "filter.h"
#include "record-private.h"
#include "web-api.h"

/* A page holds at most this many events; a filtered page stops after
 * scanning this many (the answer says where to go on), so no request
 * holds the server for long whatever the file's size. */
#define MAX_PAGE 1000
#define DEFAULT_PAGE 100
#define MAX_SCAN 50000
/* events passed over from the index alone (about 10 ns each) */
#define MAX_SKIP 20000000
/* lines passed over unparsed, --grep's text not in them (about 0.5 us) */
#define MAX_LINE_SKIP 300000
/* connections per answer of /api/sessions */
#define DEFAULT_SESSIONS 1000
#define MAX_SESSIONS 10000

static char *
finish (JsonBuilder *b, gsize *len)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);

  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, len);
}

static void
add_string (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  if (value)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

static void
add_bool (JsonBuilder *b, const char *name, gboolean value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_boolean_value (b, value);
}

static const char *
transport_name (guint flags)
{
  return (flags & XM_EVENT_FLAG_BOSH) ? "bosh"
         : (flags & XM_EVENT_FLAG_WS) ? "websocket" : "tcp";
}

static void
add_session (JsonBuilder *b, const XmIndexedSession *s)
{
  json_builder_begin_object (b);
  add_int (b, "conn", s->conn);
  add_string (b, "client", s->client);
  add_string (b, "server", s->server);
  add_string (b, "to", s->to);
  add_string (b, "jid", s->jid);
  add_string (b, "transport", transport_name (s->flags));
  add_bool (b, "tls", (s->flags & XM_EVENT_FLAG_TLS) != 0);
  add_bool (b, "zlib", (s->flags & XM_EVENT_FLAG_ZLIB) != 0);
  json_builder_set_member_name (b, "layers");
  json_builder_begin_array (b);
  for (guint i = 0; i < s->layers->len; i++)
    json_builder_add_string_value (b, s->layers->pdata[i]);
  json_builder_end_array (b);
  add_int (b, "c2s_bytes", s->bytes[XM_DIR_C2S]);
  add_int (b, "s2c_bytes", s->bytes[XM_DIR_S2C]);
  add_int (b, "first_us", s->first_us);
  add_int (b, "last_us", s->last_us);
  add_int (b, "duration_ms", (s->last_us - s->first_us) / 1000);
  add_bool (b, "closed", s->closed);
  add_string (b, "close_reason", s->close_reason);
  add_int (b, "events", s->events);
  add_int (b, "stanzas", s->stanzas);
  add_int (b, "first_event", s->first_event);
  add_int (b, "iq_untracked", s->iq_untracked);
  json_builder_end_object (b);
}

static gboolean
parse_number (const char *name, const char *value, guint64 max, guint64 *out,
              GError **error)
{
  guint64 v;

  if (!g_ascii_string_to_unsigned (value, 10, 0, max, &v, NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "bad %s '%s': a number from 0 to %" G_GUINT64_FORMAT " is needed",
                   name, value, max);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

char *
xm_web_sessions_json (XmWebData *wd, GHashTable *query, gsize *len,
                      GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  const char *v;
  guint64 from = 0, count = DEFAULT_SESSIONS;

  /* a recording of thousands of connections is not sent whole */
  if (query && (v = g_hash_table_lookup (query, "from"))
      && !parse_number ("from", v, G_MAXUINT, &from, error))
    return NULL;
  if (query && (v = g_hash_table_lookup (query, "count"))
      && !parse_number ("count", v, MAX_SESSIONS, &count, error))
    return NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "files");
  json_builder_begin_array (b);
  for (guint f = 0; f < wd->indexes->len; f++)
    {
      XmEventIndex *idx = wd->indexes->pdata[f];
      g_autofree char *name = g_path_get_basename (xm_event_index_path (idx));

      json_builder_begin_object (b);
      add_int (b, "file", f);
      add_string (b, "name", name);
      add_int (b, "events", xm_event_index_count (idx));
      add_bool (b, "secrets_recorded", xm_event_index_has_secrets (idx));
      add_int (b, "sessions_total", xm_event_index_n_sessions (idx));
      json_builder_set_member_name (b, "sessions");
      json_builder_begin_array (b);
      for (guint64 i = from; i < xm_event_index_n_sessions (idx) && i < from + count; i++)
        add_session (b, xm_event_index_session (idx, (guint) i));
      json_builder_end_array (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return finish (b, len);
}

/* ---- one line per event ---- */

static void
append_attr (GString *s, const XmNode *el, const char *label, const char *name)
{
  const char *v = xm_node_attr (el, name);

  if (v)
    g_string_append_printf (s, " %s%s", label, v);
}

/* What a stanza is at a glance: "iq get jabber:iq:roster", "message chat
 * to=bob@localhost", "presence unavailable", "auth
 * urn:ietf:params:xml:ns:xmpp-sasl". */
static void
stanza_summary (const XmEvent *ev, GString *s)
{
  const XmStanza *st = ev->stanza;
  const XmNode *root = st ? st->root : NULL;
  const char *type;

  if (root == NULL)
    {
      g_string_append_printf (s, "stanza too large to decode, %" G_GSIZE_FORMAT
                              " bytes", st ? st->raw_len : 0);
      return;
    }
  if (ev->kind == XM_EVENT_STREAM_OPEN)
    {
      g_string_append (s, "stream open");
      append_attr (s, root, "to=", "to");
      append_attr (s, root, "from=", "from");
      return;
    }
  g_string_append (s, root->name);
  type = xm_node_attr (root, "type");
  if (g_strcmp0 (root->name, "iq") == 0)
    {
      const XmNode *payload = xm_node_first_element (root);
      if (type)
        g_string_append_printf (s, " %s", type);
      if (payload)
        g_string_append_printf (s, " %s", payload->ns ? payload->ns : payload->name);
      append_attr (s, root, "to=", "to");
    }
  else if (g_strcmp0 (root->name, "message") == 0
           || g_strcmp0 (root->name, "presence") == 0)
    {
      if (type)
        g_string_append_printf (s, " %s", type);
      append_attr (s, root, "to=", "to");
      append_attr (s, root, "from=", "from");
    }
  else if (root->ns && g_strcmp0 (root->ns, "jabber:client") != 0
           && g_strcmp0 (root->ns, "jabber:server") != 0)
    g_string_append_printf (s, " %s", root->ns);
}

static void
event_summary (const XmEvent *ev, GString *s)
{
  static const char *const levels[] = { "note", "warning", "error" };

  switch (ev->kind)
    {
    case XM_EVENT_STREAM_OPEN:
    case XM_EVENT_STANZA:
      stanza_summary (ev, s);
      break;
    case XM_EVENT_CONN_OPEN:
      g_string_append_printf (s, "connected: %s", ev->text ? ev->text : "");
      break;
    case XM_EVENT_CONN_CLOSE:
      g_string_append_printf (s, "closed: %s", ev->text ? ev->text : "");
      break;
    case XM_EVENT_KEEPALIVE:
      g_string_append_printf (s, "keepalive, %" G_GSIZE_FORMAT " bytes", ev->count);
      break;
    case XM_EVENT_STREAM_CLOSE:
      g_string_append (s, "stream close");
      break;
    case XM_EVENT_NOTE:
      g_string_append_printf (s, "%s: %s", levels[MIN (ev->level, 2u)], ev->text);
      break;
    case XM_EVENT_LAYER:
      g_string_append_printf (s, "layer: %s", ev->text);
      break;
    case XM_EVENT_SASL:
      g_string_append_printf (s, "decoded: %s %s %s", ev->sasl->protocol,
                              ev->sasl->mechanism ? ev->sasl->mechanism : "",
                              ev->sasl->step ? ev->sasl->step : "");
      break;
    case XM_EVENT_TRANSPORT:
      g_string_append_printf (s, "%s: %s", ev->transport, ev->text);
      break;
    }
}

typedef struct {
  XmWebData *wd;
  XmEventIndex *idx;
  XmFilter *filter;
  JsonBuilder *b;
  guint64 from, next, scanned, skipped, lines_skipped;
  guint64 decided;   /* want_event has passed over every id before this */
  gboolean full;     /* on_page_event stopped the scan */
  guint want, got;
  gboolean detail;   /* text and xml too (a list needs only the line) */
  gboolean offline;  /* export --html: what the page's own filter reads */
} Page;

/* The iq pairing the index worked out (event-index.c). */
static void
add_pairing (JsonBuilder *b, const XmEventIndex *idx, guint64 id)
{
  XmIndexedEvent ie;

  if (!xm_event_index_get (idx, id, &ie) || ie.iq == 0)
    return;
  add_string (b, "iq", (ie.iq & XM_IQ_REQUEST) ? "request" : "answer");
  if (ie.pair >= 0)
    {
      add_int (b, "pair", ie.pair);
      add_int (b, "rtt_us", ie.rtt_us);
    }
  if (ie.iq & XM_IQ_UNANSWERED)
    add_bool (b, "unanswered", TRUE);
  if (ie.iq & XM_IQ_UNTRACKED)
    add_bool (b, "untracked", TRUE);
}

/* What the filter of an exported page (offline.js) matches on, worked
 * out here so that it follows ui/filter.c: the kind as --kind sees it, the
 * namespaces --ns looks at, the from and to --jid looks at, and for events
 * without XML the text --grep searches. */
static void
add_offline_fields (JsonBuilder *b, const XmEvent *ev)
{
  const XmNode *root = (ev->kind == XM_EVENT_STANZA || ev->kind == XM_EVENT_STREAM_OPEN)
                       && ev->stanza ? ev->stanza->root : NULL;
  guint klass = xm_filter_event_class (ev);

  add_int (b, "k", klass);
  if (root)
    {
      json_builder_set_member_name (b, "nss");
      json_builder_begin_array (b);
      if (klass == XM_EVENT_CLASS_STREAM && root->ns)
        json_builder_add_string_value (b, root->ns);
      for (const XmNode *c = root->children; c; c = c->next)
        if (c->type == XM_NODE_ELEMENT && c->ns)
          json_builder_add_string_value (b, c->ns);
      json_builder_end_array (b);
      json_builder_set_member_name (b, "jids");
      json_builder_begin_array (b);
      for (guint i = 0; i < 2; i++)
        {
          const char *v = xm_node_attr (root, i ? "to" : "from");
          if (v)
            json_builder_add_string_value (b, v);
        }
      json_builder_end_array (b);
    }
  else if (ev->text && ev->kind != XM_EVENT_SASL)
    add_string (b, "gt", ev->text);
}

static void
add_event (Page *p, guint64 id, const XmEvent *ev)
{
  JsonBuilder *b = p->b;
  g_autoptr (GString) s = g_string_new (NULL);

  json_builder_begin_object (b);
  add_int (b, "id", id);
  add_int (b, "t", ev->time_us);
  add_int (b, "conn", ev->conn);
  add_string (b, "dir", ev->dir == XM_DIR_C2S ? "c2s" : ev->dir == XM_DIR_S2C ? "s2c" : NULL);
  add_string (b, "ev", xm_record_event_names[ev->kind]);
  add_string (b, "name", ev->stanza && ev->stanza->root ? ev->stanza->root->name : NULL);
  json_builder_set_member_name (b, "layers");
  json_builder_begin_array (b);
  if (ev->flags & XM_EVENT_FLAG_TLS)
    json_builder_add_string_value (b, "tls");
  if (ev->flags & XM_EVENT_FLAG_ZLIB)
    json_builder_add_string_value (b, "zlib");
  if (ev->flags & XM_EVENT_FLAG_WS)
    json_builder_add_string_value (b, "ws");
  if (ev->flags & XM_EVENT_FLAG_BOSH)
    json_builder_add_string_value (b, "bosh");
  json_builder_end_array (b);
  event_summary (ev, s);
  add_string (b, "summary", s->str);
  add_pairing (b, p->idx, id);
  if (p->offline)
    add_offline_fields (b, ev);
  if (!p->detail)
    {
      add_bool (b, "has_xml", ev->stanza && ev->stanza->raw);
      json_builder_end_object (b);
      return;
    }
  g_string_truncate (s, 0);
  xm_printer_format (&p->wd->printer, ev, s);
  add_string (b, "text", s->str);
  if (ev->stanza && ev->stanza->raw)
    {
      /* copy as XML: the stanza as sent, its secrets hidden as the
       * printer hides them */
      g_string_truncate (s, 0);
      if (p->wd->printer.show_secrets || xm_stanza_redact (ev->stanza, s) == 0)
        g_string_append_len (g_string_truncate (s, 0),
                             (const char *) ev->stanza->raw, ev->stanza->raw_len);
      add_string (b, "xml", s->str);
    }
  json_builder_end_object (b);
}

static gboolean
on_page_event (guint64 id, const XmEvent *ev, gpointer data)
{
  Page *p = data;
  /* every event goes through the filter, in order: it remembers each
   * connection's last stanza for the SASL decode after it */
  gboolean pass = p->filter == NULL || xm_filter_match (p->filter, ev);

  p->next = id + 1;
  p->scanned++;
  if (id >= p->from && pass)
    {
      add_event (p, id, ev);
      p->got++;
    }
  p->full = !(p->got < p->want && p->scanned < MAX_SCAN);
  return !p->full;
}

/* Events the filter turns down from the index alone are not read again:
 * over a large file, --conn, --dir and --kind cost no parsing. */
static XmIndexWant
want_event (const XmEventIndex *idx, guint64 id, gpointer data)
{
  Page *p = data;
  XmIndexedEvent ie;

  if (p->filter && (p->skipped >= MAX_SKIP || p->lines_skipped >= MAX_LINE_SKIP))
    return XM_INDEX_STOP;
  p->decided = id + 1;
  if (p->filter == NULL)
    return XM_INDEX_READ;
  xm_event_index_get (idx, id, &ie);
  if (xm_filter_may_match (p->filter, ie.conn, ie.dir, ie.kind, ie.event_class,
                           &ie.digest))
    return XM_INDEX_READ;
  p->skipped++;
  return XM_INDEX_SKIP;
}

/* --grep's required text absent from the line: not parsed at all. */
static gboolean
want_line (const XmEventIndex *idx, guint64 id, const char *line, gsize len,
           gpointer data)
{
  Page *p = data;
  XmIndexedEvent ie;

  if (p->filter == NULL || !xm_event_index_get (idx, id, &ie)
      || xm_filter_line_may_match (p->filter, ie.kind, line, len))
    return TRUE;
  p->lines_skipped++;
  return FALSE;
}

static void
skipped_event (const XmEventIndex *idx, guint64 id, gpointer data)
{
  Page *p = data;
  XmIndexedEvent ie;

  if (p->filter && xm_event_index_get (idx, id, &ie))
    xm_filter_skipped (p->filter, ie.conn, ie.kind);
}

/* The filter parameters, named as the command line's options, into the
 * arrays GOption would have collected. */
static gboolean
collect_filter_arg (XmFilterArgs *args, GPtrArray **arrays, const char *name,
                    const char *value)
{
  static const char *const names[] = { "conn", "dir", "kind", "ns", "jid", "grep" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (strcmp (name, names[i]) == 0)
      {
        if (*value == '\0')
          return TRUE; /* an empty box in the page: no filter */
        if (arrays[i] == NULL)
          arrays[i] = g_ptr_array_new ();
        g_ptr_array_add (arrays[i], g_strdup (value));
        return TRUE;
      }
  return FALSE;
}

char *
xm_web_events_json (XmWebData *wd, char **names, char **values, guint n,
                    gsize *len, GError **error)
{
  g_auto (XmFilterArgs) args = { 0 };
  GPtrArray *arrays[6] = { 0 };
  char ***slots[6] = { &args.conn, &args.dir, &args.kind, &args.ns, &args.jid,
                       &args.grep };
  g_autoptr (XmFilter) filter = NULL;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  guint64 file = 0, from = 0, count = DEFAULT_PAGE, total;
  Page p = { .wd = wd, .detail = TRUE };
  XmEventIndex *idx;
  gboolean ok = TRUE;

  for (guint i = 0; i < n && ok; i++)
    {
      if (strcmp (names[i], "file") == 0)
        ok = parse_number ("file", values[i], G_MAXUINT, &file, error);
      else if (strcmp (names[i], "from") == 0)
        ok = parse_number ("from", values[i], G_MAXINT64, &from, error);
      else if (strcmp (names[i], "count") == 0)
        ok = parse_number ("count", values[i], MAX_PAGE, &count, error);
      else if (strcmp (names[i], "detail") == 0)
        p.detail = strcmp (values[i], "0") != 0;
      else if (strcmp (names[i], "token") != 0
               && !collect_filter_arg (&args, arrays, names[i], values[i]))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION,
                       "unknown parameter '%s' (file, from, count, detail, conn, "
                       "dir, kind, ns, jid, grep)", names[i]);
          ok = FALSE;
        }
    }
  for (guint i = 0; i < G_N_ELEMENTS (arrays); i++)
    if (arrays[i])
      {
        g_ptr_array_add (arrays[i], NULL);
        *slots[i] = (char **) g_ptr_array_free (arrays[i], FALSE);
      }
  if (!ok)
    return NULL;
  if (file >= wd->indexes->len)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "no file %" G_GUINT64_FORMAT " (there are %u)", file,
                   wd->indexes->len);
      return NULL;
    }
  /* the same checks and messages as on the command line */
  if ((filter = xm_filter_new (&args, error)) == NULL)
    return NULL;
  if (xm_filter_is_empty (filter))
    g_clear_pointer (&filter, xm_filter_free);
  idx = wd->indexes->pdata[file];
  total = xm_event_index_count (idx);
  p.filter = filter;
  p.idx = idx;
  p.b = b;
  p.from = from;
  p.next = MIN (from, total);
  p.want = (guint) count;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "events");
  json_builder_begin_array (b);
  /* one event before from, unshown, so that the filter knows whether the
   * stanza a SASL decode at from belongs to passed: xmitm records a
   * decode right after its stanza (a hand-made recording that puts other
   * events between them may see such a decode kept or dropped at a page
   * boundary) */
  if (count > 0 && from < total
      && !xm_event_index_scan_lines (idx, from > 0 ? from - 1 : 0, want_event,
                                     want_line, skipped_event, &p,
                                     on_page_event, &p, error))
    return NULL;
  /* the scan went on past the last event read only if that one did not
   * stop it */
  if (!p.full)
    p.next = MAX (p.next, p.decided);
  json_builder_end_array (b);
  add_int (b, "file", file);
  add_int (b, "from", from);
  add_int (b, "next", p.next);
  add_bool (b, "done", p.next >= total);
  add_int (b, "total", total);
  add_bool (b, "filtered", filter != NULL);
  json_builder_end_object (b);
  return finish (b, len);
}

/* ---- one event, whole ---- */

typedef struct {
  Page *page;
  guint64 id;
  gboolean found;
} One;

static gboolean
on_one_event (guint64 id, const XmEvent *ev, gpointer data)
{
  One *o = data;

  if (id == o->id)
    {
      add_event (o->page, id, ev);
      o->found = TRUE;
    }
  return id < o->id;
}

static XmIndexWant
want_one (const XmEventIndex *idx, guint64 id, gpointer data)
{
  return id == ((One *) data)->id ? XM_INDEX_READ : XM_INDEX_STOP;
}

/* GET /api/event?file=F&id=N: one event with its printed text and XML
 * (the detail pane; a link from an iq to its partner). */
static char *
event_json (XmWebData *wd, char **names, char **values, guint n, gsize *len,
            GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  guint64 file = 0, id = G_MAXUINT64;
  Page p = { .wd = wd, .b = b, .detail = TRUE };
  One o = { .page = &p };
  XmEventIndex *idx;

  for (guint i = 0; i < n; i++)
    if ((strcmp (names[i], "file") == 0
         && !parse_number ("file", values[i], G_MAXUINT, &file, error))
        || (strcmp (names[i], "id") == 0
            && !parse_number ("id", values[i], G_MAXINT64, &id, error)))
      return NULL;
  if (file >= wd->indexes->len || id == G_MAXUINT64
      || id >= xm_event_index_count (wd->indexes->pdata[file]))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "no such event: give file and id");
      return NULL;
    }
  idx = wd->indexes->pdata[file];
  p.idx = idx;
  o.id = id;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "event");
  if (!xm_event_index_scan (idx, id, want_one, NULL, &o, on_one_event, &o, error))
    return NULL;
  if (!o.found)
    json_builder_add_null_value (b);
  json_builder_end_object (b);
  return finish (b, len);
}

/* ---- routes ---- */

gboolean
xm_web_api_dispatch (XmWebData *wd, const char *path, char **names,
                     char **values, guint n, XmWebAnswer *out)
{
  g_autoptr (GError) error = NULL;

  out->status = 200;
  out->type = "application/json";
  out->len = 0;
  if (strcmp (path, "/api/sessions") == 0)
    {
      g_autoptr (GHashTable) query = g_hash_table_new (g_str_hash, g_str_equal);
      for (guint i = 0; i < n; i++)
        g_hash_table_insert (query, names[i], values[i]);
      out->body = xm_web_sessions_json (wd, query, &out->len, &error);
    }
  else if (strcmp (path, "/api/events") == 0)
    out->body = xm_web_events_json (wd, names, values, n, &out->len, &error);
  else if (strcmp (path, "/api/event") == 0)
    out->body = event_json (wd, names, values, n, &out->len, &error);
  else
    return FALSE;
  if (out->body == NULL)
    {
      out->status = error->domain == G_OPTION_ERROR ? 400 : 500;
      out->type = "text/plain; charset=utf-8";
      out->body = g_strconcat (error->message, "\n", NULL);
      out->len = strlen (out->body);
    }
  return TRUE;
}

/* ---- export --html ---- */

static gboolean
on_export_event (guint64 id, const XmEvent *ev, gpointer data)
{
  add_event (data, id, ev);
  return TRUE;
}

char *
xm_web_export_json (XmWebData *wd, gsize *len, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (GHashTable) query = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *sessions = NULL;
  g_autofree char *events = NULL;
  g_autofree char *max = g_strdup_printf ("%u", MAX_SESSIONS);
  XmEventIndex *idx = wd->indexes->pdata[0];
  Page p = { .wd = wd, .idx = idx, .b = b, .detail = TRUE, .offline = TRUE };
  gsize n;
  GString *out;

  g_hash_table_insert (query, (char *) "count", max);
  if ((sessions = xm_web_sessions_json (wd, query, &n, error)) == NULL)
    return NULL;
  json_builder_begin_array (b);
  if (!xm_event_index_read (idx, 0, on_export_event, &p, error))
    return NULL;
  json_builder_end_array (b);
  events = finish (b, &n);
  out = g_string_new ("{\"sessions\":");
  g_string_append (out, sessions);
  g_string_append (out, ",\"events\":");
  g_string_append (out, events);
  g_string_append (out, "}");
  *len = out->len;
  return g_string_free (out, FALSE);
}
