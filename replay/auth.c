/* auth.c: see auth.h. */
#include "config.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "auth.h"

G_DEFINE_QUARK (xm-auth-error-quark, xm_auth_error)

/* ---- helpers ---- */

static gboolean
mech_is (const char *mechanism, const char *name)
{
  return mechanism && g_ascii_strcasecmp (mechanism, name) == 0;
}

static const EVP_MD *
scram_md (const char *mechanism)
{
  if (mech_is (mechanism, "SCRAM-SHA-1"))
    return EVP_sha1 ();
  if (mech_is (mechanism, "SCRAM-SHA-256"))
    return EVP_sha256 ();
  if (mech_is (mechanism, "SCRAM-SHA-512"))
    return EVP_sha512 ();
  return NULL;
}

gboolean
xm_auth_can_compute (const char *mechanism)
{
  return scram_md (mechanism) != NULL || mech_is (mechanism, "DIGEST-MD5")
         || mech_is (mechanism, "PLAIN");
}

/* 24 random bytes as base64: printable, no ',' (RFC 5802 §5.1 r=). */
static char *
random_nonce (void)
{
  guint8 raw[18];

  if (RAND_bytes (raw, sizeof raw) != 1)
    for (gsize i = 0; i < sizeof raw; i++)
      raw[i] = (guint8) g_random_int ();
  return g_base64_encode (raw, sizeof raw);
}

GBytes *
xm_auth_plain (const char *authzid, const char *authcid, const char *password)
{
  GByteArray *b = g_byte_array_new ();
  const guint8 nul = 0;

  if (authzid)
    g_byte_array_append (b, (const guint8 *) authzid, strlen (authzid));
  g_byte_array_append (b, &nul, 1);
  g_byte_array_append (b, (const guint8 *) authcid, strlen (authcid));
  g_byte_array_append (b, &nul, 1);
  g_byte_array_append (b, (const guint8 *) password, strlen (password));
  return g_byte_array_free_to_bytes (b);
}

/* ---- SCRAM ---- */

struct _XmScram {
  const EVP_MD *md;
  char *password;
  char *gs2_header;      /* "n,," or "n,a=authzid," */
  char *client_first;    /* whole message, GS2 header included */
  const char *bare;      /* client-first-message-bare, inside client_first */
  char *cnonce;
  guint8 server_sig[EVP_MAX_MD_SIZE];
  gsize hlen;
  gboolean have_sig;
};

/* RFC 5802 §5.1: saslname escapes ',' and '='. */
static void
append_saslname (GString *out, const char *s)
{
  for (; *s; s++)
    if (*s == ',')
      g_string_append (out, "=2C");
    else if (*s == '=')
      g_string_append (out, "=3D");
    else
      g_string_append_c (out, *s);
}

XmScram *
xm_scram_new (const char *mechanism, const char *authzid, const char *username,
              const char *password, const char *cnonce, GError **error)
{
  const EVP_MD *md = scram_md (mechanism);
  XmScram *s;
  GString *first;
  GString *gs2;

  if (md == NULL)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_UNSUPPORTED,
                   "%s is not a SCRAM mechanism replay computes", mechanism);
      return NULL;
    }
  s = g_new0 (XmScram, 1);
  s->md = md;
  s->hlen = EVP_MD_get_size (md);
  s->password = g_strdup (password);
  s->cnonce = cnonce ? g_strdup (cnonce) : random_nonce ();
  gs2 = g_string_new ("n,");
  if (authzid && *authzid)
    {
      g_string_append (gs2, "a=");
      append_saslname (gs2, authzid);
    }
  g_string_append_c (gs2, ',');
  s->gs2_header = g_string_free (gs2, FALSE);
  first = g_string_new (s->gs2_header);
  g_string_append (first, "n=");
  append_saslname (first, username);
  g_string_append_printf (first, ",r=%s", s->cnonce);
  s->client_first = g_string_free (first, FALSE);
  s->bare = s->client_first + strlen (s->gs2_header);
  return s;
}

