/* sasl-mech.c: one decoded SASL message, read per mechanism.
 *
 * PLAIN (RFC 4616), EXTERNAL (RFC 4422 Appendix A), ANONYMOUS (RFC 4505),
 * DIGEST-MD5 (RFC 2831), OAUTHBEARER (RFC 7628) and the vendor token
 * mechanisms X-OAUTH2, X-GOOGLE-TOKEN and X-YANDEX-OAUTH; SCRAM is in
 * sasl-scram.c. Secret are passwords and tokens, and whatever a client sends
 * under a mechanism we do not know, since it may be either. */
#include "config.h"

#include <string.h>

#include "sasl-private.h"

/* ------------------------------------------------------------------------ */
/* NUL-separated credentials                                                 */
/* ------------------------------------------------------------------------ */

/* RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd.
 * X-OAUTH2 and X-GOOGLE-TOKEN send the same with a token for passwd. */
static void
decode_plain (XmSaslDecode *d, const char *mech, const guint8 *data,
              gsize len, const char *secret_name, gboolean empty_authzid)
{
  const guint8 *nul1 = memchr (data, 0, len);
  const guint8 *nul2 = NULL;
  gsize authzid_len, authcid_len, pass_len;

  if (nul1)
    nul2 = memchr (nul1 + 1, 0, len - (gsize) (nul1 + 1 - data));
  if (nul2 == NULL)
    {
      xm_sasl_note (d, "%s message without its two NUL separators (RFC 4616 "
                    "§2: [authzid] NUL authcid NUL %s); shown whole, as a "
                    "secret", mech, secret_name);
      xm_sasl_field_data (d, "data", data, len, TRUE);
      return;
    }
  authzid_len = (gsize) (nul1 - data);
  authcid_len = (gsize) (nul2 - nul1 - 1);
  pass_len = len - (gsize) (nul2 + 1 - data);

  if (authzid_len > 0 || empty_authzid)
    xm_sasl_field (d, "authzid", (const char *) data, authzid_len, FALSE);
  xm_sasl_field (d, "authcid", (const char *) nul1 + 1, authcid_len, FALSE);
  xm_sasl_field (d, secret_name, (const char *) nul2 + 1, pass_len, TRUE);

  if (authcid_len == 0)
    xm_sasl_note (d, "empty authcid (RFC 4616 §2 wants one)");
  if (pass_len == 0)
    xm_sasl_note (d, "empty %s (RFC 4616 §2 wants one)", secret_name);
  else if (memchr (nul2 + 1, 0, pass_len))
    xm_sasl_note (d, "more than two NULs: the %s holds the rest, NULs "
                  "included (RFC 4616 §2 forbids NUL in it)", secret_name);
}

/* X-YANDEX-OAUTH: login NUL token (Yandex's XMPP connection guide). */
static void
decode_yandex (XmSaslDecode *d, const guint8 *data, gsize len)
{
  const guint8 *nul = memchr (data, 0, len);

  if (nul == NULL)
    {
      xm_sasl_note (d, "X-YANDEX-OAUTH message without its NUL separator "
                    "(login NUL token); shown whole, as a secret");
      xm_sasl_field_data (d, "data", data, len, TRUE);
      return;
    }
  xm_sasl_field (d, "login", (const char *) data, (gsize) (nul - data), FALSE);
  xm_sasl_field (d, "token", (const char *) nul + 1,
                 len - (gsize) (nul + 1 - data), TRUE);
}

/* ------------------------------------------------------------------------ */
/* DIGEST-MD5 (RFC 2831 §2.1, historic since RFC 6331)                       */
/* ------------------------------------------------------------------------ */

