/* session.c: one client/upstream pair.
 *
 * Byte path per direction: recv into a shared scratch buffer, feed the bytes
 * to the direction's framer (which only reads them), then send the same
 * bytes to the other leg. Only what the other leg cannot take right now is
 * copied, into that leg's bounded out queue; while the queue is above
 * OUT_HIGH the source leg is not read (back-pressure), so memory per
 * session is bounded whatever the peers do. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <gio/gio.h>

#include "session.h"
#include "net.h"
#include "poller.h"
#include "xml-framer.h"

#define NS_STREAM "http://etherx.jabber.org/streams"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_COMPRESS "http://jabber.org/protocol/compress"
#define NS_STREAMS_ERR "urn:ietf:params:xml:ns:xmpp-streams"

#define READ_CHUNK (64 * 1024)
#define OUT_HIGH (256 * 1024)
#define ERROR_REPLY_WAIT_MS 2000
#define ERROR_LINGER_MS 5000

enum { CLIENT = 0, SERVER = 1 };

typedef struct {
  XmSession *s;
  int side;            /* CLIENT or SERVER */
  int fd;
  XmWatch *watch;
  GByteArray *out;     /* bytes for this fd that it could not take yet */
  gsize out_off;
  gboolean eof;        /* the peer finished sending (FIN) */
  gboolean shut;       /* we shut down writing to it */
  gboolean shut_pending;
} Leg;

typedef enum {
  FLOW_XML,
  FLOW_OPAQUE, /* a layer xmitm cannot decode yet: bytes are counted only */
} FlowMode;

typedef struct {
  XmSession *s;
  XmDir dir;
  XmFramer *framer;
  FlowMode mode;
  guint64 bytes;
  guint64 opaque_bytes;
} Flow;

struct _XmSession {
  gint ref_count;
  XmProxy *proxy;
  guint id;
  Leg leg[2];
  Flow flow[2];

  char *client_name;
  char *upstream_name;
  gint64 now;

  /* Upstream connect. */
  gboolean connected;
  GCancellable *cancel;
  GList *addrs;        /* GInetSocketAddress, owned */
  GList *addr_next;
  char *last_connect_error;
  guint connect_timer;
  gint64 connect_start;

  /* Upstream failure: a stream error for the client. */
  gboolean failing;
  gboolean error_sent;
  guint fail_timer;
  char *client_to;     /* the 'to' of the client's stream header */
  char *client_ns;     /* its default namespace */
  gboolean client_header_seen;

  gboolean closed;
};

static guint8 scratch[READ_CHUNK];

static void update_events (XmSession *s);
static void connect_next (XmSession *s);
static gboolean send_to (Leg *leg, const guint8 *data, gsize len);

static XmSession *
session_ref (XmSession *s)
{
  s->ref_count++;
  return s;
}

static void
session_unref (XmSession *s)
{
  if (--s->ref_count > 0)
    return;
  for (int i = 0; i < 2; i++)
    {
      g_clear_pointer (&s->flow[i].framer, xm_framer_free);
      if (s->leg[i].out)
        g_byte_array_unref (s->leg[i].out);
    }
  g_list_free_full (s->addrs, g_object_unref);
  g_clear_object (&s->cancel);
  g_free (s->client_name);
  g_free (s->upstream_name);
  g_free (s->last_connect_error);
  g_free (s->client_to);
  g_free (s->client_ns);
  g_free (s);
}

/* ---- events ---- */

static void
emit (XmSession *s, XmEvent *ev)
{
  ev->conn = s->id;
  if (ev->time_us == 0)
    ev->time_us = s->now ? s->now : g_get_real_time ();
  xm_proxy_emit (s->proxy, ev);
}

static void
note (XmSession *s, XmDir dir, XmNoteLevel level, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);

static void
note (XmSession *s, XmDir dir, XmNoteLevel level, const char *fmt, ...)
{
  g_autofree char *text = NULL;
  XmEvent ev = { .kind = XM_EVENT_NOTE, .dir = dir, .level = level };
  va_list ap;

  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  ev.text = text;
  emit (s, &ev);
}

static void
layer (XmSession *s, XmDir dir, const char *text)
{
  XmEvent ev = { .kind = XM_EVENT_LAYER, .dir = dir, .text = text };
  emit (s, &ev);
}

/* ---- closing ---- */

