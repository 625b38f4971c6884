/* test-srv.c: where a client connects for a domain (srv.h): the order of
 * SRV targets (RFC 2782 priority, weighted random within one), the merge
 * of direct-TLS and STARTTLS records (XEP-0368), the fall-back to the
 * domain on 5222 only when no record exists (RFC 6120 §3.2.1), the "."
 * target; and --upstream/--server's DOMAIN form (net.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <gio/gio.h>

#include "net.h"
#include "srv.h"

/* A resolver's SRV answer: (priority, weight, port, target) tuples. */
static GList *
records (const char *spec)
{
  g_auto (GStrv) items = g_strsplit (spec, " ", -1);
  GList *out = NULL;

  for (char **i = items; *i; i++)
    {
      /* PRIORITY/WEIGHT/TARGET:PORT; the target may be "." or empty */
      g_auto (GStrv) f = g_strsplit (*i, "/", 3);
      const char *colon = strrchr (f[2], ':');
      g_autofree char *target = g_strndup (f[2], colon - f[2]);

      out = g_list_append (out, g_variant_ref_sink (
        g_variant_new ("(qqqs)", (guint16) atoi (f[0]), (guint16) atoi (f[1]),
                       (guint16) atoi (colon + 1), target)));
    }
  return out;
}

static void
free_records (GList *l)
{
  g_list_free_full (l, (GDestroyNotify) g_variant_unref);
}

static XmSrvAnswer
answer (GList *recs, const GError *error)
{
  XmSrvAnswer a;

  xm_srv_answer_from (&a, recs, error);
  return a;
}

/* "host:port/d|s" for each target, in order. */
static char *
describe (GPtrArray *targets)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < targets->len; i++)
    {
      XmSrvTarget *t = g_ptr_array_index (targets, i);
      g_string_append_printf (s, "%s%s:%u/%c", i ? " " : "", t->host, t->port,
                              t->direct_tls ? 'd' : 's');
    }
  return g_string_free (s, FALSE);
}

static void
test_answer_kinds (void)
{
  g_autoptr (GError) nx = g_error_new_literal (G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND,
                                               "No DNS record");
  g_autoptr (GError) tmp = g_error_new_literal (G_RESOLVER_ERROR,
                                                G_RESOLVER_ERROR_TEMPORARY_FAILURE,
                                                "Temporarily unable to resolve");
  GList *dot = records ("0/0/.:0"), *empty = records ("0/0/:0");
  GList *two = records ("0/0/.:0 5/0/xmpp.example.test:5222");
  XmSrvAnswer a;

  g_assert_cmpint (answer (NULL, nx).kind, ==, XM_SRV_ANSWER_NONE);
  a = answer (NULL, tmp);
  g_assert_cmpint (a.kind, ==, XM_SRV_ANSWER_FAILED);
  g_assert_cmpstr (a.why, ==, "Temporarily unable to resolve");
  g_assert_cmpint (answer (dot, NULL).kind, ==, XM_SRV_ANSWER_UNAVAILABLE);
  g_assert_cmpint (answer (empty, NULL).kind, ==, XM_SRV_ANSWER_UNAVAILABLE);
  /* a "." among other records is not the "not available" answer */
  g_assert_cmpint (answer (two, NULL).kind, ==, XM_SRV_ANSWER_RECORDS);
  free_records (dot);
  free_records (empty);
  free_records (two);
}

static void
test_priority_and_merge (void)
{
  GList *plain = records ("20/0/b.example.test:5333 10/0/a.example.test:5222 "
                          "30/0/c.example.test:5222 0/0/.:0 15/0/zero.example.test:0");
  GList *direct = records ("12/0/d.example.test:5223");
  XmSrvAnswer ans[2] = { answer (plain, NULL), answer (direct, NULL) };
  g_autofree char *why = NULL;
  g_autoptr (GPtrArray) t = NULL;
  g_autofree char *got = NULL;

  /* STARTTLS only: the direct-TLS record is ignored, "." and port 0 too. */
  t = xm_srv_plan ("example.test", XM_SRV_STARTTLS, ans, &why);
  g_assert_nonnull (t);
  got = describe (t);
  g_assert_cmpstr (got, ==, "a.example.test:5222/s b.example.test:5333/s "
                   "c.example.test:5222/s");
  g_assert_cmpstr (((XmSrvTarget *) t->pdata[0])->via, ==,
                   "_xmpp-client._tcp.example.test SRV -> a.example.test:5222 (STARTTLS)");
  g_clear_pointer (&t, g_ptr_array_unref);
  g_clear_pointer (&got, g_free);

  /* Both: merged by priority (XEP-0368 §3). */
  t = xm_srv_plan ("example.test", XM_SRV_STARTTLS | XM_SRV_DIRECT, ans, &why);
  got = describe (t);
  g_assert_cmpstr (got, ==, "a.example.test:5222/s d.example.test:5223/d "
                   "b.example.test:5333/s c.example.test:5222/s");
  g_assert_cmpstr (((XmSrvTarget *) t->pdata[1])->via, ==,
                   "_xmpps-client._tcp.example.test SRV -> d.example.test:5223 (direct TLS)");
  g_clear_pointer (&t, g_ptr_array_unref);
  g_clear_pointer (&got, g_free);

  /* Direct TLS only. */
  t = xm_srv_plan ("example.test", XM_SRV_DIRECT, ans, &why);
  got = describe (t);
  g_assert_cmpstr (got, ==, "d.example.test:5223/d");
  g_assert_null (why);
  free_records (plain);
  free_records (direct);
}

