/* event-index.c: where each event of a recording is, and what each
 * connection was; pages of events read back from the file on demand.
 *
 * Reading a page again goes through xm_record_read_stream, the reader
 * `xmitm show` uses, on a small buffer: the recording's header line, the
 * latest stream header of each connection and direction the page has
 * stanzas of (their namespaces and prefixes frame the stanzas as they
 * were framed live), then the page's own lines. The reader says where each
 * event's line starts, which maps it back to its id. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "event-index.h"
#include "filter.h"
#include "line-read.h"
#include "pcap-read.h"
#include "record.h"

/* Events read again per round: a page is a few dozen, a filtered scan
 * goes on round after round. */
#define BATCH 512

/* 32 bytes an event. kind, dir, class and the digest let a filtered scan
 * skip an event unread (xm_filter_may_match); pair and rtt_us are the iq
 * pairing, filled in when the answer is indexed. */
typedef struct {
  guint64 offset; /* where its line starts in the file */
  guint32 conn;
  guint8 kind;    /* XmEventKind */
  guint8 dir;     /* XmDir */
  guint8 klass;   /* xm_filter_event_class */
  guint8 iq;      /* XM_IQ_* */
  guint32 pair;   /* ids between a request and its answer; 0: none */
  guint32 rtt_us; /* the answer's time minus the request's, capped */
  XmFilterDigest digest; /* what --ns and --jid look at */
} Entry;

G_STATIC_ASSERT (sizeof (Entry) == 32);


struct _XmEventIndex {
  XmSink sink;           /* indexing: gets every event once */
  char *path;
  int fd;
  GString *header_line;  /* the recording's first line, '\n' included */
  guint64 end;           /* the file's size when it was indexed */
  GArray *entries;       /* Entry, by event id */
  GPtrArray *sessions;   /* XmIndexedSession *, in order of appearance */
  GHashTable *session_by_conn;  /* conn -> XmIndexedSession * */
  /* conn * 2 + dir -> GArray of the ids of its STREAM_OPEN events */
  GHashTable *stream_opens;
  /* id -> guint64 *: where the line of event id ends, for the few events
   * whose line is not followed by the next event's (damaged or unknown
   * lines between them, never read again) */
  GHashTable *gaps;
  XmIqPairing *pairing;  /* which iq answers which, as events come */
  XmFilterDigester *digester;
  guint64 line_offset;   /* indexing: where the line being read starts */
  guint64 line_length;
  guint64 last_end;      /* indexing: where the last event's line ends */
  /* Growing: the reader keeps its framers between slices, so a file is
   * indexed in as many slices as it takes (appended to live, or large). */
  XmRecordReader *reader;
  XmRecordInfo info;
  void (*warn) (const char *message, gpointer data);
  gpointer warn_data;
  GString *pending;      /* read, not yet a whole line */
  guint64 read_pos;      /* where pending starts in the file */
  guint64 skipping;      /* > 0: inside a line too long to keep, so far */
  gboolean finished;     /* read to the end for good (not a growing file) */
};

static void
session_free (gpointer p)
{
  XmIndexedSession *s = p;

  g_free (s->client);
  g_free (s->server);
  g_free (s->jid);
  g_free (s->to);
  g_free (s->close_reason);
  g_ptr_array_unref (s->layers);
  g_free (s);
}

static XmIndexedSession *
session_for (XmEventIndex *idx, guint conn)
{
  XmIndexedSession *s = g_hash_table_lookup (idx->session_by_conn,
                                             GUINT_TO_POINTER (conn));

  if (s == NULL)
    {
      s = g_new0 (XmIndexedSession, 1);
      s->conn = conn;
      s->layers = g_ptr_array_new_with_free_func (g_free);
      s->first_event = idx->entries->len;
      g_ptr_array_add (idx->sessions, s);
      g_hash_table_insert (idx->session_by_conn, GUINT_TO_POINTER (conn), s);
    }
  return s;
}

/* The full JID of a resource-binding result (RFC 6120 §7.6.1), or NULL. */
static char *
bound_jid (const XmStanza *st)
{
  const XmNode *root = st ? st->root : NULL;
  XmNode *bind, *jid;

  if (root == NULL || g_strcmp0 (root->name, "iq") != 0
      || g_strcmp0 (xm_node_attr (root, "type"), "result") != 0)
    return NULL;
  bind = xm_node_child (root, "urn:ietf:params:xml:ns:xmpp-bind", "bind");
  jid = bind ? xm_node_child (bind, "urn:ietf:params:xml:ns:xmpp-bind", "jid") : NULL;
  return jid ? xm_node_text (jid) : NULL;
}

