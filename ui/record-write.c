/* record-write.c: events to JSON Lines (json-glib does the escaping). */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <json-glib/json-glib.h>

#include "files.h"
#include "xml-scan.h"
#include "record.h"
#include "record-private.h"

#define FLUSH_AT (64 * 1024)

const char *const xm_record_event_names[XM_EVENT_TRANSPORT + 1] = {
  [XM_EVENT_CONN_OPEN] = "open",
  [XM_EVENT_CONN_CLOSE] = "close",
  [XM_EVENT_STREAM_OPEN] = "stream-open",
  [XM_EVENT_STANZA] = "stanza",
  [XM_EVENT_KEEPALIVE] = "keepalive",
  [XM_EVENT_STREAM_CLOSE] = "stream-close",
  [XM_EVENT_NOTE] = "note",
  [XM_EVENT_LAYER] = "layer",
  [XM_EVENT_SASL] = "sasl",
  [XM_EVENT_TRANSPORT] = "transport",
};

const char *const xm_record_levels[XM_NOTE_ERROR + 1] = {
  [XM_NOTE_INFO] = "info",
  [XM_NOTE_WARNING] = "warning",
  [XM_NOTE_ERROR] = "error",
};

static void
add_string (JsonBuilder *b, const char *name, const char *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name (b, name);
  if (g_utf8_validate (value, -1, NULL))
    json_builder_add_string_value (b, value);
  else
    {
      g_autofree char *valid = g_utf8_make_valid (value, -1);
      json_builder_add_string_value (b, valid);
    }
}

static void
add_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

static void
add_true (JsonBuilder *b, const char *name)
{
  json_builder_set_member_name (b, name);
  json_builder_add_boolean_value (b, TRUE);
}

static void
finish (JsonBuilder *b, GString *buf)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_to_gstring (gen, buf);
  g_string_append_c (buf, '\n');
}

void
xm_record_format_header (const char *source, gboolean secrets, gint64 time_us,
                         GString *buf)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
  g_autofree char *iso = dt ? g_date_time_format_iso8601 (dt) : NULL;

  json_builder_begin_object (b);
  add_string (b, "format", XM_RECORD_FORMAT);
  add_int (b, "format_version", XM_RECORD_VERSION);
  add_string (b, "xmitm", XMITM_VERSION);
  add_int (b, "t", time_us);
  add_string (b, "started", iso);
  add_string (b, "source", source);
  add_string (b, "secrets", secrets ? "recorded" : "redacted");
  finish (b, buf);
}

static void
add_layer (JsonBuilder *b, const XmLayerInfo *l)
{
  add_string (b, "layer", l->layer);
  add_string (b, "leg", l->leg);
  add_string (b, "tls_version", l->tls_version);
  add_string (b, "cipher", l->cipher);
  add_string (b, "sni", l->sni);
  add_string (b, "alpn", l->alpn);
  if (l->cert_subject || l->cert_issuer || l->cert_sha256)
    {
      json_builder_set_member_name (b, "cert");
      json_builder_begin_object (b);
      add_string (b, "subject", l->cert_subject);
      add_string (b, "issuer", l->cert_issuer);
      add_string (b, "sha256", l->cert_sha256);
      json_builder_end_object (b);
    }
  if (l->leg && g_strcmp0 (l->leg, "server") == 0)
    {
      json_builder_set_member_name (b, "verified");
      if (l->verified)
        json_builder_add_string_value (b, l->verified);
      else
        json_builder_add_boolean_value (b, FALSE);
    }
  if (l->ms > 0)
    add_int (b, "handshake_us", (gint64) (l->ms * 1000 + 0.5));
}

