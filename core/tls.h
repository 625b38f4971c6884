/* tls.h: one TLS endpoint over in-memory BIOs. The session moves ciphertext
 * between its socket and this object; OpenSSL never touches a socket, so
 * the main loop owns all I/O. */
#pragma once

#include <glib.h>
#include <openssl/ssl.h>

#include "certs.h"
#include "event.h"

G_BEGIN_DECLS

#define XM_TLS_ERROR (xm_tls_error_quark ())
GQuark xm_tls_error_quark (void);

typedef enum {
  XM_TLS_ERROR_HANDSHAKE,
  XM_TLS_ERROR_VERIFY,        /* the upstream certificate did not verify */
  XM_TLS_ERROR_UNTRUSTED,     /* the client rejected xmitm's certificate */
  XM_TLS_ERROR_NOT_TLS,       /* the peer did not speak TLS */
  XM_TLS_ERROR_PROTOCOL,
  XM_TLS_ERROR_KEY_UPDATES,   /* the peer floods TLS 1.3 KeyUpdates */
} XmTlsError;

/* RFC 8446 §4.6.3: either peer may update its sending keys at any time.
 * Each update costs a key derivation (and, with a key log, a line), so a
 * peer may send this many in a row, then one a second; one more and its
 * next read fails with XM_TLS_ERROR_KEY_UPDATES, at that record: a read
 * never does more than this many key derivations for the peer. */
#define XM_TLS_KEY_UPDATE_BURST 32

typedef enum {
  XM_TLS_AGAIN,   /* needs more ciphertext from the peer */
  XM_TLS_PAUSED,  /* ClientHello seen (server role): SNI/ALPN known, waiting
                   * for xm_tls_set_leaf() before going on */
  XM_TLS_CERT_WANTED, /* client role, after xm_tls_pause_for_client_cert():
                       * the server asked for a client certificate (its own
                       * is verified and known): waiting for
                       * xm_tls_set_client_cert() before going on */
  XM_TLS_DONE,
  XM_TLS_FAILED,
} XmTlsStatus;

/* Per-process contexts: the server role (facing clients) and the client
 * role (facing servers). */
typedef struct {
  gboolean insecure;        /* do not verify upstream certificates */
  const char *upstream_ca;  /* extra CA file, or NULL */
  const char *keylog;       /* NSS key log file, or NULL */
} XmTlsConfig;

gboolean xm_tls_init (const XmTlsConfig *config, GError **error);
void xm_tls_cleanup (void);

typedef struct _XmTls XmTls;

/* Server role: facing a client, presenting a forged leaf.
 * Client role: facing the server; sni is sent (NULL: none), the certificate
 * is verified for verify_name (NULL: chain only), alpn is a wire-format
 * list to offer (NULL: none). */
XmTls *xm_tls_new_server (void);
XmTls *xm_tls_new_client (const char *sni, const char *verify_name,
                          const guint8 *alpn, gsize alpn_len);
void xm_tls_free (XmTls *tls);

/* Ciphertext that arrived from the peer. TLS reads it in place: data must
 * stay as it is until xm_tls_push_end(), which keeps what TLS has not read
 * yet (the start of a record cut by the end of a read). In between, the
 * handshake and xm_tls_read() take their input from it. */
void xm_tls_push (XmTls *tls, const guint8 *data, gsize len);
void xm_tls_push_end (XmTls *tls);
/* Ciphertext waiting to be sent to the peer; after sending (or queueing)
 * it, call xm_tls_output_done(). */
gsize xm_tls_output (XmTls *tls, const guint8 **data);
void xm_tls_output_done (XmTls *tls);

XmTlsStatus xm_tls_handshake (XmTls *tls, GError **error);
gboolean xm_tls_is_ready (const XmTls *tls);
/* Server role: xmitm's certificate flight has gone out to the client. */
gboolean xm_tls_certificate_sent (const XmTls *tls);
/* Bytes of a TLS record came in that is not complete yet. */
gboolean xm_tls_input_incomplete (const XmTls *tls);

/* Server role, after XM_TLS_PAUSED: what the client asked for. */
const char *xm_tls_client_sni (const XmTls *tls);
const guint8 *xm_tls_client_alpn (const XmTls *tls, gsize *len);
/* Server role: the certificate to present; alpn: the protocol to select
 * when the client offers it (what the upstream chose), or NULL. */
void xm_tls_set_leaf (XmTls *tls, X509 *leaf, EVP_PKEY *key, const char *alpn);

/* Client role: pause the handshake when the server asks for a client
 * certificate (XM_TLS_CERT_WANTED), until xm_tls_set_client_cert() says
 * which (before the handshake starts). Without it none is presented. */
void xm_tls_pause_for_client_cert (XmTls *tls);
/* Client role: the server asked for a client certificate. */
gboolean xm_tls_client_cert_wanted (const XmTls *tls);
/* Client role: the certificate and key to present (both NULL: none);
 * references are taken. */
void xm_tls_set_client_cert (XmTls *tls, X509 *cert, EVP_PKEY *key);
/* Server role: ask the client for a certificate, and take whatever it
 * presents (before the leaf is set); xm_tls_peer_cert() gives it. */
void xm_tls_request_client_cert (XmTls *tls);

/* Plaintext: > 0 bytes read; 0 nothing more now; -1 the peer closed TLS
 * (close_notify); -2 error (set; XM_TLS_ERROR_KEY_UPDATES for a flood). */
gssize xm_tls_read (XmTls *tls, guint8 *buf, gsize len, GError **error);
/* Encrypts all of data (the output BIO never blocks). */
gboolean xm_tls_write (XmTls *tls, const guint8 *data, gsize len, GError **error);
void xm_tls_close_notify (XmTls *tls);
/* Whether tls keeps its record buffers and its output array between
 * records (a busy session) or frees them whenever they drain (the
 * default, for idle ones). */
void xm_tls_keep_buffers (XmTls *tls, gboolean keep);

/* A sentence for the printer: version, cipher, SNI, ALPN, certificate. */
char *xm_tls_describe (XmTls *tls) G_GNUC_WARN_UNUSED_RESULT;
/* Fills version, cipher, SNI and ALPN of info (borrowed from tls). */
void xm_tls_info (XmTls *tls, XmLayerInfo *info);
/* The peer's certificate (borrowed, NULL if none): the server's in the
 * client role, the client's in the server role. */
X509 *xm_tls_peer_cert (XmTls *tls);
/* Server role: whether the client's certificate chain verifies against
 * what the upstream leg trusts (the system store and --upstream-ca; no
 * name is checked here). TRUE without a check under --upstream-insecure.
 * FALSE with *why (newly allocated) otherwise. */
gboolean xm_tls_verify_client_chain (XmTls *tls, char **why);
/* The protocol ALPN selected, borrowed, or NULL. */
const char *xm_tls_alpn_selected (XmTls *tls);

G_END_DECLS
