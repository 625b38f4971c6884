/* session.c: one client/upstream pair.
 *
 * Byte path per direction: recv into a shared scratch buffer, let the
 * connection's observer (observer.h: a framer per direction, SASL, the
 * negotiation steps) decode them (it only reads them), then send the same
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
#include "observer.h"
#include "poller.h"
#include "rewrite.h"
#include "tls.h"

#define NS_STREAM "http://etherx.jabber.org/streams"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_STREAMS_ERR "urn:ietf:params:xml:ns:xmpp-streams"

/* What one recv takes. Large, so that a busy session makes few recv and
 * send calls and wakes its peers seldom: each send wakes the reader on
 * the other side, which on a VM is an interrupt sent to another CPU. In
 * an echo run, 64 KiB made 3.3 times the sends of 256 KiB and recorded
 * about 6% fewer stanzas a second. Shared by all sessions (scratch). */
#define READ_CHUNK (256 * 1024)
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
  XmTls *tls;          /* TLS layer on this leg, or NULL */
  gboolean tls_hold;   /* handshake waits for the other leg: do not read */
  GByteArray *plain_wait; /* plaintext for this leg until its TLS is up */
} Leg;

struct _XmSession {
  gint ref_count;
  XmProxy *proxy;
  guint id;
  Leg leg[2];
  XmObserver *obs;     /* decodes a copy of both directions' plaintext */
  guint64 bytes[2];    /* plaintext bytes by XmDir: what one side sent the other */

  char *client_name;
  char *upstream_name;
  char *dest_host;          /* where to connect: the configured upstream, or */
  guint16 dest_port;        /* the original destination (transparent mode) */
  gboolean transparent;
  struct sockaddr_storage client_addr;
  char *own_endpoint;       /* local address of the upstream socket */
  gint64 now;

  /* TLS interception (RFC 6120 §5, XEP-0368). */
  gboolean starttls_requested;
  gboolean direct_tls;
  char *tls_name;      /* the domain the client asked for */
  guint tls_timer;
  gint64 tls_start;

  /* Rewriting the server's <stream:features> (rewrite.h): while it may
   * apply, an incomplete top-level element from the server is held back
   * until it is complete. Offsets are the server direction's framer
   * offsets. */
  guint rewrite_flags;
  gboolean rewrite_last;  /* the features with <bind/> went by: stop after */
  guint64 fwd_offset;     /* forwarded up to here */
  GByteArray *hold;       /* [fwd_offset, ...) received, not yet forwarded */
  GBytes *replace;        /* what to send instead of [replace_start, replace_end) */
  guint64 replace_start, replace_end;
  gboolean stripped_plus; /* xmitm removed SCRAM-*-PLUS from what the client saw */

  gboolean cb_downgrade;  /* the client sent GS2 flag 'y' after a strip */

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
  gboolean batching;   /* handling one read: plaintext for TLS is gathered */

  /* Busy: its TLS keeps its record buffers (see note_busy). */
  gboolean hot;
  guint streak;
  gint64 last_busy;
  GList hot_link;
};

static guint8 scratch[READ_CHUNK];
static guint8 plain_scratch[READ_CHUNK];

static void update_events (XmSession *s);
static void connect_next (XmSession *s);
static gboolean send_to (Leg *leg, const guint8 *data, gsize len);
static gboolean send_plain (Leg *leg, const guint8 *data, gsize len);

/* Plaintext bound for a TLS leg, gathered while one read is handled and
 * encrypted at its end (or at READ_CHUNK): a few large records and one send
 * instead of a record and a send per incoming record, which for a client
 * that writes a record per stanza would be one per stanza. One leg at a
 * time: the process handles one read at a time. */
#define COALESCE_MAX READ_CHUNK
static GByteArray *coalesce;
static Leg *coalesce_leg;

/* Once a session is past negotiation (steady(): TLS on both legs, nothing
 * left to rewrite), plaintext is forwarded first and decoded after the
 * send, off the round trip's path: the coalesce bytes from decode_from on
 * came from decode_src and are still to be decoded. */
static Leg *decode_src;
static guint decode_from;
static gboolean decoding_late; /* decode_late() runs */

static void decode (Leg *leg, const guint8 *data, gsize len, gboolean forwarded);

/* OpenSSL's release-buffers mode (tls.c) frees a leg's record buffers,
 * about 17 KiB each way, whenever they drain, and allocates them again for
 * the next record: cheap memory for idle sessions, but a malloc and free
 * per record, 8% of the instructions of an echo round trip, for busy ones.
 * A session past negotiation that reads HOT_STREAK times in a row, each
 * within HOT_GAP_US of the last, keeps its buffers until it has been quiet
 * for COOL_S. A session setting up never gets there, so many idle sessions
 * still cost what they did. */
#define HOT_STREAK 32
#define HOT_GAP_US (10 * 1000)
#define COOL_S 1
static GQueue hot_sessions; /* XmSession, linked by hot_link */
static guint cool_timer;

static void
set_hot (XmSession *s, gboolean hot)
{
  s->hot = hot;
  s->streak = 0;
  for (int i = 0; i < 2; i++)
    if (s->leg[i].tls)
      xm_tls_keep_buffers (s->leg[i].tls, hot);
  if (hot)
    g_queue_push_tail_link (&hot_sessions, &s->hot_link);
  else
    g_queue_unlink (&hot_sessions, &s->hot_link);
}

static gboolean
cool_down (gpointer data)
{
  gint64 now = g_get_real_time ();

  for (GList *l = hot_sessions.head, *next; l; l = next)
    {
      XmSession *s = l->data;
      next = l->next;
      if (now - s->last_busy >= COOL_S * G_USEC_PER_SEC)
        set_hot (s, FALSE);
    }
  if (hot_sessions.length)
    return G_SOURCE_CONTINUE;
  cool_timer = 0;
  return G_SOURCE_REMOVE;
}

/* A read of steady plaintext (deliver). */
static void
note_busy (XmSession *s)
{
  if (!s->hot)
    {
      s->streak = s->now - s->last_busy < HOT_GAP_US ? s->streak + 1 : 0;
      if (s->streak >= HOT_STREAK)
        {
          set_hot (s, TRUE);
          if (cool_timer == 0)
            cool_timer = g_timeout_add_seconds (COOL_S, cool_down, NULL);
        }
    }
  s->last_busy = s->now;
}

