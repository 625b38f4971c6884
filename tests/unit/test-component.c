/* test-component.c: the XEP-0114 component handshake (decoders/component.c)
 * through the observer, split at every byte: the handshake decoded with its
 * digest a secret, the server's <handshake/> as success, a wrong secret and
 * a wrong domain explained; a client stream is left alone; the digest a
 * component computes; the stanza redaction of the handshake. */
#include <string.h>

#include <glib.h>

#include "component.h"
#include "observer.h"

#define C_HEADER "<stream:stream xmlns='jabber:component:accept' " \
  "xmlns:stream='http://etherx.jabber.org/streams' to='comp.example.com'>"
#define S_HEADER "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' " \
  "xmlns='jabber:component:accept' id='3BF96D32' from='comp.example.com'>"
#define DIGEST "7a98dc4c9e92493d7fd66a25364c862637789c45"
#define HANDSHAKE "<handshake>" DIGEST "</handshake>"
#define NS_STREAMS_ERR "urn:ietf:params:xml:ns:xmpp-streams"

typedef struct {
  GString *log; /* one decoded line per XEP-0114 decode */
} Seen;

static void
on_event (XmEvent *ev, gpointer user_data)
{
  Seen *s = user_data;

  if (ev->kind == XM_EVENT_SASL)
    {
      g_autofree char *line = xm_sasl_decode_format (ev->sasl, FALSE, 0);
      g_autofree char *shown = xm_sasl_decode_format (ev->sasl, TRUE, 0);

      g_string_append_printf (s->log, "%s %s\n",
                              ev->dir == XM_DIR_C2S ? "c2s" : "s2c", line);
      /* --show-secrets shows the digest itself */
      if (strstr (line, "digest=<redacted, 40"))
        g_assert_nonnull (strstr (shown, "digest='" DIGEST "'"));
    }
}

/* Feeds the two directions, each cut at `cut` (when inside it). */
static char *
run (const char *c2s, const char *s2c, gsize cut)
{
  Seen s = { g_string_new (NULL) };
  XmObserver *obs = xm_observer_new (on_event, &s);
  gsize cl = strlen (c2s), sl = strlen (s2c);
  gsize cc = MIN (cut, cl), sc = MIN (cut, sl);

  xm_observer_from_start (obs, XM_DIR_C2S);
  xm_observer_from_start (obs, XM_DIR_S2C);
  xm_observer_feed (obs, XM_DIR_C2S, (const guint8 *) C_HEADER, strlen (C_HEADER));
  xm_observer_feed (obs, XM_DIR_S2C, (const guint8 *) S_HEADER, strlen (S_HEADER));
  xm_observer_feed (obs, XM_DIR_C2S, (const guint8 *) c2s, cc);
  xm_observer_feed (obs, XM_DIR_C2S, (const guint8 *) c2s + cc, cl - cc);
  xm_observer_feed (obs, XM_DIR_S2C, (const guint8 *) s2c, sc);
  xm_observer_feed (obs, XM_DIR_S2C, (const guint8 *) s2c + sc, sl - sc);
  xm_observer_finish (obs);
  xm_observer_free (obs);
  return g_string_free (s.log, FALSE);
}

static void
check_everywhere (const char *c2s, const char *s2c, const char *want)
{
  gsize len = MAX (strlen (c2s), strlen (s2c));

  for (gsize cut = 0; cut <= len; cut++)
    {
      g_autofree char *got = run (c2s, s2c, cut);
      g_assert_cmpstr (got, ==, want);
    }
}

static void
test_accepted (void)
{
  check_everywhere (HANDSHAKE "<message to='a@example.com'/>", "<handshake/>",
                    "c2s XEP-0114 handshake: component='comp.example.com' "
                    "digest=<redacted, 40 bytes>\n"
                    "s2c XEP-0114 handshake (success) [note: the server accepted "
                    "the handshake: comp.example.com is connected]\n");
}

static void
test_wrong_secret (void)
{
  /* prosody 0.12's answer */
  check_everywhere (HANDSHAKE,
                    "<stream:error><not-authorized xmlns='" NS_STREAMS_ERR "'/><text "
                    "xmlns='" NS_STREAMS_ERR "'>Given token does not match calculated "
                    "token</text></stream:error></stream:stream>",
                    "c2s XEP-0114 handshake: component='comp.example.com' "
                    "digest=<redacted, 40 bytes>\n"
                    "s2c XEP-0114 stream:error (failure) [note: not-authorized: the "
                    "server rejected the handshake for comp.example.com: wrong secret "
                    "(the component's secret is not the one the server has for this "
                    "domain; ejabberd also says this for a domain it has no component for) "
                    "(XEP-0114 §3)]\n");
}

