/* session-private.h: what the parts of a session share: session.c (its
 * life, the byte path, the leg events), intercept.c (TLS interception:
 * handshake order, the forged leaf), upstream.c (connecting, and the
 * stream error a client gets when the upstream cannot be reached). */
#pragma once

#include <netinet/in.h>

#include "session.h"
#include "connect.h"
#include "layer-tls.h"
#include "leg.h"
#include "observer.h"
#include "rewrite.h"
#include "round.h"

#define NS_STREAM "http://etherx.jabber.org/streams"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_STREAMS_ERR "urn:ietf:params:xml:ns:xmpp-streams"

#define OUT_HIGH (256 * 1024)

enum { CLIENT = 0, SERVER = 1 };

/* Where the session is. */
typedef enum {
  PHASE_RELAY,    /* forwarding (the upstream may still be connecting) */
  PHASE_FAILING,  /* the upstream cannot be reached: a stream error for the
                   * client (RFC 6120 §4.9.3.15), then the end */
  PHASE_CLOSED,
} Phase;

/* The upstream connection. */
typedef enum {
  UPSTREAM_NONE,       /* not started: the client's first bytes say where */
  UPSTREAM_CONNECTING,
  UPSTREAM_CONNECTED,
  UPSTREAM_FAILED,
} Upstream;

/* TLS interception (RFC 6120 §5, XEP-0368). */
typedef enum {
  INTERCEPT_NONE,
  INTERCEPT_STARTTLS_ASKED, /* the client sent <starttls/> */
  INTERCEPT_STARTTLS,       /* TLS after <proceed/>, both legs */
  INTERCEPT_DIRECT,         /* the client opened with a ClientHello */
} Intercept;

/* A client certificate the server asked for (SASL EXTERNAL). */
typedef enum {
  CLIENT_CERT_NOT_ASKED,
  CLIENT_CERT_ASKED,   /* the server's handshake waits for the client's */
  CLIENT_CERT_NONE,    /* the client presented none: neither did xmitm */
  CLIENT_CERT_FORGED,  /* xmitm presented one forged like the client's */
} ClientCert;

typedef struct {
  XmSession *s;
  int side;            /* CLIENT or SERVER */
  XmLeg *leg;
} Side;

struct _XmSession {
  gint ref_count;
  XmProxy *proxy;
  XmRound *round;
  guint id;
  Phase phase;
  Upstream upstream;
  Intercept intercept;
  Side side[2];
  XmObserver *obs;     /* decodes a copy of both directions' plaintext */
  guint64 bytes[2];    /* plaintext bytes by XmDir: what one side sent the other */
  gboolean in_read;    /* handling one read: plaintext for TLS is gathered */
  XmRoundBusy busy;

  char *client_name;
  char *upstream_name;
  char *dest_host;          /* where to connect: the configured upstream, or */
  guint16 dest_port;        /* the original destination (transparent mode);
                             * 0: dest_host is a domain, found by SRV */
  gboolean transparent;
  struct sockaddr_storage client_addr;
  char *own_endpoint;       /* local address of the upstream socket */
  gint64 now;

  XmProxySilence silence; /* queued while the client has sent no byte */

  char *tls_name;      /* the domain the client asked for */
  guint tls_timer;
  gint64 tls_start;
  gboolean client_leaf_set; /* the client leg has its forged leaf */
  ClientCert client_cert;
  char *client_cert_name;  /* CLIENT_CERT_FORGED: the name it was made for */
  gboolean external_failed; /* s2s: SASL EXTERNAL failed on this stream */
  gboolean fell_back;      /* ... and the initiating server tried dialback */
  gboolean s2s_authed;     /* s2s: SASL success or dialback valid seen */
  guint dialback_requests; /* s2s: db:result and db:verify requests sent */
  gboolean client_tls_up;  /* the client's handshake finished ... */
  guint64 c2s_at_tls_up;   /* ... when it had sent this much plaintext */