static void
decode_late (void)
{
  Leg *src = decode_src;

  if (src == NULL)
    return;
  decode_src = NULL;
  decoding_late = TRUE;
  decode (src, coalesce->data + decode_from, coalesce->len - decode_from, TRUE);
  decoding_late = FALSE;
}

static void
coalesce_flush (void)
{
  Leg *leg = coalesce_leg;

  if (leg == NULL)
    return;
  coalesce_leg = NULL;
  send_plain (leg, coalesce->data, coalesce->len);
  decode_late ();
  g_byte_array_set_size (coalesce, 0);
}

static void
coalesce_flush_leg (const Leg *leg)
{
  if (coalesce_leg == leg)
    coalesce_flush ();
}

/* Whether plaintext for leg can wait for the end of this read. (Not while
 * decode_late() reads the buffer: nothing there sends, but an append
 * could move it.) */
static gboolean
can_coalesce (const Leg *leg)
{
  return leg->s->batching && leg->tls && xm_tls_is_ready (leg->tls) && leg->fd >= 0
         && !leg->shut && !decoding_late;
}

/* Appends to the coalesce buffer for leg; src is set when the bytes are
 * not decoded yet. */
static void
coalesce_add (Leg *leg, const guint8 *data, gsize len, Leg *src)
{
  if (coalesce_leg != leg)
    coalesce_flush ();
  if (coalesce == NULL)
    coalesce = g_byte_array_sized_new (COALESCE_MAX);
  if (src && decode_src == NULL)
    {
      decode_src = src;
      decode_from = coalesce->len;
    }
  coalesce_leg = leg;
  g_byte_array_append (coalesce, data, len);
  if (coalesce->len >= COALESCE_MAX)
    coalesce_flush ();
}

/* send_plain(), or later in this read. */
static void
queue_plain (Leg *leg, const guint8 *data, gsize len)
{
  if (!can_coalesce (leg))
    send_plain (leg, data, len);
  else
    coalesce_add (leg, data, len, NULL);
}

static void tls_pump (Leg *leg);
static void start_connect (XmSession *s, const char *host, guint16 port);

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
  g_clear_pointer (&s->obs, xm_observer_free);
  for (int i = 0; i < 2; i++)
    {
      if (s->leg[i].out)
        g_byte_array_unref (s->leg[i].out);
      if (s->leg[i].plain_wait)
        g_byte_array_unref (s->leg[i].plain_wait);
      g_clear_pointer (&s->leg[i].tls, xm_tls_free);
    }
  g_list_free_full (s->addrs, g_object_unref);
  g_clear_object (&s->cancel);
  g_free (s->client_name);
  g_free (s->upstream_name);
  g_free (s->dest_host);
  g_free (s->own_endpoint);
  g_free (s->last_connect_error);
  g_free (s->client_to);
  g_free (s->client_ns);
  g_free (s->tls_name);
  if (s->hold)
    g_byte_array_unref (s->hold);
  g_clear_pointer (&s->replace, g_bytes_unref);
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
layer (XmSession *s, XmDir dir, const char *text, const XmLayerInfo *info)
{
  XmEvent ev = { .kind = XM_EVENT_LAYER, .dir = dir, .text = text, .layer = info };
  emit (s, &ev);
}

static void
simple_layer (XmSession *s, XmDir dir, const char *what, const char *text)
{
  XmLayerInfo info = { .layer = what };
  layer (s, dir, text, &info);
}

/* "AB:CD:..." of the certificate's SHA-256, or NULL. */
static char *
cert_sha256 (X509 *cert)
{
  guint8 md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  GString *hex;

  if (cert == NULL || !X509_digest (cert, EVP_sha256 (), md, &n))
    return NULL;
  hex = g_string_sized_new (n * 3);
  for (unsigned int i = 0; i < n; i++)
    g_string_append_printf (hex, "%s%02X", i ? ":" : "", md[i]);
  return g_string_free (hex, FALSE);
}

/* ---- closing ---- */

static void
forget_own_endpoint (XmSession *s)
{
  if (s->own_endpoint)
    xm_proxy_own_endpoint (s->proxy, s->own_endpoint, FALSE);
  g_clear_pointer (&s->own_endpoint, g_free);
}

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
  XmEvent ev = { .kind = XM_EVENT_CONN_CLOSE, .dir = XM_DIR_NONE };

  if (s->closed)
    return;
  /* what this read gathered goes out first, as it would have, and all it
   * read is decoded before the end is reported */
  if (coalesce_leg && coalesce_leg->s == s)
    coalesce_flush ();
  if (decode_src && decode_src->s == s)
    decode_late ();
  if (s->closed) /* by the flush */
    return;
  s->closed = TRUE;
  if (s->hot)
    set_hot (s, FALSE);
  g_cancellable_cancel (s->cancel);
  g_clear_handle_id (&s->connect_timer, g_source_remove);
  g_clear_handle_id (&s->fail_timer, g_source_remove);
  g_clear_handle_id (&s->tls_timer, g_source_remove);
  close_leg (&s->leg[CLIENT], abort);
  close_leg (&s->leg[SERVER], abort);
  forget_own_endpoint (s);

  ev.text = reason;
  ev.bytes[XM_DIR_C2S] = s->bytes[XM_DIR_C2S];
  ev.bytes[XM_DIR_S2C] = s->bytes[XM_DIR_S2C];
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


static gsize
out_len (const Leg *leg)
{
  return (leg->out ? leg->out->len - leg->out_off : 0)
         + (leg->plain_wait ? leg->plain_wait->len : 0);
}

static gboolean
out_pending (const Leg *leg)
{
  return out_len (leg) > 0;
}

