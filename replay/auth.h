/* auth.h: SASL mechanisms (and XEP-0078 digests) replay computes anew:
 * the client's side, and the server's for replay --serve.
 *
 * Pure: strings in, strings out, no I/O. SCRAM (RFC 5802, RFC 7677) and
 * DIGEST-MD5 (RFC 2831) are recomputed from the password for each session,
 * since their messages depend on nonces; PLAIN is built from the password
 * when the recording did not keep its payload. Hashes, HMAC and PBKDF2 are
 * OpenSSL's. Passwords are used as given (SASLprep, RFC 4013, maps
 * nothing in ASCII; other passwords should already be in NFKC). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define XM_AUTH_ERROR (xm_auth_error_quark ())
GQuark xm_auth_error_quark (void);

typedef enum {
  XM_AUTH_ERROR_UNSUPPORTED, /* a mechanism replay cannot compute */
  XM_AUTH_ERROR_PROTOCOL,    /* the server's message is malformed */
  XM_AUTH_ERROR_SERVER,      /* the server failed to prove it knows the
                              * password (SCRAM v=, DIGEST-MD5 rspauth) */
} XmAuthError;

/* TRUE for the mechanisms replay can compute from a password:
 * SCRAM-SHA-1, SCRAM-SHA-256, SCRAM-SHA-512, DIGEST-MD5, PLAIN. */
gboolean xm_auth_can_compute (const char *mechanism);

/* "\0authcid\0password" with authzid in front if given (RFC 4616). */
GBytes *xm_auth_plain (const char *authzid, const char *authcid,
                       const char *password) G_GNUC_WARN_UNUSED_RESULT;

/* ---- SCRAM (RFC 5802 §5) ---- */

typedef struct _XmScram XmScram;

/* mechanism: SCRAM-SHA-1, SCRAM-SHA-256 or SCRAM-SHA-512 (not -PLUS:
 * replay does not do channel binding, so its GS2 flag is 'n').
 * cnonce: the client nonce, NULL for a random one (tests pass the RFC's). */
XmScram *xm_scram_new (const char *mechanism, const char *authzid,
                       const char *username, const char *password,
                       const char *cnonce, GError **error);
void xm_scram_free (XmScram *scram);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmScram, xm_scram_free)

/* client-first-message: "n,,n=user,r=cnonce". Borrowed. */
const char *xm_scram_client_first (XmScram *scram);
/* From the server-first-message, the client-final-message
 * ("c=biws,r=...,p=..."). Checks that the server's nonce extends ours and
 * that the salt and iteration count are sane. Returns a new string. */
char *xm_scram_client_final (XmScram *scram, const char *server_first,
                             gsize len, GError **error) G_GNUC_WARN_UNUSED_RESULT;
/* Checks the server-final-message's v= against the expected signature;
 * an e= is reported as the server's error. */
gboolean xm_scram_verify (XmScram *scram, const char *server_final, gsize len,
                          GError **error);

/* ---- SCRAM, the server's side (replay --serve) ---- */

typedef struct _XmScramServer XmScramServer;

/* salt (raw bytes) and iterations as the server stores them; snonce: the
 * server's nonce part, NULL for a random one. */
XmScramServer *xm_scram_server_new (const char *mechanism, const guint8 *salt,
                                    gsize salt_len, guint iterations,
                                    const char *snonce, GError **error);
void xm_scram_server_free (XmScramServer *scram);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmScramServer, xm_scram_server_free)

/* Reads the client-first-message; returns the user name it names (a new,
 * unescaped string) or NULL with error (bad GS2 header, channel binding
 * asked for, no n= or r=). */
char *xm_scram_server_read_first (XmScramServer *scram, const char *client_first,
                                  gsize len, GError **error) G_GNUC_WARN_UNUSED_RESULT;
/* The server-first-message, once the password of that user is known. */
char *xm_scram_server_first (XmScramServer *scram, const char *password)
  G_GNUC_WARN_UNUSED_RESULT;
/* Checks the client-final-message (channel binding data, nonce, proof);
 * returns the server-final-message ("v=...") or NULL with error. */
char *xm_scram_server_final (XmScramServer *scram, const char *client_final,
                             gsize len, GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* ---- DIGEST-MD5 (RFC 2831 §2.1) ---- */

/* The digest-response to challenge (the server's first message), for
 * digest-uri service/host, or NULL with error. cnonce: NULL for a random
 * one. rspauth (optional) receives the value the server must send back
 * (RFC 2831 §2.1.3), a new string. */
char *xm_digest_md5_response (const char *challenge, gsize len,
                              const char *authzid, const char *username,
                              const char *password, const char *service,
                              const char *host, const char *cnonce,
                              char **rspauth, GError **error)
  G_GNUC_WARN_UNUSED_RESULT;

/* The value of rspauth= in the server's second challenge (or in the
 * additional data of its success), NULL if there is none. New string. */
char *xm_digest_md5_rspauth (const char *msg, gsize len) G_GNUC_WARN_UNUSED_RESULT;

/* ---- DIGEST-MD5, the server's side (replay --serve) ---- */

/* The digest-challenge (RFC 2831 §2.1.1): realm (if given), nonce (NULL
 * for a random one, returned in nonce_out), qop "auth", charset utf-8,
 * algorithm md5-sess. A new string. */
char *xm_digest_md5_challenge (const char *realm, const char *nonce,
                               char **nonce_out) G_GNUC_WARN_UNUSED_RESULT;
/* The username a digest-response names, NULL if none. New string. */
char *xm_digest_md5_response_user (const char *response, gsize len)
  G_GNUC_WARN_UNUSED_RESULT;
/* Checks a digest-response to the challenge with nonce, for service
 * (digest-uri service/...), against password: the response-auth to send
 * back ("rspauth=...", RFC 2831 §2.1.3), or NULL with error
 * (XM_AUTH_ERROR_SERVER when the response value is wrong). */
char *xm_digest_md5_server_check (const char *response, gsize len,
                                  const char *nonce, const char *password,
                                  const char *service, GError **error)
  G_GNUC_WARN_UNUSED_RESULT;

/* ---- XEP-0078 jabber:iq:auth ---- */

/* §3 digest: hex SHA-1 (lower case) of the stream id followed by the
 * password. */
char *xm_auth_legacy_digest (const char *stream_id, const char *password)
  G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
