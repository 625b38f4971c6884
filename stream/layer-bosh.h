/* layer-bosh.h: XMPP over BOSH (XEP-0124, XEP-0206) as the bottom layer
 * of a leg, for replay (the client's side; the connection manager's, for
 * replay --serve, is layer-bosh-serve.h).
 *
 * Above it the owner sees an ordinary XMPP stream, as over TCP: it sends
 * a stream header, whole elements and </stream:stream>; it reads a stream
 * header, elements and the stream close. Below it there is no socket of
 * the leg's own: a BOSH client needs two HTTP requests in flight (the long
 * poll the connection manager holds, and one carrying new stanzas), so
 * the layer owns its HTTP/1.1 connections, up to two keep-alive legs of
 * their own (each a socket, with a TLS layer for https), connected as
 * they are needed and again if the server closes one between requests.
 *
 * The first stream header creates the session (hold='1', a modest wait,
 * rid starting at random), a later one is an xmpp:restart body,
 * </stream:stream> a type='terminate' body. Whole elements sent from
 * above wait in the layer until a request can carry them: at most one
 * request on each connection, at most 'requests' (the server's, two here)
 * not done with at once (in flight, or answered and waiting for an
 * earlier rid's answer), and always one held for the server to answer
 * with (if the server answers that one at once and empty, the next waits
 * its 'polling' interval, XEP-0124 §12). Response
 * bodies go up in rid order: a synthetic <stream:stream> header (id: the
 * session's authid) when the session is created and after each restart,
 * then the children's bytes as the server wrote them (the header declares
 * jabber:client and the stream prefix, which BOSH bodies carry), and
 * </stream:stream> for a terminate body.
 *
 * Failures fail the leg with one sentence: an HTTP status other than 200,
 * an answer that is not HTTP, a body that is not <body/> in the httpbind
 * namespace or names another session, a response body over
 * XM_LAYER_BOSH_MAX_BODY, a terminate with a condition (XEP-0124 §17), a
 * connection closed with a request unanswered; TLS errors keep their
 * XM_TLS_ERROR so the owner can explain them. */
#pragma once

#include "layer.h"

G_BEGIN_DECLS

extern const XmLayerClass xm_layer_bosh_class;

/* A response body larger than this is refused (the server's answer is
 * read whole before it is parsed). */
#define XM_LAYER_BOSH_MAX_BODY (8u << 20)
/* The wait asked for (XEP-0124 §7.1): the longest a held request is
 * held; replay ends sooner, with a terminate. */
#define XM_LAYER_BOSH_WAIT_S 20

typedef struct {
  const char *host;      /* where to connect */
  guint16 port;
  const char *path;      /* the endpoint (NULL: /http-bind) */
  const char *domain;    /* the session's to= */
  const char *tls_name;  /* https: SNI and the name verified; NULL: http */
  guint connect_timeout_s; /* per attempt, 0: none */
  gboolean no_pacing;    /* requests go as soon as XEP-0124 allows, without
                          * the waits that pace them for real servers (the
                          * gap after an unanswered request, the end of the
                          * loop round, 'polling'): for the fuzz target,
                          * whose clock does not move */
} XmLayerBoshConfig;

XmLayer *xm_layer_bosh_new (const XmLayerBoshConfig *config);

/* The session id, once the server has created it (NULL before). */
const char *xm_layer_bosh_sid (XmLayer *layer);
/* HTTP connections opened so far (tests, -v). */
guint xm_layer_bosh_connections (XmLayer *layer);

G_END_DECLS