  /* Rewriting the server's <stream:features> (rewrite.h): while it may
   * apply, an incomplete top-level element from the server is held back
   * until it is complete. Offsets are the server direction's framer
   * offsets. */
  guint rewrite_flags;
  gboolean rewrite_last;  /* the features with <bind/> went by: stop after */
  guint64 fwd_offset;     /* forwarded up to here */
  GByteArray *held_back;  /* [fwd_offset, ...) received, not yet forwarded */
  GBytes *replace;        /* what to send instead of [replace_start, replace_end) */
  guint64 replace_start, replace_end;
  gboolean stripped_plus; /* xmitm removed SCRAM-*-PLUS from what the client saw */
  gboolean cb_downgrade;  /* the client sent GS2 flag 'y' after a strip */

  XmConnect *connect;
  char *last_connect_error;
  gint64 connect_start;

  /* PHASE_FAILING */
  gboolean error_sent;
  guint fail_timer;
  char *client_to;     /* the 'to' of the client's stream header */
  char *client_from;   /* its 'from' (an s2s initiating server's domain) */
  char *client_ns;     /* its default namespace */
  gboolean client_header_seen;
};

static inline gboolean
closed (const XmSession *s)
{
  return s->phase == PHASE_CLOSED;
}

static inline gboolean
failing (const XmSession *s)
{
  return s->phase == PHASE_FAILING;
}

static inline XmLayer *
tls_layer (const Side *side)
{
  return xm_leg_find (side->leg, &xm_layer_tls_class);
}

static inline XmTls *
tls_of (const Side *side)
{
  XmLayer *l = tls_layer (side);
  return l ? xm_layer_tls_engine (l) : NULL;
}

/* TLS on this side, handshake not over. */
static inline gboolean
tls_pending (const Side *side)
{
  XmLayer *l = tls_layer (side);
  return l && !xm_layer_tls_is_up (l);
}

static inline gboolean
tls_up (const Side *side)
{
  XmLayer *l = tls_layer (side);
  return l && xm_layer_tls_is_up (l);
}

/* session.c */
XmSession *xm_session_ref (XmSession *s);
void xm_session_unref (XmSession *s);
void xm_session_emit (XmSession *s, XmEvent *ev);
void xm_session_note (XmSession *s, XmDir dir, XmNoteLevel level, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);
void xm_session_layer (XmSession *s, XmDir dir, const char *text, const XmLayerInfo *info);
void xm_session_simple_layer (XmSession *s, XmDir dir, const char *what, const char *text);
/* Closes both legs (abort: with a reset) and reports the close once. */
void xm_session_end (XmSession *s, const char *reason, gboolean abort);
const char *xm_session_side_name (int side);
/* Plaintext for a side's leg, after what was gathered for it. */
void xm_session_send (Side *to, const guint8 *data, gsize len);
void xm_session_shutdown_write (Side *to);
/* Reading follows what the other leg can take (back-pressure). */
void xm_session_update_reading (XmSession *s);

/* intercept.c */
/* RFC 6120 §5.4.3.3: after the server's <proceed/>, TLS on both legs. */
void xm_intercept_starttls (XmSession *s);
/* XEP-0368: the client's first bytes are a ClientHello. */
void xm_intercept_direct (XmSession *s);
/* The upstream leg starts TLS (direct TLS: offering the client's ALPN). */
void xm_intercept_upstream (XmSession *s);

/* s2s-auth.c: on an s2s stream, a failed SASL EXTERNAL, or a stream
 * error refusing the certificate before any authentication, explained in
 * one sentence (its cause and the fix), and a fall-back to dialback named;
 * root: a top-level element of dir, d its decode (NULL: none). At the end,
 * a failure nothing followed. */
void xm_s2s_auth_element (XmSession *s, XmDir dir, const XmNode *root,
                          const XmSaslDecode *d);
void xm_s2s_auth_end (XmSession *s);

/* upstream.c */
void xm_upstream_connect (XmSession *s, const char *host, guint16 port);
void xm_upstream_forget_endpoint (XmSession *s);
/* No upstream for this client, for why: as if connecting had failed. */
void xm_upstream_refuse (XmSession *s, const char *why);
/* RFC 6120 §4.9.3.15: a stream header, <remote-connection-failed/>, the
 * stream close (once). */
void xm_upstream_error_reply (XmSession *s);
