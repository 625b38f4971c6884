/* replay-private.h: what replay.c (scheduling, matching, reporting) and
 * conn.c (one connection's sockets, TLS and negotiation) share. */
#pragma once

#include <glib.h>

#include "auth.h"
#include "inflate.h"
#include "canon.h"
#include "certs.h"
#include "connect.h"
#include "http-msg.h"
#include "leg.h"
#include "order.h"
#include "poller.h"
#include "sasl.h"
#include "script.h"
#include "tls.h"
#include "xml-framer.h"

G_BEGIN_DECLS

typedef enum {
  XM_TLS_MODE_AUTO,     /* as recorded */
  XM_TLS_MODE_STARTTLS,
  XM_TLS_MODE_DIRECT,
  XM_TLS_MODE_NONE,
} XmTlsMode;

/* What carries the stream to the server: as recorded, a TCP stream, or
 * XMPP over WebSocket (RFC 7395). */
typedef enum {
  XM_TRANSPORT_AUTO,
  XM_TRANSPORT_TCP,
  XM_TRANSPORT_WS,
  XM_TRANSPORT_BOSH,    /* XEP-0206 (stream/layer-bosh.h) */
} XmTransport;

typedef struct {
  char *host;
  guint16 port;            /* 0: host is a domain, found by SRV (srv.h) */
  XmTlsMode tls;
  XmTransport transport;
  char *path;              /* WebSocket, BOSH: the endpoint's path */
  XmPace pace;
  char *password;
  GHashTable *credentials; /* bare JID -> password */
  GPtrArray *ignore;       /* XmCanonPath* */
  guint timeout_s;
  gboolean verbose;
  char *junit;
  gboolean serve;          /* play the server to clients */
  char *listen_host;
  guint16 listen_port;
  XmCa *ca;                /* serve: signs the certificate clients see */
  char *user;              /* serve: run as this user once listening */
} XmReplayOptions;

typedef enum {
  XM_LOGIN_SASL,        /* RFC 6120 §6 */
  XM_LOGIN_SASL2,       /* XEP-0388 */
  XM_LOGIN_IQ_AUTH,     /* XEP-0078 */
  XM_LOGIN_COMPONENT,   /* XEP-0114 <handshake/> (conn-component.c) */
} XmLogin;

typedef struct _Replay Replay;
typedef struct _Conn Conn;

typedef enum {
  NEG_IDLE,
  NEG_CONNECTING,
  NEG_TLS,          /* TLS handshake (direct, or after <proceed/>) */
  NEG_STREAM,       /* header sent, waiting for the server's features */
  NEG_STARTTLS,     /* <starttls/> sent, waiting for <proceed/> */
  NEG_SASL,         /* <auth/> (or XEP-0388 <authenticate/>) sent */
  NEG_IQ_AUTH,      /* XEP-0078: a jabber:iq:auth get or set sent */
  NEG_COMPRESS,     /* <compress/> sent, waiting for <compressed/> */
  NEG_ESTABLISHED,  /* authenticated stream: replaying stanzas */
  NEG_CLOSED,
} NegState;

struct _Conn {
  Replay *r;
  XmScriptConn *sc;       /* serve: a provisional one until the client has
                           * authenticated (claimed FALSE) */
  gboolean serving;       /* the client side is the peer (replay --serve) */
  gboolean claimed;
  char *peer;             /* serve: the client's address */
  XmScramServer *scram_server;
  char *label;            /* "#1 bob@localhost" */
  char *account;          /* bare JID, or NULL */
  XmLeg *leg;             /* the socket, with TLS and zlib layers */
  XmConnect *connect;     /* while connecting */
  XmFramer *framer;
  NegState state;
  gboolean want_tls, direct_tls, authed;
  gboolean ws;            /* the stream goes over WebSocket (RFC 7395) */
  gboolean bosh;          /* ... over BOSH (XEP-0206): the leg has no
                           * socket, its BOSH layer has HTTP connections
                           * (serve: gets requests from carriers) */
  gboolean bosh_carrier;  /* serve: an HTTP connection carrying requests
                           * to BOSH sessions (serve-bosh.c), not a client
                           * session of its own */
  XmHttpParser *http;     /* a carrier's requests */
  GByteArray *http_body;  /* the request's body so far */
  gboolean http_post;     /* the request is a POST */
  gboolean first_read;    /* serve: the client's first bytes were seen */
  guint8 sniff[8];        /* serve: first bytes that may begin an HTTP */
  guint8 sniff_len;       /* method, held until they tell */
  gboolean layer_pushed;  /* negotiation pushed a layer: the framer stopped
                           * after the element, the rest is the layer's */
  gboolean zlib_offered;  /* serve: the features just sent offer zlib */
  XmFeaturesStage stage;
  guint headers_sent;
  guint live_streams;     /* server stream headers seen */
  char *mechanism;
  XmLogin login;          /* how the client logs in (serve: the failure's
                           * shape) */
  char *stream_id;        /* of the current stream (XEP-0078 digest) */
  char *iq_auth_id;       /* serve: the live id of the XEP-0078 set */
  gboolean iq_auth_digest; /* XEP-0078: the server offers <digest/> */
  gboolean iq_auth_password; /* ... and <password/> */
  char *digest_nonce;     /* serve: DIGEST-MD5, the nonce challenged */
  XmScram *scram;
  char *rspauth;          /* DIGEST-MD5: what the server must prove */
  guint digest_step;
  gint64 started_us;
  guint cursor;           /* index in sc->steps of the next step to do */
  gboolean sent_close, got_close;
  gboolean sm_enabled;
  guint32 sm_h;
  char *live_jid;
  gboolean bind_sent;     /* the recorded bind request went out */
  XmStep *bind_result;    /* the recorded bind result, if any */
  GQueue received;        /* XmStanza*: to match after this round of socket
                           * events, once every bound JID of the round is
                           * known (a peer's stanza may be read before the
                           * bind result that names its sender) */
  GHashTable *id_rec2live, *id_live2rec; /* server-chosen ids */
  GString *report;        /* differences, for --junit */
  guint differences;
  guint missed;           /* the peer's recorded stanzas that did not come */
  char *error;            /* for --junit */
  GByteArray *gather;     /* sent while the pump gathers (Replay.gathering):
                           * one leg send, so one TLS record and one send()
                           * for a round's stanzas rather than one each */
};

