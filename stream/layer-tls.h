/* layer-tls.h: TLS as a layer of a leg, over tls.h's engine (OpenSSL over
 * BIOs of xmitm's own: it reads ciphertext where the leg received it and
 * writes records into the array the leg sends from). Both roles: the
 * client role faces a server; the server role faces a client and presents
 * a leaf forged by xmitm's CA. */
#pragma once

#include "certs.h"
#include "layer.h"
#include "tls.h"

G_BEGIN_DECLS

extern const XmLayerClass xm_layer_tls_class;

typedef enum {
  /* Server role: the ClientHello is in (SNI and ALPN known) and the
   * handshake waits for xm_layer_tls_set_leaf(). */
  XM_LAYER_TLS_HELLO,
  /* Client role, after xm_tls_pause_for_client_cert() on its engine: the
   * server asked for a client certificate; the handshake waits for
   * xm_layer_tls_set_client_cert(). */
  XM_LAYER_TLS_CERT_WANTED,
  /* The handshake is done; plaintext sent before it goes out next. */
  XM_LAYER_TLS_UP,
} XmLayerTlsEvent;

typedef void (*XmLayerTlsNotify) (XmLayer *layer, XmLayerTlsEvent what,
                                  gpointer user_data);

/* sni: sent (NULL: none); the certificate is verified for verify_name
 * (NULL: chain only); alpn: a wire-format list to offer (NULL: none). The
 * handshake starts when the layer is pushed. */
XmLayer *xm_layer_tls_new_client (const char *sni, const char *verify_name,
                                  const guint8 *alpn, gsize alpn_len,
                                  XmLayerTlsNotify notify, gpointer user_data);
XmLayer *xm_layer_tls_new_server (XmLayerTlsNotify notify, gpointer user_data);

/* The engine, for what it tells (tls.h: describe, info, SNI, ALPN). */
XmTls *xm_layer_tls_engine (XmLayer *layer);
gboolean xm_layer_tls_is_up (XmLayer *layer);
/* Server role: the certificate to present (alpn: the protocol to select,
 * or NULL); the handshake goes on, and a hold (xm_layer_set_hold(): the
 * proxy does not read the client until it has the server's certificate
 * to copy names from) ends. */
void xm_layer_tls_set_leaf (XmLayer *layer, X509 *leaf, EVP_PKEY *key,
                            const char *alpn);

/* Client role, after XM_LAYER_TLS_CERT_WANTED: the certificate to present
 * (NULL, NULL: none); the handshake goes on. */
void xm_layer_tls_set_client_cert (XmLayer *layer, X509 *cert, EVP_PKEY *key);

/* What a failed handshake (an XM_TLS_ERROR) means, with the next step
 * (or a KeyUpdate flood, XM_TLS_ERROR_KEY_UPDATES, at any time).
 * facing_server: the layer was in the client role (the caller names the
 * server first); verify_name: what its certificate was checked against;
 * ca_path: xmitm's CA certificate, for a client that does not trust it. */
char *xm_layer_tls_why (const GError *error, gboolean facing_server,
                        const char *verify_name,
                        const char *ca_path) G_GNUC_WARN_UNUSED_RESULT;

/* Forges the leaf a client is shown for name (copying the names of the
 * upstream certificate, if any); how says what it cost or, on failure,
 * why, for the output. New reference or NULL. */
X509 *xm_layer_tls_forge (XmCa *ca, const char *name, X509 *upstream,
                          char **how) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
