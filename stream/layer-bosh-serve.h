/* layer-bosh-serve.h: XMPP over BOSH (XEP-0124, XEP-0206), the connection
 * manager's side, as the bottom layer of a leg with no socket (replay
 * --serve). The client side is layer-bosh.h.
 *
 * A BOSH session's requests come over several HTTP connections (carriers:
 * legs the owner accepted and reads HTTP on); the owner finds the session
 * by sid and hands each request's body here with the leg to answer on.
 * Above, the owner sees an ordinary XMPP stream from the client: a
 * stream header when the session is created and at each xmpp:restart,
 * the bodies' children, </stream:stream> for a terminate. What the owner
 * sends (its stream header, whole elements, </stream:stream>) goes out in
 * the responses: requests are taken in rid order and held (hold='1': a
 * second one answers the first), each answered as soon as there is
 * something to send, or empty after the session's wait. */
#pragma once

#include "layer.h"

G_BEGIN_DECLS

extern const XmLayerClass xm_layer_bosh_serve_class;

/* The largest rid a request may carry (XEP-0124 §14.1: 2^53 - 1). */
#define XM_BOSH_MAX_RID G_GUINT64_CONSTANT (9007199254740991)

/* The longest a request is held, whatever wait the client asks for. */
#define XM_LAYER_BOSH_SERVE_MAX_WAIT_S 20

XmLayer *xm_layer_bosh_serve_new (void);
/* The session's id (made when the layer is). */
const char *xm_layer_bosh_serve_sid (XmLayer *layer);
/* A request's body, to answer on carrier (borrowed: the owner keeps it
 * until the layer is freed or told with xm_layer_bosh_serve_forget; a
 * closed one is not kept: its request is read, and answered nowhere). */
void xm_layer_bosh_serve_request (XmLayer *layer, XmLeg *carrier,
                                  const guint8 *body, gsize len);
/* carrier is going away: its requests, held or waiting, are answered on
 * nothing (as on a closed carrier); the layer keeps no pointer to it. */
void xm_layer_bosh_serve_forget (XmLayer *layer, XmLeg *carrier);

/* Whether body is a BOSH <body/> (in the httpbind namespace); *sid: its
 * sid attribute (a new string, NULL when it has none: a session creation
 * request). */
gboolean xm_bosh_body_sid (const guint8 *body, gsize len, char **sid);

/* An HTTP/1.1 response with body on carrier (NULL or closed: nothing). */
void xm_bosh_http_answer (XmLeg *carrier, const char *status, const char *body, gsize len);

G_END_DECLS