struct _Replay {
  XmScript *script;
  XmReplayOptions *opts;
  GPtrArray *conns;       /* Conn*, in recorded order */
  GHashTable *rec2live, *live2rec; /* JIDs, stream ids */
  GHashTable *client_ids; /* ids the recorded clients chose */
  GHashTable *ids_rec2live; /* serve: ids the live clients chose, for what
                             * other connections receive */
  GHashTable *claimed;    /* serve: XmScriptConn* a client took */
  GHashTable *logged_in;  /* serve: XmScriptConn* a client logged in as */
  GHashTable *played;     /* serve: XmScriptConn* whose session a client
                           * started */
  int listen_fd;
  XmWatch *listen_watch;
  gboolean any_client;
  gboolean said_plus;     /* serve: said that -PLUS left the features */
  GHashTable *bosh_sessions; /* serve: sid -> Conn* (borrowed), BOSH */
  guint reap_carriers;    /* serve: idle source freeing closed carriers */
  GMainLoop *loop;
  gint64 last_progress;
  guint tick;
  guint drain_more;       /* an idle source: pump again, to drain the rest */
  int status;             /* XM_REPLAY_* so far */
  gboolean stopping;
  gboolean gathering;     /* in the pump's sending loop: xm_conn_send
                           * gathers, xm_conn_flush sends */
  const char *interrupted; /* "SIGINT" or "SIGTERM": stopped by it */
  guint64 compared, same, differ, missing, unexpected, not_sent;
  guint64 reordered;       /* came out of the recorded order (order.h) */
  guint64 unplayed, unplayed_stanzas; /* serve: recorded connections no
                                       * client played, and their client
                                       * stanzas (not compared) */
};

/* conn.c */
Conn *xm_conn_new (Replay *r, XmScriptConn *sc);
/* serve: a client connection accepted on fd, framed with events. */
Conn *xm_conn_new_accepted (Replay *r, int fd, const char *peer,
                            const XmFramerEvents *events);
/* The stream restarts after the element being framed (<proceed/>: TLS
 * starts there, in the role of c). */
void xm_conn_restart_after (Conn *c, gboolean tls);
/* XEP-0138: from now on what c sends is deflated, and what it receives
 * after the element being framed is inflated; the stream restarts there. */
void xm_conn_compress (Conn *c);
void xm_conn_free (Conn *c);
/* Connects and negotiates; the CONNECT step is done when the stream is
 * authenticated (xm_replay_established). */
void xm_conn_start (Conn *c);
void xm_conn_send (Conn *c, const char *data, gsize len);
/* What closes the stream: </stream:stream>, or RFC 7395's <close/>. */
const char *xm_conn_close_tag (const Conn *c);
/* Sends what xm_conn_send gathered (r->gathering) in one piece. */
void xm_conn_flush (Conn *c);
/* Whether c speaks TLS, or XEP-0138 zlib, now. */
gboolean xm_conn_tls (Conn *c);
gboolean xm_conn_compressed (Conn *c);
/* Bytes c accepted that the socket has not taken yet (gathered too). */
gsize xm_conn_queued (Conn *c);
void xm_conn_close (Conn *c);
void xm_conn_check_timeout (Conn *c, gint64 now);

/* conn-rewrite.c: recorded stanzas as replay sends them */
/* Whether each element c sends must declare its namespace (WebSocket,
 * BOSH) and the recording's did not, or the other way round: then the
 * features are the transport's too, and stanzas are rewritten. */
