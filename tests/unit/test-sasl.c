/* test-sasl.c: the SASL decoders (decoders/sasl.h) against published
 * exchanges and broken input.
 *
 * Vectors: RFC 5802 §5 (SCRAM-SHA-1), RFC 7677 §3 (SCRAM-SHA-256), RFC 2831
 * §4 (DIGEST-MD5), RFC 7628 §4 (OAUTHBEARER), XEP-0078 §3 (digest), and the
 * transcripts in /work/shared/seeds (000: X-YANDEX-OAUTH; 001-003: PLAIN;
 * 004: DIGEST-MD5 with ejabberd). Elements are built the way the proxy sees
 * them: XML after a stream header, framed by the real framer. */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "sasl.h"
#include "xml-framer.h"

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_SASL2 "urn:xmpp:sasl:2"

#define HEADER "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " \
  "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' "        \
  "version='1.0'>"

/* RFC 5802 §5, user "user", password "pencil" */
#define RFC5802_CLIENT_FIRST "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
#define RFC5802_NONCE "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
#define RFC5802_SERVER_FIRST "r=" RFC5802_NONCE ",s=QSXCR+Q6sek8bf92,i=4096"
#define RFC5802_PROOF "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
#define RFC5802_CLIENT_FINAL "c=biws,r=" RFC5802_NONCE ",p=" RFC5802_PROOF
#define RFC5802_SERVER_FINAL "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="

/* RFC 7677 §3, user "user", password "pencil" */
#define RFC7677_CLIENT_FIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define RFC7677_NONCE "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC7677_SERVER_FIRST \
  "r=" RFC7677_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC7677_PROOF "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC7677_CLIENT_FINAL "c=biws,r=" RFC7677_NONCE ",p=" RFC7677_PROOF
#define RFC7677_VERIFIER "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
#define RFC7677_SERVER_FINAL "v=" RFC7677_VERIFIER

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static void
keep_stanza (XmStanza *stanza, gpointer user_data)
{
  g_ptr_array_add (user_data, xm_stanza_ref (stanza));
}

/* Frames xml (one element) after a stream header; returns it, referenced. */
static XmStanza *
frame (const char *xml)
{
  static const XmFramerEvents events = { .stanza = keep_stanza };
  g_autoptr (GPtrArray) got =
    g_ptr_array_new_with_free_func ((GDestroyNotify) xm_stanza_unref);
  g_autoptr (XmFramer) framer = xm_framer_new (&events, got);

  xm_framer_set_max_stanza (framer, 8 * 1024 * 1024);
  xm_framer_feed (framer, (const guint8 *) HEADER, strlen (HEADER));
  xm_framer_feed (framer, (const guint8 *) xml, strlen (xml));
  g_assert_cmpuint (got->len, ==, 1);
  g_assert_nonnull (((XmStanza *) got->pdata[0])->root);
  return xm_stanza_ref (got->pdata[0]);
}

static XmSaslDecode *
decode_xml (XmSasl *sasl, const char *xml, gboolean from_client)
{
  g_autoptr (XmStanza) stanza = frame (xml);

  return xm_sasl_decode (sasl, stanza->root, from_client);
}

static gboolean
sent_by_client (const char *element)
{
  return strcmp (element, "auth") == 0 || strcmp (element, "response") == 0
         || strcmp (element, "abort") == 0;
}

/* <element xmlns=RFC 6120 SASL [mechanism=mech]>text</element>, sent by the
 * side RFC 6120 §6.4 has send it. */
static XmSaslDecode *
decode_text (XmSasl *sasl, const char *element, const char *mech,
             const char *text)
{
  g_autofree char *xml = NULL;

  if (mech)
    xml = g_strdup_printf ("<%s xmlns='" NS_SASL "' mechanism='%s'>%s</%s>",
                           element, mech, text, element);
  else
    xml = g_strdup_printf ("<%s xmlns='" NS_SASL "'>%s</%s>", element, text,
                           element);
  return decode_xml (sasl, xml, sent_by_client (element));
}

/* The same with data base64-encoded ("=" when empty, RFC 6120 §6.4.2). */
static XmSaslDecode *
decode_bytes (XmSasl *sasl, const char *element, const char *mech,
              const void *data, gsize len)
{
  g_autofree char *b64 = len ? g_base64_encode (data, len) : g_strdup ("=");

  return decode_text (sasl, element, mech, b64);
}

static XmSaslDecode *
decode_str (XmSasl *sasl, const char *element, const char *mech,
            const char *data)
{
  return decode_bytes (sasl, element, mech, data, strlen (data));
}

/* Asserts the fields, in order and complete: name, value, ..., NULL. */
static G_GNUC_NULL_TERMINATED void
check_fields (const XmSaslDecode *d, ...)
{
  const char *name;
  guint i = 0;
  va_list ap;

  va_start (ap, d);
  while ((name = va_arg (ap, const char *)) != NULL)
    {
      const char *value = va_arg (ap, const char *);
      const XmSaslField *f;

      g_assert_cmpuint (i, <, d->fields->len);
      f = d->fields->pdata[i++];
      g_assert_cmpstr (f->name, ==, name);
      g_assert_cmpstr (f->value, ==, value);
    }
  va_end (ap);
  g_assert_cmpuint (d->fields->len, ==, i);
}

static const XmSaslField *
get_field (const XmSaslDecode *d, const char *name)
{
  for (guint i = 0; i < d->fields->len; i++)
    {
      const XmSaslField *f = d->fields->pdata[i];
      if (strcmp (f->name, name) == 0)
        return f;
    }
  return NULL;
}

static gboolean
has_note (const XmSaslDecode *d, const char *part)
{
  for (guint i = 0; i < d->notes->len; i++)
    if (strstr (d->notes->pdata[i], part))
      return TRUE;
  return FALSE;
}

static void
assert_note (const XmSaslDecode *d, const char *part)
{
  if (!has_note (d, part))
    {
      for (guint i = 0; i < d->notes->len; i++)
        g_test_message ("note: %s", (char *) d->notes->pdata[i]);
      g_error ("no note contains '%s'", part);
    }
}

static void
assert_no_notes (const XmSaslDecode *d)
{
  for (guint i = 0; i < d->notes->len; i++)
    g_test_message ("unexpected note: %s", (char *) d->notes->pdata[i]);
  g_assert_cmpuint (d->notes->len, ==, 0);
}

static void
assert_format (const XmSaslDecode *d, gboolean show_secrets, const char *want)
{
  g_autofree char *line = xm_sasl_decode_format (d, show_secrets, 0);

  g_assert_cmpstr (line, ==, want);
}

/* One line of printable UTF-8: what the printer may put on a terminal. */
static void
assert_printable_line (const char *s)
{
  g_assert_true (g_utf8_validate (s, -1, NULL));
  for (const char *p = s; *p; p = g_utf8_next_char (p))
    {
      gunichar u = g_utf8_get_char (p);
      if (!g_unichar_isprint (u))
        g_error ("not printable: U+%04X in %s", u, s);
      g_assert_cmpint (g_unichar_type (u), !=, G_UNICODE_LINE_SEPARATOR);
      g_assert_cmpint (g_unichar_type (u), !=, G_UNICODE_PARAGRAPH_SEPARATOR);
    }
}

static void
assert_printable (const XmSaslDecode *d)
{
  g_autofree char *hidden = xm_sasl_decode_format (d, FALSE, 0);
  g_autofree char *shown = xm_sasl_decode_format (d, TRUE, 0);

  assert_printable_line (hidden);
  assert_printable_line (shown);
  for (guint i = 0; i < d->fields->len; i++)
    assert_printable_line (((XmSaslField *) d->fields->pdata[i])->value);
  for (guint i = 0; i < d->notes->len; i++)
    assert_printable_line (d->notes->pdata[i]);
}

/* The secret is in the line only when asked for, and its size is. */
static void
assert_secret (const XmSaslDecode *d, const char *secret)
{
  g_autofree char *hidden = xm_sasl_decode_format (d, FALSE, 0);
  g_autofree char *shown = xm_sasl_decode_format (d, TRUE, 0);
  g_autofree char *redacted =
    g_strdup_printf ("<redacted, %" G_GSIZE_FORMAT " bytes>", strlen (secret));

  g_assert_null (strstr (hidden, secret));
  g_assert_nonnull (strstr (hidden, redacted));
  g_assert_nonnull (strstr (shown, secret));
  g_assert_null (strstr (shown, "<redacted"));
}