void
xm_scram_free (XmScram *s)
{
  if (s == NULL)
    return;
  if (s->password)
    OPENSSL_cleanse (s->password, strlen (s->password));
  g_free (s->password);
  g_free (s->gs2_header);
  g_free (s->client_first);
  g_free (s->cnonce);
  OPENSSL_cleanse (s->server_sig, sizeof s->server_sig);
  g_free (s);
}

const char *
xm_scram_client_first (XmScram *s)
{
  return s->client_first;
}

/* The value of attribute letter in "a=..,b=..", a new string or NULL. */
static char *
scram_attr (const char *msg, gsize len, char letter)
{
  gsize i = 0;

  while (i < len)
    {
      gsize end = i;
      while (end < len && msg[end] != ',')
        end++;
      if (end - i >= 2 && msg[i] == letter && msg[i + 1] == '=')
        return g_strndup (msg + i + 2, end - i - 2);
      i = end + 1;
    }
  return NULL;
}

static gboolean
hmac (const EVP_MD *md, const guint8 *key, gsize key_len, const char *data,
      gsize len, guint8 *out)
{
  unsigned int n = 0;

  return HMAC (md, key, (int) key_len, (const guint8 *) data, len, out, &n) != NULL;
}

char *
xm_scram_client_final (XmScram *s, const char *server_first, gsize len, GError **error)
{
  g_autofree char *nonce = scram_attr (server_first, len, 'r');
  g_autofree char *salt64 = scram_attr (server_first, len, 's');
  g_autofree char *iter_s = scram_attr (server_first, len, 'i');
  g_autofree char *err = scram_attr (server_first, len, 'e');
  g_autofree guchar *salt = NULL;
  g_autofree char *cbind = NULL, *without_proof = NULL, *auth_message = NULL;
  g_autofree char *proof64 = NULL;
  guint8 salted[EVP_MAX_MD_SIZE], client_key[EVP_MAX_MD_SIZE];
  guint8 stored_key[EVP_MAX_MD_SIZE], client_sig[EVP_MAX_MD_SIZE];
  guint8 server_key[EVP_MAX_MD_SIZE], proof[EVP_MAX_MD_SIZE];
  gsize salt_len = 0;
  guint64 iterations;
  char *end = NULL;
  unsigned int n;
  char *result;

  if (err)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_SERVER,
                   "the server refused the SCRAM exchange: e=%s", err);
      return NULL;
    }
  if (nonce == NULL || salt64 == NULL || iter_s == NULL)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                   "the server's SCRAM server-first-message lacks %s",
                   nonce == NULL ? "r=" : salt64 == NULL ? "s=" : "i=");
      return NULL;
    }
  if (!g_str_has_prefix (nonce, s->cnonce) || strlen (nonce) == strlen (s->cnonce))
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                   "the server's SCRAM nonce does not extend the client's "
                   "(RFC 5802 §5.1)");
      return NULL;
    }
  iterations = g_ascii_strtoull (iter_s, &end, 10);
  if (end == iter_s || *end || iterations == 0 || iterations > 10000000)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                   "bad SCRAM iteration count i=%s", iter_s);
      return NULL;
    }
  salt = g_base64_decode (salt64, &salt_len);
  if (salt_len == 0)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                   "bad SCRAM salt s=%s", salt64);
      return NULL;
    }

  /* RFC 5802 §3. */
  if (!PKCS5_PBKDF2_HMAC (s->password, (int) strlen (s->password), salt,
                          (int) salt_len, (int) iterations, s->md, (int) s->hlen,
                          salted)
      || !hmac (s->md, salted, s->hlen, "Client Key", 10, client_key)
      || !EVP_Digest (client_key, s->hlen, stored_key, &n, s->md, NULL)
      || !hmac (s->md, salted, s->hlen, "Server Key", 10, server_key))
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                   "SCRAM computation failed in OpenSSL");
      return NULL;
    }
  cbind = g_base64_encode ((const guchar *) s->gs2_header, strlen (s->gs2_header));
  without_proof = g_strdup_printf ("c=%s,r=%s", cbind, nonce);
  auth_message = g_strdup_printf ("%s,%.*s,%s", s->bare, (int) len, server_first,
                                  without_proof);
  if (!hmac (s->md, stored_key, s->hlen, auth_message, strlen (auth_message), client_sig)
      || !hmac (s->md, server_key, s->hlen, auth_message, strlen (auth_message),
                s->server_sig))
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                   "SCRAM computation failed in OpenSSL");
      return NULL;
    }
  for (gsize i = 0; i < s->hlen; i++)
    proof[i] = client_key[i] ^ client_sig[i];
  s->have_sig = TRUE;
  proof64 = g_base64_encode (proof, s->hlen);
  result = g_strdup_printf ("%s,p=%s", without_proof, proof64);
  OPENSSL_cleanse (salted, sizeof salted);
  OPENSSL_cleanse (client_key, sizeof client_key);
  OPENSSL_cleanse (server_key, sizeof server_key);
  return result;
}

