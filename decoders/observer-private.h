/* observer-private.h: what the observer's files share: observer.c (the
 * XMPP stream of a connection: framing, SASL, negotiation, zlib) and
 * observer-web.c (XMPP over HTTP: WebSocket, RFC 7395). */
#pragma once

#include "observer.h"
#include "component.h"
#include "inflate.h"
#include "bosh.h"

G_BEGIN_DECLS

/* Inflated bytes without a complete stanza (xmitm's --max-inflate default). */
#define MAX_INFLATE (8 * 1024 * 1024)
/* Stream header openings looked for after a gap; one byte less than the
 * longest is kept between chunks. */
#define CARRY_MAX 13

static const char *const stream_starts[] = { "<?xml", "<stream:stream" };

typedef struct _XmWebFlow XmWebFlow;

typedef struct {
  XmObserver *obs;
  XmDir dir;
  XmFramer *framer;
  guint flags;         /* XM_EVENT_FLAG_* */
  gboolean from_start; /* offset 0 is the start of the stream */
  gboolean started;    /* its first bytes were looked at */
  gboolean resync;     /* bytes are missing: wait for a stream header */
  gboolean stopped;    /* nothing more of it is decoded (capture) */
  gboolean zlib;
  XmInflate *inflate;
  guint64 wire_pending;     /* compressed bytes since the last stanza */
  guint64 inflated_pending; /* inflated bytes since the last stanza */
  guint8 carry[CARRY_MAX];  /* tail of the last chunk while resyncing */
  gsize carry_len;
  XmWebFlow *web;           /* XMPP over HTTP: its transport (observer-web.c) */
  gboolean bosh;            /* a BOSH session's stream: bodies, not a document */
  gboolean bosh_opened;     /* its stream has opened */
  gboolean bosh_terminate;  /* the body being read ends the session */
  guint items;              /* stream opens and elements reported so far */
} Flow;

struct _XmObserver {
  XmObserverEmit emit;
  gpointer user_data;
  gboolean live;       /* the proxy: it forwards the bytes, intercepts TLS */
  XmObserverElement element;
  gsize max_inflate;
  guint max_inflate_ratio;
  Flow flow[2];        /* by XmDir */
  XmSasl *sasl;
  XmComponent *component; /* XEP-0114 */
  XmSwitch pending;
  gboolean s2s;        /* the initiating side opened a jabber:server stream */
  gboolean tls;        /* TLS from here on: <proceed/> switches nothing */
  gboolean encrypted;  /* TLS a capture cannot read: nothing more is decoded */
  gboolean finished;
  gboolean transport_known; /* the client's first bytes were looked at */
  gsize max_message;        /* WebSocket messages (xm_ws_reader_set_max_message),
                             * BOSH bodies */
  XmBosh *bosh;             /* the BOSH sessions this connection's bodies go to */
  gboolean own_bosh;        /* ... made for it alone (no xm_observer_set_bosh) */
  guint conn;               /* its number, for the sessions it creates */
  char *client;             /* the client's address without its port */
};

void xm_observer_emit (XmObserver *obs, XmEvent *ev);
void xm_observer_note (XmObserver *obs, XmDir dir, XmNoteLevel level,
                       const char *fmt, ...) G_GNUC_PRINTF (4, 5);
/* How a note that decoding of a direction stops ends: the proxy still
 * forwards the bytes. */
const char *xm_observer_still_forwarded (const XmObserver *obs);
/* The XMPP stream's own decoding of a direction's next bytes (framer, or
 * inflater then framer): how many it took. */
gsize xm_observer_decode_xml (Flow *f, const guint8 *data, gsize len);

/* ---- a BOSH session's own observer (bosh.c) ---- */

/* Both directions carry <body/> wrappers, one document each; carrier is
 * the connection's observer that creates the session. */
void xm_observer_bosh_flows (XmObserver *obs, const XmObserver *carrier);
/* One whole body of direction dir. */
void xm_observer_bosh_body (XmObserver *obs, XmDir dir, const guint8 *data, gsize len);
/* The framer's callbacks for a body's wrapper (bosh.c). */
void xm_bosh_body_open (Flow *f, XmStanza *header);
void xm_bosh_body_close (Flow *f);

/* ---- observer-web.c ---- */

/* (xm_web_looks_like_http() is in observer.h: the proxy asks it too.) */
/* The connection is HTTP from here: both directions get a web flow. */
void xm_web_start (XmObserver *obs);
/* Decodes a copy of f's next bytes (all of them). */
void xm_web_feed (Flow *f, const guint8 *data, gsize len);
void xm_web_finish (Flow *f);
void xm_web_flow_free (XmWebFlow *w);

G_END_DECLS
