/* web-server.h: the HTTP side of the web UI, shared by `xmitm web` and
 * `xmitm proxy --web`: listening, the token and its cookie, the Host and
 * Origin checks, the security headers, the page's files from GResource
 * and a WebSocket path. What the API answers is the caller's (route). */
#pragma once

#include <glib.h>
#include <libsoup/soup.h>

#include "web-api.h"

G_BEGIN_DECLS

#define XM_WEB_DEFAULT_LISTEN "127.0.0.1:8080"

typedef struct _XmWebServer XmWebServer;

/* A request that passed every check and is none of the page's files:
 * answer it and return TRUE, or FALSE for a 404. query may be NULL. */
typedef gboolean (*XmWebRouteFunc) (SoupServerMessage *msg, const char *path,
                                    GHashTable *query, gpointer data);

/* Listens on listen (ADDR:PORT; port 0 picks a free one) in the
 * thread-default main context of the calling thread. NULL after printing
 * a usage error naming option (bad address, a wildcard, port in use). */
XmWebServer *xm_web_server_new (const char *option, const char *listen,
                                XmWebRouteFunc route, gpointer route_data);
void xm_web_server_free (XmWebServer *ws);

/* "http://127.0.0.1:PORT/?token=...", with the bound port. */
const char *xm_web_server_url (const XmWebServer *ws);

/* A WebSocket at path: opened only for a request that passes the same
 * checks as every other (token or cookie, Host, Origin). */
void xm_web_server_add_websocket (XmWebServer *ws, const char *path,
                                  SoupServerWebsocketCallback opened,
                                  gpointer data);

/* Answers a request of the JSON API (web-api.c) from wd; FALSE when path
 * is none of its routes (a 404): what the commands' routes call. */
gboolean xm_web_serve_api (XmWebData *wd, SoupServerMessage *msg, const char *path);

/* Answers (copies body unless take). */
void xm_web_respond (SoupServerMessage *msg, guint status, const char *type,
                     const char *body, gsize len, gboolean take);
void xm_web_respond_text (SoupServerMessage *msg, guint status, const char *text);

/* The query's parameters in order, repeats kept (a filter may repeat);
 * returns their number. */
guint xm_web_split_query (const char *query, char ***names, char ***values);

G_END_DECLS