static gboolean
tls_pending (const Leg *leg)
{
  return leg->tls && !xm_tls_is_ready (leg->tls);
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

/* Moves what TLS produced for the peer to the socket. */
static void
flush_tls (Leg *leg)
{
  const guint8 *data;
  gsize len;

  if (leg->tls == NULL || leg->fd < 0)
    return;
  len = xm_tls_output (leg->tls, &data);
  if (len)
    {
      send_to (leg, data, len);
      xm_tls_output_done (leg->tls);
    }
}

static void
shutdown_write (Leg *leg)
{
  coalesce_flush_leg (leg);
  if (leg->shut || leg->fd < 0)
    return;
  if (out_pending (leg) || tls_pending (leg)
      || (leg->side == SERVER && !leg->s->connected))
    {
      leg->shut_pending = TRUE;
      return;
    }
  if (leg->tls)
    {
      /* TLS first says it is closing (close_notify), then TCP does. */
      xm_tls_close_notify (leg->tls);
      flush_tls (leg);
      if (out_pending (leg))
        {
          leg->shut_pending = TRUE;
          return;
        }
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
                    : s->tls_name ? g_markup_printf_escaped (" from='%s'", s->tls_name)
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
  if (send_plain (&s->leg[CLIENT], (const guint8 *) xml->str, xml->len))
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

static X509 *forge_leaf (XmSession *s, X509 *upstream, char **how);

static void
upstream_failed (XmSession *s)
{
  Leg *c = &s->leg[CLIENT], *u = &s->leg[SERVER];

  note (s, XM_DIR_NONE, XM_NOTE_ERROR, "cannot connect to upstream %s: %s",
        s->upstream_name, s->last_connect_error);
  s->failing = TRUE;
  close_leg (u, FALSE);
  if (u->out)
    g_byte_array_set_size (u->out, 0);
  u->out_off = 0;
  if (tls_pending (c))
    {
      /* A direct-TLS client waits in its handshake: finish it with a leaf
       * made without the upstream's names, so the error reaches it. */
      g_autofree char *how = NULL;
      g_autoptr (X509) leaf = forge_leaf (s, NULL, &how);
      if (leaf == NULL)
        {
          close_session (s, how, FALSE);
          return;
        }
      xm_tls_set_leaf (c->tls, leaf, xm_ca_leaf_key (xm_proxy_config (s->proxy)->ca), NULL);
      c->tls_hold = FALSE;
      tls_pump (c);
      if (s->closed)
        return;
    }
  if (s->client_header_seen || c->eof)
    send_error_reply (s);
  else
    s->fail_timer = g_timeout_add (ERROR_REPLY_WAIT_MS, on_fail_timer, s);
  update_events (s);
}

/* ---- TLS interception ---- */

static char *
name_string (X509_NAME *name)
{
  BIO *bio = BIO_new (BIO_s_mem ());
  char *data = NULL, *out;
  long len;

  X509_NAME_print_ex (bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  len = BIO_get_mem_data (bio, &data);
  out = g_strndup (data, len);
  BIO_free (bio);
  return out;
}

static X509 *
forge_leaf (XmSession *s, X509 *upstream, char **how)
{
  XmCa *ca = xm_proxy_config (s->proxy)->ca;
  g_autoptr (GError) error = NULL;
  guint made0, made1, hits;
  gint64 t0 = g_get_monotonic_time ();
  X509 *leaf;

  xm_ca_stats (ca, &made0, &hits);
  leaf = xm_ca_forge (ca, s->tls_name, upstream, &error);
  if (leaf == NULL)
    {
      *how = g_strdup_printf ("cannot forge a certificate for %s: %s",
                              s->tls_name, error->message);
      return NULL;
    }
  xm_ca_stats (ca, &made1, &hits);
  *how = made1 > made0
    ? g_strdup_printf ("made for %s in %.2f ms", s->tls_name,
                       (g_get_monotonic_time () - t0) / 1000.0)
    : g_strdup_printf ("for %s, from the cache", s->tls_name);
  return leaf;
}

static gboolean
on_tls_timeout (gpointer data)
{
  XmSession *s = data;
  g_autofree char *why = NULL;

  s->tls_timer = 0;
  why = g_strdup_printf ("the TLS handshake with the %s did not finish within "
                         "%u s", tls_pending (&s->leg[SERVER]) ? "server" : "client",
                         xm_proxy_config (s->proxy)->tls_timeout_s);
  note (s, XM_DIR_NONE, XM_NOTE_ERROR, "%s", why);
  close_session (s, why, FALSE);
  return G_SOURCE_REMOVE;
}

static void
start_tls_timer (XmSession *s)
{
  s->tls_start = g_get_monotonic_time ();
  if (s->tls_timer == 0)
    s->tls_timer = g_timeout_add_seconds (xm_proxy_config (s->proxy)->tls_timeout_s,
                                          on_tls_timeout, s);
}

/* The upstream leg starts TLS: STARTTLS after <proceed/>, or direct TLS
 * once the client's ClientHello told us the name. */
static void
start_upstream_tls (XmSession *s, const guint8 *alpn, gsize alpn_len)
{
  Leg *u = &s->leg[SERVER];
  const XmProxyConfig *cfg = xm_proxy_config (s->proxy);

  u->tls = xm_tls_new_client (s->tls_name, cfg->upstream_insecure ? NULL : s->tls_name,
                              alpn, alpn_len);
  xm_observer_tls_started (s->obs);
  tls_pump (u);
}

static void
tls_failed (XmSession *s, Leg *leg, GError *error)
{
  const XmProxyConfig *cfg = xm_proxy_config (s->proxy);
  g_autofree char *why = NULL;

  if (leg->side == SERVER && g_error_matches (error, XM_TLS_ERROR, XM_TLS_ERROR_VERIFY))
    why = g_strdup_printf ("upstream %s: its certificate does not verify for "
                           "'%s': %s (give its CA with --upstream-ca FILE, or "
                           "skip the check with --upstream-insecure)",
                           s->upstream_name, s->tls_name, error->message);
  else if (leg->side == SERVER)
    why = g_strdup_printf ("TLS handshake with upstream %s failed: %s",
                           s->upstream_name, error->message);
  else if (g_error_matches (error, XM_TLS_ERROR, XM_TLS_ERROR_UNTRUSTED))
    why = g_strdup_printf ("the client does not trust xmitm's CA; export it "
                           "with `xmitm ca export` (it is %s) and add it to the "
                           "client's trust store [%s]",
                           xm_ca_cert_path (cfg->ca), error->message);
  else if (g_error_matches (error, XM_TLS_ERROR, XM_TLS_ERROR_NOT_TLS))
    why = g_strdup_printf ("the client did not speak TLS where it should have: %s",
                           error->message);
  else
    why = g_strdup_printf ("TLS handshake with the client failed: %s", error->message);
  note (s, XM_DIR_NONE, XM_NOTE_ERROR, "%s", why);
  close_session (s, why, FALSE);
}

static void
tls_ready (XmSession *s, Leg *leg)
{
  const XmProxyConfig *cfg = xm_proxy_config (s->proxy);
  Leg *c = &s->leg[CLIENT];
  g_autofree char *desc = xm_tls_describe (leg->tls);
  double ms = (g_get_monotonic_time () - s->tls_start) / 1000.0;

  if (leg->side == SERVER)
    {
      X509 *cert = xm_tls_peer_cert (leg->tls);
      g_autofree char *subject = cert ? name_string (X509_get_subject_name (cert)) : NULL;
      g_autofree char *issuer = cert ? name_string (X509_get_issuer_name (cert)) : NULL;
      g_autofree char *how = NULL;
      g_autofree char *line = NULL;
      g_autofree char *fp = cert_sha256 (cert);
      g_autoptr (X509) leaf = NULL;
      XmLayerInfo info = { .layer = "tls", .leg = "server", .cert_subject = subject,
                           .cert_issuer = issuer, .cert_sha256 = fp, .ms = ms,
                           .verified = cfg->upstream_insecure ? NULL : s->tls_name };

      line = g_strdup_printf ("TLS with the server up in %.1f ms: %s; certificate "
                              "subject %s, issuer %s; %s%s%s", ms, desc,
                              subject ? subject : "(none)", issuer ? issuer : "(none)",
                              cfg->upstream_insecure
                                ? "not verified (--upstream-insecure)"
                                : "verified for '",
                              cfg->upstream_insecure ? "" : s->tls_name,
                              cfg->upstream_insecure ? "" : "'");
      xm_tls_info (leg->tls, &info);
      layer (s, XM_DIR_NONE, line, &info);
      leaf = forge_leaf (s, cert, &how);
      if (leaf == NULL)
        {
          note (s, XM_DIR_NONE, XM_NOTE_ERROR, "%s", how);
          close_session (s, how, FALSE);
          return;
        }
      note (s, XM_DIR_NONE, XM_NOTE_INFO, "certificate for the client %s", how);
      xm_tls_set_leaf (c->tls, leaf, xm_ca_leaf_key (cfg->ca),
                       xm_tls_alpn_selected (leg->tls));
      c->tls_hold = FALSE;
      tls_pump (c);
    }
  else
    {
      g_autofree char *line = g_strdup_printf ("TLS with the client up in %.1f ms: "
                                               "%s; it accepted xmitm's certificate",
                                               ms, desc);
      XmLayerInfo info = { .layer = "tls", .leg = "client", .ms = ms };

      xm_tls_info (leg->tls, &info);
      layer (s, XM_DIR_NONE, line, &info);
      g_clear_handle_id (&s->tls_timer, g_source_remove);
      xm_observer_tls_up (s->obs);
    }
  if (s->closed)
    return;
  /* Plaintext that waited for this leg's TLS. */
  if (leg->plain_wait && xm_tls_is_ready (leg->tls))
    {
      g_autoptr (GByteArray) wait = g_steal_pointer (&leg->plain_wait);
      send_plain (leg, wait->data, wait->len);
    }
  if (leg->shut_pending)
    shutdown_write (leg);
}

static void
apply_starttls (XmSession *s, const guint8 *rest, gsize rest_len)
{
  Leg *c = &s->leg[CLIENT], *u = &s->leg[SERVER];

  g_free (s->tls_name);
  s->tls_name = g_strdup (s->client_to ? s->client_to : s->dest_host);
  xm_observer_switch (s->obs);
  start_tls_timer (s);
  /* The client's handshake waits until the server's certificate is known,
   * so the forged leaf can carry the same names. */
  c->tls = xm_tls_new_server ();
  c->tls_hold = TRUE;
  start_upstream_tls (s, NULL, 0);
  if (!s->closed && rest_len)
    {
      xm_tls_push (u->tls, rest, rest_len);
      tls_pump (u);
      if (u->tls)
        xm_tls_push_end (u->tls);
    }
}

/* ---- decoding: what the proxy adds to the observer's ---- */

/* The server's <stream:features>: strip what cannot or should not reach
 * the client (rewrite.h), and say so. (Out of line, as explain_sasl: the
 * hook that calls them runs for every stanza.) */
static G_GNUC_NO_INLINE void
rewrite_features (XmSession *s, const XmStanza *st)
{
  g_autofree char *removed = NULL;
  GBytes *out;

  if (xm_node_child (st->root, NS_BIND, "bind"))
    s->rewrite_last = TRUE;
  if (st->raw == NULL)
    return;
  out = xm_rewrite_features (st->raw, st->raw_len, s->rewrite_flags, &removed);
  if (out == NULL)
    return;
  g_clear_pointer (&s->replace, g_bytes_unref);
  s->replace = out;
  if (strstr (removed, "-PLUS"))
    s->stripped_plus = TRUE;
  s->replace_start = st->offset;
  s->replace_end = st->offset + st->raw_len;
  note (s, XM_DIR_S2C, XM_NOTE_WARNING,
        "xmitm removed %s from these features before passing them on (%s)",
        removed,
        (s->rewrite_flags & XM_REWRITE_STRIP_PLUS) && strstr (removed, "PLUS")
          ? "channel binding cannot work through a man in the middle; "
            "--keep-channel-binding keeps it"
          : "--no-compression");
}

/* The client's stream header (its event first): what a stream error for
 * it answers to. */
static G_GNUC_NO_INLINE void
client_header (XmSession *s, XmEvent *ev)
{
  const XmNode *h = ev->stanza->root;

  emit (s, ev);
  if (h == NULL)
    return;
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

/* Every event the observer decodes. */
static void
on_observed (XmEvent *ev, gpointer user_data)
{
  XmSession *s = user_data;

  if (ev->kind == XM_EVENT_STREAM_OPEN && ev->dir == XM_DIR_C2S)
    client_header (s, ev);
  else
    emit (s, ev);
}

static const char *
sasl_field (const XmSaslDecode *d, const char *name)
{
  for (guint i = 0; i < d->fields->len; i++)
    {
      const XmSaslField *f = g_ptr_array_index (d->fields, i);
      if (strcmp (f->name, name) == 0)
        return f->value;
    }
  return NULL;
}

/* RFC 5802 §6, XEP-0474: once xmitm removed -PLUS, a client that supports
 * channel binding says so ('y'), and a server that supports it must refuse
 * the login; name that cause instead of leaving a bare <failure/>. */
static G_GNUC_NO_INLINE void
explain_sasl (XmSession *s, XmDir dir, const XmSaslDecode *d)
{
  const char *flag = sasl_field (d, "gs2-cbind-flag");

  if (dir == XM_DIR_C2S && flag && strcmp (flag, "y") == 0 && s->stripped_plus)
    s->cb_downgrade = TRUE;
  if (dir == XM_DIR_S2C && d->step && strcmp (d->step, "failure") == 0
      && s->cb_downgrade)
    note (s, XM_DIR_S2C, XM_NOTE_ERROR,
          "this login failed because of channel binding: the client supports "
          "it and, seeing no -PLUS (xmitm removed them), said so with GS2 "
          "flag 'y', which a server that supports channel binding must "
          "refuse (RFC 5802 §6); through a man in the middle use PLAIN or a "
          "client setting that turns channel binding off");
  else if (dir == XM_DIR_S2C && s->stripped_plus && sasl_field (d, "d"))
    note (s, XM_DIR_S2C, XM_NOTE_WARNING,
          "the server protects its mechanism list (XEP-0474 d=): a client "
          "that checks it will see that xmitm removed -PLUS and abort");
}

/* RFC 6120 §5.4.3.3: the client sent <starttls/> and TLS has not started:
 * what it sends now is pipelined plaintext. */
static gboolean
pipelining (const XmSession *s)
{
  return s->starttls_requested && s->leg[CLIENT].tls == NULL;
}

/* The notes only the proxy can give about an element, and the rewrite of
 * the server's features. */
static G_GNUC_NO_INLINE void
proxy_element (XmSession *s, XmDir dir, const XmStanza *st, const XmSaslDecode *sasl)
{
  const XmNode *root = st->root;

  if (sasl)
    explain_sasl (s, dir, sasl);
  if (root == NULL)
    return;
  if (dir == XM_DIR_C2S)
    {
      if (!st->shallow && xm_node_is (root, NS_TLS, "starttls"))
        s->starttls_requested = TRUE;
      else if (pipelining (s))
        note (s, XM_DIR_C2S, XM_NOTE_WARNING,
              "the client sent <%s/> after <starttls/> before the server's "
              "answer: pipelined plaintext (RFC 6120 §5.4.3.3); it is "
              "forwarded as plaintext and kept out of TLS", root->name);
    }
  else if (s->rewrite_flags && !st->shallow && xm_node_is (root, NS_STREAM, "features"))
    rewrite_features (s, st);
}

/* After the events of every top-level element (before it is forwarded, and
 * before the observer negotiates on it). Most are a message or presence
 * (shallow, so without a SASL decode), which matters here only as
 * pipelined plaintext: this runs for every stanza. */
static void
on_element (XmDir dir, const XmStanza *st, const XmSaslDecode *sasl, gpointer user_data)
{
  XmSession *s = user_data;

  if (st->shallow && !(dir == XM_DIR_C2S && pipelining (s)))
    return;
  proxy_element (s, dir, st, sasl);
}

/* ---- the byte path ---- */

static gboolean
io_again (int err)
{
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* A write to leg failed for good: the pair cannot go on. */
static void
write_failed (Leg *leg, int err)
{
  g_autofree char *why = g_strdup_printf ("cannot write to the %s: %s",
                                          side_name (leg->side), g_strerror (err));
  close_session (leg->s, why, TRUE);
}

static gboolean
send_to (Leg *leg, const guint8 *data, gsize len)
{
  XmSession *s = leg->s;
  gsize done = 0;

  if (leg->fd < 0 || leg->shut)
    return FALSE;
  if (!(leg->out && leg->out->len > leg->out_off)
      && (leg->side == CLIENT || s->connected))
    {
      ssize_t w = send (leg->fd, data, len, MSG_NOSIGNAL);
      if (w < 0 && !io_again (errno))
        {
          write_failed (leg, errno);
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

/* Plaintext for a leg: straight to the socket, or through its TLS. */
static gboolean
send_plain (Leg *leg, const guint8 *data, gsize len)
{
  g_autoptr (GError) error = NULL;

  coalesce_flush_leg (leg); /* bytes keep their order */
  if (leg->tls == NULL)
    return send_to (leg, data, len);
  if (leg->fd < 0 || leg->shut)
    return FALSE;
  if (!xm_tls_is_ready (leg->tls))
    {
      if (leg->plain_wait == NULL)
        leg->plain_wait = g_byte_array_new ();
      g_byte_array_append (leg->plain_wait, data, len);
      return TRUE;
    }
  if (!xm_tls_write (leg->tls, data, len, &error))
    {
      g_autofree char *why = g_strdup_printf ("TLS to the %s failed: %s",
                                              side_name (leg->side), error->message);
      close_session (leg->s, why, TRUE);
      return FALSE;
    }
  flush_tls (leg);
  return TRUE;
}

static gboolean
looks_like_tls (const guint8 *data, gsize len)
{
  /* A TLS handshake record (RFC 8446 §5.1): type 22, version 3.x. */
  return len >= 3 && data[0] == 0x16 && data[1] == 0x03 && data[2] <= 0x04;
}

static void start_direct_tls (XmSession *s, const guint8 *data, gsize len);

/* ---- forwarding the server's bytes while features may be rewritten ---- */

/* Sends stream bytes [a, b) of the server direction: those before seg_base
 * come from the hold, the rest from seg. */
static void
send_range (XmSession *s, guint64 a, guint64 b, const guint8 *seg, guint64 seg_base)
{
  Leg *c = &s->leg[CLIENT];

  if (a < seg_base)
    {
      guint64 hb = MIN (b, seg_base);
      send_plain (c, s->hold->data + (a - s->fwd_offset), hb - a);
      a = hb;
    }
  if (a < b && !s->closed)
    send_plain (c, seg + (a - seg_base), b - a);
}

/* seg holds stream bytes [seg_base, seg_base + len), all read by the
 * framer; forward what belongs to complete items, rewritten where asked,
 * and hold the incomplete rest. */
static void
forward_held (XmSession *s, const guint8 *seg, gsize len, guint64 seg_base,
              guint64 upto)
{
  guint64 a = s->fwd_offset, end = seg_base + len;

  if (s->replace && s->replace_start >= a && s->replace_end <= upto)
    {
      send_range (s, a, s->replace_start, seg, seg_base);
      send_plain (&s->leg[CLIENT], g_bytes_get_data (s->replace, NULL),
                  g_bytes_get_size (s->replace));
      a = s->replace_end;
    }
  g_clear_pointer (&s->replace, g_bytes_unref);
  if (s->closed)
    return;
  send_range (s, a, upto, seg, seg_base);
  /* Keep [upto, end) for later. */
  {
    g_autoptr (GByteArray) rest = g_byte_array_new ();
    if (upto < seg_base)
      g_byte_array_append (rest, s->hold->data + (upto - s->fwd_offset), seg_base - upto);
    g_byte_array_append (rest, seg + (MAX (upto, seg_base) - seg_base),
                         end - MAX (upto, seg_base));
    if (s->hold)
      g_byte_array_unref (s->hold);
    s->hold = rest->len ? g_steal_pointer (&rest) : NULL;
  }
  s->fwd_offset = upto;
}

/* Everything held goes out as it is (the server closed, or rewriting is over). */
static void
flush_hold (XmSession *s)
{
  if (s->hold && !s->failing)
    send_plain (&s->leg[CLIENT], s->hold->data, s->hold->len);
  g_clear_pointer (&s->hold, g_byte_array_unref);
  s->rewrite_flags = 0;
}

/* XEP-0138: what is held goes out uncompressed as it came, and rewriting
 * ends; the observer inflates both directions from the next byte. */
static void
apply_zlib (XmSession *s)
{
  flush_hold (s);
  xm_observer_switch (s->obs);
}

/* Sends on bytes [base, base + len) of direction dir (already decoded).
 * While the server's features may still be rewritten, hold back only what
 * may be a <stream:features/>: an element whose start tag is incomplete, or
 * features itself. (Rewriting ends before a zlib stream: apply_zlib.) */
static void
forward (XmSession *s, XmDir dir, const guint8 *data, gsize len, guint64 base)
{
  const XmFramer *framer;
  const XmNode *el;
  guint64 upto;

  if (dir == XM_DIR_C2S || !s->rewrite_flags)
    {
      queue_plain (&s->leg[dir == XM_DIR_C2S ? SERVER : CLIENT], data, len);
      return;
    }
  framer = xm_observer_framer (s->obs, XM_DIR_S2C);
  el = xm_framer_pending_element (framer);
  upto = MIN (xm_framer_pending_offset (framer), base + len);
  if (el && !xm_node_is (el, NS_STREAM, "features"))
    upto = base + len;
  forward_held (s, data, len, base, MAX (upto, s->fwd_offset));
  if (s->rewrite_last)
    flush_hold (s);
}

/* Decodes a copy of plaintext that arrived on leg and, unless it went out
 * already, forwards the original. A negotiation element can end mid-chunk;
 * what follows it belongs to the next layer. */
static void
decode (Leg *leg, const guint8 *data, gsize len, gboolean forwarded)
{
  XmSession *s = leg->s;
  XmDir dir = leg->side == CLIENT ? XM_DIR_C2S : XM_DIR_S2C;
  gsize pos = 0;

  while (pos < len && !s->closed)
    {
      guint64 base = xm_framer_offset (xm_observer_framer (s->obs, dir));
      XmSwitch sw;
      gsize take = xm_observer_decode (s->obs, dir, data + pos, len - pos, &sw);

      s->bytes[dir] += take;
      if (!forwarded && !s->failing && !s->closed)
        forward (s, dir, data + pos, take, base);
      pos += take;
      if (s->closed)
        return;
      if (sw == XM_SWITCH_STARTTLS)
        {
          /* Not when forwarded: TLS is up, and the observer takes
           * <proceed/> only before it. */
          if (!forwarded)
            apply_starttls (s, data + pos, len - pos);
          return;
        }
      if (sw == XM_SWITCH_ZLIB)
        apply_zlib (s); /* zlib bytes are forwarded as they come anyway */
    }
}

/* Past negotiation: no layer can change under the forwarded bytes (TLS is
 * up on both legs; a zlib switch changes only what the observer inflates)
 * and the features are no longer rewritten, so leg's plaintext may go out
 * before it is decoded. */
static gboolean
steady (const Leg *leg)
{
  const XmSession *s = leg->s;
  const Leg *to = &s->leg[1 - leg->side];

  return !s->rewrite_flags && !s->failing && leg->tls && xm_tls_is_ready (leg->tls)
         && can_coalesce (to);
}

/* What leg sent before is decoded, and forwarded, before anything else is
 * said about leg. */
static void
settle (const Leg *leg)
{
  if (decode_src == leg)
    coalesce_flush ();
}

static void
deliver (Leg *leg, const guint8 *data, gsize len)
{
  if (steady (leg))
    {
      note_busy (leg->s);
      coalesce_add (&leg->s->leg[1 - leg->side], data, len, leg);
      return;
    }
  settle (leg);
  decode (leg, data, len, FALSE);
}

static void
tls_pump (Leg *leg)
{
  XmSession *s = leg->s;
  g_autoptr (GError) error = NULL;

  if (!xm_tls_is_ready (leg->tls))
    {
      XmTlsStatus st;

      if (leg->tls_hold)
        return;
      st = xm_tls_handshake (leg->tls, &error);
      flush_tls (leg);
      if (s->closed)
        return;
      switch (st)
        {
        case XM_TLS_AGAIN:
          return;
        case XM_TLS_PAUSED:
          leg->tls_hold = TRUE;
          start_direct_tls (s, NULL, 0);
          return;
        case XM_TLS_FAILED:
          tls_failed (s, leg, error);
          return;
        case XM_TLS_DONE:
          tls_ready (s, leg);
          if (s->closed || leg->tls == NULL)
            return;
          break;
        }
    }
  for (;;)
    {
      gssize r = xm_tls_read (leg->tls, plain_scratch, sizeof plain_scratch, &error);

      if (r > 0)
        {
          deliver (leg, plain_scratch, r);
          if (s->closed)
            return;
          continue;
        }
      if (r == -1)
        {
          /* close_notify: the peer will send nothing more. */
          settle (leg);
          if (!leg->eof && !s->closed)
            {
              leg->eof = TRUE;
              note (s, leg->side == CLIENT ? XM_DIR_C2S : XM_DIR_S2C, XM_NOTE_INFO,
                    "the %s closed TLS (close_notify)", side_name (leg->side));
              if (leg->side == SERVER)
                flush_hold (s);
              shutdown_write (&s->leg[1 - leg->side]);
            }
        }
      else if (r == -2)
        {
          g_autofree char *why = g_strdup_printf ("TLS from the %s failed: %s",
                                                  side_name (leg->side), error->message);
          note (s, XM_DIR_NONE, XM_NOTE_ERROR, "%s", why);
          close_session (s, why, TRUE);
          return;
        }
      break;
    }
  flush_tls (leg);
}

static void
flush_out (Leg *leg)
{
  while (leg->out && leg->out->len > leg->out_off)
    {
      ssize_t w = send (leg->fd, leg->out->data + leg->out_off,
                        leg->out->len - leg->out_off, MSG_NOSIGNAL);
      if (w < 0)
        {
          if (!io_again (errno))
            write_failed (leg, errno);
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
  XmDir dir = leg->side == CLIENT ? XM_DIR_C2S : XM_DIR_S2C;
  ssize_t n;

  n = recv (leg->fd, scratch, sizeof scratch, 0);
  if (n < 0)
    {
      if (io_again (errno))
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
      if (tls_pending (leg) && !s->failing)
        {
          g_autofree char *why = NULL;

          if (leg->side == CLIENT && xm_tls_certificate_sent (leg->tls))
            /* Clients that reject a certificate often just hang up (Python's
             * asyncio, for one, sends no alert). */
            why = g_strdup_printf ("the client closed the connection after "
                                   "receiving xmitm's certificate: most likely "
                                   "the client does not trust xmitm's CA; export "
                                   "it with `xmitm ca export` (it is %s) and add "
                                   "it to the client's trust store",
                                   xm_ca_cert_path (xm_proxy_config (s->proxy)->ca));
          else
            why = g_strdup_printf ("the %s closed the connection during the TLS "
                                   "handshake", side_name (leg->side));
          note (s, XM_DIR_NONE, XM_NOTE_ERROR, "%s", why);
          close_session (s, why, FALSE);
          return;
        }
      if (!s->failing)
        {
          if (leg->tls && xm_tls_input_incomplete (leg->tls))
            note (s, dir, XM_NOTE_WARNING, "the %s closed the connection in "
                  "the middle of a TLS record: what it held cannot be "
                  "decrypted and was not forwarded", side_name (leg->side));
          note (s, dir, XM_NOTE_INFO, "the %s closed its sending side",
                side_name (leg->side));
          if (leg->side == SERVER)
            flush_hold (s);
          shutdown_write (other);
        }
      check_done (s);
      return;
    }
  if (leg->tls)
    {
      xm_tls_push (leg->tls, scratch, n);
      tls_pump (leg);
      if (leg->tls)
        xm_tls_push_end (leg->tls);
    }
  else if (leg->side == CLIENT && s->bytes[XM_DIR_C2S] == 0
           && looks_like_tls (scratch, n))
    start_direct_tls (s, scratch, n);
  else
    {
      if (leg->side == CLIENT && !s->connected && s->upstream_name == NULL)
        start_connect (s, s->dest_host, s->dest_port);
      deliver (leg, scratch, n);
    }
}

/* XEP-0368: the client opened with a ClientHello. First call (data set):
 * start the client-side TLS, which pauses at the ClientHello. Second call
 * (from tls_pump, PAUSED): SNI and ALPN are known; connect upstream with
 * TLS as well. */
static void
start_direct_tls (XmSession *s, const guint8 *data, gsize len)
{
  const XmProxyConfig *cfg = xm_proxy_config (s->proxy);
  Leg *c = &s->leg[CLIENT];

  if (data)
    {
      s->direct_tls = TRUE;
      simple_layer (s, XM_DIR_C2S, "direct-tls", "the client opened with a TLS ClientHello (XEP-0368 "
                            "direct TLS)");
      start_tls_timer (s);
      c->tls = xm_tls_new_server ();
      /* a <proceed/> from the server cannot start STARTTLS over this */
      xm_observer_tls_started (s->obs);
      xm_tls_push (c->tls, data, len);
      tls_pump (c);
      if (c->tls)
        xm_tls_push_end (c->tls);
      return;
    }
  g_free (s->tls_name);
  s->tls_name = g_strdup (xm_tls_client_sni (c->tls) ? xm_tls_client_sni (c->tls)
                          : cfg->upstream_tls_host && !s->transparent
                          ? cfg->upstream_tls_host : s->dest_host);
  if (s->upstream_name == NULL)
    {
      if (cfg->upstream_tls_host && !s->transparent)
        start_connect (s, cfg->upstream_tls_host, cfg->upstream_tls_port);
      else
        start_connect (s, s->dest_host, s->dest_port);
    }
  else if (s->connected && s->leg[SERVER].tls == NULL)
    {
      gsize alen;
      const guint8 *alpn = xm_tls_client_alpn (c->tls, &alen);
      start_upstream_tls (s, alpn, alen);
    }
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
  if (s->direct_tls && s->tls_name)
    {
      gsize alen;
      const guint8 *alpn = xm_tls_client_alpn (s->leg[CLIENT].tls, &alen);
      start_upstream_tls (s, alpn, alen);
      if (s->closed)
        return;
    }
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

/* --mark, and --keep-source (TPROXY): the upstream socket leaves from the
 * client's address. FALSE (with last_connect_error) if that fails. */
static gboolean
upstream_socket_options (XmSession *s, int fd, int family)
{
  const XmProxyConfig *cfg = xm_proxy_config (s->proxy);

  if (cfg->use_mark && setsockopt (fd, SOL_SOCKET, SO_MARK, &cfg->mark,
                                   sizeof cfg->mark) < 0)
    {
      g_free (s->last_connect_error);
      s->last_connect_error = g_strdup_printf ("cannot set --mark: %s", g_strerror (errno));
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
          g_free (s->last_connect_error);
          s->last_connect_error = g_strdup ("--keep-source: the client and the "
                                            "destination are of different IP versions");
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
          g_free (s->last_connect_error);
          s->last_connect_error = g_strdup_printf ("--keep-source: cannot use the "
                                                   "client's address %s: %s",
                                                   s->client_name, g_strerror (errno));
          return FALSE;
        }
    }
  return TRUE;
}

/* The proxy refuses connections from this endpoint: they would be xmitm's
 * own upstream connection redirected back to it. */
static void
remember_own_endpoint (XmSession *s, int fd)
{
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;

  if (getsockname (fd, (struct sockaddr *) &ss, &sl) != 0)
    return;
  forget_own_endpoint (s);
  s->own_endpoint = xm_sockaddr_to_string ((struct sockaddr *) &ss);
  xm_proxy_own_endpoint (s->proxy, s->own_endpoint, TRUE);
}

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
      if (!upstream_socket_options (s, fd, ss.ss_family))
        {
          close (fd);
          continue;
        }
      if (connect (fd, (struct sockaddr *) &ss, g_socket_address_get_native_size (sa)) < 0
          && errno != EINPROGRESS)
        {
          g_free (s->last_connect_error);
          s->last_connect_error = g_strdup (g_strerror (errno));
          close (fd);
          continue;
        }
      u->fd = fd;
      remember_own_endpoint (s, fd);
      u->watch = xm_watch_add (fd, EPOLLOUT, on_leg_event, u);
      s->connect_timer = g_timeout_add_seconds (
        xm_proxy_config (s->proxy)->connect_timeout_s, on_connect_timeout, s);
      return;
    }
  upstream_failed (s);
}

typedef struct {
  XmSession *s;
  guint16 port;
} Resolving;

static void
on_resolved (GObject *source, GAsyncResult *res, gpointer data)
{
  Resolving *r = data;
  XmSession *s = r->s;
  g_autoptr (GError) error = NULL;
  GList *addrs = g_resolver_lookup_by_name_finish (G_RESOLVER (source), res, &error);

  if (!s->closed)
    {
      if (addrs == NULL)
        {
          g_free (s->last_connect_error);
          s->last_connect_error = g_strdup_printf ("cannot resolve the name: %s",
                                                   error->message);
          upstream_failed (s);
        }
      else
        {
          for (GList *l = addrs; l; l = l->next)
            s->addrs = g_list_prepend (s->addrs,
                                       g_inet_socket_address_new (l->data, r->port));
          s->addrs = g_list_reverse (s->addrs);
          s->addr_next = s->addrs;
          connect_next (s);
        }
    }
  g_resolver_free_addresses (addrs);
  session_unref (s);
  g_free (r);
}

static void
start_connect (XmSession *s, const char *host, guint16 port)
{
  g_autoptr (GInetAddress) ip = g_inet_address_new_from_string (host);
  Resolving *r;

  s->upstream_name = xm_hostport_to_string (host, port);
  s->connect_start = g_get_monotonic_time ();
  s->last_connect_error = g_strdup ("no address to connect to");
  if (ip)
    {
      s->addrs = g_list_prepend (NULL, g_inet_socket_address_new (ip, port));
      s->addr_next = s->addrs;
      connect_next (s);
      return;
    }
  r = g_new0 (Resolving, 1);
  r->s = session_ref (s);
  r->port = port;
  g_resolver_lookup_by_name_async (g_resolver_get_default (), host, s->cancel,
                                   on_resolved, r);
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
      if (!leg->eof && !leg->tls_hold && out_len (other) < OUT_HIGH)
        ev |= EPOLLIN;
      if (leg->out && leg->out->len > leg->out_off)
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
        {
          s->batching = TRUE;
          read_leg (leg);
          s->batching = FALSE;
          coalesce_flush ();
        }
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
                  const struct sockaddr *client_addr, const struct sockaddr *dest,
                  const char *how)
{
  const XmProxyConfig *cfg = xm_proxy_config (proxy);
  XmSession *s = g_new0 (XmSession, 1);
  XmEvent ev = { .kind = XM_EVENT_CONN_OPEN, .dir = XM_DIR_NONE };
  g_autofree char *text = NULL, *upstream = NULL;
  XmObserverLive live = { .max_stanza = cfg->max_stanza, .lazy = TRUE,
                          .max_inflate = cfg->max_inflate,
                          .max_inflate_ratio = cfg->max_inflate_ratio,
                          .element = on_element };

  s->ref_count = 1;
  s->hot_link.data = s;
  s->proxy = proxy;
  s->id = id;
  s->cancel = g_cancellable_new ();
  s->client_name = xm_sockaddr_to_string (client_addr);
  memcpy (&s->client_addr, client_addr,
          client_addr->sa_family == AF_INET6 ? sizeof (struct sockaddr_in6)
                                             : sizeof (struct sockaddr_in));
  s->rewrite_flags = (cfg->keep_channel_binding ? 0 : XM_REWRITE_STRIP_PLUS)
                     | (cfg->no_compression ? XM_REWRITE_STRIP_COMPRESSION : 0);
  /* nothing looks inside messages and presences: skip their trees */
  for (guint i = 0; cfg->sinks && i < cfg->sinks->len; i++)
    live.lazy = live.lazy && !xm_sink_needs_children (g_ptr_array_index (cfg->sinks, i));
  s->obs = xm_observer_new_live (&live, on_observed, s);
  for (int i = 0; i < 2; i++)
    {
      s->leg[i].s = s;
      s->leg[i].side = i;
      s->leg[i].fd = -1;
    }
  if (dest)
    {
      s->transparent = TRUE;
      xm_sockaddr_host_port (dest, &s->dest_host, &s->dest_port);
      upstream = xm_sockaddr_to_string (dest);
      text = g_strdup_printf ("client %s, original destination %s (%s)",
                              s->client_name, upstream, how);
    }
  else
    {
      s->dest_host = g_strdup (cfg->upstream_host);
      s->dest_port = cfg->upstream_port;
      upstream = xm_hostport_to_string (cfg->upstream_host, cfg->upstream_port);
      text = g_strdup_printf ("client %s", s->client_name);
    }
  ev.text = text;
  ev.addr[0] = s->client_name;
  ev.addr[1] = upstream;
  emit (s, &ev);

  xm_socket_setup (client_fd);
  s->leg[CLIENT].fd = client_fd;
  s->leg[CLIENT].watch = xm_watch_add (client_fd, EPOLLIN, on_leg_event, &s->leg[CLIENT]);
  if (s->leg[CLIENT].watch == NULL)
    {
      g_autofree char *why = g_strdup_printf ("cannot watch the client socket: %s",
                                              g_strerror (errno));
      close_session (s, why, FALSE);
      return NULL; /* closed: it frees itself; the proxy must not keep it */
    }
  /* Connect at once, so the upstream's TCP handshake overlaps the client's
   * first bytes; with a separate direct-TLS upstream the first bytes say
   * which upstream to use. */
  if (cfg->upstream_tls_host == NULL || s->transparent)
    start_connect (s, s->dest_host, s->dest_port);
  if (!s->closed)
    update_events (s);
  return s;
}
