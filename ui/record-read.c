/* record-read.c: a recording back into events.
 *
 * Stanzas are rebuilt by feeding the recorded XML to a framer per
 * connection and direction, header first, exactly as it was framed live; so
 * the printer gets the same trees, namespaces included. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <json-glib/json-glib.h>

#include "record.h"
#include "record-private.h"
#include "xml-framer.h"

#define STREAM_WRAPPER "<stream:stream xmlns='jabber:client' " \
  "xmlns:stream='http://etherx.jabber.org/streams'>"

typedef struct {
  const char *path;
  XmSink *sink;
  XmRecordInfo *info;
  XmRecordWarnFunc warn;
  gpointer warn_data;
  GHashTable *framers;   /* conn * 2 + dir -> XmFramer */
  XmEvent *ev;           /* being delivered by a framer callback */
  gboolean delivered;
  guint64 line;
} Reader;

static void G_GNUC_PRINTF (2, 3)
warn (Reader *r, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (r->warn)
    r->warn (msg, r->warn_data);
}

void
xm_record_info_clear (XmRecordInfo *info)
{
  g_clear_pointer (&info->source, g_free);
  g_clear_pointer (&info->xmitm_version, g_free);
}

/* ---- framer callbacks: the rebuilt stanza goes straight to the sink ---- */

static void
deliver (Reader *r, XmStanza *st)
{
  if (r->ev == NULL || r->delivered)
    return;
  r->ev->stanza = st;
  r->delivered = TRUE;
  xm_sink_event (r->sink, r->ev);
}

static void
on_stream_open (XmStanza *header, gpointer data)
{
  Reader *r = data;

  if (r->ev && r->ev->kind == XM_EVENT_STREAM_OPEN)
    deliver (r, header);
}

static void
on_stanza (XmStanza *st, gpointer data)
{
  Reader *r = data;

  if (r->ev && r->ev->kind == XM_EVENT_STANZA)
    deliver (r, st);
}

static const XmFramerEvents framer_events = {
  .stream_open = on_stream_open,
  .stanza = on_stanza,
};

static XmFramer *
framer_for (Reader *r, guint conn, XmDir dir, gboolean fresh)
{
  gpointer key = GUINT_TO_POINTER (conn * 2 + (dir == XM_DIR_S2C));
  XmFramer *f = g_hash_table_lookup (r->framers, key);

  if (f && fresh)
    {
      g_hash_table_remove (r->framers, key);
      f = NULL;
    }
  if (f == NULL)
    {
      f = xm_framer_new (&framer_events, r);
      /* What was framed live is framed again, whatever its size. */
      xm_framer_set_max_stanza (f, G_MAXSIZE / 4);
      g_hash_table_insert (r->framers, key, f);
    }
  return f;
}

/* ---- JSON helpers ---- */

