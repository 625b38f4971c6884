/* record-read.c: a recording back into events.
 *
 * Stanzas are rebuilt by feeding the recorded XML to a framer per
 * connection and direction, header first, exactly as it was framed live; so
 * the printer gets the same trees, namespaces included. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "json-line.h"
#include "record.h"
#include "record-private.h"
#include "xml-framer.h"
#include "framer-cache.h"
#include "line-read.h"

#define STREAM_WRAPPER "<stream:stream xmlns='jabber:client' " \
  "xmlns:stream='http://etherx.jabber.org/streams'>"
/* A BOSH body as servers write it: its children use the stream prefix
 * that the wrapper declares (XEP-0206 §8). */
#define BOSH_WRAPPER "<body xmlns='http://jabber.org/protocol/httpbind' " \
  "xmlns:stream='http://etherx.jabber.org/streams'>"

struct _XmRecordReader {
  char *path;
  XmSink *sink;
  XmRecordInfo *info;
  XmRecordWarnFunc warn;
  gpointer warn_data;
  XmRecordLineFunc on_line;
  gpointer line_data;
  XmFramerCache *framers; /* by conn and dir, bounded (framer-cache.h) */
  XmEvent *ev;           /* being delivered by a framer callback */
  gboolean delivered;
  gboolean closed;       /* the stream ended while r->ev was fed */
  guint64 line;
  XmJsonLine *jl;        /* the line being read */
};
typedef XmRecordReader Reader;

