/* sasl-scram.c: SCRAM messages (RFC 5802; SCRAM-SHA-256 RFC 7677; the
 * SHA-512 and SHA3-512 variants and every -PLUS form work the same way) and
 * the GS2 header they start with (RFC 5801 §4).
 *
 * Nothing in SCRAM is a secret on the wire: nonces, salts, proofs and
 * verifiers are all meant to be seen. The session state keeps what later
 * messages must repeat, so that a mismatch (often a proxy's doing) is named. */
#include "config.h"

#include <string.h>

#include "sasl-private.h"

/* Hash output sizes: the length of a proof (p=) and a verifier (v=). */
static const struct {
  const char *name;
  gsize hash_len;
} hashes[] = {
  { "SCRAM-SHA-1", 20 },    { "SCRAM-SHA-224", 28 },  { "SCRAM-SHA-256", 32 },
  { "SCRAM-SHA-384", 48 },  { "SCRAM-SHA-512", 64 },  { "SCRAM-SHA3-512", 64 },
};

gboolean
xm_sasl_is_scram (const char *mechanism)
{
  return mechanism != NULL && g_ascii_strncasecmp (mechanism, "SCRAM-", 6) == 0;
}

static gsize
hash_len (const char *mechanism)
{
  gsize n = strlen (mechanism);

  if (xm_sasl_is_plus (mechanism))
    n -= 5;
  for (gsize i = 0; i < G_N_ELEMENTS (hashes); i++)
    if (strlen (hashes[i].name) == n
        && g_ascii_strncasecmp (mechanism, hashes[i].name, n) == 0)
      return hashes[i].hash_len;
  return 0;
}

void
xm_sasl_scram_reset (XmSasl *sasl)
{
  sasl->scram_stage = XM_SCRAM_NONE;
  g_clear_pointer (&sasl->gs2_header, g_free);
  g_clear_pointer (&sasl->client_nonce, g_free);
  g_clear_pointer (&sasl->nonce, g_free);
}

/* ------------------------------------------------------------------------ */
/* GS2 header (RFC 5801 §4, RFC 5802 §7)                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
  char flag;            /* 'n', 'y' or 'p' */
  const char *cb_name;  /* after "p=" */
  gsize cb_name_len;
  const char *authzid;  /* after "a=", NULL if none */
  gsize authzid_len;
  gsize len;            /* through the second ',' */
} Gs2;

/* gs2-header = gs2-cbind-flag "," [ authzid ] ","
 * gs2-cbind-flag = ("p=" cb-name) / "n" / "y" */
static gboolean
gs2_parse (const char *s, gsize len, Gs2 *g)
{
  gsize i;

  memset (g, 0, sizeof *g);
  if (len >= 1 && (s[0] == 'n' || s[0] == 'y'))
    {
      g->flag = s[0];
      i = 1;
    }
  else if (len >= 2 && s[0] == 'p' && s[1] == '=')
    {
      for (i = 2; i < len && s[i] != ','; i++)
        ;
      g->flag = 'p';
      g->cb_name = s + 2;
      g->cb_name_len = i - 2;
      if (g->cb_name_len == 0)
        return FALSE;
    }
  else
    return FALSE;
  if (i >= len || s[i] != ',')
    return FALSE;
  i++;
  if (i + 1 < len && s[i] == 'a' && s[i + 1] == '=')
    {
      gsize start = i + 2;

      for (i = start; i < len && s[i] != ','; i++)
        ;
      g->authzid = s + start;
      g->authzid_len = i - start;
    }
  if (i >= len || s[i] != ',')
    return FALSE;
  g->len = i + 1;
  return TRUE;
}

/* RFC 5802 §5.1: saslname escapes "," as "=2C" and "=" as "=3D". */
static void
add_saslname (XmSaslDecode *d, const char *name, const char *s, gsize len)
{
  g_autoptr (GString) out = g_string_sized_new (len);
  gboolean bad = FALSE;

  for (gsize i = 0; i < len; i++)
    {
      if (s[i] == '=' && i + 2 < len
          && ((s[i + 1] == '2' && (s[i + 2] == 'C' || s[i + 2] == 'c'))
              || (s[i + 1] == '3' && (s[i + 2] == 'D' || s[i + 2] == 'd'))))
        {
          g_string_append_c (out, s[i + 1] == '2' ? ',' : '=');
          i += 2;
        }
      else
        {
          bad |= s[i] == '=';
          g_string_append_c (out, s[i]);
        }
    }
  xm_sasl_field (d, name, out->str, out->len, FALSE);
  if (bad)
    xm_sasl_note (d, "SCRAM: %s has a '=' that is not =2C or =3D "
                  "(RFC 5802 §5.1 saslname)", name);
}

