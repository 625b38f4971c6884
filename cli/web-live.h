/* web-live.h: xmitm proxy --web: the live view, on a thread of its own.
 *
 * The proxy's thread gives every event to a sink that writes it as a
 * recording line into a bounded queue and never waits: when the queue is
 * full the events are dropped and counted (missed). The web thread
 * appends the lines to a private temporary recording (unlinked at once),
 * indexes it as it grows and serves it like xmitm web serves a file, and
 * tells the page over a WebSocket that there is more. */
#pragma once

#include "printer.h"
#include "sink.h"

G_BEGIN_DECLS

typedef struct _XmWebLive XmWebLive;

/* Starts the web thread listening on listen (ADDR:PORT, port 0 for any).
 * secrets: keep and show what the printer hides (--show-secrets). NULL
 * after printing a usage error (bad address, port in use) or a failure. */
XmWebLive *xm_web_live_start (const char *listen, const XmPrinterOptions *printer,
                              gboolean secrets);
/* "http://ADDR:PORT/?token=..." */
const char *xm_web_live_url (const XmWebLive *live);
/* The sink for the proxy's list (freed by it; the live view stays). */
XmSink *xm_web_live_sink (XmWebLive *live);
/* Stops the thread and frees everything (after the sink is gone). */
void xm_web_live_stop (XmWebLive *live);

G_END_DECLS
