/* certs.c: see certs.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <glib/gstdio.h>

#include "certs.h"
#include "files.h"

G_DEFINE_QUARK (xm-cert-error-quark, xm_cert_error)

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BIO, BIO_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GENERAL_NAMES, GENERAL_NAMES_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BIGNUM, BN_free)

#define CA_DAYS 3650
#define LEAF_DAYS 365

/* One cached leaf. The cache is bounded by count and by memory (issue 25:
 * a client can ask for any number of SNI names under a wildcard upstream
 * certificate); the least recently used leaf goes first. A leaf in use by
 * a session holds its own reference and outlives its eviction. */
typedef struct {
  char *key;     /* "name\nsha256-of-upstream", also the hash table's key */
  X509 *leaf;
  gsize cost;    /* estimated bytes: DER size, the decoded form, the key */
  GList link;    /* in XmCa.lru, newest at the head */
} Leaf;

/* The decoded X509 (its names, extensions, cached hashes) and the table's
 * bookkeeping, beyond the DER bytes: measured at about 2.5 KiB per leaf in
 * all with a 600-byte DER. */
#define LEAF_OVERHEAD 2048

struct _XmCa {
  char *cert_path;
  X509 *cert;
  EVP_PKEY *key;
  EVP_PKEY *leaf_key;
  GHashTable *leaves; /* Leaf.key -> Leaf* */
  GQueue lru;         /* of Leaf, most recently used first */
  gsize bytes;        /* sum of Leaf.cost */
  guint max_leaves;
  gsize max_bytes;
  guint made, hits, evicted;
};

static void
leaf_free (Leaf *l)
{
  X509_free (l->leaf);
  g_free (l->key);
  g_free (l);
}

/* Drops the least recently used leaves until the cache is within its
 * bounds. */
static void
evict (XmCa *ca)
{
  while (ca->lru.length > 0
         && (ca->lru.length > ca->max_leaves || ca->bytes > ca->max_bytes))
    {
      Leaf *old = ca->lru.tail->data;

      g_queue_unlink (&ca->lru, &old->link);
      ca->bytes -= old->cost;
      ca->evicted++;
      g_hash_table_remove (ca->leaves, old->key); /* frees old */
    }
}

/* The newest OpenSSL error as words, and clear the queue. */
static char *
ssl_error_string (void)
{
  unsigned long e = ERR_get_error ();
  char buf[256];

  ERR_clear_error ();
  if (e == 0)
    return g_strdup ("unknown OpenSSL error");
  ERR_error_string_n (e, buf, sizeof buf);
  return g_strdup (buf);
}

static gboolean
crypto_failed (GError **error, const char *what)
{
  g_autofree char *why = ssl_error_string ();

  g_set_error (error, XM_CERT_ERROR, XM_CERT_ERROR_CRYPTO, "%s: %s", what, why);
  return FALSE;
}

char *
xm_ca_default_dir (void)
{
  return g_build_filename (g_get_user_data_dir (), "xmitm", NULL);
}

static gboolean
add_ext (X509 *cert, X509 *issuer, int nid, const char *value)
{
  X509V3_CTX ctx;
  X509_EXTENSION *ext;

  X509V3_set_ctx_nodb (&ctx);
  X509V3_set_ctx (&ctx, issuer, cert, NULL, NULL, 0);
  ext = X509V3_EXT_conf_nid (NULL, &ctx, nid, value);
  if (ext == NULL)
    return FALSE;
  X509_add_ext (cert, ext, -1);
  X509_EXTENSION_free (ext);
  return TRUE;
}

static gboolean
set_serial_and_validity (X509 *cert, int days)
{
  guint8 serial[16];
  g_autoptr (BIGNUM) bn = NULL;

  if (RAND_bytes (serial, sizeof serial) != 1)
    return FALSE;
  serial[0] &= 0x7f; /* positive */
  bn = BN_bin2bn (serial, sizeof serial, NULL);
  if (bn == NULL || BN_to_ASN1_INTEGER (bn, X509_get_serialNumber (cert)) == NULL)
    return FALSE;
  /* A day of slack for clocks behind ours. */
  return X509_gmtime_adj (X509_getm_notBefore (cert), -24 * 3600) != NULL
         && X509_gmtime_adj (X509_getm_notAfter (cert), (long) days * 24 * 3600) != NULL;
}

