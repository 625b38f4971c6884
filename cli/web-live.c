/* web-live.c: xmitm proxy --web (web-live.h says what it is).
 *
 * Two threads meet only at the queue, under one mutex taken once per
 * batch (a proxy round's events, or 64 KiB of them): the proxy formats
 * its events as the recorder does, the web thread writes them to its
 * file and indexes them. The web thread has its own main context, so an
 * HTTP request, a filter over a long session or a browser that stopped
 * reading never holds up the proxy's loop; the worst a slow web thread
 * does is let the queue fill, and then the events it could not take are
 * counted and a note in its recording marks the gap. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "event-index.h"
#include "files.h"
#include "record.h"
#include "web-api.h"
#include "web-live.h"
#include "web-push.h"
#include "web-server.h"
#include "xml-framer.h"

/* The queue's bounds (events and bytes); XMITM_WEB_QUEUE="EVENTS,BYTES"
 * sets others (tests use a tiny one to see events missed). */
#define QUEUE_EVENTS 50000
#define QUEUE_BYTES (8u << 20)
/* A batch goes to the queue at the end of the proxy's round, or sooner
 * when it reaches this size. */
#define BATCH_BYTES (64u << 10)
/* A dropped batch's connection opens, closes and layers still go to the
 * queue, up to this much past its bounds: the sessions table stays right
 * (a connection that closed while the view fell behind is not shown open
 * for ever). A few lines per connection; past this, dropped too. */
#define KEPT_BEYOND_BYTES (1u << 20)

typedef struct {
  GMutex lock;
  GString *bytes;         /* recording lines, whole */
  guint64 events;         /* in bytes */
  guint64 missed;         /* dropped since the start */
  guint64 max_events, max_bytes;
  GSource *wake;          /* the web thread's drain source; NULL once stopped */
  gboolean drop_woken;    /* a drop since the last drain woke the web thread */
  gint full;              /* atomic: dropping until the next drain */
} Queue;

typedef struct {
  XmSink sink;
  Queue *q;
  GString *batch;         /* this round's lines, not yet queued */
  guint64 batch_events;
  GArray *kept;           /* Span: the batch's lines kept if it is dropped */
  guint64 skipped;        /* not even formatted: the queue was full */
  gboolean secrets;
} LiveSink;

struct _XmWebLive {
  Queue *q;
  gboolean secrets;
  XmPrinterOptions printer;
  char *listen;
  GThread *thread;
  /* set by the thread before it says it started */
  GMutex start_lock;
  GCond started;
  int start_state;        /* 0 starting, 1 serving, -1 failed */
  char *url;
  /* the web thread's own */
  GMainContext *ctx;
  GMainLoop *loop;
  XmWebServer *server;
  XmWebPush *push;
  XmWebData data;
  XmEventIndex *idx;
  int wfd;                /* the recording, written here */
  guint64 missed_noted;   /* missed events already marked in the recording */
  gboolean index_failed;  /* reading its recording back failed (said once) */
};

static Queue *
queue_new (void)
{
  Queue *q = g_atomic_rc_box_new0 (Queue);
  const char *env = g_getenv ("XMITM_WEB_QUEUE");
  guint64 events = QUEUE_EVENTS, bytes = QUEUE_BYTES;

  g_mutex_init (&q->lock);
  q->bytes = g_string_new (NULL);
  if (env && sscanf (env, "%" G_GUINT64_FORMAT ",%" G_GUINT64_FORMAT, &events, &bytes) != 2)
    events = QUEUE_EVENTS, bytes = QUEUE_BYTES;
  q->max_events = MAX (events, 1);
  q->max_bytes = MAX (bytes, 1);
  return q;
}

static void
queue_clear (gpointer p)
{
  Queue *q = p;

  g_string_free (q->bytes, TRUE);
  g_mutex_clear (&q->lock);
}

static void
queue_unref (Queue *q)
{
  g_atomic_rc_box_release_full (q, queue_clear);
}

/* ---- the proxy's thread ---- */

typedef struct {
  gsize start, len;
} Span;

/* Events that make the sessions table: kept when the rest is dropped. */
static gboolean
keeps_sessions_right (const XmEvent *ev)
{
  return ev->kind == XM_EVENT_CONN_OPEN || ev->kind == XM_EVENT_CONN_CLOSE
         || ev->kind == XM_EVENT_LAYER;
}

