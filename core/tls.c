/* tls.c: see tls.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "files.h"
#include "tls.h"

G_DEFINE_QUARK (xm-tls-error-quark, xm_tls_error)

/* Ciphertext from the peer, as the read BIO hands it to OpenSSL: first what
 * was kept from earlier pushes, then the caller's bytes, read in place
 * between xm_tls_push() and xm_tls_push_end(). */
typedef struct {
  GByteArray *kept;      /* NULL when empty */
  gsize kept_off;
  const guint8 *borrowed;
  gsize borrowed_len;
} TlsIn;

struct _XmTls {
  SSL *ssl;
  BIO *rbio;       /* reads from in */
  BIO *wbio;       /* appends to out */
  TlsIn in;
  GByteArray *out; /* ciphertext for the peer */
  gboolean server;
  gboolean ready;
  gboolean leaf_set;
  gboolean hello_seen; /* server role: a ClientHello was parsed */
  gboolean flight_sent; /* server role: our certificate went out */
  gboolean keep;        /* busy: keeps out and OpenSSL's record buffers */
  /* Client role: when the server asks for a client certificate, the
   * handshake pauses (XM_TLS_CERT_WANTED) until the owner says which one
   * (xm_tls_set_client_cert), instead of going on without one. */
  gboolean pause_for_cert;
  gboolean cert_wanted;   /* the server asked */
  gboolean cert_decided;  /* the owner answered */
  X509 *client_cert;      /* what to present, or NULL: none */
  EVP_PKEY *client_key;
  char *sni;       /* server role: what the client sent */
  guint8 *alpn;    /* server role: the client's offer, wire format */
  gsize alpn_len;
  char *alpn_pick; /* server role: what to select */
  char *alpn_selected;
  /* KeyUpdates from the peer: a token bucket of XM_TLS_KEY_UPDATE_BURST,
   * refilled at one a second */
  guint64 key_updates;
  gint64 key_update_first, key_update_last;
  double key_update_tokens;
  gboolean key_update_flood; /* over: no more input is read */
};

static SSL_CTX *server_ctx;
static SSL_CTX *client_ctx;
static gboolean verify_nothing; /* --upstream-insecure */
static int keylog_fd = -1;
static int ex_index = -1;
static BIO_METHOD *bio_method;

static int bio_read (BIO *b, char *buf, int len);
static int bio_write (BIO *b, const char *data, int len);
static long bio_ctrl (BIO *b, int cmd, long num, void *ptr);
static int bio_create (BIO *b);

/* ---- contexts ---- */

static void
keylog_line (const SSL *ssl, const char *line)
{
  g_autofree char *l = g_strconcat (line, "\n", NULL);
  int err;

  /* One write per line on an O_APPEND fd: lines never interleave. */
  if (keylog_fd < 0 || (err = xm_write_all (keylog_fd, l, strlen (l))) == 0)
    return;
  g_printerr ("xmitm: cannot write the key log: %s; no more key log lines\n",
              g_strerror (err));
  close (keylog_fd);
  keylog_fd = -1;
}

/* The state machine's steps (not application data): a KeyUpdate read is
 * one step into TLS_ST_SR_KEY_UPDATE (server role) or _CR_ (client). */
static void
on_info (const SSL *ssl, int where, int ret)
{
  OSSL_HANDSHAKE_STATE st;
  XmTls *t;
  gint64 now;

  if (!(where & SSL_CB_LOOP))
    return;
  st = SSL_get_state (ssl);
  if (st != TLS_ST_SR_KEY_UPDATE && st != TLS_ST_CR_KEY_UPDATE)
    return;
  t = SSL_get_ex_data (ssl, ex_index);
  if (t == NULL)
    return;
  now = g_get_monotonic_time ();
  if (t->key_updates++ == 0)
    {
      t->key_update_first = now;
      t->key_update_tokens = XM_TLS_KEY_UPDATE_BURST;
    }
  else
    t->key_update_tokens = MIN ((double) XM_TLS_KEY_UPDATE_BURST,
                                t->key_update_tokens
                                + (now - t->key_update_last) / (double) G_USEC_PER_SEC);
  t->key_update_last = now;
  if (t->key_update_tokens >= 1.0)
    t->key_update_tokens -= 1.0;
  else
    t->key_update_flood = TRUE; /* bio_read gives OpenSSL nothing more */
}