static void G_GNUC_PRINTF (2, 3)
warn (Reader *r, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  /* What was shown before the damage comes first, on a shared terminal
   * or file too (the printer holds output for a file until a flush). */
  xm_sink_flush (r->sink);
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

static void
on_stream_close (guint64 offset, gpointer data)
{
  Reader *r = data;

  if (r->ev)
    r->closed = TRUE;
}

static const XmFramerEvents framer_events = {
  .stream_open = on_stream_open,
  .stanza = on_stanza,
  .stream_close = on_stream_close,
};

/* Framers alive at once, and the longest line read (issue 25: a
 * recording of 500,000 connections left open, or one 1 GB line). */
#define MAX_LIVE_FRAMERS 1024
#define MAX_LINE XM_RECORD_MAX_LINE

static XmFramer *
framer_for (Reader *r, guint conn, XmDir dir, gboolean fresh)
{
  return xm_framer_cache_get (r->framers, conn, dir, fresh);
}

/* A new framer for (conn, dir) in a client stream of xmitm's making, the
 * header it is made again with when freed for room. Nothing is handed on
 * while the wrapper is fed. */
static void
frame_in_wrapper (Reader *r, guint conn, XmDir dir)
{
  XmFramer *f = framer_for (r, conn, dir, TRUE);
  XmEvent *ev = r->ev;

  r->ev = NULL;
  xm_framer_feed (f, (const guint8 *) STREAM_WRAPPER, strlen (STREAM_WRAPPER));
  xm_framer_cache_header (r->framers, conn, dir, (const guint8 *) STREAM_WRAPPER,
                          strlen (STREAM_WRAPPER));
  r->ev = ev;
}

/* ---- JSON helpers ---- */

typedef const XmJsonValue JsonObj;

static const char *
str_member (Reader *r, JsonObj *o, const char *name)
{
  JsonObj *n = xm_json_member (r->jl, o, name);

  return n && n->type == XM_JSON_STRING ? n->str : NULL;
}

static gint64
int_member (Reader *r, JsonObj *o, const char *name)
{
  JsonObj *n = xm_json_member (r->jl, o, name);

  if (n == NULL)
    return 0;
  if (n->type == XM_JSON_INT)
    return n->i;
  if (n->type == XM_JSON_DOUBLE)
    {
      /* A damaged file may hold any number: never convert out of range. */
      double d = n->d;

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
static JsonObj *
array_member (Reader *r, JsonObj *o, const char *name)
{
  JsonObj *n = xm_json_member (r->jl, o, name);

  return n && n->type == XM_JSON_ARRAY ? n : NULL;
}

static JsonObj *
object_member (Reader *r, JsonObj *o, const char *name)
{
  JsonObj *n = xm_json_member (r->jl, o, name);

  return n && n->type == XM_JSON_OBJECT ? n : NULL;
}

static gboolean
bool_member (Reader *r, JsonObj *o, const char *name)
{
  JsonObj *n = xm_json_member (r->jl, o, name);

  return n && n->type == XM_JSON_BOOL && n->i;
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
xml_member (Reader *r, JsonObj *o)
{
  const char *s = str_member (r, o, "xml");
  gsize len;
  guchar *data;

  /* The line outlives the event: no copy. */
  if (s)
    return g_bytes_new_static (s, strlen (s));
  s = str_member (r, o, "xml_base64");
  if (s == NULL)
    return NULL;
  data = g_base64_decode (s, &len);
  return g_bytes_new_take (data, len);
}

/* ---- events ---- */

static void
emit_stanza (Reader *r, XmEvent *ev, JsonObj *o)
{
  g_autoptr (GBytes) xml = xml_member (r, o);
  gboolean header = ev->kind == XM_EVENT_STREAM_OPEN;
  gsize len;
  const char *data;

  if (xml == NULL)
    {
      /* Too large to decode live: recorded without its bytes. */
      g_autoptr (XmStanza) st = xm_stanza_new ();
      st->raw_len = int_member (r, o, "len");
      st->oversized = TRUE;
      ev->stanza = st;
      xm_sink_event (r->sink, ev);
      return;
    }
  data = g_bytes_get_data (xml, &len);
  r->ev = ev;
  r->delivered = FALSE;
  r->closed = FALSE;
  if ((ev->flags & XM_EVENT_FLAG_BOSH) && !header)
    {
      /* one child of a BOSH body: inside a wrapper like its own */
      XmFramer *f = framer_for (r, ev->conn, ev->dir, TRUE);

      r->ev = NULL;
      xm_framer_feed (f, (const guint8 *) BOSH_WRAPPER, strlen (BOSH_WRAPPER));
      r->ev = ev;
      xm_framer_feed (f, (const guint8 *) data, len);
      if (!r->delivered)
        warn (r, "line %" G_GUINT64_FORMAT ": the recorded BOSH stanza is not "
              "well-formed XML; skipped", r->line);
      r->ev = NULL;
      return;
    }
  if (ev->flags & XM_EVENT_FLAG_WS)
    {
      /* RFC 7395: every element stands alone, <open/> included. */
      XmFramer *f = framer_for (r, ev->conn, ev->dir, FALSE);

      if (!xm_framer_framing (f))
        xm_framer_set_framing (f, TRUE);
      xm_framer_feed (f, (const guint8 *) data, len);
      if (xm_framer_is_stalled (f)
          || xm_framer_pending_offset (f) != xm_framer_offset (f))
        xm_framer_reset (f);
      if (!r->delivered)
        warn (r, "line %" G_GUINT64_FORMAT ": the recorded %s is not one "
              "well-formed XML element; skipped", r->line,
              header ? "<open/>" : "stanza");
      r->ev = NULL;
      return;
    }
  if (ev->flags & XM_EVENT_FLAG_BOSH)
    {
      /* a BOSH body's wrapper: a document of its own */
      XmFramer *f = framer_for (r, ev->conn, ev->dir, TRUE);
      if (xm_framer_framing (f))
        xm_framer_set_framing (f, FALSE);
      xm_framer_feed (f, (const guint8 *) data, len);
      if (!r->delivered)
        warn (r, "line %" G_GUINT64_FORMAT ": the recorded BOSH body is not "
              "well-formed XML; skipped", r->line);
      r->ev = NULL;
      return;
    }
  /* No header recorded before it (the recording starts mid-stream, or
   * its header was not one): framed inside a client stream. A framer fed
   * nothing would take the stanza for the stream's root and its children
   * for stanzas. */
  if (!header && !xm_framer_cache_has_header (r->framers, ev->conn, ev->dir))
    frame_in_wrapper (r, ev->conn, ev->dir);
  xm_framer_feed (framer_for (r, ev->conn, ev->dir, header), (const guint8 *) data, len);
  if (header)
    xm_framer_cache_header (r->framers, ev->conn, ev->dir, (const guint8 *) data, len);
  if (!r->delivered && !header)
    {
      /* the stream it was recorded in went wrong before it (a header with
       * an element left open, say): alone in a client stream */
      frame_in_wrapper (r, ev->conn, ev->dir);
      xm_framer_feed (framer_for (r, ev->conn, ev->dir, FALSE), (const guint8 *) data, len);
    }
  if (header && (!r->delivered || r->closed))
    /* Not a header, or one that ended its stream (<stream:stream/>): its
     * stanzas are framed as if it had not been recorded, the same way by
     * a full read and by a scan that skips lines. Left as it is, the
     * framer would take the next stanza for a new stream's root. */
    frame_in_wrapper (r, ev->conn, ev->dir);
  if (!r->delivered)
    warn (r, "line %" G_GUINT64_FORMAT ": the recorded %s is not well-formed "
          "XML; skipped", r->line, header ? "stream header" : "stanza");
  r->ev = NULL;
}

static XmSaslDecode *
sasl_from (Reader *r, JsonObj *o)
{
  static const char *const protocols[] = { "SASL", "SASL2", "XEP-0078", "XEP-0114", "XEP-0220" };
  int p = lookup (protocols, G_N_ELEMENTS (protocols), str_member (r, o, "protocol"));
  XmSaslDecode *d = xm_sasl_decode_new (p >= 0 ? protocols[p] : "SASL");
  JsonObj *fields = array_member (r, o, "fields");
  JsonObj *notes = array_member (r, o, "notes");

  d->element = g_strdup (str_member (r, o, "element"));
  d->mechanism = g_strdup (str_member (r, o, "mechanism"));
  d->step = g_strdup (str_member (r, o, "step"));
  for (JsonObj *fn = xm_json_first (r->jl, fields); fn; fn = xm_json_next (r->jl, fn))
    {
      JsonObj *fo = fn->type == XM_JSON_OBJECT ? fn : NULL;
      XmSaslField *f;
      const char *value;

      if (fo == NULL)
        continue;
      f = g_new0 (XmSaslField, 1);
      value = str_member (r, fo, "value");
      f->name = g_strdup (str_member (r, fo, "name") ? str_member (r, fo, "name") : "?");
      f->secret = bool_member (r, fo, "secret");
      f->binary = bool_member (r, fo, "binary") && value != NULL;
      /* A secret recorded without --record-secrets has no value. */
      f->value = g_strdup (value ? value : "[not recorded]");
      f->raw_len = int_member (r, fo, "len");
      g_ptr_array_add (d->fields, f);
    }
  for (JsonObj *nn = xm_json_first (r->jl, notes); nn; nn = xm_json_next (r->jl, nn))
    {
      const char *n = nn->type == XM_JSON_STRING ? nn->str : NULL;
      if (n)
        g_ptr_array_add (d->notes, g_strdup (n));
    }
  return d;
}

static void
emit_layer (Reader *r, XmEvent *ev, JsonObj *o)
{
  JsonObj *cert = NULL;
  XmLayerInfo info = { 0 };
  JsonObj *verified = xm_json_member (r->jl, o, "verified");

  cert = object_member (r, o, "cert");
  info.layer = str_member (r, o, "layer");
  info.leg = str_member (r, o, "leg");
  info.tls_version = str_member (r, o, "tls_version");
  info.cipher = str_member (r, o, "cipher");
  info.sni = str_member (r, o, "sni");
  info.alpn = str_member (r, o, "alpn");
  if (cert)
    {
      info.cert_subject = str_member (r, cert, "subject");
      info.cert_issuer = str_member (r, cert, "issuer");
      info.cert_sha256 = str_member (r, cert, "sha256");
    }
  if (verified && verified->type == XM_JSON_STRING)
    info.verified = verified->str;
  info.ms = int_member (r, o, "handshake_us") / 1000.0;
  ev->layer = &info;
  xm_sink_event (r->sink, ev);
  ev->layer = NULL;
}

static void
handle_event (Reader *r, JsonObj *o)
{
  XmEvent ev = { 0 };
  const char *name = str_member (r, o, "ev");
  const char *dir = str_member (r, o, "dir");
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
  ev.time_us = int_member (r, o, "t");
  ev.conn = (guint) int_member (r, o, "conn");
  ev.dir = g_strcmp0 (dir, "c2s") == 0 ? XM_DIR_C2S
           : g_strcmp0 (dir, "s2c") == 0 ? XM_DIR_S2C : XM_DIR_NONE;
  if (bool_member (r, o, "tls"))
    ev.flags |= XM_EVENT_FLAG_TLS;
  if (bool_member (r, o, "zlib"))
    ev.flags |= XM_EVENT_FLAG_ZLIB;
  if (bool_member (r, o, "ws"))
    ev.flags |= XM_EVENT_FLAG_WS;
  if (bool_member (r, o, "bosh"))
    ev.flags |= XM_EVENT_FLAG_BOSH;
  ev.session = (guint) int_member (r, o, "session");
  ev.text = str_member (r, o, "text");
  r->info->events++;

  switch (ev.kind)
    {
    case XM_EVENT_CONN_OPEN:
      ev.addr[0] = str_member (r, o, "client");
      ev.addr[1] = str_member (r, o, "server");
      break;
    case XM_EVENT_CONN_CLOSE:
      ev.bytes[XM_DIR_C2S] = int_member (r, o, "c2s_bytes");
      ev.bytes[XM_DIR_S2C] = int_member (r, o, "s2c_bytes");
      xm_framer_cache_drop (r->framers, ev.conn);
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
      ev.wire_len = int_member (r, o, "wire");
      emit_stanza (r, &ev, o);
      return;
    case XM_EVENT_KEEPALIVE:
      ev.count = int_member (r, o, "count");
      break;
    case XM_EVENT_STREAM_CLOSE:
      break;
    case XM_EVENT_NOTE:
      {
        int level = lookup (xm_record_levels, G_N_ELEMENTS (xm_record_levels),
                            str_member (r, o, "level"));
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
    case XM_EVENT_TRANSPORT:
      ev.transport = str_member (r, o, "transport");
      if (ev.transport == NULL)
        ev.transport = "";
      if (ev.text == NULL)
        ev.text = "";
      break;
    case XM_EVENT_SASL:
      {
        g_autoptr (XmSaslDecode) d = sasl_from (r, o);
        ev.sasl = d;
        xm_sink_event (r->sink, &ev);
      }
      return;
    }
  xm_sink_event (r->sink, &ev);
}

static gboolean
read_header (Reader *r, JsonObj *o, GError **error)
{
  gint64 version = int_member (r, o, "format_version");

  if (g_strcmp0 (str_member (r, o, "format"), XM_RECORD_FORMAT) != 0)
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
  r->info->secrets = g_strcmp0 (str_member (r, o, "secrets"), "recorded") == 0;
  r->info->source = g_strdup (str_member (r, o, "source"));
  r->info->xmitm_version = g_strdup (str_member (r, o, "xmitm"));
  return TRUE;
}

/* xmitm replay holds SIGINT and SIGTERM blocked until its main loop runs
 * (privdrop.h): one that came while a long recording is read stops the
 * reading, so that it is honoured within a second at any size. Elsewhere
 * they are not blocked and never pending here. */
static const char *
stop_signal_pending (void)
{
  sigset_t set;

  if (sigpending (&set) != 0)
    return NULL;
  return sigismember (&set, SIGTERM) == 1 ? "SIGTERM"
         : sigismember (&set, SIGINT) == 1 ? "SIGINT" : NULL;
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
  return xm_record_read_stream_lines (in, path, sink, info, warn_fn, warn_data,
                                      NULL, NULL, error);
}

XmRecordReader *
xm_record_reader_new (const char *path, XmSink *sink, XmRecordInfo *info,
                      XmRecordWarnFunc warn_fn, gpointer warn_data,
                      XmRecordLineFunc on_line, gpointer line_data)
{
  Reader *r = g_new0 (Reader, 1);

  r->path = g_strdup (path);
  r->sink = sink;
  r->info = info;
  r->warn = warn_fn;
  r->warn_data = warn_data;
  r->on_line = on_line;
  r->line_data = line_data;
  r->jl = xm_json_line_new ();
  /* What was framed live is framed again, whatever its size. */
  r->framers = xm_framer_cache_new (&framer_events, r, G_MAXSIZE / 4, MAX_LIVE_FRAMERS);
  memset (info, 0, sizeof *info);
  return r;
}

void
xm_record_reader_free (XmRecordReader *r)
{
  if (r == NULL)
    return;
  xm_sink_flush (r->sink);
  xm_framer_cache_free (r->framers);
  xm_json_line_free (r->jl);
  g_free (r->path);
  g_free (r);
}

guint64
xm_record_reader_lines (const XmRecordReader *r)
{
  return r->line;
}

gboolean
xm_record_reader_skip_long_line (XmRecordReader *r, guint64 length, GError **error)
{
  r->line++;
  if (r->line == 1)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s is not an xmitm recording or a packet capture "
                   "(its first line is %" G_GUINT64_FORMAT " bytes long)",
                   r->path, length);
      return FALSE;
    }
  r->info->bad_lines++;
  warn (r, "line %" G_GUINT64_FORMAT ": %" G_GUINT64_FORMAT " bytes, "
        "longer than any event xmitm writes (%u MiB at most is read); "
        "skipped", r->line, length, MAX_LINE >> 20);
  return TRUE;
}

gboolean
xm_record_reader_line (XmRecordReader *r, char *line, gsize n, guint64 offset,
                       GError **error)
{
  g_autoptr (GError) perr = NULL;
  guint64 length = n;
  gboolean complete;
  JsonObj *root;

  r->line++;
  if (n == 0)
    return TRUE;
  complete = line[n - 1] == '\n';
  if (complete)
    line[--n] = '\0';
  if (n == 0)
    return TRUE;
  if ((root = xm_json_line_parse (r->jl, line, n, &perr)) == NULL
      || root->type != XM_JSON_OBJECT)
    {
      if (r->line == 1)
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                       complete ? "%s is not an xmitm recording or a packet "
                                  "capture (its first line is not a "
                                  "recording header)"
                                : "%s is not an xmitm recording or a packet "
                                  "capture (no recording header)", r->path);
          return FALSE;
        }
      if (!complete)
        {
          r->info->truncated = TRUE;
          warn (r, "line %" G_GUINT64_FORMAT ": the last line is cut short "
                "(the recording ended in the middle of an event, e.g. xmitm "
                "was killed); the %" G_GUINT64_FORMAT " events before it "
                "are intact", r->line, r->info->events);
        }
      else
        {
          r->info->bad_lines++;
          warn (r, "line %" G_GUINT64_FORMAT ": not a JSON object (%s); "
                "skipped", r->line, perr ? perr->message : "not an object");
        }
      return TRUE;
    }
  if (r->line == 1)
    return read_header (r, root, error);
  if (r->on_line)
    r->on_line (offset, length, r->line_data);
  handle_event (r, root);
  return TRUE;
}

gboolean
xm_record_read_stream_lines (FILE *in, const char *path, XmSink *sink,
                             XmRecordInfo *info, XmRecordWarnFunc warn_fn,
                             gpointer warn_data, XmRecordLineFunc on_line,
                             gpointer line_data, GError **error)
{
  XmRecordReader *r = xm_record_reader_new (path, sink, info, warn_fn, warn_data,
                                            on_line, line_data);
  char *line = NULL;
  XmLineReader lr;
  guint64 dropped = 0, line_start, pos = 0;
  gssize n;
  gboolean ok = TRUE;
  const char *stop;

  xm_line_reader_init (&lr, in);
  while (line_start = pos, (n = xm_line_read (&lr, MAX_LINE, &line, &dropped)) != 0)
    {
      pos += n < 0 ? dropped : (guint64) n;
      if ((r->line + 1) % 4096 == 0 && (stop = stop_signal_pending ()))
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INTR, "stopped by %s "
                       "while reading %s (at line %" G_GUINT64_FORMAT "): "
                       "nothing was done", stop, path, r->line + 1);
          ok = FALSE;
          break;
        }
      ok = n < 0 ? xm_record_reader_skip_long_line (r, dropped, error)
                 : xm_record_reader_line (r, line, n, line_start, error);
      if (!ok)
        break;
    }
  if (ok && ferror (in))
    {
      int err = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                   "reading %s failed: %s", path, g_strerror (err));
      ok = FALSE;
    }
  if (ok && r->line == 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s is empty: not an xmitm recording", path);
      ok = FALSE;
    }
  xm_line_reader_clear (&lr);
  xm_record_reader_free (r);
  return ok;
}
