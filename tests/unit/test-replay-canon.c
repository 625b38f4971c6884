/* Unit tests: replay's canonical form, normaliser, --ignore paths, diffs. */
#include "config.h"

#include <string.h>

#include "canon.h"
#include "xml-framer.h"

#define STREAM "<stream:stream xmlns='jabber:client' " \
  "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"

static void
keep_stanza (XmStanza *st, gpointer data)
{
  XmStanza **out = data;

  if (*out == NULL)
    *out = xm_stanza_ref (st);
}

static const XmFramerEvents keep = { .stanza = keep_stanza };

/* The first stanza of xml, framed inside a client stream. */
static XmStanza *
parse (const char *xml)
{
  XmStanza *st = NULL;
  g_autoptr (XmFramer) f = xm_framer_new (&keep, &st);

  xm_framer_feed (f, (const guint8 *) STREAM, strlen (STREAM));
  xm_framer_feed (f, (const guint8 *) xml, strlen (xml));
  g_assert_nonnull (st);
  g_assert_nonnull (st->root);
  return st;
}

static XmCanon *
canon_map (const char *xml, GPtrArray *paths, XmCanonMapFunc map, gpointer data)
{
  g_autoptr (XmStanza) st = parse (xml);
  XmCanon *c = xm_canon_new (st->root, map, data);

  xm_canon_normalise (c, paths);
  return c;
}

static XmCanon *
canon (const char *xml)
{
  return canon_map (xml, NULL, NULL, NULL);
}

static void
assert_same (const char *a, const char *b)
{
  g_autoptr (XmCanon) x = canon (a), y = canon (b);
  g_autofree char *diff = xm_canon_diff (x, y, "");

  if (!xm_canon_equal (x, y))
    g_error ("expected equal:\n%s\n%s\n%s", a, b, diff);
  g_assert_null (diff);
}

static void
assert_differs (const char *a, const char *b)
{
  g_autoptr (XmCanon) x = canon (a), y = canon (b);
  g_autofree char *diff = xm_canon_diff (x, y, "");

  g_assert_false (xm_canon_equal (x, y));
  g_assert_nonnull (diff);
}

static void
test_syntax_does_not_matter (void)
{
  /* Attribute order, quotes, prefixes, where xmlns is declared, empty
   * element forms, indentation between children. */
  assert_same ("<message to='a@b' from='c@d' type='chat'><body>hi</body></message>",
               "<message type=\"chat\" from=\"c@d\" to=\"a@b\">\n  <body>hi</body>\n</message>");
  assert_same ("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>",
               "<iq type='get'><r:query xmlns:r='jabber:iq:roster'></r:query></iq>");
  assert_same ("<message><x xmlns='urn:a'><y/></x></message>",
               "<message xmlns:p='urn:a'><p:x><p:y/></p:x></message>");
  /* ... but namespaces, names, values and text do. */
  assert_differs ("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>",
                  "<iq type='get'><query xmlns='jabber:iq:private'/></iq>");
  assert_differs ("<message><body>hi</body></message>",
                  "<message><body>hi </body></message>");
  assert_differs ("<message type='chat'/>", "<message type='normal'/>");
  assert_differs ("<message xml:lang='en'/>", "<message/>");
}

static void
test_children_are_a_multiset (void)
{
  /* Servers list roster items and disco features in hash order. */
  assert_same ("<iq type='result'><query xmlns='jabber:iq:roster'>"
               "<item jid='a@x' subscription='both'/><item jid='b@x'/></query></iq>",
               "<iq type='result'><query xmlns='jabber:iq:roster'>"
               "<item jid='b@x'/><item subscription='both' jid='a@x'/></query></iq>");
  /* The same element twice is not the same as once. */
  assert_differs ("<message><x xmlns='urn:a'/><x xmlns='urn:a'/></message>",
                  "<message><x xmlns='urn:a'/></message>");
}

static void
test_top_level_id_kept_apart (void)
{
  g_autoptr (XmCanon) a = canon ("<iq type='result' id='abc'/>");
  g_autoptr (XmCanon) b = canon ("<iq id='xyz' type='result'/>");
  g_autoptr (XmCanon) inner = canon ("<iq type='result' id='1'><q xmlns='urn:q' id='2'/></iq>");
  g_autoptr (XmCanon) inner2 = canon ("<iq type='result' id='1'><q xmlns='urn:q' id='3'/></iq>");

  g_assert_cmpstr (a->id, ==, "abc");
  g_assert_cmpstr (b->id, ==, "xyz");
  g_assert_true (xm_canon_equal (a, b));
  /* Only the top-level one: ids inside are content. */
  g_assert_false (xm_canon_equal (inner, inner2));
}