static gboolean
parse_sni (const guint8 *p, gsize len, char **out)
{
  gsize list, n;

  /* RFC 6066 §3: list length, then entries of type, length, name. */
  if (len < 5)
    return FALSE;
  list = (gsize) p[0] << 8 | p[1];
  if (list + 2 > len || p[2] != 0)
    return FALSE;
  n = (gsize) p[3] << 8 | p[4];
  if (n == 0 || 5 + n > len)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (p[5 + i] <= 0x20 || p[5 + i] >= 0x7f)
      return FALSE;
  *out = g_strndup ((const char *) p + 5, n);
  return TRUE;
}

static int
on_client_hello (SSL *ssl, int *alert, void *arg)
{
  XmTls *t = SSL_get_ex_data (ssl, ex_index);
  const unsigned char *p;
  size_t len;

  if (t == NULL || t->leaf_set)
    return SSL_CLIENT_HELLO_SUCCESS;
  t->hello_seen = TRUE;
  if (t->sni == NULL
      && SSL_client_hello_get0_ext (ssl, TLSEXT_TYPE_server_name, &p, &len))
    parse_sni (p, len, &t->sni);
  if (t->alpn == NULL
      && SSL_client_hello_get0_ext (ssl, TLSEXT_TYPE_application_layer_protocol_negotiation,
                                    &p, &len)
      && len > 2 && ((gsize) p[0] << 8 | p[1]) == len - 2)
    {
      t->alpn = g_memdup2 (p + 2, len - 2);
      t->alpn_len = len - 2;
    }
  /* Suspend until the session has the upstream's certificate. */
  return SSL_CLIENT_HELLO_RETRY;
}

static int
on_alpn_select (SSL *ssl, const unsigned char **out, unsigned char *outlen,
                const unsigned char *in, unsigned int inlen, void *arg)
{
  XmTls *t = SSL_get_ex_data (ssl, ex_index);
  gsize want;

  if (t == NULL || t->alpn_pick == NULL)
    return SSL_TLSEXT_ERR_NOACK;
  want = strlen (t->alpn_pick);
  for (unsigned int i = 0; i < inlen; i += 1 + in[i])
    if (in[i] == want && i + 1 + want <= inlen
        && memcmp (in + i + 1, t->alpn_pick, want) == 0)
      {
        *out = in + i + 1;
        *outlen = in[i];
        return SSL_TLSEXT_ERR_OK;
      }
  return SSL_TLSEXT_ERR_NOACK;
}

/* Client role: the server sent a CertificateRequest, and its own
 * certificate has been checked. A proxy that intercepts cannot know yet
 * which certificate to present: the one it forges copies the names of the
 * certificate the other leg's peer presents, whose handshake waits for
 * this one's server certificate. So the handshake pauses here (a negative
 * return makes SSL_do_handshake() say SSL_ERROR_WANT_X509_LOOKUP and call
 * this again on the next try). */
static int
on_cert_wanted (SSL *ssl, void *arg)
{
  XmTls *t = SSL_get_ex_data (ssl, ex_index);

  if (t == NULL || t->server || !t->pause_for_cert)
    return 1;
  t->cert_wanted = TRUE;
  if (!t->cert_decided)
    return -1;
  if (t->client_cert
      && (!SSL_use_certificate (ssl, t->client_cert)
          || !SSL_use_PrivateKey (ssl, t->client_key)))
    return 0;
  return 1;
}

/* Server role, asking for a client certificate: any certificate is taken.
 * Judging it is the real server's business (it gets one forged with the
 * same names); the proxy only needs to see whether one came, and which. */
static int
accept_any_client_cert (int preverify_ok, X509_STORE_CTX *ctx)
{
  return 1;
}

/* SSL_get_error() needs the thread's error queue empty before the call it
 * judges. ERR_clear_error() wipes all sixteen slots every time (about 840
 * instructions in OpenSSL 3.0); looking first costs a quarter of that, and
 * the queue is nearly always empty already. For every forwarded record. */
