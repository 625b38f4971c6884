/* event-index-read.c: pages of events read back from an indexed
 * recording (event-index.h), and the filtered scans over it.
 *
 * Reading a page again goes through xm_record_read_stream, the reader
 * `xmitm show` uses, on a small buffer: the recording's header line, the
 * latest stream header of each connection and direction the page has
 * stanzas of (their namespaces and prefixes frame the stanzas as they
 * were framed live), then the page's own lines. The reader says where each
 * event's line starts, which maps it back to its id. */
#include "config.h"

#include <string.h>

#include "event-index-private.h"

/* Where a line put in a round's buffer starts, and its event's id. */
typedef struct {
  guint64 pos;
  guint64 id;
} Placed;

typedef struct {
  XmSink sink;
  XmEventIndex *idx;
  GArray *placed;        /* Placed, by pos: this round's event lines */
  guint64 pos;           /* where the line being read starts in the buffer */
  guint64 handed;        /* the ids before this are handed on or skipped */
  XmIndexEventFunc fn;
  XmIndexSkipFunc skip;
  gpointer data, skip_data;
  gboolean stopped;
} PageReader;

/* Tells skip about the ids from pr->handed up to id (not included), in
 * order: those want passed over (or that gave no event). */
static void
skip_upto (PageReader *pr, guint64 id)
{
  for (; pr->handed < id; pr->handed++)
    if (pr->skip)
      pr->skip (pr->idx, pr->handed, pr->skip_data);
}

static const Entry *
entry (const XmEventIndex *idx, guint64 id)
{
  return &g_array_index (idx->entries, Entry, id);
}

static void
page_event (XmSink *sink, const XmEvent *ev)
{
  PageReader *pr = (PageReader *) sink;
  guint lo = 0, hi = pr->placed->len;

  if (pr->stopped)
    return;
  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;
      const Placed *p = &g_array_index (pr->placed, Placed, mid);

      if (p->pos == pr->pos)
        {
          skip_upto (pr, p->id);
          pr->handed = p->id + 1;
          if (!pr->fn (p->id, ev, pr->data))
            pr->stopped = TRUE;
          return;
        }
      if (p->pos < pr->pos)
        lo = mid + 1;
      else
        hi = mid;
    }
  /* not found: a stream header given for context */
}

static void
page_sink_free (XmSink *sink)
{
}

static const XmSinkVTable page_vtable = {
  .event = page_event,
  .free = page_sink_free,
  .needs_children = TRUE,
};

static void
on_page_line (guint64 offset, guint64 length, gpointer data)
{
  ((PageReader *) data)->pos = offset;
}

/* Where the line of event id ends. */
static guint64
line_end (const XmEventIndex *idx, guint64 id)
{
  const guint64 *end = g_hash_table_lookup (idx->gaps, GUINT_TO_POINTER (id));

  if (end)
    return *end;
  return id + 1 < idx->entries->len ? entry (idx, id + 1)->offset : idx->end;
}

/* The id of the last stream header of conn and dir before id, or -1. */
static gint64
stream_open_before (const XmEventIndex *idx, guint conn, guint dir, guint64 id)
{
  GArray *ids = g_hash_table_lookup (idx->stream_opens,
                                     GSIZE_TO_POINTER ((gsize) conn * 2 + dir));
  guint lo = 0, hi;

  if (ids == NULL)
    return -1;
  hi = ids->len;
  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;
      if (g_array_index (ids, guint64, mid) < id)
        lo = mid + 1;
      else
        hi = mid;
    }
  return lo == 0 ? -1 : (gint64) g_array_index (ids, guint64, lo - 1);
}

/* Lines still to be read into a round's buffer: [start, stop) of the file,
 * one run of consecutive event lines. */
typedef struct {
  guint64 start, stop;
} Run;

static gboolean
flush_run (XmEventIndex *idx, Run *run, GString *buf, GError **error)
{
  gboolean ok = run->stop <= run->start
                || xm_event_index_read_range (idx->fd, run->start, run->stop - run->start, buf, error);

  run->start = run->stop = 0;
  return ok;
}

/* Fills buf with the recording's header and the lines of the ids in sel,
 * each stanza preceded by the stream header it was framed in when that
 * header is not in the buffer already (its namespaces and prefixes frame
 * the stanza as it was framed live). Consecutive lines are read at once;
 * a run ends at a gap, so a damaged stretch is never read again. */