static gboolean
is_lws (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static gsize
skip_to_comma (const char *s, gsize len, gsize i)
{
  while (i < len && s[i] != ',')
    i++;
  return i;
}

static void
explain_digest (XmSaslDecode *d, const char *key, const GString *value,
                gboolean from_client)
{
  if (!from_client && strcmp (key, "stale") == 0
      && g_ascii_strcasecmp (value->str, "true") == 0)
    xm_sasl_note (d, "stale=true: the server refused an expired nonce; the "
                  "client should retry with this one (RFC 2831 §2.1.1)");
  if (from_client && strcmp (key, "qop") == 0
      && (strcmp (value->str, "auth-int") == 0
          || strcmp (value->str, "auth-conf") == 0))
    xm_sasl_note (d, "qop=%s negotiates a SASL security layer (RFC 2831 "
                  "§2.3, §2.4): after <success/> the stream is wrapped by "
                  "it and cannot be decoded", value->str);
}

/* digest-challenge / digest-response / response-auth: comma-separated
 * name=value pairs (RFC 2831 §7.1 #rule), values a token or a quoted string
 * with backslash escapes. Nothing here is a secret: response= is a hash. */
static void
decode_digest_md5 (XmSaslDecode *d, const char *s, gsize len,
                   gboolean from_client)
{
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal,
                                                       g_free, NULL);
  gsize i = 0;

  while (i < len)
    {
      g_autoptr (GString) value = NULL;
      g_autofree char *key = NULL;
      gsize kstart, kend;

      while (i < len && (is_lws (s[i]) || s[i] == ','))
        i++;
      if (i == len)
        break;
      kstart = i;
      while (i < len && s[i] != '=' && s[i] != ',' && s[i] != '"'
             && !is_lws (s[i]))
        i++;
      kend = i;
      while (i < len && is_lws (s[i]))
        i++;
      if (kend == kstart || i == len || s[i] != '=')
        {
          gsize end = skip_to_comma (s, len, i);
          g_autofree char *bad = xm_sasl_excerpt (s + kstart, end - kstart, 40);

          xm_sasl_note (d, "DIGEST-MD5: malformed pair '%s' (RFC 2831 §2.1: "
                        "name=value)", bad);
          i = end;
          continue;
        }
      key = xm_sasl_excerpt (s + kstart, kend - kstart, 64);
      i++;
      while (i < len && is_lws (s[i]))
        i++;
      value = g_string_new (NULL);
      if (i < len && s[i] == '"')
        {
          gboolean closed = FALSE;

          for (i++; i < len; i++)
            {
              if (s[i] == '\\' && i + 1 < len)
                g_string_append_c (value, s[++i]);
              else if (s[i] == '"')
                {
                  closed = TRUE;
                  i++;
                  break;
                }
              else
                g_string_append_c (value, s[i]);
            }
          if (!closed)
            xm_sasl_note (d, "DIGEST-MD5: the quoted value of %s is not "
                          "closed (RFC 2831 §7.2)", key);
        }
      else
        while (i < len && s[i] != ',' && !is_lws (s[i]))
          g_string_append_c (value, s[i++]);
      while (i < len && is_lws (s[i]))
        i++;
      if (i < len && s[i] != ',')
        {
          gsize end = skip_to_comma (s, len, i);
          g_autofree char *bad = xm_sasl_excerpt (s + i, end - i, 40);

          xm_sasl_note (d, "DIGEST-MD5: '%s' after the value of %s "
                        "(RFC 2831 §7.1 wants a comma)", bad, key);
          i = end;
        }

      xm_sasl_field (d, key, value->str, value->len, FALSE);
      explain_digest (d, key, value, from_client);
      if (!g_hash_table_add (seen, g_strdup (key)) && strcmp (key, "realm") != 0)
        xm_sasl_note (d, "DIGEST-MD5: %s appears more than once (RFC 2831 "
                      "§2.1 lets only realm repeat)", key);
    }

  if (len == 0 || g_hash_table_contains (seen, "rspauth"))
    return;
  {
    /* §2.1.1 and §2.1.2: directives that MUST be present. */
    static const char *const challenge[] = { "nonce", "algorithm", NULL };
    static const char *const response[] = {
      "username", "nonce", "cnonce", "nc", "digest-uri", "response", NULL,
    };
    const char *const *required = from_client ? response : challenge;

    for (; *required; required++)
      if (!g_hash_table_contains (seen, *required))
        xm_sasl_note (d, "DIGEST-MD5 %s without %s (RFC 2831 %s)",
                      from_client ? "response" : "challenge", *required,
                      from_client ? "§2.1.2" : "§2.1.1");
  }
}

/* ------------------------------------------------------------------------ */
/* OAUTHBEARER (RFC 7628)                                                    */
/* ------------------------------------------------------------------------ */

/* The "status" of the server's JSON error (§3.2.2), found without a JSON
 * parser: enough to name it in a note. */
static char *
json_status (const char *s, gsize len)
{
  static const char key[] = "\"status\"";
  const char *p = memmem (s, len, key, sizeof key - 1);
  const char *end = s + len;
  const char *v;

  if (p == NULL)
    return NULL;
  p += sizeof key - 1;
  while (p < end && is_lws (*p))
    p++;
  if (p == end || *p++ != ':')
    return NULL;
  while (p < end && is_lws (*p))
    p++;
  if (p == end || *p++ != '"')
    return NULL;
  for (v = p; p < end && *p != '"' && *p != '\\'; p++)
    ;
  return xm_sasl_excerpt (v, (gsize) (p - v), 64);
}

static void
oauthbearer_pair (XmSaslDecode *d, const char *pair, gsize len,
                  gboolean *have_auth)
{
  const char *eq = memchr (pair, '=', len);
  g_autofree char *key = NULL;
  const char *value;
  gsize vlen;

  if (eq == NULL)
    {
      /* Not shown: a broken auth pair would still hold the token. */
      xm_sasl_note (d, "OAUTHBEARER: a key/value pair of %" G_GSIZE_FORMAT
                    " bytes has no '=' (RFC 7628 §3.1)", len);
      return;
    }
  key = xm_sasl_excerpt (pair, (gsize) (eq - pair), 64);
  value = eq + 1;
  vlen = len - (gsize) (value - pair);
  if (strcmp (key, "auth") != 0)
    {
      xm_sasl_field (d, key, value, vlen, FALSE);
      return;
    }
  /* auth = "Bearer " token, the RFC 6750 §2.1 credentials */
  *have_auth = TRUE;
  if (vlen > 7 && g_ascii_strncasecmp (value, "Bearer ", 7) == 0)
    {
      xm_sasl_field (d, "auth-scheme", value, 6, FALSE);
      xm_sasl_field (d, "token", value + 7, vlen - 7, TRUE);
    }
  else
    xm_sasl_field (d, "auth", value, vlen, TRUE);
}

