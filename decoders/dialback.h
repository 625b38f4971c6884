/* dialback.h: decodes XEP-0220 server dialback (jabber:server:dialback)
 * into the shape of an authentication exchange (sasl.h's XmSaslDecode,
 * protocol "XEP-0220"), so it prints, records and filters like one.
 *
 * The initiating server sends <db:result from to>KEY</db:result>; the
 * receiving server checks the key with the authoritative server of `from`,
 * usually over a connection of its own: <db:verify from to id>KEY
 * </db:verify>, answered <db:verify type='valid'|'invalid'/>; then it
 * answers <db:result type='valid'|'invalid'/> (or type='error' with a
 * stanza error). The key (a digest of a secret of the authoritative server
 * and the stream id) is a secret: hidden unless asked.
 *
 * Stateless and pure: no printing. */
#pragma once

#include <glib.h>
#include "sasl.h"
#include "stanza.h"

G_BEGIN_DECLS

#define XM_NS_DIALBACK "jabber:server:dialback"

/* Decodes a top-level <db:result/> or <db:verify/>; NULL for anything else.
 * The element is only read during the call. Returns a new decode: fields
 * from, to, id (each when present) and key (a secret, when not empty);
 * step "request" (no type), "valid", "invalid" or "error"; notes explain
 * the outcome, an error's condition and what is missing. */
XmSaslDecode *xm_dialback_decode (const XmNode *element) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
