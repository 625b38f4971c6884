/* stanza.h: the parsed form of one XML element tree (a stanza or a stream
 * header) together with its exact original bytes.
 *
 * Nodes live in an arena owned by the XmStanza, so building a stanza costs a
 * few bump allocations and freeing it is one call. A stanza handed to a
 * framer callback is borrowed until the callback returns; take a reference
 * (xm_stanza_ref) to keep it longer. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  XM_NODE_ELEMENT,
  XM_NODE_TEXT,
} XmNodeType;

typedef struct {
  const char *ns;     /* namespace URI, NULL when the attribute has none */
  const char *prefix; /* prefix as written (e.g. "xml"), NULL if none */
  const char *name;   /* local name */
  const char *value;  /* unescaped value */
} XmAttr;

typedef struct {
  const char *prefix; /* NULL for the default namespace (xmlns='...') */
  const char *uri;    /* "" undeclares */
} XmNsDecl;

typedef struct _XmNode XmNode;
struct _XmNode {
  XmNodeType type;
  XmNode *parent;
  XmNode *next;
  XmNode *children;   /* first child */
  XmNode *last_child;

  /* XM_NODE_ELEMENT */
  const char *ns;     /* namespace URI in scope, NULL if none */
  const char *prefix; /* prefix as written, NULL if unprefixed */
  const char *name;   /* local name */
  XmAttr *attrs;
  guint n_attrs;
  XmNsDecl *ns_decls; /* namespace declarations written on this element */
  guint n_ns_decls;
  gsize tag_start;     /* where its start tag begins in the stanza's raw bytes */
  gsize content_start; /* where the content (between the start and the end */
  gsize content_end;   /* tag) lies in the stanza's raw bytes; equal when
                        * empty; 0 in a stream header */

  /* XM_NODE_TEXT: unescaped UTF-8, NUL-terminated, len without the NUL */
  const char *text;
  gsize text_len;
};

typedef struct _XmStanza XmStanza;
struct _XmStanza {
  /*< public, read-only >*/
  XmNode *root;         /* the top-level element; NULL if it was too large */
  const guint8 *raw;    /* exact original bytes, NULL if too large */
  gsize raw_len;        /* length of the original bytes (always set) */
  guint64 offset;       /* offset of the first byte in the direction's stream */
  gboolean oversized;   /* larger than the cap: root and raw are NULL */
  gboolean shallow;     /* root has its name and namespace only, no
                         * attributes and no children (a lazy framer,
                         * xm_framer_set_lazy, skipped the tree) */
  /*< private >*/
  gint ref_count;
  gpointer arena;
  GByteArray *raw_copy; /* owns raw when the stanza spanned several feeds */
  gboolean in_slab;     /* lives in an XmStanzaSlab: references are not
                         * counted, the slab frees it */
};

XmStanza *xm_stanza_ref (XmStanza *stanza);
void xm_stanza_unref (XmStanza *stanza);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmStanza, xm_stanza_unref)

/* Lookup helpers; all return borrowed pointers or NULL. */
const char *xm_node_attr (const XmNode *el, const char *name);
const char *xm_node_attr_ns (const XmNode *el, const char *ns, const char *name);
XmNode *xm_node_child (const XmNode *el, const char *ns, const char *name);
/* The condition of an error element: its first child in ns other than
 * <text/> (RFC 6120 §4.9.2, §8.3.2), or NULL (error may be NULL). */
const XmNode *xm_node_condition (const XmNode *error, const char *ns);
XmNode *xm_node_first_element (const XmNode *el);
/* Concatenated text of the direct text children; returns a new string. */
char *xm_node_text (const XmNode *el) G_GNUC_WARN_UNUSED_RESULT;
gboolean xm_node_is (const XmNode *el, const char *ns, const char *name);

/* Appends len bytes of s escaped for XML: &, <, > always, CR and other
 * control characters as character references; in an attribute value
 * (attr, quoted with ') also ', tab and newline. */
void xm_xml_escape (GString *out, const char *s, gsize len, gboolean attr);

/* The element's text as a secret: a SASL <auth/>, <response/> (RFC 6120,
 * XEP-0388 <initial-response/>), an XEP-0078 or XEP-0077 <password/>, an
 * XEP-0045 room <password/>, the <value/> of an XEP-0004 text-private field
 * (or of a password or room-secret field), an XEP-0114 <handshake/>, an
 * XEP-0220 dialback <db:result/> or <db:verify/> key. Printers hide it and
 * recordings and exported captures redact it unless asked. */
gboolean xm_node_is_secret (const XmNode *el);
/* The attribute's value is a secret (XEP-0484 FAST <token token='...'/>). */
gboolean xm_attr_is_secret (const XmNode *el, const XmAttr *attr);

/* Like raw, with the content of secret elements (xm_node_is_secret) and
 * XEP-0484 FAST token attributes overwritten by '*', as many as the bytes
 * hidden. Returns the number of bytes hidden; 0 leaves out untouched.
 * Appends to out only when it returns more than 0. */
gsize xm_stanza_redact (const XmStanza *stanza, GString *out);

/* A slab holds stanzas that live as long as it does (replay's script):
 * each copy is its tree and raw bytes packed together, exactly as large as
 * they are, in large mappings, where a framed stanza holds an arena block
 * of at least 1 KiB and a copy of its bytes from malloc. A million of
 * them cost no malloc call, fault in huge pages where the kernel allows,
 * and go back in a few munmap calls. xm_stanza_ref and xm_stanza_unref do
 * nothing to a stanza in a slab. */
typedef struct _XmStanzaSlab XmStanzaSlab;
XmStanzaSlab *xm_stanza_slab_new (void);
/* A copy of stanza (its root and raw bytes; NULL ones stay NULL). Without
 * children: the root keeps its name, namespace, attributes and namespace
 * declarations, and the copy is marked shallow; for a caller that can
 * build the rest again from the bytes when it needs it. */
XmStanza *xm_stanza_slab_copy (XmStanzaSlab *slab, const XmStanza *stanza,
                               gboolean children);
/* Bytes the slab has mapped. */
gsize xm_stanza_slab_size (const XmStanzaSlab *slab);
void xm_stanza_slab_free (XmStanzaSlab *slab);

/* Internal to decoders/: used by the framer to build stanzas. */
XmStanza *xm_stanza_new (void);
gpointer xm_stanza_alloc (XmStanza *stanza, gsize size); /* zeroed */
gpointer xm_stanza_alloc_bytes (XmStanza *stanza, gsize size); /* not zeroed */
char *xm_stanza_strndup (XmStanza *stanza, const char *s, gsize len);
void xm_stanza_clear (XmStanza *stanza);

/* Frees the calling thread's pool of small arena blocks: a thread that
 * framed stanzas calls it before it ends (the pool is per thread). */
void xm_stanza_pool_clear (void);

G_END_DECLS
