/* s2s-features.h: what a server-to-server stream negotiates besides
 * authentication, named in a note: XEP-0288 bidirectional s2s (both
 * servers' stanzas over one stream) and XEP-0198 stream management (acks
 * and resumption) on s2s, which a reader of the output would otherwise
 * take for their c2s meaning or miss.
 *
 * Pure: an element in, a static sentence out. */
#pragma once

#include <glib.h>
#include "event.h"
#include "stanza.h"

G_BEGIN_DECLS

#define XM_NS_BIDI_FEATURE "urn:xmpp:features:bidi"
#define XM_NS_BIDI "urn:xmpp:bidi"
#define XM_NS_SM "urn:xmpp:sm:3"

/* TRUE if a stream header opens a server-to-server stream (RFC 6120 §4.7:
 * default namespace jabber:server). */
gboolean xm_s2s_header_is_s2s (const XmNode *header);

/* The note for a top-level element of direction dir on an s2s stream, or
 * NULL: the receiving server offering XEP-0288 or XEP-0198, the initiating
 * server asking for them, the receiving server enabling stream
 * management; a <host-unknown/> stream error (an unknown `to`). */
const char *xm_s2s_feature_note (const XmNode *element, XmDir dir);

G_END_DECLS
