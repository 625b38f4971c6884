/* test-poller.c: the epoll source and its poll function, which puts GLib's
 * wakeup eventfd into the same epoll set so that one epoll_wait serves the
 * main loop, and falls back to poll() when GLib polls anything more. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <glib-unix.h>
#include <sys/socket.h>
#include <unistd.h>

#include "poller.h"

typedef struct {
  int hits;
  guint32 revents;
  int fd;          /* drained by the callback */
} Seen;

/* Counts an event and drains what it announced. */
static void
seen_event (Seen *seen, guint32 revents)
{
  char buf[64];

  seen->hits++;
  seen->revents = revents;
  if (seen->fd >= 0)
    (void) !read (seen->fd, buf, sizeof buf);
}

static void
on_watch (XmWatch *w, guint32 revents, gpointer data)
{
  seen_event (data, revents);
}

static gboolean
on_foreign (int fd, GIOCondition cond, gpointer data)
{
  seen_event (data, cond);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_timeout (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the default context until *hits reaches want, or fails after 2 s. */
static void
run_until (const int *hits, int want)
{
  gboolean expired = FALSE;
  guint t = g_timeout_add (2000, on_timeout, &expired);

  while (*hits < want && !expired)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (expired);
  g_source_remove (t);
}

static void
spin (int rounds)
{
  for (int i = 0; i < rounds; i++)
    g_main_context_iteration (NULL, FALSE);
}

static void
socket_pair (int sv[2])
{
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), ==, 0);
}

/* Descriptors of this process whose /proc/self/fd link reads like target:
 * the first, or -1. */
static int
find_fd (const char *target)
{
  GDir *d = g_dir_open ("/proc/self/fd", 0, NULL);
  const char *name;
  int found = -1;

  g_assert_nonnull (d);
  while (found < 0 && (name = g_dir_read_name (d)))
    {
      g_autofree char *path = g_strconcat ("/proc/self/fd/", name, NULL);
      g_autofree char *link = g_file_read_link (path, NULL);
      if (link && strcmp (link, target) == 0)
        found = atoi (name);
    }
  g_dir_close (d);
  return found;
}

/* Whether the epoll set holds descriptor fd (/proc/self/fdinfo of epfd). */
static gboolean
in_epoll_set (int epfd, int fd)
{
  g_autofree char *path = g_strdup_printf ("/proc/self/fdinfo/%d", epfd);
  g_autofree char *info = NULL;
  g_autofree char *want = g_strdup_printf ("tfd: %8d ", fd);

  g_assert_true (g_file_get_contents (path, &info, NULL, NULL));
  return strstr (info, want) != NULL;
}

static gpointer
wake_later (gpointer data)
{
  g_usleep (50 * 1000);
  *(gint *) data = 1;
  g_main_context_wakeup (NULL);
  return NULL;
}

/* With only watches, the poll function's own path runs: GLib's wakeup
 * eventfd is in the epoll set, and a wakeup from another thread ends a
 * blocking round. */
static void
test_one_wait (void)
{
  int epfd = find_fd ("anon_inode:[eventpoll]");
  int wakefd = find_fd ("anon_inode:[eventfd]");
  gint woken = 0;
  GThread *t;

  g_assert_cmpint (epfd, >=, 0);
  g_assert_cmpint (wakefd, >=, 0);
  spin (1);
  g_assert_true (in_epoll_set (epfd, wakefd));
  t = g_thread_new ("waker", wake_later, &woken);
  while (!g_atomic_int_get (&woken))
    g_main_context_iteration (NULL, TRUE);
  g_thread_join (t);
}

/* A GLib source with a descriptor of its own makes the loop poll() for as
 * long as it is there. A socket watch and the fd source each fire on their
 * own event, and only on it. */
static void
test_socket_and_foreign (void)
{
  int sv[2], pv[2];
  Seen ws = { .fd = -1 }, fs = { .fd = -1 };
  XmWatch *w;
  guint src;

  socket_pair (sv);
  g_assert_cmpint (pipe2 (pv, O_NONBLOCK | O_CLOEXEC), ==, 0);
  ws.fd = sv[1];
  fs.fd = pv[0];
  w = xm_watch_add (sv[1], EPOLLIN, on_watch, &ws);
  g_assert_nonnull (w);
  src = g_unix_fd_add (pv[0], G_IO_IN, on_foreign, &fs);
  spin (3);
  g_assert_cmpint (ws.hits, ==, 0);
  g_assert_cmpint (fs.hits, ==, 0);

  g_assert_cmpint (write (pv[1], "x", 1), ==, 1);
  run_until (&fs.hits, 1);
  g_assert_cmpint (fs.revents & G_IO_IN, !=, 0);
  g_assert_cmpint (ws.hits, ==, 0);

  g_assert_cmpint (write (sv[0], "y", 1), ==, 1);
  run_until (&ws.hits, 1);
  g_assert_cmpint (ws.revents & EPOLLIN, !=, 0);
  g_assert_cmpint (fs.hits, ==, 1);

  /* Both at once. */
  g_assert_cmpint (write (pv[1], "x", 1), ==, 1);
  g_assert_cmpint (write (sv[0], "y", 1), ==, 1);
  run_until (&ws.hits, 2);
  run_until (&fs.hits, 2);

  /* A closed writer: the foreign source hears the hang-up. */
  close (pv[1]);
  run_until (&fs.hits, 3);
  g_assert_cmpint (fs.revents & G_IO_HUP, !=, 0);

  g_source_remove (src);
  xm_watch_remove (w);
  close (pv[0]);
  close (sv[0]);
  close (sv[1]);
}

