/* test-certs.c: the forged-leaf cache stays within its bounds (issue 25,
 * defect 2: 5,000 SNI names under a wildcard upstream certificate). */
#include "config.h"

#include <string.h>
#include <glib/gstdio.h>

#include <openssl/x509v3.h>

#include "certs.h"

typedef struct {
  char *dir;
  XmCa *ca;
} Fixture;

static void
setup (Fixture *fx, gconstpointer data)
{
  g_autofree char *cert = NULL, *key = NULL;
  g_autoptr (GError) error = NULL;

  fx->dir = g_dir_make_tmp ("xmitm-certs-XXXXXX", &error);
  g_assert_no_error (error);
  cert = g_build_filename (fx->dir, "ca.pem", NULL);
  key = g_build_filename (fx->dir, "ca-key.pem", NULL);
  fx->ca = xm_ca_open (cert, key, TRUE, &error);
  g_assert_no_error (error);
}

static void
teardown (Fixture *fx, gconstpointer data)
{
  g_autofree char *cert = g_build_filename (fx->dir, "ca.pem", NULL);
  g_autofree char *key = g_build_filename (fx->dir, "ca-key.pem", NULL);

  xm_ca_free (fx->ca);
  g_unlink (cert);
  g_unlink (key);
  g_rmdir (fx->dir);
  g_free (fx->dir);
}

static void
forge (XmCa *ca, const char *name)
{
  g_autoptr (GError) error = NULL;
  X509 *leaf = xm_ca_forge (ca, name, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (leaf);
  X509_free (leaf);
}

/* 5,000 distinct names: the cache keeps at most XM_CA_CACHE_LEAVES leaves
 * and about XM_CA_CACHE_BYTES, and drops the rest. */
static void
test_bounded (Fixture *fx, gconstpointer data)
{
  guint leaves, evicted, made, hits;
  gsize bytes;

  for (guint i = 0; i < 5000; i++)
    {
      char name[64];

      g_snprintf (name, sizeof name, "n%u.wild.example", i);
      forge (fx->ca, name);
      xm_ca_cache_stats (fx->ca, &leaves, &bytes, &evicted);
      g_assert_cmpuint (leaves, <=, XM_CA_CACHE_LEAVES);
      g_assert_cmpuint (bytes, <=, XM_CA_CACHE_BYTES);
    }
  xm_ca_stats (fx->ca, &made, &hits);
  g_assert_cmpuint (made, ==, 5000);
  g_assert_cmpuint (hits, ==, 0);
  g_assert_cmpuint (leaves, >, 0);
  g_assert_cmpuint (leaves + evicted, ==, 5000);
  g_assert_cmpuint (bytes / leaves, >, 2048);
}

/* Least recently used first; a memory bound alone bounds the count. */
static void
test_lru (Fixture *fx, gconstpointer data)
{
  guint made, hits, leaves, evicted;
  gsize bytes;

  xm_ca_set_cache_limits (fx->ca, 3, XM_CA_CACHE_BYTES);
  forge (fx->ca, "a.example");
  forge (fx->ca, "b.example");
  forge (fx->ca, "c.example");
  forge (fx->ca, "a.example");   /* a is now the newest */
  forge (fx->ca, "d.example");   /* b goes */
  xm_ca_stats (fx->ca, &made, &hits);
  g_assert_cmpuint (made, ==, 4);
  g_assert_cmpuint (hits, ==, 1);
  forge (fx->ca, "a.example");
  forge (fx->ca, "c.example");
  forge (fx->ca, "d.example");
  xm_ca_stats (fx->ca, &made, &hits);
  g_assert_cmpuint (made, ==, 4);
  g_assert_cmpuint (hits, ==, 4);
  forge (fx->ca, "b.example");   /* made again */
  xm_ca_stats (fx->ca, &made, &hits);
  g_assert_cmpuint (made, ==, 5);

  xm_ca_set_cache_limits (fx->ca, 1000, 10 * 1024);
  for (guint i = 0; i < 50; i++)
    {
      char name[64];

      g_snprintf (name, sizeof name, "m%u.example", i);
      forge (fx->ca, name);
    }
  xm_ca_cache_stats (fx->ca, &leaves, &bytes, &evicted);
  g_assert_cmpuint (bytes, <=, 10 * 1024);
  g_assert_cmpuint (leaves, <=, 5);
}

/* A leaf a session holds outlives its eviction. */
static void
test_held_leaf_survives (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  X509 *held = xm_ca_forge (fx->ca, "held.example", NULL, &error);
  guint leaves, evicted;
  gsize bytes;
  char cn[64] = "";

  g_assert_no_error (error);
  xm_ca_set_cache_limits (fx->ca, 0, 0);
  xm_ca_cache_stats (fx->ca, &leaves, &bytes, &evicted);
  g_assert_cmpuint (leaves, ==, 0);
  g_assert_cmpuint (bytes, ==, 0);
  X509_NAME_get_text_by_NID (X509_get_subject_name (held), NID_commonName, cn, sizeof cn);
  g_assert_cmpstr (cn, ==, "held.example");
  X509_free (held);
}

/* issue 25 defect 8: a name in Unicode gets a leaf for its A-labels. */
static void
test_unicode_name (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (X509) leaf = xm_ca_forge (fx->ca, "münchen.test", NULL, &error);
  g_autofree char *ascii = xm_name_to_ascii ("MÜNCHEN.test");
  g_autofree char *plain = xm_name_to_ascii ("Example.COM");
  g_autofree char *ip = xm_name_to_ascii ("::1");

  g_assert_no_error (error);
  g_assert_cmpint (X509_check_host (leaf, "xn--mnchen-3ya.test", 0, 0, NULL), ==, 1);
  g_assert_cmpstr (ascii, ==, "xn--mnchen-3ya.test");
  g_assert_cmpstr (plain, ==, "Example.COM");
  g_assert_cmpstr (ip, ==, "::1");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/certs/cache/bounded", Fixture, NULL, setup, test_bounded, teardown);
  g_test_add ("/certs/cache/lru", Fixture, NULL, setup, test_lru, teardown);
  g_test_add ("/certs/cache/held-leaf-survives", Fixture, NULL, setup,
              test_held_leaf_survives, teardown);
  g_test_add ("/certs/unicode-name", Fixture, NULL, setup, test_unicode_name, teardown);
  return g_test_run ();
}