static gboolean
free_later (gpointer data)
{
  session_unref (data);
  return G_SOURCE_REMOVE;
}

static void
close_leg (Leg *leg, gboolean abort)
{
  if (leg->watch)
    {
      xm_watch_remove (leg->watch);
      leg->watch = NULL;
    }
  if (leg->fd >= 0)
    {
      if (abort)
        {
          /* Pass a reset on as a reset: linger 0 makes close() send RST. */
          struct linger lg = { 1, 0 };
          setsockopt (leg->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
      close (leg->fd);
      leg->fd = -1;
    }
}

static void
close_session (XmSession *s, const char *reason, gboolean abort)
{
  XmEvent ev = { .kind = XM_EVENT_CONN_CLOSE };
  g_autofree char *text = NULL;

  if (s->closed)
    return;
  s->closed = TRUE;
  g_cancellable_cancel (s->cancel);
  g_clear_handle_id (&s->connect_timer, g_source_remove);
  g_clear_handle_id (&s->fail_timer, g_source_remove);
  close_leg (&s->leg[CLIENT], abort);
  close_leg (&s->leg[SERVER], abort);

  if (s->flow[XM_DIR_C2S].opaque_bytes || s->flow[XM_DIR_S2C].opaque_bytes)
    text = g_strdup_printf ("%s; relayed without decoding: %" G_GUINT64_FORMAT
                            " bytes from the client, %" G_GUINT64_FORMAT
                            " bytes from the server", reason,
                            s->flow[XM_DIR_C2S].opaque_bytes,
                            s->flow[XM_DIR_S2C].opaque_bytes);
  ev.text = text ? text : reason;
  ev.bytes[XM_DIR_C2S] = s->flow[XM_DIR_C2S].bytes;
  ev.bytes[XM_DIR_S2C] = s->flow[XM_DIR_S2C].bytes;
  s->now = 0;
  emit (s, &ev);

  xm_proxy_session_closed (s->proxy, s);
  /* Callbacks of this session may still be on the stack. */
  g_idle_add_full (G_PRIORITY_HIGH, free_later, s, NULL);
}

void
xm_session_close (XmSession *s, const char *reason)
{
  close_session (s, reason, FALSE);
}

static const char *
side_name (int side)
{
  return side == CLIENT ? "client" : "server";
}

static gboolean
out_pending (const Leg *leg)
{
  return leg->out && leg->out->len > leg->out_off;
}

static gsize
out_len (const Leg *leg)
{
  return leg->out ? leg->out->len - leg->out_off : 0;
}

static void
check_done (XmSession *s)
{
  Leg *c = &s->leg[CLIENT], *u = &s->leg[SERVER];

  if (s->closed)
    return;
  if (s->failing)
    {
      if (c->eof && !out_pending (c))
        close_session (s, "client closed after the stream error", FALSE);
      return;
    }
  if (c->eof && u->eof && !out_pending (c) && !out_pending (u))
    close_session (s, "both sides closed", FALSE);
}

static void
shutdown_write (Leg *leg)
{
  if (leg->shut || leg->fd < 0)
    return;
  if (out_pending (leg) || (leg->side == SERVER && !leg->s->connected))
    {
      leg->shut_pending = TRUE;
      return;
    }
  shutdown (leg->fd, SHUT_WR);
  leg->shut = TRUE;
  leg->shut_pending = FALSE;
}

/* ---- error reply to the client (RFC 6120 §4.9.3.15) ---- */

static void
send_error_reply (XmSession *s)
{
  g_autoptr (GString) xml = g_string_new (NULL);
  g_autofree char *to = NULL, *text = NULL;

  if (s->error_sent || s->closed)
    return;
  s->error_sent = TRUE;
  g_clear_handle_id (&s->fail_timer, g_source_remove);

  text = g_markup_printf_escaped ("xmitm could not connect to %s: %s",
                                  s->upstream_name, s->last_connect_error);
  to = s->client_to ? g_markup_printf_escaped (" from='%s'", s->client_to)
                    : g_strdup ("");
  /* RFC 6120 §4.9.1.1: even when the error comes first, a stream header. */
  g_string_append_printf (xml,
    "<?xml version='1.0'?>"
    "<stream:stream xmlns='%s' xmlns:stream='" NS_STREAM "'%s"
    " id='xmitm-%u' version='1.0'>"
    "<stream:error><remote-connection-failed xmlns='" NS_STREAMS_ERR "'/>"
    "<text xmlns='" NS_STREAMS_ERR "'>%s</text></stream:error>"
    "</stream:stream>",
    s->client_ns ? s->client_ns : "jabber:client", to, s->id, text);
  note (s, XM_DIR_S2C, XM_NOTE_INFO,
        "xmitm sent the client a stream header and <stream:error> "
        "<remote-connection-failed/>, then closed the stream");
  if (send_to (&s->leg[CLIENT], (const guint8 *) xml->str, xml->len))
    shutdown_write (&s->leg[CLIENT]);
  update_events (s);
}

static gboolean
on_fail_timer (gpointer data)
{
  XmSession *s = data;

  s->fail_timer = 0;
  if (!s->error_sent)
    {
      send_error_reply (s);
      s->fail_timer = g_timeout_add (ERROR_LINGER_MS, on_fail_timer, s);
    }
  else
    close_session (s, "the client did not close after the stream error", FALSE);
  return G_SOURCE_REMOVE;
}

static void
upstream_failed (XmSession *s)
{
  Leg *u = &s->leg[SERVER];

  note (s, XM_DIR_NONE, XM_NOTE_ERROR, "cannot connect to upstream %s: %s",
        s->upstream_name, s->last_connect_error);
  s->failing = TRUE;
  close_leg (u, FALSE);
  if (u->out)
    g_byte_array_set_size (u->out, 0);
  u->out_off = 0;
  if (s->client_header_seen || s->leg[CLIENT].eof)
    send_error_reply (s);
  else
    s->fail_timer = g_timeout_add (ERROR_REPLY_WAIT_MS, on_fail_timer, s);
  update_events (s);
}

/* ---- negotiation: where layers change ---- */

static void
go_opaque (XmSession *s, const char *why)
{
  s->flow[XM_DIR_C2S].mode = FLOW_OPAQUE;
  s->flow[XM_DIR_S2C].mode = FLOW_OPAQUE;
  layer (s, XM_DIR_S2C, why);
}

/* Called for every stanza before it is forwarded. RFC 6120 §5.4.3.3: after
 * <proceed/> both sides start TLS at the next byte; §6.4.6: after SASL
 * <success/> both restart the stream; XEP-0138 §6: after <compressed/> both
 * directions are zlib streams. */
static void
negotiate (XmSession *s, Flow *flow, const XmStanza *st)
{
  const XmNode *root = st->root;

  if (root == NULL || flow->dir != XM_DIR_S2C)
    return;
  if (xm_node_is (root, NS_TLS, "proceed"))
    {
      xm_framer_restart_after (flow->framer);
      go_opaque (s, "STARTTLS: the server sent <proceed/>; this build does "
                    "not intercept TLS, so the rest of the connection is "
                    "relayed as opaque encrypted bytes");
    }
  else if (xm_node_is (root, NS_SASL, "success"))
    {
      xm_framer_restart_after (flow->framer);
      xm_framer_reset (s->flow[XM_DIR_C2S].framer);
      layer (s, XM_DIR_S2C, "SASL success: both streams restart");
    }
  else if (xm_node_is (root, NS_COMPRESS, "compressed"))
    {
      xm_framer_restart_after (flow->framer);
      go_opaque (s, "XEP-0138: the server sent <compressed/>; this build "
                    "does not inflate zlib streams, so the rest is relayed "
                    "as opaque compressed bytes");
    }
}

/* ---- framer callbacks ---- */

static void
on_stream_open (XmStanza *header, gpointer user_data)
{
  Flow *flow = user_data;
  XmSession *s = flow->s;
  XmEvent ev = { .kind = XM_EVENT_STREAM_OPEN, .dir = flow->dir, .stanza = header };

  emit (s, &ev);
  if (flow->dir == XM_DIR_C2S && header->root)
    {
      const XmNode *h = header->root;
      g_free (s->client_to);
      s->client_to = g_strdup (xm_node_attr (h, "to"));
      g_clear_pointer (&s->client_ns, g_free);
      for (guint i = 0; i < h->n_ns_decls; i++)
        if (h->ns_decls[i].prefix == NULL)
          s->client_ns = g_strdup (h->ns_decls[i].uri);
      s->client_header_seen = TRUE;
      if (s->failing)
        send_error_reply (s);
    }
}

static void
on_stanza (XmStanza *stanza, gpointer user_data)
{
  Flow *flow = user_data;
  XmEvent ev = { .kind = XM_EVENT_STANZA, .dir = flow->dir, .stanza = stanza };

  emit (flow->s, &ev);
  negotiate (flow->s, flow, stanza);
}

static void
on_keepalive (gsize n, gpointer user_data)
{
  Flow *flow = user_data;
  XmEvent ev = { .kind = XM_EVENT_KEEPALIVE, .dir = flow->dir, .count = n };

  emit (flow->s, &ev);
}

static void
on_stream_close (guint64 offset, gpointer user_data)
{
  Flow *flow = user_data;
  XmEvent ev = { .kind = XM_EVENT_STREAM_CLOSE, .dir = flow->dir };

  emit (flow->s, &ev);
}

static void
on_problem (XmFramerProblem kind, guint64 offset, const char *message,
            gpointer user_data)
{
  Flow *flow = user_data;

  note (flow->s, flow->dir,
        kind == XM_FRAMER_MALFORMED ? XM_NOTE_ERROR : XM_NOTE_WARNING,
        "%s (at byte %" G_GUINT64_FORMAT " of this direction)", message, offset);
}

static const XmFramerEvents framer_events = {
  on_stream_open, on_stanza, on_keepalive, on_stream_close, on_problem,
};

/* ---- the byte path ---- */

static void
decode (XmSession *s, Flow *flow, const guint8 *data, gsize len)
{
  gsize pos = 0;

  if (flow->dir == XM_DIR_C2S && flow->bytes == len && flow->mode == FLOW_XML
      && len >= 3 && data[0] == 0x16 && data[1] == 0x03)
    {
      /* A TLS handshake record as the very first bytes: XEP-0368 direct TLS. */
      go_opaque (s, "the client opened with a TLS ClientHello (XEP-0368 "
                    "direct TLS); this build does not intercept TLS, so the "
                    "connection is relayed as opaque encrypted bytes");
    }
  while (pos < len)
    {
      if (flow->mode == FLOW_OPAQUE)
        {
          flow->opaque_bytes += len - pos;
          return;
        }
      pos += xm_framer_feed (flow->framer, data + pos, len - pos);
    }
}

static gboolean
send_to (Leg *leg, const guint8 *data, gsize len)
{
  XmSession *s = leg->s;
  gsize done = 0;

  if (leg->fd < 0 || leg->shut)
    return FALSE;
  if (!out_pending (leg) && (leg->side == CLIENT || s->connected))
    {
      ssize_t w = send (leg->fd, data, len, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        {
          g_autofree char *why = g_strdup_printf ("cannot write to the %s: %s",
                                                  side_name (leg->side),
                                                  g_strerror (errno));
          close_session (s, why, TRUE);
          return FALSE;
        }
      done = w > 0 ? (gsize) w : 0;
    }
  if (done < len)
    {
      if (leg->out == NULL)
        leg->out = g_byte_array_sized_new (len - done);
      if (leg->out_off && leg->out_off == leg->out->len)
        {
          g_byte_array_set_size (leg->out, 0);
          leg->out_off = 0;
        }
      g_byte_array_append (leg->out, data + done, len - done);
    }
  return TRUE;
}

static void
flush_out (Leg *leg)
{
  XmSession *s = leg->s;

  while (out_pending (leg))
    {
      ssize_t w = send (leg->fd, leg->out->data + leg->out_off,
                        leg->out->len - leg->out_off, MSG_NOSIGNAL);
      if (w < 0)
        {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
          g_autofree char *why = g_strdup_printf ("cannot write to the %s: %s",
                                                  side_name (leg->side),
                                                  g_strerror (errno));
          close_session (s, why, TRUE);
          return;
        }
      leg->out_off += w;
    }
  /* Drained: give the memory back, idle sessions should cost little. */
  g_clear_pointer (&leg->out, g_byte_array_unref);
  leg->out_off = 0;
  if (leg->shut_pending)
    shutdown_write (leg);
}

static void
read_leg (Leg *leg)
{
  XmSession *s = leg->s;
  Leg *other = &s->leg[1 - leg->side];
  Flow *flow = &s->flow[leg->side == CLIENT ? XM_DIR_C2S : XM_DIR_S2C];
  ssize_t n;

  n = recv (leg->fd, scratch, sizeof scratch, 0);
  if (n < 0)
    {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
      g_autofree char *why = g_strdup_printf ("%s connection failed: %s",
                                              side_name (leg->side),
                                              g_strerror (errno));
      close_session (s, why, TRUE);
      return;
    }
  s->now = g_get_real_time ();
  if (n == 0)
    {
      leg->eof = TRUE;
      if (!s->failing)
        {
          note (s, flow->dir, XM_NOTE_INFO, "the %s closed its sending side",
                side_name (leg->side));
          shutdown_write (other);
        }
      check_done (s);
      return;
    }
  flow->bytes += n;
  decode (s, flow, scratch, n);
  if (s->closed)
    return;
  if (!s->failing)
    send_to (other, scratch, n);
}

/* ---- upstream connect ---- */

static void
upstream_connected (XmSession *s)
{
  Leg *u = &s->leg[SERVER];
  g_autofree char *addr = NULL;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;

  g_clear_handle_id (&s->connect_timer, g_source_remove);
  s->connected = TRUE;
  if (getpeername (u->fd, (struct sockaddr *) &ss, &sl) == 0)
    addr = xm_sockaddr_to_string ((struct sockaddr *) &ss);
  note (s, XM_DIR_NONE, XM_NOTE_INFO, "upstream %s connected (%s) in %.1f ms",
        s->upstream_name, addr ? addr : "?",
        (g_get_monotonic_time () - s->connect_start) / 1000.0);
  flush_out (u);
  if (!s->closed && u->shut_pending)
    shutdown_write (u);
}

static void
attempt_failed (XmSession *s, const char *why)
{
  Leg *u = &s->leg[SERVER];

  g_free (s->last_connect_error);
  s->last_connect_error = g_strdup (why);
  g_clear_handle_id (&s->connect_timer, g_source_remove);
  close_leg (u, FALSE);
  connect_next (s);
}

static gboolean
on_connect_timeout (gpointer data)
{
  XmSession *s = data;
  g_autofree char *why = g_strdup_printf ("no answer within %u s (see --connect-timeout)",
                                          xm_proxy_config (s->proxy)->connect_timeout_s);

  s->connect_timer = 0;
  attempt_failed (s, why);
  return G_SOURCE_REMOVE;
}

static void on_leg_event (XmWatch *watch, guint32 revents, gpointer user_data);

static void
connect_next (XmSession *s)
{
  Leg *u = &s->leg[SERVER];

  while (s->addr_next)
    {
      GSocketAddress *sa = s->addr_next->data;
      struct sockaddr_storage ss;
      int fd;

      s->addr_next = s->addr_next->next;
      if (!g_socket_address_to_native (sa, &ss, sizeof ss, NULL))
        continue;
      fd = socket (ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0)
        {
          g_free (s->last_connect_error);
          s->last_connect_error = g_strdup (g_strerror (errno));
          continue;
        }
      xm_socket_setup (fd);
      if (connect (fd, (struct sockaddr *) &ss, g_socket_address_get_native_size (sa)) < 0
          && errno != EINPROGRESS)
        {
          g_free (s->last_connect_error);
          s->last_connect_error = g_strdup (g_strerror (errno));
          close (fd);
          continue;
        }
      u->fd = fd;
      u->watch = xm_watch_add (fd, EPOLLOUT, on_leg_event, u);
      s->connect_timer = g_timeout_add_seconds (
        xm_proxy_config (s->proxy)->connect_timeout_s, on_connect_timeout, s);
      return;
    }
  upstream_failed (s);
}

static void
on_resolved (GObject *source, GAsyncResult *res, gpointer data)
{
  XmSession *s = data;
  g_autoptr (GError) error = NULL;
  GList *addrs = g_resolver_lookup_by_name_finish (G_RESOLVER (source), res, &error);
  guint16 port = xm_proxy_config (s->proxy)->upstream_port;

  if (!s->closed)
    {
      if (addrs == NULL)
        {
          s->last_connect_error = g_strdup_printf ("cannot resolve the name: %s",
                                                   error->message);
          upstream_failed (s);
        }
      else
        {
          for (GList *l = addrs; l; l = l->next)
            s->addrs = g_list_prepend (s->addrs,
                                       g_inet_socket_address_new (l->data, port));
          s->addrs = g_list_reverse (s->addrs);
          s->addr_next = s->addrs;
          connect_next (s);
        }
    }
  g_resolver_free_addresses (addrs);
  session_unref (s);
}

static void
start_connect (XmSession *s)
{
  const XmProxyConfig *cfg = xm_proxy_config (s->proxy);
  g_autoptr (GInetAddress) ip = g_inet_address_new_from_string (cfg->upstream_host);

  s->connect_start = g_get_monotonic_time ();
  s->last_connect_error = g_strdup ("no address to connect to");
  if (ip)
    {
      s->addrs = g_list_prepend (NULL, g_inet_socket_address_new (ip, cfg->upstream_port));
      s->addr_next = s->addrs;
      connect_next (s);
      return;
    }
  g_resolver_lookup_by_name_async (g_resolver_get_default (), cfg->upstream_host,
                                   s->cancel, on_resolved, session_ref (s));
}

/* ---- readiness ---- */

static void
update_events (XmSession *s)
{
  for (int i = 0; i < 2; i++)
    {
      Leg *leg = &s->leg[i];
      Leg *other = &s->leg[1 - i];
      guint32 ev = 0;

      if (leg->watch == NULL)
        continue;
      if (i == SERVER && !s->connected)
        {
          xm_watch_set_events (leg->watch, EPOLLOUT);
          continue;
        }
      if (!leg->eof && out_len (other) < OUT_HIGH)
        ev |= EPOLLIN;
      if (out_pending (leg))
        ev |= EPOLLOUT;
      xm_watch_set_events (leg->watch, ev);
    }
}

static void
on_leg_event (XmWatch *watch, guint32 revents, gpointer user_data)
{
  Leg *leg = user_data;
  XmSession *s = leg->s;

  session_ref (s);
  if (leg->side == SERVER && !s->connected)
    {
      int err = 0;
      socklen_t len = sizeof err;

      getsockopt (leg->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err)
        attempt_failed (s, g_strerror (err));
      else
        upstream_connected (s);
    }
  else
    {
      if ((revents & EPOLLOUT) && !s->closed)
        flush_out (leg);
      if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !s->closed
          && (xm_watch_get_events (watch) & EPOLLIN))
        read_leg (leg);
      else if ((revents & EPOLLERR) && !s->closed)
        {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt (leg->fd, SOL_SOCKET, SO_ERROR, &err, &len);
          g_autofree char *why = g_strdup_printf ("%s connection failed: %s",
                                                  side_name (leg->side),
                                                  g_strerror (err ? err : EPIPE));
          close_session (s, why, TRUE);
        }
    }
  if (!s->closed)
    {
      update_events (s);
      check_done (s);
    }
  session_unref (s);
}

XmSession *
xm_session_start (XmProxy *proxy, guint id, int client_fd,
                  const struct sockaddr *client_addr)
{
  const XmProxyConfig *cfg = xm_proxy_config (proxy);
  XmSession *s = g_new0 (XmSession, 1);
  XmEvent ev = { .kind = XM_EVENT_CONN_OPEN };
  g_autofree char *text = NULL;

  s->ref_count = 1;
  s->proxy = proxy;
  s->id = id;
  s->cancel = g_cancellable_new ();
  s->client_name = xm_sockaddr_to_string (client_addr);
  s->upstream_name = xm_hostport_to_string (cfg->upstream_host, cfg->upstream_port);
  for (int i = 0; i < 2; i++)
    {
      s->leg[i].s = s;
      s->leg[i].side = i;
      s->leg[i].fd = -1;
      s->flow[i].s = s;
      s->flow[i].dir = i == 0 ? XM_DIR_C2S : XM_DIR_S2C;
      s->flow[i].framer = xm_framer_new (&framer_events, &s->flow[i]);
      xm_framer_set_max_stanza (s->flow[i].framer, cfg->max_stanza);
    }

  text = g_strdup_printf ("client %s, upstream %s", s->client_name, s->upstream_name);
  ev.text = text;
  emit (s, &ev);

  xm_socket_setup (client_fd);
  s->leg[CLIENT].fd = client_fd;
  s->leg[CLIENT].watch = xm_watch_add (client_fd, EPOLLIN, on_leg_event, &s->leg[CLIENT]);
  if (s->leg[CLIENT].watch == NULL)
    {
      g_autofree char *why = g_strdup_printf ("cannot watch the client socket: %s",
                                              g_strerror (errno));
      close_session (s, why, FALSE);
      return s;
    }
  start_connect (s);
  if (!s->closed)
    update_events (s);
  return s;
}