static const char *
str_member (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  if (n == NULL || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

static gint64
int_member (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return 0;
  if (json_node_get_value_type (n) == G_TYPE_INT64)
    return json_node_get_int (n);
  if (json_node_get_value_type (n) == G_TYPE_DOUBLE)
    {
      /* A damaged file may hold any number: never convert out of range. */
      double d = json_node_get_double (n);

      if (isnan (d))
        return 0;
      if (d >= 9.2e18)
        return G_MAXINT64;
      if (d <= -9.2e18)
        return G_MININT64;
      return (gint64) d;
    }
  return 0;
}

/* The member if it is an array (an object), else NULL: a damaged file
 * may put anything anywhere. */
static JsonArray *
array_member (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  return n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
}

static JsonObject *
object_member (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  return n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

static gboolean
bool_member (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  return n && JSON_NODE_HOLDS_VALUE (n)
         && json_node_get_value_type (n) == G_TYPE_BOOLEAN
         && json_node_get_boolean (n);
}

static int
lookup (const char *const *names, int n, const char *s)
{
  for (int i = 0; s && i < n; i++)
    if (names[i] && strcmp (names[i], s) == 0)
      return i;
  return -1;
}

/* The recorded bytes of a stanza: "xml", or "xml_base64" for bytes that
 * were not UTF-8. */
static GBytes *
xml_member (JsonObject *o)
{
  const char *s = str_member (o, "xml");
  gsize len;
  guchar *data;

  if (s)
    return g_bytes_new (s, strlen (s));
  s = str_member (o, "xml_base64");
  if (s == NULL)
    return NULL;
  data = g_base64_decode (s, &len);
  return g_bytes_new_take (data, len);
}

/* ---- events ---- */

static void
emit_stanza (Reader *r, XmEvent *ev, JsonObject *o)
{
  g_autoptr (GBytes) xml = xml_member (o);
  gboolean header = ev->kind == XM_EVENT_STREAM_OPEN;
  gsize len;
  const char *data;

  if (xml == NULL)
    {
      /* Too large to decode live: recorded without its bytes. */
      g_autoptr (XmStanza) st = xm_stanza_new ();
      st->raw_len = int_member (o, "len");
      st->oversized = TRUE;
      ev->stanza = st;
      xm_sink_event (r->sink, ev);
      return;
    }
  data = g_bytes_get_data (xml, &len);
  r->ev = ev;
  r->delivered = FALSE;
  xm_framer_feed (framer_for (r, ev->conn, ev->dir, header), (const guint8 *) data, len);
  if (!r->delivered && !header)
    {
      /* No header recorded before it (the recording starts mid-stream):
       * frame it inside a client stream. */
      XmFramer *f = framer_for (r, ev->conn, ev->dir, TRUE);
      r->ev = NULL;
      xm_framer_feed (f, (const guint8 *) STREAM_WRAPPER, strlen (STREAM_WRAPPER));
      r->ev = ev;
      xm_framer_feed (f, (const guint8 *) data, len);
    }
  if (!r->delivered)
    warn (r, "line %" G_GUINT64_FORMAT ": the recorded %s is not well-formed "
          "XML; skipped", r->line, header ? "stream header" : "stanza");
  r->ev = NULL;
}

static XmSaslDecode *
sasl_from (JsonObject *o)
{
  static const char *const protocols[] = { "SASL", "SASL2", "XEP-0078", "XEP-0114", "XEP-0220" };
  int p = lookup (protocols, G_N_ELEMENTS (protocols), str_member (o, "protocol"));
  XmSaslDecode *d = xm_sasl_decode_new (p >= 0 ? protocols[p] : "SASL");
  JsonArray *fields = array_member (o, "fields");
  JsonArray *notes = array_member (o, "notes");

  d->element = g_strdup (str_member (o, "element"));
  d->mechanism = g_strdup (str_member (o, "mechanism"));
  d->step = g_strdup (str_member (o, "step"));
  for (guint i = 0; fields && i < json_array_get_length (fields); i++)
    {
      JsonNode *fn = json_array_get_element (fields, i);
      JsonObject *fo = JSON_NODE_HOLDS_OBJECT (fn) ? json_node_get_object (fn) : NULL;
      XmSaslField *f;
      const char *value;

      if (fo == NULL)
        continue;
      f = g_new0 (XmSaslField, 1);
      value = str_member (fo, "value");
      f->name = g_strdup (str_member (fo, "name") ? str_member (fo, "name") : "?");
      f->secret = bool_member (fo, "secret");
      f->binary = bool_member (fo, "binary") && value != NULL;
      /* A secret recorded without --record-secrets has no value. */
      f->value = g_strdup (value ? value : "[not recorded]");
      f->raw_len = int_member (fo, "len");
      g_ptr_array_add (d->fields, f);
    }
  for (guint i = 0; notes && i < json_array_get_length (notes); i++)
    {
      JsonNode *nn = json_array_get_element (notes, i);
      const char *n = JSON_NODE_HOLDS_VALUE (nn)
                      && json_node_get_value_type (nn) == G_TYPE_STRING
                      ? json_node_get_string (nn) : NULL;
      if (n)
        g_ptr_array_add (d->notes, g_strdup (n));
    }
  return d;
}

static void
emit_layer (Reader *r, XmEvent *ev, JsonObject *o)
{
  JsonObject *cert = NULL;
  XmLayerInfo info = { 0 };
  JsonNode *verified = json_object_get_member (o, "verified");

  cert = object_member (o, "cert");
  info.layer = str_member (o, "layer");
  info.leg = str_member (o, "leg");
  info.tls_version = str_member (o, "tls_version");
  info.cipher = str_member (o, "cipher");
  info.sni = str_member (o, "sni");
  info.alpn = str_member (o, "alpn");
  if (cert)
    {
      info.cert_subject = str_member (cert, "subject");
      info.cert_issuer = str_member (cert, "issuer");
      info.cert_sha256 = str_member (cert, "sha256");
    }
  if (verified && JSON_NODE_HOLDS_VALUE (verified)
      && json_node_get_value_type (verified) == G_TYPE_STRING)
    info.verified = json_node_get_string (verified);
  info.ms = int_member (o, "handshake_us") / 1000.0;
  ev->layer = &info;
  xm_sink_event (r->sink, ev);
  ev->layer = NULL;
}

static void
handle_event (Reader *r, JsonObject *o)
{
  XmEvent ev = { 0 };
  const char *name = str_member (o, "ev");
  const char *dir = str_member (o, "dir");
  int kind = lookup (xm_record_event_names, G_N_ELEMENTS (xm_record_event_names), name);

  if (kind < 0)
    {
      /* A newer xmitm may record more kinds: skip, say so. */
      warn (r, "line %" G_GUINT64_FORMAT ": unknown event '%s'; skipped",
            r->line, name ? name : "(none)");
      r->info->bad_lines++;
      return;
    }
  ev.kind = kind;
  ev.time_us = int_member (o, "t");
  ev.conn = (guint) int_member (o, "conn");
  ev.dir = g_strcmp0 (dir, "c2s") == 0 ? XM_DIR_C2S
           : g_strcmp0 (dir, "s2c") == 0 ? XM_DIR_S2C : XM_DIR_NONE;
  if (bool_member (o, "tls"))
    ev.flags |= XM_EVENT_FLAG_TLS;
  if (bool_member (o, "zlib"))
    ev.flags |= XM_EVENT_FLAG_ZLIB;
  ev.text = str_member (o, "text");
  r->info->events++;

  switch (ev.kind)
    {
    case XM_EVENT_CONN_OPEN:
      ev.addr[0] = str_member (o, "client");
      ev.addr[1] = str_member (o, "server");
      break;
    case XM_EVENT_CONN_CLOSE:
      ev.bytes[XM_DIR_C2S] = int_member (o, "c2s_bytes");
      ev.bytes[XM_DIR_S2C] = int_member (o, "s2c_bytes");
      break;
    case XM_EVENT_STREAM_OPEN:
    case XM_EVENT_STANZA:
      if (ev.dir == XM_DIR_NONE)
        {
          warn (r, "line %" G_GUINT64_FORMAT ": a %s without a direction; skipped",
                r->line, name);
          r->info->bad_lines++;
          return;
        }
      ev.wire_len = int_member (o, "wire");
      emit_stanza (r, &ev, o);
      return;
    case XM_EVENT_KEEPALIVE:
      ev.count = int_member (o, "count");
      break;
    case XM_EVENT_STREAM_CLOSE:
      break;
    case XM_EVENT_NOTE:
      {
        int level = lookup (xm_record_levels, G_N_ELEMENTS (xm_record_levels),
                            str_member (o, "level"));
        ev.level = level < 0 ? XM_NOTE_INFO : level;
        if (ev.text == NULL)
          ev.text = "";
      }
      break;
    case XM_EVENT_LAYER:
      if (ev.text == NULL)
        ev.text = "";
      emit_layer (r, &ev, o);
      return;
    case XM_EVENT_SASL:
      {
        g_autoptr (XmSaslDecode) d = sasl_from (o);
        ev.sasl = d;
        xm_sink_event (r->sink, &ev);
      }
      return;
    }
  xm_sink_event (r->sink, &ev);
}

static gboolean
read_header (Reader *r, JsonObject *o, GError **error)
{
  gint64 version = int_member (o, "format_version");

  if (g_strcmp0 (str_member (o, "format"), XM_RECORD_FORMAT) != 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s is not an xmitm recording: its first line is JSON but "
                   "not a recording header", r->path);
      return FALSE;
    }
  if (version < 1 || version > XM_RECORD_VERSION)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s has recording format version %" G_GINT64_FORMAT "; this "
                   "xmitm (%s) reads version %d", r->path, version,
                   XMITM_VERSION, XM_RECORD_VERSION);
      return FALSE;
    }
  r->info->format_version = (int) version;
  r->info->secrets = g_strcmp0 (str_member (o, "secrets"), "recorded") == 0;
  r->info->source = g_strdup (str_member (o, "source"));
  r->info->xmitm_version = g_strdup (str_member (o, "xmitm"));
  return TRUE;
}

