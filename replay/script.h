/* script.h: a recording turned into what replay does and expects.
 *
 * Each recorded connection becomes a negotiation (what it negotiated: TLS,
 * the SASL mechanism and who logged in, the stream headers its client sent,
 * the stream features the server offered at each stage) followed by steps:
 * client stanzas to send and server stanzas to expect, and the stream
 * closes. The steps of every connection are put in one XmOrder, in
 * recorded order, for cross-connection pacing.
 *
 * What replay answers live is left out of the steps: server pings
 * (XEP-0199) and the client's answers to them, XEP-0198 <r/> and <a/>. */
#pragma once

#include <glib.h>
#include "order.h"
#include "stanza.h"

G_BEGIN_DECLS

typedef enum {
  XM_STEP_CONNECT,      /* send: connect, negotiate, authenticate */
  XM_STEP_SEND,         /* send: a client stanza */
  XM_STEP_CLOSE,        /* send: </stream:stream> */
  XM_STEP_EXPECT,       /* receive: a server stanza */
  XM_STEP_EXPECT_CLOSE, /* receive: the server's </stream:stream> */
} XmStepKind;

typedef struct _XmScriptConn XmScriptConn;

typedef struct {
  XmStepKind kind;
  XmScriptConn *conn;
  guint order;          /* index in the script's XmOrder */
  XmStanza *stanza;     /* SEND, EXPECT (a reference) */
  gint64 time_us;       /* when it was recorded (wall clock) */
  gpointer data;        /* the replayer's (freed with data_free) */
  GDestroyNotify data_free;
} XmStep;

typedef enum {
  XM_FEATURES_INITIAL, /* the first stream, before TLS */
  XM_FEATURES_TLS,     /* after STARTTLS, or the first with direct TLS */
  XM_FEATURES_AUTH,    /* after SASL success */
  XM_FEATURES_COMPRESSED, /* after XEP-0138 <compressed/> (at compress_stage) */
  XM_FEATURES_N,
} XmFeaturesStage;

struct _XmScriptConn {
  guint conn;             /* recorded connection number */
  char *domain;           /* the client's stream header to= */
  GPtrArray *headers;     /* GBytes: the client's stream headers, in order */
  gboolean starttls;      /* negotiated STARTTLS */
  gboolean direct_tls;    /* opened with TLS (XEP-0368) */
  gboolean compression;   /* negotiated XEP-0138 */
  gboolean ws;            /* over WebSocket (RFC 7395) */
  char *ws_path;          /* its upgrade request's path */
  gboolean bosh;          /* over BOSH (XEP-0206): its events are those of
                           * the session, whichever HTTP connection carried
                           * them; conn is the session's number */
  char *bosh_path;        /* the path its requests were POSTed to */
  XmFeaturesStage compress_stage; /* whose features the client compressed on */
  char *mechanism;        /* the SASL mechanism, NULL if none */
  gboolean sasl2;         /* XEP-0388: authenticated with SASL2 */
  XmStanza *sasl2_authenticate; /* its <authenticate/> (with its inline
                                 * requests: bind2, XEP-0198, FAST ...) */
  XmStanza *sasl2_success; /* the server's <success/> */
  gboolean iq_auth;       /* XEP-0078 jabber:iq:auth instead of SASL */
  gboolean component;     /* XEP-0114: a component's stream
                           * (jabber:component:accept), its <handshake/>
                           * instead of SASL; jid is its domain */
  XmStanza *iq_auth_get;  /* the client's get for the fields, if it asked */
  XmStanza *iq_auth_fields; /* the server's answer to it */
  XmStanza *iq_auth_set;  /* the client's set (username, password or
                           * digest, resource) */
  char *authcid;          /* who authenticated, if the recording tells */
  char *authzid;
  GBytes *initial_response; /* recorded with secrets: the <auth/> payload */
  char *jid;              /* the full JID the server bound, NULL if none */
  GPtrArray *stream_ids;  /* char*: ids of the server's stream headers */
  XmStanza *features[XM_FEATURES_N]; /* the server's, at each stage */
  GPtrArray *steps;       /* XmStep* (borrowed from the script), in order */
  gpointer index;         /* the replayer's (freed with index_free) */
  GDestroyNotify index_free;
};

typedef struct {
  GPtrArray *conns;       /* XmScriptConn*, by recorded number */
  GPtrArray *steps;       /* XmStep*, in order: steps->pdata[i]->order == i */
  XmOrder *order;
  gboolean secrets;       /* recorded with --record-secrets (a capture
                           * holds everything: TRUE) */
  gboolean capture;       /* read from a packet capture (pcap, pcapng) */
  gboolean serve;         /* replay plays the server: it sends the server's
                           * steps and waits for the client's */
  char *path;
  guint64 skipped;        /* stanzas left out (answered live) */
  XmStanzaSlab *slab;     /* holds the stanzas of steps and connections */
} XmScript;

/* Loads the recording at path, or a packet capture of cleartext XMPP
 * (pcap-read.h: a capture with TLS cannot be replayed past it, an error
 * that says so). Warnings about damaged lines go to warn
 * (may be NULL). NULL with error when the file cannot be read or is not a
 * recording, or holds no client stream to replay. serve: replay plays the
 * server (the order's sends are the server's steps; pace is ignored: a
 * server stanza waits for every client item recorded before it). */
XmScript *xm_script_load (const char *path, XmPace pace, gboolean serve,
                          void (*warn) (const char *msg, gpointer data),
                          gpointer warn_data, GError **error);
void xm_script_free (XmScript *script);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmScript, xm_script_free)

/* A script stanza with its whole tree. The script keeps plain messages and
 * presences (the bulk of a long recording) as their bytes and root element
 * only (shallow: name, namespace, attributes), which is all that reading
 * the recording and scheduling look at; this builds the rest from the
 * bytes (plain-tree.h), as the framer did. st itself when it has its tree.
 * Unref the result either way. */
XmStanza *xm_script_stanza_full (XmStanza *st) G_GNUC_WARN_UNUSED_RESULT;

/* The bare JID the connection authenticated as: the bound JID without its
 * resource, or authcid@domain. A new string, NULL if unknown. */
char *xm_script_conn_account (const XmScriptConn *conn) G_GNUC_WARN_UNUSED_RESULT;

/* Helpers on stanzas shared with the replayer. */
gboolean xm_stanza_is_iq (const XmNode *el, const char *type1, const char *type2);
/* A server ping request (XEP-0199): <iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>. */
gboolean xm_stanza_is_ping (const XmNode *el);
/* Stream features offering XEP-0138 zlib compression. */
gboolean xm_features_offer_zlib (const XmNode *features);
/* XEP-0198 <r/> or <a/>. */
gboolean xm_stanza_is_sm_ack (const XmNode *el);
/* The <jid/> of a bind result, borrowed from el... as a new string, or NULL. */
char *xm_stanza_bind_jid (const XmNode *el) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
