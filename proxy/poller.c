/* poller.c: see poller.h. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "poller.h"

#define MAX_EVENTS 256

struct _XmWatch {
  int fd;
  guint32 events;
  gboolean registered; /* events == 0 means not in the epoll set at all, so
                        * EPOLLHUP/EPOLLERR cannot spin a parked socket */
  gboolean dead;
  XmWatchFunc func;
  gpointer user_data;
};

/* A descriptor of another GLib source (the context's wakeup eventfd, say),
 * put into the epoll set by poll_func so that one epoll_wait serves the
 * whole main loop. */
typedef struct {
  int fd;
  gushort events; /* G_IO_* as GLib asked for them */
  gboolean seen;  /* in the current poll_func call's set */
} Foreign;

typedef struct {
  GSource source;
  int epfd;
  gpointer tag;
  GPtrArray *graveyard; /* watches removed while events may point at them */
  gboolean dispatching;
  /* Socket events poll_func already fetched, for poll_dispatch to deliver
   * (-1: none fetched, dispatch asks epoll itself). */
  int n_ready;
  struct epoll_event ready[MAX_EVENTS];
  GArray *foreign; /* of Foreign */
} PollSource;

static void (*after_dispatch) (gpointer);
static gpointer after_dispatch_data;

static PollSource *poll_source;

/* Marks a foreign descriptor's epoll entry; data.u64 holds its fd. Watches
 * are heap pointers, never this value. */
#define FOREIGN_TAG 1u
#define FOREIGN_KEY(fd) (((guint64) (guint32) (fd) << 32) | FOREIGN_TAG)

static gboolean
poll_dispatch (GSource *source, GSourceFunc cb, gpointer data)
{
  PollSource *ps = (PollSource *) source;
  struct epoll_event *evs = ps->ready;
  int n = ps->n_ready;

  if (n < 0)
    n = epoll_wait (ps->epfd, evs, MAX_EVENTS, 0);
  ps->dispatching = TRUE;
  for (int i = 0; i < n; i++)
    {
      XmWatch *w;
      if ((evs[i].data.u64 & FOREIGN_TAG) != 0)
        continue;
      w = evs[i].data.ptr;
      if (!w->dead)
        w->func (w, evs[i].events, w->user_data);
    }
  ps->dispatching = FALSE;
  ps->n_ready = -1;
  g_ptr_array_set_size (ps->graveyard, 0);
  if (after_dispatch)
    after_dispatch (after_dispatch_data);
  return G_SOURCE_CONTINUE;
}

static void
poll_finalize (GSource *source)
{
  PollSource *ps = (PollSource *) source;

  close (ps->epfd);
  g_ptr_array_unref (ps->graveyard);
  g_array_unref (ps->foreign);
  g_main_context_set_poll_func (NULL, NULL);
  poll_source = NULL;
}

static Foreign *
find_foreign (PollSource *ps, int fd)
{
  for (guint i = 0; i < ps->foreign->len; i++)
    if (g_array_index (ps->foreign, Foreign, i).fd == fd)
      return &g_array_index (ps->foreign, Foreign, i);
  return NULL;
}

static void
drop_foreign (PollSource *ps)
{
  for (guint i = 0; i < ps->foreign->len; i++)
    epoll_ctl (ps->epfd, EPOLL_CTL_DEL, g_array_index (ps->foreign, Foreign, i).fd, NULL);
  g_array_set_size (ps->foreign, 0);
}

/* Makes the epoll set hold exactly the descriptors other than epfd that
 * GLib polls this time, with their events; FALSE if one cannot be added
 * (epoll refuses regular files, for one), and then plain poll must do. */
static gboolean
sync_foreign (PollSource *ps, const GPollFD *ufds, guint nfds)
{
  for (guint i = 0; i < ps->foreign->len; i++)
    g_array_index (ps->foreign, Foreign, i).seen = FALSE;
  for (guint i = 0; i < nfds; i++)
    {
      struct epoll_event ev = { .data.u64 = FOREIGN_KEY (ufds[i].fd) };
      Foreign *f;

      if (ufds[i].fd == ps->epfd || ufds[i].fd < 0)
        continue;
      ev.events = ufds[i].events & (G_IO_IN | G_IO_OUT | G_IO_PRI);
      f = find_foreign (ps, ufds[i].fd);
      if (f != NULL && f->events == ufds[i].events)
        {
          f->seen = TRUE;
          continue;
        }
      if (f != NULL)
        {
          if (epoll_ctl (ps->epfd, EPOLL_CTL_MOD, f->fd, &ev) < 0
              && (errno != ENOENT || epoll_ctl (ps->epfd, EPOLL_CTL_ADD, f->fd, &ev) < 0))
            goto fail;
        }
      else
        {
          Foreign nf = { .fd = ufds[i].fd };
          if (epoll_ctl (ps->epfd, EPOLL_CTL_ADD, nf.fd, &ev) < 0)
            goto fail;
          g_array_append_val (ps->foreign, nf);
          f = &g_array_index (ps->foreign, Foreign, ps->foreign->len - 1);
        }
      f->events = ufds[i].events;
      f->seen = TRUE;
    }
  for (guint i = ps->foreign->len; i-- > 0;)
    {
      Foreign *f = &g_array_index (ps->foreign, Foreign, i);
      if (!f->seen)
        {
          /* Gone from GLib's set, or just not polled at this priority. */
          epoll_ctl (ps->epfd, EPOLL_CTL_DEL, f->fd, NULL);
          g_array_remove_index_fast (ps->foreign, i);
        }
    }
  return TRUE;

fail:
  /* Left in the set, they would keep epfd readable under plain poll. */
  drop_foreign (ps);
  return FALSE;
}