gboolean
xm_scram_verify (XmScram *s, const char *server_final, gsize len, GError **error)
{
  g_autofree char *v = scram_attr (server_final, len, 'v');
  g_autofree char *e = scram_attr (server_final, len, 'e');
  g_autofree guchar *sig = NULL;
  gsize sig_len = 0;

  if (e)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_SERVER,
                   "the server reported a SCRAM error: e=%s", e);
      return FALSE;
    }
  if (v == NULL || !s->have_sig)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                   "the server's SCRAM server-final-message has no v=");
      return FALSE;
    }
  sig = g_base64_decode (v, &sig_len);
  if (sig_len != s->hlen || CRYPTO_memcmp (sig, s->server_sig, s->hlen) != 0)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_SERVER,
                   "the server's SCRAM signature is wrong: it does not know "
                   "the password (RFC 5802 §5.1 v=)");
      return FALSE;
    }
  return TRUE;
}

/* ---- SCRAM, server side ---- */

struct _XmScramServer {
  const EVP_MD *md;
  gsize hlen;
  guint8 *salt;
  gsize salt_len;
  guint iterations;
  char *snonce;
  char *gs2_header;    /* as the client sent it */
  char *client_bare;   /* client-first-message-bare */
  char *cnonce;
  char *server_first;
  guint8 stored_key[EVP_MAX_MD_SIZE];
  guint8 server_key[EVP_MAX_MD_SIZE];
};

XmScramServer *
xm_scram_server_new (const char *mechanism, const guint8 *salt, gsize salt_len,
                     guint iterations, const char *snonce, GError **error)
{
  const EVP_MD *md = scram_md (mechanism);
  XmScramServer *s;

  if (md == NULL)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_UNSUPPORTED,
                   "%s is not a SCRAM mechanism replay serves", mechanism);
      return NULL;
    }
  s = g_new0 (XmScramServer, 1);
  s->md = md;
  s->hlen = EVP_MD_get_size (md);
  s->salt = g_memdup2 (salt, salt_len);
  s->salt_len = salt_len;
  s->iterations = iterations;
  s->snonce = snonce ? g_strdup (snonce) : random_nonce ();
  return s;
}

void
xm_scram_server_free (XmScramServer *s)
{
  if (s == NULL)
    return;
  g_free (s->salt);
  g_free (s->snonce);
  g_free (s->gs2_header);
  g_free (s->client_bare);
  g_free (s->cnonce);
  g_free (s->server_first);
  OPENSSL_cleanse (s->stored_key, sizeof s->stored_key);
  OPENSSL_cleanse (s->server_key, sizeof s->server_key);
  g_free (s);
}

/* RFC 5802 §5.1: "=2C" and "=3D" back to ',' and '='; NULL if another '='. */
static char *
unescape_saslname (const char *s)
{
  GString *out = g_string_new (NULL);

  for (; *s; s++)
    {
      if (*s != '=')
        g_string_append_c (out, *s);
      else if (g_str_has_prefix (s, "=2C"))
        g_string_append_c (out, ','), s += 2;
      else if (g_str_has_prefix (s, "=3D"))
        g_string_append_c (out, '='), s += 2;
      else
        {
          g_string_free (out, TRUE);
          return NULL;
        }
    }
  return g_string_free (out, FALSE);
}