/* ------------------------------------------------------------------------ */
/* SCRAM                                                                     */
/* ------------------------------------------------------------------------ */

static void
test_scram_sha1_rfc5802 (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) cf = NULL, sf = NULL, cfin = NULL, sfin = NULL;

  cf = decode_str (sasl, "auth", "SCRAM-SHA-1", RFC5802_CLIENT_FIRST);
  g_assert_cmpstr (cf->protocol, ==, "SASL");
  g_assert_cmpstr (cf->element, ==, "auth");
  g_assert_cmpstr (cf->mechanism, ==, "SCRAM-SHA-1");
  g_assert_cmpstr (cf->step, ==, "client-first");
  check_fields (cf, "gs2-cbind-flag", "n", "n", "user",
                "r", "fyko+d2lbbFgONRv9qkxdawL", NULL);
  assert_no_notes (cf);
  assert_format (cf, FALSE, "SASL SCRAM-SHA-1 auth (client-first): "
                 "gs2-cbind-flag='n' n='user' r='fyko+d2lbbFgONRv9qkxdawL'");

  sf = decode_str (sasl, "challenge", NULL, RFC5802_SERVER_FIRST);
  g_assert_cmpstr (sf->mechanism, ==, "SCRAM-SHA-1");
  g_assert_cmpstr (sf->step, ==, "server-first");
  check_fields (sf, "r", RFC5802_NONCE, "s", "QSXCR+Q6sek8bf92", "i", "4096",
                NULL);
  assert_no_notes (sf);

  cfin = decode_str (sasl, "response", NULL, RFC5802_CLIENT_FINAL);
  g_assert_cmpstr (cfin->step, ==, "client-final");
  check_fields (cfin, "c.header", "n,,", "r", RFC5802_NONCE,
                "p", RFC5802_PROOF, NULL);
  assert_no_notes (cfin);
  /* Nothing in SCRAM is secret. */
  assert_format (cfin, FALSE, "SASL SCRAM-SHA-1 response (client-final): "
                 "c.header='n,,' r='" RFC5802_NONCE "' p='" RFC5802_PROOF "'");

  sfin = decode_str (sasl, "success", NULL, RFC5802_SERVER_FINAL);
  g_assert_cmpstr (sfin->element, ==, "success");
  g_assert_cmpstr (sfin->step, ==, "server-final");
  check_fields (sfin, "v", "rmF9pqV8S7suAoZWja4dJRkFsKQ=", NULL);
  assert_no_notes (sfin);
}

static void
test_scram_sha256_rfc7677 (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) cf = NULL, sf = NULL, cfin = NULL, sfin = NULL;

  cf = decode_str (sasl, "auth", "SCRAM-SHA-256", RFC7677_CLIENT_FIRST);
  g_assert_cmpstr (cf->step, ==, "client-first");
  check_fields (cf, "gs2-cbind-flag", "n", "n", "user",
                "r", "rOprNGfwEbeRWgbNEkqO", NULL);
  assert_no_notes (cf);

  sf = decode_str (sasl, "challenge", NULL, RFC7677_SERVER_FIRST);
  g_assert_cmpstr (sf->step, ==, "server-first");
  check_fields (sf, "r", RFC7677_NONCE, "s", "W22ZaJ0SNY7soEsUEjb6gQ==",
                "i", "4096", NULL);
  assert_no_notes (sf);

  cfin = decode_str (sasl, "response", NULL, RFC7677_CLIENT_FINAL);
  g_assert_cmpstr (cfin->step, ==, "client-final");
  check_fields (cfin, "c.header", "n,,", "r", RFC7677_NONCE,
                "p", RFC7677_PROOF, NULL);
  assert_no_notes (cfin);

  /* The server-final message in a challenge, then an empty response and a
   * bare success (RFC 6120 §6.3.10). */
  sfin = decode_str (sasl, "challenge", NULL, RFC7677_SERVER_FINAL);
  g_assert_cmpstr (sfin->step, ==, "server-final");
  check_fields (sfin, "v", RFC7677_VERIFIER, NULL);
  assert_no_notes (sfin);
  {
    g_autoptr (XmSaslDecode) empty = decode_text (sasl, "response", NULL, "");
    g_autoptr (XmSaslDecode) ok = decode_text (sasl, "success", NULL, "");

    g_assert_cmpstr (empty->step, ==, "response");
    check_fields (empty, NULL);
    assert_note (empty, "accepts the server-final");
    check_fields (ok, NULL);
    assert_no_notes (ok);
    assert_format (ok, FALSE, "SASL SCRAM-SHA-256 success");
  }
}

static void
test_scram_plus (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) cf = NULL, sf = NULL, cfin = NULL;
  g_autofree char *cbind_b64 = NULL, *client_final = NULL;
  guint8 cbind[16 + 32];

  cf = decode_str (sasl, "auth", "SCRAM-SHA-256-PLUS",
                   "p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  g_assert_cmpstr (cf->step, ==, "client-first");
  check_fields (cf, "gs2-cbind-flag", "p", "cb-name", "tls-exporter",
                "n", "user", "r", "rOprNGfwEbeRWgbNEkqO", NULL);
  g_assert_cmpuint (cf->notes->len, ==, 1);
  assert_note (cf, "tls-exporter (RFC 9266)");
  g_assert_true (xm_sasl_is_plus (cf->mechanism));

  sf = decode_str (sasl, "challenge", NULL, RFC7677_SERVER_FIRST);
  assert_no_notes (sf);

  /* c= is the GS2 header and 32 bytes of exported keying material */
  memcpy (cbind, "p=tls-exporter,,", 16);
  for (guint i = 0; i < 32; i++)
    cbind[16 + i] = (guint8) (i * 7 + 1);
  cbind_b64 = g_base64_encode (cbind, sizeof cbind);
  client_final = g_strconcat ("c=", cbind_b64, ",r=" RFC7677_NONCE
                              ",p=" RFC7677_PROOF, NULL);
  cfin = decode_str (sasl, "response", NULL, client_final);
  g_assert_cmpstr (cfin->step, ==, "client-final");
  check_fields (cfin, "c.header", "p=tls-exporter,,",
                "c.binding", "01080f161d242b323940474e555c636a"
                             "71787f868d949ba2a9b0b7bec5ccd3da",
                "r", RFC7677_NONCE, "p", RFC7677_PROOF, NULL);
  g_assert_true (get_field (cfin, "c.binding")->binary);
  g_assert_cmpuint (get_field (cfin, "c.binding")->raw_len, ==, 32);
  assert_no_notes (cfin);
  {
    g_autofree char *line = xm_sasl_decode_format (cfin, FALSE, 0);
    g_assert_nonnull (strstr (line, " c.binding=01080f161d24"));
  }
}

static void
test_scram_channel_binding_notes (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) y = NULL, e = NULL, mismatch = NULL, fail = NULL;
  g_autoptr (XmSaslDecode) plus_n = NULL, unknown = NULL;

  y = decode_str (sasl, "auth", "SCRAM-SHA-1", "y,,n=user,r=abcdef");
  check_fields (y, "gs2-cbind-flag", "y", "n", "user", "r", "abcdef", NULL);
  assert_note (y, "the client supports channel binding but thinks the "
               "server does not");

  /* c= must repeat the client-first GS2 header (RFC 5802 §5.1): "biws" is
   * "n,,", not "y,,". */
  mismatch = decode_str (sasl, "response", NULL, "c=biws,r=abcdefXYZ,p=AAAA");
  assert_note (mismatch, "differs from the client-first GS2 header 'y,,'");

  e = decode_str (sasl, "challenge", NULL,
                  "e=server-does-support-channel-binding");
  g_assert_cmpstr (e->step, ==, "server-final");
  check_fields (e, "e", "server-does-support-channel-binding", NULL);
  g_assert_cmpuint (e->notes->len, ==, 1);
  assert_note (e, "the client said it saw no channel binding offered "
               "(GS2 flag 'y') while the server supports it, so the "
               "downgrade check tripped, typically because a middlebox "
               "removed the -PLUS mechanisms");

  fail = decode_xml (sasl, "<failure xmlns='" NS_SASL "'><not-authorized/>"
                     "</failure>", FALSE);
  check_fields (fail, "condition", "not-authorized", NULL);

  plus_n = decode_str (sasl, "auth", "SCRAM-SHA-1-PLUS", "n,,n=user,r=abc");
  assert_note (plus_n, "SCRAM-SHA-1-PLUS without channel binding");
  g_clear_pointer (&fail, xm_sasl_decode_free);
  fail = decode_xml (sasl, "<failure xmlns='" NS_SASL "'><not-authorized/>"
                     "</failure>", FALSE);
  assert_note (fail, "channel binding mismatch");

  unknown = decode_str (sasl, "auth", "SCRAM-SHA-1-PLUS",
                        "p=tls-server-end-point,a=juliet=40example.com,n=user,r=abc");
  check_fields (unknown, "gs2-cbind-flag", "p",
                "cb-name", "tls-server-end-point",
                "authzid", "juliet=40example.com", "n", "user", "r", "abc",
                NULL);
  assert_note (unknown, "tls-server-end-point (RFC 5929 §4)");
  assert_note (unknown, "authzid has a '=' that is not =2C or =3D");
}