static void
add_sasl (JsonBuilder *b, const XmSaslDecode *d, gboolean secrets)
{
  add_string (b, "protocol", d->protocol);
  add_string (b, "element", d->element);
  add_string (b, "mechanism", d->mechanism);
  add_string (b, "step", d->step);
  json_builder_set_member_name (b, "fields");
  json_builder_begin_array (b);
  for (guint i = 0; d->fields && i < d->fields->len; i++)
    {
      const XmSaslField *f = g_ptr_array_index (d->fields, i);
      json_builder_begin_object (b);
      add_string (b, "name", f->name);
      if (!f->secret || secrets)
        add_string (b, "value", f->value);
      add_int (b, "len", f->raw_len);
      if (f->secret)
        add_true (b, "secret");
      if (f->binary)
        add_true (b, "binary");
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  if (d->notes && d->notes->len)
    {
      json_builder_set_member_name (b, "notes");
      json_builder_begin_array (b);
      for (guint i = 0; i < d->notes->len; i++)
        json_builder_add_string_value (b, g_ptr_array_index (d->notes, i));
      json_builder_end_array (b);
    }
}

/* ---- the hot path: stanzas and keepalives without a JSON tree ----
 *
 * Every stanza of every connection becomes a line, so these two events are
 * written by hand (json-glib builds and walks a tree per event, about 4 us).
 * The text is what json-glib writes for the same members, in the same
 * order; test-record checks both against each other. */

/* JSON string escapes by byte: 0 none, 1 a short escape, 2 \u00XX, 3 a
 * byte of a multi-byte UTF-8 sequence. */
static const guint8 json_class[256] = {
  [0x00 ... 0x07] = 2, ['\b'] = 1, ['\t'] = 1, ['\n'] = 1, [0x0b] = 2, ['\f'] = 1,
  ['\r'] = 1, [0x0e ... 0x1f] = 2,
  ['"'] = 1, ['\\'] = 1, [0x7f] = 2, [0x80 ... 0xff] = 3,
};

/* The writers below put bytes at a cursor in space the caller reserved
 * (one g_string_set_size per event, no append calls per member). */

/* data as a JSON string at o; NULL if data is not UTF-8 (JSON cannot hold
 * it) or holds a NUL. Needs 2 + 6 * len bytes. */
static char *
json_string (char *o, const char *data, gsize len)
{
  static const char hex[] = "0123456789abcdef";
  const guint8 *s = (const guint8 *) data, *e = s + len;

  *o++ = '"';
  while (s < e)
    {
      const guint8 *run = s;
      gsize n;

      s = xm_skip_plain (s, e, '"', '\\', 0x7f);
      while (s < e && json_class[*s] == 0)
        s++;
      n = s - run;
      memcpy (o, run, n);
      o += n;
      if (s == e)
        break;
      switch (json_class[*s])
        {
        case 1:
          *o++ = '\\';
          *o++ = *s == '\b' ? 'b' : *s == '\f' ? 'f' : *s == '\n' ? 'n'
                 : *s == '\r' ? 'r' : *s == '\t' ? 't' : (char) *s;
          s++;
          break;
        case 2:
          if (*s == 0)
            return NULL;
          memcpy (o, "\\u00", 4);
          o[4] = hex[*s >> 4];
          o[5] = hex[*s & 15];
          o += 6;
          s++;
          break;
        default:
          {
            guint32 cp;
            int k = xm_utf8_decode (s, e, &cp);
            if (k <= 0)
              return NULL;
            memcpy (o, s, k);
            o += k;
            s += k;
          }
          break;
        }
    }
  *o++ = '"';
  return o;
}

#define PUT(o, lit) (memcpy ((o), (lit), sizeof (lit) - 1), (o) + sizeof (lit) - 1)

static char *
json_uint (char *o, guint64 v)
{
  char digits[24], *d = digits + sizeof digits;
  gsize n;

  do
    *--d = (char) ('0' + v % 10);
  while ((v /= 10) != 0);
  n = digits + sizeof digits - d;
  memcpy (o, d, n);
  return o + n;
}

/* The members every event starts with, up to its own (at most 120 bytes). */
static char *
json_head (char *o, const XmEvent *ev)
{
  const char *name = xm_record_event_names[ev->kind];
  gsize n = strlen (name);

  /* events of one read share their time: format it once */
  static gint64 last_t = -1;
  static char last_digits[24];
  static gsize last_n;

  if (ev->time_us != last_t)
    {
      last_t = ev->time_us;
      last_n = json_uint (last_digits, (guint64) MAX (ev->time_us, 0)) - last_digits;
    }
  o = PUT (o, "{\"t\":");
  memcpy (o, last_digits, last_n);
  o += last_n;
  o = PUT (o, ",\"conn\":");
  o = json_uint (o, ev->conn);
  o = PUT (o, ",\"ev\":\"");
  memcpy (o, name, n);
  o += n;
  *o++ = '"';
  if (ev->dir == XM_DIR_C2S)
    o = PUT (o, ",\"dir\":\"c2s\"");
  else if (ev->dir == XM_DIR_S2C)
    o = PUT (o, ",\"dir\":\"s2c\"");
  if (ev->flags & XM_EVENT_FLAG_TLS)
    o = PUT (o, ",\"tls\":true");
  if (ev->flags & XM_EVENT_FLAG_ZLIB)
    o = PUT (o, ",\"zlib\":true");
  if (ev->flags & XM_EVENT_FLAG_WS)
    o = PUT (o, ",\"ws\":true");
  if (ev->flags & XM_EVENT_FLAG_BOSH)
    o = PUT (o, ",\"bosh\":true");
  if (ev->session)
    {
      o = PUT (o, ",\"session\":");
      o = json_uint (o, ev->session);
    }
  return o;
}

static void
fast_stanza (const XmEvent *ev, gboolean secrets, GString *b)
{
  static GString *redacted;
  const XmStanza *st = ev->stanza;
  const guint8 *xml = st->raw;
  gsize xml_len = st->raw_len, hidden = 0, start = b->len, name_len = 0;
  char *o;

  if (st->raw && st->root)
    name_len = (st->root->prefix ? strlen (st->root->prefix) + 1 : 0)
               + strlen (st->root->name);
  if (st->raw && !secrets && !st->shallow)
    {
      /* shallow stanzas are messages and presences: no secrets there */
      if (redacted == NULL)
        redacted = g_string_new (NULL);
      g_string_truncate (redacted, 0);
      hidden = xm_stanza_redact (st, redacted);
      if (hidden)
        xml = (const guint8 *) redacted->str, xml_len = redacted->len;
    }
  /* an oversized stanza has no bytes to write, only its length */
  g_string_set_size (b, start + 256 + 6 * (name_len + (st->raw ? xml_len : 0)));
  o = json_head (b->str + start, ev);
  o = PUT (o, ",\"len\":");
  o = json_uint (o, st->raw_len);
  if (st->raw == NULL)
    o = PUT (o, ",\"oversized\":true");
  else
    {
      char *x;

      if (st->root)
        {
          g_autofree char *q = st->root->prefix
            ? g_strconcat (st->root->prefix, ":", st->root->name, NULL) : NULL;
          o = PUT (o, ",\"name\":");
          o = json_string (o, q ? q : st->root->name, name_len);
        }
      x = json_string (PUT (o, ",\"xml\":"), (const char *) xml, xml_len);
      if (x)
        o = x;
      else
        {
          /* JSON holds no such bytes: base64 instead */
          g_autofree char *b64 = g_base64_encode (xml, xml_len);
          gsize off = o - b->str;
          g_string_set_size (b, off + 32 + strlen (b64));
          o = PUT (b->str + off, ",\"xml_base64\":\"");
          memcpy (o, b64, strlen (b64));
          o += strlen (b64);
          *o++ = '"';
        }
      if (hidden)
        {
          o = PUT (o, ",\"redacted\":");
          o = json_uint (o, hidden);
        }
    }
  if (ev->kind == XM_EVENT_STANZA && ev->wire_len)
    {
      o = PUT (o, ",\"wire\":");
      o = json_uint (o, ev->wire_len);
    }
  o = PUT (o, "}\n");
  g_string_set_size (b, o - b->str);
}

void
xm_record_format (const XmEvent *ev, gboolean secrets, GString *buf)
{
  g_autoptr (JsonBuilder) b = NULL;

  switch (ev->kind)
    {
    case XM_EVENT_STANZA:
    case XM_EVENT_STREAM_OPEN:
      fast_stanza (ev, secrets, buf);
      return;
    case XM_EVENT_KEEPALIVE:
      {
        gsize start = buf->len;
        char *o;

        g_string_set_size (buf, start + 160);
        o = PUT (json_head (buf->str + start, ev), ",\"count\":");
        o = PUT (json_uint (o, ev->count), "}\n");
        g_string_set_size (buf, o - buf->str);
      }
      return;
    default:
      break;
    }
  b = json_builder_new ();

  json_builder_begin_object (b);
  add_int (b, "t", ev->time_us);
  add_int (b, "conn", ev->conn);
  add_string (b, "ev", xm_record_event_names[ev->kind]);
  if (ev->dir != XM_DIR_NONE && ev->kind != XM_EVENT_CONN_OPEN
      && ev->kind != XM_EVENT_CONN_CLOSE)
    add_string (b, "dir", ev->dir == XM_DIR_C2S ? "c2s" : "s2c");
  if (ev->flags & XM_EVENT_FLAG_TLS)
    add_true (b, "tls");
  if (ev->flags & XM_EVENT_FLAG_ZLIB)
    add_true (b, "zlib");
  if (ev->flags & XM_EVENT_FLAG_WS)
    add_true (b, "ws");
  if (ev->flags & XM_EVENT_FLAG_BOSH)
    add_true (b, "bosh");
  if (ev->session)
    add_int (b, "session", ev->session);

  switch (ev->kind)
    {
    case XM_EVENT_CONN_OPEN:
      add_string (b, "client", ev->addr[0]);
      add_string (b, "server", ev->addr[1]);
      add_string (b, "text", ev->text);
      break;
    case XM_EVENT_CONN_CLOSE:
      add_string (b, "text", ev->text);
      add_int (b, "c2s_bytes", ev->bytes[XM_DIR_C2S]);
      add_int (b, "s2c_bytes", ev->bytes[XM_DIR_S2C]);
      break;
    case XM_EVENT_STREAM_OPEN: /* written by hand above */
    case XM_EVENT_STANZA:
    case XM_EVENT_KEEPALIVE:
    case XM_EVENT_STREAM_CLOSE:
      break;
    case XM_EVENT_NOTE:
      add_string (b, "level", xm_record_levels[ev->level]);
      add_string (b, "text", ev->text);
      break;
    case XM_EVENT_LAYER:
      add_string (b, "text", ev->text);
      if (ev->layer)
        add_layer (b, ev->layer);
      break;
    case XM_EVENT_SASL:
      add_sasl (b, ev->sasl, secrets);
      break;
    case XM_EVENT_TRANSPORT:
      add_string (b, "transport", ev->transport);
      add_string (b, "text", ev->text);
      break;
    }
  finish (b, buf);
}

/* ---- the sink ---- */

typedef struct {
  XmSink sink;
  int fd;
  gboolean own_fd;
  char *name;
  gboolean secrets;
  gboolean failed;
  GString *buf;
  XmWriteBehind wb;
} XmRecorder;

static void
write_out (XmRecorder *r)
{
  int err = r->failed ? 0 : xm_write_all (r->fd, r->buf->str, r->buf->len);

  if (!r->failed && !err)
    xm_write_behind (&r->wb, r->buf->len);
  if (err)
    {
      /* Reported once; the session goes on without its recording. */
      g_printerr ("xmitm: writing %s failed: %s; recording stops here, "
                  "the proxy goes on\n", r->name, g_strerror (err));
      r->failed = TRUE;
    }
  g_string_truncate (r->buf, 0);
}

static void
recorder_event (XmSink *sink, const XmEvent *ev)
{
  XmRecorder *r = (XmRecorder *) sink;

  if (r->failed)
    return;
  xm_record_format (ev, r->secrets, r->buf);
  if (r->buf->len >= FLUSH_AT)
    write_out (r);
}

static void
recorder_flush (XmSink *sink)
{
  XmRecorder *r = (XmRecorder *) sink;

  if (r->buf->len)
    write_out (r);
}

static void
recorder_free (XmSink *sink)
{
  XmRecorder *r = (XmRecorder *) sink;

  recorder_flush (sink);
  if (r->own_fd && close (r->fd) != 0 && !r->failed)
    g_printerr ("xmitm: closing %s failed: %s\n", r->name, g_strerror (errno));
  g_string_free (r->buf, TRUE);
  g_free (r->name);
  g_free (r);
}

static const XmSinkVTable recorder_vtable = {
  recorder_event, recorder_flush, recorder_free,
};

XmSink *
xm_recorder_new (int fd, gboolean own_fd, const char *name, const char *source,
                 gboolean secrets)
{
  XmRecorder *r = g_new0 (XmRecorder, 1);

  r->sink.vtable = &recorder_vtable;
  r->fd = fd;
  r->own_fd = own_fd;
  r->name = g_strdup (name);
  r->secrets = secrets;
  r->buf = g_string_sized_new (FLUSH_AT + 4096);
  xm_write_behind_init (&r->wb, fd);
  xm_record_format_header (source, secrets, g_get_real_time (), r->buf);
  write_out (r);
  return &r->sink;
}

XmSink *
xm_recorder_open (const char *path, const char *source, gboolean secrets,
                  GError **error)
{
  int fd = xm_create_private (path, error);

  if (fd < 0)
    return NULL;
  return xm_recorder_new (fd, TRUE, path, source, secrets);
}
