/* connect.c: see connect.h. */
#include "config.h"

#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>
#include <gio/gio.h>

#include "connect.h"
#include "net.h"
#include "poller.h"

struct _XmConnect {
  gint ref_count;      /* the caller's, and a pending resolve's */
  gboolean stopped;
  const XmConnectEvents *events;
  gpointer user_data;
  guint16 port;
  guint timeout_s;
  GCancellable *cancel;
  GList *addrs;        /* GInetSocketAddress, owned */
  GList *next;
  int fd;
  XmWatch *watch;
  guint timer;
  char *error;         /* why the last attempt failed */
  guint start_idle;    /* an address literal: the first attempt, from the
                        * loop (done is never called before start returns) */
};

static void try_next (XmConnect *c);

static void
unref (XmConnect *c)
{
  if (--c->ref_count > 0)
    return;
  g_list_free_full (c->addrs, g_object_unref);
  g_clear_object (&c->cancel);
  g_free (c->error);
  g_free (c);
}

static void
set_error (XmConnect *c, char *why)
{
  g_free (c->error);
  c->error = why;
}

static void
drop_attempt (XmConnect *c)
{
  g_clear_handle_id (&c->timer, g_source_remove);
  g_clear_pointer (&c->watch, xm_watch_remove);
  if (c->fd >= 0)
    close (c->fd);
  c->fd = -1;
}

static void
finish (XmConnect *c, int fd)
{
  c->stopped = TRUE;
  c->events->done (fd, fd >= 0 ? NULL : c->error, c->user_data);
}

static void
attempt_failed (XmConnect *c, char *why)
{
  set_error (c, why);
  drop_attempt (c);
  try_next (c);
}

static gboolean
on_timeout (gpointer data)
{
  XmConnect *c = data;

  c->timer = 0;
  attempt_failed (c, g_strdup_printf ("no answer within %u s (see --connect-timeout)",
                                      c->timeout_s));
  return G_SOURCE_REMOVE;
}

static void
on_writable (XmWatch *watch, guint32 revents, gpointer data)
{
  XmConnect *c = data;
  int err = 0, fd;
  socklen_t len = sizeof err;

  if (getsockopt (c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    err = errno;
  if (err == 0 && (revents & EPOLLERR))
    err = ECONNREFUSED;
  if (err)
    {
      attempt_failed (c, g_strdup (g_strerror (err)));
      return;
    }
  fd = c->fd;
  c->fd = -1;
  drop_attempt (c);
  finish (c, fd);
}

static void
try_next (XmConnect *c)
{
  while (c->next)
    {
      GSocketAddress *sa = c->next->data;
      struct sockaddr_storage ss;
      char *why = NULL;
      int fd;

      c->next = c->next->next;
      if (!g_socket_address_to_native (sa, &ss, sizeof ss, NULL))
        continue;
      fd = socket (ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0)
        {
          set_error (c, g_strdup (g_strerror (errno)));
          continue;
        }
      xm_socket_setup (fd);
      if (c->events->socket_options
          && !c->events->socket_options (fd, ss.ss_family, &why, c->user_data))
        {
          set_error (c, why);
          close (fd);
          continue;
        }
      if (connect (fd, (struct sockaddr *) &ss, g_socket_address_get_native_size (sa)) < 0
          && errno != EINPROGRESS)
        {
          set_error (c, g_strdup (g_strerror (errno)));
          close (fd);
          continue;
        }
      c->fd = fd;
      if (c->events->attempt)
        c->events->attempt (fd, c->user_data);
      c->watch = xm_watch_add (fd, EPOLLOUT, on_writable, c);
      if (c->timeout_s)
        c->timer = g_timeout_add_seconds (c->timeout_s, on_timeout, c);
      return;
    }
  finish (c, -1);
}

static void
use_addresses (XmConnect *c, GList *ips)
{
  for (GList *l = ips; l; l = l->next)
    c->addrs = g_list_prepend (c->addrs, g_inet_socket_address_new (l->data, c->port));
  c->addrs = g_list_reverse (c->addrs);
  c->next = c->addrs;
  try_next (c);
}

static gboolean
start_literal (gpointer data)
{
  XmConnect *c = data;

  c->start_idle = 0;
  try_next (c);
  return G_SOURCE_REMOVE;
}

static void
on_resolved (GObject *source, GAsyncResult *res, gpointer data)
{
  XmConnect *c = data;
  g_autoptr (GError) error = NULL;
  GList *ips = g_resolver_lookup_by_name_finish (G_RESOLVER (source), res, &error);

  if (!c->stopped)
    {
      if (ips == NULL)
        {
          set_error (c, g_strdup_printf ("cannot resolve the name: %s", error->message));
          finish (c, -1);
        }
      else
        use_addresses (c, ips);
    }
  g_resolver_free_addresses (ips);
  unref (c);
}

XmConnect *
xm_connect_start (const char *host, guint16 port, guint timeout_s,
                  const XmConnectEvents *events, gpointer user_data)
{
  XmConnect *c = g_new0 (XmConnect, 1);
  g_autoptr (GInetAddress) ip = g_inet_address_new_from_string (host);
  g_autoptr (GResolver) resolver = NULL;

  c->ref_count = 1;
  c->events = events;
  c->user_data = user_data;
  c->port = port;
  c->timeout_s = timeout_s;
  c->fd = -1;
  c->error = g_strdup ("no address to connect to");
  if (ip)
    {
      c->addrs = g_list_prepend (NULL, g_inet_socket_address_new (ip, port));
      c->next = c->addrs;
      c->start_idle = g_idle_add_full (G_PRIORITY_HIGH, start_literal, c, NULL);
      return c;
    }
  c->cancel = g_cancellable_new ();
  c->ref_count++;
  resolver = g_resolver_get_default ();
  g_resolver_lookup_by_name_async (resolver, host, c->cancel, on_resolved, c);
  return c;
}

void
xm_connect_free (XmConnect *c)
{
  if (c == NULL)
    return;
  c->stopped = TRUE;
  g_clear_handle_id (&c->start_idle, g_source_remove);
  drop_attempt (c);
  if (c->cancel)
    g_cancellable_cancel (c->cancel);
  unref (c);
}