/* Of a batch that does not fit, the lines in s->kept go to the queue
 * while they fit KEPT_BEYOND_BYTES past its bounds (under q->lock); how
 * many did. */
static guint64
keep_some (LiveSink *s, Queue *q)
{
  guint64 n = 0;

  for (guint i = 0; i < s->kept->len; i++)
    {
      const Span *sp = &g_array_index (s->kept, Span, i);

      if (q->bytes->len + sp->len > q->max_bytes + KEPT_BEYOND_BYTES)
        break;
      g_string_append_len (q->bytes, s->batch->str + sp->start, sp->len);
      q->events++;
      n++;
    }
  return n;
}

/* The batch into the queue, or dropped whole when it does not fit. */
static void
push_batch (LiveSink *s)
{
  Queue *q = s->q;
  gboolean wake = FALSE;

  if (s->batch_events == 0 && s->skipped == 0)
    return;
  g_mutex_lock (&q->lock);
  q->missed += s->skipped;
  s->skipped = 0;
  if (s->batch_events == 0)
    ;
  else if (q->events + s->batch_events > q->max_events
           || q->bytes->len + s->batch->len > q->max_bytes)
    {
      /* (once the view stopped, q->wake NULL, nothing is drained: kept
       * lines would only pile up) */
      guint64 kept = q->wake ? keep_some (s, q) : 0;

      q->missed += s->batch_events - kept;
      g_atomic_int_set (&q->full, 1);
      /* the web thread notes the gap and tells the page, also when
       * nothing comes after it */
      wake = !q->drop_woken;
      q->drop_woken = TRUE;
    }
  else
    {
      wake = q->bytes->len == 0;
      g_string_append_len (q->bytes, s->batch->str, s->batch->len);
      q->events += s->batch_events;
    }
  /* a wakeup when the queue stops being empty or first drops, not per
   * batch: the web thread takes the whole queue at once */
  if (wake && q->wake)
    g_source_set_ready_time (q->wake, 0);
  g_mutex_unlock (&q->lock);
  g_string_truncate (s->batch, 0);
  s->batch_events = 0;
  g_array_set_size (s->kept, 0);
}

static void
sink_event (XmSink *sink, const XmEvent *ev)
{
  LiveSink *s = (LiveSink *) sink;
  gboolean keep = keeps_sessions_right (ev);
  Span sp;

  /* A full queue stays full until the web thread drains it: the events
   * until then are counted, not formatted, so a web view that fell
   * behind costs the proxy less, not more (all but the few that keep
   * its sessions table right). */
  if (g_atomic_int_get (&s->q->full) && !keep)
    {
      s->skipped++;
      return;
    }
  sp.start = s->batch->len;
  xm_record_format (ev, s->secrets, s->batch);
  sp.len = s->batch->len - sp.start;
  if (keep)
    g_array_append_val (s->kept, sp);
  s->batch_events++;
  if (s->batch->len >= BATCH_BYTES)
    push_batch (s);
}

static void
sink_flush (XmSink *sink)
{
  push_batch ((LiveSink *) sink);
}

static void
sink_free (XmSink *sink)
{
  LiveSink *s = (LiveSink *) sink;

  push_batch (s);
  g_string_free (s->batch, TRUE);
  g_array_unref (s->kept);
  queue_unref (s->q);
  g_free (s);
}

static const XmSinkVTable live_sink_vtable = {
  .event = sink_event,
  .flush = sink_flush,
  .free = sink_free,
  /* the recorder's needs: a stanza's bytes and root name */
  .needs_children = FALSE,
};

XmSink *
xm_web_live_sink (XmWebLive *live)
{
  LiveSink *s = g_new0 (LiveSink, 1);

  s->sink.vtable = &live_sink_vtable;
  s->q = g_atomic_rc_box_acquire (live->q);
  s->batch = g_string_sized_new (BATCH_BYTES + 4096);
  s->kept = g_array_new (FALSE, FALSE, sizeof (Span));
  s->secrets = live->secrets;
  return &s->sink;
}

/* ---- the web thread ---- */

static void
warn (const char *message, gpointer data)
{
  g_printerr ("xmitm: --web: %s\n", message);
}