static void
learn_session (XmEventIndex *idx, const XmEvent *ev)
{
  XmIndexedSession *s;

  if (ev->conn == 0)
    return; /* notes about a capture as a whole */
  s = session_for (idx, ev->conn);
  s->flags |= ev->flags;
  if (s->events++ == 0)
    s->first_us = ev->time_us;
  s->last_us = MAX (s->last_us, ev->time_us);
  switch (ev->kind)
    {
    case XM_EVENT_CONN_OPEN:
      g_free (s->client);
      g_free (s->server);
      s->client = g_strdup (ev->addr[0]);
      s->server = g_strdup (ev->addr[1]);
      break;
    case XM_EVENT_LAYER:
      g_ptr_array_add (s->layers, g_strdup (ev->text));
      break;
    case XM_EVENT_STREAM_OPEN:
      if (ev->dir == XM_DIR_C2S && s->to == NULL && ev->stanza && ev->stanza->root)
        s->to = g_strdup (xm_node_attr (ev->stanza->root, "to"));
      break;
    case XM_EVENT_STANZA:
      s->stanzas++;
      if (!s->closed && ev->dir != XM_DIR_NONE && ev->stanza)
        s->bytes[ev->dir] += ev->stanza->raw_len;
      if (ev->dir == XM_DIR_S2C)
        {
          char *jid = bound_jid (ev->stanza);
          if (jid)
            {
              g_free (s->jid);
              s->jid = jid;
            }
        }
      break;
    case XM_EVENT_CONN_CLOSE:
      /* what really crossed the wire, TLS and all */
      s->bytes[XM_DIR_C2S] = ev->bytes[XM_DIR_C2S];
      s->bytes[XM_DIR_S2C] = ev->bytes[XM_DIR_S2C];
      s->closed = TRUE;
      g_free (s->close_reason);
      s->close_reason = g_strdup (ev->text);
      break;
    default:
      break;
    }
}

/* ---- iq pairing (iq-pairing.c) ---- */

static Entry *
entry_mut (XmEventIndex *idx, guint64 id)
{
  return &g_array_index (idx->entries, Entry, id);
}

static void
mark_unanswered (guint64 id, gpointer data)
{
  entry_mut (data, id)->iq |= XM_IQ_UNANSWERED;
}

/* The pairing of event e (the next entry), and of its request when it
 * answers one. */
static void
pair_iq (XmEventIndex *idx, const XmEvent *ev, Entry *e)
{
  guint64 id = idx->entries->len, request = 0;
  gint64 rtt = -1;

  e->iq = (guint8) xm_iq_pairing_event (idx->pairing, id, ev, &request, &rtt);
  if (e->iq & XM_IQ_UNTRACKED)
    session_for (idx, ev->conn)->iq_untracked++;
  if (rtt >= 0 && id - request < G_MAXUINT32) /* else too far apart to link */
    {
      Entry *req = entry_mut (idx, request);

      e->pair = req->pair = (guint32) (id - request);
      e->rtt_us = req->rtt_us = (guint32) MIN (rtt, (gint64) G_MAXUINT32);
    }
}

void
xm_event_index_finish (XmEventIndex *idx)
{
  xm_iq_pairing_finish (idx->pairing);
}

static void
index_event (XmSink *sink, const XmEvent *ev)
{
  XmEventIndex *idx = (XmEventIndex *) sink;
  Entry e = { .offset = idx->line_offset, .conn = ev->conn,
              .kind = ev->kind, .dir = ev->dir,
              .klass = (guint8) xm_filter_event_class (ev) };

  learn_session (idx, ev);
  pair_iq (idx, ev, &e);
  xm_filter_event_digest (idx->digester, ev, &e.digest);
  if (idx->entries->len > 0 && idx->last_end != e.offset)
    {
      guint64 *end = g_new (guint64, 1);
      *end = idx->last_end;
      g_hash_table_insert (idx->gaps, GUINT_TO_POINTER (idx->entries->len - 1), end);
    }
  idx->last_end = e.offset + idx->line_length;
  if (ev->kind == XM_EVENT_STREAM_OPEN)
    {
      gpointer key = GSIZE_TO_POINTER ((gsize) ev->conn * 2 + ev->dir);
      GArray *ids = g_hash_table_lookup (idx->stream_opens, key);
      guint64 id = idx->entries->len;

      if (ids == NULL)
        {
          ids = g_array_new (FALSE, FALSE, sizeof (guint64));
          g_hash_table_insert (idx->stream_opens, key, ids);
        }
      g_array_append_val (ids, id);
    }
  g_array_append_val (idx->entries, e);
}

