/* observer.h: the decoding of one XMPP connection from its two directions'
 * in-order bytes: a framer per direction, SASL decoding, and the
 * negotiation steps that change layers (RFC 6120 STARTTLS and SASL stream
 * restarts, XEP-0138 compression). Pure: no I/O; what it finds are events.
 *
 * Two places see a connection. An observer outside it (a packet capture,
 * ui/pcap-read.c: xm_observer_new) gets bytes of the two directions
 * interleaved, in the order they were seen. A direction that does not start
 * with a stream header (the capture began mid-connection, or bytes went
 * missing) waits for one. TLS cannot be decrypted: after <proceed/>, or when
 * a direction starts with a TLS record, a note says so and the connection is
 * no longer decoded.
 *
 * The proxy inside it (proxy/session.c: xm_observer_new_live) forwards the
 * original bytes itself and decodes a copy here. It runs the layers: it
 * switches to TLS or zlib at the exact byte where the server's negotiation
 * element ends (xm_observer_decode), and intercepts TLS, so TLS does not end
 * decoding. */
#pragma once

#include <glib.h>
#include "event.h"
#include "xml-framer.h"

G_BEGIN_DECLS

/* Receives each event; the caller fills in conn and time_us before passing
 * it on. Everything the event points to is borrowed for the call. */
typedef void (*XmObserverEmit) (XmEvent *event, gpointer user_data);

typedef struct _XmObserver XmObserver;

XmObserver *xm_observer_new (XmObserverEmit emit, gpointer user_data);
void xm_observer_free (XmObserver *obs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmObserver, xm_observer_free)

/* ---- outside the connection (a capture) ---- */

/* Direction dir's bytes begin at the start of its stream (a capture saw
 * its SYN): its first bytes are decoded even if they do not open a
 * stream. Before any byte of dir only. */
void xm_observer_from_start (XmObserver *obs, XmDir dir);

/* The next in-order bytes of direction dir (XM_DIR_C2S or XM_DIR_S2C). */
void xm_observer_feed (XmObserver *obs, XmDir dir, const guint8 *data, gsize len);

/* Bytes of dir are missing here (what stands before it came, what comes
 * after follows); message says how many and where, e.g. "120 bytes
 * missing at offset 4000". Plaintext waits for a new stream header; a zlib
 * stream cannot go on. */
void xm_observer_gap (XmObserver *obs, XmDir dir, const char *message);

/* The connection ended: notes the bytes of each direction that make no
 * complete element. Nothing may be fed after. */
void xm_observer_finish (XmObserver *obs);

/* TRUE while dir's bytes are still decoded (not TLS, not stopped). */
gboolean xm_observer_decoding (const XmObserver *obs, XmDir dir);

/* Whitespace (after an optional UTF-8 BOM), then the opening of a stream
 * ("<?xml" or "<stream:stream")? A chunk that ends inside the opening
 * counts as YES; MAYBE when there is nothing but whitespace yet. */
typedef enum {
  XM_OPENS_NO,
  XM_OPENS_YES,
  XM_OPENS_MAYBE,
} XmOpens;

XmOpens xm_observer_opens_stream (const guint8 *data, gsize len);

/* A client's first bytes on a port that is not XMPP's: an HTTP request for
 * XMPP over WebSocket or BOSH (it names xmpp or http-bind: the 'xmpp'
 * subprotocol, a /xmpp-websocket or /http-bind path, the httpbind
 * namespace), rather than any web traffic a capture holds? */
gboolean xm_observer_http_for_xmpp (const guint8 *data, gsize len);
/* The client's first bytes: an HTTP request (WebSocket, BOSH)? A stream
 * starts with '<', whitespace or a byte order mark; a request with its
 * method's token. */
gboolean xm_web_looks_like_http (const guint8 *data, gsize len);

/* ---- inside the connection (the proxy) ---- */

/* After the events of a complete top-level element of dir (the stanza, then
 * its SASL decode, which sasl borrows, or NULL), before the observer
 * negotiates on it: where the proxy adds notes or rewrites. */
typedef void (*XmObserverElement) (XmDir dir, const XmStanza *stanza,
                                   const XmSaslDecode *sasl, gpointer user_data);

typedef struct {
  gsize max_stanza;         /* xm_framer_set_max_stanza() */
  gboolean lazy;            /* xm_framer_set_lazy() */
  gsize max_inflate;        /* inflated bytes without a complete stanza */
  guint max_inflate_ratio;  /* xm_inflate_new(): 0 for none */
  XmObserverElement element; /* may be NULL */
} XmObserverLive;

/* Where a server's negotiation element switches layers, from the byte after
 * it on: RFC 6120 §5.4.3.3 <proceed/> (TLS), XEP-0138 §6 <compressed/>
 * (zlib, both directions). */
typedef enum {
  XM_SWITCH_NONE,
  XM_SWITCH_STARTTLS,
  XM_SWITCH_ZLIB,
} XmSwitch;

/* Notes that decoding stops say that the bytes are still forwarded. The
 * user_data of emit goes to live->element too. */
XmObserver *xm_observer_new_live (const XmObserverLive *live, XmObserverEmit emit,
                                  gpointer user_data);

/* Decodes a copy of dir's next bytes, and returns how many it took: len, or
 * fewer when a negotiation element that switches layers ends inside them;
 * *sw says which switch (XM_SWITCH_NONE if none). Then the caller forwards
 * what was taken, switches its own layers, calls xm_observer_switch(), and
 * goes on with the rest in the new layer. */
gsize xm_observer_decode (XmObserver *obs, XmDir dir, const guint8 *data, gsize len,
                          XmSwitch *sw);

/* The switch xm_observer_decode() stopped at is made: its LAYER event, and
 * for zlib, both directions are inflated from here. */
void xm_observer_switch (XmObserver *obs);

/* The caller runs TLS with the server from here (after STARTTLS, or XEP-0368
 * direct TLS): a <proceed/> switches nothing any more. */
void xm_observer_tls_started (XmObserver *obs);

/* TLS is up on both legs: both streams restart inside it, uncompressed, and
 * their events carry XM_EVENT_FLAG_TLS. */
void xm_observer_tls_up (XmObserver *obs);

/* BOSH bodies go to the sessions of bosh (shared by all the connections
 * of a proxy or a capture, which it outlives); conn is this connection's
 * number. Without it, a connection's bodies make sessions of their own. */
typedef struct _XmBosh XmBosh;
void xm_observer_set_bosh (XmObserver *obs, XmBosh *bosh, guint conn);
/* The client's address ("ip:port", "[v6]:port"), for a BOSH session that
 * two clients share. */
void xm_observer_set_client (XmObserver *obs, const char *addr);

/* The connection is HTTP (WebSocket, BOSH, or plain): the framer's offsets
 * are not the connection's, and nothing switches layers. */
gboolean xm_observer_web (const XmObserver *obs);

/* dir's framer, for its offsets and pending element (xml-framer.h). */
const XmFramer *xm_observer_framer (const XmObserver *obs, XmDir dir);

G_END_DECLS
