/* canon-private.h: what canon.c (building, keys, display, diffs) and
 * canon-normalise.c (built-in normalisations, --ignore paths) share. */
#pragma once

#include "canon.h"

G_BEGIN_DECLS

/* The attribute ns:name of c (ns NULL: none), or NULL. */
XmCanonAttr *xm_canon_find_attr (const XmCanon *c, const char *ns, const char *name);
void xm_canon_remove_attr (XmCanon *c, XmCanonAttr *a);
/* Replaces c's text (a normalised value). */
void xm_canon_set_text (XmCanon *c, const char *text);
/* Takes c out of its parent (whose array frees it). */
void xm_canon_remove_child (XmCanon *c);

G_END_DECLS
