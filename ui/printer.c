/* printer.c: pretty, timestamped, optionally coloured event output. */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "printer.h"

/* ANSI SGR sequences; empty strings when colour is off. */
typedef struct {
  const char *reset, *time, *conn, *c2s, *s2c, *tag, *attr, *value, *text,
    *meta, *warn, *error, *secret;
} Palette;

static const Palette colors = {
  "\033[0m", "\033[2m", "\033[1m", "\033[1;32m", "\033[1;36m", "\033[34m",
  "\033[33m", "\033[32m", "", "\033[2m", "\033[1;33m", "\033[1;31m",
  "\033[35m",
};
static const Palette plain = { "", "", "", "", "", "", "", "", "", "", "", "", "" };

typedef struct {
  XmSink sink;
  XmPrinterOptions opts;
  FILE *out;
  GString *buf;
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

static void
append_time (const XmPrinterOptions *opts, gint64 time_us, GString *buf)
{
  g_autoptr (GDateTime) dt = NULL;
  gint64 secs = time_us / G_USEC_PER_SEC;
  int usec = (int) (time_us % G_USEC_PER_SEC);
  g_autofree char *s = NULL;

  if (usec < 0)
    {
      usec += G_USEC_PER_SEC;
      secs--;
    }
  dt = opts->utc ? g_date_time_new_from_unix_utc (secs)
                 : g_date_time_new_from_unix_local (secs);
  if (dt == NULL)
    {
      g_string_append_printf (buf, "@%" G_GINT64_FORMAT, time_us);
      return;
    }
  s = g_date_time_format (dt, opts->utc ? "%Y-%m-%dT%H:%M:%S" : "%H:%M:%S");
  g_string_append_printf (buf, "%s.%06d%s", s, usec, opts->utc ? "Z" : "");
}

static void
append_qname (GString *buf, const char *prefix, const char *name)
{
  if (prefix)
    {
      g_string_append (buf, prefix);
      g_string_append_c (buf, ':');
    }
  g_string_append (buf, name);
}

static void
append_start_tag (const Palette *c, const XmNode *el, gboolean empty,
                  gboolean show_secrets, GString *buf)
{
  g_string_append_printf (buf, "%s<", c->tag);
  append_qname (buf, el->prefix, el->name);
  g_string_append (buf, c->reset);
  for (guint i = 0; i < el->n_ns_decls; i++)
    {
      const XmNsDecl *d = &el->ns_decls[i];
      g_string_append_printf (buf, " %sxmlns%s%s%s=%s'", c->attr,
                              d->prefix ? ":" : "", d->prefix ? d->prefix : "",
                              c->reset, c->value);
      xm_xml_escape (buf, d->uri, strlen (d->uri), TRUE);
      g_string_append_printf (buf, "'%s", c->reset);
    }
  for (guint i = 0; i < el->n_attrs; i++)
    {
      const XmAttr *a = &el->attrs[i];
      g_string_append_printf (buf, " %s", c->attr);
      append_qname (buf, a->prefix, a->name);
      if (xm_attr_is_secret (el, a) && !show_secrets)
        {
          g_string_append_printf (buf, "%s=%s'[secret: %" G_GSIZE_FORMAT
                                  " bytes hidden]'%s", c->reset, c->secret,
                                  strlen (a->value), c->reset);
          continue;
        }
      g_string_append_printf (buf, "%s=%s'", c->reset, c->value);
      xm_xml_escape (buf, a->value, strlen (a->value), TRUE);
      g_string_append_printf (buf, "'%s", c->reset);
    }
  g_string_append_printf (buf, "%s%s>%s", c->tag, empty ? "/" : "", c->reset);
}

static void
append_end_tag (const Palette *c, const XmNode *el, GString *buf)
{
  g_string_append_printf (buf, "%s</", c->tag);
  append_qname (buf, el->prefix, el->name);
  g_string_append_printf (buf, ">%s", c->reset);
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
                              c->secret, t->text_len, c->reset);
      return;
    }
  if (opts->max_text && t->text_len > opts->max_text)
    {
      gsize n = utf8_prefix_len (t->text, t->text_len, opts->max_text);
      g_string_append (buf, c->text);
      xm_xml_escape (buf, t->text, n, FALSE);
      g_string_append_printf (buf, "%s%s…[+%" G_GSIZE_FORMAT
                              " bytes, --full-text shows all]%s",
                              c->reset, c->meta, t->text_len - n, c->reset);
      return;
    }
  g_string_append (buf, c->text);
  xm_xml_escape (buf, t->text, t->text_len, FALSE);
  g_string_append (buf, c->reset);
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
  for (int i = 0; i < level; i++)
    g_string_append (buf, "  ");
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
      g_string_append_c (buf, '\n');
      return;
    }
  append_start_tag (c, el, FALSE, opts->show_secrets, buf);
  if (!has_elements)
    {
      /* Text only: keep it on the tag's line, exactly as sent. */
      for (const XmNode *ch = el->children; ch; ch = ch->next)
        append_text (opts, c, el, ch, buf);
      append_end_tag (c, el, buf);
      g_string_append_c (buf, '\n');
      return;
    }
  g_string_append_c (buf, '\n');
  for (const XmNode *ch = el->children; ch; ch = ch->next)
    {
      if (ch->type == XM_NODE_ELEMENT)
        append_element (opts, c, ch, level + 1, buf);
      else if (!is_blank (ch))
        {
          append_indent (buf, level + 1);
          append_text (opts, c, el, ch, buf);
          g_string_append_c (buf, '\n');
        }
    }
  append_indent (buf, level);
  append_end_tag (c, el, buf);
  g_string_append_c (buf, '\n');
}