/* Takes what the queue holds, appends it to the recording, indexes it. */
static gboolean
drain (gpointer data)
{
  XmWebLive *live = data;
  Queue *q = live->q;
  g_autoptr (GString) taken = g_string_sized_new (4096);
  g_autoptr (GError) error = NULL;
  guint64 missed, before = xm_event_index_count (live->idx);
  GString *t;
  int err;

  g_source_set_ready_time (q->wake, -1);
  g_mutex_lock (&q->lock);
  t = q->bytes;
  q->bytes = taken;
  taken = t;
  q->events = 0;
  q->drop_woken = FALSE;
  g_atomic_int_set (&q->full, 0);
  missed = q->missed;
  g_mutex_unlock (&q->lock);

  if (missed > live->missed_noted)
    {
      /* where the dropped events were: a note in the list, as a gap in
       * a capture would be */
      g_string_append_printf (taken, "{\"t\":%" G_GINT64_FORMAT ",\"conn\":0,"
                              "\"ev\":\"note\",\"level\":\"warning\",\"text\":"
                              "\"the web view missed %" G_GUINT64_FORMAT
                              " events here (it fell behind the proxy; the "
                              "terminal, --record and --pcap have them)\"}\n",
                              g_get_real_time (), missed - live->missed_noted);
      live->missed_noted = missed;
    }
  if (taken->len && (err = xm_write_all (live->wfd, taken->str, taken->len)) != 0)
    {
      g_printerr ("xmitm: --web: writing its temporary recording failed: %s; "
                  "the live view stops here\n", g_strerror (err));
      /* from now on the proxy's events are counted, not queued */
      g_mutex_lock (&q->lock);
      q->wake = NULL;
      g_atomic_int_set (&q->full, 1);
      g_mutex_unlock (&q->lock);
      return G_SOURCE_REMOVE;
    }
  /* a failure stops the index for good (event-index.h): said once */
  if (!xm_event_index_grow (live->idx, 0, NULL, &error) && !live->index_failed)
    {
      live->index_failed = TRUE;
      g_printerr ("xmitm: --web: %s; the view shows what it had\n", error->message);
    }
  if (xm_event_index_count (live->idx) != before || missed)
    xm_web_push_changed (live->push);
  return G_SOURCE_CONTINUE;
}

static char *
state_json (gpointer data)
{
  XmWebLive *live = data;
  guint64 missed;

  g_mutex_lock (&live->q->lock);
  missed = live->q->missed;
  g_mutex_unlock (&live->q->lock);
  return g_strdup_printf ("{\"live\":true,\"events\":%" G_GUINT64_FORMAT
                          ",\"sessions\":%u,\"missed\":%" G_GUINT64_FORMAT "}",
                          xm_event_index_count (live->idx),
                          xm_event_index_n_sessions (live->idx), missed);
}

static gboolean
route (SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
  return xm_web_serve_api (&((XmWebLive *) data)->data, msg, path);
}

static gboolean
drain_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
  return callback (data);
}

static GSourceFuncs drain_funcs = { .dispatch = drain_dispatch };

/* The recording: a private temporary file, unlinked at once; the header
 * first. Returns the write end; the index gets a read end. */
static gboolean
open_recording (XmWebLive *live)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp = NULL;
  g_autoptr (GString) header = g_string_new (NULL);
  int fd, rfd, err = 0;

  fd = g_file_open_tmp ("xmitm-live-XXXXXX.jsonl", &tmp, &error);
  if (fd < 0)
    {
      g_printerr ("xmitm: --web: %s\n", error->message);
      return FALSE;
    }
  unlink (tmp);
  rfd = dup (fd);
  xm_record_format_header ("proxy --web", live->secrets, g_get_real_time (), header);
  if (rfd < 0)
    err = errno;
  else
    err = xm_write_all (fd, header->str, header->len);
  if (err)
    {
      g_printerr ("xmitm: --web: its temporary recording: %s\n", g_strerror (err));
      close (fd);
      if (rfd >= 0)
        close (rfd);
      return FALSE;
    }
  live->wfd = fd;
  live->idx = xm_event_index_new_growing (rfd, "the live view's recording", warn, live);
  return TRUE;
}