static gboolean
fill_round (XmEventIndex *idx, GArray *sel, GString *buf, GArray *placed,
            GError **error)
{
  g_autoptr (GHashTable) framed = g_hash_table_new (NULL, NULL);
  Run run = { 0 };

  g_string_append_len (buf, idx->header_line->str, idx->header_line->len);
  for (guint i = 0; i < sel->len; i++)
    {
      guint64 id = g_array_index (sel, guint64, i);
      const Entry *e = entry (idx, id);
      gpointer key = GSIZE_TO_POINTER ((gsize) e->conn * 2 + e->dir);
      guint64 start = e->offset, stop = line_end (idx, id);
      Placed p;

      if (e->kind == XM_EVENT_STANZA && e->dir != XM_DIR_NONE)
        {
          gint64 open = stream_open_before (idx, e->conn, e->dir, id);
          /* framed holds open + 1 for the header now in the buffer */
          if (open >= 0 && GPOINTER_TO_SIZE (g_hash_table_lookup (framed, key))
                           != (gsize) open + 1)
            {
              if (!flush_run (idx, &run, buf, error)
                  || !xm_event_index_read_range (idx->fd, entry (idx, open)->offset,
                                  line_end (idx, open) - entry (idx, open)->offset,
                                  buf, error))
                return FALSE;
              g_hash_table_insert (framed, key, GSIZE_TO_POINTER ((gsize) open + 1));
            }
        }
      else if (e->kind == XM_EVENT_STREAM_OPEN)
        g_hash_table_insert (framed, key, GSIZE_TO_POINTER ((gsize) id + 1));
      if (run.stop != start && !flush_run (idx, &run, buf, error))
        return FALSE;
      p.pos = buf->len + (run.stop - run.start);
      p.id = id;
      g_array_append_val (placed, p);
      if (run.stop == 0)
        run.start = start;
      run.stop = stop;
      if (g_hash_table_contains (idx->gaps, GUINT_TO_POINTER (id))
          && !flush_run (idx, &run, buf, error))
        return FALSE;
    }
  return flush_run (idx, &run, buf, error);
}

/* Takes out of buf the event lines line_want turns down (their ids are
 * then skipped as want's are); context lines stay, and so does a stream
 * header turned down, as context. */
static void
drop_lines (XmEventIndex *idx, GString **bufp, GArray *placed,
            XmIndexLineFunc line_want, gpointer data)
{
  GString *buf = *bufp, *out = g_string_sized_new (buf->len);
  gsize cursor = 0;
  guint kept = 0;

  for (guint k = 0; k < placed->len; k++)
    {
      Placed p = g_array_index (placed, Placed, k);
      const char *nl = memchr (buf->str + p.pos, '\n', buf->len - p.pos);
      gsize end = nl ? (gsize) (nl - buf->str) + 1 : buf->len;

      g_string_append_len (out, buf->str + cursor, p.pos - cursor);
      if (line_want (idx, p.id, buf->str + p.pos, end - p.pos, data))
        {
          Placed q = { .pos = out->len, .id = p.id };

          g_string_append_len (out, buf->str + p.pos, end - p.pos);
          g_array_index (placed, Placed, kept++) = q;
        }
      else if (entry (idx, p.id)->kind == XM_EVENT_STREAM_OPEN)
        /* not handed on, but the stanzas after it are framed in it */
        g_string_append_len (out, buf->str + p.pos, end - p.pos);
      cursor = end;
    }
  g_string_append_len (out, buf->str + cursor, buf->len - cursor);
  g_array_set_size (placed, kept);
  g_string_free (buf, TRUE);
  *bufp = out;
}

gboolean
xm_event_index_scan (XmEventIndex *idx, guint64 from, XmIndexWantFunc want,
                     XmIndexSkipFunc skip, gpointer want_data,
                     XmIndexEventFunc fn, gpointer data, GError **error)
{
  return xm_event_index_scan_lines (idx, from, want, NULL, skip, want_data,
                                    fn, data, error);
}

gboolean
xm_event_index_scan_lines (XmEventIndex *idx, guint64 from, XmIndexWantFunc want,
                           XmIndexLineFunc line_want, XmIndexSkipFunc skip,
                           gpointer want_data, XmIndexEventFunc fn,
                           gpointer data, GError **error)
{
  PageReader pr = { .sink.vtable = &page_vtable, .idx = idx, .fn = fn,
                    .data = data, .skip = skip, .skip_data = want_data,
                    .handed = from };
  g_autoptr (GArray) sel = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autoptr (GArray) placed = g_array_new (FALSE, FALSE, sizeof (Placed));
  gboolean stop = FALSE;

  pr.placed = placed;
  for (guint64 next = from; next < idx->entries->len && !pr.stopped && !stop;)
    {
      g_autoptr (GString) buf = g_string_new (NULL);
      XmRecordInfo info;
      FILE *in;
      gboolean ok;

      g_array_set_size (sel, 0);
      g_array_set_size (placed, 0);
      for (; next < idx->entries->len && sel->len < BATCH; next++)
        {
          XmIndexWant w = want ? want (idx, next, want_data) : XM_INDEX_READ;
          if (w == XM_INDEX_STOP)
            {
              stop = TRUE;
              break;
            }
          if (w == XM_INDEX_READ)
            g_array_append_val (sel, next);
        }
      if (sel->len == 0)
        {
          skip_upto (&pr, next);
          break;
        }
      if (!fill_round (idx, sel, buf, placed, error))
        return FALSE;
      if (line_want)
        drop_lines (idx, &buf, placed, line_want, want_data);
      in = fmemopen (buf->str, buf->len, "r");
      if (in == NULL)
        {
          int err = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                       "fmemopen: %s", g_strerror (err));
          return FALSE;
        }
      /* Damage was reported when the file was indexed: not again. */
      ok = xm_record_read_stream_lines (in, idx->path, &pr.sink, &info, NULL,
                                        NULL, on_page_line, &pr, error);
      xm_record_info_clear (&info);
      fclose (in);
      if (!ok)
        return FALSE;
      if (!pr.stopped)
        skip_upto (&pr, next);
    }
  return TRUE;
}

gboolean
xm_event_index_read (XmEventIndex *idx, guint64 from, XmIndexEventFunc fn,
                     gpointer data, GError **error)
{
  return xm_event_index_scan (idx, from, NULL, NULL, NULL, fn, data, error);
}
