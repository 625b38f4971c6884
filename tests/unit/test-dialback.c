/* test-dialback.c: XEP-0220 server dialback (decoders/dialback.c) through
 * the observer, split at every byte: the request with its key a secret,
 * the verification on the connection of the other direction, valid,
 * invalid, an error's condition, what is missing; the stanza redaction of
 * the key; a verification tied to the connection it verifies
 * (decoders/dialback-link.c). */
#include <string.h>

#include <glib.h>

#include "dialback.h"
#include "dialback-link.h"
#include "observer.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define C_HEADER "<stream:stream xmlns='jabber:server' xmlns:stream='" NS_STREAMS "' " \
  "xmlns:db='jabber:server:dialback' from='a.test' to='b.test' version='1.0'>"
#define S_HEADER "<stream:stream xmlns='jabber:server' xmlns:stream='" NS_STREAMS "' " \
  "xmlns:db='jabber:server:dialback' from='b.test' to='a.test' id='s1' version='1.0'>" \
  "<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>" \
  "</stream:features>"
#define KEY "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

typedef struct {
  GString *log;
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
      g_assert_null (strstr (line, KEY));
      if (strstr (line, "key=<redacted, 64"))
        g_assert_nonnull (strstr (shown, "key='" KEY "'"));
    }
}

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
test_result_valid (void)
{
  check_everywhere ("<db:result from='a.test' to='b.test'>" KEY "</db:result>"
                    "<message from='alice@a.test' to='bob@b.test'><body>hi</body></message>",
                    "<db:result from='b.test' to='a.test' type='valid'/>",
                    "c2s XEP-0220 db:result (request): from='a.test' to='b.test' "
                    "key=<redacted, 64 bytes> [note: a.test asks b.test to accept this "
                    "stream from a.test; b.test checks the key with a.test's "
                    "authoritative server (XEP-0220 §2.1.1)]\n"
                    "s2c XEP-0220 db:result (valid): from='b.test' to='a.test' [note: "
                    "b.test accepts a.test: this stream may carry its stanzas "
                    "(XEP-0220 §2.1.3)]\n");
}

/* The receiving server's own connection to the authoritative server; the
 * answer repeats the key, as prosody 0.12 does. */
static void
test_verify (void)
{
  check_everywhere ("<db:verify from='b.test' to='a.test' id='s9'>" KEY "</db:verify>",
                    "<db:verify from='a.test' to='b.test' id='s9' type='valid'>" KEY
                    "</db:verify><db:verify from='a.test' to='b.test' id='s8' "
                    "type='invalid'/>",
                    "c2s XEP-0220 db:verify (request): from='b.test' to='a.test' id='s9' "
                    "key=<redacted, 64 bytes> [note: b.test asks a.test's authoritative "
                    "server whether the key is a.test's for stream s9 (XEP-0220 §2.1.2)]\n"
                    "s2c XEP-0220 db:verify (valid): from='a.test' to='b.test' id='s9' "
                    "key=<redacted, 64 bytes> [note: a.test confirms the key for stream "
                    "s9 (XEP-0220 §2.1.2)]\n"
                    "s2c XEP-0220 db:verify (invalid): from='a.test' to='b.test' id='s8' "
                    "[note: a.test says the key for stream s8 is not its own "
                    "(XEP-0220 §2.1.2)]\n");
}

static void
test_result_invalid_and_error (void)
{
  check_everywhere ("",
                    "<db:result from='b.test' to='a.test' type='invalid'/>"
                    "<db:result from='b.test' to='c.test' type='error'><error "
                    "type='cancel'><item-not-found xmlns='" NS_STANZAS "'/></error>"
                    "</db:result>"
                    "<db:result from='b.test' to='d.test' type='error'><error "
                    "type='cancel'><remote-server-not-found xmlns='" NS_STANZAS "'/>"
                    "</error></db:result>",
                    "s2c XEP-0220 db:result (invalid): from='b.test' to='a.test' [note: "
                    "b.test refuses a.test: its authoritative server did not confirm "
                    "the key (XEP-0220 §2.1.3)]\n"
                    "s2c XEP-0220 db:result (error): from='b.test' to='c.test' [note: "
                    "item-not-found: the receiving server does not serve the domain in "
                    "'to' (or does not know the one in 'from') (XEP-0220 §2.4)]\n"
                    "s2c XEP-0220 db:result (error): from='b.test' to='d.test' [note: "
                    "remote-server-not-found: the receiving server could not reach the "
                    "authoritative server of 'from' to verify the key (DNS or "
                    "connection failure) (XEP-0220 §2.4)]\n");
}

static void
test_malformed (void)
{
  g_autofree char *got = run ("<db:result to='b.test'/><db:verify from='b.test' "
                              "to='a.test'>k</db:verify><db:result from='a.test' "
                              "to='b.test' type='maybe'>k</db:result>", "", 0);

  g_assert_cmpstr (got, ==,
                   "c2s XEP-0220 db:result (request): to='b.test' [note: without from "
                   "(XEP-0220 §2.1 requires from and to)] [note: a request without a "
                   "key (XEP-0220 §2.1)]\n"
                   "c2s XEP-0220 db:verify (request): from='b.test' to='a.test' "
                   "key=<redacted, 1 bytes> [note: without id: the stream id the key is "
                   "checked for (XEP-0220 §2.1.2)] [note: b.test asks a.test's "
                   "authoritative server whether the key is a.test's for stream ? "
                   "(XEP-0220 §2.1.2)]\n"
                   "c2s XEP-0220 db:result (maybe): from='a.test' to='b.test' "
                   "key=<redacted, 1 bytes> [note: type 'maybe' is not valid, invalid "
                   "or error (XEP-0220 §2.1)]\n");
}