static inline void
errors_reset (void)
{
  if (ERR_peek_error () != 0)
    ERR_clear_error ();
}

static gboolean
ctx_failed (GError **error, const char *what)
{
  unsigned long e = ERR_get_error ();

  ERR_clear_error ();
  g_set_error (error, XM_TLS_ERROR, XM_TLS_ERROR_PROTOCOL, "%s: %s", what,
               e ? ERR_reason_error_string (e) : "unknown error");
  return FALSE;
}

gboolean
xm_tls_init (const XmTlsConfig *config, GError **error)
{
  if (ex_index < 0)
    ex_index = SSL_get_ex_new_index (0, NULL, NULL, NULL, NULL);

  if (bio_method == NULL)
    {
      bio_method = BIO_meth_new (BIO_get_new_index () | BIO_TYPE_SOURCE_SINK, "xmitm");
      if (bio_method == NULL || !BIO_meth_set_read (bio_method, bio_read)
          || !BIO_meth_set_write (bio_method, bio_write)
          || !BIO_meth_set_ctrl (bio_method, bio_ctrl)
          || !BIO_meth_set_create (bio_method, bio_create))
        return ctx_failed (error, "cannot set up TLS I/O");
    }

  server_ctx = SSL_CTX_new (TLS_server_method ());
  client_ctx = SSL_CTX_new (TLS_client_method ());
  if (server_ctx == NULL || client_ctx == NULL)
    return ctx_failed (error, "cannot set up TLS");

  /* Idle sessions give their record buffers back. */
  SSL_CTX_set_mode (server_ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_mode (client_ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_client_hello_cb (server_ctx, on_client_hello, NULL);
  SSL_CTX_set_info_callback (server_ctx, on_info);
  SSL_CTX_set_info_callback (client_ctx, on_info);
  SSL_CTX_set_alpn_select_cb (server_ctx, on_alpn_select, NULL);
  SSL_CTX_set_cert_cb (client_ctx, on_cert_wanted, NULL);

  verify_nothing = config->insecure;
  if (!config->insecure)
    {
      SSL_CTX_set_verify (client_ctx, SSL_VERIFY_PEER, NULL);
      if (!SSL_CTX_set_default_verify_paths (client_ctx))
        return ctx_failed (error, "cannot load the system trust store");
    }
  if (config->upstream_ca
      && !SSL_CTX_load_verify_locations (client_ctx, config->upstream_ca, NULL))
    {
      g_autofree char *what = g_strdup_printf ("cannot load --upstream-ca %s",
                                               config->upstream_ca);
      return ctx_failed (error, what);
    }

  if (config->keylog)
    {
      /* Secrets: appended only to a private file of our own, made 0600
       * when new (files.h: never through a link, never a chmod). */
      g_autoptr (GError) local = NULL;

      keylog_fd = xm_append_private (config->keylog, &local);
      if (keylog_fd < 0)
        {
          g_set_error (error, XM_TLS_ERROR, XM_TLS_ERROR_PROTOCOL,
                       "cannot open the key log: %s", local->message);
          return FALSE;
        }
      SSL_CTX_set_keylog_callback (server_ctx, keylog_line);
      SSL_CTX_set_keylog_callback (client_ctx, keylog_line);
    }
  return TRUE;
}

void
xm_tls_cleanup (void)
{
  g_clear_pointer (&server_ctx, SSL_CTX_free);
  g_clear_pointer (&client_ctx, SSL_CTX_free);
  g_clear_pointer (&bio_method, BIO_meth_free);
  if (keylog_fd >= 0)
    close (keylog_fd);
  keylog_fd = -1;
}

/* ---- endpoints ---- */

/* ---- the BIOs ----
 *
 * OpenSSL's memory BIO clears the space it is about to write (a memset the
 * size of every write) and all of it again on reset, and takes input by
 * copying it in. These two do neither: OpenSSL reads the ciphertext where
 * the session received it and writes records into a byte array the session
 * sends from. */

static int
bio_read (BIO *b, char *buf, int len)
{
  XmTls *t = BIO_get_data (b);
  TlsIn *in = &t->in;
  gsize n = 0;

  BIO_clear_retry_flags (b);
  if (len <= 0)
    return 0;
  if (t->key_update_flood)
    {
      /* the rest is never read: the read fails (xm_tls_read) */
      BIO_set_retry_read (b);
      return -1;
    }
  if (in->kept)
    {
      n = MIN ((gsize) len, in->kept->len - in->kept_off);
      memcpy (buf, in->kept->data + in->kept_off, n);
      in->kept_off += n;
      if (in->kept_off == in->kept->len)
        {
          g_clear_pointer (&in->kept, g_byte_array_unref);
          in->kept_off = 0;
        }
    }
  else if (in->borrowed_len)
    {
      n = MIN ((gsize) len, in->borrowed_len);
      memcpy (buf, in->borrowed, n);
      in->borrowed += n;
      in->borrowed_len -= n;
    }
  if (n == 0)
    {
      /* nothing yet, which is not the end of the stream */
      BIO_set_retry_read (b);
      return -1;
    }
  return (int) n;
}

static int
bio_write (BIO *b, const char *data, int len)
{
  XmTls *t = BIO_get_data (b);

  BIO_clear_retry_flags (b);
  if (len <= 0)
    return 0;
  if (t->out == NULL)
    t->out = g_byte_array_new ();
  g_byte_array_append (t->out, (const guint8 *) data, (guint) len);
  return len;
}

static gsize
in_pending (const XmTls *t)
{
  return (t->in.kept ? t->in.kept->len - t->in.kept_off : 0) + t->in.borrowed_len;
}

static long
bio_ctrl (BIO *b, int cmd, long num, void *ptr)
{
  XmTls *t = BIO_get_data (b);

  switch (cmd)
    {
    case BIO_CTRL_PENDING:
      return b == t->rbio ? (long) MIN (in_pending (t), (gsize) G_MAXLONG) : 0;
    case BIO_CTRL_WPENDING:
      return b == t->wbio && t->out ? (long) t->out->len : 0;
    case BIO_CTRL_FLUSH:
      return 1;
    default:
      return 0;
    }
}

static int
bio_create (BIO *b)
{
  BIO_set_init (b, 1);
  return 1;
}

static BIO *
our_bio (XmTls *t)
{
  BIO *b = BIO_new (bio_method);

  BIO_set_data (b, t);
  return b;
}

static XmTls *
tls_new (SSL_CTX *ctx, gboolean server)
{
  XmTls *t = g_new0 (XmTls, 1);

  t->server = server;
  t->ssl = SSL_new (ctx);
  t->rbio = our_bio (t);
  t->wbio = our_bio (t);
  SSL_set_bio (t->ssl, t->rbio, t->wbio);
  SSL_set_ex_data (t->ssl, ex_index, t);
  if (server)
    SSL_set_accept_state (t->ssl);
  else
    SSL_set_connect_state (t->ssl);
  return t;
}

XmTls *
xm_tls_new_server (void)
{
  g_return_val_if_fail (server_ctx != NULL, NULL);
  return tls_new (server_ctx, TRUE);
}

XmTls *
xm_tls_new_client (const char *sni, const char *verify_name,
                   const guint8 *alpn, gsize alpn_len)
{
  XmTls *t;

  g_return_val_if_fail (client_ctx != NULL, NULL);
  t = tls_new (client_ctx, FALSE);
  if (sni && !g_hostname_is_ip_address (sni))
    SSL_set_tlsext_host_name (t->ssl, sni);
  if (verify_name)
    {
      if (g_hostname_is_ip_address (verify_name))
        X509_VERIFY_PARAM_set1_ip_asc (SSL_get0_param (t->ssl), verify_name);
      else
        SSL_set1_host (t->ssl, verify_name);
    }
  if (alpn && alpn_len)
    SSL_set_alpn_protos (t->ssl, alpn, (unsigned int) alpn_len);
  return t;
}

void
xm_tls_free (XmTls *t)
{
  if (t == NULL)
    return;
  SSL_free (t->ssl); /* frees both BIOs */
  if (t->in.kept)
    g_byte_array_unref (t->in.kept);
  if (t->out)
    g_byte_array_unref (t->out);
  g_free (t->sni);
  g_free (t->alpn);
  g_free (t->alpn_pick);
  g_free (t->alpn_selected);
  if (t->client_cert)
    X509_free (t->client_cert);
  if (t->client_key)
    EVP_PKEY_free (t->client_key);
  g_free (t);
}

void
xm_tls_push (XmTls *t, const guint8 *data, gsize len)
{
  g_return_if_fail (t->in.borrowed_len == 0);
  t->in.borrowed = data;
  t->in.borrowed_len = len;
}

void
xm_tls_push_end (XmTls *t)
{
  TlsIn *in = &t->in;

  if (in->borrowed_len == 0)
    return;
  /* a record cut by the end of a read: its start waits for the rest */
  if (in->kept == NULL)
    in->kept = g_byte_array_sized_new ((guint) in->borrowed_len);
  g_byte_array_append (in->kept, in->borrowed, (guint) in->borrowed_len);
  in->borrowed = NULL;
  in->borrowed_len = 0;
}

gsize
xm_tls_output (XmTls *t, const guint8 **data)
{
  gsize n = t->out ? t->out->len : 0;

  *data = n ? t->out->data : NULL;
  if (n > 0 && t->server && t->leaf_set)
    t->flight_sent = TRUE;
  return n;
}

/* The output array grows to the largest burst: the handshake's flights (a
 * few KiB), then whatever a read gave. Past the handshake, an endpoint lets
 * it go once it is sent, so an idle session holds none; a busy one keeps it
 * (xm_tls_keep_buffers), as it keeps OpenSSL's record buffers. */
void
xm_tls_output_done (XmTls *t)
{
  if (t->out == NULL)
    return;
  if (t->ready && !t->keep)
    g_clear_pointer (&t->out, g_byte_array_unref);
  else
    g_byte_array_set_size (t->out, 0);
}

gboolean
xm_tls_is_ready (const XmTls *t)
{
  return t->ready;
}

gboolean
xm_tls_certificate_sent (const XmTls *t)
{
  return t->flight_sent;
}

gboolean
xm_tls_input_incomplete (const XmTls *t)
{
  /* Not read yet, or read by OpenSSL into a record it cannot finish. */
  return in_pending (t) > 0 || SSL_has_pending (t->ssl);
}

const char *
xm_tls_client_sni (const XmTls *t)
{
  return t->sni;
}

const guint8 *
xm_tls_client_alpn (const XmTls *t, gsize *len)
{
  *len = t->alpn_len;
  return t->alpn;
}

void
xm_tls_set_leaf (XmTls *t, X509 *leaf, EVP_PKEY *key, const char *alpn)
{
  SSL_use_certificate (t->ssl, leaf);
  SSL_use_PrivateKey (t->ssl, key);
  g_free (t->alpn_pick);
  t->alpn_pick = g_strdup (alpn);
  t->leaf_set = TRUE;
}

void
xm_tls_pause_for_client_cert (XmTls *t)
{
  t->pause_for_cert = TRUE;
}

gboolean
xm_tls_client_cert_wanted (const XmTls *t)
{
  return t->cert_wanted;
}

void
xm_tls_set_client_cert (XmTls *t, X509 *cert, EVP_PKEY *key)
{
  g_return_if_fail ((cert == NULL) == (key == NULL));
  if (cert)
    {
      X509_up_ref (cert);
      EVP_PKEY_up_ref (key);
    }
  /* a second decision replaces the first */
  X509_free (t->client_cert);
  EVP_PKEY_free (t->client_key);
  t->client_cert = cert;
  t->client_key = key;
  t->cert_decided = TRUE;
}

void
xm_tls_request_client_cert (XmTls *t)
{
  /* Once per connection: TLS 1.2 renegotiation asks nothing more. */
  SSL_set_verify (t->ssl, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE,
                  accept_any_client_cert);
}

/* OpenSSL's reason as the sentence a user needs. */
static void
set_handshake_error (XmTls *t, GError **error)
{
  unsigned long e = ERR_peek_last_error ();
  int reason = ERR_GET_REASON (e);
  const char *text = e ? ERR_reason_error_string (e) : NULL;
  long vr;

  if (!t->server && ((vr = SSL_get_verify_result (t->ssl)) != X509_V_OK
                      || reason == SSL_R_CERTIFICATE_VERIFY_FAILED))
    g_set_error (error, XM_TLS_ERROR, XM_TLS_ERROR_VERIFY, "%s",
                 X509_verify_cert_error_string (vr));
  else if (t->server
           && (reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA
               || reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE
               || reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN
               || reason == SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE
               || reason == SSL_R_TLSV1_ALERT_ACCESS_DENIED))
    g_set_error (error, XM_TLS_ERROR, XM_TLS_ERROR_UNTRUSTED,
                 "the client rejected xmitm's certificate (%s)", text);
  else if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST
           || reason == SSL_R_UNKNOWN_PROTOCOL
           || reason == SSL_R_PACKET_LENGTH_TOO_LONG
           || reason == SSL_R_RECORD_LENGTH_MISMATCH
           || (t->server && !t->hello_seen))
    g_set_error (error, XM_TLS_ERROR, XM_TLS_ERROR_NOT_TLS,
                 "not TLS (%s)", text);
  else
    g_set_error (error, XM_TLS_ERROR, XM_TLS_ERROR_HANDSHAKE, "%s",
                 text ? text : "handshake failed");
  ERR_clear_error ();
}

XmTlsStatus
xm_tls_handshake (XmTls *t, GError **error)
{
  int r;

  if (t->ready)
    return XM_TLS_DONE;
  ERR_clear_error ();
  r = SSL_do_handshake (t->ssl);
  if (r == 1)
    {
      t->ready = TRUE;
      return XM_TLS_DONE;
    }
  switch (SSL_get_error (t->ssl, r))
    {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return XM_TLS_AGAIN;
    case SSL_ERROR_WANT_CLIENT_HELLO_CB:
      return XM_TLS_PAUSED;
    case SSL_ERROR_WANT_X509_LOOKUP:
      return XM_TLS_CERT_WANTED;
    default:
      set_handshake_error (t, error);
      return XM_TLS_FAILED;
    }
}

static gssize
key_update_flood (XmTls *t, GError **error)
{
  g_set_error (error, XM_TLS_ERROR, XM_TLS_ERROR_KEY_UPDATES,
               "%" G_GUINT64_FORMAT " TLS KeyUpdates in %.1f s (RFC 8446 "
               "§4.6.3; xmitm allows %d in a row, then one a second)",
               t->key_updates,
               (t->key_update_last - t->key_update_first) / (double) G_USEC_PER_SEC,
               XM_TLS_KEY_UPDATE_BURST);
  return -2;
}

gssize
xm_tls_read (XmTls *t, guint8 *buf, gsize len, GError **error)
{
  int r;

  if (G_UNLIKELY (t->key_update_flood))
    return key_update_flood (t, error);

  /* With no ciphertext left to read and nothing buffered, SSL_read() could
   * only say "want read": skip the call (and its error-queue work), which
   * is on the path of every forwarded record. */
  if (t->ready && t->in.kept == NULL && t->in.borrowed_len == 0
      && !SSL_has_pending (t->ssl))
    return 0;
  errors_reset ();
  r = SSL_read (t->ssl, buf, (int) MIN (len, (gsize) G_MAXINT));
  if (r > 0)
    return r;
  if (G_UNLIKELY (t->key_update_flood))
    {
      ERR_clear_error ();
      return key_update_flood (t, error);
    }
  switch (SSL_get_error (t->ssl, r))
    {
    case SSL_ERROR_WANT_READ:
      return 0;
    case SSL_ERROR_WANT_WRITE:
      return 0;
    case SSL_ERROR_ZERO_RETURN:
      return -1;
    default:
      {
        unsigned long e = ERR_get_error ();
        ERR_clear_error ();
        g_set_error (error, XM_TLS_ERROR, XM_TLS_ERROR_PROTOCOL, "%s",
                     e ? ERR_reason_error_string (e) : "TLS read failed");
        return -2;
      }
    }
}

gboolean
xm_tls_write (XmTls *t, const guint8 *data, gsize len, GError **error)
{
  while (len > 0)
    {
      int chunk = (int) MIN (len, (gsize) G_MAXINT);
      int r;

      errors_reset ();
      r = SSL_write (t->ssl, data, chunk);
      if (r <= 0)
        {
          unsigned long e = ERR_get_error ();
          ERR_clear_error ();
          g_set_error (error, XM_TLS_ERROR, XM_TLS_ERROR_PROTOCOL, "%s",
                       e ? ERR_reason_error_string (e) : "TLS write failed");
          return FALSE;
        }
      data += r;
      len -= r;
    }
  return TRUE;
}

void
xm_tls_keep_buffers (XmTls *t, gboolean keep)
{
  t->keep = keep;
  if (keep)
    {
      SSL_clear_mode (t->ssl, SSL_MODE_RELEASE_BUFFERS);
      return;
    }
  if (t->out && t->out->len == 0)
    g_clear_pointer (&t->out, g_byte_array_unref);
  SSL_set_mode (t->ssl, SSL_MODE_RELEASE_BUFFERS);
  /* Refused while a record is half read or written; the mode then frees
   * the buffers once it is through. */
  SSL_free_buffers (t->ssl);
}

void
xm_tls_close_notify (XmTls *t)
{
  if (t->ready)
    {
      ERR_clear_error ();
      SSL_shutdown (t->ssl);
      ERR_clear_error ();
    }
}

X509 *
xm_tls_peer_cert (XmTls *t)
{
  return SSL_get0_peer_certificate (t->ssl);
}

gboolean
xm_tls_verify_client_chain (XmTls *t, char **why)
{
  X509 *leaf = SSL_get0_peer_certificate (t->ssl);
  X509_STORE_CTX *ctx;
  gboolean ok;

  if (verify_nothing)
    return TRUE;
  if (leaf == NULL)
    {
      *why = g_strdup ("no certificate");
      return FALSE;
    }
  ctx = X509_STORE_CTX_new ();
  if (ctx == NULL || !X509_STORE_CTX_init (ctx, SSL_CTX_get_cert_store (client_ctx),
                                           leaf, SSL_get_peer_cert_chain (t->ssl)))
    {
      X509_STORE_CTX_free (ctx);
      *why = g_strdup ("out of memory verifying it");
      return FALSE;
    }
  /* No purpose: servers present their server certificate on s2s, and
   * many have no clientAuth usage; the receiving server judges that. */
  ok = X509_verify_cert (ctx) == 1;
  if (!ok)
    *why = g_strdup (X509_verify_cert_error_string (X509_STORE_CTX_get_error (ctx)));
  X509_STORE_CTX_free (ctx);
  return ok;
}

const char *
xm_tls_alpn_selected (XmTls *t)
{
  const unsigned char *p = NULL;
  unsigned int len = 0;

  if (t->alpn_selected == NULL)
    {
      SSL_get0_alpn_selected (t->ssl, &p, &len);
      if (len)
        t->alpn_selected = g_strndup ((const char *) p, len);
    }
  return t->alpn_selected;
}

void
xm_tls_info (XmTls *t, XmLayerInfo *info)
{
  info->tls_version = SSL_get_version (t->ssl);
  info->cipher = SSL_get_cipher_name (t->ssl);
  info->sni = t->server ? t->sni : SSL_get_servername (t->ssl, TLSEXT_NAMETYPE_host_name);
  info->alpn = xm_tls_alpn_selected (t);
}

char *
xm_tls_describe (XmTls *t)
{
  const char *sni = t->server ? t->sni : SSL_get_servername (t->ssl, TLSEXT_NAMETYPE_host_name);
  const char *alpn = xm_tls_alpn_selected (t);

  return g_strdup_printf ("%s, %s, SNI %s, ALPN %s", SSL_get_version (t->ssl),
                          SSL_get_cipher_name (t->ssl), sni ? sni : "none",
                          alpn ? alpn : "none");
}
