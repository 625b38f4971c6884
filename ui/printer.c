/* printer.c: pretty, timestamped, optionally coloured event output. */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "files.h"
#include "printer.h"
#include "xml-framer.h"
#include "s2s-features.h"

/* ANSI SGR sequences with their lengths (put_sgr appends one without a
 * strlen, and nothing at all when colour is off). */
typedef struct {
  const char *s;
  guint8 n;
} Sgr;

#define SGR(x) { x, sizeof x - 1 }

typedef struct {
  Sgr reset, time, conn, c2s, s2c, tag, attr, value, text, meta, warn, error,
    secret;
} Palette;

static const Palette colors = {
  SGR ("\033[0m"), SGR ("\033[2m"), SGR ("\033[1m"), SGR ("\033[1;32m"),
  SGR ("\033[1;36m"), SGR ("\033[34m"), SGR ("\033[33m"), SGR ("\033[32m"),
  SGR (""), SGR ("\033[2m"), SGR ("\033[1;33m"), SGR ("\033[1;31m"),
  SGR ("\033[35m"),
};
static const Palette plain = {
  SGR (""), SGR (""), SGR (""), SGR (""), SGR (""), SGR (""), SGR (""),
  SGR (""), SGR (""), SGR (""), SGR (""), SGR (""), SGR (""),
};

/* Output to a file or a pipe is written in batches of whole events, at
 * least this large, and at each flush (the proxy flushes once per
 * main-loop round, show at the end): never half an event, and no write
 * per event. */
#define BATCH (64 * 1024)

typedef struct {
  XmSink sink;
  XmPrinterOptions opts;
  FILE *out;
  gboolean tty;         /* a terminal: each event is written at once */
  GString *buf;         /* events not written yet */
  XmWriteBehind wb;     /* output to a regular file: written behind, as
                         * recordings are (files.h) */
} XmPrinter;

void
xm_printer_options_init (XmPrinterOptions *opts)
{
  memset (opts, 0, sizeof *opts);
  opts->max_text = XM_PRINTER_DEFAULT_MAX_TEXT;
}

gboolean
xm_color_mode_parse (const char *s, XmColorMode *mode)
{
  if (g_strcmp0 (s, "auto") == 0)
    *mode = XM_COLOR_AUTO;
  else if (g_strcmp0 (s, "always") == 0)
    *mode = XM_COLOR_ALWAYS;
  else if (g_strcmp0 (s, "never") == 0)
    *mode = XM_COLOR_NEVER;
  else
    return FALSE;
  return TRUE;
}

gboolean
xm_color_mode_resolve (XmColorMode mode, FILE *out)
{
  const char *no_color = g_getenv ("NO_COLOR");

  switch (mode)
    {
    case XM_COLOR_ALWAYS:
      return TRUE;
    case XM_COLOR_NEVER:
      return FALSE;
    case XM_COLOR_AUTO:
    default:
      if (no_color && *no_color)
        return FALSE;
      return isatty (fileno (out)) && g_strcmp0 (g_getenv ("TERM"), "dumb") != 0;
    }
}

/* The local time zone, looked up at most once a second: a lookup reads
 * /etc/localtime's links (two fstatat and a readlink in GLib), far more
 * than formatting an event. A change of TZ shows from the next second of
 * events on, once a second has passed since the last lookup. The
 * text of the last second formatted is kept too: events come many to a
 * second. Per thread: proxy --web prints for the browser on a thread of
 * its own while the proxy's thread prints to the terminal. */
typedef struct {
  GTimeZone *tz;
  gint64 tz_until;      /* monotonic time to look the zone up again */
  gboolean utc;
  gint64 secs;          /* the second text holds; valid when len > 0 */
  char text[48];
  gsize len;
} TimeCache;

static _Thread_local TimeCache time_cache;

void
xm_printer_thread_clear (void)
{
  g_clear_pointer (&time_cache.tz, g_time_zone_unref);
  time_cache.len = 0;
}

