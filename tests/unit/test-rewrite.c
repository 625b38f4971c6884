/* test-rewrite.c: removing channel binding and compression from features. */
#include "config.h"

#include <string.h>

#include "rewrite.h"

/* What ejabberd 23.01 offers after TLS (see PEERS.md), with XEP-0440 and
 * a SASL2 block added, and the zlib feature it offers after SASL. */
static const char features[] =
  "<stream:features>"
  "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
  "<mechanism>DIGEST-MD5</mechanism><mechanism>PLAIN</mechanism>"
  "<mechanism>SCRAM-SHA-512-PLUS</mechanism><mechanism>SCRAM-SHA-512</mechanism>"
  "<mechanism> SCRAM-SHA-256-PLUS </mechanism><mechanism>SCRAM-SHA-256</mechanism>"
  "<mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>SCRAM-SHA-1</mechanism>"
  "<mechanism>X-OAUTH2</mechanism></mechanisms>\n"
  "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/>"
  "</sasl-channel-binding>"
  "<authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-256-PLUS</mechanism>"
  "<mechanism>SCRAM-SHA-256</mechanism></authentication>"
  "<compression xmlns='http://jabber.org/features/compress'><method>zlib</method></compression>"
  "<register xmlns='http://jabber.org/features/iq-register'/>"
  "</stream:features>";

static const char no_plus[] =
  "<stream:features>"
  "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
  "<mechanism>DIGEST-MD5</mechanism><mechanism>PLAIN</mechanism>"
  "<mechanism>SCRAM-SHA-512</mechanism>"
  "<mechanism>SCRAM-SHA-256</mechanism>"
  "<mechanism>SCRAM-SHA-1</mechanism>"
  "<mechanism>X-OAUTH2</mechanism></mechanisms>\n"
  "<authentication xmlns='urn:xmpp:sasl:2'>"
  "<mechanism>SCRAM-SHA-256</mechanism></authentication>"
  "<compression xmlns='http://jabber.org/features/compress'><method>zlib</method></compression>"
  "<register xmlns='http://jabber.org/features/iq-register'/>"
  "</stream:features>";

static void
check (const char *in, guint flags, const char *want, const char *want_removed)
{
  g_autofree char *removed = NULL;
  g_autoptr (GBytes) out = xm_rewrite_features ((const guint8 *) in, strlen (in), flags,
                                                &removed);
  if (want == NULL)
    {
      g_assert_null (out);
      g_assert_null (removed);
      return;
    }
  g_assert_nonnull (out);
  g_assert_cmpmem (g_bytes_get_data (out, NULL), g_bytes_get_size (out), want, strlen (want));
  g_assert_cmpstr (removed, ==, want_removed);
}

static void
test_strip_plus (void)
{
  check (features, XM_REWRITE_STRIP_PLUS, no_plus,
         "SCRAM-SHA-512-PLUS, SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, "
         "sasl-channel-binding (XEP-0440), SCRAM-SHA-256-PLUS");
}

static void
test_strip_both (void)
{
  g_autofree char *want = NULL;
  const char *z = "<compression xmlns='http://jabber.org/features/compress'>"
                  "<method>zlib</method></compression>";
  GString *s = g_string_new (no_plus);
  char *at = strstr (s->str, z);
  g_string_erase (s, at - s->str, strlen (z));
  want = g_string_free (s, FALSE);
  check (features, XM_REWRITE_STRIP_PLUS | XM_REWRITE_STRIP_COMPRESSION, want,
         "SCRAM-SHA-512-PLUS, SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, "
         "sasl-channel-binding (XEP-0440), SCRAM-SHA-256-PLUS, compression (XEP-0138)");
}

static void
test_nothing_to_do (void)
{
  /* prosody over TLS 1.3: no -PLUS, nothing changes. */
  check ("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
         "<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism>"
         "</mechanisms></stream:features>", XM_REWRITE_STRIP_PLUS, NULL, NULL);
  check (features, 0, NULL, NULL);
  /* A -PLUS name in another namespace is not a SASL mechanism. */
  check ("<stream:features><mechanisms xmlns='urn:example'><mechanism>X-PLUS</mechanism>"
         "</mechanisms></stream:features>", XM_REWRITE_STRIP_PLUS, NULL, NULL);
  /* Not XML: left alone. */
  check ("<stream:features><mechanisms", XM_REWRITE_STRIP_PLUS, NULL, NULL);
}

static void
test_prefixed (void)
{
  /* Namespaces come from prefixes as well as from default declarations. */
  check ("<stream:features><s:mechanisms xmlns:s='urn:ietf:params:xml:ns:xmpp-sasl'>"
         "<s:mechanism>SCRAM-SHA-1-PLUS</s:mechanism><s:mechanism>SCRAM-SHA-1</s:mechanism>"
         "</s:mechanisms></stream:features>",
         XM_REWRITE_STRIP_PLUS,
         "<stream:features><s:mechanisms xmlns:s='urn:ietf:params:xml:ns:xmpp-sasl'>"
         "<s:mechanism>SCRAM-SHA-1</s:mechanism></s:mechanisms></stream:features>",
         "SCRAM-SHA-1-PLUS");
  /* A prefix bound elsewhere is not SASL, whatever the default namespace. */
  check ("<stream:features><s:mechanisms xmlns:s='urn:example' "
         "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><s:mechanism>SCRAM-SHA-1-PLUS</s:mechanism>"
         "</s:mechanisms></stream:features>", XM_REWRITE_STRIP_PLUS, NULL, NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/rewrite/strip-plus", test_strip_plus);
  g_test_add_func ("/rewrite/strip-plus-and-compression", test_strip_both);
  g_test_add_func ("/rewrite/nothing-to-do", test_nothing_to_do);
  g_test_add_func ("/rewrite/prefixed", test_prefixed);
  return g_test_run ();
}