static void
test_builtin_normalisations (void)
{
  /* XEP-0203 delay stamps. */
  assert_same ("<presence from='b@x/r'><delay xmlns='urn:xmpp:delay' from='x' stamp='2026-11-21T12:19:37Z'/></presence>",
               "<presence from='b@x/r'><delay xmlns='urn:xmpp:delay' from='x' stamp='2027-01-01T00:00:00Z'/></presence>");
  assert_differs ("<presence><delay xmlns='urn:xmpp:delay' from='x' stamp='1'/></presence>",
                  "<presence><delay xmlns='urn:xmpp:delay' from='y' stamp='1'/></presence>");
  assert_same ("<message><x xmlns='jabber:x:delay' stamp='20020910T23:08:25'/></message>",
               "<message><x xmlns='jabber:x:delay' stamp='20260910T23:08:25'/></message>");
  /* XEP-0359 stanza-id (server-assigned), not origin-id (client). */
  assert_same ("<message><stanza-id xmlns='urn:xmpp:sid:0' by='a@x' id='111'/></message>",
               "<message><stanza-id xmlns='urn:xmpp:sid:0' id='222' by='a@x'/></message>");
  assert_differs ("<message><origin-id xmlns='urn:xmpp:sid:0' id='111'/></message>",
                  "<message><origin-id xmlns='urn:xmpp:sid:0' id='222'/></message>");
  /* XEP-0313 MAM result ids and XEP-0059 page markers. */
  assert_same ("<message><result xmlns='urn:xmpp:mam:2' queryid='q' id='28482-98726-73623'>"
               "<forwarded xmlns='urn:xmpp:forward:0'/></result></message>",
               "<message><result xmlns='urn:xmpp:mam:2' queryid='q' id='09af3-cc343-b409f'>"
               "<forwarded xmlns='urn:xmpp:forward:0'/></result></message>");
  assert_differs ("<message><result xmlns='urn:xmpp:mam:2' queryid='q1' id='1'/></message>",
                  "<message><result xmlns='urn:xmpp:mam:2' queryid='q2' id='1'/></message>");
  assert_same ("<iq type='result'><fin xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>"
               "<first index='0'>aa</first><last>bb</last><count>2</count></set></fin></iq>",
               "<iq type='result'><fin xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>"
               "<first index='0'>cc</first><last>dd</last><count>2</count></set></fin></iq>");
  assert_differs ("<iq type='result'><set xmlns='http://jabber.org/protocol/rsm'><count>2</count></set></iq>",
                  "<iq type='result'><set xmlns='http://jabber.org/protocol/rsm'><count>3</count></set></iq>");
  /* XEP-0115 caps ver, and disco#info on the caps node. */
  assert_same ("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='AAA='/></presence>",
               "<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='BBB='/></presence>");
  assert_same ("<iq type='get'><query xmlns='http://jabber.org/protocol/disco#info' node='http://n#AAA='/></iq>",
               "<iq type='get'><query xmlns='http://jabber.org/protocol/disco#info' node='http://n#BBB='/></iq>");
  assert_differs ("<iq type='get'><query xmlns='http://jabber.org/protocol/disco#info' node='http://n#A'/></iq>",
                  "<iq type='get'><query xmlns='http://jabber.org/protocol/disco#info' node='http://m#A'/></iq>");
  /* Clocks: XEP-0202 time, XEP-0012 last activity. */
  assert_same ("<iq type='result'><time xmlns='urn:xmpp:time'><tzo>+00:00</tzo><utc>2026-11-21T12:00:00Z</utc></time></iq>",
               "<iq type='result'><time xmlns='urn:xmpp:time'><tzo>+01:00</tzo><utc>2027-11-21T12:00:00Z</utc></time></iq>");
  assert_same ("<iq type='result'><query xmlns='jabber:iq:last' seconds='903'/></iq>",
               "<iq type='result'><query xmlns='jabber:iq:last' seconds='2'/></iq>");
  /* XEP-0198 ids and counters; SASL payloads (nonces, proofs). */
  assert_same ("<enabled xmlns='urn:xmpp:sm:3' id='some-long-sm-id' resume='true'/>",
               "<enabled xmlns='urn:xmpp:sm:3' resume='true' id='another-id'/>");
  assert_differs ("<enabled xmlns='urn:xmpp:sm:3' id='x' resume='true'/>",
                  "<enabled xmlns='urn:xmpp:sm:3' id='x'/>");
  assert_same ("<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>cj1meWtvK2QybGJiRmdPTlJ2OXFreGRhd0wzcmZjTkhZSlkxWlZ2V1ZzN2oscz1RU1hDUitRNnNlazhiZjkyLGk9NDA5Ng==</challenge>",
               "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>cj1vdGhlcg==</challenge>");
  assert_differs ("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>",
                  "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><aborted/></failure>");
}