/* A zone with hundreds of records: only the first XM_SRV_MAX_TARGETS, in
 * priority order, are tried. */
static void
test_target_cap (void)
{
  g_autoptr (GString) spec = g_string_new (NULL);
  g_autofree char *why = NULL;
  g_autoptr (GPtrArray) t = NULL;
  GList *recs;
  XmSrvAnswer ans[2];

  for (int i = 300; i > 0; i--)
    g_string_append_printf (spec, "%s%d/0/h%d.example.test:5222", spec->len ? " " : "", i, i);
  recs = records (spec->str);
  ans[0] = answer (recs, NULL);
  ans[1] = answer (NULL, NULL);
  t = xm_srv_plan ("example.test", XM_SRV_STARTTLS, ans, &why);
  g_assert_nonnull (t);
  g_assert_cmpuint (t->len, ==, XM_SRV_MAX_TARGETS);
  g_assert_cmpstr (((XmSrvTarget *) t->pdata[0])->host, ==, "h1.example.test");
  g_assert_cmpstr (((XmSrvTarget *) t->pdata[XM_SRV_MAX_TARGETS - 1])->host, ==,
                   "h16.example.test");
  free_records (recs);
}

/* RFC 2782: within one priority, a target is first with a probability
 * proportional to its weight. Counted over many plans, not timed. */
static void
test_weights (void)
{
  GList *even = records ("10/50/a.test:1 10/50/b.test:2");
  GList *skew = records ("10/0/zero.test:1 10/100/heavy.test:2");
  XmSrvAnswer none = answer (NULL, NULL);
  guint a_first = 0, heavy_first = 0, runs = 400;

  for (guint i = 0; i < runs; i++)
    {
      XmSrvAnswer e[2] = { answer (even, NULL), none };
      XmSrvAnswer s[2] = { answer (skew, NULL), none };
      g_autofree char *why = NULL;
      g_autoptr (GPtrArray) t1 = xm_srv_plan ("x.test", XM_SRV_STARTTLS, e, &why);
      g_autoptr (GPtrArray) t2 = xm_srv_plan ("x.test", XM_SRV_STARTTLS, s, &why);

      g_assert_cmpuint (t1->len, ==, 2);
      g_assert_cmpuint (t2->len, ==, 2);
      a_first += g_str_equal (((XmSrvTarget *) t1->pdata[0])->host, "a.test");
      heavy_first += g_str_equal (((XmSrvTarget *) t2->pdata[0])->host, "heavy.test");
    }
  /* Both orders happen for equal weights (a fixed order would give 0 or
   * 400; each bound fails by chance with probability below 1e-30). */
  g_assert_cmpuint (a_first, >, 100);
  g_assert_cmpuint (a_first, <, 300);
  /* weight 0 goes first rarely (RFC 2782: "a very small chance") */
  g_assert_cmpuint (heavy_first, >, 350);
  free_records (even);
  free_records (skew);
}

