/* inflate.h: one direction of an XEP-0138 zlib stream (RFC 1950), inflated
 * incrementally so the framer can read it. The compressed bytes are never
 * changed: this works on a copy.
 *
 * Limits against decompression bombs: output is produced in bounded pieces,
 * and the consumer stops inflating (returns FALSE from its callback) when a
 * cap is hit; the expansion ratio is checked here. After an error or a
 * limit the inflater is stalled: later input is counted, not inflated. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define XM_INFLATE_DEFAULT_MAX_RATIO 200

typedef struct _XmInflate XmInflate;

typedef enum {
  XM_INFLATE_OK,
  XM_INFLATE_ERROR,   /* not a valid zlib stream: message set */
  XM_INFLATE_LIMIT,   /* a cap was hit: message set */
  XM_INFLATE_STALLED, /* an earlier error or limit: input ignored */
} XmInflateStatus;

/* Receives inflated bytes (borrowed); return FALSE to stop (a limit). */
typedef gboolean (*XmInflateOut) (const guint8 *data, gsize len, gpointer user_data);

/* max_ratio: inflated/compressed bytes allowed once more than 1 MiB has
 * been inflated (0: no ratio limit). */
XmInflate *xm_inflate_new (guint max_ratio);
void xm_inflate_free (XmInflate *inflate);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmInflate, xm_inflate_free)

XmInflateStatus xm_inflate_feed (XmInflate *inflate, const guint8 *data, gsize len,
                                 XmInflateOut out, gpointer user_data,
                                 char **message);

guint64 xm_inflate_total_in (const XmInflate *inflate);
guint64 xm_inflate_total_out (const XmInflate *inflate);

G_END_DECLS
