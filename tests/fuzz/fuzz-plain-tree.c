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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "xml-framer.h"

typedef struct {
  GString *log;
  guint64 ws;
} Log;

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

static void
on_open (XmStanza *st, gpointer ud)
{
  log_item (ud, "open", st);
}

static void
on_stanza (XmStanza *st, gpointer ud)
{
  log_item (ud, "stanza", st);
}

static void
on_keepalive (gsize n, gpointer ud)
{
  ((Log *) ud)->ws += n;
}

static void
on_close (guint64 off, gpointer ud)
{
  g_string_append_printf (((Log *) ud)->log, "close @%" G_GUINT64_FORMAT "\n", off);
}

static void
on_problem (XmFramerProblem kind, guint64 off, const char *msg, gpointer ud)
{
  g_string_append_printf (((Log *) ud)->log, "problem %d @%" G_GUINT64_FORMAT " %s\n",
                          kind, off, msg);
}

static const XmFramerEvents events = { on_open, on_stanza, on_keepalive, on_close,
                                       on_problem };

static char *
run (const guint8 *data, gsize len, gboolean plain, guint seed, gsize cap)
{
  Log l = { g_string_new (NULL), 0 };
  XmFramer *f = xm_framer_new (&events, &l);
  GRand *rand = g_rand_new_with_seed (seed);
  gsize pos = 0;

  xm_framer_set_plain_trees (f, plain);
  if (cap)
    xm_framer_set_max_stanza (f, cap);
  while (pos < len)
    {
      /* (not inside MIN(), which would draw twice) */
      gsize r = seed % 4 == 0 ? len : (gsize) g_rand_int_range (rand, 1, 1 + 64 * (seed % 4));
      gsize n = MIN (len - pos, r);
      gsize to = pos + n;
      while (pos < to)
        pos += xm_framer_feed (f, data + pos, to - pos);
    }
  g_string_append_printf (l.log, "ws %" G_GUINT64_FORMAT " offset %" G_GUINT64_FORMAT
                          " pending %" G_GUINT64_FORMAT " stalled %d\n", l.ws,
                          xm_framer_offset (f), xm_framer_pending_offset (f),
                          xm_framer_is_stalled (f));
  xm_framer_free (f);
  g_rand_free (rand);
  return g_string_free (l.log, FALSE);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  guint opt;
  char *full, *plain;

  fuzz_glib_fatal ();
  if (size < 1)
    return 0;
  opt = data[0];
  full = run (data + 1, size - 1, FALSE, opt, opt & 0x80 ? 64 : 0);
  plain = run (data + 1, size - 1, TRUE, opt, opt & 0x80 ? 64 : 0);
  if (strcmp (full, plain) != 0)
    {
      fprintf (stderr, "expat framer:\n%s\nplain trees:\n%s\n", full, plain);
      abort ();
    }
  g_free (full);
  g_free (plain);
  return 0;
}
