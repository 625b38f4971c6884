/* layer-ws.h: XMPP over WebSocket (RFC 7395) as a layer of a leg, for
 * replay (the client's side; the server's for --serve, below): the HTTP upgrade (RFC 6455 §4.1) asking for
 * the 'xmpp' subprotocol, then every send from above is one masked text
 * message and every message from below goes up whole, one element each
 * (the owner's framer is in RFC 7395 framing mode). Pings are answered,
 * a close is answered and ends the leg's input.
 *
 * Until the server's 101 has come, what is sent waits in the layer (busy:
 * a shutdown waits too). An answer that is not a WebSocket upgrade for
 * 'xmpp', with the right Sec-WebSocket-Accept, fails the leg with one
 * sentence. The proxy does not use it: it forwards the frames as they
 * came and decodes a copy (decoders/observer-web.c). */
#pragma once

#include "layer.h"

G_BEGIN_DECLS

extern const XmLayerClass xm_layer_ws_class;

/* host: the Host header (host[:port]); path: the request's path. */
XmLayer *xm_layer_ws_new_client (const char *host, const char *path);

/* The server's side (replay --serve): the client's upgrade request is
 * answered with 101 for 'xmpp' (anything else with 400 and the leg
 * fails, one sentence); then messages both ways, ours unmasked. */
XmLayer *xm_layer_ws_new_server (void);

G_END_DECLS
