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

#include <string.h>
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
  gboolean secret;    /* a <password/> or an XEP-0004 form (jabber:x:data)
                       * inside: what may hold a secret (xm_node_is_secret)
                       * needs the whole tree */
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

/* For a plain element whose '<' is buf[0] that xm_scan_element() just
 * reported done: whether its root is name (plain roots have no prefix) in
 * the namespace xm_scan_build_root() would give it. */
static inline gboolean
xm_scan_root_is (const XmScan *scan, const guint8 *buf, const char *name,
                 gsize name_len, const char *default_ns)
{
  if (scan->root_name_len != name_len || memcmp (buf + 1, name, name_len) != 0)
    return FALSE;
  if (scan->root_xmlns == 0)
    return TRUE; /* the default namespace, as in scope */
  if (scan->root_xmlns_len == 0)
    return default_ns == NULL; /* xmlns='' undeclares */
  return default_ns && strlen (default_ns) == scan->root_xmlns_len
         && memcmp (buf + scan->root_xmlns, default_ns, scan->root_xmlns_len) == 0;
}

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
#ifdef __SSE2__
#include <emmintrin.h>

/* Inline, so that callers' constants are loaded once, not per call: the
 * calls are per attribute value and per run of text. */
static inline const guint8 *
xm_skip_plain (const guint8 *p, const guint8 *e, char a, char b, char c)
{
  const __m128i space = _mm_set1_epi8 (0x20), va = _mm_set1_epi8 (a),
                vb = _mm_set1_epi8 (b), vc = _mm_set1_epi8 (c);

  /* a byte needs a look if it is below 0x20 or above 0x7f (one signed
   * compare) or one of the three */
  while (e - p >= 16)
    {
      __m128i x = _mm_loadu_si128 ((const __m128i *) p);
      __m128i hit = _mm_or_si128 (
        _mm_or_si128 (_mm_cmplt_epi8 (x, space), _mm_cmpeq_epi8 (x, va)),
        _mm_or_si128 (_mm_cmpeq_epi8 (x, vb), _mm_cmpeq_epi8 (x, vc)));
      int mask = _mm_movemask_epi8 (hit);
      if (mask)
        return p + __builtin_ctz ((unsigned) mask);
      p += 16;
    }
  return p;
}
#else
static inline const guint8 *
xm_skip_plain (const guint8 *p, const guint8 *e, char a, char b, char c)
{
  return p;
}
#endif

G_END_DECLS
