/* decode-bench: what decoding costs per stanza, without sockets or TLS.
 *
 * Feeds the stream the shared bench harness's client sends (a header, then
 * 256-byte <message/> stanzas; -s to change; -i N makes every Nth an <iq/>,
 * which expat reads, so that the two take turns) to xmitm's framer in 64 KiB
 * chunks, as the proxy reads them (after the header, which comes alone),
 * and prints nanoseconds per stanza for:
 *   full    expat builds every stanza's tree
 *   plain   the scanner frames plain stanzas and builds their full trees
 *           without expat (the printer, filters: plain-tree.h)
 *   print   plain, and each stanza formatted by the printer
 *   lazy    the scanner frames plain stanzas (--quiet, --record)
 *   record  lazy, and each stanza formatted as a recording line
 * Numbers only: nothing here is asserted (tests/bench/run.sh has the
 * end-to-end figures). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "xml-framer.h"
#include "printer.h"
#include "record.h"

typedef struct {
  guint64 stanzas;
  gboolean record, print;
  XmPrinterOptions popts;
  GString *out;
  guint64 out_bytes;
} Ctx;

static void
on_stanza (XmStanza *st, gpointer data)
{
  Ctx *c = data;

  c->stanzas++;
  if (c->record || c->print)
    {
      XmEvent ev = { .kind = XM_EVENT_STANZA, .flags = XM_EVENT_FLAG_TLS,
                     .conn = 1, .dir = XM_DIR_C2S,
                     .time_us = 1795278711420354, .stanza = st };
      if (c->print)
        xm_printer_format (&c->popts, &ev, c->out);
      else
        xm_record_format (&ev, FALSE, c->out);
      if (c->out->len >= 64 * 1024)
        {
          c->out_bytes += c->out->len;
          g_string_truncate (c->out, 0);
        }
    }
}

static void
on_open (XmStanza *st, gpointer data)
{
}

static const XmFramerEvents events = { .stream_open = on_open, .stanza = on_stanza };

static gsize header_len;

static guint iq_every;
static gboolean header_with_stanzas;

static GByteArray *
make_stream (guint n, guint size)
{
  static const char iq[] = "<iq type='result' id='ping%010u' to='bench@bench.local/bench'/>";
  static const char pre[] = "<message to='echo@bench.local' from='bench@bench.local/bench' type='chat' id='";
  static const char mid[] = "'><body>", post[] = "</body></message>";
  static const char words[] = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do "
                              "eiusmod tempor incididunt ut labore et dolore magna aliqua ";
  static const char hdr[] = "<?xml version='1.0'?><stream:stream to='bench.local' "
                            "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                            "version='1.0'>";
  gsize fixed = strlen (pre) + 10 + strlen (mid) + strlen (post);
  GByteArray *b = g_byte_array_new ();
  char id[16];

  if (size < fixed + 1)
    {
      fprintf (stderr, "decode-bench: -s must be at least %zu\n", fixed + 1);
      exit (2);
    }
  g_byte_array_append (b, (const guint8 *) hdr, strlen (hdr));
  header_len = strlen (hdr);
  for (guint i = 0; i < n; i++)
    {
      if (iq_every && i % iq_every == iq_every - 1)
        {
          g_autofree char *x = g_strdup_printf (iq, i);
          g_byte_array_append (b, (const guint8 *) x, strlen (x));
          continue;
        }
      g_byte_array_append (b, (const guint8 *) pre, strlen (pre));
      g_snprintf (id, sizeof id, "%010u", i);
      g_byte_array_append (b, (const guint8 *) id, 10);
      g_byte_array_append (b, (const guint8 *) mid, strlen (mid));
      for (gsize k = 0; k < size - fixed;)
        {
          gsize w = MIN (size - fixed - k, sizeof words - 1 - k % (sizeof words - 1));
          g_byte_array_append (b, (const guint8 *) &words[k % (sizeof words - 1)], w);
          k += w;
        }
      g_byte_array_append (b, (const guint8 *) post, strlen (post));
    }
  return b;
}

static double
run (const GByteArray *stream, guint n, const char *mode, guint reps,
     double *bytes_per_line)
{
  double best = 0;

  for (guint r = 0; r < reps; r++)
    {
      Ctx c = { .record = strcmp (mode, "record") == 0,
                .print = strcmp (mode, "print") == 0,
                .out = g_string_sized_new (68 * 1024) };
      g_autoptr (XmFramer) f = xm_framer_new (&events, &c);
      gint64 t0;
      double ns;

      xm_printer_options_init (&c.popts);
      xm_framer_set_lazy (f, c.record || strcmp (mode, "lazy") == 0);
      xm_framer_set_plain_trees (f, c.print || strcmp (mode, "plain") == 0);
      /* the header comes alone (features follow it); then full reads */
      gsize off = header_with_stanzas ? 0 : xm_framer_feed (f, stream->data, header_len);

      t0 = g_get_monotonic_time ();
      while (off < stream->len)
        {
          gsize chunk = MIN (stream->len - off, (gsize) 64 * 1024);
          off += xm_framer_feed (f, stream->data + off, chunk);
        }
      ns = (g_get_monotonic_time () - t0) * 1000.0 / n;
      if (c.stanzas != n)
        {
          fprintf (stderr, "decode-bench: framed %" G_GUINT64_FORMAT " of %u stanzas\n",
                   c.stanzas, n);
          exit (1);
        }
      if (r == 0 || ns < best)
        best = ns;
      *bytes_per_line = (double) (c.out_bytes + c.out->len) / n;
      g_string_free (c.out, TRUE);
    }
  return best;
}