static void
test_scram_malformed (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) trunc = NULL, bad = NULL, sf = NULL, pr = NULL;
  g_autoptr (XmSaslDecode) esc = NULL, ok = NULL;

  /* Truncated: no r= */
  trunc = decode_str (sasl, "auth", "SCRAM-SHA-1", "n,,n=user");
  g_assert_cmpstr (trunc->step, ==, "client-first");
  check_fields (trunc, "gs2-cbind-flag", "n", "n", "user", NULL);
  g_assert_cmpuint (trunc->notes->len, ==, 1);
  assert_note (trunc, "client-first message without r=");

  /* Bad attribute syntax keeps what parsed */
  bad = decode_str (sasl, "auth", "SCRAM-SHA-1", "n,,n=user,rnonce,r=abc");
  check_fields (bad, "gs2-cbind-flag", "n", "n", "user", "r", "abc", NULL);
  assert_note (bad, "malformed attribute 'rnonce'");

  /* No GS2 header at all */
  esc = decode_str (sasl, "auth", "SCRAM-SHA-1", "n=us=2Cer=3D,r=abc");
  check_fields (esc, "n", "us,er=", "r", "abc", NULL);
  assert_note (esc, "malformed GS2 header");

  /* Server nonce must extend the client's; low iteration count; salt */
  sf = decode_str (sasl, "challenge", NULL, "r=xyz,s=QSXCR+Q6sek8bf9,i=1000");
  check_fields (sf, "r", "xyz", "s", "QSXCR+Q6sek8bf9", "i", "1000", NULL);
  assert_note (sf, "r= does not start with the client's nonce");
  assert_note (sf, "s=: bad base64 padding");
  assert_note (sf, "i=1000: fewer iterations");

  /* Binding data with GS2 flag 'n'; the wrong amount of it for
   * tls-exporter. "biwsYWJj" is "n,,abc", "cD10bHMtZXhwb3J0ZXIsLGFiYw==" is
   * "p=tls-exporter,,abc". */
  {
    g_autoptr (XmSaslDecode) n = NULL, p = NULL, p_final = NULL;

    n = decode_str (sasl, "response", NULL, "c=biwsYWJj,r=xyz,p=AAAA");
    check_fields (n, "c.header", "n,,", "c.binding", "616263", "r", "xyz",
                  "p", "AAAA", NULL);
    assert_note (n, "c= carries binding data without GS2 flag 'p'");

    p = decode_str (sasl, "auth", "SCRAM-SHA-1-PLUS",
                    "p=tls-exporter,,n=user,r=abc");
    p_final = decode_str (sasl, "response", NULL,
                          "c=cD10bHMtZXhwb3J0ZXIsLGFiYw==,r=abc,p=AAAA");
    check_fields (p_final, "c.header", "p=tls-exporter,,",
                  "c.binding", "616263", "r", "abc", "p", "AAAA", NULL);
    assert_note (p_final, "tls-exporter binding data is 3 bytes");
  }

  /* The message tells its kind even when the exchange so far does not:
   * here the client-first message never came. */
  {
    g_autoptr (XmSaslDecode) a = NULL, f = NULL;

    a = decode_text (sasl, "auth", "SCRAM-SHA-1", "");
    f = decode_str (sasl, "response", NULL, RFC5802_CLIENT_FINAL);
    g_assert_cmpstr (f->step, ==, "client-final");
    check_fields (f, "c.header", "n,,", "r", RFC5802_NONCE,
                  "p", RFC5802_PROOF, NULL);
    assert_no_notes (f);
  }

  /* A proof of the wrong size for the hash (SHA-512 wants 64 bytes) */
  ok = decode_str (sasl, "auth", "SCRAM-SHA-512", "n,,n=user,r=abc");
  assert_no_notes (ok);
  pr = decode_str (sasl, "response", NULL,
                   "c=biws,r=abc,p=" RFC5802_PROOF);
  check_fields (pr, "c.header", "n,,", "r", "abc", "p", RFC5802_PROOF, NULL);
  assert_note (pr, "p= decodes to 20 bytes, SCRAM-SHA-512 wants 64");
}

static void
test_scram_success_without_final (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) cf = NULL, ok = NULL;

  cf = decode_str (sasl, "auth", "SCRAM-SHA3-512", "n,,n=user,r=abc");
  assert_no_notes (cf);
  ok = decode_text (sasl, "success", NULL, "");
  assert_note (ok, "success without a SCRAM server-final message");
}

/* ------------------------------------------------------------------------ */
/* PLAIN and token mechanisms                                                */
/* ------------------------------------------------------------------------ */

static void
test_plain_seeds (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) s1 = NULL, s2 = NULL, s3 = NULL, ok = NULL;

  /* seed 001: "\0mbed\0mirror" */
  s1 = decode_text (sasl, "auth", "PLAIN", "AG1iZWQAbWlycm9y");
  g_assert_cmpstr (s1->step, ==, "auth");
  check_fields (s1, "authzid", "", "authcid", "mbed", "password", "mirror",
                NULL);
  g_assert_true (get_field (s1, "password")->secret);
  g_assert_false (get_field (s1, "authcid")->secret);
  assert_no_notes (s1);
  assert_format (s1, FALSE, "SASL PLAIN auth: authzid='' authcid='mbed' "
                 "password=<redacted, 6 bytes>");
  assert_format (s1, TRUE, "SASL PLAIN auth: authzid='' authcid='mbed' "
                 "password='mirror'");
  assert_secret (s1, "mirror");

  /* seed 002: "\0" "123\0" "123456" */
  s2 = decode_text (sasl, "auth", "PLAIN", "ADEyMwAxMjM0NTY=");
  check_fields (s2, "authzid", "", "authcid", "123", "password", "123456",
                NULL);
  assert_no_notes (s2);
  assert_secret (s2, "123456");

  /* seed 003, pretty-printed as in the transcript */
  s3 = decode_text (sasl, "auth", "PLAIN",
                    "\n  AHlzb25nLmxlZUBnbWFpbC5jb20AeXNvbmdAMTk4NA==\n");
  check_fields (s3, "authzid", "", "authcid", "ysong.lee@gmail.com",
                "password", "ysong@1984", NULL);
  g_assert_cmpuint (s3->notes->len, ==, 1);
  assert_note (s3, "whitespace around the base64 data");
  assert_secret (s3, "ysong@1984");

  ok = decode_text (sasl, "success", NULL, "");
  g_assert_cmpstr (ok->mechanism, ==, "PLAIN");
  check_fields (ok, NULL);
  assert_no_notes (ok);
  assert_format (ok, FALSE, "SASL PLAIN success");
}

static void
test_plain_authzid (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  static const char msg[] = "admin@example.com\0juliet\0r0m30myr0m30";
  g_autoptr (XmSaslDecode) d = decode_bytes (sasl, "auth", "PLAIN", msg,
                                             sizeof msg - 1);

  check_fields (d, "authzid", "admin@example.com", "authcid", "juliet",
                "password", "r0m30myr0m30", NULL);
  assert_format (d, FALSE, "SASL PLAIN auth: authzid='admin@example.com' "
                 "authcid='juliet' password=<redacted, 12 bytes>");
}

