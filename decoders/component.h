/* component.h: decodes the XEP-0114 component handshake
 * (jabber:component:accept) into the same shape as an authentication
 * exchange (sasl.h's XmSaslDecode, protocol "XEP-0114"), so it prints,
 * records and filters like one.
 *
 * A component opens a stream in jabber:component:accept to the domain it
 * serves, the server answers with a stream id, the component sends
 * <handshake>hex SHA-1 of stream id + secret</handshake> (a secret: the
 * digest lets the secret be guessed offline) and the server answers an
 * empty <handshake/>, or a stream error: <not-authorized/> for a wrong
 * secret, <host-unknown/> for a domain it has no component for (prosody;
 * ejabberd says <not-authorized/> for that too).
 *
 * Pure: no printing. */
#pragma once

#include <glib.h>
#include "sasl.h"
#include "stanza.h"

G_BEGIN_DECLS

#define XM_NS_COMPONENT_ACCEPT "jabber:component:accept"
#define XM_NS_COMPONENT_CONNECT "jabber:component:connect"

/* One per session, for both directions. */
typedef struct _XmComponent XmComponent;

XmComponent *xm_component_new (void);
void xm_component_free (XmComponent *comp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmComponent, xm_component_free)

/* The default namespace a stream header declares (borrowed), or NULL. */
const char *xm_component_stream_ns (const XmNode *header);
/* The header opens an XEP-0114 component stream. */
gboolean xm_component_is_stream (const XmNode *header);

/* A stream header of either direction (the element only read during the
 * call). */
void xm_component_stream_open (XmComponent *comp, const XmNode *header,
                               gboolean from_client);

/* Decodes a top-level element of a component stream: the component's
 * <handshake/>, the server's <handshake/> (success) or a stream error
 * before it (why the handshake failed, in one note). NULL for anything
 * else, and for every element of a stream that is not a component's.
 * Returns a new decode. */
XmSaslDecode *xm_component_decode (XmComponent *comp, const XmNode *element,
                                   gboolean from_client) G_GNUC_WARN_UNUSED_RESULT;

/* XEP-0114 §3: the handshake a component sends: lowercase hex SHA-1 of
 * the stream id followed by the secret. A new string. */
char *xm_component_handshake (const char *stream_id, const char *secret)
  G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