gboolean xm_conn_transport_differs (const Conn *c);
/* Serialises el with recorded values turned into live ones. New string. */
char *xm_conn_rewrite (Conn *c, const XmNode *el, gboolean *changed);
/* TRUE only when xm_conn_rewrite would certainly leave st, a script stanza
 * kept without its children, as it is (FALSE: ask it). */
gboolean xm_conn_rewrite_needless (Conn *c, const XmStanza *st);

/* conn-auth.c: the client's authentication, as recorded */
void xm_conn_auth_start (Conn *c, const XmNode *features);
void xm_conn_auth_challenge (Conn *c, const XmNode *el);
void xm_conn_auth_success (Conn *c, const XmNode *el);
void xm_conn_auth_failure (Conn *c, const XmNode *el);
/* XEP-0078: the answer to the get or the set. */
void xm_conn_auth_iq_answer (Conn *c, const XmNode *el);
/* conn.c, for conn-auth.c: a stream header, as recorded. */
void xm_conn_send_header (Conn *c);

/* conn-component.c: XEP-0114 components */
/* The server's stream header is in (c->stream_id): send the handshake. */
void xm_conn_component_open (Conn *c);
/* The server's answer to it (NEG_SASL with XM_LOGIN_COMPONENT). */
void xm_conn_component_answer (Conn *c, XmStanza *st);
/* serve: a client opened a component stream (header borrowed). */
void xm_serve_component_open (Conn *c, const XmNode *header);
/* serve: an element of a component stream before it is established. */
void xm_serve_component_stanza (Conn *c, const XmNode *el);

/* serve.c */
/* A BOSH session a client's creation request asks for (fd-less). */
Conn *xm_serve_new_bosh_session (Replay *r, const char *peer);
gboolean xm_serve_listen (Replay *r, GError **error);
void xm_serve_stop (Replay *r);
/* c is no longer the client of its recorded connection (it failed to log
 * in or left before its session started): another client may take it. */
void xm_serve_release (Conn *c);

/* serve-bosh.c: --serve to BOSH clients */
/* c (accepted, its first bytes an HTTP POST) carries HTTP requests. */
void xm_serve_bosh_carrier (Conn *c);
/* The carrier c closed: no session keeps its leg; it is freed soon. */
void xm_serve_bosh_carrier_closed (Conn *c);
void xm_serve_bosh_feed (Conn *c, const guint8 *data, gsize len);

/* replay.c, replay-match.c, replay-cli.c: what they share */
char *xm_replay_describe (const XmCanon *canon);
void xm_replay_done (Replay *r, XmStep *step);
XmCanon *xm_replay_expected_canon (Replay *r, XmStep *step);
char *xm_replay_format_time (gint64 time_us);
gboolean xm_replay_is_peer_close (Replay *r, const XmStep *step);
gboolean xm_replay_is_peer_stanza (Replay *r, const XmStep *step);
void xm_replay_map_value (Replay *r, const char *rec, const char *live);
const char *xm_replay_peer_arrow (Replay *r);
void xm_replay_pump (gpointer data);
void xm_replay_report_tree (Conn *c, const char *headline, const XmCanon *canon, const char *mark);
gboolean xm_replay_step_done (Replay *r, XmStep *step);
int xm_replay_run (const char *path, XmReplayOptions *opts);
void xm_replay_drain (Conn *c);
void xm_replay_drain_slice (Replay *r);
gboolean xm_replay_write_junit (Replay *r, int fd, const char *path, double seconds, GError **error);

/* replay.c, called by conn.c and serve.c */
gboolean xm_replay_is_send (Replay *r, const XmStep *step);
void xm_replay_claimed (Conn *c);
void xm_replay_report (Conn *c, const char *headline, const char *body);
void xm_replay_fatal (Replay *r, Conn *c, const char *fmt, ...) G_GNUC_PRINTF (3, 4);
void xm_replay_established (Conn *c);
/* The recorded full JID rec was bound as live (XEP-0388 bind2). */
void xm_replay_bound (Conn *c, const char *rec, const char *live);
void xm_replay_stanza (Conn *c, XmStanza *stanza);
void xm_replay_features (Conn *c, XmStanza *stanza, XmFeaturesStage stage);
/* The peer closed its stream. */
void xm_replay_peer_close (Conn *c);
void xm_replay_lost (Conn *c, const char *why);
/* The framer's problem callback of a connection, in either role. */
void xm_conn_framer_problem (XmFramerProblem kind, guint64 offset,
                             const char *message, gpointer data);
void xm_replay_progress (Replay *r);
const char *xm_replay_map_live (const char *value, gpointer replay);
const char *xm_replay_password (Replay *r, Conn *c);
void xm_replay_say (Replay *r, const char *fmt, ...) G_GNUC_PRINTF (2, 3);
/* -v: what replay sent (sent) or received on c, with the arrow of the
 * recording's directions (serve: what replay sends goes S->C). */
void xm_replay_show (Replay *r, Conn *c, gboolean sent, const char *data, gsize len);

G_END_DECLS