static void
say_started (XmWebLive *live, int state)
{
  g_mutex_lock (&live->start_lock);
  live->start_state = state;
  g_cond_signal (&live->started);
  g_mutex_unlock (&live->start_lock);
}

static gpointer
web_thread (gpointer data)
{
  XmWebLive *live = data;
  GSource *wake;

  /* The traffic first: where the web thread and the proxy's share a CPU
   * (one core, or xmitm pinned to one), the scheduler gives the proxy
   * nearly all of it, and the web view falls behind (and says how many
   * events it missed) instead of the sessions slowing down. */
  if (setpriority (PRIO_PROCESS, (id_t) gettid (), 19) != 0)
    g_debug ("setpriority: %s", g_strerror (errno));
  g_main_context_push_thread_default (live->ctx);
  live->server = xm_web_server_new ("--web", live->listen, route, live);
  if (live->server == NULL || !open_recording (live))
    {
      g_clear_pointer (&live->server, xm_web_server_free);
      say_started (live, -1);
      g_main_context_pop_thread_default (live->ctx);
      return NULL;
    }
  live->data.indexes = g_ptr_array_new ();
  g_ptr_array_add (live->data.indexes, live->idx);
  live->data.printer = live->printer;
  live->push = xm_web_push_new (live->server, "/api/live", state_json, live);
  wake = g_source_new (&drain_funcs, sizeof (GSource));
  g_source_set_callback (wake, drain, live, NULL);
  g_source_set_ready_time (wake, -1);
  g_source_attach (wake, live->ctx);
  g_mutex_lock (&live->q->lock);
  live->q->wake = wake;
  g_mutex_unlock (&live->q->lock);
  live->url = g_strdup (xm_web_server_url (live->server));
  live->loop = g_main_loop_new (live->ctx, FALSE);
  say_started (live, 1);

  g_main_loop_run (live->loop);

  g_mutex_lock (&live->q->lock);
  live->q->wake = NULL;
  g_mutex_unlock (&live->q->lock);
  if (!g_source_is_destroyed (wake))
    g_source_destroy (wake);
  g_source_unref (wake);
  xm_web_push_free (live->push);
  xm_web_server_free (live->server);
  live->server = NULL;
  g_ptr_array_unref (live->data.indexes);
  xm_event_index_free (live->idx);
  close (live->wfd);
  g_main_loop_unref (live->loop);
  g_main_context_pop_thread_default (live->ctx);
  /* what this thread's framers and printer pooled dies with it */
  xm_framer_pool_clear ();
  xm_printer_thread_clear ();
  return NULL;
}

static gboolean
quit (gpointer data)
{
  g_main_loop_quit (((XmWebLive *) data)->loop);
  return G_SOURCE_REMOVE;
}

XmWebLive *
xm_web_live_start (const char *listen, const XmPrinterOptions *printer,
                   gboolean secrets)
{
  XmWebLive *live = g_new0 (XmWebLive, 1);
  int state;

  live->q = queue_new ();
  live->secrets = secrets;
  live->printer = *printer;
  live->printer.color = FALSE;
  live->printer.show_secrets = secrets;
  live->listen = g_strdup (listen);
  live->wfd = -1;
  g_mutex_init (&live->start_lock);
  g_cond_init (&live->started);
  live->ctx = g_main_context_new ();
  live->thread = g_thread_new ("xmitm-web", web_thread, live);
  g_mutex_lock (&live->start_lock);
  while (live->start_state == 0)
    g_cond_wait (&live->started, &live->start_lock);
  state = live->start_state;
  g_mutex_unlock (&live->start_lock);
  if (state < 0)
    {
      g_thread_join (live->thread);
      live->thread = NULL;
      xm_web_live_stop (live);
      return NULL;
    }
  return live;
}

const char *
xm_web_live_url (const XmWebLive *live)
{
  return live->url;
}

void
xm_web_live_stop (XmWebLive *live)
{
  if (live == NULL)
    return;
  if (live->thread)
    {
      /* from the web thread's own loop: a quit before it runs is lost */
      g_main_context_invoke (live->ctx, quit, live);
      g_thread_join (live->thread);
    }
  g_main_context_unref (live->ctx);
  queue_unref (live->q);
  g_mutex_clear (&live->start_lock);
  g_cond_clear (&live->started);
  g_free (live->listen);
  g_free (live->url);
  g_free (live);
}
