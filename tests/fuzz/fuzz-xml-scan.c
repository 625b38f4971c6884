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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "xml-framer.h"

typedef struct {
  GString *log;
  guint64 ws;
} Log;

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
run (const guint8 *data, gsize len, gboolean lazy, guint seed, gsize cap)
{
  Log l = { g_string_new (NULL), 0 };
  XmFramer *f = xm_framer_new (&events, &l);
  GRand *rand = g_rand_new_with_seed (seed);
  gsize pos = 0;

  xm_framer_set_lazy (f, lazy);
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
  char *full, *lazy;

  fuzz_glib_fatal ();
  if (size < 1)
    return 0;
  opt = data[0];
  full = run (data + 1, size - 1, FALSE, opt, opt & 0x80 ? 64 : 0);
  lazy = run (data + 1, size - 1, TRUE, opt, opt & 0x80 ? 64 : 0);
  if (strcmp (full, lazy) != 0)
    {
      fprintf (stderr, "full framer:\n%s\nlazy framer:\n%s\n", full, lazy);
      abort ();
    }
  g_free (full);
  g_free (lazy);
  return 0;
}
