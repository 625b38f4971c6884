/* proxy.c: accepts clients and keeps the set of live sessions. */
#include "config.h"

#include <errno.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/resource.h>

#include "proxy.h"
#include "dialback-link.h"
#include "bosh.h"
#include "net.h"
#include "poller.h"
#include "session.h"
#include "round.h"

#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 500

struct _XmProxy {
  XmProxyConfig config;
  int listen_fd;
  XmWatch *listen_watch;
  guint pause_timer;
  gboolean fd_warned;
  GHashTable *sessions; /* XmSession* set */
  GHashTable *own;      /* "ip:port" of upstream sockets -> count */
  struct sockaddr_storage listen_addr;
  guint next_id;
  GQueue silent;          /* XmProxySilence of sessions, oldest first */
  guint silence_timer;    /* for the oldest */
  gboolean flush_pending; /* sinks hold events of this round */
  XmRound *round;         /* what sessions share within a loop round */
  XmDialbackLinks *dialback; /* XEP-0220 verifications across connections */
  XmBosh *bosh;           /* BOSH sessions across connections */
};

XmBosh *
xm_proxy_bosh (XmProxy *proxy)
{
  return proxy->bosh;
}

XmRound *
xm_proxy_round (XmProxy *proxy)
{
  return proxy->round;
}

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

  g_autofree char *link = NULL;

  for (guint i = 0; sinks && i < sinks->len; i++)
    xm_sink_event (g_ptr_array_index (sinks, i), event);
  /* XEP-0220: a db:verify tied to the connection whose key it checks. */
  link = xm_dialback_links_event (proxy->dialback, event);
  if (link)
    {
      XmEvent note = { .kind = XM_EVENT_NOTE, .conn = event->conn, .dir = event->dir,
                       .flags = event->flags, .time_us = event->time_us,
                       .level = XM_NOTE_INFO, .text = link };

      for (guint i = 0; sinks && i < sinks->len; i++)
        xm_sink_event (g_ptr_array_index (sinks, i), &note);
    }
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

void
xm_proxy_own_endpoint (XmProxy *proxy, const char *endpoint, gboolean add)
{
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (proxy->own, endpoint));

  if (add)
    g_hash_table_insert (proxy->own, g_strdup (endpoint), GUINT_TO_POINTER (n + 1));
  else if (n > 1)
    g_hash_table_insert (proxy->own, g_strdup (endpoint), GUINT_TO_POINTER (n - 1));
  else
    g_hash_table_remove (proxy->own, endpoint);
}

/* ---- clients that have not sent a byte yet ---- */

static gboolean on_silence_timer (gpointer data);

static void
arm_silence_timer (XmProxy *proxy)
{
  XmProxySilence *oldest = (XmProxySilence *) proxy->silent.head;
  gint64 wait;

  if (proxy->silence_timer || oldest == NULL)
    return;
  wait = oldest->deadline - g_get_monotonic_time ();
  proxy->silence_timer = g_timeout_add (wait > 0 ? (guint) ((wait + 999) / 1000) : 0,
                                        on_silence_timer, proxy);
}

/* The oldest whose time is up go (a stale firing, for a session that has
 * left the queue since, just sets the timer for the next). */
static gboolean
on_silence_timer (gpointer data)
{
  XmProxy *proxy = data;
  gint64 now = g_get_monotonic_time ();
  XmProxySilence *w;

  proxy->silence_timer = 0;
  while ((w = (XmProxySilence *) proxy->silent.head) && w->deadline <= now)
    {
      XmSession *s = w->link.data;

      xm_proxy_silence_stop (proxy, w);
      xm_session_silence_expired (s);
    }
  arm_silence_timer (proxy);
  return G_SOURCE_REMOVE;
}

void
xm_proxy_silence_start (XmProxy *proxy, XmProxySilence *w, XmSession *session)
{
  w->link.data = session;
  w->link.prev = w->link.next = NULL;
  w->deadline = g_get_monotonic_time ()
                + (gint64) proxy->config.tls_timeout_s * G_USEC_PER_SEC;
  g_queue_push_tail_link (&proxy->silent, &w->link);
  arm_silence_timer (proxy);
}

void
xm_proxy_silence_stop (XmProxy *proxy, XmProxySilence *w)
{
  if (w->link.data == NULL)
    return;
  g_queue_unlink (&proxy->silent, &w->link);
  w->link.data = NULL;
}