static void
test_features_channel_binding (void)
{
  /* Recorded through xmitm (which strips -PLUS and XEP-0440), replayed
   * directly: the same. */
  assert_same ("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
               "<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>"
               "</stream:features>",
               "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
               "<mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-1-PLUS</mechanism>"
               "<mechanism>SCRAM-SHA-1</mechanism></mechanisms>"
               "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/>"
               "</sasl-channel-binding></stream:features>");
  assert_differs ("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                  "<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>"
                  "</stream:features>",
                  "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                  "<mechanism>PLAIN</mechanism></mechanisms></stream:features>");
}

static const char *
map_live (const char *value, gpointer data)
{
  GHashTable *t = data;

  return g_hash_table_lookup (t, value);
}

static void
test_live_values_mapped (void)
{
  g_autoptr (GHashTable) t = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (XmCanon) rec = NULL, live = NULL, other = NULL;

  /* The resource the server bound this time stands for the recorded one,
   * in attributes and in text; only whole values are mapped. */
  g_hash_table_insert (t, "alice@x/NEW", "alice@x/OLD");
  rec = canon ("<iq type='result' to='alice@x/OLD'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
               "<jid>alice@x/OLD</jid></bind></iq>");
  live = canon_map ("<iq type='result' to='alice@x/NEW'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                    "<jid>alice@x/NEW</jid></bind></iq>", NULL, map_live, t);
  other = canon_map ("<iq type='result' to='alice@x/NEWER'/>", NULL, map_live, t);
  g_assert_true (xm_canon_equal (rec, live));
  g_assert_cmpstr (((XmCanonAttr *) other->attrs->pdata[0])->value, ==, "alice@x/NEWER");
}

static void
test_diff_names_the_roster_item (void)
{
  g_autoptr (XmCanon) rec = canon (
    "<iq type='result' id='r1' to='bob@x/r'><query xmlns='jabber:iq:roster'>"
    "<item name='Carol' jid='carol@x' subscription='both'><group>Friends</group></item>"
    "<item name='Alice' jid='alice@x' subscription='both'><group>Friends</group></item>"
    "</query></iq>");
  g_autoptr (XmCanon) live = canon (
    "<iq type='result' id='r1' to='bob@x/r'><query xmlns='jabber:iq:roster'>"
    "<item name='Alice' jid='alice@x' subscription='both'><group>Friends</group></item>"
    "</query></iq>");
  g_autofree char *diff = xm_canon_diff (rec, live, "  ");

  g_assert_nonnull (diff);
  g_assert_nonnull (strstr (diff, "  iq/query{jabber:iq:roster}: missing item jid='carol@x'\n"));
  g_assert_nonnull (strstr (diff, "  -     <item jid='carol@x' name='Carol' subscription='both'>\n"));
  g_assert_nonnull (strstr (diff, "  -       <group>Friends</group>\n"));
  g_assert_nonnull (strstr (diff, "\n        <item jid='alice@x' name='Alice' subscription='both'>\n"));
  g_assert_null (strstr (diff, "- <item jid='alice"));
  /* The other way round it is unexpected. */
  {
    g_autofree char *back = xm_canon_diff (live, rec, "");
    g_assert_nonnull (strstr (back, "iq/query{jabber:iq:roster}: unexpected item jid='carol@x'\n"));
    g_assert_nonnull (strstr (back, "+     <item jid='carol@x'"));
  }
}

static void
test_diff_attributes_and_text (void)
{
  g_autoptr (XmCanon) rec = canon (
    "<iq type='result'><query xmlns='jabber:iq:roster'>"
    "<item jid='alice@x' subscription='both' name='Alice'><group>Friends</group></item></query></iq>");
  g_autoptr (XmCanon) live = canon (
    "<iq type='result'><query xmlns='jabber:iq:roster'>"
    "<item jid='alice@x' subscription='from' ask='subscribe'><group>Family</group></item></query></iq>");
  g_autofree char *diff = xm_canon_diff (rec, live, "");

  g_assert_nonnull (strstr (diff, "iq/query{jabber:iq:roster}/item[@jid='alice@x']: attribute "
                                  "subscription recorded 'both', now 'from'\n"));
  g_assert_nonnull (strstr (diff, "iq/query{jabber:iq:roster}/item[@jid='alice@x']: attribute "
                                  "name='Alice' is missing\n"));
  g_assert_nonnull (strstr (diff, "iq/query{jabber:iq:roster}/item[@jid='alice@x']: unexpected "
                                  "attribute ask='subscribe'\n"));
  g_assert_nonnull (strstr (diff, "iq/query{jabber:iq:roster}/item[@jid='alice@x']/group: text "
                                  "recorded 'Friends', now 'Family'\n"));
  g_assert_nonnull (strstr (diff, "\n-       <group>Friends</group>\n"));
  g_assert_nonnull (strstr (diff, "\n+       <group>Family</group>\n"));
  g_assert_nonnull (strstr (diff, "\n-     <item jid='alice@x' name='Alice' subscription='both'>\n"));
  g_assert_nonnull (strstr (diff, "\n+     <item ask='subscribe' jid='alice@x' subscription='from'>\n"));
}

static void
test_diff_other_element (void)
{
  g_autoptr (XmCanon) rec = canon ("<iq type='result' id='1'/>");
  g_autoptr (XmCanon) live = canon ("<iq type='error' id='1'><error type='cancel'>"
                                    "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                                    "</error></iq>");
  g_autofree char *diff = xm_canon_diff (rec, live, "");

  g_assert_nonnull (strstr (diff, "iq: attribute type recorded 'result', now 'error'\n"));
  g_assert_nonnull (strstr (diff, "iq: unexpected error type='cancel'\n"));
  g_assert_nonnull (strstr (diff, "\n+     <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\n"));
}

static void
test_diff_quotes_values (void)
{
  g_autoptr (XmCanon) rec = canon ("<message><body>it's &lt;fine&gt;</body></message>");
  g_autoptr (XmCanon) live = canon ("<message><body>two\nlines</body></message>");
  g_autofree char *diff = xm_canon_diff (rec, live, "");

  /* Summary values as they are, C-style escapes; the tree is XML. */
  g_assert_nonnull (strstr (diff, "message/body: text recorded 'it\\'s <fine>', now 'two\\nlines'\n"));
  g_assert_nonnull (strstr (diff, "-   <body>it's &lt;fine&gt;</body>\n"));
}

static XmCanon *
canon_ignoring (const char *xml, const char *const *xpaths)
{
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func ((GDestroyNotify) xm_canon_path_free);

  for (; *xpaths; xpaths++)
    {
      g_autoptr (GError) error = NULL;
      XmCanonPath *p = xm_canon_path_parse (*xpaths, &error);
      g_assert_no_error (error);
      g_ptr_array_add (paths, p);
    }
  return canon_map (xml, paths, NULL, NULL);
}

static void
assert_ignoring (const char *a, const char *b, const char *const *xpaths, gboolean same)
{
  g_autoptr (XmCanon) x = canon_ignoring (a, xpaths), y = canon_ignoring (b, xpaths);

  if (xm_canon_equal (x, y) != same)
    g_error ("%s vs %s ignoring %s: expected %s", a, b, xpaths[0],
             same ? "equal" : "different");
}

static void
test_ignore_paths (void)
{
  const char *v1 = "<iq type='result'><query xmlns='jabber:iq:version'><name>Prosody</name>"
                   "<version>0.12.3</version></query></iq>";
  const char *v2 = "<iq type='result'><query xmlns='jabber:iq:version'><name>Prosody</name>"
                   "<version>0.12.4</version></query></iq>";
  const char *r1 = "<iq type='result'><query xmlns='jabber:iq:roster'><item jid='a@x' name='A'/>"
                   "<item jid='c@x' name='C'/></query></iq>";
  const char *r2 = "<iq type='result'><query xmlns='jabber:iq:roster'><item jid='a@x' name='AA'/></query></iq>";

  assert_ignoring (v1, v2, (const char *const[]) { "//version", NULL }, TRUE);
  assert_ignoring (v1, v2, (const char *const[]) { "version", NULL }, TRUE);
  assert_ignoring (v1, v2, (const char *const[]) { "/iq/query/version", NULL }, TRUE);
  assert_ignoring (v1, v2, (const char *const[]) { "/iq/query/version/text()", NULL }, TRUE);
  assert_ignoring (v1, v2, (const char *const[]) { "//query[@xmlns='jabber:iq:version']/version", NULL }, TRUE);
  assert_ignoring (v1, v2, (const char *const[]) { "//{jabber:iq:version}version", NULL }, TRUE);
  assert_ignoring (v1, v2, (const char *const[]) { "//query[namespace-uri()='jabber:iq:version']", NULL }, TRUE);
  assert_ignoring (v1, v2, (const char *const[]) { "//query[@xmlns='jabber:iq:roster']/version", NULL }, FALSE);
  assert_ignoring (v1, v2, (const char *const[]) { "/version", NULL }, FALSE);
  assert_ignoring (v1, v2, (const char *const[]) { "//name", NULL }, FALSE);
  assert_ignoring (v1, v2, (const char *const[]) { "/iq/*/*", NULL }, TRUE);
  assert_ignoring (v1, v2, (const char *const[]) { "/iq", NULL }, TRUE);

  assert_ignoring (r1, r2, (const char *const[]) { "//item/@name", NULL }, FALSE);
  assert_ignoring (r1, r2, (const char *const[]) { "//item/@name", "//item[@jid='c@x']", NULL }, TRUE);
  assert_ignoring (r1, r2, (const char *const[]) { "//item[@jid='c@x']", "//item/@*", NULL }, TRUE);
  assert_ignoring ("<message><body>a</body><thread>t</thread></message>",
                   "<message><body>b</body></message>",
                   (const char *const[]) { "/message/body", "//thread", NULL }, TRUE);
  assert_ignoring ("<stream:features><ver xmlns='urn:xmpp:features:rosterver'/></stream:features>",
                   "<stream:features/>",
                   (const char *const[]) { "/stream:features/ver", NULL }, TRUE);
}

static void
test_ignore_bad_paths (void)
{
  static const char *const bad[] = { "", "//", "/iq/", "//item[@jid=x]", "//item[@jid='x'",
                                     "//item[jid='x']", "//@id/x", "/iq/text()/x", "@id",
                                     "//{urn:x", "/iq x" };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (XmCanonPath) p = xm_canon_path_parse (bad[i], &error);
      if (p != NULL)
        g_error ("'%s' parsed", bad[i]);
      g_assert_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
      g_assert_nonnull (strstr (error->message, "bad --ignore"));
    }
}

static void
test_format (void)
{
  g_autoptr (XmCanon) c = canon ("<message type='chat' id='m1' to='b@x'>"
                                 "<body>a &lt; b &amp; 'c'</body>"
                                 "<active xmlns='http://jabber.org/protocol/chatstates'/></message>");
  g_autoptr (GString) out = g_string_new (NULL);
  g_autofree char *d = xm_canon_describe (c);

  xm_canon_format (c, "> ", out);
  g_assert_cmpstr (out->str, ==,
                   "> <message id='m1' to='b@x' type='chat'>\n"
                   ">   <active xmlns='http://jabber.org/protocol/chatstates'/>\n"
                   ">   <body>a &lt; b &amp; 'c'</body>\n"
                   "> </message>\n");
  g_assert_cmpstr (d, ==, "message type='chat'");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/replay-canon/syntax-does-not-matter", test_syntax_does_not_matter);
  g_test_add_func ("/replay-canon/children-are-a-multiset", test_children_are_a_multiset);
  g_test_add_func ("/replay-canon/top-level-id-kept-apart", test_top_level_id_kept_apart);
  g_test_add_func ("/replay-canon/builtin-normalisations", test_builtin_normalisations);
  g_test_add_func ("/replay-canon/features-channel-binding", test_features_channel_binding);
  g_test_add_func ("/replay-canon/live-values-mapped", test_live_values_mapped);
  g_test_add_func ("/replay-canon/diff-names-the-roster-item", test_diff_names_the_roster_item);
  g_test_add_func ("/replay-canon/diff-attributes-and-text", test_diff_attributes_and_text);
  g_test_add_func ("/replay-canon/diff-other-element", test_diff_other_element);
  g_test_add_func ("/replay-canon/diff-quotes-values", test_diff_quotes_values);
  g_test_add_func ("/replay-canon/ignore-paths", test_ignore_paths);
  g_test_add_func ("/replay-canon/ignore-bad-paths", test_ignore_bad_paths);
  g_test_add_func ("/replay-canon/format", test_format);
  return g_test_run ();
}
