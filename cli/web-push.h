/* web-push.h: tells the page over a WebSocket that there is something new
 * (events, sessions, events missed, indexing progress). Only a state is
 * sent, never the events themselves, and a client gets its next message
 * only after it acknowledged the last one: a slow or stalled browser
 * costs the server one small message, whatever happens meanwhile. */
#pragma once

#include "web-server.h"

G_BEGIN_DECLS

typedef struct _XmWebPush XmWebPush;

/* The state now, as a JSON object (freed by the caller). */
typedef char *(*XmWebPushStateFunc) (gpointer data);

/* A WebSocket at path of ws; runs in the thread-default main context. */
XmWebPush *xm_web_push_new (XmWebServer *ws, const char *path,
                            XmWebPushStateFunc state, gpointer data);
/* Something changed: each client hears of it within about 200 ms of its
 * last acknowledgement; changes meanwhile make one message. */
void xm_web_push_changed (XmWebPush *push);
/* Clients now, and notifications skipped because a client had not read
 * the previous one (a measure of slow browsers). */
guint xm_web_push_clients (const XmWebPush *push);
guint64 xm_web_push_skipped (const XmWebPush *push);
void xm_web_push_free (XmWebPush *push);

G_END_DECLS
