/* observer.h: the decoding of one XMPP connection from its two directions'
 * in-order bytes, as an observer outside the connection sees it (a packet
 * capture): a framer per direction, SASL decoding, and the negotiation
 * steps that change layers (RFC 6120 STARTTLS and SASL stream restarts,
 * XEP-0138 compression). Pure: no I/O; what it finds are events.
 *
 * Bytes of the two directions are fed interleaved, in the order they were
 * seen. A direction that does not start with a stream header (the capture
 * began mid-connection, or bytes went missing) waits for one. TLS cannot
 * be decrypted: after <proceed/>, or when a direction starts with a TLS
 * record, a note says so and the connection is no longer decoded. */
#pragma once

#include <glib.h>
#include "event.h"

G_BEGIN_DECLS

/* Receives each event; the caller fills in conn and time_us before passing
 * it on. Everything the event points to is borrowed for the call. */
typedef void (*XmObserverEmit) (XmEvent *event, gpointer user_data);

typedef struct _XmObserver XmObserver;

XmObserver *xm_observer_new (XmObserverEmit emit, gpointer user_data);
void xm_observer_free (XmObserver *obs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmObserver, xm_observer_free)

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

G_END_DECLS