/* One line for a connection refused before it became a session. */
static void
refuse (XmProxy *proxy, int fd, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static void
refuse (XmProxy *proxy, int fd, const char *fmt, ...)
{
  g_autofree char *text = NULL;
  XmEvent ev = { .kind = XM_EVENT_NOTE, .dir = XM_DIR_NONE, .level = XM_NOTE_ERROR,
                 .conn = ++proxy->next_id, .time_us = g_get_real_time () };
  va_list ap;

  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  ev.text = text;
  close (fd);
  xm_proxy_emit (proxy, &ev);
}

/* Transparent mode: starts the session towards where the client was going,
 * or refuses the connection with one line. */
static void
accept_transparent (XmProxy *proxy, int fd, const struct sockaddr *peer)
{
  g_autofree char *from = xm_sockaddr_to_string (peer);
  g_autofree char *to = NULL;
  g_autoptr (GError) error = NULL;
  struct sockaddr_storage dest;
  XmSession *s;

  if (g_hash_table_contains (proxy->own, from))
    {
      refuse (proxy, fd, "refused a connection from %s: redirect loop, it is "
              "xmitm's own upstream connection redirected back to xmitm; "
              "exclude xmitm's traffic from the rule (--mark N with '-m mark ! "
              "--mark N', or run xmitm as its own user with '-m owner ! "
              "--uid-owner USER')", from);
      return;
    }
  if (!xm_original_destination (fd, proxy->config.tproxy, &dest, &error))
    {
      refuse (proxy, fd, "refused a connection from %s: %s", from, error->message);
      return;
    }
  to = xm_sockaddr_to_string ((struct sockaddr *) &dest);
  if (xm_sockaddr_equal ((struct sockaddr *) &dest,
                         (struct sockaddr *) &proxy->listen_addr)
      || (proxy->config.tproxy
          && ((struct sockaddr_in *) &dest)->sin_port
             == ((struct sockaddr_in *) &proxy->listen_addr)->sin_port))
    {
      refuse (proxy, fd, "refused a connection from %s to %s: %s", from, to,
              proxy->config.tproxy
                ? "not redirected: it came straight to xmitm's listener "
                  "(--tproxy serves connections a TPROXY rule diverted)"
                : "redirect loop: its original destination is xmitm's own "
                  "listener");
      return;
    }
  s = xm_session_start (proxy, ++proxy->next_id, fd, peer, (struct sockaddr *) &dest,
                        proxy->config.tproxy ? "TPROXY" : "NAT redirect");
  if (s)
    g_hash_table_add (proxy->sessions, s);
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
              /* Out of descriptors: pause accepting rather than spin; once
               * per episode, say so and with how many connections. */
              if (!proxy->fd_warned)
                {
                  struct rlimit rl = { 0 };
                  int err = errno;

                  getrlimit (RLIMIT_NOFILE, &rl);
                  g_printerr ("xmitm: cannot accept more connections: %s (%u "
                              "connections open, %llu descriptors allowed: raise "
                              "the limit with ulimit -n); new connections wait "
                              "until descriptors are free\n", g_strerror (err),
                              g_hash_table_size (proxy->sessions),
                              (unsigned long long) rl.rlim_cur);
                }
              proxy->fd_warned = TRUE;
              xm_watch_set_events (watch, 0);
              proxy->pause_timer = g_timeout_add (ACCEPT_PAUSE_MS, resume_accept, proxy);
            }
          return;
        }
      if (proxy->fd_warned)
        {
          g_printerr ("xmitm: accepting connections again (%u open)\n",
                      g_hash_table_size (proxy->sessions));
          proxy->fd_warned = FALSE;
        }
      if (proxy->config.transparent)
        {
          accept_transparent (proxy, fd, (struct sockaddr *) &ss);
          continue;
        }
      XmSession *s = xm_session_start (proxy, ++proxy->next_id, fd,
                                       (struct sockaddr *) &ss, NULL, NULL);
      if (s)
        g_hash_table_add (proxy->sessions, s);
    }
}

XmProxy *
xm_proxy_new (const XmProxyConfig *config, GError **error)
{
  XmProxy *proxy;
  int fd = xm_listen (config->listen_host, config->listen_port, config->tproxy, error);
  socklen_t sl = sizeof proxy->listen_addr;

  if (fd < 0)
    return NULL;
  proxy = g_new0 (XmProxy, 1);
  proxy->config = *config;
  proxy->listen_fd = fd;
  getsockname (fd, (struct sockaddr *) &proxy->listen_addr, &sl);
  proxy->own = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  proxy->sessions = g_hash_table_new (NULL, NULL);
  g_queue_init (&proxy->silent);
  proxy->round = xm_round_new ();
  proxy->dialback = xm_dialback_links_new ();
  proxy->bosh = xm_bosh_new ();
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
  g_clear_handle_id (&proxy->silence_timer, g_source_remove);
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
  xm_bosh_free (proxy->bosh);
  g_hash_table_unref (proxy->own);
  xm_round_free (proxy->round);
  xm_dialback_links_free (proxy->dialback);
  g_free (proxy);
}
