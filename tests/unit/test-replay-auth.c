/* Unit tests: SASL client computations replay redoes (RFC test vectors). */
#include "config.h"

#include <string.h>

#include "auth.h"

/* RFC 5802 §5: user "user", password "pencil". */
static void
test_scram_sha1_rfc5802 (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (XmScram) s = xm_scram_new ("SCRAM-SHA-1", NULL, "user", "pencil",
                                        "fyko+d2lbbFgONRv9qkxdawL", &error);
  const char *server_first = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                             "s=QSXCR+Q6sek8bf92,i=4096";
  g_autofree char *final = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (xm_scram_client_first (s), ==, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
  final = xm_scram_client_final (s, server_first, strlen (server_first), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (final, ==, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                              "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
  g_assert_true (xm_scram_verify (s, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", 30, &error));
  g_assert_no_error (error);
  g_assert_false (xm_scram_verify (s, "v=smF9pqV8S7suAoZWja4dJRkFsKQ=", 30, &error));
  g_assert_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_SERVER);
}

/* RFC 7677 §3. */
static void
test_scram_sha256_rfc7677 (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (XmScram) s = xm_scram_new ("SCRAM-SHA-256", NULL, "user", "pencil",
                                        "rOprNGfwEbeRWgbNEkqO", &error);
  const char *server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                             "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
  const char *server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
  g_autofree char *final = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (xm_scram_client_first (s), ==, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  final = xm_scram_client_final (s, server_first, strlen (server_first), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (final, ==, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                              "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  g_assert_true (xm_scram_verify (s, server_final, strlen (server_final), &error));
  g_assert_no_error (error);
}

/* The server's side of the same RFC 5802 and RFC 7677 exchanges. */
static void
test_scram_server (void)
{
  static const struct {
    const char *mech, *salt64, *snonce, *first, *server_first, *final, *v;
  } v[] = {
    { "SCRAM-SHA-1", "QSXCR+Q6sek8bf92", "3rfcNHYJY1ZVvWVs7j",
      "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
      "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
      "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
      "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=" },
    { "SCRAM-SHA-256", "W22ZaJ0SNY7soEsUEjb6gQ==", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
      "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
      "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (v); i++)
    {
      g_autoptr (GError) error = NULL;
      gsize salt_len;
      g_autofree guchar *salt = g_base64_decode (v[i].salt64, &salt_len);
      g_autoptr (XmScramServer) s = xm_scram_server_new (v[i].mech, salt, salt_len, 4096,
                                                         v[i].snonce, &error);
      g_autoptr (XmScramServer) s2 = xm_scram_server_new (v[i].mech, salt, salt_len, 4096,
                                                          v[i].snonce, &error);
      g_autofree char *user = xm_scram_server_read_first (s, v[i].first, strlen (v[i].first), &error);
      g_autofree char *user2 = xm_scram_server_read_first (s2, v[i].first, strlen (v[i].first), &error);
      g_autofree char *first = xm_scram_server_first (s, "pencil");
      g_autofree char *first2 = xm_scram_server_first (s2, "pencil2");
      g_autofree char *final = xm_scram_server_final (s, v[i].final, strlen (v[i].final), &error);
      g_autofree char *bad = NULL;

      g_assert_no_error (error);
      g_assert_cmpstr (user, ==, "user");
      g_assert_cmpstr (first, ==, v[i].server_first);
      g_assert_cmpstr (final, ==, v[i].v);
      /* Another password: the proof does not verify. */
      bad = xm_scram_server_final (s2, v[i].final, strlen (v[i].final), &error);
      g_assert_null (bad);
      g_assert_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_SERVER);
    }
  {
    /* Escaped names, channel binding refused. */
    g_autoptr (GError) error = NULL;
    g_autoptr (XmScramServer) s = xm_scram_server_new ("SCRAM-SHA-1", (const guint8 *) "salt",
                                                       4, 4096, NULL, &error);
    g_autofree char *user = xm_scram_server_read_first (s, "n,,n=a=2Cb=3Dc,r=x", 18, &error);
    g_autoptr (XmScramServer) p = xm_scram_server_new ("SCRAM-SHA-1", (const guint8 *) "salt",
                                                       4, 4096, NULL, NULL);
    g_autofree char *none = NULL;

    g_assert_no_error (error);
    g_assert_cmpstr (user, ==, "a,b=c");
    none = xm_scram_server_read_first (p, "p=tls-unique,,n=u,r=x", 21, &error);
    g_assert_null (none);
    g_assert_nonnull (strstr (error->message, "channel binding"));
  }
}

static void
test_scram_checks (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (XmScram) s = xm_scram_new ("scram-sha-1", "admin@x", "us,er=", "pw",
                                        "abc", &error);
  const char *bad[][2] = {
    { "r=xyz123,s=QSXCR+Q6sek8bf92,i=4096", "does not extend" },
    { "r=abc,s=QSXCR+Q6sek8bf92,i=4096", "does not extend" },
    { "r=abcdef,s=QSXCR+Q6sek8bf92", "lacks i=" },
    { "r=abcdef,s=QSXCR+Q6sek8bf92,i=0", "iteration count" },
    { "r=abcdef,s=QSXCR+Q6sek8bf92,i=4x", "iteration count" },
    { "e=unknown-user", "e=unknown-user" },
  };

  g_assert_no_error (error);
  /* RFC 5802 §5.1: saslnames escape ',' and '='; a= names the authzid. */
  g_assert_cmpstr (xm_scram_client_first (s), ==, "n,a=admin@x,n=us=2Cer=3D,r=abc");
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) e = NULL;
      g_autofree char *f = xm_scram_client_final (s, bad[i][0], strlen (bad[i][0]), &e);
      g_assert_null (f);
      g_assert_nonnull (e);
      if (strstr (e->message, bad[i][1]) == NULL)
        g_error ("%s: '%s' lacks '%s'", bad[i][0], e->message, bad[i][1]);
    }
  /* No signature known yet: nothing verifies. */
  g_assert_false (xm_scram_verify (s, "v=AAAA", 6, &error));
  g_clear_error (&error);
  g_assert_null (xm_scram_new ("SCRAM-SHA-1-PLUS", NULL, "u", "p", NULL, &error));
  g_assert_error (error, XM_AUTH_ERROR, XM_AUTH_ERROR_UNSUPPORTED);
}

static void
test_scram_random_nonce (void)
{
  g_autoptr (XmScram) a = xm_scram_new ("SCRAM-SHA-512", NULL, "u", "p", NULL, NULL);
  g_autoptr (XmScram) b = xm_scram_new ("SCRAM-SHA-512", NULL, "u", "p", NULL, NULL);

  g_assert_true (g_str_has_prefix (xm_scram_client_first (a), "n,,n=u,r="));
  g_assert_cmpuint (strlen (xm_scram_client_first (a)), >=, strlen ("n,,n=u,r=") + 24);
  g_assert_null (strchr (xm_scram_client_first (a) + 9, ','));
  g_assert_cmpstr (xm_scram_client_first (a), !=, xm_scram_client_first (b));
}

/* RFC 2831 §4, example 1 (the response and rspauth values check out with
 * the algorithm of §2.1.2.1). */
static void
test_digest_md5_rfc2831 (void)
{
  const char *challenge = "realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\","
                          "qop=\"auth\",algorithm=md5-sess,charset=utf-8";
  g_autoptr (GError) error = NULL;
  g_autofree char *rspauth = NULL, *got = NULL;
  g_autofree char *r = xm_digest_md5_response (challenge, strlen (challenge), NULL,
                                               "chris", "secret", "imap",
                                               "elwood.innosoft.com", "OA6MHXh6VqTrRk",
                                               &rspauth, &error);
  const char *second = "rspauth=ea40f60335c427b5527b84dbabcdfffd";

  g_assert_no_error (error);
  g_assert_cmpstr (r, ==, "username=\"chris\",realm=\"elwood.innosoft.com\","
                          "nonce=\"OA6MG9tEQGm2hh\",cnonce=\"OA6MHXh6VqTrRk\",nc=00000001,"
                          "qop=auth,digest-uri=\"imap/elwood.innosoft.com\","
                          "response=d388dad90d4bbd760a152321f2143af7,charset=utf-8");
  g_assert_cmpstr (rspauth, ==, "ea40f60335c427b5527b84dbabcdfffd");
  got = xm_digest_md5_rspauth (second, strlen (second));
  g_assert_cmpstr (got, ==, rspauth);
}

static void
test_digest_md5_checks (void)
{
  static const char *const bad[][2] = {
    { "realm=\"x\",qop=\"auth\",algorithm=md5-sess", "no nonce" },
    { "nonce=\"n\",qop=\"auth\"", "algorithm=md5-sess" },
    { "nonce=\"n\",qop=\"auth-int,auth-conf\",algorithm=md5-sess", "lacks 'auth'" },
  };
  const char *quoted = "nonce=\"a\\\"b\", realm=\"r1\",realm=\"r2\",algorithm=md5-sess";
  g_autoptr (GError) error = NULL;
  g_autofree char *r = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) e = NULL;
      g_autofree char *out = xm_digest_md5_response (bad[i][0], strlen (bad[i][0]), NULL,
                                                     "u", "p", "xmpp", "x", "c", NULL, &e);
      g_assert_null (out);
      if (strstr (e->message, bad[i][1]) == NULL)
        g_error ("%s: '%s' lacks '%s'", bad[i][0], e->message, bad[i][1]);
    }
  /* Quoted-pair unescaping, the first realm, no qop means auth, authzid. */
  r = xm_digest_md5_response (quoted, strlen (quoted), "boss@x", "u", "p", "xmpp",
                              "x", "c", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (r, "username=\"u\",realm=\"r1\",nonce=\"a\\\"b\","
                                      "cnonce=\"c\",nc=00000001,qop=auth,"
                                      "digest-uri=\"xmpp/x\",response="));
  g_assert_true (g_str_has_suffix (r, ",authzid=\"boss@x\""));
}

/* The server's side checks the RFC 2831 §4 response and answers with its
 * rspauth; another password, another nonce, a bad digest-uri fail. */
static void
test_digest_md5_server (void)
{
  const char *response = "username=\"chris\",realm=\"elwood.innosoft.com\","
                         "nonce=\"OA6MG9tEQGm2hh\",cnonce=\"OA6MHXh6VqTrRk\",nc=00000001,"
                         "qop=auth,digest-uri=\"imap/elwood.innosoft.com\","
                         "response=d388dad90d4bbd760a152321f2143af7,charset=utf-8";
  g_autoptr (GError) error = NULL;
  g_autofree char *ok = NULL, *user = NULL, *challenge = NULL, *nonce = NULL;
  g_autofree char *answer = NULL, *rspauth = NULL, *back = NULL;

  ok = xm_digest_md5_server_check (response, strlen (response), "OA6MG9tEQGm2hh",
                                   "secret", "imap", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ok, ==, "rspauth=ea40f60335c427b5527b84dbabcdfffd");
  user = xm_digest_md5_response_user (response, strlen (response));
  g_assert_cmpstr (user, ==, "chris");
  {
    static const char *const bad[][4] = {
      { "OA6MG9tEQGm2hh", "not-secret", "imap", "another password" },
      { "other-nonce", "secret", "imap", "another nonce" },
      { "OA6MG9tEQGm2hh", "secret", "xmpp", "is not for xmpp" },
    };
    for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        g_autoptr (GError) e = NULL;
        g_autofree char *no = xm_digest_md5_server_check (response, strlen (response),
                                                          bad[i][0], bad[i][1],
                                                          bad[i][2], &e);
        g_assert_null (no);
        if (strstr (e->message, bad[i][3]) == NULL)
          g_error ("'%s' lacks '%s'", e->message, bad[i][3]);
      }
  }
  /* Both sides of this file: a challenge, the client's answer, checked. */
  challenge = xm_digest_md5_challenge ("localhost", NULL, &nonce);
  g_assert_true (strstr (challenge, nonce) != NULL);
  g_assert_true (strstr (challenge, "algorithm=md5-sess") != NULL);
  answer = xm_digest_md5_response (challenge, strlen (challenge), NULL, "alice", "pw",
                                   "xmpp", "localhost", NULL, &rspauth, &error);
  g_assert_no_error (error);
  back = xm_digest_md5_server_check (answer, strlen (answer), nonce, "pw", "xmpp", &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (back, "rspauth="));
  g_assert_cmpstr (back + strlen ("rspauth="), ==, rspauth);
}

/* XEP-0078 §3 example: stream id 3EE948B0, password Calli0pe. */
static void
test_legacy_digest (void)
{
  g_autofree char *d = xm_auth_legacy_digest ("3EE948B0", "Calli0pe");

  g_assert_cmpstr (d, ==, "48fc78be9ec8f86d8ce1c39c320c97c21d62334d");
}

static void
test_plain (void)
{
  g_autoptr (GBytes) a = xm_auth_plain (NULL, "juliet", "r0m30");
  g_autoptr (GBytes) b = xm_auth_plain ("admin", "juliet", "r0m30");
  gsize n;
  const char *d = g_bytes_get_data (a, &n);

  g_assert_cmpmem (d, n, "\0juliet\0r0m30", 13);
  d = g_bytes_get_data (b, &n);
  g_assert_cmpmem (d, n, "admin\0juliet\0r0m30", 18);
  g_assert_true (xm_auth_can_compute ("PLAIN"));
  g_assert_true (xm_auth_can_compute ("scram-sha-256"));
  g_assert_true (xm_auth_can_compute ("DIGEST-MD5"));
  g_assert_false (xm_auth_can_compute ("X-OAUTH2"));
  g_assert_false (xm_auth_can_compute ("SCRAM-SHA-256-PLUS"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/replay-auth/scram-sha-1-rfc5802", test_scram_sha1_rfc5802);
  g_test_add_func ("/replay-auth/scram-sha-256-rfc7677", test_scram_sha256_rfc7677);
  g_test_add_func ("/replay-auth/scram-server", test_scram_server);
  g_test_add_func ("/replay-auth/scram-checks", test_scram_checks);
  g_test_add_func ("/replay-auth/scram-random-nonce", test_scram_random_nonce);
  g_test_add_func ("/replay-auth/digest-md5-rfc2831", test_digest_md5_rfc2831);
  g_test_add_func ("/replay-auth/digest-md5-checks", test_digest_md5_checks);
  g_test_add_func ("/replay-auth/digest-md5-server", test_digest_md5_server);
  g_test_add_func ("/replay-auth/legacy-digest", test_legacy_digest);
  g_test_add_func ("/replay-auth/plain", test_plain);
  return g_test_run ();
}
