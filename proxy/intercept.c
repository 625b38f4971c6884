/* intercept.c: TLS interception (RFC 6120 §5, XEP-0368). After the
 * server's <proceed/> both legs get a TLS layer at that byte: the upstream
 * one starts its handshake, the client's waits until the server's
 * certificate is known, so the leaf xmitm forges for the client carries
 * the same names. A client that opens with a ClientHello pauses there
 * until its SNI and ALPN have been passed on upstream.
 *
 * A server that asks for a client certificate (an s2s receiving server,
 * for SASL EXTERNAL) pauses the upstream handshake there: xmitm then gives
 * the client its leaf at once, asks it for a certificate in turn, and once
 * the client's handshake is done presents the server a certificate forged
 * with the names of the client's (and the stream's `from`), or none if the
 * client presented none. */
#include "config.h"

#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "session-private.h"

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

static gboolean
on_tls_timeout (gpointer data)
{
  XmSession *s = data;
  g_autofree char *why = NULL;

  s->tls_timer = 0;
  why = g_strdup_printf ("the TLS handshake with the %s did not finish within "
                         "%u s", tls_pending (&s->side[SERVER]) ? "server" : "client",
                         xm_proxy_config (s->proxy)->tls_timeout_s);
  xm_session_note (s, XM_DIR_NONE, XM_NOTE_ERROR, "%s", why);
  xm_session_end (s, why, FALSE);
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

static void on_tls (XmLayer *layer, XmLayerTlsEvent what, gpointer user_data);

/* The client's ALPN offer (RFC 7301 wire format) without the protocols
 * xmitm cannot decode (HTTP/2 and 3: a web client offers h2 first, and a
 * server that picks it would leave nothing to read), said in a note. The
 * server then picks among the rest (http/1.1, xmpp-client...). */
static GByteArray *
alpn_we_read (XmSession *s, const guint8 *alpn, gsize len)
{
  static const char *const dropped[] = { "h2", "h2c", "h3" };
  GByteArray *kept = g_byte_array_new ();
  g_autoptr (GString) gone = g_string_new (NULL);

  for (gsize i = 0; i < len && i + 1 + alpn[i] <= len; i += 1 + alpn[i])
    {
      gboolean drop = FALSE;

      for (guint k = 0; k < G_N_ELEMENTS (dropped); k++)
        drop |= alpn[i] == strlen (dropped[k])
                && memcmp (alpn + i + 1, dropped[k], alpn[i]) == 0;
      if (!drop)
        g_byte_array_append (kept, alpn + i, 1 + alpn[i]);
      else
        g_string_append_printf (gone, "%s%.*s", gone->len ? ", " : "",
                                (int) alpn[i], (const char *) alpn + i + 1);
    }
  if (gone->len)
    xm_session_note (s, XM_DIR_NONE, XM_NOTE_INFO, "the client offered ALPN %s: "
                     "not passed on to the server (xmitm decodes HTTP/1.1, not "
                     "HTTP/2 or 3)", gone->str);
  return kept;
}

/* The upstream leg starts TLS: STARTTLS after <proceed/>, or direct TLS
 * once the client's ClientHello told us the name. */
void
xm_intercept_upstream (XmSession *s)
{
  const XmProxyConfig *cfg = xm_proxy_config (s->proxy);
  gsize alpn_len = 0;
  const guint8 *alpn = s->intercept == INTERCEPT_DIRECT
                       ? xm_tls_client_alpn (tls_of (&s->side[CLIENT]), &alpn_len) : NULL;
  g_autoptr (GByteArray) offer = alpn ? alpn_we_read (s, alpn, alpn_len) : NULL;
  XmLayer *tls = xm_layer_tls_new_client (s->tls_name,
                                          cfg->upstream_insecure ? NULL : s->tls_name,
                                          offer ? offer->data : NULL,
                                          offer ? offer->len : 0,
                                          on_tls, &s->side[SERVER]);

  xm_tls_pause_for_client_cert (xm_layer_tls_engine (tls));
  xm_observer_tls_started (s->obs);
  xm_leg_push (s->side[SERVER].leg, tls);
}

/* The server's certificate is known (tls: the server leg's): the client
 * gets a leaf with its names, and its handshake goes on; ask_cert: it is
 * asked for a certificate too. Once per session; FALSE if the session
 * ended. */
static gboolean
give_client_its_leaf (XmSession *s, XmTls *tls, gboolean ask_cert)
{
  const XmProxyConfig *cfg = xm_proxy_config (s->proxy);
  g_autofree char *how = NULL;
  g_autoptr (X509) leaf = NULL;
  XmLayer *client_tls = tls_layer (&s->side[CLIENT]);

  if (s->client_leaf_set)
    return TRUE;
  leaf = xm_layer_tls_forge (cfg->ca, s->tls_name, xm_tls_peer_cert (tls), &how);
  if (leaf == NULL)
    {
      xm_session_note (s, XM_DIR_NONE, XM_NOTE_ERROR, "%s", how);
      xm_session_end (s, how, FALSE);
      return FALSE;
    }
  xm_session_note (s, XM_DIR_NONE, XM_NOTE_INFO, "certificate for the client %s", how);
  s->client_leaf_set = TRUE;
  if (ask_cert)
    xm_tls_request_client_cert (xm_layer_tls_engine (client_tls));
  xm_layer_tls_set_leaf (client_tls, leaf, xm_ca_leaf_key (cfg->ca),
                         xm_tls_alpn_selected (tls));
  return !closed (s);
}

/* The server asked for a client certificate. */
static void
server_wants_client_cert (XmSession *s, XmTls *tls)
{
  s->client_cert = CLIENT_CERT_ASKED;
  xm_session_note (s, XM_DIR_NONE, XM_NOTE_INFO,
                   "the server asks for a client certificate (for SASL EXTERNAL "
                   "on s2s, or c2s): xmitm asks the client for one in turn");
  give_client_its_leaf (s, tls, TRUE);
}

/* The first name a certificate is for: its first DNS name, or its CN. */
static char *
cert_first_name (X509 *cert)
{
  GENERAL_NAMES *names = X509_get_ext_d2i (cert, NID_subject_alt_name, NULL, NULL);
  char cn[256];
  char *out = NULL;

  for (int i = 0; names && i < sk_GENERAL_NAME_num (names) && out == NULL; i++)
    {
      const GENERAL_NAME *n = sk_GENERAL_NAME_value (names, i);
      if (n->type == GEN_DNS)
        out = g_strndup ((const char *) ASN1_STRING_get0_data (n->d.dNSName),
                         ASN1_STRING_length (n->d.dNSName));
    }
  GENERAL_NAMES_free (names);
  if (out == NULL
      && X509_NAME_get_text_by_NID (X509_get_subject_name (cert), NID_commonName,
                                    cn, sizeof cn) > 0)
    out = g_strdup (cn);
  return out;
}

/* The client's handshake is done and the server waits for a client
 * certificate: one forged like the client's, or none as the client. */
static void
pass_client_cert (XmSession *s, XmTls *client)
{
  const XmProxyConfig *cfg = xm_proxy_config (s->proxy);
  X509 *peer = xm_tls_peer_cert (client);
  g_autofree char *name = NULL, *how = NULL, *subject = NULL, *issuer = NULL;
  g_autoptr (X509) forged = NULL;
  gboolean from_matches = FALSE;

  if (peer == NULL)
    {
      s->client_cert = CLIENT_CERT_NONE;
      xm_session_note (s, XM_DIR_NONE, XM_NOTE_INFO,
                       "the client presented no certificate: xmitm presents "
                       "none to the server either");
      xm_layer_tls_set_client_cert (tls_layer (&s->side[SERVER]), NULL, NULL);
      return;
    }
  subject = name_string (X509_get_subject_name (peer));
  issuer = name_string (X509_get_issuer_name (peer));
  {
    /* A copy signed by xmitm's CA vouches for its names to a server that
     * trusts that CA: only for a certificate that verifies as the
     * upstream's would (else anyone could get one for any domain). */
    g_autofree char *why = NULL;
    if (!xm_tls_verify_client_chain (client, &why))
      {
        s->client_cert = CLIENT_CERT_NONE;
        xm_session_note (s, XM_DIR_NONE, XM_NOTE_WARNING,
                         "the client's certificate (subject %s, issuer %s) does not "
                         "verify (%s): xmitm presents the server no client "
                         "certificate, since a copy signed by its CA would vouch "
                         "for it (give xmitm the client's CA with --upstream-ca)",
                         subject, issuer, why);
        xm_layer_tls_set_client_cert (tls_layer (&s->side[SERVER]), NULL, NULL);
        return;
      }
  }
  /* RFC 6120 §13.7.1.2: the receiving server looks for the stream's `from`
   * among the certificate's names. The forged copy carries the client's
   * names only: a `from` its certificate is not for must not become one
   * the server accepts because of xmitm. */
  if (s->client_from)
    {
      g_autofree char *from = xm_name_to_ascii (s->client_from);
      from_matches = X509_check_host (peer, from, 0, 0, NULL) == 1;
      if (from_matches)
        name = g_steal_pointer (&from);
    }
  if (name == NULL)
    name = cert_first_name (peer);
  if (s->client_from && !from_matches)
    {
      /* a hostile peer's `from`: printable, and not too long */
      g_autofree char *cut = g_strndup (s->client_from, 128);
      g_autofree char *claim = g_strescape (cut, NULL);
      xm_session_note (s, XM_DIR_C2S, XM_NOTE_WARNING,
                       "the client's stream says from='%s', but its certificate "
                       "(subject %s) is not for that domain: the server gets a "
                       "copy with the certificate's names only, and judges the "
                       "claim as it would without xmitm (RFC 6120 §13.7.1.2)",
                       claim, subject);
    }
  if (name == NULL)
    {
      s->client_cert = CLIENT_CERT_NONE;
      xm_session_note (s, XM_DIR_NONE, XM_NOTE_WARNING,
                       "the client's certificate (subject %s) names no domain: "
                       "xmitm presents the server no client certificate", subject);
      xm_layer_tls_set_client_cert (tls_layer (&s->side[SERVER]), NULL, NULL);
      return;
    }
  forged = xm_layer_tls_forge (cfg->ca, name, peer, &how);
  if (forged == NULL)
    {
      s->client_cert = CLIENT_CERT_NONE;
      xm_session_note (s, XM_DIR_NONE, XM_NOTE_ERROR, "%s; xmitm presents the "
                       "server no client certificate", how);
      xm_layer_tls_set_client_cert (tls_layer (&s->side[SERVER]), NULL, NULL);
      return;
    }
  s->client_cert = CLIENT_CERT_FORGED;
  g_free (s->client_cert_name);
  /* a name from the peer's certificate: printable when said */
  s->client_cert_name = g_strescape (name, NULL);
  xm_session_note (s, XM_DIR_NONE, XM_NOTE_INFO,
                   "the client presented a certificate (subject %s, issuer %s); "
                   "the server gets one with its names, signed by xmitm's CA, "
                   "%s", subject, issuer, how);
  xm_layer_tls_set_client_cert (tls_layer (&s->side[SERVER]), forged,
                                xm_ca_leaf_key (cfg->ca));
}

/* The server's certificate is known: the client gets a leaf with its
 * names, and its handshake goes on. */
static void
server_tls_up (XmSession *s, XmTls *tls, double ms)
{
  const XmProxyConfig *cfg = xm_proxy_config (s->proxy);
  g_autofree char *desc = xm_tls_describe (tls);
  X509 *cert = xm_tls_peer_cert (tls);
  g_autofree char *subject = cert ? name_string (X509_get_subject_name (cert)) : NULL;
  g_autofree char *issuer = cert ? name_string (X509_get_issuer_name (cert)) : NULL;
  g_autofree char *line = NULL;
  g_autofree char *fp = cert_sha256 (cert);
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
  xm_tls_info (tls, &info);
  xm_session_layer (s, XM_DIR_NONE, line, &info);
  give_client_its_leaf (s, tls, FALSE);
}

static void
client_tls_up (XmSession *s, XmTls *tls, double ms)
{
  g_autofree char *desc = xm_tls_describe (tls);
  /* Not "it accepted xmitm's certificate": some clients check it only
   * after the handshake (session.c, rejected_after_handshake()). */
  g_autofree char *line = g_strdup_printf ("TLS with the client up in %.1f ms: %s",
                                           ms, desc);
  XmLayerInfo info = { .layer = "tls", .leg = "client", .ms = ms };

  xm_tls_info (tls, &info);
  xm_session_layer (s, XM_DIR_NONE, line, &info);
  g_clear_handle_id (&s->tls_timer, g_source_remove);
  s->client_tls_up = TRUE;
  s->c2s_at_tls_up = s->bytes[XM_DIR_C2S];
  xm_observer_tls_up (s->obs);
  if (s->client_cert == CLIENT_CERT_ASKED)
    pass_client_cert (s, tls);
}

/* XEP-0368: the client opened with a ClientHello, and its SNI and ALPN
 * are known: connect upstream with TLS as well. */
static void
client_hello (XmSession *s, XmTls *tls)
{
  const XmProxyConfig *cfg = xm_proxy_config (s->proxy);

  g_free (s->tls_name);
  s->tls_name = g_strdup (xm_tls_client_sni (tls) ? xm_tls_client_sni (tls)
                          : cfg->upstream_tls_host && !s->transparent
                          ? cfg->upstream_tls_host : s->dest_host);
  if (s->upstream == UPSTREAM_NONE)
    {
      if (cfg->upstream_tls_host && !s->transparent)
        xm_upstream_connect (s, cfg->upstream_tls_host, cfg->upstream_tls_port);
      else
        xm_upstream_connect (s, s->dest_host, s->dest_port);
    }
  else if (s->upstream == UPSTREAM_CONNECTED && tls_layer (&s->side[SERVER]) == NULL)
    {
      xm_intercept_upstream (s);
    }
}

static void
on_tls (XmLayer *l, XmLayerTlsEvent what, gpointer user_data)
{
  Side *side = user_data;
  XmSession *s = side->s;
  XmTls *tls = xm_layer_tls_engine (l);

  if (what == XM_LAYER_TLS_HELLO)
    client_hello (s, tls);
  else if (what == XM_LAYER_TLS_CERT_WANTED)
    server_wants_client_cert (s, tls);
  else if (side->side == SERVER)
    server_tls_up (s, tls, (g_get_monotonic_time () - s->tls_start) / 1000.0);
  else
    client_tls_up (s, tls, (g_get_monotonic_time () - s->tls_start) / 1000.0);
}

/* RFC 6120 §5.4.3.3: after the server's <proceed/>, TLS on both legs. */
void
xm_intercept_starttls (XmSession *s)
{
  XmLayer *client_tls;

  g_free (s->tls_name);
  /* RFC 6125 §6.4.2: an internationalised `to` is verified and forged as
   * its A-labels. */
  s->tls_name = xm_name_to_ascii (s->client_to ? s->client_to : s->dest_host);
  s->intercept = INTERCEPT_STARTTLS;
  xm_observer_switch (s->obs);
  start_tls_timer (s);
  /* The client's handshake waits until the server's certificate is known,
   * so the forged leaf can carry the same names. */
  client_tls = xm_layer_tls_new_server (on_tls, &s->side[CLIENT]);
  xm_layer_set_hold (client_tls, TRUE);
  xm_leg_push (s->side[CLIENT].leg, client_tls);
  xm_intercept_upstream (s);
}

/* XEP-0368: the client's first bytes are a ClientHello: its TLS starts
 * (and pauses at the ClientHello, XM_LAYER_TLS_HELLO). */
void
xm_intercept_direct (XmSession *s)
{
  s->intercept = INTERCEPT_DIRECT;
  xm_session_simple_layer (s, XM_DIR_C2S, "direct-tls", "the client opened with a TLS ClientHello (XEP-0368 "
                        "direct TLS)");
  start_tls_timer (s);
  /* a <proceed/> from the server cannot start STARTTLS over this */
  xm_observer_tls_started (s->obs);
  xm_leg_push (s->side[CLIENT].leg, xm_layer_tls_new_server (on_tls, &s->side[CLIENT]));
}

