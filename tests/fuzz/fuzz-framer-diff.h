/* fuzz-framer-diff.h: what the differential framer targets share
 * (fuzz-xml-scan.c: lazy against expat; fuzz-plain-tree.c: plain trees
 * against expat): a framer's events written to a log, one pass over a
 * stream in chunks drawn from a seed, and the comparison of two passes.
 * The including file defines log_item(): what it writes of each item. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "xml-framer.h"

typedef struct {
  GString *log;
  guint64 ws;
} Log;

static void log_item (Log *l, const char *what, XmStanza *st);

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

/* One pass of a framer over data, configured by set (xm_framer_set_lazy,
 * xm_framer_set_plain_trees) with on, fed in chunks drawn from seed; a
 * stanza cap when cap is not 0. Returns the log. */
static char *
run (const guint8 *data, gsize len, void (*set) (XmFramer *, gboolean),
     gboolean on, guint seed, gsize cap)
{
  Log l = { g_string_new (NULL), 0 };
  XmFramer *f = xm_framer_new (&events, &l);
  GRand *rand = g_rand_new_with_seed (seed);
  gsize pos = 0;

  set (f, on);
  /* RFC 7395 framing (WebSocket): every top-level element an item */
  xm_framer_set_framing (f, (seed & 0x40) != 0);
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

/* Input: one option byte (chunk-size seed, bit 7: a small stanza cap, bit
 * 6: RFC 7395 framing), then one direction of a stream. The framer with set off and with it on
 * must log the same; any difference aborts. */
static int
framer_diff (const uint8_t *data, size_t size, void (*set) (XmFramer *, gboolean),
             const char *off_name, const char *on_name)
{
  guint opt;
  char *off, *on;

  fuzz_glib_fatal ();
  if (size < 1)
    return 0;
  opt = data[0];
  off = run (data + 1, size - 1, set, FALSE, opt, opt & 0x80 ? 64 : 0);
  on = run (data + 1, size - 1, set, TRUE, opt, opt & 0x80 ? 64 : 0);
  if (strcmp (off, on) != 0)
    {
      fprintf (stderr, "%s:\n%s\n%s:\n%s\n", off_name, off, on_name, on);
      abort ();
    }
  g_free (off);
  g_free (on);
  return 0;
}
