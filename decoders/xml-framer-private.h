/* xml-framer-private.h: what the framer's two files share: xml-framer.c
 * (feeding, offsets, carry, lazy mode, handing items out) and
 * xml-framer-expat.c (expat's callbacks: the tree, restricted XML). */
#pragma once

#include <expat.h>

#include "xml-framer.h"
#include "xml-scan.h"

G_BEGIN_DECLS

#define NS_SEP '\x01'
#define STREAM_NS "http://etherx.jabber.org/streams"

typedef enum {
  STOP_NONE,
  STOP_RESTART_AFTER, /* caller asked: return right after this element */
  STOP_CLOSE,         /* </stream:stream>: next byte starts a new document */
  STOP_IMPLICIT,      /* a new stream header without a reset: restart there */
  STOP_FATAL,         /* DOCTYPE and the like: stall until reset */
  STOP_HANDOVER,      /* lazy: a plain stanza follows, the scanner takes it */
} StopKind;

struct _XmFramer {
  const XmFramerEvents *ev;
  gpointer user_data;
  XML_Parser parser;
  gsize max_stanza;

  guint64 consumed; /* stream offset of the next byte the caller feeds */
  guint64 doc_base; /* stream offset of byte 0 of the current document, as
                     * expat counts: bytes the scanner framed without expat
                     * move it forward */
  guint64 expat_fed; /* bytes of this document fed to expat */
  gboolean need_reset;
  gboolean stalled;
  gboolean in_callback;

  /* The piece expat is parsing now. */
  const guint8 *piece;
  gsize piece_len;
  guint64 piece_base;

  /* Bytes of the pending top-level item: [mark, piece_base) are in carry. */
  guint64 mark;
  GByteArray *carry;

  int depth;           /* 0 before the header, 1 between stanzas */
  gboolean in_stanza;
  guint64 item_start;
  gboolean oversized;
  gboolean pending_oversized; /* the next stanza's start tag is already too big */
  guint64 last_progress;

  XmStanza *stanza;    /* the tree being built */
  XmNode *cur;
  GString *text;
  GArray *pending_ns;  /* XmNsDecl, strings in stanza's arena */

  gsize ws_pending;
  gboolean stray_reported;
  gboolean in_stray;   /* the last text between stanzas was not whitespace */
  gboolean in_cdata;   /* inside a CDATA section (expat reports its text as
                        * it comes, so no bytes are held back) */

  StopKind stop;
  guint64 stop_offset;

  /* Lazy mode */
  gboolean lazy;        /* plain messages and presences: shallow roots */
  gboolean plain_trees; /* ... full trees built without expat */
  gboolean fast;        /* either: the scanner frames what it can */
  XmScan scan;
  GByteArray *held;    /* an element the scanner reads across feeds */
  guint64 held_base;   /* its stream offset */
  char *default_ns;    /* the stream header's default namespace */
  GByteArray *header;  /* the stream header's bytes, to rebuild the parser */
  gboolean released;   /* parser given back while between stanzas */
  gboolean replaying;  /* feeding the header again: no events */
  gboolean framing;    /* RFC 7395: a synthetic root, never reported */
};

static inline guint64
ev_offset (XmFramer *f)
{
  return f->doc_base + (guint64) XML_GetCurrentByteIndex (f->parser);
}

static inline guint64
ev_end (XmFramer *f)
{
  return ev_offset (f) + (guint64) XML_GetCurrentByteCount (f->parser);
}

/* XML's white space (S, XML 1.0 §2.3). */
static inline gboolean
is_ws (guint8 c)
{
  return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* xml-framer.c */
void xm_framer_check_size (XmFramer *f, guint64 upto);
void xm_framer_emit_item (XmFramer *f, guint64 end, gboolean header);
void xm_framer_flush_text (XmFramer *f);
void xm_framer_flush_ws (XmFramer *f);
void xm_framer_problem (XmFramer *f, XmFramerProblem kind, guint64 offset, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);
void xm_framer_set_mark (XmFramer *f, guint64 offset);
void xm_framer_stop_parser (XmFramer *f, StopKind kind, guint64 offset);

/* xml-framer-expat.c */
void xm_framer_set_handlers (XML_Parser parser);

G_END_DECLS