/* The main context's poll function. GLib would poll() epfd and the other
 * sources' descriptors, then poll_dispatch would ask epoll_wait which
 * sockets are ready: two system calls and a nested wake-up for each event.
 * Here the other descriptors join the epoll set and one blocking
 * epoll_wait answers for all; its socket events wait in ps->ready. */
static gint
poll_func (GPollFD *ufds, guint nfds, gint timeout)
{
  PollSource *ps = poll_source;
  GPollFD *own = NULL;
  int n, ready = 0;

  for (guint i = 0; ps != NULL && i < nfds; i++)
    if (ufds[i].fd == ps->epfd)
      own = &ufds[i];
  /* epfd is left out while a source of higher priority is ready. */
  if (own == NULL || !sync_foreign (ps, ufds, nfds))
    {
      if (own != NULL)
        ps->n_ready = -1; /* dispatch asks epoll itself */
      return g_poll (ufds, nfds, timeout);
    }

  n = epoll_wait (ps->epfd, ps->ready, MAX_EVENTS, timeout);
  if (n < 0)
    {
      ps->n_ready = -1;
      return -1; /* errno is EINTR; GLib goes round again */
    }
  for (guint i = 0; i < nfds; i++)
    ufds[i].revents = 0;
  ps->n_ready = 0;
  for (int i = 0; i < n; i++)
    {
      if ((ps->ready[i].data.u64 & FOREIGN_TAG) == 0)
        {
          ps->ready[ps->n_ready++] = ps->ready[i];
          continue;
        }
      for (guint j = 0; j < nfds; j++)
        if ((guint64) ufds[j].fd == ps->ready[i].data.u64 >> 32)
          ufds[j].revents = (ps->ready[i].events & ufds[j].events)
                            | (ps->ready[i].events & (EPOLLERR | EPOLLHUP));
    }
  if (ps->n_ready > 0)
    own->revents = G_IO_IN;
  for (guint i = 0; i < nfds; i++)
    ready += ufds[i].revents != 0;
  return ready;
}

static GSourceFuncs poll_funcs = {
  NULL, NULL, poll_dispatch, poll_finalize, NULL, NULL,
};

static PollSource *
get_source (void)
{
  if (poll_source == NULL)
    {
      int epfd = epoll_create1 (EPOLL_CLOEXEC);
      if (epfd < 0)
        g_error ("xmitm: epoll_create1: %s", g_strerror (errno));
      poll_source = (PollSource *) g_source_new (&poll_funcs, sizeof (PollSource));
      poll_source->epfd = epfd;
      poll_source->graveyard = g_ptr_array_new_with_free_func (g_free);
      poll_source->foreign = g_array_new (FALSE, FALSE, sizeof (Foreign));
      poll_source->n_ready = -1;
      poll_source->tag = g_source_add_unix_fd (&poll_source->source, epfd, G_IO_IN);
      g_source_set_name (&poll_source->source, "xmitm-epoll");
      /* GLib blocks a source that cannot recurse while it dispatches, by
       * taking its descriptor out of the poll set and putting it back: two
       * writes to the context's wakeup eventfd and a read per round. No
       * callback here runs the main loop, so there is nothing to guard. */
      g_source_set_can_recurse (&poll_source->source, TRUE);
      g_source_attach (&poll_source->source, NULL);
      g_main_context_set_poll_func (NULL, poll_func);
    }
  return poll_source;
}

XmWatch *
xm_watch_add (int fd, guint32 events, XmWatchFunc func, gpointer user_data)
{
  PollSource *ps = get_source ();
  XmWatch *w = g_new0 (XmWatch, 1);
  struct epoll_event ev = { .events = events, .data.ptr = w };

  /* A foreign descriptor with this number was closed (or fd could not be
   * open): the kernel dropped its entry, and a later EPOLL_CTL_DEL for it
   * would now hit this watch's. */
  for (guint i = 0; i < ps->foreign->len; i++)
    if (g_array_index (ps->foreign, Foreign, i).fd == fd)
      g_array_remove_index_fast (ps->foreign, i);
  w->fd = fd;
  w->events = events;
  w->func = func;
  w->user_data = user_data;
  if (events && epoll_ctl (ps->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    {
      int e = errno;
      g_free (w);
      errno = e;
      return NULL;
    }
  w->registered = events != 0;
  return w;
}

void
xm_watch_set_events (XmWatch *w, guint32 events)
{
  struct epoll_event ev = { .events = events, .data.ptr = w };

  int op;

  if (w->dead || w->events == events)
    return;
  w->events = events;
  if (events == 0)
    op = EPOLL_CTL_DEL;
  else
    op = w->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (epoll_ctl (get_source ()->epfd, op, w->fd, &ev) < 0)
    g_warning ("epoll_ctl(%d, fd %d): %s", op, w->fd, g_strerror (errno));
  w->registered = events != 0;
}

guint32
xm_watch_get_events (const XmWatch *w)
{
  return w->events;
}

void
xm_watch_remove (XmWatch *w)
{
  PollSource *ps = get_source ();

  if (w == NULL || w->dead)
    return;
  w->dead = TRUE;
  if (w->registered)
    epoll_ctl (ps->epfd, EPOLL_CTL_DEL, w->fd, NULL);
  if (ps->dispatching || ps->n_ready >= 0)
    g_ptr_array_add (ps->graveyard, w);
  else
    g_free (w);
}

void
xm_poller_set_after_dispatch (void (*fn) (gpointer), gpointer data)
{
  after_dispatch = fn;
  after_dispatch_data = data;
}

gboolean
xm_poller_dispatching (void)
{
  return poll_source && poll_source->dispatching;
}