static void
test_yandex_seed (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) d = NULL;

  /* seed 000 */
  d = decode_text (sasl, "auth", "X-YANDEX-OAUTH",
                   "dGVzdABjNDE4MWE3YzJjZjQ1MjE5NjRhNzJmZjU3YTM0YTA3");
  check_fields (d, "login", "test", "token",
                "c4181a7c2cf4521964a72ff57a34a07", NULL);
  g_assert_true (get_field (d, "token")->secret);
  assert_no_notes (d);
  assert_format (d, FALSE, "SASL X-YANDEX-OAUTH auth: login='test' "
                 "token=<redacted, 31 bytes>");
  assert_secret (d, "c4181a7c2cf4521964a72ff57a34a07");
}

static void
test_token_mechanisms (void)
{
  static const char google[] = "\0ysong.lee@gmail.com\0DQAAAHEAAAB";
  static const char oauth2[] = "juliet@example.com\0juliet\0ya29.a0AfH6";
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) g = NULL, o = NULL, ext = NULL, anon = NULL;
  g_autoptr (XmSaslDecode) ext_empty = NULL;

  g = decode_bytes (sasl, "auth", "X-GOOGLE-TOKEN", google, sizeof google - 1);
  check_fields (g, "authcid", "ysong.lee@gmail.com", "token", "DQAAAHEAAAB",
                NULL);
  assert_no_notes (g);
  assert_secret (g, "DQAAAHEAAAB");

  o = decode_bytes (sasl, "auth", "X-OAUTH2", oauth2, sizeof oauth2 - 1);
  check_fields (o, "authzid", "juliet@example.com", "authcid", "juliet",
                "token", "ya29.a0AfH6", NULL);
  assert_secret (o, "ya29.a0AfH6");

  ext = decode_str (sasl, "auth", "EXTERNAL", "juliet@example.com");
  check_fields (ext, "authzid", "juliet@example.com", NULL);
  assert_no_notes (ext);

  /* "=": present but empty (RFC 6120 §6.4.2) */
  ext_empty = decode_text (sasl, "auth", "EXTERNAL", "=");
  check_fields (ext_empty, "authzid", "", NULL);
  assert_no_notes (ext_empty);

  anon = decode_str (sasl, "auth", "ANONYMOUS", "sirhc@example.org");
  check_fields (anon, "trace", "sirhc@example.org", NULL);
  assert_no_notes (anon);
}

static void
test_oauthbearer (void)
{
  /* RFC 7628 §4.1 and §4.3 */
  static const char client[] =
    "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
    "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01";
  static const char error[] =
    "{\"status\":\"invalid_token\",\"scope\":\"example_scope\","
    "\"openid-configuration\":"
    "\"https://example.com/.well-known/openid-configuration\"}";
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) c = NULL, e = NULL, ack = NULL, bad = NULL;

  c = decode_str (sasl, "auth", "OAUTHBEARER", client);
  check_fields (c, "gs2-cbind-flag", "n", "authzid", "user@example.com",
                "host", "server.example.com", "port", "143",
                "auth-scheme", "Bearer",
                "token", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", NULL);
  g_assert_true (get_field (c, "token")->secret);
  assert_no_notes (c);
  assert_secret (c, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");

  e = decode_str (sasl, "challenge", NULL, error);
  check_fields (e, "error", error, NULL);
  g_assert_false (get_field (e, "error")->secret);
  assert_note (e, "the server rejected the token (status 'invalid_token')");

  ack = decode_str (sasl, "response", NULL, "\x01");
  check_fields (ack, NULL);
  assert_note (ack, "acknowledges the server's error");

  /* no final kvsep, no auth */
  bad = decode_str (sasl, "auth", "OAUTHBEARER", "n,,\x01host=a");
  check_fields (bad, "gs2-cbind-flag", "n", "host", "a", NULL);
  assert_note (bad, "does not end with 0x01 0x01");
  assert_note (bad, "no auth= pair");
}

/* ------------------------------------------------------------------------ */
/* DIGEST-MD5                                                                */
/* ------------------------------------------------------------------------ */

static void
test_digest_md5_rfc2831 (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) auth = NULL, ch = NULL, resp = NULL, rsp = NULL;

  auth = decode_text (sasl, "auth", "DIGEST-MD5", "");
  check_fields (auth, NULL);
  assert_no_notes (auth);

  ch = decode_str (sasl, "challenge", NULL,
                   "realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\","
                   "qop=\"auth\",algorithm=md5-sess,charset=utf-8");
  g_assert_cmpstr (ch->step, ==, "challenge");
  check_fields (ch, "realm", "elwood.innosoft.com", "nonce", "OA6MG9tEQGm2hh",
                "qop", "auth", "algorithm", "md5-sess", "charset", "utf-8",
                NULL);
  assert_no_notes (ch);

  resp = decode_str (sasl, "response", NULL,
                     "charset=utf-8,username=\"chris\","
                     "realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\","
                     "nc=00000001,cnonce=\"OA6MHXh6VqTrRk\","
                     "digest-uri=\"imap/elwood.innosoft.com\","
                     "response=d388dad90d4bbd760a152321f2143af7,qop=auth");
  check_fields (resp, "charset", "utf-8", "username", "chris",
                "realm", "elwood.innosoft.com", "nonce", "OA6MG9tEQGm2hh",
                "nc", "00000001", "cnonce", "OA6MHXh6VqTrRk",
                "digest-uri", "imap/elwood.innosoft.com",
                "response", "d388dad90d4bbd760a152321f2143af7",
                "qop", "auth", NULL);
  assert_no_notes (resp);
  for (guint i = 0; i < resp->fields->len; i++)
    g_assert_false (((XmSaslField *) resp->fields->pdata[i])->secret);
  {
    g_autofree char *line = xm_sasl_decode_format (resp, FALSE, 0);
    g_assert_null (strstr (line, "redacted"));
  }

  rsp = decode_str (sasl, "challenge", NULL,
                    "rspauth=ea40f60335c427b5527b84dbabcdfffd");
  check_fields (rsp, "rspauth", "ea40f60335c427b5527b84dbabcdfffd", NULL);
  assert_no_notes (rsp);
}

static void
test_digest_md5_seed004 (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) auth = NULL, ch = NULL, resp = NULL, rsp = NULL;
  g_autoptr (XmSaslDecode) empty = NULL, ok = NULL;

  auth = decode_xml (sasl, "<auth xmlns=\"" NS_SASL "\" "
                     "mechanism=\"DIGEST-MD5\"/>", TRUE);
  check_fields (auth, NULL);

  ch = decode_text (sasl, "challenge", NULL, "\n  "
                    "bm9uY2U9IjEzNjc0MzYyNDQiLHFvcD0iYXV0aCIsY2hhcnNldD11dGYt"
                    "OCxhbGdvcml0aG09bWQ1LXNlc3M=\n");
  g_assert_cmpstr (ch->mechanism, ==, "DIGEST-MD5");
  check_fields (ch, "nonce", "1367436244", "qop", "auth", "charset", "utf-8",
                "algorithm", "md5-sess", NULL);
  g_assert_cmpuint (ch->notes->len, ==, 1);
  assert_note (ch, "whitespace around");

  resp = decode_text (sasl, "response", NULL, "\n  "
                      "dXNlcm5hbWU9InVzZXIyIixub25jZT0iMTM2NzQzNjI0NCIsY25vbmNl"
                      "PSJDc1RZRy9na09od1BIOEtvT2pGR1ErN2JPTU9uclZ0TlVOVDZZUFFF"
                      "VlA4PSIsbmM9MDAwMDAwMDEsZGlnZXN0LXVyaT0ieG1wcC9sb2NhbGhv"
                      "c3QiLHFvcD1hdXRoLHJlc3BvbnNlPTg3ZmMyZjQwNTE2YmEwOWM0ZDVh"
                      "OThjNmQ2MzIwMjNkLGNoYXJzZXQ9dXRmLTg=");
  check_fields (resp, "username", "user2", "nonce", "1367436244",
                "cnonce", "CsTYG/gkOhwPH8KoOjFGQ+7bOMOnrVtNUNT6YPQEVP8=",
                "nc", "00000001", "digest-uri", "xmpp/localhost",
                "qop", "auth", "response", "87fc2f40516ba09c4d5a98c6d632023d",
                "charset", "utf-8", NULL);

  rsp = decode_text (sasl, "challenge", NULL, "\n  "
                     "cnNwYXV0aD01OGIzNGIwNGQ5NzcyMjdmZTIzMmMyNTgwYzcyMTc5MQ==\n");
  check_fields (rsp, "rspauth", "58b34b04d977227fe232c2580c721791", NULL);

  empty = decode_xml (sasl, "<response xmlns=\"" NS_SASL "\"/>", TRUE);
  check_fields (empty, NULL);
  assert_no_notes (empty);
  ok = decode_xml (sasl, "<success xmlns='" NS_SASL "'/>", FALSE);
  assert_no_notes (ok);
}

