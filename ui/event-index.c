/* event-index.c: where each event of a recording is, and what each
 * connection was, learnt by reading the file once through the reader
 * `xmitm show` uses (in slices, and again as a live file grows); the iq
 * pairing and the filters' digests as each event is indexed. Reading
 * pages back is event-index-read.c's. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "event-index-private.h"
#include "filter.h"
#include "line-read.h"
#include "pcap-read.h"
#include "record.h"

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

gboolean
xm_event_index_read_range (int fd, guint64 offset, gsize len, GString *buf, GError **error)
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
  GError *local = NULL;

  if (idx->failed)
    {
      /* once refused, the lines after it are no recording's either (as
       * the file read in one go would have them) */
      g_set_error_literal (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, idx->failed);
      if (at_end)
        *at_end = TRUE;
      return FALSE;
    }
  if (!idx->finished)
    ok = grow (idx, max_bytes ? max_bytes : G_MAXSIZE, &eof, &local);
  if (!ok)
    {
      idx->failed = g_strdup (local ? local->message : "reading stopped");
      g_propagate_error (error, local);
    }
  after_grow (idx);
  if (at_end)
    *at_end = idx->finished || eof || !ok;
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
  g_free (idx->failed);
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