static void
explain_cb_name (XmSaslDecode *d, const char *name, gsize len)
{
  g_autofree char *shown = xm_sasl_excerpt (name, len, 64);

  if (len == 12 && memcmp (name, "tls-exporter", len) == 0)
    xm_sasl_note (d, "channel binding tls-exporter (RFC 9266): keying "
                  "material exported from the TLS session; it verifies only "
                  "if client and server share that session, which TLS "
                  "interception breaks");
  else if (len == 10 && memcmp (name, "tls-unique", len) == 0)
    xm_sasl_note (d, "channel binding tls-unique (RFC 5929 §3): the first "
                  "Finished message of the TLS handshake, undefined for TLS "
                  "1.3 (RFC 9266); it verifies only if client and server "
                  "share that session, which TLS interception breaks");
  else if (len == 20 && memcmp (name, "tls-server-end-point", len) == 0)
    xm_sasl_note (d, "channel binding tls-server-end-point (RFC 5929 §4): "
                  "the hash of the server's certificate; it verifies only if "
                  "the client sees the server's own certificate, which TLS "
                  "interception breaks");
  else
    xm_sasl_note (d, "channel binding type '%s' is none of tls-exporter, "
                  "tls-unique, tls-server-end-point", shown);
}

gsize
xm_sasl_gs2_header (XmSaslDecode *d, const char *mechanism, const char *msg,
                    gsize len, gboolean allow_binding)
{
  const char *mech = mechanism ? mechanism : "the mechanism";
  char flag[2] = { 0, 0 };
  Gs2 g;

  if (!gs2_parse (msg, len, &g))
    {
      xm_sasl_note (d, "malformed GS2 header (RFC 5801 §4: 'n', 'y' or "
                    "'p=<type>', a comma, 'a=<authzid>' or nothing, a "
                    "comma); read on as if there were none");
      return 0;
    }
  flag[0] = g.flag;
  xm_sasl_field_str (d, "gs2-cbind-flag", flag, FALSE);
  if (g.flag == 'p')
    xm_sasl_field (d, "cb-name", g.cb_name, g.cb_name_len, FALSE);
  if (g.authzid)
    add_saslname (d, "authzid", g.authzid, g.authzid_len);

  if (!allow_binding)
    {
      if (g.flag == 'p')
        xm_sasl_note (d, "%s has no channel binding: GS2 flag 'p' is not "
                      "allowed (RFC 7628 §3.1)", mech);
      return g.len;
    }
  if (g.flag == 'p')
    {
      explain_cb_name (d, g.cb_name, g.cb_name_len);
      if (!xm_sasl_is_plus (mechanism))
        xm_sasl_note (d, "GS2 flag 'p' (channel binding) with %s: RFC 5802 "
                      "§6 wants the -PLUS mechanism for that", mech);
    }
  else
    {
      if (g.flag == 'y')
        xm_sasl_note (d, "GS2 flag 'y': the client supports channel binding "
                      "but thinks the server does not (it saw no -PLUS "
                      "mechanism); a server that offers a -PLUS mechanism "
                      "rejects this as a downgrade (RFC 5802 §6)");
      if (xm_sasl_is_plus (mechanism))
        xm_sasl_note (d, "%s without channel binding: GS2 flag '%c' where "
                      "RFC 5802 §6 wants 'p=<type>'", mech, g.flag);
    }
  return g.len;
}

/* ------------------------------------------------------------------------ */
/* Attributes (RFC 5802 §7: attr-val = ALPHA "=" value, comma-separated)     */
/* ------------------------------------------------------------------------ */

typedef struct {
  char letter;
  const char *value;
  gsize len;
} Attr;