static gboolean
write_private_file (const char *path, const char *data, gsize len, GError **error)
{
  int fd = g_open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  int err;

  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, XM_CERT_ERROR, XM_CERT_ERROR_IO, "cannot create %s: %s",
                   path, g_strerror (e));
      return FALSE;
    }
  err = xm_write_all (fd, data, len);
  if (err)
    {
      close (fd);
      g_unlink (path);
      g_set_error (error, XM_CERT_ERROR, XM_CERT_ERROR_IO, "cannot write %s: %s",
                   path, g_strerror (err));
      return FALSE;
    }
  if (fsync (fd) < 0 || close (fd) < 0)
    {
      g_set_error (error, XM_CERT_ERROR, XM_CERT_ERROR_IO, "cannot write %s: %s",
                   path, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

static char *
bio_to_string (BIO *bio, gsize *len)
{
  char *data;
  long n = BIO_get_mem_data (bio, &data);

  *len = n;
  return g_strndup (data, n);
}

static gboolean
create_ca (const char *cert_path, const char *key_path, GError **error)
{
  g_autoptr (EVP_PKEY) key = EVP_EC_gen ("P-256");
  g_autoptr (X509) cert = X509_new ();
  g_autoptr (BIO) kb = BIO_new (BIO_s_mem ());
  g_autoptr (BIO) cb = BIO_new (BIO_s_mem ());
  g_autofree char *dir = g_path_get_dirname (key_path);
  g_autofree char *cn = NULL, *kpem = NULL, *cpem = NULL;
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  X509_NAME *name;
  gsize klen, clen;

  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      g_set_error (error, XM_CERT_ERROR, XM_CERT_ERROR_IO, "cannot create %s: %s",
                   dir, g_strerror (errno));
      return FALSE;
    }
  if (key == NULL || cert == NULL)
    return crypto_failed (error, "cannot make the CA key");
  cn = g_strdup_printf ("xmitm CA %s (%04d-%02d-%02d)", g_get_host_name (),
                        g_date_time_get_year (now), g_date_time_get_month (now),
                        g_date_time_get_day_of_month (now));
  X509_set_version (cert, 2);
  name = X509_get_subject_name (cert);
  X509_NAME_add_entry_by_txt (name, "O", MBSTRING_UTF8, (const guchar *) "xmitm", -1, -1, 0);
  X509_NAME_add_entry_by_txt (name, "CN", MBSTRING_UTF8, (const guchar *) cn, -1, -1, 0);
  X509_set_issuer_name (cert, name);
  X509_set_pubkey (cert, key);
  if (!set_serial_and_validity (cert, CA_DAYS)
      || !add_ext (cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")
      || !add_ext (cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign")
      || !add_ext (cert, cert, NID_subject_key_identifier, "hash")
      || X509_sign (cert, key, EVP_sha256 ()) == 0)
    return crypto_failed (error, "cannot make the CA certificate");

  if (!PEM_write_bio_PrivateKey (kb, key, NULL, NULL, 0, NULL, NULL)
      || !PEM_write_bio_X509 (cb, cert))
    return crypto_failed (error, "cannot encode the CA");
  kpem = bio_to_string (kb, &klen);
  cpem = bio_to_string (cb, &clen);
  /* The key first and private; the certificate is public. */
  if (!write_private_file (key_path, kpem, klen, error))
    return FALSE;
  if (!write_private_file (cert_path, cpem, clen, error))
    {
      g_unlink (key_path);
      return FALSE;
    }
  chmod (cert_path, 0644);
  return TRUE;
}

static gpointer
read_pem (const char *path, gboolean want_key, GError **error)
{
  g_autofree char *data = NULL;
  g_autoptr (GError) local = NULL;
  g_autoptr (BIO) bio = NULL;
  gsize len;
  gpointer obj;

  if (!g_file_get_contents (path, &data, &len, &local))
    {
      g_set_error (error, XM_CERT_ERROR, XM_CERT_ERROR_IO, "%s", local->message);
      return NULL;
    }
  bio = BIO_new_mem_buf (data, (int) len);
  obj = want_key ? (gpointer) PEM_read_bio_PrivateKey (bio, NULL, NULL, NULL)
                 : (gpointer) PEM_read_bio_X509 (bio, NULL, NULL, NULL);
  if (obj == NULL)
    {
      g_autofree char *why = ssl_error_string ();
      g_set_error (error, XM_CERT_ERROR, XM_CERT_ERROR_BAD_FILE,
                   "%s holds no PEM %s (%s)", path,
                   want_key ? "private key" : "certificate", why);
    }
  return obj;
}

XmCa *
xm_ca_open (const char *cert_path, const char *key_path, gboolean create,
            GError **error)
{
  g_autoptr (XmCa) ca = g_new0 (XmCa, 1);

  ca->leaves = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                      (GDestroyNotify) leaf_free);
  g_queue_init (&ca->lru);
  ca->max_leaves = XM_CA_CACHE_LEAVES;
  ca->max_bytes = XM_CA_CACHE_BYTES;
  ca->cert_path = g_strdup (cert_path);
  if (create && !g_file_test (cert_path, G_FILE_TEST_EXISTS)
      && !g_file_test (key_path, G_FILE_TEST_EXISTS))
    {
      if (!create_ca (cert_path, key_path, error))
        return NULL;
    }
  ca->cert = read_pem (cert_path, FALSE, error);
  if (ca->cert == NULL)
    return NULL;
  ca->key = read_pem (key_path, TRUE, error);
  if (ca->key == NULL)
    return NULL;
  if (X509_check_private_key (ca->cert, ca->key) != 1)
    {
      ERR_clear_error ();
      g_set_error (error, XM_CERT_ERROR, XM_CERT_ERROR_BAD_FILE,
                   "the key in %s does not belong to the certificate in %s",
                   key_path, cert_path);
      return NULL;
    }
  if (X509_check_ca (ca->cert) == 0)
    {
      g_set_error (error, XM_CERT_ERROR, XM_CERT_ERROR_BAD_FILE,
                   "%s is not a CA certificate (basicConstraints CA:TRUE)", cert_path);
      return NULL;
    }
  ca->leaf_key = EVP_EC_gen ("P-256");
  if (ca->leaf_key == NULL)
    {
      crypto_failed (error, "cannot make the leaf key");
      return NULL;
    }
  return g_steal_pointer (&ca);
}

void
xm_ca_free (XmCa *ca)
{
  if (ca == NULL)
    return;
  g_hash_table_unref (ca->leaves);
  X509_free (ca->cert);
  EVP_PKEY_free (ca->key);
  EVP_PKEY_free (ca->leaf_key);
  g_free (ca->cert_path);
  g_free (ca);
}

const char *
xm_ca_cert_path (const XmCa *ca)
{
  return ca->cert_path;
}

X509 *
xm_ca_cert (const XmCa *ca)
{
  return ca->cert;
}

EVP_PKEY *
xm_ca_leaf_key (const XmCa *ca)
{
  return ca->leaf_key;
}

char *
xm_ca_cert_pem (const XmCa *ca)
{
  g_autoptr (BIO) bio = BIO_new (BIO_s_mem ());
  gsize len;

  PEM_write_bio_X509 (bio, ca->cert);
  return bio_to_string (bio, &len);
}

void
xm_ca_stats (const XmCa *ca, guint *made, guint *hits)
{
  *made = ca->made;
  *hits = ca->hits;
}

void
xm_ca_cache_stats (const XmCa *ca, guint *leaves, gsize *bytes, guint *evicted)
{
  *leaves = ca->lru.length;
  *bytes = ca->bytes;
  *evicted = ca->evicted;
}

void
xm_ca_set_cache_limits (XmCa *ca, guint max_leaves, gsize max_bytes)
{
  ca->max_leaves = max_leaves;
  ca->max_bytes = max_bytes;
  evict (ca);
}

char *
xm_name_to_ascii (const char *name)
{
  char *ascii;

  if (name == NULL)
    return NULL;
  if (g_hostname_is_ip_address (name) || !g_hostname_is_non_ascii (name))
    return g_strdup (name);
  ascii = g_hostname_to_ascii (name);
  return ascii ? ascii : g_strdup (name);
}

/* The upstream's subjectAltName (copied whole: DNS names and the XmppAddr
 * and SRVName otherNames of RFC 6120 §13.7.1.2) plus name as a DNS name if
 * no DNS entry matches it. */
static GENERAL_NAMES *
leaf_names (const char *name, X509 *upstream)
{
  GENERAL_NAMES *names = NULL;
  gboolean have = FALSE;

  if (upstream)
    names = X509_get_ext_d2i (upstream, NID_subject_alt_name, NULL, NULL);
  if (names == NULL)
    names = GENERAL_NAMES_new ();
  for (int i = 0; i < sk_GENERAL_NAME_num (names); i++)
    {
      GENERAL_NAME *gn = sk_GENERAL_NAME_value (names, i);
      if (gn->type == GEN_DNS
          && g_ascii_strcasecmp ((const char *) ASN1_STRING_get0_data (gn->d.dNSName),
                                 name) == 0)
        have = TRUE;
    }
  if (!have && *name)
    {
      GENERAL_NAME *gn = GENERAL_NAME_new ();
      ASN1_IA5STRING *s = ASN1_IA5STRING_new ();
      ASN1_STRING_set (s, name, -1);
      GENERAL_NAME_set0_value (gn, GEN_DNS, s);
      sk_GENERAL_NAME_push (names, gn);
    }
  return names;
}

X509 *
xm_ca_forge (XmCa *ca, const char *uname, X509 *upstream, GError **error)
{
  /* Certificates name internationalised domains by their A-labels, whoever
   * asks (the proxy, replay --serve with a recorded domain). */
  g_autofree char *name = xm_name_to_ascii (uname);
  g_autofree char *cache_key = NULL;
  g_autoptr (X509) leaf = NULL;
  g_autoptr (GENERAL_NAMES) names = NULL;
  Leaf *cached;
  X509_NAME *subj;
  guint8 md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char cn[256] = "";

  if (upstream)
    X509_digest (upstream, EVP_sha256 (), md, &mdlen);
  {
    GString *key = g_string_new (name);
    g_string_append_c (key, '\n');
    for (unsigned int i = 0; i < mdlen; i++)
      g_string_append_printf (key, "%02x", md[i]);
    cache_key = g_string_free (key, FALSE);
  }
  cached = g_hash_table_lookup (ca->leaves, cache_key);
  if (cached)
    {
      ca->hits++;
      g_queue_unlink (&ca->lru, &cached->link);
      g_queue_push_head_link (&ca->lru, &cached->link);
      X509_up_ref (cached->leaf);
      return cached->leaf;
    }

  leaf = X509_new ();
  X509_set_version (leaf, 2);
  if (upstream)
    X509_NAME_get_text_by_NID (X509_get_subject_name (upstream), NID_commonName,
                               cn, sizeof cn);
  subj = X509_get_subject_name (leaf);
  X509_NAME_add_entry_by_txt (subj, "CN", MBSTRING_UTF8,
                              (const guchar *) (*cn ? cn : name), -1, -1, 0);
  X509_set_issuer_name (leaf, X509_get_subject_name (ca->cert));
  X509_set_pubkey (leaf, ca->leaf_key);
  names = leaf_names (name, upstream);
  if (!set_serial_and_validity (leaf, LEAF_DAYS)
      || !add_ext (leaf, ca->cert, NID_basic_constraints, "critical,CA:FALSE")
      || !add_ext (leaf, ca->cert, NID_key_usage, "critical,digitalSignature")
      || !add_ext (leaf, ca->cert, NID_ext_key_usage, "serverAuth,clientAuth")
      || !add_ext (leaf, ca->cert, NID_subject_key_identifier, "hash")
      || !add_ext (leaf, ca->cert, NID_authority_key_identifier, "keyid:always")
      || (sk_GENERAL_NAME_num (names) > 0
          && !X509_add1_ext_i2d (leaf, NID_subject_alt_name, names, 0, 0))
      || X509_sign (leaf, ca->key, EVP_sha256 ()) == 0)
    {
      crypto_failed (error, "cannot forge a certificate");
      return NULL;
    }
  ca->made++;
  cached = g_new0 (Leaf, 1);
  cached->key = g_steal_pointer (&cache_key);
  cached->leaf = leaf;
  X509_up_ref (leaf);
  cached->cost = (gsize) MAX (i2d_X509 (leaf, NULL), 0) + strlen (cached->key)
                 + LEAF_OVERHEAD;
  cached->link.data = cached;
  g_hash_table_insert (ca->leaves, cached->key, cached);
  g_queue_push_head_link (&ca->lru, &cached->link);
  ca->bytes += cached->cost;
  evict (ca);
  return g_steal_pointer (&leaf);
}
