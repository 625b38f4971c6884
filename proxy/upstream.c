/* upstream.c: the session's upstream connection: connecting (connect.h,
 * with --mark and --keep-source), and what the client gets when the
 * upstream cannot be reached (RFC 6120 §4.9.3.15). */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "session-private.h"
#include "net.h"

#define ERROR_REPLY_WAIT_MS 2000
#define ERROR_LINGER_MS 5000

/* ---- error reply to the client (RFC 6120 §4.9.3.15) ---- */

/* An HTTP client (WebSocket, BOSH) gets what a gateway answers
 * (RFC 9110 §15.6.3), and the connection closes. */
static void
http_error_reply (XmSession *s)
{
  g_autofree char *text = g_strdup_printf ("xmitm could not connect to %s: %s\n",
                                           s->upstream_name, s->last_connect_error);
  g_autofree char *reply = g_strdup_printf (
    "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen (text), text);

  xm_session_note (s, XM_DIR_S2C, XM_NOTE_INFO,
        "xmitm answered the client's HTTP request with 502 Bad Gateway, then "
        "closed the connection");
  xm_session_send (&s->side[CLIENT], (const guint8 *) reply, strlen (reply));
  if (!closed (s))
    {
      xm_session_shutdown_write (&s->side[CLIENT]);
      xm_session_update_reading (s);
    }
}

void
xm_upstream_error_reply (XmSession *s)
{
  g_autoptr (GString) xml = g_string_new (NULL);
  g_autofree char *to = NULL, *text = NULL, *ns = NULL;

  if (s->error_sent || closed (s))
    return;
  s->error_sent = TRUE;
  g_clear_handle_id (&s->fail_timer, g_source_remove);
  if (xm_observer_web (s->obs))
    {
      http_error_reply (s);
      return;
    }

  text = g_markup_printf_escaped ("xmitm could not connect to %s: %s",
                                  s->upstream_name, s->last_connect_error);
  to = s->client_to ? g_markup_printf_escaped (" from='%s'", s->client_to)
                    : s->tls_name ? g_markup_printf_escaped (" from='%s'", s->tls_name)
                    : g_strdup ("");
  /* The client's namespace, escaped like every value xmitm writes. */
  ns = g_markup_escape_text (s->client_ns ? s->client_ns : "jabber:client", -1);
  /* RFC 6120 §4.9.1.1: even when the error comes first, a stream header. */
  g_string_append_printf (xml,
    "<?xml version='1.0'?>"
    "<stream:stream xmlns='%s' xmlns:stream='" NS_STREAM "'%s"
    " id='xmitm-%u' version='1.0'>"
    "<stream:error><remote-connection-failed xmlns='" NS_STREAMS_ERR "'/>"
    "<text xmlns='" NS_STREAMS_ERR "'>%s</text></stream:error>"
    "</stream:stream>",
    ns, to, s->id, text);
  xm_session_note (s, XM_DIR_S2C, XM_NOTE_INFO,
        "xmitm sent the client a stream header and <stream:error> "
        "<remote-connection-failed/>, then closed the stream");
  xm_session_send (&s->side[CLIENT], (const guint8 *) xml->str, xml->len);
  if (!closed (s))
    {
      xm_session_shutdown_write (&s->side[CLIENT]);
      xm_session_update_reading (s);
    }
}

static gboolean
on_fail_timer (gpointer data)
{
  XmSession *s = data;

  s->fail_timer = 0;
  if (!s->error_sent)
    {
      xm_upstream_error_reply (s);
      s->fail_timer = g_timeout_add (ERROR_LINGER_MS, on_fail_timer, s);
    }
  else
    xm_session_end (s, "the client did not close after the stream error", FALSE);
  return G_SOURCE_REMOVE;
}

static void
upstream_failed (XmSession *s)
{
  Side *c = &s->side[CLIENT];

  xm_session_note (s, XM_DIR_NONE, XM_NOTE_ERROR, "cannot connect to upstream %s: %s",
        s->upstream_name, s->last_connect_error);
  s->phase = PHASE_FAILING;
  xm_leg_close (s->side[SERVER].leg, FALSE);
  if (tls_pending (c))
    {
      /* A direct-TLS client waits in its handshake: finish it with a leaf
       * made without the upstream's names, so the error reaches it. */
      XmCa *ca = xm_proxy_config (s->proxy)->ca;
      g_autofree char *how = NULL;
      g_autoptr (X509) leaf = xm_layer_tls_forge (ca, s->tls_name, NULL, &how);
      if (leaf == NULL)
        {
          xm_session_end (s, how, FALSE);
          return;
        }
      xm_layer_tls_set_leaf (tls_layer (c), leaf, xm_ca_leaf_key (ca), NULL);
      if (closed (s))
        return;
    }
  if (s->client_header_seen || xm_observer_web (s->obs) || xm_leg_eof (c->leg))
    xm_upstream_error_reply (s);
  else
    s->fail_timer = g_timeout_add (ERROR_REPLY_WAIT_MS, on_fail_timer, s);
  if (!closed (s))
    xm_session_update_reading (s);
}

/* ---- upstream connect ---- */

/* --mark, and --keep-source (TPROXY): the upstream socket leaves from the
 * client's address. */
static gboolean
upstream_socket_options (int fd, int family, char **why, gpointer data)
{
  XmSession *s = data;
  const XmProxyConfig *cfg = xm_proxy_config (s->proxy);

  if (cfg->use_mark && setsockopt (fd, SOL_SOCKET, SO_MARK, &cfg->mark,
                                   sizeof cfg->mark) < 0)
    {
      *why = g_strdup_printf ("cannot set --mark: %s", g_strerror (errno));
      return FALSE;
    }
  if (cfg->keep_source && s->transparent)
    {
      struct sockaddr_storage src = s->client_addr;
      int one = 1;
      socklen_t len = family == AF_INET6 ? sizeof (struct sockaddr_in6)
                                         : sizeof (struct sockaddr_in);

      if (src.ss_family != family)
        {
          *why = g_strdup ("--keep-source: the client and the destination are "
                           "of different IP versions");
          return FALSE;
        }
      /* Port 0: the client's own port may still be in use towards us. */
      if (family == AF_INET6)
        ((struct sockaddr_in6 *) &src)->sin6_port = 0;
      else
        ((struct sockaddr_in *) &src)->sin_port = 0;
      if (setsockopt (fd, family == AF_INET6 ? SOL_IPV6 : SOL_IP,
                      family == AF_INET6 ? IPV6_TRANSPARENT : IP_TRANSPARENT,
                      &one, sizeof one) < 0
          || bind (fd, (struct sockaddr *) &src, len) < 0)
        {
          *why = g_strdup_printf ("--keep-source: cannot use the client's "
                                  "address %s: %s", s->client_name, g_strerror (errno));
          return FALSE;
        }
    }
  return TRUE;
}

/* The proxy refuses connections from this endpoint: they would be xmitm's
 * own upstream connection redirected back to it. */
static void
remember_own_endpoint (int fd, gpointer data)
{
  XmSession *s = data;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;

  if (getsockname (fd, (struct sockaddr *) &ss, &sl) != 0)
    return;
  xm_upstream_forget_endpoint (s);
  s->own_endpoint = xm_sockaddr_to_string ((struct sockaddr *) &ss);
  xm_proxy_own_endpoint (s->proxy, s->own_endpoint, TRUE);
}

static void
upstream_connected (XmSession *s, int fd, const char *via)
{
  Side *u = &s->side[SERVER];
  g_autofree char *addr = NULL;
  g_autoptr (GError) error = NULL;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;

  s->upstream = UPSTREAM_CONNECTED;
  if (getpeername (fd, (struct sockaddr *) &ss, &sl) == 0)
    addr = xm_sockaddr_to_string ((struct sockaddr *) &ss);
  xm_session_note (s, XM_DIR_NONE, XM_NOTE_INFO, "upstream %s connected (%s) in %.1f ms%s%s",
        s->upstream_name, addr ? addr : "?",
        (g_get_monotonic_time () - s->connect_start) / 1000.0,
        via ? " via " : "", via ? via : "");
  if (!xm_leg_attach (u->leg, fd, &error))
    {
      close (fd);
      xm_session_end (s, error->message, FALSE);
      return;
    }
  if (s->intercept == INTERCEPT_DIRECT && s->tls_name)
    xm_intercept_upstream (s);
  if (!closed (s))
    xm_session_update_reading (s);
}

static void
on_connect_done (int fd, const char *error, gpointer data)
{
  XmSession *s = xm_session_ref (data);
  const XmSrvTarget *t = fd >= 0 ? xm_connect_target (s->connect) : NULL;
  g_autofree char *via = t ? g_strdup (t->via) : NULL;
  g_autofree char *before = t ? g_strdup (xm_connect_failed_first (s->connect)) : NULL;

  if (fd < 0)
    {
      s->upstream = UPSTREAM_FAILED;
      g_free (s->last_connect_error);
      s->last_connect_error = g_strdup (error);
    }
  g_clear_pointer (&s->connect, xm_connect_free); /* error is its: copied */
  if (fd < 0)
    upstream_failed (s);
  else
    {
      if (before)
        xm_session_note (s, XM_DIR_NONE, XM_NOTE_INFO, "upstream %s: tried first: %s",
                         s->upstream_name, before);
      upstream_connected (s, fd, via);
    }
  xm_session_unref (s);
}

static const XmConnectEvents connect_events = {
  .socket_options = upstream_socket_options,
  .attempt = remember_own_endpoint,
  .done = on_connect_done,
};

void
xm_upstream_connect (XmSession *s, const char *host, guint16 port)
{
  guint timeout_s = xm_proxy_config (s->proxy)->connect_timeout_s;

  s->connect_start = g_get_monotonic_time ();
  s->upstream = UPSTREAM_CONNECTING;
  if (port == 0)
    {
      /* A domain: xmitm relays bytes, it does not translate between
       * STARTTLS and direct TLS, so the client's choice picks the records
       * (a client that opens with a ClientHello, the direct-TLS ones). */
      s->upstream_name = g_strdup (host);
      s->connect = xm_connect_start_domain (host, s->intercept == INTERCEPT_DIRECT
                                                  ? XM_SRV_DIRECT : XM_SRV_STARTTLS,
                                            timeout_s, &connect_events, s);
      return;
    }
  s->upstream_name = xm_hostport_to_string (host, port);
  s->connect = xm_connect_start (host, port, timeout_s, &connect_events, s);
}

void
xm_upstream_refuse (XmSession *s, const char *why)
{
  s->upstream = UPSTREAM_FAILED;
  g_free (s->upstream_name);
  s->upstream_name = g_strdup (s->dest_host);
  g_free (s->last_connect_error);
  s->last_connect_error = g_strdup (why);
  upstream_failed (s);
}

void
xm_upstream_forget_endpoint (XmSession *s)
{
  if (s->own_endpoint)
    xm_proxy_own_endpoint (s->proxy, s->own_endpoint, FALSE);
  g_clear_pointer (&s->own_endpoint, g_free);
}

