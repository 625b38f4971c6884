/* rewrite.h: the few rewrites xmitm makes to what it forwards, each named
 * and reported. Only whole child elements of <stream:features> are
 * removed; every other byte stays as the server sent it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  /* Channel binding cannot survive a MITM (the two legs are different TLS
   * channels): drop SCRAM-*-PLUS from RFC 6120 <mechanisms/> and XEP-0388
   * <authentication/>, and the XEP-0440 <sasl-channel-binding/> feature. */
  XM_REWRITE_STRIP_PLUS = 1 << 0,
  /* --no-compression: drop the XEP-0138 <compression/> feature. */
  XM_REWRITE_STRIP_COMPRESSION = 1 << 1,
} XmRewriteFlags;

/* raw: the exact bytes of one <stream:features> element. Returns the
 * rewritten bytes, or NULL when nothing had to go (or raw does not parse);
 * *removed (when not NULL) gets what was removed, e.g.
 * "SCRAM-SHA-1-PLUS, sasl-channel-binding". */
GBytes *xm_rewrite_features (const guint8 *raw, gsize len, guint flags,
                             char **removed) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
