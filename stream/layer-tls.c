/* layer-tls.c: see layer-tls.h. */
#include "config.h"

#include "layer-tls.h"
#include "leg.h"

typedef struct {
  XmLayer base;
  XmTls *tls;
  gboolean server;
  XmLayerTlsNotify notify;
  gpointer user_data;
  GByteArray *wait;     /* plaintext from above until the handshake is done */
} TlsLayer;

/* Plaintext of one record batch, going up. One read at a time in the
 * process, and TLS is never stacked on TLS: one buffer serves all. */
static guint8 plain_scratch[XM_LEG_READ_CHUNK];

static TlsLayer *
tls_of (XmLayer *layer)
{
  return (TlsLayer *) layer;
}

XmTls *
xm_layer_tls_engine (XmLayer *layer)
{
  return tls_of (layer)->tls;
}

gboolean
xm_layer_tls_is_up (XmLayer *layer)
{
  return xm_tls_is_ready (tls_of (layer)->tls);
}

/* Records TLS made go down to the socket, from TLS's own array. */
static void
flush_records (TlsLayer *t)
{
  const guint8 *data;
  gsize len = xm_tls_output (t->tls, &data);

  if (len)
    {
      xm_layer_down (&t->base, data, len);
      xm_tls_output_done (t->tls);
    }
}

/* A handshake failure (code -1), and a KeyUpdate flood, keep their
 * XM_TLS_ERROR (the owner words them with xm_layer_tls_why()); a record
 * that cannot be read or written becomes XM_LEG_ERROR_READ or _WRITE, in a
 * sentence. */
static void
fail (TlsLayer *t, GError *error, int code)
{
  if (code >= 0 && !g_error_matches (error, XM_TLS_ERROR, XM_TLS_ERROR_KEY_UPDATES))
    {
      GError *e = g_error_new (XM_LEG_ERROR, code, "TLS %s the %s failed: %s",
                               code == XM_LEG_ERROR_READ ? "from" : "to",
                               xm_leg_name (t->base.leg), error->message);
      g_error_free (error);
      error = e;
    }
  xm_leg_fail (t->base.leg, &t->base, error);
}

static void
handshake_done (TlsLayer *t)
{
  XmLeg *leg = t->base.leg;

  t->notify (&t->base, XM_LAYER_TLS_UP, t->user_data);
  if (!xm_leg_alive (leg))
    return;
  if (t->wait)
    {
      g_autoptr (GByteArray) wait = g_steal_pointer (&t->wait);
      GError *error = NULL;
      if (!xm_tls_write (t->tls, wait->data, wait->len, &error))
        {
          fail (t, error, XM_LEG_ERROR_WRITE);
          return;
        }
      flush_records (t);
    }
  xm_leg_layer_settled (leg, &t->base);
}

/* Handshake as far as the input goes, then records up to the owner. */
static void
pump (TlsLayer *t)
{
  XmLeg *leg = t->base.leg;
  GError *error = NULL;

  if (!xm_tls_is_ready (t->tls))
    {
      XmTlsStatus st;

      if (t->base.hold)
        return;
      st = xm_tls_handshake (t->tls, &error);
      flush_records (t);
      if (!xm_leg_alive (leg))
        {
          g_clear_error (&error);
          return;
        }
      switch (st)
        {
        case XM_TLS_AGAIN:
          return;
        case XM_TLS_PAUSED:
          xm_layer_set_hold (&t->base, TRUE);
          t->notify (&t->base, XM_LAYER_TLS_HELLO, t->user_data);
          return;
        case XM_TLS_CERT_WANTED:
          xm_layer_set_hold (&t->base, TRUE);
          t->notify (&t->base, XM_LAYER_TLS_CERT_WANTED, t->user_data);
          return;
        case XM_TLS_FAILED:
          fail (t, error, -1);
          return;
        case XM_TLS_DONE:
          handshake_done (t);
          if (!xm_leg_alive (leg))
            return;
          break;
        }
    }
  for (;;)
    {
      gssize r = xm_tls_read (t->tls, plain_scratch, sizeof plain_scratch, &error);

      if (r > 0)
        {
          xm_layer_up (&t->base, plain_scratch, r);
          if (!xm_leg_alive (leg))
            return;
          continue;
        }
      if (r == -1)
        xm_leg_layer_eof (leg, &t->base); /* close_notify */
      else if (r == -2)
        {
          fail (t, error, XM_LEG_ERROR_READ);
          return;
        }
      break;
    }
  if (xm_leg_alive (leg))
    flush_records (t);
}

static void
tls_start (XmLayer *layer)
{
  TlsLayer *t = tls_of (layer);

  if (!t->server)
    pump (t); /* the ClientHello goes out */
}

/* TLS reads the ciphertext in place and keeps only what is left of a
 * record cut by the end of the read. */
static void
tls_from_below (XmLayer *layer, const guint8 *data, gsize len)
{
  TlsLayer *t = tls_of (layer);

  xm_tls_push (t->tls, data, len);
  pump (t);
  xm_tls_push_end (t->tls);
}

static void
tls_from_above (XmLayer *layer, const guint8 *data, gsize len)
{
  TlsLayer *t = tls_of (layer);
  GError *error = NULL;

  if (!xm_tls_is_ready (t->tls))
    {
      if (t->wait == NULL)
        t->wait = g_byte_array_new ();
      g_byte_array_append (t->wait, data, len);
      return;
    }
  if (!xm_tls_write (t->tls, data, len, &error))
    {
      fail (t, error, XM_LEG_ERROR_WRITE);
      return;
    }
  flush_records (t);
}

