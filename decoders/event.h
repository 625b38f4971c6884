/* event.h: what a session reports to its sinks (printer, recorder).
 * Pure data: producers fill one on the stack and sinks read it during the
 * call; anything a sink keeps it must copy or ref. */
#pragma once

#include <glib.h>
#include "sasl.h"
#include "stanza.h"

G_BEGIN_DECLS

typedef enum {
  XM_DIR_C2S, /* client to server */
  XM_DIR_S2C, /* server to client */
  XM_DIR_NONE, /* the connection as a whole */
} XmDir;

typedef enum {
  XM_EVENT_CONN_OPEN,    /* text: endpoints */
  XM_EVENT_CONN_CLOSE,   /* text: reason; bytes[] */
  XM_EVENT_STREAM_OPEN,  /* stanza: the header */
  XM_EVENT_STANZA,       /* stanza */
  XM_EVENT_KEEPALIVE,    /* count: whitespace bytes */
  XM_EVENT_STREAM_CLOSE,
  XM_EVENT_NOTE,         /* level, text: decoder or proxy note */
  XM_EVENT_LAYER,        /* text: a layer change (TLS, compression) */
  XM_EVENT_SASL,         /* sasl: the decode of the stanza just reported */
  XM_EVENT_TRANSPORT,    /* transport, text: what the transport under the
                          * XMPP stream carried (an HTTP request or response,
                          * a WebSocket ping, pong or close) */
} XmEventKind;

typedef enum {
  XM_NOTE_INFO,
  XM_NOTE_WARNING,
  XM_NOTE_ERROR,
} XmNoteLevel;

/* How the bytes of an event travelled (XmEvent.flags). */
#define XM_EVENT_FLAG_TLS (1u << 0)   /* inside TLS xmitm intercepted */
#define XM_EVENT_FLAG_ZLIB (1u << 1)  /* inside an XEP-0138 zlib stream */
#define XM_EVENT_FLAG_WS (1u << 2)    /* in WebSocket messages (RFC 7395) */
#define XM_EVENT_FLAG_BOSH (1u << 3)  /* in BOSH bodies (XEP-0206) */

/* Structured detail of a LAYER event, for recordings and scripts (the
 * printer shows the event's text). Strings are borrowed; any may be NULL. */
typedef struct {
  const char *layer;        /* "starttls", "tls", "direct-tls", "zlib",
                             * "stream-restart" */
  const char *leg;          /* "client" or "server": the TLS leg that is up */
  const char *tls_version;  /* "TLSv1.3" */
  const char *cipher;       /* "TLS_AES_256_GCM_SHA384" */
  const char *sni;
  const char *alpn;
  const char *cert_subject; /* the server's certificate (leg "server") */
  const char *cert_issuer;
  const char *cert_sha256;  /* hex, colon-separated */
  const char *verified;     /* the name verified, NULL if not verified */
  double ms;                /* how long the handshake took, 0 if unknown */
} XmLayerInfo;

typedef struct {
  XmEventKind kind;
  guint flags;
  guint conn;            /* connection number, from 1 */
  guint session;         /* a BOSH session's number (the connection that
                          * created it), 0 for none: its events come over
                          * several connections */
  XmDir dir;
  gint64 time_us;        /* wall clock, microseconds since the epoch */
  XmStanza *stanza;      /* STREAM_OPEN, STANZA: borrowed */
  guint64 wire_len;      /* STANZA in a zlib stream: compressed bytes that
                          * arrived since the previous stanza, 0 if none */
  gsize count;           /* KEEPALIVE */
  XmNoteLevel level;     /* NOTE */
  const char *text;      /* CONN_*, NOTE, LAYER */
  const char *addr[2];   /* CONN_OPEN: client address, server address (the
                          * upstream as configured; NULL if not known yet) */
  const XmLayerInfo *layer; /* LAYER: detail, may be NULL */
  guint64 bytes[2];      /* CONN_CLOSE: bytes sent by client, by server */
  const XmSaslDecode *sasl; /* SASL: borrowed */
  const char *transport; /* TRANSPORT: "http-request", "http-response",
                          * "ws-ping", "ws-pong", "ws-close", "ws-message",
                          * "bosh-body" */
} XmEvent;

const char *xm_dir_arrow (XmDir dir); /* "C->S", "S->C" or "" */

G_END_DECLS