static void
test_digest_md5_seed002 (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) auth = NULL, ch = NULL;

  auth = decode_text (sasl, "auth", "DIGEST-MD5", "");
  /* seed 002: whitespace inside the base64, a trailing line feed */
  ch = decode_text (sasl, "challenge", NULL, "    \n"
                    "cmVhbG09InNvbWVyZWFsbSIsbm9uY2U9Ik9BNk1HOXRFUUdtMmhoIixxb3A9"
                    "ImF1dGgi    LGNoYXJzZXQ9dXRmLTgsYWxnb3JpdGhtPW1kNS1zZXNzCg==  \n ");
  check_fields (ch, "realm", "somerealm", "nonce", "OA6MG9tEQGm2hh",
                "qop", "auth", "charset", "utf-8", "algorithm", "md5-sess",
                NULL);
  g_assert_cmpuint (ch->notes->len, ==, 1);
  assert_note (ch, "whitespace inside the base64 data");
}

static void
test_digest_md5_malformed (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) auth = NULL, ch = NULL, resp = NULL;

  auth = decode_text (sasl, "auth", "DIGEST-MD5", "");
  ch = decode_str (sasl, "challenge", NULL,
                   "realm=\"a\\\"b\",realm=\"c\",nonce=\"n\",junk,"
                   "stale=true,algorithm=md5-sess,qop=\"auth");
  check_fields (ch, "realm", "a\"b", "realm", "c", "nonce", "n",
                "stale", "true", "algorithm", "md5-sess", "qop", "auth", NULL);
  assert_note (ch, "malformed pair 'junk'");
  assert_note (ch, "stale=true");
  assert_note (ch, "quoted value of qop is not closed");

  resp = decode_str (sasl, "response", NULL,
                     "username=\"u\",username=\"v\",qop=auth-conf x");
  assert_note (resp, "username appears more than once");
  assert_note (resp, "qop=auth-conf negotiates a SASL security layer");
  assert_note (resp, "'x' after the value of qop");
  assert_note (resp, "response without cnonce");
}

/* ------------------------------------------------------------------------ */
/* SASL2, failures, other elements                                           */
/* ------------------------------------------------------------------------ */

static void
test_sasl2 (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) a = NULL, ch = NULL, r = NULL, ok = NULL;
  g_autofree char *cf = g_base64_encode ((const guint8 *) RFC7677_CLIENT_FIRST,
                                         strlen (RFC7677_CLIENT_FIRST));
  g_autofree char *sf = g_base64_encode ((const guint8 *) RFC7677_SERVER_FIRST,
                                         strlen (RFC7677_SERVER_FIRST));
  g_autofree char *cfin = g_base64_encode ((const guint8 *) RFC7677_CLIENT_FINAL,
                                           strlen (RFC7677_CLIENT_FINAL));
  g_autofree char *sfin = g_base64_encode ((const guint8 *) RFC7677_SERVER_FINAL,
                                           strlen (RFC7677_SERVER_FINAL));
  g_autofree char *xml = NULL;

  xml = g_strconcat ("<authenticate xmlns='" NS_SASL2 "' "
                     "mechanism='SCRAM-SHA-256'><initial-response>", cf,
                     "</initial-response>"
                     "<user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'>"
                     "<software>AwesomeXMPP</software>"
                     "<device>Kiva&apos;s Phone</device></user-agent>"
                     "<bind xmlns='urn:xmpp:bind:0'/></authenticate>", NULL);
  a = decode_xml (sasl, xml, TRUE);
  g_assert_cmpstr (a->protocol, ==, "SASL2");
  g_assert_cmpstr (a->element, ==, "authenticate");
  g_assert_cmpstr (a->step, ==, "client-first");
  check_fields (a, "gs2-cbind-flag", "n", "n", "user",
                "r", "rOprNGfwEbeRWgbNEkqO",
                "user-agent", "d4565fa7-4d72-4749-b3d3-740edbf87770",
                "software", "AwesomeXMPP", "device", "Kiva's Phone",
                "inline", "bind", NULL);
  assert_no_notes (a);
  assert_format (a, FALSE, "SASL2 SCRAM-SHA-256 authenticate (client-first): "
                 "gs2-cbind-flag='n' n='user' r='rOprNGfwEbeRWgbNEkqO' "
                 "user-agent='d4565fa7-4d72-4749-b3d3-740edbf87770' "
                 "software='AwesomeXMPP' device='Kiva\\'s Phone' "
                 "inline='bind'");

  g_free (xml);
  xml = g_strconcat ("<challenge xmlns='" NS_SASL2 "'>", sf, "</challenge>",
                     NULL);
  ch = decode_xml (sasl, xml, FALSE);
  g_assert_cmpstr (ch->step, ==, "server-first");
  check_fields (ch, "r", RFC7677_NONCE, "s", "W22ZaJ0SNY7soEsUEjb6gQ==",
                "i", "4096", NULL);
  assert_no_notes (ch);

  g_free (xml);
  xml = g_strconcat ("<response xmlns='" NS_SASL2 "'>", cfin, "</response>",
                     NULL);
  r = decode_xml (sasl, xml, TRUE);
  g_assert_cmpstr (r->step, ==, "client-final");
  check_fields (r, "c.header", "n,,", "r", RFC7677_NONCE, "p", RFC7677_PROOF,
                NULL);
  assert_no_notes (r);

  g_free (xml);
  xml = g_strconcat ("<success xmlns='" NS_SASL2 "'><additional-data>", sfin,
                     "</additional-data><authorization-identifier>"
                     "user@example.org/balcony</authorization-identifier>"
                     "</success>", NULL);
  ok = decode_xml (sasl, xml, FALSE);
  g_assert_cmpstr (ok->element, ==, "success");
  g_assert_cmpstr (ok->step, ==, "server-final");
  check_fields (ok, "v", RFC7677_VERIFIER,
                "authorization-identifier", "user@example.org/balcony", NULL);
  assert_no_notes (ok);
  assert_format (ok, FALSE, "SASL2 SCRAM-SHA-256 success (server-final): "
                 "v='" RFC7677_VERIFIER "' "
                 "authorization-identifier='user@example.org/balcony'");
}

static void
test_sasl2_other (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) a = NULL, cont = NULL, fail = NULL, ok = NULL;
  g_autoptr (XmSaslDecode) next = NULL;

  a = decode_xml (sasl, "<authenticate xmlns='" NS_SASL2 "' mechanism='PLAIN'>"
                  "<initial-response>AGp1bGlldAByMG0zMG15cjBtMzA="
                  "</initial-response></authenticate>", TRUE);
  check_fields (a, "authzid", "", "authcid", "juliet", "password",
                "r0m30myr0m30", NULL);
  assert_secret (a, "r0m30myr0m30");

  cont = decode_xml (sasl, "<continue xmlns='" NS_SASL2 "'>"
                     "<additional-data>SSdtIGJlbGlldmluZyBpdA==</additional-data>"
                     "<tasks><task>HOTP-EXAMPLE</task><task>TOTP-EXAMPLE</task>"
                     "</tasks><text>This account requires 2FA</text></continue>",
                     FALSE);
  check_fields (cont, "data", "I'm believing it", "task", "HOTP-EXAMPLE",
                "task", "TOTP-EXAMPLE", "text", "This account requires 2FA",
                NULL);
  assert_no_notes (cont);

  next = decode_xml (sasl, "<next xmlns='" NS_SASL2 "' task='TOTP-EXAMPLE'/>",
                     TRUE);
  check_fields (next, "task", "TOTP-EXAMPLE", NULL);

  fail = decode_xml (sasl, "<failure xmlns='" NS_SASL2 "'>"
                     "<aborted xmlns='" NS_SASL "'/>"
                     "<optional-application-specific xmlns='urn:something:else'/>"
                     "<text>This is a terrible example.</text></failure>",
                     FALSE);
  check_fields (fail, "condition", "aborted",
                "application-condition", "optional-application-specific",
                "text", "This is a terrible example.", NULL);
  assert_note (fail, "aborted: the server confirms the client's <abort/>");

  ok = decode_xml (sasl, "<success xmlns='" NS_SASL2 "'>"
                   "<token xmlns='urn:xmpp:fast:0' expiry='2024-01-01T00:00:00Z'"
                   " token='WXZzciBwYmFjbmFoIGpuZmdsIG5mZmhlcg'/></success>",
                   FALSE);
  check_fields (ok, "fast-token", "WXZzciBwYmFjbmFoIGpuZmdsIG5mZmhlcg",
                "fast-expiry", "2024-01-01T00:00:00Z", NULL);
  assert_note (ok, "without <authorization-identifier/>");
  assert_secret (ok, "WXZzciBwYmFjbmFoIGpuZmdsIG5mZmhlcg");
}