static void
index_sink_free (XmSink *sink)
{
  /* the index owns itself: xm_event_index_free */
}

static const XmSinkVTable index_vtable = {
  .event = index_event,
  .free = index_sink_free,
  .needs_children = TRUE,
};

static void
on_index_line (guint64 offset, guint64 length, gpointer data)
{
  XmEventIndex *idx = data;

  idx->line_offset = offset;
  idx->line_length = length;
}

/* Reads len bytes at offset of fd onto buf. */
static gboolean
read_range (int fd, guint64 offset, gsize len, GString *buf, GError **error)
{
  gsize old = buf->len;

  g_string_set_size (buf, old + len);
  for (gsize done = 0; done < len;)
    {
      ssize_t n = pread (fd, buf->str + old + done, len - done, offset + done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int err = n < 0 ? errno : EIO;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                       "reading the recording failed: %s", g_strerror (err));
          g_string_set_size (buf, old);
          return FALSE;
        }
      done += n;
    }
  return TRUE;
}

/* A capture decoded into a recording in a private temporary file, already
 * unlinked: the index reads it back like any recording. Returns its fd. */
static int
capture_to_recording (const char *path, GError **error)
{
  g_autofree char *tmp = NULL;
  g_autofree char *source = g_strdup_printf ("capture %s", path);
  XmSink *rec;
  int fd, wfd;
  gboolean ok;

  fd = g_file_open_tmp ("xmitm-web-XXXXXX.jsonl", &tmp, error);
  if (fd < 0)
    return -1;
  unlink (tmp);
  wfd = dup (fd);
  if (wfd < 0)
    {
      int err = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                   "dup: %s", g_strerror (err));
      close (fd);
      return -1;
    }
  /* A capture holds every byte: it counts as recorded with secrets. */
  rec = xm_recorder_new (wfd, TRUE, tmp, source, TRUE);
  ok = xm_capture_read (path, rec, error);
  xm_sink_free (rec);
  if (!ok)
    {
      close (fd);
      return -1;
    }
  return fd;
}

static gboolean
is_capture (const char *path, GError **error)
{
  guint8 head[64];
  gsize n;
  FILE *f = fopen (path, "rbe");

  if (f == NULL)
    {
      int err = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                   "cannot open %s: %s", path, g_strerror (err));
      return FALSE;
    }
  n = fread (head, 1, sizeof head, f);
  fclose (f);
  return xm_capture_sniff (head, n);
}

/* Hands the whole lines of idx->pending to the reader; keeps the last,
 * unfinished one (all of it when final: the file's cut-short last line). */
static gboolean
feed_pending (XmEventIndex *idx, gboolean final, GError **error)
{
  gsize at = 0;
  gboolean ok = TRUE;

  while (ok && at < idx->pending->len)
    {
      char *start = idx->pending->str + at;
      char *nl = memchr (start, '\n', idx->pending->len - at);
      gsize n = nl ? (gsize) (nl - start) + 1 : idx->pending->len - at;

      if (idx->skipping > 0)
        {
          /* the rest of a line too long to keep */
          idx->skipping += n;
          if (nl || final)
            {
              ok = xm_record_reader_skip_long_line (idx->reader, idx->skipping, error);
              idx->skipping = 0;
            }
        }
      else if (nl == NULL && !final)
        {
          if (n <= XM_RECORD_MAX_LINE)
            break;  /* the line goes on in the next slice */
          idx->skipping = n;
        }
      else
        {
          if (xm_record_reader_lines (idx->reader) == 0)
            {
              /* the header line, put before every page read again */
              g_string_append_len (idx->header_line, start, n);
              if (nl == NULL)
                g_string_append_c (idx->header_line, '\n');
            }
          ok = xm_record_reader_line (idx->reader, start, n, idx->read_pos + at, error);
        }
      at += n;
    }
  g_string_erase (idx->pending, 0, at);
  idx->read_pos += at;
  return ok;
}