/* Only the dialback namespace: a <result/> elsewhere is not dialback. */
static void
test_other_namespaces (void)
{
  g_autofree char *got = run ("<result xmlns='urn:example'>x</result>"
                              "<iq type='result' id='1'/>", "", 0);

  g_assert_cmpstr (got, ==, "");
}

/* Two connections through one linker: #1 a.test -> b.test (b.test's
 * stream s1), #3 b.test -> a.test where b.test verifies #1's key. */
typedef struct {
  XmDialbackLinks *links;
  guint conn;
  GString *notes;
} Linked;

static void
on_linked (XmEvent *ev, gpointer user_data)
{
  Linked *l = user_data;
  g_autofree char *note = NULL;

  ev->conn = l->conn;
  note = xm_dialback_links_event (l->links, ev);
  if (note)
    g_string_append_printf (l->notes, "#%u %s\n", ev->conn, note);
}

static void
feed_conn (Linked *l, XmObserver *obs, guint conn, XmDir dir, const char *text)
{
  l->conn = conn;
  xm_observer_feed (obs, dir, (const guint8 *) text, strlen (text));
}

static void
test_link (void)
{
  Linked l = { xm_dialback_links_new (), 0, g_string_new (NULL) };
  XmObserver *one = xm_observer_new (on_linked, &l);
  XmObserver *three = xm_observer_new (on_linked, &l);
  XmEvent close = { .kind = XM_EVENT_CONN_CLOSE, .conn = 1, .text = "done" };

  feed_conn (&l, one, 1, XM_DIR_C2S, C_HEADER);
  feed_conn (&l, one, 1, XM_DIR_S2C, S_HEADER);
  feed_conn (&l, one, 1, XM_DIR_C2S, "<db:result from='a.test' to='b.test'>" KEY
             "</db:result>");
  feed_conn (&l, three, 3, XM_DIR_C2S, "<stream:stream xmlns='jabber:server' "
             "xmlns:stream='" NS_STREAMS "' xmlns:db='jabber:server:dialback' "
             "from='b.test' to='a.test' version='1.0'>");
  feed_conn (&l, three, 3, XM_DIR_S2C, "<stream:stream xmlns='jabber:server' "
             "xmlns:stream='" NS_STREAMS "' xmlns:db='jabber:server:dialback' "
             "from='a.test' id='s3' version='1.0'>");
  feed_conn (&l, three, 3, XM_DIR_C2S, "<db:verify from='b.test' to='a.test' id='s1'>"
             KEY "</db:verify><db:verify from='b.test' to='a.test' id='s3'>" KEY
             "</db:verify><db:verify from='b.test' to='a.test' id='nope'>" KEY
             "</db:verify>");
  feed_conn (&l, three, 3, XM_DIR_S2C, "<db:verify from='a.test' to='b.test' id='s1' "
             "type='valid'/>");
  feed_conn (&l, one, 1, XM_DIR_S2C, "<db:result from='b.test' to='a.test' type='valid'/>");
  /* #1 closed: nothing left to tie to. */
  g_assert_null (xm_dialback_links_event (l.links, &close));
  feed_conn (&l, three, 3, XM_DIR_C2S, "<db:verify from='b.test' to='a.test' id='s1'>"
             KEY "</db:verify>");
  g_assert_cmpstr (l.notes->str, ==,
                   "#3 XEP-0220: this db:verify checks the dialback key sent on #1 "
                   "(a.test -> b.test, stream s1)\n"
                   "#3 XEP-0220: the authoritative server's answer (valid) about the "
                   "dialback key sent on #1 (a.test -> b.test, stream s1)\n");
  xm_observer_free (one);
  xm_observer_free (three);
  xm_dialback_links_free (l.links);
  g_string_free (l.notes, TRUE);
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
  static const char c[] = C_HEADER "<db:result from='a.test' to='b.test'>" KEY
                          "</db:result>";
  g_autofree char *stars = g_strnfill (64, '*');
  g_autofree char *want = g_strdup_printf ("<db:result from='a.test' to='b.test'>%s"
                                           "</db:result>", stars);

  xm_observer_feed (obs, XM_DIR_C2S, (const guint8 *) c, strlen (c));
  xm_observer_free (obs);
  g_assert_cmpuint (r.hidden, ==, 64);
  g_assert_cmpstr (r.redacted, ==, want);
  g_free (r.redacted);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dialback/result-valid", test_result_valid);
  g_test_add_func ("/dialback/verify", test_verify);
  g_test_add_func ("/dialback/result-invalid-and-error", test_result_invalid_and_error);
  g_test_add_func ("/dialback/malformed", test_malformed);
  g_test_add_func ("/dialback/other-namespaces", test_other_namespaces);
  g_test_add_func ("/dialback/redact", test_redact);
  g_test_add_func ("/dialback/link", test_link);
  return g_test_run ();
}
