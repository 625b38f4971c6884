/* plain-tree.h: the full tree of a plain element without expat.
 *
 * An element that xm_scan_element() reported done and plain (xml-scan.h)
 * is well-formed XML of a small subset: unprefixed element names,
 * attributes unprefixed or xml:, default namespace declarations only, the
 * five predefined entities and character references, no comments, CDATA
 * or processing instructions. Reading such bytes takes no XML parser; this
 * builds the tree the framer builds from expat's events for the same bytes
 * (names, namespaces, attributes in order with their values normalised as
 * expat does, namespace declarations, text nodes with line ends
 * normalised, tag_start/content_start/content_end), so that a consumer
 * that looks inside stanzas (the printer, filters) gets them at the
 * scanner's speed. The fuzz target xml-scan and the unit test xml-scan
 * hold it to expat's trees. */
#pragma once

#include <glib.h>
#include "stanza.h"

G_BEGIN_DECLS

/* buf[0..len) is the plain element (buf[0] is its '<'); default_ns the
 * default namespace in scope (the stream header's), NULL if none. The
 * nodes go to stanza's arena. Returns the root. Undefined for bytes the
 * scanner did not find plain. */
XmNode *xm_plain_tree_build (XmStanza *stanza, const guint8 *buf, gsize len,
                             const char *default_ns);

G_END_DECLS
