/* xml-scan.h: a fast, strict scanner that finds where one XMPP stanza ends.
 *
 * expat tokenizes about 250 MB/s; a proxy that frames both directions of an
 * echo load at several hundred thousand stanzas a second cannot afford that
 * for every stanza. This scanner finds the end of one element (a stanza,
 * starting at its '<') at memory speed and says whether the element stays
 * inside a plain subset of XML that it checks completely:
 *
 *   - element and attribute names of ASCII name characters, elements
 *     unprefixed, attributes unprefixed or "xml:", default namespace
 *     declarations (xmlns='...') but no prefix declarations;
 *   - attribute values and text of valid UTF-8 XML characters, with only the
 *     five predefined entities and character references to XML characters;
 *   - every end tag matching its start tag, no duplicate attribute, no "]]>"
 *     in text.
 *
 * An element inside the subset is well-formed XML that expat would accept in
 * the same place, with the same end ("plain"); the framer can then skip
 * expat for it (xm_framer_set_lazy). Outside it (prefixes, non-ASCII names,
 * bad characters, unknown entities), the end is still found ("not plain")
 * and expat gets exactly that element. Anything that makes the end itself
 * uncertain (comments, CDATA, processing instructions, a mismatched end tag,
 * a broken tag, very deep nesting, a stream header) is a give-up: the caller
 * lets expat read on from the element's start. */
#pragma once

#include <glib.h>
#include "stanza.h"

G_BEGIN_DECLS

typedef enum {
  XM_SCAN_MORE,    /* the element goes on past the bytes given */
  XM_SCAN_DONE,    /* the element ends at *end */
  XM_SCAN_GIVE_UP, /* let a real XML parser read it */
} XmScanResult;

/* An element deeper than this (the stanza's root is level 1) is a give-up:
 * the framer's own limit, which expat then reports. */
#define XM_SCAN_MAX_DEPTH 64
/* A start or end tag not complete after this many bytes is a give-up. */
#define XM_SCAN_MAX_TAG (64 * 1024)

typedef struct {
  /*< private >*/
  gsize pos;          /* where scanning resumes, from the element's '<' */
  guint depth;        /* elements open at pos */
  gboolean plain;     /* nothing outside the subset before pos */
  gsize root_end;     /* just past the root's start tag, 0 until read */
  gsize root_name_len;
  gsize root_xmlns;    /* offset of the root's xmlns value, 0 if none */
  gsize root_xmlns_len;
  guint32 *stack;     /* offset and length of each open element's name */
  guint stack_size;   /* entries allocated (pairs) */
} XmScan;

void xm_scan_init (XmScan *scan);
void xm_scan_clear (XmScan *scan);

/* Scans the element whose '<' is buf[0]. buf must hold every byte of the
 * element seen so far: after XM_SCAN_MORE call again with the same bytes and
 * more appended (scanning resumes where it stopped). On XM_SCAN_DONE, *end is
 * the element's length and xm_scan_is_plain() tells whether it kept to the
 * subset; scan is then ready for the next element. */
XmScanResult xm_scan_element (XmScan *scan, const guint8 *buf, gsize len,
                              gsize *end);
gboolean xm_scan_is_plain (const XmScan *scan);

/* For a plain element buf[0..len) that xm_scan_element() just reported done:
 * builds its root element in stanza's arena with its name, namespace and
 * namespace declaration, no attributes and no children (what lazy framing
 * promises, xm_framer_set_lazy). default_ns is the default namespace in
 * scope (the stream header's), NULL if none. */
XmNode *xm_scan_build_root (const XmScan *scan, XmStanza *stanza,
                            const guint8 *buf, gsize len, const char *default_ns);

/* The UTF-8 sequence at p (p < e) of one Unicode scalar value: its length
 * with the value in *cp, 0 if the bytes are not one (overlong, surrogate,
 * out of range, stray continuation byte), -1 if e cuts it short. */
int xm_utf8_decode (const guint8 *p, const guint8 *e, guint32 *cp);

/* Skips bytes from p that need no second look: returns the first one below
 * 0x20 or above 0x7f or equal to a, b or c, or a point shortly before e
 * (the caller checks the last bytes itself). Fast where SSE2 is. */
const guint8 *xm_skip_plain (const guint8 *p, const guint8 *e, char a, char b, char c);

G_END_DECLS