/* Reads up to max bytes past what was read and indexes the whole lines
 * among them. *eof: the file has nothing more now. */
static gboolean
grow (XmEventIndex *idx, gsize max, gboolean *eof, GError **error)
{
  gsize old = idx->pending->len;
  gsize room = MIN (max, (gsize) 1 << 20);
  ssize_t n;

  *eof = FALSE;
  for (gsize got = 0; got < max;)
    {
      g_string_set_size (idx->pending, old + room);
      n = pread (idx->fd, idx->pending->str + old, room, idx->read_pos + old);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int err = errno;
          g_string_set_size (idx->pending, old);
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                       "reading %s failed: %s", idx->path, g_strerror (err));
          return FALSE;
        }
      g_string_set_size (idx->pending, old + n);
      got += n;
      if (n == 0)
        {
          *eof = TRUE;
          break;
        }
      if (!feed_pending (idx, FALSE, error))
        return FALSE;
      old = idx->pending->len;
    }
  return TRUE;
}

static void
after_grow (XmEventIndex *idx)
{
  /* what follows the last event (a line cut short, damage) is never
   * read again */
  idx->end = idx->last_end;
  xm_sink_flush (&idx->sink);
}

gboolean
xm_event_index_grow (XmEventIndex *idx, gsize max_bytes, gboolean *at_end,
                     GError **error)
{
  gboolean eof = FALSE, ok = TRUE;

  if (!idx->finished)
    ok = grow (idx, max_bytes ? max_bytes : G_MAXSIZE, &eof, error);
  after_grow (idx);
  if (at_end)
    *at_end = idx->finished || eof;
  return ok;
}

/* A file that no longer grows: its last line, whole or cut short, is
 * read too. */
static gboolean
finish (XmEventIndex *idx, GError **error)
{
  gboolean ok = feed_pending (idx, TRUE, error);

  if (ok && xm_record_reader_lines (idx->reader) == 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s is empty: not an xmitm recording", idx->path);
      ok = FALSE;
    }
  idx->finished = TRUE;
  after_grow (idx);
  /* the file is all there is: what is still waiting never got an
   * answer */
  xm_event_index_finish (idx);
  return ok;
}

gboolean
xm_event_index_step (XmEventIndex *idx, gsize max_bytes, gboolean *done,
                     GError **error)
{
  gboolean eof = FALSE;

  *done = idx->finished;
  if (idx->finished)
    return TRUE;
  if (!grow (idx, max_bytes, &eof, error))
    {
      /* reading stops here; what was indexed stays browsable */
      idx->finished = *done = TRUE;
      after_grow (idx);
      xm_event_index_finish (idx);
      return FALSE;
    }
  after_grow (idx);
  if (eof)
    {
      *done = TRUE;
      return finish (idx, error);
    }
  return TRUE;
}

void
xm_event_index_progress (const XmEventIndex *idx, guint64 *read, guint64 *size)
{
  struct stat st;

  *read = idx->read_pos;
  *size = fstat (idx->fd, &st) == 0 ? (guint64) st.st_size : idx->read_pos;
}

gboolean
xm_event_index_finished (const XmEventIndex *idx)
{
  return idx->finished;
}

static XmEventIndex *
new_index (const char *path)
{
  XmEventIndex *idx = g_new0 (XmEventIndex, 1);

  idx->sink.vtable = &index_vtable;
  idx->path = g_strdup (path);
  idx->fd = -1;
  idx->header_line = g_string_new (NULL);
  idx->entries = g_array_new (FALSE, FALSE, sizeof (Entry));
  idx->sessions = g_ptr_array_new_with_free_func (session_free);
  idx->session_by_conn = g_hash_table_new (NULL, NULL);
  idx->stream_opens = g_hash_table_new_full (NULL, NULL, NULL,
                                             (GDestroyNotify) g_array_unref);
  idx->gaps = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  idx->pending = g_string_new (NULL);
  idx->pairing = xm_iq_pairing_new (mark_unanswered, idx);
  idx->digester = xm_filter_digester_new ();
  return idx;
}

static void
start_reading (XmEventIndex *idx, void (*warn) (const char *, gpointer),
               gpointer warn_data)
{
  idx->warn = warn;
  idx->warn_data = warn_data;
  idx->reader = xm_record_reader_new (idx->path, &idx->sink, &idx->info, warn,
                                      warn_data, on_index_line, idx);
}