static void
test_failure_and_abort (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) auth = NULL, fail = NULL, bare = NULL, ab = NULL;
  g_autoptr (XmSaslDecode) odd = NULL, wrong_side = NULL;

  auth = decode_text (sasl, "auth", "PLAIN", "AG1iZWQAbWlycm9y");
  fail = decode_xml (sasl, "<failure xmlns='" NS_SASL "'><not-authorized/>"
                     "<text xml:lang='en'>Wrong username or password</text>"
                     "</failure>", FALSE);
  g_assert_cmpstr (fail->step, ==, "failure");
  g_assert_cmpstr (fail->mechanism, ==, "PLAIN");
  check_fields (fail, "condition", "not-authorized",
                "text", "Wrong username or password", NULL);
  g_assert_cmpuint (fail->notes->len, ==, 1);
  assert_format (fail, FALSE, "SASL PLAIN failure: condition='not-authorized' "
                 "text='Wrong username or password' [note: not-authorized: "
                 "the credentials were rejected (wrong username or password) "
                 "(RFC 6120 §6.5.10)]");

  /* EXTERNAL has no username or password: a certificate was refused */
  {
    g_autoptr (XmSasl) ext = xm_sasl_new ();
    g_autoptr (XmSaslDecode) a = decode_text (ext, "auth", "EXTERNAL", "YS50ZXN0");
    g_autoptr (XmSaslDecode) f = decode_xml (ext, "<failure xmlns='" NS_SASL "'>"
                                             "<not-authorized/></failure>", FALSE);
    g_autofree char *line = xm_sasl_decode_format (f, FALSE, 0);

    g_assert_cmpstr (f->mechanism, ==, "EXTERNAL");
    assert_note (f, "did not accept the certificate presented during TLS");
    g_assert_null (strstr (line, "password"));
  }

  /* seed 001: no condition */
  bare = decode_xml (sasl, "<failure xmlns='" NS_SASL "'/>", FALSE);
  check_fields (bare, NULL);
  assert_note (bare, "no defined condition");

  ab = decode_xml (sasl, "<abort xmlns='" NS_SASL "'/>", TRUE);
  g_assert_cmpstr (ab->step, ==, "abort");
  check_fields (ab, NULL);
  assert_no_notes (ab);
  assert_format (ab, FALSE, "SASL PLAIN abort");

  odd = decode_xml (sasl, "<failure xmlns='" NS_SASL "'><bad-protocol/>"
                    "</failure>", FALSE);
  check_fields (odd, "condition", "bad-protocol", NULL);
  assert_note (odd, "is not one of RFC 6120 §6.5");

  wrong_side = decode_xml (sasl, "<success xmlns='" NS_SASL "'/>", TRUE);
  assert_note (wrong_side, "<success/> came from the client");

  /* XML 1.0 fifth edition names may hold format characters (U+200D here);
   * expat refuses them, but the decoder does not count on its parser. */
  {
    XmNode cond_el = { .type = XM_NODE_ELEMENT, .ns = NS_SASL,
                       .name = "a\xe2\x80\x8d" };
    XmNode fail_el = { .type = XM_NODE_ELEMENT, .ns = NS_SASL,
                       .name = "failure", .children = &cond_el,
                       .last_child = &cond_el };
    XmNode odd_el = { .type = XM_NODE_ELEMENT, .ns = NS_SASL,
                      .name = "x\xe2\x80\x8d" };
    g_autoptr (XmSaslDecode) name = xm_sasl_decode (sasl, &odd_el, TRUE);
    g_autoptr (XmSaslDecode) cond = xm_sasl_decode (sasl, &fail_el, FALSE);

    g_assert_cmpstr (name->element, ==, "x\\u200D");
    assert_note (name, "<x\\u200D/> is not an RFC 6120 §6.4 SASL element");
    assert_printable (name);
    check_fields (cond, "condition", "a\\u200D", NULL);
    assert_note (cond, "condition 'a\\u200D' is not one of");
    assert_printable (cond);
  }
}

static void
test_iq_auth (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) get = NULL, fields = NULL, set = NULL, ok = NULL;
  g_autoptr (XmSaslDecode) plain = NULL, err = NULL, bad = NULL;
  g_autoptr (XmSaslDecode) other = NULL;

  get = decode_xml (sasl, "<iq type='get' to='shakespeare.lit' id='auth1'>"
                    "<query xmlns='jabber:iq:auth'><username>bill</username>"
                    "</query></iq>", TRUE);
  g_assert_cmpstr (get->protocol, ==, "XEP-0078");
  g_assert_null (get->element);
  g_assert_cmpstr (get->step, ==, "iq-auth");
  check_fields (get, "type", "get", "username", "bill", NULL);

  fields = decode_xml (sasl, "<iq type='result' id='auth1'>"
                       "<query xmlns='jabber:iq:auth'><username/><password/>"
                       "<digest/><resource/></query></iq>", FALSE);
  check_fields (fields, "type", "result",
                "fields", "username password digest resource", NULL);

  /* XEP-0078 §3: SHA1 ("3EE948B0" + "Calli0pe") */
  set = decode_xml (sasl, "<iq type='set' id='auth2'>"
                    "<query xmlns='jabber:iq:auth'><username>bill</username>"
                    "<digest>48fc78be9ec8f86d8ce1c39c320c97c21d62334d</digest>"
                    "<resource>globe</resource></query></iq>", TRUE);
  check_fields (set, "type", "set", "username", "bill",
                "digest", "48fc78be9ec8f86d8ce1c39c320c97c21d62334d",
                "resource", "globe", NULL);
  g_assert_false (get_field (set, "digest")->secret);
  assert_no_notes (set);
  assert_format (set, FALSE, "XEP-0078 iq-auth: type='set' username='bill' "
                 "digest='48fc78be9ec8f86d8ce1c39c320c97c21d62334d' "
                 "resource='globe'");

  /* Unrelated results are not authentication */
  other = decode_xml (sasl, "<iq type='result' id='roster1'/>", FALSE);
  g_assert_null (other);
  ok = decode_xml (sasl, "<iq type='result' id='auth2'/>", FALSE);
  g_assert_nonnull (ok);
  check_fields (ok, "type", "result", NULL);
  assert_note (ok, "legacy authentication succeeded");
  /* answered: the same id again is no longer authentication */
  other = decode_xml (sasl, "<iq type='result' id='auth2'/>", FALSE);
  g_assert_null (other);

  plain = decode_xml (sasl, "<iq type='set' id='auth3'>"
                      "<query xmlns='jabber:iq:auth'><username>bill</username>"
                      "<password>Calli0pe</password><resource>globe</resource>"
                      "</query></iq>", TRUE);
  check_fields (plain, "type", "set", "username", "bill",
                "password", "Calli0pe", "resource", "globe", NULL);
  g_assert_true (get_field (plain, "password")->secret);
  assert_secret (plain, "Calli0pe");

  err = decode_xml (sasl, "<iq type='error' id='auth3'><error code='401' "
                    "type='auth'><not-authorized "
                    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
                    FALSE);
  check_fields (err, "type", "error", "condition", "not-authorized",
                "code", "401", NULL);
  assert_note (err, "legacy authentication failed");

  bad = decode_xml (sasl, "<iq type='set' id='auth4'>"
                    "<query xmlns='jabber:iq:auth'><username>bill</username>"
                    "<digest>48FC78BE</digest></query></iq>", TRUE);
  assert_note (bad, "digest is not 40 lowercase hex digits");
}

