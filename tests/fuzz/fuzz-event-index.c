/* fuzz-event-index.c: a recording opened for xmitm web (ui/event-index.c):
 * indexed (iq pairing included), then read again page by page through a
 * filter that skips on the index's word and --grep's required text
 * (xm_filter_may_match, xm_filter_line_may_match, as web-api.c scans),
 * and whole. Checks that the pairing is symmetric: a request's answer
 * names it back, with the same time between them. Input: an option byte
 * (which filter, where to start), then the file. */
#include "config.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "event-index.h"
#include "filter.h"

typedef struct {
  XmFilter *filter;
  guint64 events;
} Scan;

static XmIndexWant
want (const XmEventIndex *idx, guint64 id, gpointer data)
{
  Scan *s = data;
  XmIndexedEvent ie;

  g_assert (xm_event_index_get (idx, id, &ie));
  return xm_filter_may_match (s->filter, ie.conn, ie.dir, ie.kind, ie.event_class,
                              &ie.digest)
         ? XM_INDEX_READ : XM_INDEX_SKIP;
}

static gboolean
want_line (const XmEventIndex *idx, guint64 id, const char *line, gsize len,
           gpointer data)
{
  Scan *s = data;
  XmIndexedEvent ie;

  g_assert (xm_event_index_get (idx, id, &ie));
  return xm_filter_line_may_match (s->filter, ie.kind, line, len);
}

static void
skipped (const XmEventIndex *idx, guint64 id, gpointer data)
{
  Scan *s = data;
  XmIndexedEvent ie;

  g_assert (xm_event_index_get (idx, id, &ie));
  xm_filter_skipped (s->filter, ie.conn, ie.kind);
}

static gboolean
on_event (guint64 id, const XmEvent *ev, gpointer data)
{
  Scan *s = data;

  if (s->filter == NULL || xm_filter_match (s->filter, ev))
    s->events++;
  return TRUE;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static char *const filters[][2] = {
    { "kind", "iq" }, { "dir", "s2c" }, { "conn", "1-2" }, { "grep", "<message to=" },
    { "grep", "b[0-9]+37" }, { "ns", "jabber:iq:roster" }, { "jid", "bob@localhost" },
    { "grep", "x{0}id='" },
    /* literals per branch, ignoring case; digests of namespaces and JIDs */
    { "grep", "(b137|<message to=)" }, { "grep", "(?i)(ROSTER|bob@)" },
    { "ns", "urn:xmpp:ping" }, { "jid", "localhost" }, { "jid", "bob@localhost/r1" },
  };
  g_autofree char *path = NULL;
  XmEventIndex *idx;
  unsigned opt;
  int fd;

  fuzz_glib_fatal ();
  if (size < 1)
    return 0;
  opt = data[0];
  fd = memfd_create ("fuzz-event-index", MFD_CLOEXEC);
  if (fd < 0 || write (fd, data + 1, size - 1) != (ssize_t) (size - 1))
    abort ();
  path = g_strdup_printf ("/proc/self/fd/%d", fd);
  idx = xm_event_index_open (path, NULL, NULL, NULL);
  if (idx)
    {
      guint64 n = xm_event_index_count (idx);
      char *value[] = { filters[opt % G_N_ELEMENTS (filters)][1], NULL };
      XmFilterArgs args = { 0 };
      const char *name = filters[opt % G_N_ELEMENTS (filters)][0];
      Scan all = { 0 }, some = { 0 };
      XmIndexedEvent ie, other;

      for (guint64 id = 0; id < n; id++)
        {
          g_assert (xm_event_index_get (idx, id, &ie));
          if (ie.pair < 0)
            continue;
          g_assert (xm_event_index_get (idx, (guint64) ie.pair, &other));
          g_assert (other.pair == (gint64) id);
          g_assert (other.rtt_us == ie.rtt_us);
          g_assert (other.conn == ie.conn && other.dir != ie.dir);
          g_assert (((ie.iq & XM_IQ_REQUEST) != 0) == (ie.pair > (gint64) id));
        }
      g_assert (!xm_event_index_get (idx, n, &ie));
      if (strcmp (name, "kind") == 0) args.kind = value;
      if (strcmp (name, "dir") == 0) args.dir = value;
      if (strcmp (name, "conn") == 0) args.conn = value;
      if (strcmp (name, "grep") == 0) args.grep = value;
      if (strcmp (name, "ns") == 0) args.ns = value;
      if (strcmp (name, "jid") == 0) args.jid = value;
      all.filter = xm_filter_new (&args, NULL);
      some.filter = xm_filter_new (&args, NULL);
      g_assert (all.filter && some.filter);
      /* a read error is possible (the file is what it is); no crash */
      xm_event_index_read (idx, 0, on_event, &all, NULL);
      xm_event_index_scan_lines (idx, n ? (opt >> 4) % n : 0, want, want_line,
                                 skipped, &some, on_event, &some, NULL);
      /* Not compared with all.events: a stanza whose stream header was
       * not well-formed is framed by what else its round holds, so a
       * skipping scan may read it differently (a reader matter, older
       * than the digests). tests/unit/test-index-views.c compares the
       * two on recordings without such damage. */
      xm_filter_free (all.filter);
      xm_filter_free (some.filter);
      xm_event_index_free (idx);
    }
  close (fd);
  return 0;
}