static XmEventIndex *
open_index (const char *path, gboolean lazy, void (*warn) (const char *, gpointer),
            gpointer warn_data, GError **error)
{
  g_autoptr (XmEventIndex) idx = new_index (path);
  GError *sniff_error = NULL;
  gboolean capture;

  capture = is_capture (path, &sniff_error);
  if (sniff_error)
    {
      g_propagate_error (error, sniff_error);
      return NULL;
    }
  if (capture)
    idx->fd = capture_to_recording (path, error);
  else if ((idx->fd = open (path, O_RDONLY | O_CLOEXEC)) < 0)
    {
      int err = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                   "cannot open %s: %s", path, g_strerror (err));
    }
  if (idx->fd < 0)
    return NULL;
  start_reading (idx, warn, warn_data);
  /* the header now: a file that is no recording is refused at once */
  while (!idx->finished && xm_record_reader_lines (idx->reader) == 0)
    {
      gboolean done;
      if (!xm_event_index_step (idx, 4096, &done, error))
        return NULL;
    }
  if (!lazy)
    {
      gboolean done = idx->finished;
      while (!done)
        if (!xm_event_index_step (idx, 4 << 20, &done, error))
          return NULL;
    }
  return g_steal_pointer (&idx);
}

XmEventIndex *
xm_event_index_open (const char *path, void (*warn) (const char *, gpointer),
                     gpointer warn_data, GError **error)
{
  return open_index (path, FALSE, warn, warn_data, error);
}

XmEventIndex *
xm_event_index_open_lazy (const char *path, void (*warn) (const char *, gpointer),
                          gpointer warn_data, GError **error)
{
  return open_index (path, TRUE, warn, warn_data, error);
}

XmEventIndex *
xm_event_index_new_growing (int fd, const char *name,
                            void (*warn) (const char *, gpointer),
                            gpointer warn_data)
{
  XmEventIndex *idx = new_index (name);

  idx->fd = fd;
  start_reading (idx, warn, warn_data);
  return idx;
}

void
xm_event_index_free (XmEventIndex *idx)
{
  if (idx == NULL)
    return;
  /* the reader flushes the index's sink when freed: before the rest */
  g_clear_pointer (&idx->reader, xm_record_reader_free);
  xm_record_info_clear (&idx->info);
  if (idx->pending)
    g_string_free (idx->pending, TRUE);
  if (idx->fd >= 0)
    close (idx->fd);
  g_free (idx->path);
  g_string_free (idx->header_line, TRUE);
  g_array_unref (idx->entries);
  g_ptr_array_unref (idx->sessions);
  g_hash_table_unref (idx->session_by_conn);
  g_hash_table_unref (idx->stream_opens);
  g_hash_table_unref (idx->gaps);
  xm_iq_pairing_free (idx->pairing);
  xm_filter_digester_free (idx->digester);
  g_free (idx);
}

const char *
xm_event_index_path (const XmEventIndex *idx)
{
  return idx->path;
}

guint64
xm_event_index_count (const XmEventIndex *idx)
{
  return idx->entries->len;
}

gboolean
xm_event_index_has_secrets (const XmEventIndex *idx)
{
  return idx->info.secrets;
}

guint
xm_event_index_n_sessions (const XmEventIndex *idx)
{
  return idx->sessions->len;
}

const XmIndexedSession *
xm_event_index_session (const XmEventIndex *idx, guint i)
{
  return i < idx->sessions->len ? idx->sessions->pdata[i] : NULL;
}

gboolean
xm_event_index_get (const XmEventIndex *idx, guint64 id, XmIndexedEvent *out)
{
  const Entry *e;

  if (id >= idx->entries->len)
    return FALSE;
  e = &g_array_index (idx->entries, Entry, id);
  out->conn = e->conn;
  out->kind = e->kind;
  out->dir = e->dir;
  out->event_class = e->klass;
  out->digest = e->digest;
  out->iq = e->iq;
  out->pair = -1;
  out->rtt_us = -1;
  if (e->pair)
    {
      out->pair = (e->iq & XM_IQ_REQUEST) ? (gint64) (id + e->pair)
                                          : (gint64) (id - e->pair);
      out->rtt_us = e->rtt_us;
    }
  return TRUE;
}

/* ---- reading pages again ---- */

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
                || read_range (idx->fd, run->start, run->stop - run->start, buf, error);

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
                  || !read_range (idx->fd, entry (idx, open)->offset,
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