static void
test_not_sasl (void)
{
  static const char *const xml[] = {
    "<message to='romeo@example.net'><body>auth</body></message>",
    "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
    "<presence/>",
    "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    "<stream:features><mechanisms xmlns='" NS_SASL "'>"
    "<mechanism>PLAIN</mechanism></mechanisms></stream:features>",
    "<auth xmlns='http://jabber.org/features/iq-auth'/>",
  };
  g_autoptr (XmSasl) sasl = xm_sasl_new ();

  for (gsize i = 0; i < G_N_ELEMENTS (xml); i++)
    for (int dir = 0; dir < 2; dir++)
      {
        XmSaslDecode *d = decode_xml (sasl, xml[i], dir);
        g_assert_null (d);
      }
}

static void
test_is_plus (void)
{
  g_assert_true (xm_sasl_is_plus ("SCRAM-SHA-1-PLUS"));
  g_assert_true (xm_sasl_is_plus ("SCRAM-SHA-256-PLUS"));
  g_assert_false (xm_sasl_is_plus ("SCRAM-SHA-1"));
  g_assert_false (xm_sasl_is_plus ("PLAIN"));
  g_assert_false (xm_sasl_is_plus ("-PLUS"));
  g_assert_false (xm_sasl_is_plus (""));
  g_assert_false (xm_sasl_is_plus (NULL));
}

/* ------------------------------------------------------------------------ */
/* Broken input                                                              */
/* ------------------------------------------------------------------------ */

static void
test_base64_problems (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) badc = NULL, ws = NULL, pad = NULL, pad2 = NULL;
  g_autoptr (XmSaslDecode) one = NULL, after = NULL, bits = NULL;

  badc = decode_text (sasl, "auth", "PLAIN", "AG1iZWQA!bWlycm9y");
  assert_note (badc, "1 invalid base64 character, the first '!' at offset 8");
  check_fields (badc, "authzid", "", "authcid", "mbed", "password", "mirror",
                NULL);

  ws = decode_text (sasl, "auth", "PLAIN", "AG1iZWQA bWly\ncm9y");
  g_assert_cmpuint (ws->notes->len, ==, 1);
  assert_note (ws, "whitespace inside the base64 data (RFC 6120 §6.3.5");
  check_fields (ws, "authzid", "", "authcid", "mbed", "password", "mirror",
                NULL);

  /* "\0mbed\0mirro" needs one '=' */
  pad = decode_text (sasl, "auth", "PLAIN", "AG1iZWQAbWlycm8");
  assert_note (pad, "bad base64 padding: 15 characters with 0 '=' "
               "(RFC 4648 §4 wants 1)");
  check_fields (pad, "authzid", "", "authcid", "mbed", "password", "mirro",
                NULL);
  pad2 = decode_text (sasl, "auth", "PLAIN", "AG1iZWQAbWlycm9y==");
  assert_note (pad2, "bad base64 padding");

  one = decode_text (sasl, "auth", "PLAIN", "AG1iZWQAbWlycm9yQ");
  assert_note (one, "encodes no whole byte");
  after = decode_text (sasl, "auth", "PLAIN", "AG1i=ZWQAbWlycm9y");
  assert_note (after, "base64 data after '=' padding");
  bits = decode_text (sasl, "auth", "EXTERNAL", "QR==");
  check_fields (bits, "authzid", "A", NULL);
  assert_note (bits, "padding bits are not zero");
}

static void
test_plain_malformed (void)
{
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) nonul = NULL, empty = NULL, none = NULL;
  g_autoptr (XmSaslDecode) ws = NULL, extra = NULL;
  static const char three[] = "\0user\0pass\0word";

  nonul = decode_str (sasl, "auth", "PLAIN", "hunter2hunter2");
  check_fields (nonul, "data", "hunter2hunter2", NULL);
  g_assert_true (get_field (nonul, "data")->secret);
  assert_note (nonul, "without its two NUL separators");
  assert_secret (nonul, "hunter2hunter2");

  /* "=": an empty initial response (RFC 6120 §6.4.2) */
  empty = decode_text (sasl, "auth", "PLAIN", "=");
  check_fields (empty, "data", "", NULL);
  assert_note (empty, "without its two NUL separators");
  assert_format (empty, FALSE, "SASL PLAIN auth: data=<redacted, 0 bytes> "
                 "[note: PLAIN message without its two NUL separators (RFC "
                 "4616 §2: [authzid] NUL authcid NUL password); shown whole, "
                 "as a secret]");

  /* no initial response at all */
  none = decode_xml (sasl, "<auth xmlns='" NS_SASL "' mechanism='PLAIN'/>",
                     TRUE);
  check_fields (none, NULL);
  assert_no_notes (none);
  ws = decode_text (sasl, "auth", "PLAIN", " \n ");
  check_fields (ws, NULL);
  assert_note (ws, "only whitespace");

  extra = decode_bytes (sasl, "auth", "PLAIN", three, sizeof three - 1);
  check_fields (extra, "authzid", "", "authcid", "user",
                "password", "pass\\x00word", NULL);
  g_assert_cmpuint (get_field (extra, "password")->raw_len, ==, 9);
  assert_note (extra, "more than two NULs");
}

static void
test_escaping (void)
{
  static const char msg[] = "\0a'b\\c\nd\x01\xff\xe2\x80\xae\xe2\x80\xa8"
                            "\xc3\xa9\0pw";
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) d = decode_bytes (sasl, "auth", "PLAIN", msg,
                                             sizeof msg - 1);
  g_autoptr (XmSaslDecode) m = NULL;

  check_fields (d, "authzid", "",
                "authcid", "a'b\\\\c\\nd\\x01\\xff\\u202E\\u2028\xc3\xa9",
                "password", "pw", NULL);
  assert_format (d, TRUE, "SASL PLAIN auth: authzid='' "
                 "authcid='a\\'b\\\\c\\nd\\x01\\xff\\u202E\\u2028\xc3\xa9' "
                 "password='pw'");
  assert_printable (d);

  /* A hostile mechanism name cannot break the line either. */
  m = decode_xml (sasl, "<auth xmlns='" NS_SASL "' "
                  "mechanism='X&#10;&#x202E;Y'>QUJD</auth>", TRUE);
  assert_printable (m);
  assert_secret (m, "ABC");
}

static void
test_unknown_mechanism (void)
{
  static const guint8 bin[] = { 0x00, 0x01, 0xfe, 0xff };
  g_autoptr (XmSasl) sasl = xm_sasl_new ();
  g_autoptr (XmSaslDecode) c = NULL, s = NULL;

  c = decode_str (sasl, "auth", "X-FOO", "some credential");
  g_assert_cmpstr (c->mechanism, ==, "X-FOO");
  check_fields (c, "data", "some credential", NULL);
  g_assert_true (get_field (c, "data")->secret);
  assert_secret (c, "some credential");

  s = decode_bytes (sasl, "challenge", NULL, bin, sizeof bin);
  check_fields (s, "data", "0001feff", NULL);
  g_assert_true (get_field (s, "data")->binary);
  g_assert_false (get_field (s, "data")->secret);
  g_assert_cmpuint (get_field (s, "data")->raw_len, ==, 4);
  assert_format (s, FALSE, "SASL X-FOO challenge: data=0001feff");
}

/* 1 MiB of base64 in one element: decoded in linear time, no crash. */
static void
test_large_payload (void)
{
  static const char *const mechs[] = {
    "PLAIN", "SCRAM-SHA-1", "DIGEST-MD5", "OAUTHBEARER", "X-FOO",
  };
  gsize n = 1024 * 1024 / 4 * 3 - 8;
  g_autofree guint8 *raw = g_malloc (n);
  g_autofree char *b64 = NULL;
  gint64 start = g_get_monotonic_time ();

  raw[0] = 0;
  memcpy (raw + 1, "user", 4);
  raw[5] = 0;
  for (gsize i = 6; i < n; i++)
    raw[i] = (guint8) ('a' + i % 26);
  b64 = g_base64_encode (raw, n);
  g_assert_cmpuint (strlen (b64), >=, 1024 * 1024 - 16);

  for (gsize m = 0; m < G_N_ELEMENTS (mechs); m++)
    {
      g_autoptr (XmSasl) sasl = xm_sasl_new ();
      g_autoptr (XmSaslDecode) d = decode_text (sasl, "auth", mechs[m], b64);
      g_autofree char *line = xm_sasl_decode_format (d, FALSE, 0);

      g_assert_nonnull (line);
      if (m == 0)
        {
          g_autofree char *want =
            g_strdup_printf ("password=<redacted, %" G_GSIZE_FORMAT " bytes>",
                             n - 6);
          assert_no_notes (d);
          g_assert_nonnull (strstr (line, want));
          g_assert_cmpuint (get_field (d, "password")->raw_len, ==, n - 6);
        }
    }
  g_assert_cmpint (g_get_monotonic_time () - start, <, 20 * G_USEC_PER_SEC);
}

