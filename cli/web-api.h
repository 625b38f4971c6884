/* web-api.h: the JSON answers of the web UI (xmitm web, proxy --web). */
#pragma once

#include <glib.h>
#include <libsoup/soup.h>

#include "event-index.h"
#include "printer.h"

G_BEGIN_DECLS

typedef struct {
  GPtrArray *indexes;        /* XmEventIndex *, one per file, in order */
  XmPrinterOptions printer;  /* how each event's text is printed (no colour) */
} XmWebData;

/* GET /api/sessions: every file and its connections, count of them
 * (default 1000) from the from-th on; query (may be NULL) holds from and
 * count. NULL with error on a bad parameter. */
char *xm_web_sessions_json (XmWebData *wd, GHashTable *query, gsize *len,
                            GError **error);

/* GET /api/events with the query's parameters (names[i] = values[i], in
 * order, repeats kept): file, from, count and the filters of the command
 * line (conn, dir, kind, ns, jid, grep). NULL with error (a message for
 * the user) on a bad parameter. */
char *xm_web_events_json (XmWebData *wd, char **names, char **values, guint n,
                          gsize *len, GError **error);

/* Answers a request under /api/ that web-server.c has checked; FALSE
 * if path is none of the API's (a 404). */
gboolean xm_web_api_dispatch (XmWebData *wd, SoupServerMessage *msg,
                              const char *path, GHashTable *query);

G_END_DECLS
