/* output.c: what the commands share: usage errors, the output options of
 * proxy and show and the sink they make, sizes, the CA. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "printer.h"
#include "record.h"

int
xm_cli_usage_error (const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_printerr ("xmitm: %s\n", msg);
  return XM_EXIT_USAGE;
}

void
xm_cli_output_args_init (XmOutputArgs *o)
{
  memset (o, 0, sizeof *o);
  o->max_text = XM_PRINTER_DEFAULT_MAX_TEXT;
}

void
xm_cli_output_args_clear (XmOutputArgs *o)
{
  g_clear_pointer (&o->color, g_free);
  xm_filter_args_clear (&o->filter);
}

/* Appends the output options (NULL-terminated) to entries. */
void
xm_cli_add_output_entries (GArray *entries, XmOutputArgs *o, gboolean live)
{
  const GOptionEntry e[] = {
    { "color", 0, 0, G_OPTION_ARG_STRING, &o->color,
      "Colour the output: auto (default; off when NO_COLOR is set), always, never",
      "WHEN" },
    { "utc", 0, 0, G_OPTION_ARG_NONE, &o->utc,
      "Print timestamps as ISO 8601 UTC instead of local time", NULL },
    { "max-text", 0, 0, G_OPTION_ARG_INT, &o->max_text,
      "Shorten text and decoded SASL values longer than N bytes (default 256; 0 shows all)", "N" },
    { "full-text", 0, 0, G_OPTION_ARG_NONE, &o->full_text,
      "Show all text, however long (same as --max-text=0)", NULL },
    { "show-secrets", 0, 0, G_OPTION_ARG_NONE, &o->show_secrets,
      "Print SASL payloads and passwords as sent (hidden by default)", NULL },
    { "hide-keepalives", 0, 0, G_OPTION_ARG_NONE, &o->hide_keepalives,
      "Do not print whitespace keepalives", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &o->json,
      "Print events as JSON Lines (the recording format, docs/recording.md) "
      "instead of text", NULL },
  };
  const GOptionEntry quiet =
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet,
      "Print nothing (still frames every stanza)", NULL };

  g_array_append_vals (entries, e, G_N_ELEMENTS (e));
  if (live)
    g_array_append_val (entries, quiet);
}

void
xm_cli_end_entries (GArray *entries)
{
  const GOptionEntry end = { NULL };

  g_array_append_val (entries, end);
}

/* The sink that shows events on standard output, or NULL for --quiet;
 * -1 on a usage error (printed). */
int
xm_cli_output_sink (XmOutputArgs *o, const char *source, XmSink **sink)
{
  XmColorMode color_mode = XM_COLOR_AUTO;
  XmPrinterOptions popts;
  g_autoptr (GError) error = NULL;
  XmFilter *filter;

  *sink = NULL;
  if (o->color && !xm_color_mode_parse (o->color, &color_mode))
    {
      xm_cli_usage_error ("bad --color '%s': use auto, always or never", o->color);
      return -1;
    }
  if (o->max_text < 0)
    {
      xm_cli_usage_error ("--max-text must be 0 or more");
      return -1;
    }
  filter = xm_filter_new (&o->filter, &error);
  if (filter == NULL)
    {
      xm_cli_usage_error ("%s", error->message);
      return -1;
    }
  if (o->quiet)
    {
      xm_filter_free (filter);
      return 0;
    }
  if (o->json)
    *sink = xm_recorder_new (STDOUT_FILENO, FALSE, "standard output", source,
                             o->show_secrets);
  else
    {
      xm_printer_options_init (&popts);
      popts.color = xm_color_mode_resolve (color_mode, stdout);
      popts.utc = o->utc;
      popts.max_text = o->full_text ? 0 : (gsize) o->max_text;
      popts.show_secrets = o->show_secrets;
      popts.hide_keepalives = o->hide_keepalives;
      *sink = xm_printer_new (&popts, stdout);
    }
  /* Filters choose what is shown; recordings and captures keep it all. */
  *sink = xm_filter_sink_new (filter, *sink);
  return 0;
}

gboolean
xm_cli_parse_size (const char *s, gsize *out)
{
  guint64 v;
  char *end;

  errno = 0;
  v = g_ascii_strtoull (s, &end, 10);
  if (s == end || errno)
    return FALSE;
  if (g_ascii_strcasecmp (end, "k") == 0 || g_ascii_strcasecmp (end, "kib") == 0)
    v *= 1024;
  else if (g_ascii_strcasecmp (end, "m") == 0 || g_ascii_strcasecmp (end, "mib") == 0)
    v *= 1024 * 1024;
  else if (*end)
    return FALSE;
  if (v == 0 || v > G_MAXSIZE / 2)
    return FALSE;
  *out = (gsize) v;
  return TRUE;
}

/* The CA named on the command line, or the default one (made on first
 * use). Returns NULL after printing why. */
XmCa *
xm_cli_open_ca (const char *cert, const char *key)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL, *dcert = NULL, *dkey = NULL;
  XmCa *ca;

  if ((cert == NULL) != (key == NULL))
    {
      g_printerr ("xmitm: --ca-cert and --ca-key go together\n");
      return NULL;
    }
  if (cert == NULL)
    {
      dir = xm_ca_default_dir ();
      dcert = g_build_filename (dir, "ca.pem", NULL);
      dkey = g_build_filename (dir, "ca-key.pem", NULL);
    }
  ca = xm_ca_open (cert ? cert : dcert, key ? key : dkey, cert == NULL, &error);
  if (ca == NULL)
    g_printerr ("xmitm: cannot use the CA: %s\n", error->message);
  return ca;
}