/* Whole seconds as the printer shows them ("%H:%M:%S" local, or ISO 8601
 * UTC); FALSE where GDateTime has no date (out of its range). */
static gboolean
format_secs (gboolean utc, gint64 secs)
{
  TimeCache *tc = &time_cache;
  gint64 now;
  g_autoptr (GDateTime) u = NULL;
  g_autoptr (GDateTime) dt = NULL;
  g_autofree char *s = NULL;

  /* the second just formatted: no clock read (events come many to a
   * second; a change of zone shows with the next second) */
  if (tc->len && tc->secs == secs && tc->utc == utc)
    return TRUE;
  now = g_get_monotonic_time ();
  if (!utc && (tc->tz == NULL || now >= tc->tz_until))
    {
      g_clear_pointer (&tc->tz, g_time_zone_unref);
      tc->tz = g_time_zone_new_local ();
      tc->tz_until = now + G_USEC_PER_SEC;
      tc->len = 0;
    }
  if (tc->len && tc->secs == secs && tc->utc == utc)
    return TRUE;
  tc->len = 0;
  u = g_date_time_new_from_unix_utc (secs);
  if (u)
    dt = utc ? g_date_time_ref (u) : g_date_time_to_timezone (u, tc->tz);
  if (dt == NULL && !utc)
    dt = g_date_time_new_from_unix_local (secs); /* the edges of its range */
  if (dt == NULL)
    return FALSE;
  s = g_date_time_format (dt, utc ? "%Y-%m-%dT%H:%M:%S" : "%H:%M:%S");
  if (s == NULL || strlen (s) >= sizeof tc->text)
    return FALSE;
  tc->len = strlen (s);
  memcpy (tc->text, s, tc->len);
  tc->secs = secs;
  tc->utc = utc;
  return TRUE;
}

static void
append_time (const XmPrinterOptions *opts, gint64 time_us, GString *buf)
{
  gint64 secs = time_us / G_USEC_PER_SEC;
  int usec = (int) (time_us % G_USEC_PER_SEC);
  char frac[8];

  if (usec < 0)
    {
      usec += G_USEC_PER_SEC;
      secs--;
    }
  if (!format_secs (opts->utc, secs))
    {
      g_string_append_printf (buf, "@%" G_GINT64_FORMAT, time_us);
      return;
    }
  g_string_append_len (buf, time_cache.text, time_cache.len);
  frac[0] = '.';
  for (int i = 6; i >= 1; i--, usec /= 10)
    frac[i] = '0' + usec % 10;
  frac[7] = 'Z';
  g_string_append_len (buf, frac, opts->utc ? 8 : 7);
}

/* g_string_append and friends without a call when the text fits: the
 * printer appends many short pieces (colour codes are often ""). */
static inline void
put_len (GString *buf, const char *s, gsize n)
{
  if (buf->len + n < buf->allocated_len)
    {
      memcpy (buf->str + buf->len, s, n);
      buf->len += n;
      buf->str[buf->len] = '\0';
    }
  else
    g_string_append_len (buf, s, n);
}

static inline void
put (GString *buf, const char *s)
{
  put_len (buf, s, strlen (s));
}

/* a string literal */
#define put_lit(buf, s) put_len (buf, "" s, sizeof s - 1)

static inline void
put_sgr (GString *buf, Sgr sgr)
{
  if (sgr.n)
    put_len (buf, sgr.s, sgr.n);
}

static inline void
put_c (GString *buf, char c)
{
  put_len (buf, &c, 1);
}

/* Appends v in decimal. */
static void
append_uint (GString *buf, guint64 v)
{
  char d[24];
  int i = sizeof d;

  do
    d[--i] = '0' + v % 10;
  while ((v /= 10) != 0);
  put_len (buf, d + i, sizeof d - i);
}

static void
append_qname (GString *buf, const char *prefix, const char *name)
{
  if (prefix)
    {
      put (buf, prefix);
      put_c (buf, ':');
    }
  put (buf, name);
}