/* Every mechanism, every element, junk and near-misses: decodes never fail
 * and always print on one line. */
static void
test_random_payloads (void)
{
  static const char *const mechs[] = {
    "PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512", "SCRAM-SHA3-512",
    "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512-PLUS",
    "SCRAM-SHA3-512-PLUS", "DIGEST-MD5", "EXTERNAL", "ANONYMOUS", "X-OAUTH2",
    "X-GOOGLE-TOKEN", "X-YANDEX-OAUTH", "OAUTHBEARER", "X-UNKNOWN", NULL,
  };
  static const char *const elements[] = { "challenge", "response", "success" };
  static const char *const fixed[] = {
    "", "\x01", "\x01\x01", "n", "y", "p", "p=", "p=,", "n,", "n,,", "y,a=",
    "p=tls-exporter,a=,", "n,,n=,r=", "c=", "c=====", "c=cD0sLA==,r=,p=",
    "r=,s=,i=", "r=a,s=!!,i=-1", "i=99999999999999999999", "v=", "e=", "e=x",
    "m=x,r=y", "=", "==", ",,,", "a=b=c", "\"", "k=\"", "k=\"\\", "k=\\\"",
    "realm=,realm=", "rspauth=", "=,=,=", "n,a=\x01,\x01auth=Bearer \x01\x01",
    "n,,\x01auth=\x01", "n,,\x01\x01junk", "{\"status\":", "{\"status\" :\"",
    "\0", "\0\0", "\0\0\0", "a\0b", "\xff\xfe", "\xe2\x80", "=2", "n=a=2",
  };
  g_autoptr (GRand) rand = g_rand_new_with_seed (0x5a51);
  g_autoptr (GPtrArray) inputs = g_ptr_array_new_with_free_func (
    (GDestroyNotify) g_bytes_unref);

  for (gsize i = 0; i < G_N_ELEMENTS (fixed); i++)
    g_ptr_array_add (inputs, g_bytes_new_static (fixed[i], strlen (fixed[i])));
  g_ptr_array_add (inputs, g_bytes_new_static ("\0", 1));
  g_ptr_array_add (inputs, g_bytes_new_static ("a\0b\0", 4));
  for (int i = 0; i < 24; i++)
    {
      gsize len = (gsize) g_rand_int_range (rand, 1, 300);
      guint8 *buf = g_malloc (len);
      /* half of them from a SASL-ish alphabet, to reach deeper paths */
      static const char alpha[] = "nyprsicvea=,\x01\"\\\0 tls-exporterBX";

      for (gsize k = 0; k < len; k++)
        buf[k] = i % 2 ? (guint8) g_rand_int_range (rand, 0, 256)
                       : (guint8) alpha[g_rand_int_range (rand, 0, sizeof alpha - 1)];
      g_ptr_array_add (inputs, g_bytes_new_take (buf, len));
    }

  for (gsize m = 0; m < G_N_ELEMENTS (mechs); m++)
    for (guint i = 0; i < inputs->len; i++)
      {
        g_autoptr (XmSasl) sasl = xm_sasl_new ();
        gsize len;
        const guint8 *data = g_bytes_get_data (inputs->pdata[i], &len);
        g_autoptr (XmSaslDecode) a = NULL;

        a = decode_bytes (sasl, "auth", mechs[m], data, len);
        g_assert_nonnull (a);
        assert_printable (a);
        for (gsize e = 0; e < G_N_ELEMENTS (elements); e++)
          for (int round = 0; round < 2; round++)
            {
              g_autoptr (XmSaslDecode) d =
                decode_bytes (sasl, elements[e], NULL, data, len);
              g_assert_nonnull (d);
              g_assert_cmpstr (d->mechanism, ==, mechs[m]);
              assert_printable (d);
            }
      }
}

static void
add_field (XmSaslDecode *d, const char *name, const char *value, gboolean binary)
{
  XmSaslField *f = g_new0 (XmSaslField, 1);

  f->name = g_strdup (name);
  f->value = g_strdup (value);
  f->raw_len = binary ? strlen (value) / 2 : strlen (value);
  f->binary = binary;
  g_ptr_array_add (d->fields, f);
}

/* --max-text: long values are cut at a character, an escape sequence or a
 * hex byte, never inside one, and say how much is left out. */
static void
test_format_max_value (void)
{
  static const struct {
    gsize max;
    const char *want;
  } cases[] = {
    { 0, "SASL X: t='abcd\xc3\xa9\\x00yz' h=00112233" },
    { 64, "SASL X: t='abcd\xc3\xa9\\x00yz' h=00112233" },
    { 12, "SASL X: t='abcd\xc3\xa9\\x00yz' h=00112233" },
    { 11, "SASL X: t='abcd\xc3\xa9\\x00y'\xe2\x80\xa6[+1 bytes, --full-text shows all] "
          "h=00112233" },
    { 9, "SASL X: t='abcd\xc3\xa9'\xe2\x80\xa6[+6 bytes, --full-text shows all] "
         "h=00112233" },
    { 5, "SASL X: t='abcd'\xe2\x80\xa6[+8 bytes, --full-text shows all] "
         "h=0011\xe2\x80\xa6[+2 bytes, --full-text shows all]" },
    { 1, "SASL X: t='a'\xe2\x80\xa6[+11 bytes, --full-text shows all] "
         "h=\xe2\x80\xa6[+4 bytes, --full-text shows all]" },
  };
  g_autoptr (XmSaslDecode) d = xm_sasl_decode_new ("SASL");

  d->mechanism = g_strdup ("X");
  /* as the decoder stores them: escaped text, and hex */
  add_field (d, "t", "abcd\xc3\xa9\\x00yz", FALSE);
  add_field (d, "h", "00112233", TRUE);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *line = xm_sasl_decode_format (d, TRUE, cases[i].max);
      g_assert_cmpstr (line, ==, cases[i].want);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sasl/scram/sha-1-rfc5802", test_scram_sha1_rfc5802);
  g_test_add_func ("/sasl/scram/sha-256-rfc7677", test_scram_sha256_rfc7677);
  g_test_add_func ("/sasl/scram/plus", test_scram_plus);
  g_test_add_func ("/sasl/scram/channel-binding-notes",
                   test_scram_channel_binding_notes);
  g_test_add_func ("/sasl/scram/malformed", test_scram_malformed);
  g_test_add_func ("/sasl/scram/success-without-final",
                   test_scram_success_without_final);
  g_test_add_func ("/sasl/plain/seeds", test_plain_seeds);
  g_test_add_func ("/sasl/plain/authzid", test_plain_authzid);
  g_test_add_func ("/sasl/plain/malformed", test_plain_malformed);
  g_test_add_func ("/sasl/x-yandex-oauth/seed-000", test_yandex_seed);
  g_test_add_func ("/sasl/token-mechanisms", test_token_mechanisms);
  g_test_add_func ("/sasl/oauthbearer", test_oauthbearer);
  g_test_add_func ("/sasl/digest-md5/rfc2831", test_digest_md5_rfc2831);
  g_test_add_func ("/sasl/digest-md5/seed-004", test_digest_md5_seed004);
  g_test_add_func ("/sasl/digest-md5/seed-002", test_digest_md5_seed002);
  g_test_add_func ("/sasl/digest-md5/malformed", test_digest_md5_malformed);
  g_test_add_func ("/sasl/sasl2/scram", test_sasl2);
  g_test_add_func ("/sasl/sasl2/other", test_sasl2_other);
  g_test_add_func ("/sasl/failure-and-abort", test_failure_and_abort);
  g_test_add_func ("/sasl/iq-auth", test_iq_auth);
  g_test_add_func ("/sasl/not-sasl", test_not_sasl);
  g_test_add_func ("/sasl/is-plus", test_is_plus);
  g_test_add_func ("/sasl/base64-problems", test_base64_problems);
  g_test_add_func ("/sasl/escaping", test_escaping);
  g_test_add_func ("/sasl/unknown-mechanism", test_unknown_mechanism);
  g_test_add_func ("/sasl/large-payload", test_large_payload);
  g_test_add_func ("/sasl/random-payloads", test_random_payloads);
  g_test_add_func ("/sasl/format/max-value", test_format_max_value);
  return g_test_run ();
}
