/* canon.h: a stanza in canonical form, for comparing what a peer sent with
 * what was recorded.
 *
 * Pure: no I/O. A canonical element keeps what XMPP gives meaning to and
 * drops what it does not: namespaces are URIs (prefixes and where xmlns was
 * written do not matter), attributes are sorted, whitespace between child
 * elements is gone, and children are compared as a multiset (servers emit
 * roster items, disco features and stream features in hash-table order).
 *
 * Normalising (xm_canon_normalise) then blanks what legitimately changes
 * from one session to the next (delay stamps, XEP-0359 stanza-ids, MAM ids,
 * caps ver, SASL payloads, XEP-0198 counters, ...) and removes what the
 * user said to ignore (--ignore XPATH). The top-level id attribute is kept
 * apart (XmCanon.id): who chose it decides how it is compared, and that is
 * the caller's business (an id map, see replay-match). */
#pragma once

#include <glib.h>
#include "stanza.h"

G_BEGIN_DECLS

typedef struct {
  char *ns;    /* NULL when the attribute has no namespace */
  char *name;
  char *value;
} XmCanonAttr;

typedef struct _XmCanon XmCanon;
struct _XmCanon {
  char *ns;            /* namespace URI ("" if none) */
  char *name;          /* local name */
  char *prefix;        /* as written, for display only */
  char *id;            /* top-level element only: its id attribute, or NULL */
  GPtrArray *attrs;    /* XmCanonAttr*, sorted by (ns, name) */
  char *text;          /* text content: exact for a leaf element; trimmed and
                        * NULL if only whitespace when there are children */
  GPtrArray *children; /* XmCanon*, sorted by key once finished */
  XmCanon *parent;
  char *key;           /* canonical serialisation (without the top-level
                        * id), set by xm_canon_finish(); equal keys mean
                        * equal elements */
};

/* Maps a value (attribute value or text) to another; NULL: unchanged.
 * Used to turn the live session's dynamic values (bound JIDs) back into
 * the recorded ones before comparing. */
typedef const char *(*XmCanonMapFunc) (const char *value, gpointer user_data);

/* The canonical form of element (a stanza's root, or any element), its
 * values passed through map (may be NULL). The top-level id attribute goes
 * to ->id. Call xm_canon_normalise() and/or xm_canon_finish() before
 * comparing. Returns a new tree. */
XmCanon *xm_canon_new (const XmNode *element, XmCanonMapFunc map,
                       gpointer map_data) G_GNUC_WARN_UNUSED_RESULT;
void xm_canon_free (XmCanon *canon);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmCanon, xm_canon_free)

/* ---- --ignore XPATH ---- */

/* A small XPath subset, matched against each stanza:
 *   /iq/query                 absolute: from the stanza's root element
 *   //delay  or  delay        anywhere
 *   //{urn:xmpp:delay}delay   a namespace-qualified name
 *   //query[@xmlns='jabber:iq:version']/name   a namespace test
 *   //item[@jid='carol@example.com']            an attribute test
 *   //delay/@stamp            an attribute
 *   //status/text()           the text of an element
 * A name may be * (any element). A prefix (stream:features) is ignored: the local name matches. Matching
 * elements are removed, attributes removed, text blanked, on both sides,
 * one path after the other in the order given. */
typedef struct _XmCanonPath XmCanonPath;

XmCanonPath *xm_canon_path_parse (const char *xpath, GError **error)
  G_GNUC_WARN_UNUSED_RESULT;
void xm_canon_path_free (XmCanonPath *path);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmCanonPath, xm_canon_path_free)

/* Applies the built-in normalisations and then paths (XmCanonPath*, may be
 * NULL), and finishes the tree (xm_canon_finish). */
void xm_canon_normalise (XmCanon *canon, GPtrArray *paths);

/* Computes keys bottom-up and sorts children. Idempotent. */
void xm_canon_finish (XmCanon *canon);

/* TRUE if a and b (finished) are the same, top-level id aside. */
gboolean xm_canon_equal (const XmCanon *a, const XmCanon *b);

/* ---- showing differences ---- */

/* A readable account of how actual differs from expected (both finished),
 * top-level id aside; NULL when they are equal. Lines:
 *   summary lines naming each change by its path ("iq/query{jabber:iq:roster}:
 *   missing item jid='carol@example.com'"), then the stanza as a tree diff,
 *   "- " for what only the recording has, "+ " for what only the live peer
 *   sent, "  " for what both have. Each line ends in '\n' and starts with
 *   indent. Returns a new string. */
char *xm_canon_diff (const XmCanon *expected, const XmCanon *actual,
                     const char *indent) G_GNUC_WARN_UNUSED_RESULT;

/* The element as indented XML (prefix-free, xmlns where the namespace
 * changes), each line starting with indent and ending in '\n'. */
void xm_canon_format (const XmCanon *canon, const char *indent, GString *out);

/* A short name for an element in messages: "item jid='carol@example.com'",
 * "query{jabber:iq:roster}", "message type='chat'". Returns a new string. */
char *xm_canon_describe (const XmCanon *canon) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