gboolean
xm_record_read (const char *path, XmSink *sink, XmRecordInfo *info,
                XmRecordWarnFunc warn_fn, gpointer warn_data, GError **error)
{
  FILE *in;
  gboolean ok;

  memset (info, 0, sizeof *info);
  in = fopen (path, "re");
  if (in == NULL)
    {
      int err = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                   "cannot open %s: %s", path, g_strerror (err));
      return FALSE;
    }
  ok = xm_record_read_stream (in, path, sink, info, warn_fn, warn_data, error);
  fclose (in);
  return ok;
}

gboolean
xm_record_read_stream (FILE *in, const char *path, XmSink *sink,
                       XmRecordInfo *info, XmRecordWarnFunc warn_fn,
                       gpointer warn_data, GError **error)
{
  Reader r = { .path = path, .sink = sink, .info = info, .warn = warn_fn,
               .warn_data = warn_data };
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  gboolean ok = TRUE;

  memset (info, 0, sizeof *info);
  r.framers = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) xm_framer_free);

  while ((n = getline (&line, &cap, in)) > 0)
    {
      g_autoptr (GError) perr = NULL;
      gboolean complete = line[n - 1] == '\n';
      JsonNode *root;

      r.line++;
      if (complete)
        line[--n] = '\0';
      if (n == 0)
        continue;
      if (!json_parser_load_from_data (parser, line, n, &perr)
          || (root = json_parser_get_root (parser)) == NULL
          || !JSON_NODE_HOLDS_OBJECT (root))
        {
          if (r.line == 1)
            {
              g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                           complete ? "%s is not an xmitm recording or a packet "
                                      "capture (its first line is not a "
                                      "recording header)"
                                    : "%s is not an xmitm recording or a packet "
                                      "capture (no recording header)", path);
              ok = FALSE;
              break;
            }
          if (!complete)
            {
              info->truncated = TRUE;
              warn (&r, "line %" G_GUINT64_FORMAT ": the last line is cut short "
                    "(the recording ended in the middle of an event, e.g. xmitm "
                    "was killed); the %" G_GUINT64_FORMAT " events before it "
                    "are intact", r.line, info->events);
            }
          else
            {
              info->bad_lines++;
              warn (&r, "line %" G_GUINT64_FORMAT ": not a JSON object (%s); "
                    "skipped", r.line, perr ? perr->message : "not an object");
            }
          continue;
        }
      if (r.line == 1)
        {
          if (!read_header (&r, json_node_get_object (root), error))
            {
              ok = FALSE;
              break;
            }
          continue;
        }
      handle_event (&r, json_node_get_object (root));
    }
  if (ok && ferror (in))
    {
      int err = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                   "reading %s failed: %s", path, g_strerror (err));
      ok = FALSE;
    }
  if (ok && r.line == 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s is empty: not an xmitm recording", path);
      ok = FALSE;
    }
  xm_sink_flush (sink);
  free (line);
  g_hash_table_unref (r.framers);
  return ok;
}