/* A timeout still ends the wait when no descriptor is ready. */
static void
test_timeout (void)
{
  int sv[2];
  Seen ws = { .fd = -1 };
  XmWatch *w;
  gboolean fired = FALSE;
  gint64 t0 = g_get_monotonic_time ();

  socket_pair (sv);
  w = xm_watch_add (sv[1], EPOLLIN, on_watch, &ws);
  g_timeout_add (30, on_timeout, &fired);
  while (!fired)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 25000);
  g_assert_cmpint (ws.hits, ==, 0);
  xm_watch_remove (w);
  close (sv[0]);
  close (sv[1]);
}

/* A source of the same priority as the epoll source but attached before
 * it, so GLib dispatches it first in a round: what its callback removes may
 * already sit in the events the poll function fetched. It has no
 * descriptor (the poll function's own path stays on), and is ready while
 * it has a victim. */
static XmWatch *victim;

static gboolean
early_prepare (GSource *source, gint *timeout)
{
  *timeout = -1;
  return victim != NULL;
}

static gboolean
early_dispatch (GSource *source, GSourceFunc cb, gpointer data)
{
  xm_watch_remove (victim);
  victim = NULL;
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs early_funcs = { early_prepare, NULL, early_dispatch, NULL, NULL, NULL };

static int idle_pair[2];
static Seen idle_seen = { .fd = -1 };
static XmWatch *idle_watch;

/* The early source removes the watch in the round where the poll function
 * fetched the watch's event too. The event must not reach the callback,
 * nor touch freed memory (ASan, MALLOC_PERTURB_). */
static void
test_remove_while_pending (void)
{
  int sv[2];
  Seen ws = { .fd = -1 };
  XmWatch *w;

  socket_pair (sv);
  w = xm_watch_add (sv[1], EPOLLIN, on_watch, &ws);
  spin (2);
  g_assert_cmpint (write (sv[0], "y", 1), ==, 1);
  victim = w;
  spin (1);
  g_assert_null (victim);
  spin (5);
  g_assert_cmpint (ws.hits, ==, 0);
  close (sv[0]);
  close (sv[1]);
}

/* A regular file (which epoll would refuse) as a GLib source: poll() sees
 * it, and after it is gone the watches and a pipe source still fire. */
static void
test_unpollable_foreign (void)
{
  int sv[2], pv[2], file;
  Seen ws = { .fd = -1 }, ps = { .fd = -1 }, fs = { .fd = -1 };
  XmWatch *w;
  guint src_pipe, src_file;

  socket_pair (sv);
  ws.fd = sv[1];
  w = xm_watch_add (sv[1], EPOLLIN, on_watch, &ws);
  g_assert_cmpint (pipe2 (pv, O_NONBLOCK | O_CLOEXEC), ==, 0);
  ps.fd = pv[0];
  src_pipe = g_unix_fd_add (pv[0], G_IO_IN, on_foreign, &ps);
  spin (2);

  file = open ("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (file, >=, 0);
  src_file = g_unix_fd_add (file, G_IO_IN, on_foreign, &fs);
  run_until (&fs.hits, 1); /* a file is always readable */
  g_source_remove (src_file);
  close (file);

  g_assert_cmpint (write (sv[0], "y", 1), ==, 1);
  run_until (&ws.hits, 1);
  g_assert_cmpint (write (pv[1], "x", 1), ==, 1);
  run_until (&ps.hits, 1);
  spin (5);
  g_assert_cmpint (ws.hits, ==, 1);
  g_assert_cmpint (ps.hits, ==, 1);

  g_source_remove (src_pipe);
  xm_watch_remove (w);
  close (pv[0]);
  close (pv[1]);
  close (sv[0]);
  close (sv[1]);
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  g_source_attach (g_source_new (&early_funcs, sizeof (GSource)), NULL); /* before any watch */
  /* Every test runs with the epoll source (and its poll function) in place,
   * as the proxy does once it listens. */
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, idle_pair), ==, 0);
  idle_watch = xm_watch_add (idle_pair[0], EPOLLIN, on_watch, &idle_seen);
  g_assert_nonnull (idle_watch);
  g_test_add_func ("/poller/one-wait", test_one_wait);
  g_test_add_func ("/poller/socket-and-foreign", test_socket_and_foreign);
  g_test_add_func ("/poller/timeout", test_timeout);
  g_test_add_func ("/poller/remove-while-pending", test_remove_while_pending);
  g_test_add_func ("/poller/unpollable-foreign", test_unpollable_foreign);
  rc = g_test_run ();
  xm_watch_remove (idle_watch);
  return rc;
}