char *
xm_scram_server_read_first (XmScramServer *s, const char *msg, gsize len, GError **error)
{
  const char *c1, *c2;
  g_autofree char *user = NULL;

  /* gs2-header: flag ',' [a=authzid] ',' */
  c1 = memchr (msg, ',', len);
  c2 = c1 ? memchr (c1 + 1, ',', len - (c1 + 1 - msg)) : NULL;
  if (c2 == NULL || (msg[0] != 'n' && msg[0] != 'y') || c1 != msg + 1)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                   len && msg[0] == 'p'
                   ? "the client asks for channel binding, which replay does not do"
                   : "bad GS2 header in the SCRAM client-first-message");
      return NULL;
    }
  s->gs2_header = g_strndup (msg, c2 + 1 - msg);
  s->client_bare = g_strndup (c2 + 1, len - (c2 + 1 - msg));
  {
    g_autofree char *n = scram_attr (s->client_bare, strlen (s->client_bare), 'n');
    s->cnonce = scram_attr (s->client_bare, strlen (s->client_bare), 'r');
    if (n == NULL || s->cnonce == NULL || *s->cnonce == '\0'
        || (user = unescape_saslname (n)) == NULL)
      {
        g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                     "the SCRAM client-first-message lacks a valid n= or r=");
        return NULL;
      }
  }
  return g_steal_pointer (&user);
}

char *
xm_scram_server_first (XmScramServer *s, const char *password)
{
  guint8 salted[EVP_MAX_MD_SIZE], client_key[EVP_MAX_MD_SIZE];
  g_autofree char *salt64 = g_base64_encode (s->salt, s->salt_len);
  unsigned int n;

  g_return_val_if_fail (s->cnonce != NULL, NULL);
  PKCS5_PBKDF2_HMAC (password, (int) strlen (password), s->salt, (int) s->salt_len,
                     (int) s->iterations, s->md, (int) s->hlen, salted);
  hmac (s->md, salted, s->hlen, "Client Key", 10, client_key);
  EVP_Digest (client_key, s->hlen, s->stored_key, &n, s->md, NULL);
  hmac (s->md, salted, s->hlen, "Server Key", 10, s->server_key);
  OPENSSL_cleanse (salted, sizeof salted);
  OPENSSL_cleanse (client_key, sizeof client_key);
  g_free (s->server_first);
  s->server_first = g_strdup_printf ("r=%s%s,s=%s,i=%u", s->cnonce, s->snonce,
                                     salt64, s->iterations);
  return g_strdup (s->server_first);
}

char *
xm_scram_server_final (XmScramServer *s, const char *msg, gsize len, GError **error)
{
  g_autofree char *c = scram_attr (msg, len, 'c');
  g_autofree char *r = scram_attr (msg, len, 'r');
  g_autofree char *p = scram_attr (msg, len, 'p');
  g_autofree char *cbind = NULL, *nonce = NULL, *auth_message = NULL;
  g_autofree guchar *proof = NULL;
  guint8 client_sig[EVP_MAX_MD_SIZE], client_key[EVP_MAX_MD_SIZE];
  guint8 stored[EVP_MAX_MD_SIZE], server_sig[EVP_MAX_MD_SIZE];
  const char *without;
  gsize proof_len = 0;
  unsigned int n;

  g_return_val_if_fail (s->server_first != NULL, NULL);
  if (c == NULL || r == NULL || p == NULL)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                   "the SCRAM client-final-message lacks c=, r= or p=");
      return NULL;
    }
  cbind = g_base64_encode ((const guchar *) s->gs2_header, strlen (s->gs2_header));
  nonce = g_strconcat (s->cnonce, s->snonce, NULL);
  if (strcmp (c, cbind) != 0 || strcmp (r, nonce) != 0)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                   "the SCRAM client-final-message repeats the wrong %s",
                   strcmp (c, cbind) != 0 ? "GS2 header (c=)" : "nonce (r=)");
      return NULL;
    }
  without = g_strstr_len (msg, len, ",p=");
  auth_message = g_strdup_printf ("%s,%s,%.*s", s->client_bare, s->server_first,
                                  (int) (without - msg), msg);
  proof = g_base64_decode (p, &proof_len);
  hmac (s->md, s->stored_key, s->hlen, auth_message, strlen (auth_message), client_sig);
  for (gsize i = 0; i < s->hlen && i < proof_len; i++)
    client_key[i] = proof[i] ^ client_sig[i];
  EVP_Digest (client_key, s->hlen, stored, &n, s->md, NULL);
  if (proof_len != s->hlen || CRYPTO_memcmp (stored, s->stored_key, s->hlen) != 0)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_SERVER,
                   "the client's SCRAM proof is wrong (another password)");
      return NULL;
    }
  hmac (s->md, s->server_key, s->hlen, auth_message, strlen (auth_message), server_sig);
  {
    g_autofree char *v = g_base64_encode (server_sig, s->hlen);
    return g_strdup_printf ("v=%s", v);
  }
}