static GArray *
parse_attrs (XmSaslDecode *d, const char *msg, gsize len)
{
  GArray *attrs = g_array_new (FALSE, FALSE, sizeof (Attr));
  gsize i = 0;

  if (len == 0)
    return attrs;
  for (;;)
    {
      const char *comma = memchr (msg + i, ',', len - i);
      gsize end = comma ? (gsize) (comma - msg) : len;

      if (end - i >= 2 && g_ascii_isalpha (msg[i]) && msg[i + 1] == '=')
        {
          Attr a = { msg[i], msg + i + 2, end - i - 2 };
          g_array_append_val (attrs, a);
        }
      else
        {
          g_autofree char *bad = xm_sasl_excerpt (msg + i, end - i, 40);
          xm_sasl_note (d, "SCRAM: malformed attribute '%s' (RFC 5802 §7: a "
                        "letter, '=', a value)", bad);
        }
      if (comma == NULL)
        break;
      i = end + 1;
    }
  return attrs;
}

static void
add_attr (XmSaslDecode *d, const Attr *a)
{
  char name[2] = { a->letter, 0 };

  xm_sasl_field (d, name, a->value, a->len, FALSE);
}

static const Attr *
find_attr (GArray *attrs, char letter)
{
  for (guint i = 0; i < attrs->len; i++)
    if (g_array_index (attrs, Attr, i).letter == letter)
      return &g_array_index (attrs, Attr, i);
  return NULL;
}

static void
require (XmSaslDecode *d, GArray *attrs, const char *letters,
         const char *message)
{
  for (const char *l = letters; *l; l++)
    if (find_attr (attrs, *l) == NULL)
      xm_sasl_note (d, "SCRAM %s without %c= (RFC 5802 §7): truncated or "
                    "malformed", message, *l);
}

/* A base64 attribute (s=, p=, v=): validated; hashes checked for size. */
static void
check_base64 (XmSasl *sasl, XmSaslDecode *d, const Attr *a, gboolean is_hash)
{
  char what[3] = { a->letter, '=', 0 };
  g_autoptr (GByteArray) bytes = xm_sasl_base64_decode (d, what, a->value, a->len);
  gsize want = sasl->mechanism ? hash_len (sasl->mechanism) : 0;

  if (is_hash && want && bytes->len != want)
    xm_sasl_note (d, "%s decodes to %u bytes, %s wants %" G_GSIZE_FORMAT,
                  what, bytes->len, sasl->mechanism, want);
}

static void
note_mext (XmSaslDecode *d)
{
  xm_sasl_note (d, "SCRAM: m= is a mandatory extension no server knows; it "
                "must fail the exchange (RFC 5802 §5.1)");
}

/* ------------------------------------------------------------------------ */
/* The four messages (RFC 5802 §5, §7)                                       */
/* ------------------------------------------------------------------------ */

static void
client_first (XmSasl *sasl, XmSaslDecode *d, const char *msg, gsize len)
{
  gsize h = xm_sasl_gs2_header (d, sasl->mechanism, msg, len, TRUE);
  g_autoptr (GArray) attrs = parse_attrs (d, msg + h, len - h);

  xm_sasl_scram_reset (sasl);
  sasl->scram_stage = XM_SCRAM_CLIENT_FIRST;
  if (h > 0)
    sasl->gs2_header = g_strndup (msg, h);
  for (guint i = 0; i < attrs->len; i++)
    {
      const Attr *a = &g_array_index (attrs, Attr, i);

      if (a->letter == 'n')
        add_saslname (d, "n", a->value, a->len);
      else
        add_attr (d, a);
      if (a->letter == 'r' && sasl->client_nonce == NULL)
        sasl->client_nonce = g_strndup (a->value, a->len);
      if (a->letter == 'm')
        note_mext (d);
    }
  require (d, attrs, "nr", "client-first message");
}

static void
server_first (XmSasl *sasl, XmSaslDecode *d, const char *msg, gsize len)
{
  g_autoptr (GArray) attrs = parse_attrs (d, msg, len);
  const Attr *r = find_attr (attrs, 'r');
  const Attr *it = find_attr (attrs, 'i');

  sasl->scram_stage = XM_SCRAM_SERVER_FIRST;
  for (guint i = 0; i < attrs->len; i++)
    {
      const Attr *a = &g_array_index (attrs, Attr, i);

      add_attr (d, a);
      if (a->letter == 's')
        check_base64 (sasl, d, a, FALSE);
      if (a->letter == 'm')
        note_mext (d);
    }
  require (d, attrs, "rsi", "server-first message");

  if (r)
    {
      gsize cn = sasl->client_nonce ? strlen (sasl->client_nonce) : 0;

      g_free (sasl->nonce);
      sasl->nonce = g_strndup (r->value, r->len);
      if (sasl->client_nonce
          && (r->len < cn || memcmp (r->value, sasl->client_nonce, cn) != 0))
        xm_sasl_note (d, "r= does not start with the client's nonce "
                      "(RFC 5802 §5.1)");
      else if (sasl->client_nonce && r->len == cn)
        xm_sasl_note (d, "r= adds no server nonce to the client's "
                      "(RFC 5802 §5.1)");
    }
  if (it)
    {
      g_autofree char *digits = g_strndup (it->value, it->len);
      guint64 n = 0;

      if (!g_ascii_string_to_unsigned (digits, 10, 1, G_MAXUINT32, &n, NULL))
        xm_sasl_note (d, "i= is not a positive number (RFC 5802 §7)");
      else if (n < 4096)
        xm_sasl_note (d, "i=%" G_GUINT64_FORMAT ": fewer iterations than "
                      "the 4096 RFC 7677 §4 asks for", n);
    }
}