static gsize
tls_pending (XmLayer *layer)
{
  TlsLayer *t = tls_of (layer);

  return t->wait ? t->wait->len : 0;
}

static gboolean
tls_busy (XmLayer *layer)
{
  return !xm_tls_is_ready (tls_of (layer)->tls);
}

static void
tls_shutdown (XmLayer *layer)
{
  TlsLayer *t = tls_of (layer);

  /* TLS first says it is closing (close_notify), then TCP does. */
  xm_tls_close_notify (t->tls);
  flush_records (t);
}

static void
tls_keep_buffers (XmLayer *layer, gboolean keep)
{
  xm_tls_keep_buffers (tls_of (layer)->tls, keep);
}

static void
tls_free (XmLayer *layer)
{
  TlsLayer *t = tls_of (layer);

  xm_tls_free (t->tls);
  if (t->wait)
    g_byte_array_unref (t->wait);
  g_free (t);
}

const XmLayerClass xm_layer_tls_class = {
  .name = "tls",
  .start = tls_start,
  .from_below = tls_from_below,
  .from_above = tls_from_above,
  .pending = tls_pending,
  .busy = tls_busy,
  .shutdown = tls_shutdown,
  .keep_buffers = tls_keep_buffers,
  .free = tls_free,
};

static XmLayer *
tls_layer_new (XmTls *tls, gboolean server, XmLayerTlsNotify notify, gpointer user_data)
{
  TlsLayer *t = g_new0 (TlsLayer, 1);

  t->base.klass = &xm_layer_tls_class;
  t->tls = tls;
  t->server = server;
  t->notify = notify;
  t->user_data = user_data;
  return &t->base;
}

XmLayer *
xm_layer_tls_new_client (const char *sni, const char *verify_name,
                         const guint8 *alpn, gsize alpn_len,
                         XmLayerTlsNotify notify, gpointer user_data)
{
  return tls_layer_new (xm_tls_new_client (sni, verify_name, alpn, alpn_len),
                        FALSE, notify, user_data);
}

XmLayer *
xm_layer_tls_new_server (XmLayerTlsNotify notify, gpointer user_data)
{
  return tls_layer_new (xm_tls_new_server (), TRUE, notify, user_data);
}

void
xm_layer_tls_set_leaf (XmLayer *layer, X509 *leaf, EVP_PKEY *key, const char *alpn)
{
  TlsLayer *t = tls_of (layer);

  xm_tls_set_leaf (t->tls, leaf, key, alpn);
  xm_layer_set_hold (layer, FALSE);
  if (layer->leg && xm_leg_alive (layer->leg))
    pump (t);
}

void
xm_layer_tls_set_client_cert (XmLayer *layer, X509 *cert, EVP_PKEY *key)
{
  TlsLayer *t = tls_of (layer);

  xm_tls_set_client_cert (t->tls, cert, key);
  xm_layer_set_hold (layer, FALSE);
  if (layer->leg && xm_leg_alive (layer->leg))
    pump (t);
}

char *
xm_layer_tls_why (const GError *error, gboolean facing_server,
                  const char *verify_name, const char *ca_path)
{
  if (g_error_matches (error, XM_TLS_ERROR, XM_TLS_ERROR_KEY_UPDATES))
    return g_strdup_printf ("the %s sent %s: a KeyUpdate flood, the "
                            "connection is closed", facing_server ? "server" : "client",
                            error->message);
  if (facing_server && g_error_matches (error, XM_TLS_ERROR, XM_TLS_ERROR_VERIFY))
    return g_strdup_printf ("its certificate does not verify for '%s': %s (give "
                            "its CA with --upstream-ca FILE, or skip the check "
                            "with --upstream-insecure)", verify_name, error->message);
  if (facing_server)
    return g_strdup (error->message);
  if (g_error_matches (error, XM_TLS_ERROR, XM_TLS_ERROR_UNTRUSTED))
    return g_strdup_printf ("the client does not trust xmitm's CA; export it "
                            "with `xmitm ca export` (it is %s) and add it to the "
                            "client's trust store [%s]", ca_path, error->message);
  if (g_error_matches (error, XM_TLS_ERROR, XM_TLS_ERROR_NOT_TLS))
    return g_strdup_printf ("the client did not speak TLS where it should have: %s",
                            error->message);
  return g_strdup_printf ("TLS handshake with the client failed: %s", error->message);
}

X509 *
xm_layer_tls_forge (XmCa *ca, const char *name, X509 *upstream, char **how)
{
  g_autoptr (GError) error = NULL;
  guint made0, made1, hits;
  gint64 t0 = g_get_monotonic_time ();
  X509 *leaf;

  xm_ca_stats (ca, &made0, &hits);
  leaf = xm_ca_forge (ca, name, upstream, &error);
  if (leaf == NULL)
    {
      *how = g_strdup_printf ("cannot forge a certificate for %s: %s", name,
                              error->message);
      return NULL;
    }
  xm_ca_stats (ca, &made1, &hits);
  *how = made1 > made0
    ? g_strdup_printf ("made for %s in %.2f ms", name,
                       (g_get_monotonic_time () - t0) / 1000.0)
    : g_strdup_printf ("for %s, from the cache", name);
  return leaf;
}