static void
test_wrong_domain (void)
{
  /* prosody answers before any handshake */
  check_everywhere ("",
                    "<stream:error><text xmlns='" NS_STREAMS_ERR "'>no such "
                    "component</text><host-unknown xmlns='" NS_STREAMS_ERR "'/>"
                    "</stream:error></stream:stream>",
                    "s2c XEP-0114 stream:error (failure) [note: host-unknown: the "
                    "server has no component comp.example.com: wrong domain (the "
                    "stream's to= must be a component domain the server is "
                    "configured with) (XEP-0114 §3)]\n");
}

static void
test_not_hex (void)
{
  g_autofree char *got = run ("<handshake>secret</handshake>", "", 0);

  g_assert_nonnull (strstr (got, "digest=<redacted, 6 bytes> [note: the handshake "
                                 "is not 40 hex digits"));
}

/* A c2s stream's elements are not XEP-0114, whatever their name. */
static void
test_client_stream (void)
{
  Seen s = { g_string_new (NULL) };
  XmObserver *obs = xm_observer_new (on_event, &s);
  static const char c[] = "<stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='example.com'>"
    "<handshake xmlns='jabber:component:accept'>x</handshake>";
  static const char sv[] = "<stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' id='1'><stream:error>"
    "<host-unknown xmlns='" NS_STREAMS_ERR "'/></stream:error>";

  xm_observer_feed (obs, XM_DIR_C2S, (const guint8 *) c, strlen (c));
  xm_observer_feed (obs, XM_DIR_S2C, (const guint8 *) sv, strlen (sv));
  xm_observer_free (obs);
  g_assert_cmpstr (s.log->str, ==, "");
  g_string_free (s.log, TRUE);
}

static void
test_digest (void)
{
  g_autofree char *d = xm_component_handshake ("3BF96D32", "sesame");

  g_assert_cmpstr (d, ==, DIGEST);
}

/* A domain with a line break prints on one line, escaped once, in the
 * field and in the note. */
static void
test_domain_escaped (void)
{
  Seen s = { g_string_new (NULL) };
  XmObserver *obs = xm_observer_new (on_event, &s);
  static const char c[] = "<stream:stream xmlns='jabber:component:accept' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='a&#10;b'>" HANDSHAKE;
  static const char sv[] = S_HEADER "<handshake/>";

  xm_observer_feed (obs, XM_DIR_C2S, (const guint8 *) c, strlen (c));
  xm_observer_feed (obs, XM_DIR_S2C, (const guint8 *) sv, strlen (sv));
  xm_observer_free (obs);
  g_assert_cmpstr (s.log->str, ==,
                   "c2s XEP-0114 handshake: component='a\\nb' digest=<redacted, 40 "
                   "bytes>\n"
                   "s2c XEP-0114 handshake (success) [note: the server accepted the "
                   "handshake: a\\nb is connected]\n");
  g_string_free (s.log, TRUE);
}

typedef struct {
  gsize hidden;
  char *redacted;
} Redacted;

static void
on_redact (XmEvent *ev, gpointer user_data)
{
  Redacted *r = user_data;

  if (ev->kind == XM_EVENT_STANZA && ev->dir == XM_DIR_C2S && r->redacted == NULL)
    {
      GString *out = g_string_new (NULL);
      r->hidden = xm_stanza_redact (ev->stanza, out);
      r->redacted = g_string_free (out, FALSE);
    }
}

static void
test_redact (void)
{
  Redacted r = { 0 };
  XmObserver *obs = xm_observer_new (on_redact, &r);
  static const char c[] = C_HEADER HANDSHAKE;

  xm_observer_feed (obs, XM_DIR_C2S, (const guint8 *) c, strlen (c));
  xm_observer_free (obs);
  g_assert_cmpuint (r.hidden, ==, 40);
  g_assert_cmpstr (r.redacted, ==, "<handshake>****************************************"
                                   "</handshake>");
  g_free (r.redacted);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/component/accepted", test_accepted);
  g_test_add_func ("/component/wrong-secret", test_wrong_secret);
  g_test_add_func ("/component/wrong-domain", test_wrong_domain);
  g_test_add_func ("/component/not-hex", test_not_hex);
  g_test_add_func ("/component/client-stream", test_client_stream);
  g_test_add_func ("/component/digest", test_digest);
  g_test_add_func ("/component/domain-escaped", test_domain_escaped);
  g_test_add_func ("/component/redact", test_redact);
  return g_test_run ();
}
