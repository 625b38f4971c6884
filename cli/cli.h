/* cli.h: what the commands of the command line share (the files of cli/): exit
 * codes, usage errors, the output options of proxy and show, sizes, the
 * CA. Each command is one file and one entry of main.c's table. */
#pragma once

#include <glib.h>

#include "certs.h"
#include "filter.h"
#include "sink.h"

G_BEGIN_DECLS

/* 0 done, 1 runtime failure, 2 usage error. */
#define XM_EXIT_USAGE 2

/* Prints "xmitm: MESSAGE" on stderr; returns XM_EXIT_USAGE. */
int xm_cli_usage_error (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

/* How events are shown: the options proxy and show share. */
typedef struct {
  char *color;
  gboolean utc, full_text, show_secrets, hide_keepalives, json, quiet;
  gint max_text;
  XmFilterArgs filter;
} XmOutputArgs;

void xm_cli_output_args_init (XmOutputArgs *o);
void xm_cli_output_args_clear (XmOutputArgs *o);
/* Appends the output options to entries (live: with --quiet). */
void xm_cli_add_output_entries (GArray *entries, XmOutputArgs *o, gboolean live);
/* Ends entries with the NULL entry GOption wants. */
void xm_cli_end_entries (GArray *entries);
/* The sink that shows events on standard output, or NULL for --quiet;
 * -1 on a usage error (printed). */
int xm_cli_output_sink (XmOutputArgs *o, const char *source, XmSink **sink);
/* "64", "8k", "1M" (KiB, MiB): a positive size. */
gboolean xm_cli_parse_size (const char *s, gsize *out);
/* The CA named on the command line, or the default one (made on first
 * use). NULL after printing why. */
XmCa *xm_cli_open_ca (const char *cert, const char *key);

/* The commands: argv[0] is the command's name. */
int xm_cli_cmd_proxy (int argc, char **argv);
int xm_cli_cmd_show (int argc, char **argv);
int xm_cli_cmd_export (int argc, char **argv);
/* export --html OUT FILE (export-html.c): 0, or 1 with a message. */
int xm_cli_export_html (const char *out, const char *in, gboolean secrets);
int xm_cli_cmd_web (int argc, char **argv);
int xm_cli_cmd_ca (int argc, char **argv);

G_END_DECLS
