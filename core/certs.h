/* certs.h: xmitm's certificate authority and the leaves it forges.
 *
 * The CA lives in $XDG_DATA_HOME/xmitm (ca.pem, ca-key.pem mode 0600) unless
 * the user names one. Leaves share one EC P-256 key made at start-up, so
 * forging a leaf costs one signature; they are cached per name and upstream
 * certificate, the least recently used dropped beyond XM_CA_CACHE_LEAVES
 * leaves or about XM_CA_CACHE_BYTES. */
#pragma once

#include <glib.h>
#include <openssl/x509.h>
#include <openssl/evp.h>

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC (X509, X509_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_PKEY, EVP_PKEY_free)

#define XM_CERT_ERROR (xm_cert_error_quark ())
GQuark xm_cert_error_quark (void);

typedef enum {
  XM_CERT_ERROR_IO,
  XM_CERT_ERROR_BAD_FILE,
  XM_CERT_ERROR_CRYPTO,
} XmCertError;

typedef struct _XmCa XmCa;

/* The default CA directory: $XDG_DATA_HOME/xmitm (~/.local/share/xmitm). */
char *xm_ca_default_dir (void) G_GNUC_WARN_UNUSED_RESULT;

/* Loads cert_path/key_path; with create, makes a new CA there first when
 * neither file exists. */
XmCa *xm_ca_open (const char *cert_path, const char *key_path, gboolean create,
                  GError **error);
void xm_ca_free (XmCa *ca);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmCa, xm_ca_free)

const char *xm_ca_cert_path (const XmCa *ca);
X509 *xm_ca_cert (const XmCa *ca);          /* borrowed */
EVP_PKEY *xm_ca_leaf_key (const XmCa *ca);  /* borrowed */
char *xm_ca_cert_pem (const XmCa *ca) G_GNUC_WARN_UNUSED_RESULT;

/* A leaf for name (as xm_name_to_ascii() makes it), signed by the CA. When upstream is given its subject CN
 * and subjectAltName (DNS names, XmppAddr and SRVName otherNames) are
 * copied, and name is added as a DNS name if it is missing. Returns a new
 * reference (cached: the same leaf for the same name and upstream). */
X509 *xm_ca_forge (XmCa *ca, const char *name, X509 *upstream, GError **error)
  G_GNUC_WARN_UNUSED_RESULT;

/* name as certificates carry it: an internationalised domain in Unicode
 * (U-labels) becomes its A-labels (IDNA, RFC 5890; RFC 6125 §6.4.2 and
 * RFC 6120 §13.7.1.2 compare reference identifiers in that form), for the
 * upstream's verification, SNI and the forged leaf alike. ASCII names and
 * IP addresses come back as they are; so does a name IDNA refuses.
 * Returns a new string. */
char *xm_name_to_ascii (const char *name) G_GNUC_WARN_UNUSED_RESULT;

/* Forging statistics: leaves made and cache hits. */
void xm_ca_stats (const XmCa *ca, guint *made, guint *hits);

/* The forged-leaf cache's bounds (an LRU; a leaf a session still uses stays
 * alive through its own reference). */
#define XM_CA_CACHE_LEAVES 1024u
#define XM_CA_CACHE_BYTES ((gsize) 4 << 20)
/* Leaves cached now, their estimated bytes, and leaves dropped so far. */
void xm_ca_cache_stats (const XmCa *ca, guint *leaves, gsize *bytes, guint *evicted);
/* Other bounds (tests); drops what is over them at once. */
void xm_ca_set_cache_limits (XmCa *ca, guint max_leaves, gsize max_bytes);

G_END_DECLS
