/* fuzz-record-read.c: the recording reader (ui/record-read.c): a JSON Lines
 * recording, header and events, read from memory; each event is checked
 * and formatted again by the printer and the recorder. Then the same file
 * indexed as it grows (ui/event-index.c, the web UI's live view): written
 * in slices whose size the input picks, indexed after each, it must index
 * what one pass over the whole does, and read back every event it
 * indexed. Input: the file. */
#include "config.h"

#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "fuzz-common-sink.h"
#include "event-index.h"

typedef struct {
  guint64 n;
  gint64 last;
} Count;

static gboolean
count_event (guint64 id, const XmEvent *ev, gpointer data)
{
  Count *c = data;

  g_assert ((gint64) id > c->last);
  c->last = (gint64) id;
  c->n++;
  return TRUE;
}

/* An index of a file written in slices of step bytes, grown after each. */
static XmEventIndex *
grown (const uint8_t *data, size_t size, size_t step)
{
  int fd = memfd_create ("fuzz-index", MFD_CLOEXEC);
  int rfd = fd >= 0 ? dup (fd) : -1;
  XmEventIndex *idx;

  g_assert (rfd >= 0);
  idx = xm_event_index_new_growing (rfd, "fuzz", NULL, NULL);
  for (size_t at = 0; at < size; at += step)
    {
      size_t n = MIN (step, size - at);
      gboolean at_end = FALSE;

      g_assert (write (fd, data + at, n) == (ssize_t) n);
      while (!at_end)
        if (!xm_event_index_grow (idx, 4096, &at_end, NULL))
          break;
    }
  close (fd);
  return idx;
}

static void
check_growing_index (const uint8_t *data, size_t size)
{
  XmEventIndex *sliced, *whole;
  Count read = { 0, -1 };

  if (size == 0)
    return;
  sliced = grown (data, size, 1 + data[size - 1] % 61);
  whole = grown (data, size, size);
  g_assert_cmpuint (xm_event_index_count (sliced), ==, xm_event_index_count (whole));
  g_assert_cmpuint (xm_event_index_n_sessions (sliced), ==, xm_event_index_n_sessions (whole));
  /* a line may fail to read again only as it failed the first time */
  if (xm_event_index_read (sliced, 0, count_event, &read, NULL))
    g_assert_cmpuint (read.n, <=, xm_event_index_count (sliced));
  xm_event_index_free (sliced);
  xm_event_index_free (whole);
}

static void
on_warn (const char *message, gpointer user_data)
{
  g_assert (message != NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FuzzSink sink;
  XmRecordInfo info;
  GError *error = NULL;
  FILE *fp;
  gboolean ok;

  fuzz_glib_fatal ();
  fuzz_sink_init (&sink, size % 2 == 0);
  fp = fuzz_memopen (data, size);
  ok = xm_record_read_stream (fp, "fuzz.jsonl", &sink.sink, &info, on_warn,
                              NULL, &error);
  g_assert (ok == (error == NULL));
  g_clear_error (&error);
  fclose (fp);
  xm_record_info_clear (&info);
  fuzz_sink_clear (&sink);
  check_growing_index (data, size);
  return 0;
}
