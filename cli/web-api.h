/* web-api.h: the JSON answers of `xmitm web` (cmd-web.c serves them). */
#pragma once

#include <glib.h>

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

/* For export --html: the first file whole, {"sessions": what
 * /api/sessions answers, "events": [every event as /api/events gives it,
 * with the fields the exported page filters on]}. */
char *xm_web_export_json (XmWebData *wd, gsize *len, GError **error);

/* An answer to a request of the API. */
typedef struct {
  guint status;       /* HTTP status */
  const char *type;   /* Content-Type */
  char *body;         /* owned by the caller */
  gsize len;
} XmWebAnswer;

/* Answers GET path (/api/...) with the query's parameters (names[i] =
 * values[i], in order, repeats kept): /api/sessions, /api/events,
 * /api/event. FALSE when path is no route of the API (out untouched). */
gboolean xm_web_api_dispatch (XmWebData *wd, const char *path, char **names,
                              char **values, guint n, XmWebAnswer *out);

G_END_DECLS