/* c= is base64 of the GS2 header and, with flag 'p', the channel binding
 * data of the client's TLS session (RFC 5802 §7 cbind-input). */
static void
decode_cbind (XmSasl *sasl, XmSaslDecode *d, const Attr *c)
{
  g_autoptr (GByteArray) in = xm_sasl_base64_decode (d, "c=", c->value, c->len);
  const char *s = (const char *) in->data;
  Gs2 g;

  if (!gs2_parse (s, in->len, &g))
    {
      xm_sasl_field_data (d, "c", in->data, in->len, FALSE);
      xm_sasl_note (d, "c= does not start with a GS2 header (RFC 5802 §7)");
      return;
    }
  xm_sasl_field (d, "c.header", s, g.len, FALSE);
  if (in->len > g.len || g.flag == 'p')
    xm_sasl_field_hex (d, "c.binding", in->data + g.len, in->len - g.len,
                       FALSE);
  if (sasl->gs2_header
      && (strlen (sasl->gs2_header) != g.len
          || memcmp (sasl->gs2_header, s, g.len) != 0))
    {
      g_autofree char *now = xm_sasl_excerpt (s, g.len, 64);
      g_autofree char *then = xm_sasl_excerpt (sasl->gs2_header,
                                               strlen (sasl->gs2_header), 64);
      xm_sasl_note (d, "c= header '%s' differs from the client-first GS2 "
                    "header '%s' (RFC 5802 §5.1)", now, then);
    }
  if (g.flag == 'p' && in->len == g.len)
    xm_sasl_note (d, "c= announces channel binding but carries no binding "
                  "data (RFC 5802 §7)");
  else if (g.flag == 'p' && g.cb_name_len == 12
           && memcmp (g.cb_name, "tls-exporter", 12) == 0
           && in->len - g.len != 32)
    xm_sasl_note (d, "tls-exporter binding data is %" G_GSIZE_FORMAT
                  " bytes, RFC 9266 §2 exports 32", in->len - g.len);
  else if (g.flag != 'p' && in->len > g.len)
    xm_sasl_note (d, "c= carries binding data without GS2 flag 'p' "
                  "(RFC 5802 §7)");
}

static void
client_final (XmSasl *sasl, XmSaslDecode *d, const char *msg, gsize len)
{
  g_autoptr (GArray) attrs = parse_attrs (d, msg, len);
  const Attr *r = find_attr (attrs, 'r');

  sasl->scram_stage = XM_SCRAM_CLIENT_FINAL;
  for (guint i = 0; i < attrs->len; i++)
    {
      const Attr *a = &g_array_index (attrs, Attr, i);

      if (a->letter == 'c')
        decode_cbind (sasl, d, a);
      else
        add_attr (d, a);
      if (a->letter == 'p')
        check_base64 (sasl, d, a, TRUE);
    }
  require (d, attrs, "crp", "client-final message");
  if (r && sasl->nonce
      && (r->len != strlen (sasl->nonce) || memcmp (r->value, sasl->nonce, r->len) != 0))
    xm_sasl_note (d, "r= differs from the nonce of the server-first message "
                  "(RFC 5802 §5.1)");
}

