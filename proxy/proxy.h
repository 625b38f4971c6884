/* proxy.h: the listener and the set of live sessions. */
#pragma once

#include "bosh.h"
#include <glib.h>
#include "certs.h"
#include "sink.h"

G_BEGIN_DECLS

typedef struct {
  char *listen_host;
  guint16 listen_port;
  char *upstream_host;
  guint16 upstream_port;    /* 0: upstream_host is a domain (SRV, connect.h) */
  char *upstream_tls_host;  /* where direct-TLS clients go; NULL: upstream */
  guint16 upstream_tls_port;
  gboolean upstream_insecure;
  XmCa *ca;                 /* forges the leaves shown to clients */
  guint connect_timeout_s;
  guint tls_timeout_s;
  gsize max_stanza;
  gboolean keep_channel_binding; /* do not strip SCRAM-*-PLUS and XEP-0440 */
  gboolean no_compression;       /* strip the XEP-0138 feature */
  gsize max_inflate;             /* inflated bytes without a complete stanza */
  guint max_inflate_ratio;
  GPtrArray *sinks; /* XmSink*, owned by the caller */
  /* Transparent mode: each connection goes to its original destination. */
  gboolean transparent;          /* NAT redirect (SO_ORIGINAL_DST) ... */
  gboolean tproxy;               /* ... or TPROXY (implies transparent) */
  gboolean keep_source;          /* TPROXY: connect from the client's address */
  gboolean use_mark;
  guint32 mark;                  /* SO_MARK of upstream sockets */
} XmProxyConfig;

typedef struct _XmProxy XmProxy;

/* Binds the listener; NULL with error (XM_NET_ERROR_LISTEN) if it cannot. */
XmProxy *xm_proxy_new (const XmProxyConfig *config, GError **error);
/* Stops accepting and closes every session, naming the reason. */
void xm_proxy_shutdown (XmProxy *proxy, const char *reason);
void xm_proxy_free (XmProxy *proxy);

/* For sessions. */
typedef struct _XmRound XmRound;
typedef struct _XmSession XmSession;
XmRound *xm_proxy_round (XmProxy *proxy);
const XmProxyConfig *xm_proxy_config (XmProxy *proxy);
/* The BOSH sessions of all its connections (decoders/bosh.h). */
XmBosh *xm_proxy_bosh (XmProxy *proxy);
void xm_proxy_emit (XmProxy *proxy, const XmEvent *event);

/* A session whose client has not sent a byte yet waits in one queue, in
 * the order the proxy accepted them: all wait the same --tls-timeout, so
 * one timer serves them all, and thousands of silent connections cost
 * nothing per loop iteration (a GLib timeout each would be walked at every
 * one). When its time is up the proxy calls xm_session_silence_expired(). */
typedef struct {
  GList link;        /* first: the queue's node; link.data is the session */
  gint64 deadline;   /* monotonic */
} XmProxySilence;
void xm_proxy_silence_start (XmProxy *proxy, XmProxySilence *w, XmSession *session);
/* The client spoke, or the session ends (nothing if not waiting). */
void xm_proxy_silence_stop (XmProxy *proxy, XmProxySilence *w);

/* The local address ("ip:port") of an upstream socket, added or removed: a
 * client connecting from it is xmitm itself, redirected back (a loop). */
void xm_proxy_own_endpoint (XmProxy *proxy, const char *endpoint, gboolean add);

G_END_DECLS