/* ='value' of an attribute or a namespace declaration, escaped */
static void
append_value (const Palette *c, const char *value, GString *buf)
{
  put_sgr (buf, c->reset);
  put_c (buf, '=');
  put_sgr (buf, c->value);
  put_c (buf, '\'');
  xm_xml_escape (buf, value, strlen (value), TRUE);
  put_c (buf, '\'');
  put_sgr (buf, c->reset);
}

static void
append_start_tag (const Palette *c, const XmNode *el, gboolean empty,
                  gboolean show_secrets, GString *buf)
{
  put_sgr (buf, c->tag);
  put_c (buf, '<');
  append_qname (buf, el->prefix, el->name);
  put_sgr (buf, c->reset);
  for (guint i = 0; i < el->n_ns_decls; i++)
    {
      const XmNsDecl *d = &el->ns_decls[i];
      put_c (buf, ' ');
      put_sgr (buf, c->attr);
      put_lit (buf, "xmlns");
      if (d->prefix)
        {
          put_c (buf, ':');
          put (buf, d->prefix);
        }
      append_value (c, d->uri, buf);
    }
  for (guint i = 0; i < el->n_attrs; i++)
    {
      const XmAttr *a = &el->attrs[i];
      put_c (buf, ' ');
      put_sgr (buf, c->attr);
      append_qname (buf, a->prefix, a->name);
      if (xm_attr_is_secret (el, a) && !show_secrets)
        {
          g_string_append_printf (buf, "%s=%s'[secret: %" G_GSIZE_FORMAT
                                  " bytes hidden]'%s", c->reset.s, c->secret.s,
                                  strlen (a->value), c->reset.s);
          continue;
        }
      append_value (c, a->value, buf);
    }
  put_sgr (buf, c->tag);
  if (empty)
    put_lit (buf, "/>");
  else
    put_c (buf, '>');
  put_sgr (buf, c->reset);
}

static void
append_end_tag (const Palette *c, const XmNode *el, GString *buf)
{
  put_sgr (buf, c->tag);
  put_lit (buf, "</");
  append_qname (buf, el->prefix, el->name);
  put_c (buf, '>');
  put_sgr (buf, c->reset);
}

static gsize
utf8_prefix_len (const char *s, gsize len, gsize max)
{
  const char *end;

  if (len <= max)
    return len;
  end = g_utf8_find_prev_char (s, s + max + 1);
  return end ? (gsize) (end - s) : max;
}

static void
append_text (const XmPrinterOptions *opts, const Palette *c, const XmNode *el,
             const XmNode *t, GString *buf)
{
  if (!opts->show_secrets && xm_node_is_secret (el))
    {
      g_string_append_printf (buf, "%s[secret: %" G_GSIZE_FORMAT
                              " bytes hidden, --show-secrets shows them]%s",
                              c->secret.s, t->text_len, c->reset.s);
      return;
    }
  if (opts->max_text && t->text_len > opts->max_text)
    {
      gsize n = utf8_prefix_len (t->text, t->text_len, opts->max_text);
      put_sgr (buf, c->text);
      xm_xml_escape (buf, t->text, n, FALSE);
      g_string_append_printf (buf, "%s%s…[+%" G_GSIZE_FORMAT
                              " bytes, --full-text shows all]%s",
                              c->reset.s, c->meta.s, t->text_len - n, c->reset.s);
      return;
    }
  put_sgr (buf, c->text);
  xm_xml_escape (buf, t->text, t->text_len, FALSE);
  put_sgr (buf, c->reset);
}

static gboolean
is_blank (const XmNode *t)
{
  for (gsize i = 0; i < t->text_len; i++)
    if (!g_ascii_isspace (t->text[i]))
      return FALSE;
  return TRUE;
}

static void
append_indent (GString *buf, int level)
{
  static const char spaces[] = "                                ";

  for (; level > 16; level -= 16)
    put_len (buf, spaces, 32);
  put_len (buf, spaces, 2 * level);
}