static void
test_fallback_and_errors (void)
{
  g_autoptr (GError) nx = g_error_new_literal (G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND, "nx");
  g_autoptr (GError) tmp = g_error_new_literal (G_RESOLVER_ERROR,
                                                G_RESOLVER_ERROR_TEMPORARY_FAILURE, "SERVFAIL");
  GList *dot = records ("0/0/.:0"), *direct = records ("5/0/d.example.test:5223");
  XmSrvAnswer none = answer (NULL, nx), failed = answer (NULL, tmp);
  XmSrvAnswer unavailable = answer (dot, NULL), recs = answer (direct, NULL);
  struct {
    XmSrvWant want;
    XmSrvAnswer a[2];
    const char *targets;  /* NULL: an error containing why */
    const char *why;
  } cases[] = {
    /* RFC 6120 §3.2.1: no SRV record at all: the domain on 5222 */
    { XM_SRV_STARTTLS, { none, none }, "example.test:5222/s", NULL },
    { XM_SRV_STARTTLS | XM_SRV_DIRECT, { none, none }, "example.test:5222/s", NULL },
    /* a direct-TLS record exists: no fall-back added after it */
    { XM_SRV_STARTTLS | XM_SRV_DIRECT, { none, recs }, "d.example.test:5223/d", NULL },
    /* "." on the direct-TLS service says nothing about STARTTLS */
    { XM_SRV_STARTTLS | XM_SRV_DIRECT, { none, unavailable }, "example.test:5222/s", NULL },
    /* "." : not available, and no fall-back */
    { XM_SRV_STARTTLS, { unavailable, none }, NULL,
      "_xmpp-client._tcp.example.test has the target \".\": example.test offers no XMPP client service" },
    { XM_SRV_STARTTLS | XM_SRV_DIRECT, { unavailable, none }, NULL, "has the target \".\"" },
    { XM_SRV_DIRECT, { none, unavailable }, NULL,
      "_xmpps-client._tcp.example.test has the target \".\": example.test offers no direct TLS" },
    /* a client that opens with TLS has no fall-back */
    { XM_SRV_DIRECT, { none, none }, NULL,
      "example.test has no _xmpps-client._tcp.example.test SRV record" },
    /* a failed lookup may hide records: no guess */
    { XM_SRV_STARTTLS, { failed, none }, NULL,
      "the DNS lookup of _xmpp-client._tcp.example.test failed: SERVFAIL (not falling back" },
    /* ... unless the other service answered */
    { XM_SRV_STARTTLS | XM_SRV_DIRECT, { failed, recs }, "d.example.test:5223/d", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *why = NULL, *got = NULL;
      g_autoptr (GPtrArray) t = xm_srv_plan ("example.test", cases[i].want, cases[i].a, &why);

      g_test_message ("case %u", i);
      if (cases[i].targets)
        {
          g_assert_nonnull (t);
          g_assert_null (why);
          got = describe (t);
          g_assert_cmpstr (got, ==, cases[i].targets);
        }
      else
        {
          g_assert_null (t);
          g_assert_nonnull (why);
          if (strstr (why, cases[i].why) == NULL)
            g_error ("case %u: '%s' lacks '%s'", i, why, cases[i].why);
        }
    }
  {
    XmSrvAnswer a[2] = { none, none };
    g_autofree char *why = NULL;
    g_autoptr (GPtrArray) t = xm_srv_plan ("example.test", XM_SRV_STARTTLS, a, &why);
    g_assert_cmpstr (((XmSrvTarget *) t->pdata[0])->via, ==,
                     "A/AAAA example.test:5222 (no SRV records)");
  }
  free_records (dot);
  free_records (direct);
}

static void
test_parse_server (void)
{
  struct { const char *in, *host; guint16 port; const char *error; } cases[] = {
    { "example.test", "example.test", 0, NULL },
    { "example.test.", "example.test", 0, NULL },
    { "xmpp-1.example.test", "xmpp-1.example.test", 0, NULL },
    { "b\xc3\xbc" "cher.example", "xn--bcher-kva.example", 0, NULL },
    { "example.test:5222", "example.test", 5222, NULL },
    { "[::1]:5222", "::1", 5222, NULL },
    { "127.0.0.1", NULL, 0, "has no port" },
    { "::1", NULL, 0, "brackets" },
    { "a..b", NULL, 0, "neither HOST:PORT nor a domain" },
    { ".", NULL, 0, "neither" },
    { "bad name", NULL, 0, "neither" },
    { "under_score.test", NULL, 0, "neither" },
    { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test", NULL, 0,
      "neither" },
    { "example.test:0", NULL, 0, "port must be" },
    { "", NULL, 0, "empty" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *host = NULL;
      g_autoptr (GError) error = NULL;
      guint16 port = 1;
      gboolean ok = xm_parse_server (cases[i].in, &host, &port, &error);

      g_test_message ("%s", cases[i].in);
      if (cases[i].host)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          g_assert_cmpstr (host, ==, cases[i].host);
          g_assert_cmpuint (port, ==, cases[i].port);
        }
      else
        {
          g_assert_false (ok);
          g_assert_nonnull (error);
          if (strstr (error->message, cases[i].error) == NULL)
            g_error ("'%s': '%s' lacks '%s'", cases[i].in, error->message, cases[i].error);
        }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/srv/answer-kinds", test_answer_kinds);
  g_test_add_func ("/srv/priority-and-merge", test_priority_and_merge);
  g_test_add_func ("/srv/weights", test_weights);
  g_test_add_func ("/srv/target-cap", test_target_cap);
  g_test_add_func ("/srv/fallback-and-errors", test_fallback_and_errors);
  g_test_add_func ("/srv/parse-server", test_parse_server);
  return g_test_run ();
}