/* client-resp = (gs2-header kvsep *kvpair kvsep) / kvsep, kvsep = %x01 */
static void
decode_oauthbearer (XmSasl *sasl, XmSaslDecode *d, const char *s, gsize len,
                    gboolean from_client)
{
  gboolean have_auth = FALSE, terminated = FALSE;
  gsize i;

  if (!from_client)
    {
      g_autofree char *status = NULL;

      if (len == 0)
        return;
      xm_sasl_field_data (d, "error", (const guint8 *) s, len, FALSE);
      status = json_status (s, len);
      xm_sasl_note (d, "the server rejected the token%s%s%s; the client must "
                    "answer 0x01, then the server fails (RFC 7628 §3.2.2)",
                    status ? " (status '" : "", status ? status : "",
                    status ? "')" : "");
      return;
    }
  if (len == 1 && s[0] == 0x01)
    {
      xm_sasl_note (d, "0x01: the client acknowledges the server's error "
                    "(RFC 7628 §3.2.3)");
      return;
    }

  i = xm_sasl_gs2_header (d, sasl->mechanism, s, len, FALSE);
  if (i == 0)
    {
      xm_sasl_field_data (d, "data", (const guint8 *) s, len, TRUE);
      return;
    }
  if (i < len && s[i] == 0x01)
    i++;
  else
    xm_sasl_note (d, "OAUTHBEARER: no 0x01 after the GS2 header "
                  "(RFC 7628 §3.1)");
  while (i < len)
    {
      const char *sep = memchr (s + i, 0x01, len - i);
      gsize end = sep ? (gsize) (sep - s) : len;

      if (end == i)
        {
          terminated = i + 1 == len;
          if (!terminated)
            xm_sasl_note (d, "OAUTHBEARER: %" G_GSIZE_FORMAT " bytes after "
                          "the final 0x01 (RFC 7628 §3.1)", len - i - 1);
          break;
        }
      oauthbearer_pair (d, s + i, end - i, &have_auth);
      i = end + 1;
    }
  if (!terminated)
    xm_sasl_note (d, "OAUTHBEARER: the message does not end with 0x01 0x01 "
                  "(RFC 7628 §3.1)");
  if (!have_auth)
    xm_sasl_note (d, "OAUTHBEARER: no auth= pair (RFC 7628 §3.1 requires "
                  "one)");
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                  */
/* ------------------------------------------------------------------------ */

void
xm_sasl_decode_payload (XmSasl *sasl, XmSaslDecode *d, const guint8 *data,
                        gsize len, gboolean from_client)
{
  const char *m = sasl->mechanism;
  const char *s = (const char *) data;

  if (xm_sasl_is_scram (m))
    xm_sasl_scram_decode (sasl, d, s, len, from_client);
  else if (xm_sasl_mech_is (m, "DIGEST-MD5"))
    decode_digest_md5 (d, s, len, from_client);
  else if (xm_sasl_mech_is (m, "OAUTHBEARER"))
    decode_oauthbearer (sasl, d, s, len, from_client);
  else if (!from_client)
    /* the other mechanisms define no server data */
    xm_sasl_field_data (d, "data", data, len, FALSE);
  else if (xm_sasl_mech_is (m, "PLAIN"))
    decode_plain (d, m, data, len, "password", TRUE);
  else if (xm_sasl_mech_is (m, "X-OAUTH2") || xm_sasl_mech_is (m, "X-GOOGLE-TOKEN"))
    decode_plain (d, m, data, len, "token", FALSE);
  else if (xm_sasl_mech_is (m, "X-YANDEX-OAUTH"))
    decode_yandex (d, data, len);
  else if (xm_sasl_mech_is (m, "EXTERNAL"))
    /* RFC 4422 Appendix A.1: the authorization identity, maybe empty */
    xm_sasl_field (d, "authzid", s, len, FALSE);
  else if (xm_sasl_mech_is (m, "ANONYMOUS"))
    /* RFC 4505 §2: trace information, e.g. an email address */
    xm_sasl_field (d, "trace", s, len, FALSE);
  else
    {
      xm_sasl_field_data (d, "data", data, len, TRUE);
      xm_sasl_note (d, "%s: client data of a mechanism xmitm does not know "
                    "is treated as a secret", m ? m : "no mechanism seen");
    }
}

void
xm_sasl_decode_no_payload (XmSasl *sasl, XmSaslDecode *d, gboolean from_client)
{
  /* RFC 6120 §6.3.10: the server-final data came in a challenge, and the
   * client answers with an empty response before <success/>. */
  if (from_client && xm_sasl_is_scram (sasl->mechanism)
      && sasl->scram_stage == XM_SCRAM_SERVER_FINAL)
    xm_sasl_note (d, "empty response: the client accepts the server-final "
                  "message (RFC 6120 §6.3.10)");
}