static void
append_element (const XmPrinterOptions *opts, const Palette *c,
                const XmNode *el, int level, GString *buf)
{
  gboolean has_elements = FALSE, has_text = FALSE;

  for (const XmNode *ch = el->children; ch; ch = ch->next)
    {
      if (ch->type == XM_NODE_ELEMENT)
        has_elements = TRUE;
      else if (!is_blank (ch))
        has_text = TRUE;
    }

  append_indent (buf, level);
  if (!has_elements && !has_text)
    {
      append_start_tag (c, el, TRUE, opts->show_secrets, buf);
      put_c (buf, '\n');
      return;
    }
  append_start_tag (c, el, FALSE, opts->show_secrets, buf);
  if (!has_elements)
    {
      /* Text only: keep it on the tag's line, exactly as sent. */
      for (const XmNode *ch = el->children; ch; ch = ch->next)
        append_text (opts, c, el, ch, buf);
      append_end_tag (c, el, buf);
      put_c (buf, '\n');
      return;
    }
  put_c (buf, '\n');
  for (const XmNode *ch = el->children; ch; ch = ch->next)
    {
      if (ch->type == XM_NODE_ELEMENT)
        append_element (opts, c, ch, level + 1, buf);
      else if (!is_blank (ch))
        {
          append_indent (buf, level + 1);
          append_text (opts, c, el, ch, buf);
          put_c (buf, '\n');
        }
    }
  append_indent (buf, level);
  append_end_tag (c, el, buf);
  put_c (buf, '\n');
}

/* The longest domain shown in a stream's label (a hostile peer's `from`
 * may be any length; the header below it shows all of it). */
#define DOMAIN_SHOWN 128

static void
append_domain (GString *buf, const char *d)
{
  gsize len = strlen (d), n = utf8_prefix_len (d, len, DOMAIN_SHOWN);

  xm_xml_escape (buf, d, n, TRUE);
  if (n < len)
    put (buf, "…");
}

/* A server-to-server stream (RFC 6120 §4.7, jabber:server) is named by its
 * domains, initiating -> receiving, on its header's line: the addresses of
 * the `connected:` line are a router's or a relay's as often as not. The
 * receiving server's header names them the other way round. */
static void
append_s2s_label (const XmEvent *ev, GString *buf)
{
  const XmNode *h = ev->stanza->root;
  const char *from, *to;

  if (h == NULL || ev->dir == XM_DIR_NONE || !xm_s2s_header_is_s2s (h))
    return;
  from = xm_node_attr (h, "from");
  to = xm_node_attr (h, "to");
  if (from == NULL || to == NULL || *from == '\0' || *to == '\0')
    return;
  append_domain (buf, ev->dir == XM_DIR_C2S ? from : to);
  put_lit (buf, " -> ");
  append_domain (buf, ev->dir == XM_DIR_C2S ? to : from);
  put_c (buf, ' ');
}

static void
append_header (const XmPrinterOptions *opts, const Palette *c,
               const XmEvent *ev, gboolean with_dir, GString *buf)
{
  put_sgr (buf, c->time);
  append_time (opts, ev->time_us, buf);
  put_sgr (buf, c->reset);
  put_c (buf, ' ');
  put_sgr (buf, c->conn);
  put_c (buf, '#');
  /* a BOSH session's events come over several connections: its number */
  append_uint (buf, ev->session ? ev->session : ev->conn);
  put_sgr (buf, c->reset);
  put_c (buf, ' ');
  if (ev->kind == XM_EVENT_STREAM_OPEN && ev->stanza)
    append_s2s_label (ev, buf);
  if (with_dir && ev->dir != XM_DIR_NONE)
    {
      put_sgr (buf, ev->dir == XM_DIR_C2S ? c->c2s : c->s2c);
      put (buf, xm_dir_arrow (ev->dir));
      put_sgr (buf, c->reset);
      put_c (buf, ' ');
    }
  if (ev->flags & (XM_EVENT_FLAG_TLS | XM_EVENT_FLAG_ZLIB | XM_EVENT_FLAG_WS
                   | XM_EVENT_FLAG_BOSH))
    {
      /* how the bytes travelled, outermost first: [tls+ws], [tls+bosh] */
      static const struct { guint flag; const char *name; } layers[] = {
        { XM_EVENT_FLAG_TLS, "tls" }, { XM_EVENT_FLAG_WS, "ws" },
        { XM_EVENT_FLAG_BOSH, "bosh" }, { XM_EVENT_FLAG_ZLIB, "zlib" },
      };
      char sep = '[';

      put_sgr (buf, c->meta);
      for (guint i = 0; i < G_N_ELEMENTS (layers); i++)
        if (ev->flags & layers[i].flag)
          {
            put_c (buf, sep);
            put (buf, layers[i].name);
            sep = '+';
          }
      put_c (buf, ']');
      put_sgr (buf, c->reset);
      put_c (buf, ' ');
    }
}