/* ---- DIGEST-MD5 ---- */

static gboolean
is_lws (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 2831 §7.1 "#" lists of key=value or key="quoted\"value" into a
 * table (first value of a key wins, except realm: all, '\n'-joined). */
static GHashTable *
digest_parse (const char *s, gsize len)
{
  GHashTable *t = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  gsize i = 0;

  while (i < len)
    {
      gsize k0, k1;
      GString *v = g_string_new (NULL);

      while (i < len && (is_lws (s[i]) || s[i] == ','))
        i++;
      k0 = i;
      while (i < len && s[i] != '=' && s[i] != ',' && !is_lws (s[i]))
        i++;
      k1 = i;
      while (i < len && is_lws (s[i]))
        i++;
      if (i < len && s[i] == '=')
        {
          i++;
          while (i < len && is_lws (s[i]))
            i++;
          if (i < len && s[i] == '"')
            {
              for (i++; i < len && s[i] != '"'; i++)
                {
                  if (s[i] == '\\' && i + 1 < len)
                    i++;
                  g_string_append_c (v, s[i]);
                }
              i++;
            }
          else
            while (i < len && s[i] != ',' && !is_lws (s[i]))
              g_string_append_c (v, s[i++]);
        }
      if (k1 > k0)
        {
          char *key = g_ascii_strdown (s + k0, k1 - k0);
          const char *old = g_hash_table_lookup (t, key);
          if (old && strcmp (key, "realm") == 0)
            {
              char *joined = g_strconcat (old, "\n", v->str, NULL);
              g_hash_table_insert (t, key, joined);
            }
          else if (old == NULL)
            {
              g_hash_table_insert (t, key, g_string_free (v, FALSE));
              continue;
            }
          else
            g_free (key);
        }
      g_string_free (v, TRUE);
    }
  return t;
}

static void
md5_hex (const guint8 *data, gsize len, char out[33])
{
  guint8 d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;

  EVP_Digest (data, len, d, &n, EVP_md5 (), NULL);
  for (unsigned int i = 0; i < 16; i++)
    g_snprintf (out + 2 * i, 3, "%02x", d[i]);
}

/* RFC 2831 §2.1.2.1: response-value, with a2_prefix "AUTHENTICATE" for
 * the response and "" for rspauth. */
static void
digest_value (const char *username, const char *realm, const char *password,
              const char *nonce, const char *cnonce, const char *authzid,
              const char *nc, const char *qop, const char *uri,
              const char *a2_prefix, char out[33])
{
  g_autofree char *urp = g_strdup_printf ("%s:%s:%s", username, realm, password);
  g_autofree char *a2 = g_strdup_printf ("%s:%s", a2_prefix, uri);
  g_autofree char *kd = NULL;
  GByteArray *a1 = g_byte_array_new ();
  guint8 h[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  char ha1[33], ha2[33];

  EVP_Digest (urp, strlen (urp), h, &n, EVP_md5 (), NULL);
  OPENSSL_cleanse (urp, strlen (urp));
  g_byte_array_append (a1, h, 16);
  g_byte_array_append (a1, (const guint8 *) ":", 1);
  g_byte_array_append (a1, (const guint8 *) nonce, strlen (nonce));
  g_byte_array_append (a1, (const guint8 *) ":", 1);
  g_byte_array_append (a1, (const guint8 *) cnonce, strlen (cnonce));
  if (authzid && *authzid)
    {
      g_byte_array_append (a1, (const guint8 *) ":", 1);
      g_byte_array_append (a1, (const guint8 *) authzid, strlen (authzid));
    }
  md5_hex (a1->data, a1->len, ha1);
  g_byte_array_free (a1, TRUE);
  md5_hex ((const guint8 *) a2, strlen (a2), ha2);
  kd = g_strdup_printf ("%s:%s:%s:%s:%s:%s", ha1, nonce, nc, cnonce, qop, ha2);
  md5_hex ((const guint8 *) kd, strlen (kd), out);
}

static void
append_quoted (GString *out, const char *key, const char *value)
{
  g_string_append_printf (out, "%s%s=\"", out->len ? "," : "", key);
  for (; *value; value++)
    {
      if (*value == '"' || *value == '\\')
        g_string_append_c (out, '\\');
      g_string_append_c (out, *value);
    }
  g_string_append_c (out, '"');
}

char *
xm_digest_md5_response (const char *challenge, gsize len, const char *authzid,
                        const char *username, const char *password,
                        const char *service, const char *host,
                        const char *cnonce, char **rspauth, GError **error)
{
  g_autoptr (GHashTable) t = digest_parse (challenge, len);
  const char *nonce = g_hash_table_lookup (t, "nonce");
  const char *qop = g_hash_table_lookup (t, "qop");
  const char *charset = g_hash_table_lookup (t, "charset");
  const char *realms = g_hash_table_lookup (t, "realm");
  const char *algorithm = g_hash_table_lookup (t, "algorithm");
  g_autofree char *realm = NULL, *uri = NULL, *own_cnonce = NULL;
  const char *nc = "00000001";
  char response[33], auth[33];
  GString *out;

  if (nonce == NULL)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                   "the server's DIGEST-MD5 challenge has no nonce");
      return NULL;
    }
  if (g_strcmp0 (algorithm, "md5-sess") != 0)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                   "the server's DIGEST-MD5 challenge lacks algorithm=md5-sess "
                   "(RFC 2831 §2.1.1)");
      return NULL;
    }
  if (qop)
    {
      /* Only "auth": replay wants neither integrity nor confidentiality. */
      g_auto (GStrv) opts = g_strsplit (qop, ",", -1);
      gboolean auth_ok = FALSE;
      for (char **o = opts; *o; o++)
        auth_ok |= strcmp (g_strstrip (*o), "auth") == 0;
      if (!auth_ok)
        {
          g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_UNSUPPORTED,
                       "the server's DIGEST-MD5 qop '%s' lacks 'auth'", qop);
          return NULL;
        }
    }
  realm = realms ? g_strndup (realms, strcspn (realms, "\n")) : g_strdup ("");
  if (cnonce == NULL)
    cnonce = own_cnonce = random_nonce ();
  uri = g_strdup_printf ("%s/%s", service, host);
  digest_value (username, realm, password, nonce, cnonce, authzid, nc, "auth",
                uri, "AUTHENTICATE", response);
  if (rspauth)
    {
      digest_value (username, realm, password, nonce, cnonce, authzid, nc,
                    "auth", uri, "", auth);
      *rspauth = g_strdup (auth);
    }
  out = g_string_new (NULL);
  append_quoted (out, "username", username);
  if (realms)
    append_quoted (out, "realm", realm);
  append_quoted (out, "nonce", nonce);
  append_quoted (out, "cnonce", cnonce);
  g_string_append_printf (out, ",nc=%s,qop=auth", nc);
  append_quoted (out, "digest-uri", uri);
  g_string_append_printf (out, ",response=%s", response);
  if (charset && g_ascii_strcasecmp (charset, "utf-8") == 0)
    g_string_append (out, ",charset=utf-8");
  if (authzid && *authzid)
    append_quoted (out, "authzid", authzid);
  return g_string_free (out, FALSE);
}

