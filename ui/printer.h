/* printer.h: the human-readable sink. Each event becomes a header line
 * (timestamp, connection number, direction) and, for stanzas, indented XML.
 * Events are written whole, so output of concurrent connections never
 * interleaves inside a stanza: on a terminal each at once, to a file or a
 * pipe in batches of whole events at each xm_sink_flush() (the proxy
 * flushes once per main-loop round) or every 64 KiB. */
#pragma once

#include <stdio.h>
#include "sink.h"

G_BEGIN_DECLS

typedef enum {
  XM_COLOR_AUTO,
  XM_COLOR_ALWAYS,
  XM_COLOR_NEVER,
} XmColorMode;

typedef struct {
  gboolean color;           /* ANSI colours */
  gboolean utc;             /* ISO 8601 UTC instead of local time */
  gsize max_text;           /* shorten longer text nodes; 0: show all */
  gboolean show_secrets;    /* print SASL/XEP-0078 secrets as sent */
  gboolean hide_keepalives;
} XmPrinterOptions;

#define XM_PRINTER_DEFAULT_MAX_TEXT 256

void xm_printer_options_init (XmPrinterOptions *opts);

/* Parses "auto", "always", "never"; FALSE if none of those. */
gboolean xm_color_mode_parse (const char *s, XmColorMode *mode);
/* NO_COLOR (https://no-color.org) turns auto off; always wins over it. */
gboolean xm_color_mode_resolve (XmColorMode mode, FILE *out);

/* out is borrowed and must outlive the printer. */
XmSink *xm_printer_new (const XmPrinterOptions *opts, FILE *out);

/* Appends the text for one event to buf (what the sink would write). */
void xm_printer_format (const XmPrinterOptions *opts, const XmEvent *event,
                        GString *buf);

/* Frees what the calling thread's printing keeps (the time zone): a
 * thread that printed calls it before it ends. */
void xm_printer_thread_clear (void);

G_END_DECLS