static void
append_header (const XmPrinterOptions *opts, const Palette *c,
               const XmEvent *ev, gboolean with_dir, GString *buf)
{
  g_string_append (buf, c->time);
  append_time (opts, ev->time_us, buf);
  g_string_append_printf (buf, "%s %s#%u%s ", c->reset, c->conn, ev->conn, c->reset);
  if (with_dir && ev->dir != XM_DIR_NONE)
    g_string_append_printf (buf, "%s%s%s ",
                            ev->dir == XM_DIR_C2S ? c->c2s : c->s2c,
                            xm_dir_arrow (ev->dir), c->reset);
  if (ev->flags & (XM_EVENT_FLAG_TLS | XM_EVENT_FLAG_ZLIB))
    g_string_append_printf (buf, "%s[%s%s%s]%s ", c->meta,
                            ev->flags & XM_EVENT_FLAG_TLS ? "tls" : "",
                            (ev->flags & XM_EVENT_FLAG_TLS)
                              && (ev->flags & XM_EVENT_FLAG_ZLIB) ? "+" : "",
                            ev->flags & XM_EVENT_FLAG_ZLIB ? "zlib" : "",
                            c->reset);
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
      g_string_append_printf (buf, "%sconnected:%s %s\n", c->meta, c->reset, ev->text);
      break;

    case XM_EVENT_CONN_CLOSE:
      append_header (opts, c, ev, FALSE, buf);
      g_string_append_printf (buf, "%sclosed:%s %s (client sent %" G_GUINT64_FORMAT
                              " bytes, server sent %" G_GUINT64_FORMAT " bytes)\n",
                              c->meta, c->reset, ev->text ? ev->text : "",
                              ev->bytes[XM_DIR_C2S], ev->bytes[XM_DIR_S2C]);
      break;

    case XM_EVENT_STREAM_OPEN:
      append_header (opts, c, ev, TRUE, buf);
      g_string_append_printf (buf, "%sstream open%s, %" G_GSIZE_FORMAT " bytes\n",
                              c->meta, c->reset, st->raw_len);
      if (st->root)
        {
          append_indent (buf, 1);
          append_start_tag (c, st->root, FALSE, opts->show_secrets, buf);
          g_string_append_c (buf, '\n');
        }
      break;

    case XM_EVENT_STANZA:
      append_header (opts, c, ev, TRUE, buf);
      if (st->root == NULL)
        {
          g_string_append_printf (buf, "%sstanza too large to decode, %"
                                  G_GSIZE_FORMAT " bytes (forwarded)%s\n",
                                  c->warn, st->raw_len, c->reset);
          break;
        }
      g_string_append_printf (buf, "%s", c->meta);
      append_qname (buf, st->root->prefix, st->root->name);
      g_string_append_printf (buf, ", %" G_GSIZE_FORMAT " bytes", st->raw_len);
      if (ev->wire_len)
        g_string_append_printf (buf, " (%" G_GUINT64_FORMAT " compressed)", ev->wire_len);
      g_string_append_printf (buf, "%s\n", c->reset);
      append_element (opts, c, st->root, 1, buf);
      break;

    case XM_EVENT_KEEPALIVE:
      if (opts->hide_keepalives)
        break;
      append_header (opts, c, ev, TRUE, buf);
      g_string_append_printf (buf, "%swhitespace keepalive, %" G_GSIZE_FORMAT
                              " byte%s%s\n", c->meta, ev->count,
                              ev->count == 1 ? "" : "s", c->reset);
      break;

    case XM_EVENT_STREAM_CLOSE:
      append_header (opts, c, ev, TRUE, buf);
      g_string_append_printf (buf, "%sstream close%s\n  %s</stream:stream>%s\n",
                              c->meta, c->reset, c->tag, c->reset);
      break;

    case XM_EVENT_NOTE:
      append_header (opts, c, ev, TRUE, buf);
      g_string_append_printf (buf, "%s%s:%s %s\n",
                              ev->level == XM_NOTE_ERROR ? c->error
                              : ev->level == XM_NOTE_WARNING ? c->warn : c->meta,
                              ev->level == XM_NOTE_ERROR ? "error"
                              : ev->level == XM_NOTE_WARNING ? "warning" : "note",
                              c->reset, ev->text);
      break;

    case XM_EVENT_LAYER:
      append_header (opts, c, ev, TRUE, buf);
      g_string_append_printf (buf, "%slayer:%s %s\n", c->meta, c->reset, ev->text);
      break;

    case XM_EVENT_SASL:
      {
        /* Under the stanza it decodes, in words. */
        g_autofree char *line = xm_sasl_decode_format (ev->sasl, opts->show_secrets,
                                                       opts->max_text);
        g_string_append_printf (buf, "  %sdecoded:%s %s\n", c->secret, c->reset, line);
      }
      break;
    }
}

static void
printer_event (XmSink *sink, const XmEvent *ev)
{
  XmPrinter *p = (XmPrinter *) sink;

  g_string_truncate (p->buf, 0);
  xm_printer_format (&p->opts, ev, p->buf);
  if (p->buf->len)
    {
      fwrite (p->buf->str, 1, p->buf->len, p->out);
      fflush (p->out);
    }
}

static void
printer_flush (XmSink *sink)
{
  fflush (((XmPrinter *) sink)->out);
}

static void
printer_free (XmSink *sink)
{
  XmPrinter *p = (XmPrinter *) sink;

  fflush (p->out);
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
  p->buf = g_string_sized_new (4096);
  return &p->sink;
}