char *
xm_digest_md5_rspauth (const char *msg, gsize len)
{
  g_autoptr (GHashTable) t = digest_parse (msg, len);

  return g_strdup (g_hash_table_lookup (t, "rspauth"));
}

/* ---- DIGEST-MD5, the server's side ---- */

char *
xm_digest_md5_challenge (const char *realm, const char *nonce, char **nonce_out)
{
  g_autofree char *own = nonce ? NULL : random_nonce ();
  GString *out = g_string_new (NULL);

  if (nonce == NULL)
    nonce = own;
  if (realm && *realm)
    append_quoted (out, "realm", realm);
  append_quoted (out, "nonce", nonce);
  g_string_append (out, ",qop=\"auth\",charset=utf-8,algorithm=md5-sess");
  if (nonce_out)
    *nonce_out = g_strdup (nonce);
  return g_string_free (out, FALSE);
}

char *
xm_digest_md5_response_user (const char *response, gsize len)
{
  g_autoptr (GHashTable) t = digest_parse (response, len);

  return g_strdup (g_hash_table_lookup (t, "username"));
}

char *
xm_digest_md5_server_check (const char *response, gsize len, const char *nonce,
                            const char *password, const char *service,
                            GError **error)
{
  g_autoptr (GHashTable) t = digest_parse (response, len);
  const char *username = g_hash_table_lookup (t, "username");
  const char *realm = g_hash_table_lookup (t, "realm");
  const char *got_nonce = g_hash_table_lookup (t, "nonce");
  const char *cnonce = g_hash_table_lookup (t, "cnonce");
  const char *nc = g_hash_table_lookup (t, "nc");
  const char *qop = g_hash_table_lookup (t, "qop");
  const char *uri = g_hash_table_lookup (t, "digest-uri");
  const char *got = g_hash_table_lookup (t, "response");
  const char *authzid = g_hash_table_lookup (t, "authzid");
  g_autofree char *prefix = g_strconcat (service, "/", NULL);
  char want[33], auth[33];

  if (username == NULL || got_nonce == NULL || cnonce == NULL || nc == NULL
      || uri == NULL || got == NULL)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                   "the client's DIGEST-MD5 response lacks %s (RFC 2831 §2.1.2)",
                   username == NULL ? "username" : got_nonce == NULL ? "nonce"
                   : cnonce == NULL ? "cnonce" : nc == NULL ? "nc"
                   : uri == NULL ? "digest-uri" : "response");
      return NULL;
    }
  if (strcmp (got_nonce, nonce) != 0)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                   "the client's DIGEST-MD5 response names another nonce");
      return NULL;
    }
  if (qop && strcmp (qop, "auth") != 0)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_UNSUPPORTED,
                   "the client's DIGEST-MD5 qop is '%s', not 'auth'", qop);
      return NULL;
    }
  if (!g_str_has_prefix (uri, prefix))
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_PROTOCOL,
                   "the client's DIGEST-MD5 digest-uri '%s' is not for %s", uri,
                   service);
      return NULL;
    }
  digest_value (username, realm ? realm : "", password, nonce, cnonce, authzid, nc,
                "auth", uri, "AUTHENTICATE", want);
  if (g_ascii_strcasecmp (want, got) != 0)
    {
      g_set_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_SERVER,
                   "the client's DIGEST-MD5 response is wrong (another password)");
      return NULL;
    }
  digest_value (username, realm ? realm : "", password, nonce, cnonce, authzid, nc,
                "auth", uri, "", auth);
  return g_strdup_printf ("rspauth=%s", auth);
}

/* ---- XEP-0078 ---- */

char *
xm_auth_legacy_digest (const char *stream_id, const char *password)
{
  g_autofree char *s = g_strconcat (stream_id, password, NULL);
  char *hex = g_compute_checksum_for_string (G_CHECKSUM_SHA1, s, -1);

  OPENSSL_cleanse (s, strlen (s));
  return hex;
}