/* RFC 5802 §7 server-error-value, with what each usually means. */
static const struct {
  const char *value;
  const char *meaning;
} server_errors[] = {
  { "invalid-encoding", "the server could not parse the client's message" },
  { "extensions-not-supported", "the client used an extension the server "
    "does not know" },
  { "invalid-proof", "the client proof did not verify: wrong password" },
  { "channel-bindings-dont-match", "the channel binding data differs from "
    "the server's TLS session, as when a proxy terminates TLS" },
  { "server-does-support-channel-binding", "the client said it saw no "
    "channel binding offered (GS2 flag 'y') while the server supports it, so "
    "the downgrade check tripped, typically because a middlebox removed the "
    "-PLUS mechanisms (RFC 5802 §6)" },
  { "channel-binding-not-supported", "the server does not support channel "
    "binding" },
  { "unsupported-channel-binding-type", "the server does not support the "
    "channel binding type the client asked for" },
  { "unknown-user", "the server knows no such user" },
  { "invalid-username-encoding", "the username is not a valid saslname or "
    "fails SASLprep" },
  { "no-resources", "the server lacks resources" },
  { "other-error", "an unspecified error" },
};

static void
server_final (XmSasl *sasl, XmSaslDecode *d, const char *msg, gsize len)
{
  g_autoptr (GArray) attrs = parse_attrs (d, msg, len);

  sasl->scram_stage = XM_SCRAM_SERVER_FINAL;
  for (guint i = 0; i < attrs->len; i++)
    {
      const Attr *a = &g_array_index (attrs, Attr, i);
      gboolean known = FALSE;

      add_attr (d, a);
      if (a->letter == 'v')
        check_base64 (sasl, d, a, TRUE);
      if (a->letter != 'e')
        continue;
      for (gsize k = 0; k < G_N_ELEMENTS (server_errors); k++)
        if (strlen (server_errors[k].value) == a->len
            && memcmp (server_errors[k].value, a->value, a->len) == 0)
          {
            xm_sasl_note (d, "e=%s: %s", server_errors[k].value,
                          server_errors[k].meaning);
            known = TRUE;
          }
      if (!known)
        xm_sasl_note (d, "e= value is not one of RFC 5802 §7");
    }
  if (!find_attr (attrs, 'v') && !find_attr (attrs, 'e'))
    xm_sasl_note (d, "SCRAM server-final message without v= or e= "
                  "(RFC 5802 §7): truncated or malformed");
}

void
xm_sasl_scram_decode (XmSasl *sasl, XmSaslDecode *d, const char *msg,
                      gsize len, gboolean from_client)
{
  static const char *const steps[] = {
    "client-first", "server-first", "client-final", "server-final",
  };
  XmScramStage kind;

  /* Which message this is shows in its first bytes; the exchange so far
   * decides only for a message too broken to tell. */
  if (from_client)
    {
      if (len >= 2 && msg[0] == 'c' && msg[1] == '=')
        kind = XM_SCRAM_CLIENT_FINAL;
      else if ((len >= 1 && (msg[0] == 'n' || msg[0] == 'y')
                && (len == 1 || msg[1] == ','))
               || (len >= 2 && msg[0] == 'p' && msg[1] == '='))
        kind = XM_SCRAM_CLIENT_FIRST;
      else
        kind = sasl->scram_stage >= XM_SCRAM_CLIENT_FIRST
               ? XM_SCRAM_CLIENT_FINAL : XM_SCRAM_CLIENT_FIRST;
    }
  else
    {
      if (len >= 2 && (msg[0] == 'v' || msg[0] == 'e') && msg[1] == '=')
        kind = XM_SCRAM_SERVER_FINAL;
      else if (len >= 2 && (msg[0] == 'r' || msg[0] == 'm') && msg[1] == '=')
        kind = XM_SCRAM_SERVER_FIRST;
      else
        kind = sasl->scram_stage >= XM_SCRAM_CLIENT_FINAL
               ? XM_SCRAM_SERVER_FINAL : XM_SCRAM_SERVER_FIRST;
    }

  g_free (d->step);
  d->step = g_strdup (steps[kind - XM_SCRAM_CLIENT_FIRST]);
  switch (kind)
    {
    case XM_SCRAM_CLIENT_FIRST:
      client_first (sasl, d, msg, len);
      break;
    case XM_SCRAM_SERVER_FIRST:
      server_first (sasl, d, msg, len);
      break;
    case XM_SCRAM_CLIENT_FINAL:
      client_final (sasl, d, msg, len);
      break;
    case XM_SCRAM_SERVER_FINAL:
    case XM_SCRAM_NONE:
    default:
      server_final (sasl, d, msg, len);
      break;
    }
}