void
xm_printer_format (const XmPrinterOptions *opts, const XmEvent *ev, GString *buf)
{
  const Palette *c = opts->color ? &colors : &plain;
  const XmStanza *st = ev->stanza;

  switch (ev->kind)
    {
    case XM_EVENT_CONN_OPEN:
      append_header (opts, c, ev, FALSE, buf);
      g_string_append_printf (buf, "%sconnected:%s %s\n", c->meta.s, c->reset.s, ev->text);
      break;

    case XM_EVENT_CONN_CLOSE:
      append_header (opts, c, ev, FALSE, buf);
      g_string_append_printf (buf, "%sclosed:%s %s (client sent %" G_GUINT64_FORMAT
                              " bytes, server sent %" G_GUINT64_FORMAT " bytes)\n",
                              c->meta.s, c->reset.s, ev->text ? ev->text : "",
                              ev->bytes[XM_DIR_C2S], ev->bytes[XM_DIR_S2C]);
      break;

    case XM_EVENT_STREAM_OPEN:
      append_header (opts, c, ev, TRUE, buf);
      g_string_append_printf (buf, "%sstream open%s, %" G_GSIZE_FORMAT " bytes",
                              c->meta.s, c->reset.s, st->raw_len);
      if (ev->session && ev->session != ev->conn)
        g_string_append_printf (buf, " %s(connection #%u)%s", c->meta.s, ev->conn, c->reset.s);
      put_c (buf, '\n');
      if (st->root)
        {
          append_indent (buf, 1);
          /* RFC 7395's <open/> is an empty element */
          append_start_tag (c, st->root, (ev->flags & XM_EVENT_FLAG_WS) != 0,
                            opts->show_secrets, buf);
          put_c (buf, '\n');
        }
      break;

    case XM_EVENT_STANZA:
      append_header (opts, c, ev, TRUE, buf);
      if (st->root == NULL)
        {
          g_string_append_printf (buf, "%sstanza too large to decode, %"
                                  G_GSIZE_FORMAT " bytes (forwarded)%s\n",
                                  c->warn.s, st->raw_len, c->reset.s);
          break;
        }
      put_sgr (buf, c->meta);
      append_qname (buf, st->root->prefix, st->root->name);
      put_lit (buf, ", ");
      append_uint (buf, st->raw_len);
      put_lit (buf, " bytes");
      if (ev->wire_len)
        {
          put_lit (buf, " (");
          append_uint (buf, ev->wire_len);
          put_lit (buf, " compressed)");
        }
      put_sgr (buf, c->reset);
      put_c (buf, '\n');
      append_element (opts, c, st->root, 1, buf);
      break;

    case XM_EVENT_KEEPALIVE:
      if (opts->hide_keepalives)
        break;
      append_header (opts, c, ev, TRUE, buf);
      g_string_append_printf (buf, "%swhitespace keepalive, %" G_GSIZE_FORMAT
                              " byte%s%s\n", c->meta.s, ev->count,
                              ev->count == 1 ? "" : "s", c->reset.s);
      break;

    case XM_EVENT_STREAM_CLOSE:
      append_header (opts, c, ev, TRUE, buf);
      g_string_append_printf (buf, "%sstream close%s\n  %s%s%s\n",
                              c->meta.s, c->reset.s, c->tag.s,
                              ev->flags & XM_EVENT_FLAG_WS
                              ? "<close xmlns='" XM_FRAMER_NS_FRAMING "'/>"
                              : ev->flags & XM_EVENT_FLAG_BOSH
                              ? "<body type='terminate'/> (the BOSH session ends)"
                              : "</stream:stream>", c->reset.s);
      break;

    case XM_EVENT_NOTE:
      append_header (opts, c, ev, TRUE, buf);
      g_string_append_printf (buf, "%s%s:%s %s\n",
                              ev->level == XM_NOTE_ERROR ? c->error.s
                              : ev->level == XM_NOTE_WARNING ? c->warn.s : c->meta.s,
                              ev->level == XM_NOTE_ERROR ? "error"
                              : ev->level == XM_NOTE_WARNING ? "warning" : "note",
                              c->reset.s, ev->text);
      break;

    case XM_EVENT_LAYER:
      append_header (opts, c, ev, TRUE, buf);
      g_string_append_printf (buf, "%slayer:%s %s\n", c->meta.s, c->reset.s, ev->text);
      break;

    case XM_EVENT_TRANSPORT:
      append_header (opts, c, ev, TRUE, buf);
      g_string_append_printf (buf, "%s%s:%s %s\n", c->meta.s,
                              g_str_has_prefix (ev->transport, "ws-") ? "websocket"
                              : g_str_has_prefix (ev->transport, "http-") ? "http"
                              : g_str_has_prefix (ev->transport, "bosh-") ? "bosh"
                              : ev->transport, c->reset.s, ev->text);
      if (ev->session && ev->session != ev->conn)
        {
          /* which connection carried this body of the session */
          buf->len--;
          g_string_append_printf (buf, " %s(connection #%u)%s\n", c->meta.s,
                                  ev->conn, c->reset.s);
        }
      break;

    case XM_EVENT_SASL:
      {
        /* Under the stanza it decodes, in words. */
        g_autofree char *line = xm_sasl_decode_format (ev->sasl, opts->show_secrets,
                                                       opts->max_text);
        g_string_append_printf (buf, "  %sdecoded:%s %s\n", c->secret.s, c->reset.s, line);
      }
      break;
    }
}

