/* layer-zlib.h: XEP-0138 stream compression as a layer of a leg: zlib
 * streams (RFC 1950) both ways, what goes down deflated and flushed to a
 * byte boundary (Z_SYNC_FLUSH) so the peer can inflate all of it at once,
 * what comes up inflated (inflate.h, with its decompression-bomb limits).
 * Replay speaks through it; the proxy forwards compressed bytes as they
 * are and only its observer inflates a copy. */
#pragma once

#include "layer.h"

G_BEGIN_DECLS

extern const XmLayerClass xm_layer_zlib_class;

/* max_ratio: as xm_inflate_new(). */
XmLayer *xm_layer_zlib_new (guint max_ratio);

G_END_DECLS