int
main (int argc, char **argv)
{
  guint n = 400000, size = 256, reps = 5;
  gboolean only_lazy = FALSE;
  const char *only_mode = NULL;
  GOptionEntry entries[] = {
    { "stanzas", 'n', 0, G_OPTION_ARG_INT, &n, "Stanzas per run (400000)", "N" },
    { "size", 's', 0, G_OPTION_ARG_INT, &size, "Stanza size in bytes (256)", "BYTES" },
    { "reps", 'r', 0, G_OPTION_ARG_INT, &reps, "Runs; the best is shown (5)", "N" },
    { "lazy", 'l', 0, G_OPTION_ARG_NONE, &only_lazy, "Lazy framing and record only", NULL },
    { "mode", 'm', 0, G_OPTION_ARG_STRING, &only_mode,
      "Only this mode (full, plain, print, lazy, record): for a profiler", "MODE" },
    { "with-header", 'H', 0, G_OPTION_ARG_NONE, &header_with_stanzas,
      "The header in the first feed, with stanzas after it", NULL },
    { "iq-every", 'i', 0, G_OPTION_ARG_INT, &iq_every,
      "Every Nth stanza an <iq/>, which expat reads (0: none)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- decoding cost per stanza");
  g_autoptr (GError) error = NULL;
  g_autoptr (GByteArray) stream = NULL;
  double line = 0;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "decode-bench: %s\n", error->message);
      return 2;
    }
  if (n == 0 || reps == 0)
    {
      fprintf (stderr, "decode-bench: -n and -r must be positive\n");
      return 2;
    }
  stream = make_stream (n, size);
  printf ("%u stanzas of %u B, 64 KiB feeds, best of %u", n, size, reps);
  if (iq_every)
    printf (", every %uth an iq", iq_every);
  printf ("\n");
  if (only_mode)
    {
      static const char *const modes[] = { "full", "plain", "print", "lazy", "record" };
      gboolean known = FALSE;

      for (guint i = 0; i < G_N_ELEMENTS (modes); i++)
        known |= strcmp (only_mode, modes[i]) == 0;
      if (!known)
        {
          fprintf (stderr, "decode-bench: unknown mode %s\n", only_mode);
          return 2;
        }
      printf ("%-7s %7.1f ns/stanza\n", only_mode, run (stream, n, only_mode, reps, &line));
      return 0;
    }
  if (!only_lazy)
    {
      double ns;

      printf ("full    %7.1f ns/stanza\n", run (stream, n, "full", reps, &line));
      printf ("plain   %7.1f ns/stanza\n", run (stream, n, "plain", reps, &line));
      ns = run (stream, n, "print", reps, &line);
      printf ("print   %7.1f ns/stanza (%.0f B/stanza)\n", ns, line);
    }
  printf ("lazy    %7.1f ns/stanza\n", run (stream, n, "lazy", reps, &line));
  {
    double ns = run (stream, n, "record", reps, &line);
    printf ("record  %7.1f ns/stanza (%.0f B/line)\n", ns, line);
  }
  return 0;
}
