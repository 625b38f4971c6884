/* jid.h: a JID split and folded as --jid compares JIDs (RFC 7622):
 * localparts case-folded and NFC-normalised, domains in their IDNA ASCII
 * form without a trailing dot, resources as written. The filters
 * (filter.c) and the index digests use the same folding. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char *local;    /* folded; NULL if the JID has none */
  char *domain;   /* folded, ASCII (IDNA) where possible */
  char *resource; /* as written; NULL for a bare JID */
} XmJid;

/* NULL on bad input, with a reason in *why (why may be NULL). */
XmJid *xm_jid_parse (const char *s, const char **why);
void xm_jid_free (XmJid *jid);
/* want from the command line, got from a stanza: a bare want matches any
 * resource. */
gboolean xm_jid_matches (const XmJid *want, const XmJid *got);

G_END_DECLS
