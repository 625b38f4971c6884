/* framer-cache.h: the framers of a recording being read, one per
 * connection and direction, bounded in number.
 *
 * A recording of many connections left open would otherwise keep a framer
 * (an expat parser, about 10 KiB) for each of their directions. Past
 * max_live framers, the least recently used one is freed; the stream header
 * it was given is kept (a copy of bytes the file holds), and it is made
 * again, fed that header, when its connection records more. */
#pragma once

#include "event.h"
#include "xml-framer.h"

G_BEGIN_DECLS

typedef struct _XmFramerCache XmFramerCache;

XmFramerCache *xm_framer_cache_new (const XmFramerEvents *events, gpointer user_data,
                                    gsize max_stanza, guint max_live);
void xm_framer_cache_free (XmFramerCache *fc);

/* The framer of (conn, dir); fresh: a new one (a new stream, its header
 * is given next with xm_framer_cache_header). One freed for room is made
 * again and fed its stream header first: its callbacks see that header
 * again. Borrowed until the next call. */
XmFramer *xm_framer_cache_get (XmFramerCache *fc, guint conn, XmDir dir, gboolean fresh);
/* The stream header (conn, dir)'s framer was just fed. */
void xm_framer_cache_header (XmFramerCache *fc, guint conn, XmDir dir,
                             const guint8 *data, gsize len);
/* Whether (conn, dir) has a stream header: one given with
 * xm_framer_cache_header since its last fresh framer. */
gboolean xm_framer_cache_has_header (XmFramerCache *fc, guint conn, XmDir dir);
/* The connection closed: both its framers go. */
void xm_framer_cache_drop (XmFramerCache *fc, guint conn);
/* Framers alive now. */
guint xm_framer_cache_live (const XmFramerCache *fc);

G_END_DECLS
