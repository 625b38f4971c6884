/* connect.c: see connect.h. */
#include "config.h"

#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>
#include <gio/gio.h>

#include "connect.h"
#include "net.h"
#include "poller.h"
#include "srv.h"

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

  /* A domain (xm_connect_start_domain): its SRV targets, one after the
   * other, each resolved and tried like a HOST:PORT. */
  char *domain;
  XmSrvWant want;
  int lookups;           /* SRV lookups not answered yet */
  GList *records[2];     /* _xmpp-client's and _xmpps-client's answers */
  GError *lookup_error[2];
  GPtrArray *targets;    /* XmSrvTarget */
  guint target;          /* the one being tried */
  GString *attempts;     /* "via: why" of each target that failed */
};

static void try_next (XmConnect *c);
static void addresses_done (XmConnect *c);

static void
unref (XmConnect *c)
{
  if (--c->ref_count > 0)
    return;
  g_list_free_full (c->addrs, g_object_unref);
  g_clear_object (&c->cancel);
  g_free (c->error);
  g_free (c->domain);
  for (int i = 0; i < 2; i++)
    {
      g_list_free_full (c->records[i], (GDestroyNotify) g_variant_unref);
      g_clear_error (&c->lookup_error[i]);
    }
  g_clear_pointer (&c->targets, g_ptr_array_unref);
  if (c->attempts)
    g_string_free (c->attempts, TRUE);
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
  addresses_done (c);
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
          addresses_done (c);
        }
      else
        use_addresses (c, ips);
    }
  g_resolver_free_addresses (ips);
  unref (c);
}

/* host:port's addresses, then each in turn (an address literal from an
 * idle callback, so done never comes before xm_connect_start returns). */
static void
resolve_host (XmConnect *c, const char *host, guint16 port)
{
  g_autoptr (GInetAddress) ip = g_inet_address_new_from_string (host);
  g_autoptr (GResolver) resolver = NULL;

  g_list_free_full (c->addrs, g_object_unref);
  c->addrs = c->next = NULL;
  c->port = port;
  set_error (c, g_strdup ("no address to connect to"));
  if (ip)
    {
      c->addrs = g_list_prepend (NULL, g_inet_socket_address_new (ip, port));
      c->next = c->addrs;
      c->start_idle = g_idle_add_full (G_PRIORITY_HIGH, start_literal, c, NULL);
      return;
    }
  if (c->cancel == NULL)
    c->cancel = g_cancellable_new ();
  c->ref_count++;
  resolver = g_resolver_get_default ();
  g_resolver_lookup_by_name_async (resolver, host, c->cancel, on_resolved, c);
}

static XmConnect *
connect_new (guint timeout_s, const XmConnectEvents *events, gpointer user_data)
{
  XmConnect *c = g_new0 (XmConnect, 1);

  c->ref_count = 1;
  c->events = events;
  c->user_data = user_data;
  c->timeout_s = timeout_s;
  c->fd = -1;
  return c;
}

XmConnect *
xm_connect_start (const char *host, guint16 port, guint timeout_s,
                  const XmConnectEvents *events, gpointer user_data)
{
  XmConnect *c = connect_new (timeout_s, events, user_data);

  resolve_host (c, host, port);
  return c;
}

/* ---- a domain: SRV targets in turn ---- */

static void
next_target (XmConnect *c)
{
  XmSrvTarget *t;

  if (c->target >= c->targets->len)
    {
      /* Every target failed: the error names each attempt. */
      set_error (c, g_strdup_printf ("%s%s", c->targets->len > 1 ? "no target answered: "
                                                                 : "", c->attempts->str));
      finish (c, -1);
      return;
    }
  t = g_ptr_array_index (c->targets, c->target);
  resolve_host (c, t->host, t->port);
}

/* The addresses of the host being tried are used up: with a plain
 * HOST:PORT that is the end; with a domain, the next SRV target. */
static void
addresses_done (XmConnect *c)
{
  XmSrvTarget *t;

  if (c->targets == NULL)
    {
      finish (c, -1);
      return;
    }
  t = g_ptr_array_index (c->targets, c->target);
  g_string_append_printf (c->attempts, "%s%s: %s", c->attempts->len ? "; " : "",
                          t->via, c->error);
  c->target++;
  next_target (c);
}

static void
plan (XmConnect *c)
{
  XmSrvAnswer answers[2];
  g_autofree char *why = NULL;

  for (int i = 0; i < 2; i++)
    xm_srv_answer_from (&answers[i], c->records[i], c->lookup_error[i]);
  c->targets = xm_srv_plan (c->domain, c->want, answers, &why);
  if (c->targets == NULL)
    {
      set_error (c, g_steal_pointer (&why));
      finish (c, -1);
      return;
    }
  c->attempts = g_string_new (NULL);
  c->target = 0;
  next_target (c);
}

static void
srv_answered (XmConnect *c, int i, GObject *source, GAsyncResult *res)
{
  c->records[i] = g_resolver_lookup_records_finish (G_RESOLVER (source), res,
                                                    &c->lookup_error[i]);
  if (--c->lookups == 0 && !c->stopped)
    plan (c);
  unref (c);
}

static void
on_srv_starttls (GObject *source, GAsyncResult *res, gpointer data)
{
  srv_answered (data, 0, source, res);
}

static void
on_srv_direct (GObject *source, GAsyncResult *res, gpointer data)
{
  srv_answered (data, 1, source, res);
}

XmConnect *
xm_connect_start_domain (const char *domain, XmSrvWant want, guint timeout_s,
                         const XmConnectEvents *events, gpointer user_data)
{
  XmConnect *c = connect_new (timeout_s, events, user_data);
  g_autoptr (GResolver) resolver = g_resolver_get_default ();

  c->domain = g_strdup (domain);
  c->want = want;
  c->cancel = g_cancellable_new ();
  /* Both lookups at once; the plan waits for both (XEP-0368 merges them).
   * The raw records, not g_resolver_lookup_service(): GLib 2.74 gives a
   * "." answer there as one target with an empty host name and port 0 (its
   * list sort looks for "."), and the same error for NXDOMAIN as for a
   * name with no SRV record; srv.c needs "." told apart from "nothing". */
  for (int i = 0; i < 2; i++)
    if (want & (i ? XM_SRV_DIRECT : XM_SRV_STARTTLS))
      {
        g_autofree char *name = xm_srv_name (domain, i);

        c->lookups++;
        c->ref_count++;
        g_resolver_lookup_records_async (resolver, name, G_RESOLVER_RECORD_SRV,
                                         c->cancel, i ? on_srv_direct : on_srv_starttls,
                                         c);
      }
  return c;
}

const char *
xm_connect_failed_first (XmConnect *c)
{
  return c->attempts && c->attempts->len ? c->attempts->str : NULL;
}

const XmSrvTarget *
xm_connect_target (XmConnect *c)
{
  if (c->targets == NULL || c->target >= c->targets->len)
    return NULL;
  return g_ptr_array_index (c->targets, c->target);
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
