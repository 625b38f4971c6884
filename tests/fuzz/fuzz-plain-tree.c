/* fuzz-plain-tree.c: plain trees (decoders/plain-tree.c,
 * xm_framer_set_plain_trees) against full framing with expat, on the same
 * bytes in the same chunks.
 *
 * Input: as fuzz-xml-scan (one option byte: chunk-size seed, a small stanza
 * cap or not; then one direction of a stream); its corpus started as
 * xml-scan's. Both framers must report the same events and the same
 * trees, node by node: names, prefixes, namespaces, attributes in order
 * (namespace, prefix, name, value), namespace declarations, text, and
 * tag and content offsets. Any difference aborts. */
#include "config.h"

#include "fuzz-framer-diff.h"

#define S(x) ((x) ? (x) : "(null)")

static void
log_node (GString *out, const XmNode *n, int depth)
{
  if (n->type == XM_NODE_TEXT)
    {
      g_string_append_printf (out, "%*stext %" G_GSIZE_FORMAT " [", depth, "", n->text_len);
      g_string_append_len (out, n->text, n->text_len);
      g_string_append (out, "]\n");
      return;
    }
  g_string_append_printf (out, "%*s<%s:%s {%s} tag %" G_GSIZE_FORMAT " content %"
                          G_GSIZE_FORMAT "-%" G_GSIZE_FORMAT "\n", depth, "",
                          S (n->prefix), n->name, S (n->ns), n->tag_start,
                          n->content_start, n->content_end);
  for (guint i = 0; i < n->n_ns_decls; i++)
    g_string_append_printf (out, "%*s xmlns:%s=[%s]\n", depth, "",
                            S (n->ns_decls[i].prefix), n->ns_decls[i].uri);
  for (guint i = 0; i < n->n_attrs; i++)
    g_string_append_printf (out, "%*s @{%s}%s:%s=[%s]\n", depth, "", S (n->attrs[i].ns),
                            S (n->attrs[i].prefix), n->attrs[i].name, n->attrs[i].value);
  for (const XmNode *c = n->children; c; c = c->next)
    {
      g_assert (c->parent == n);
      log_node (out, c, depth + 1);
    }
}

static void
log_item (Log *l, const char *what, XmStanza *st)
{
  g_string_append_printf (l->log, "%s @%" G_GUINT64_FORMAT " %" G_GSIZE_FORMAT " %d %d",
                          what, st->offset, st->raw_len, st->raw != NULL, st->shallow);
  if (st->raw)
    g_string_append_len (l->log, (const char *) st->raw, st->raw_len);
  g_string_append_c (l->log, '\n');
  if (st->root)
    log_node (l->log, st->root, 1);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  return framer_diff (data, size, xm_framer_set_plain_trees, "expat framer", "plain trees");
}
