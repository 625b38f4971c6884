/* bosh.h: XMPP over BOSH (XEP-0124, XEP-0206), the sessions that one proxy
 * or one capture sees.
 *
 * A BOSH session is one XMPP stream carried in the <body/> wrappers of
 * HTTP requests and responses, over several TCP connections at once (a
 * long poll held on one while the client sends on another). Each TCP
 * connection's observer reads its HTTP (observer-web.c) and hands every
 * body here; the session, found by its sid, decodes them as one stream with
 * one observer of its own: requests in rid order, each body one line, its
 * stanzas one by one, SASL decoded, restarts and termination as stream
 * opens and closes. Its events carry the session's number (the connection
 * that created it) in XmEvent.session.
 *
 * Memory is bounded: a fixed number of sessions (the oldest goes), and a
 * small window of bodies held while an earlier rid is missing. */
#pragma once

#include <glib.h>

#include "observer.h"

G_BEGIN_DECLS

XmBosh *xm_bosh_new (void);
void xm_bosh_free (XmBosh *bosh);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmBosh, xm_bosh_free)

/* The TCP connection a body came on: its observer emits the session's
 * events (with its TLS flag), conn is its number. */
typedef struct {
  XmObserver *obs;
  guint conn;
  guint flags;
  const char *client;  /* its client's address, without the port; or NULL */
} XmBoshVia;

/* What a request was, for its response (which names no session). */
typedef struct _XmBoshAsk XmBoshAsk;

/* A request's body (a <body/> in the httpbind namespace, or anything
 * else, which is said): what its response needs. */
XmBoshAsk *xm_bosh_request (XmBosh *bosh, const XmBoshVia *via,
                            const guint8 *body, gsize len);
/* The response to ask's request (ask is freed). */
void xm_bosh_response (XmBosh *bosh, const XmBoshVia *via, XmBoshAsk *ask,
                       const guint8 *body, gsize len);
void xm_bosh_ask_free (XmBoshAsk *ask);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmBoshAsk, xm_bosh_ask_free)

/* Sessions alive (for tests). */
guint xm_bosh_sessions (const XmBosh *bosh);

G_END_DECLS
