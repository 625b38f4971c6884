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
  int wake_fd; /* the context's wakeup eventfd, in the epoll set; -1 not
                * yet, -2 epoll refused it */
} PollSource;

static void (*after_dispatch) (gpointer);
static gpointer after_dispatch_data;

static PollSource *poll_source;

/* The wakeup eventfd's epoll data. Watches are heap pointers, never this. */
#define WAKE_TAG 1u

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
      if (evs[i].data.u64 == WAKE_TAG)
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
  g_main_context_set_poll_func (NULL, NULL);
  poll_source = NULL;
}

/* The main context's poll function. GLib would poll() epfd and its own
 * wakeup eventfd, then poll_dispatch would ask epoll_wait which sockets are
 * ready: two system calls and a nested wake-up for every event. While those
 * two are all GLib polls, the eventfd sits in the epoll set too and one
 * blocking epoll_wait answers for both; its socket events wait in
 * ps->ready. Any other set (a GLib source with a descriptor of its own, or
 * epfd left out because a source of higher priority is ready) takes plain
 * poll(). Only the eventfd joins: it lives as long as the context, where a
 * descriptor of another source could be closed and its number reused
 * between two rounds, unseen. */
static gint
poll_func (GPollFD *ufds, guint nfds, gint timeout)
{
  PollSource *ps = poll_source;
  GPollFD *own, *wake;
  int n;

  if (ps == NULL || nfds != 2 || (ufds[0].fd != ps->epfd && ufds[1].fd != ps->epfd))
    {
      if (ps != NULL)
        ps->n_ready = -1; /* dispatch asks epoll itself */
      return g_poll (ufds, nfds, timeout);
    }
  own = ufds[0].fd == ps->epfd ? &ufds[0] : &ufds[1];
  wake = own == &ufds[0] ? &ufds[1] : &ufds[0];
  if (ps->wake_fd == -1)
    {
      struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_TAG };
      ps->wake_fd = epoll_ctl (ps->epfd, EPOLL_CTL_ADD, wake->fd, &ev) == 0 ? wake->fd : -2;
    }
  if (wake->fd != ps->wake_fd || wake->events != G_IO_IN)
    {
      ps->n_ready = -1;
      return g_poll (ufds, nfds, timeout);
    }

  n = epoll_wait (ps->epfd, ps->ready, MAX_EVENTS, timeout);
  own->revents = wake->revents = 0;
  ps->n_ready = 0;
  if (n < 0)
    return -1; /* errno is EINTR; GLib goes round again */
  for (int i = 0; i < n; i++)
    {
      if (ps->ready[i].data.u64 == WAKE_TAG)
        wake->revents = G_IO_IN;
      else
        ps->ready[ps->n_ready++] = ps->ready[i];
    }
  if (ps->n_ready > 0)
    own->revents = G_IO_IN;
  return (own->revents != 0) + (wake->revents != 0);
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
      poll_source->wake_fd = -1;
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