/* What the printer holds, in one fwrite and a fflush: the stream's own
 * buffer never holds part of an event once this returns. */
static void
write_out (XmPrinter *p)
{
  gsize n = p->buf->len;

  if (n)
    fwrite (p->buf->str, 1, n, p->out);
  g_string_truncate (p->buf, 0);
  fflush (p->out);
  if (n && !p->tty)
    xm_write_behind (&p->wb, n);
}

static void
printer_event (XmSink *sink, const XmEvent *ev)
{
  XmPrinter *p = (XmPrinter *) sink;

  xm_printer_format (&p->opts, ev, p->buf);
  if (p->tty || p->buf->len >= BATCH)
    write_out (p);
}

static void
printer_flush (XmSink *sink)
{
  write_out ((XmPrinter *) sink);
}

static void
printer_free (XmSink *sink)
{
  XmPrinter *p = (XmPrinter *) sink;

  write_out (p);
  g_string_free (p->buf, TRUE);
  g_free (p);
}

static const XmSinkVTable printer_vtable = {
  printer_event, printer_flush, printer_free, .needs_children = TRUE,
};

XmSink *
xm_printer_new (const XmPrinterOptions *opts, FILE *out)
{
  XmPrinter *p = g_new0 (XmPrinter, 1);

  p->sink.vtable = &printer_vtable;
  p->opts = *opts;
  p->out = out;
  p->tty = isatty (fileno (out));
  xm_write_behind_init (&p->wb, fileno (out));
  p->buf = g_string_sized_new (BATCH + 4096);
  return &p->sink;
}
