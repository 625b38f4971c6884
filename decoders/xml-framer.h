/* xml-framer.h: incremental XMPP stream framer built on expat.
 *
 * One framer per direction. It is fed arbitrary chunks of the plaintext
 * stream and reports the stream header, every complete top-level element
 * (a stanza or a stream-level element such as <stream:features/>) with its
 * exact original bytes and a parsed tree, whitespace keepalives, the stream
 * close, and problems. It never fails: a problem is an event and the caller's
 * bytes are untouched (the framer only reads them).
 *
 * XMPP's restricted XML (RFC 6120 §11.1): a DOCTYPE or entity declaration
 * stops decoding of the stream before anything is expanded; comments and
 * processing instructions are reported and skipped. Elements nested more
 * than XM_FRAMER_MAX_DEPTH deep stop decoding too (expat keeps a tag per open
 * level, and consumers walk and indent the tree). After a fatal problem the
 * framer ignores input until xm_framer_reset(). (Without one, an XML
 * declaration or a new stream header in the input restarts the stream.) */
#pragma once

#include <glib.h>
#include "stanza.h"

G_BEGIN_DECLS

typedef enum {
  XM_FRAMER_MALFORMED,  /* not well-formed XML: decoding stops until restart */
  XM_FRAMER_RESTRICTED, /* DOCTYPE, entity, comment or PI (RFC 6120 §11.1) */
  XM_FRAMER_OVERSIZED,  /* stanza over the size cap: skipped, not decoded;
                         * or nested too deep: decoding stops until restart */
  XM_FRAMER_STRAY_TEXT, /* non-whitespace text between stanzas */
  XM_FRAMER_BAD_HEADER, /* the stream header is not <stream:stream> in the
                         * streams namespace: still taken as the header */
} XmFramerProblem;

typedef struct _XmFramer XmFramer;

typedef struct {
  /* The stream header. stanza->root is the <stream:stream> element with its
   * attributes and no children; stanza->raw is the header's bytes (from the
   * XML declaration, if any, to the '>' of the header). */
  void (*stream_open) (XmStanza *header, gpointer user_data);
  /* A complete element at depth 1. Borrowed until the callback returns. */
  void (*stanza) (XmStanza *stanza, gpointer user_data);
  /* Whitespace between stanzas (RFC 6120 §4.6.1 keepalives), n bytes. */
  void (*keepalive) (gsize n_bytes, gpointer user_data);
  /* </stream:stream>, at stream offset. */
  void (*stream_close) (guint64 offset, gpointer user_data);
  void (*problem) (XmFramerProblem kind, guint64 offset, const char *message,
                   gpointer user_data);
} XmFramerEvents;

#define XM_FRAMER_DEFAULT_MAX_STANZA (1024 * 1024)
/* Deepest element nesting decoded, the stanza's root being level 1. */
#define XM_FRAMER_MAX_DEPTH 64

XmFramer *xm_framer_new (const XmFramerEvents *events, gpointer user_data);
void xm_framer_free (XmFramer *framer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmFramer, xm_framer_free)

/* Stanzas larger than max_bytes are reported (XM_FRAMER_OVERSIZED) and
 * skipped: no tree and no copy of their bytes is kept. */
void xm_framer_set_max_stanza (XmFramer *framer, gsize max_bytes);

/* Lazy trees: message and presence stanzas of the stream's default
 * namespace that keep to plain XML (xml-scan.h) are framed without expat and
 * handed out shallow (stanza->shallow: the root element with its name and
 * namespace only, no attributes, no children). Everything else still gets
 * its full tree. For consumers that only need a stanza's bytes and name:
 * recorders, or a proxy that prints nothing. Off by default. */
void xm_framer_set_lazy (XmFramer *framer, gboolean lazy);
/* Plain trees: frame as lazily, but hand plain messages and presences out
 * with their full tree, built from their bytes (plain-tree.h) as expat's
 * events would build it. For consumers that look inside stanzas. Off by
 * default; lazy mode wins when both are on. */
void xm_framer_set_plain_trees (XmFramer *framer, gboolean on);

/* RFC 7395 framing (XMPP over WebSocket): there is no stream document.
 * Every top-level element is an item of its own, namespace-complete; the
 * framing namespace's <open/> is reported as the stream header; <close/>
 * is an element like any other (it has attributes to show:
 * see-other-uri). A <stream:stream> start tag is just
 * an element here, which never ends: the caller, who knows where each
 * WebSocket message ends, sees it pending (xm_framer_pending_offset()) and
 * resets. An XML declaration is malformed (decoding stalls until a reset).
 * Takes effect at the next document (call before feeding, or reset). */
#define XM_FRAMER_NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"
void xm_framer_set_framing (XmFramer *framer, gboolean on);
gboolean xm_framer_framing (const XmFramer *framer);
/* Feeds len bytes. Returns how many were consumed: len, unless a callback
 * called xm_framer_restart_after(), in which case the return value is the
 * offset just past the element being reported and the rest of the chunk has
 * not been looked at. Callbacks may not call xm_framer_feed() or
 * xm_framer_free() on the same framer. */
gsize xm_framer_feed (XmFramer *framer, const guint8 *data, gsize len);

/* Only from inside a stanza callback: the stream restarts right after this
 * element (RFC 6120 <proceed/>, SASL <success/>, XEP-0138 <compressed/>).
 * xm_framer_feed() returns at that byte and the next byte fed starts a new
 * stream document. */
void xm_framer_restart_after (XmFramer *framer);

/* The next byte fed starts a new stream document (the other direction saw
 * the event that restarts this one). */
void xm_framer_reset (XmFramer *framer);

/* Total bytes consumed so far (across restarts). */
guint64 xm_framer_offset (const XmFramer *framer);

/* Where the incomplete top-level item (stream header or stanza) that the
 * framer is still reading begins; xm_framer_offset() when there is none
 * (between items, stalled, or skipping an oversized stanza). Everything
 * before it belongs to items already reported. */
guint64 xm_framer_pending_offset (const XmFramer *framer);

/* The incomplete top-level element once its start tag has been read (no
 * children yet complete are guaranteed), NULL before that or when there is
 * none. Borrowed until the next feed. */
const XmNode *xm_framer_pending_element (const XmFramer *framer);

/* TRUE between a fatal problem and the next restart. */
gboolean xm_framer_is_stalled (const XmFramer *framer);

/* Frees the calling thread's pool of idle expat parsers (and its pool of
 * stanza blocks): a thread that framed stanzas calls it before it ends. */
void xm_framer_pool_clear (void);

G_END_DECLS
