/* proxy.c: accepts clients and keeps the set of live sessions. */
#include "config.h"

#include <errno.h>
#include <unistd.h>

#include "proxy.h"
#include "net.h"
#include "poller.h"
#include "session.h"

#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 500

struct _XmProxy {
  XmProxyConfig config;
  int listen_fd;
  XmWatch *listen_watch;
  guint pause_timer;
  gboolean fd_warned;
  GHashTable *sessions; /* XmSession* set */
  guint next_id;
  gboolean flush_pending; /* sinks hold events of this round */
};

static void
flush_sinks (XmProxy *proxy)
{
  GPtrArray *sinks = proxy->config.sinks;

  proxy->flush_pending = FALSE;
  for (guint i = 0; sinks && i < sinks->len; i++)
    xm_sink_flush (g_ptr_array_index (sinks, i));
}

static void
after_dispatch (gpointer data)
{
  XmProxy *proxy = data;

  if (proxy->flush_pending)
    flush_sinks (proxy);
}

const XmProxyConfig *
xm_proxy_config (XmProxy *proxy)
{
  return &proxy->config;
}

void
xm_proxy_emit (XmProxy *proxy, const XmEvent *event)
{
  GPtrArray *sinks = proxy->config.sinks;

  for (guint i = 0; sinks && i < sinks->len; i++)
    xm_sink_event (g_ptr_array_index (sinks, i), event);
  /* Sinks may batch the events of one round of socket callbacks into one
   * write; events from timers and lookups are flushed at once. */
  if (xm_poller_dispatching ())
    proxy->flush_pending = TRUE;
  else
    flush_sinks (proxy);
}

void
xm_proxy_session_closed (XmProxy *proxy, XmSession *session)
{
  g_hash_table_remove (proxy->sessions, session);
}

static gboolean
resume_accept (gpointer data)
{
  XmProxy *proxy = data;

  proxy->pause_timer = 0;
  if (proxy->listen_watch)
    xm_watch_set_events (proxy->listen_watch, EPOLLIN);
  return G_SOURCE_REMOVE;
}

static void
on_accept (XmWatch *watch, guint32 revents, gpointer data)
{
  XmProxy *proxy = data;

  for (int i = 0; i < ACCEPT_BATCH; i++)
    {
      struct sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      int fd = accept4 (proxy->listen_fd, (struct sockaddr *) &ss, &sl,
                        SOCK_NONBLOCK | SOCK_CLOEXEC);

      if (fd < 0)
        {
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            {
              /* Out of descriptors: pause accepting rather than spin. */
              if (!proxy->fd_warned)
                g_printerr ("xmitm: cannot accept more connections: %s "
                            "(raise the limit with ulimit -n); pausing\n",
                            g_strerror (errno));
              proxy->fd_warned = TRUE;
              xm_watch_set_events (watch, 0);
              proxy->pause_timer = g_timeout_add (ACCEPT_PAUSE_MS, resume_accept, proxy);
            }
          return;
        }
      XmSession *s = xm_session_start (proxy, ++proxy->next_id, fd,
                                       (struct sockaddr *) &ss);
      g_hash_table_add (proxy->sessions, s);
    }
}

XmProxy *
xm_proxy_new (const XmProxyConfig *config, GError **error)
{
  XmProxy *proxy;
  int fd = xm_listen (config->listen_host, config->listen_port, error);

  if (fd < 0)
    return NULL;
  proxy = g_new0 (XmProxy, 1);
  proxy->config = *config;
  proxy->listen_fd = fd;
  proxy->sessions = g_hash_table_new (NULL, NULL);
  proxy->listen_watch = xm_watch_add (fd, EPOLLIN, on_accept, proxy);
  xm_poller_set_after_dispatch (after_dispatch, proxy);
  return proxy;
}

void
xm_proxy_shutdown (XmProxy *proxy, const char *reason)
{
  GList *all;

  if (proxy->listen_watch)
    {
      xm_watch_remove (proxy->listen_watch);
      proxy->listen_watch = NULL;
      close (proxy->listen_fd);
      proxy->listen_fd = -1;
    }
  g_clear_handle_id (&proxy->pause_timer, g_source_remove);
  /* Closing removes each session from the table. */
  all = g_hash_table_get_keys (proxy->sessions);
  for (GList *l = all; l; l = l->next)
    xm_session_close (l->data, reason);
  g_list_free (all);
}

void
xm_proxy_free (XmProxy *proxy)
{
  if (proxy == NULL)
    return;
  xm_proxy_shutdown (proxy, "xmitm stopped");
  xm_poller_set_after_dispatch (NULL, NULL);
  flush_sinks (proxy);
  g_hash_table_unref (proxy->sessions);
  g_free (proxy);
}
