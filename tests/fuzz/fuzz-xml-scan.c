/* fuzz-xml-scan.c: lazy framing (decoders/xml-scan.c, xm_framer_set_lazy)
 * against full framing with expat, on the same bytes in the same chunks.
 *
 * Input: one option byte (chunk-size seed, a small stanza cap or not), then
 * one direction of a stream. Both framers must report the same events:
 * stanzas at the same offsets with the same bytes and root names and
 * namespaces (a lazy framer's messages and presences come without
 * attributes or children), the same problems at the same offsets, the same
 * keepalive bytes, opens and closes. Any difference aborts. */
#include "config.h"

#include "fuzz-framer-diff.h"

static void
log_item (Log *l, const char *what, XmStanza *st)
{
  const XmNode *r = st->root;

  g_string_append_printf (l->log, "%s @%" G_GUINT64_FORMAT " %" G_GSIZE_FORMAT " %d",
                          what, st->offset, st->raw_len, st->raw != NULL);
  if (st->raw)
    g_string_append_len (l->log, (const char *) st->raw, st->raw_len);
  if (r)
    g_string_append_printf (l->log, " <%s:%s {%s} %" G_GSIZE_FORMAT "-%" G_GSIZE_FORMAT,
                            r->prefix ? r->prefix : "", r->name, r->ns ? r->ns : "",
                            r->content_start, r->content_end);
  g_string_append_c (l->log, '\n');
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  return framer_diff (data, size, xm_framer_set_lazy, "full framer", "lazy framer");
}
