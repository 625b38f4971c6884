/* test-xml-scan.c: the fast scanner (decoders/xml-scan.h) and the framer's
 * lazy mode that uses it.
 *
 * The scanner's promise is checked against expat itself: a lazy framer and
 * a full one are fed the same streams (the seed transcripts, hand-written
 * hostile cases, and thousands of random mutations of them) in random
 * chunks, and must report the same events: the same stanzas at the same
 * offsets with the same bytes, roots and attributes, the same problems at
 * the same offsets, the same keepalive bytes, opens and closes. */
#include <string.h>

#include <glib.h>

#include "xml-framer.h"
#include "xml-scan.h"

#define HEADER                                                               \
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "               \
  "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' "        \
  "version='1.0' xml:lang='en'>"

/* ---- the scanner alone ---- */

typedef struct {
  const char *xml;
  XmScanResult result;
  gboolean plain;     /* when done */
  gssize end;         /* when done; -1: the whole input */
} ScanCase;

static const ScanCase scan_cases[] = {
  { "<a/>", XM_SCAN_DONE, TRUE, -1 },
  { "<a></a>", XM_SCAN_DONE, TRUE, -1 },
  { "<a></a><b/>", XM_SCAN_DONE, TRUE, 7 },
  { "<message to='a@b/c' id=\"1\" type='chat'><body>hi &amp; &#233; &#x1F600; \xc3\xa9</body></message>",
    XM_SCAN_DONE, TRUE, -1 },
  { "<a xml:lang='en' b = 'x' >t</a >", XM_SCAN_DONE, TRUE, -1 },
  { "<a><b xmlns='urn:x'><c/></b></a>", XM_SCAN_DONE, TRUE, -1 },
  { "<a b='&lt;&gt;&quot;&apos;'>x>y</a>", XM_SCAN_DONE, TRUE, -1 },
  /* the end is certain, the XML is expat's to judge */
  { "<a>&nbsp;</a>", XM_SCAN_DONE, FALSE, -1 },
  { "<a>&#0;</a>", XM_SCAN_DONE, FALSE, -1 },
  { "<a>&#xD800;</a>", XM_SCAN_DONE, FALSE, -1 },
  { "<a>& b</a>", XM_SCAN_DONE, FALSE, -1 },
  { "<a>]]></a>", XM_SCAN_DONE, FALSE, -1 },
  { "<a>\x01</a>", XM_SCAN_DONE, FALSE, -1 },
  { "<a>\xff</a>", XM_SCAN_DONE, FALSE, -1 },
  { "<a>\xc0\x80</a>", XM_SCAN_DONE, FALSE, -1 },
  { "<a>\xed\xa0\x80</a>", XM_SCAN_DONE, FALSE, -1 },
  { "<a>\xef\xbf\xbe</a>", XM_SCAN_DONE, FALSE, -1 },
  { "<a b='1' b='2'/>", XM_SCAN_DONE, FALSE, -1 },
  /* attribute names compared eight bytes at a time, then the rest */
  { "<a abcdefgh='1' abcdefgi='2' abcdefg='3' abcdefghi='4' abcdefghj='5'/>",
    XM_SCAN_DONE, TRUE, -1 },
  { "<a abcdefgh='1' x='2' abcdefgh='3'/>", XM_SCAN_DONE, FALSE, -1 },
  { "<a abcdefghijk='1' abcdefghijk='2'/>", XM_SCAN_DONE, FALSE, -1 },
  { "<a ab='1' abc='2' a='3'/>", XM_SCAN_DONE, TRUE, -1 },
  { "<a b='1'/>", XM_SCAN_DONE, TRUE, -1 },
  { "<a b= '1' c ='2' d = \"3\"/>", XM_SCAN_DONE, TRUE, -1 },
  /* end tags compared eight bytes at a time */
  { "<abcdefgh>x</abcdefgh>", XM_SCAN_DONE, TRUE, -1 },
  { "<abcdefghijkl>x</abcdefghijkl>", XM_SCAN_DONE, TRUE, -1 },
  { "<abcdefgh>x</abcdefgi>", XM_SCAN_GIVE_UP, FALSE, 0 },
  { "<abcdefghijkl>x</abcdefghijkm>", XM_SCAN_GIVE_UP, FALSE, 0 },
  { "<presence>x</p\nesence>", XM_SCAN_GIVE_UP, FALSE, 0 },
  { "<ab>x</ac>", XM_SCAN_GIVE_UP, FALSE, 0 },
  { "<message><body>x</body></message>", XM_SCAN_DONE, TRUE, -1 },
  { "<a b='<'/>", XM_SCAN_DONE, FALSE, -1 },
  { "<p:a xmlns:p='urn:x'/>", XM_SCAN_DONE, FALSE, -1 },
  { "<a xmlns:p='urn:x'/>", XM_SCAN_DONE, FALSE, -1 },
  { "<a p:b='1'/>", XM_SCAN_DONE, FALSE, -1 },
  { "<a xml:-b='1'/>", XM_SCAN_GIVE_UP, FALSE, 0 },
  { "<a:/>", XM_SCAN_GIVE_UP, FALSE, 0 },
  { "<a xmlns='http://www.w3.org/XML/1998/namespace'/>", XM_SCAN_DONE, FALSE, -1 },
  { "<a xmlns='urn:&amp;'/>", XM_SCAN_DONE, FALSE, -1 },
  { "<\xc3\xa9/>", XM_SCAN_GIVE_UP, FALSE, 0 },
  { "<a\xc3\xa9/>", XM_SCAN_GIVE_UP, FALSE, 0 },
  /* uncertain ends */
  { "<a><!-- x --></a>", XM_SCAN_GIVE_UP, FALSE, 0 },
  { "<a><![CDATA[<]]></a>", XM_SCAN_GIVE_UP, FALSE, 0 },
  { "<a><?pi x?></a>", XM_SCAN_GIVE_UP, FALSE, 0 },
  { "<a></b>", XM_SCAN_GIVE_UP, FALSE, 0 },
  { "<a b></a>", XM_SCAN_GIVE_UP, FALSE, 0 },
  { "<a b='1'c='2'/>", XM_SCAN_GIVE_UP, FALSE, 0 },
  { "<a>< b/></a>", XM_SCAN_GIVE_UP, FALSE, 0 },
  { "<stream:stream xmlns='jabber:client'>", XM_SCAN_GIVE_UP, FALSE, 0 },
  { "<stream>", XM_SCAN_GIVE_UP, FALSE, 0 },
  /* not yet complete */
  { "<a", XM_SCAN_MORE, FALSE, 0 },
  { "<a b='x", XM_SCAN_MORE, FALSE, 0 },
  { "<a>text", XM_SCAN_MORE, FALSE, 0 },
  { "<a>&am", XM_SCAN_MORE, FALSE, 0 },
  { "<a>\xc3", XM_SCAN_MORE, FALSE, 0 },
  { "<a></a", XM_SCAN_MORE, FALSE, 0 },
  { "<a><b/>", XM_SCAN_MORE, FALSE, 0 },
};

static void
test_scan_cases (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (scan_cases); i++)
    {
      const ScanCase *c = &scan_cases[i];
      gsize len = strlen (c->xml), end = 0;
      XmScan scan;
      XmScanResult r;

      xm_scan_init (&scan);
      r = xm_scan_element (&scan, (const guint8 *) c->xml, len, &end);
      if (r != c->result)
        g_error ("%s: result %d, want %d", c->xml, r, c->result);
      if (r == XM_SCAN_DONE)
        {
          if (xm_scan_is_plain (&scan) != c->plain)
            g_error ("%s: plain %d, want %d", c->xml,
                     xm_scan_is_plain (&scan), c->plain);
          g_assert_cmpuint (end, ==, c->end < 0 ? len : (gsize) c->end);
        }
      xm_scan_clear (&scan);
    }
}

/* Fed one byte at a time (each call with one more byte), the scanner ends
 * where it ends when fed all at once. */
static void
test_scan_bytewise (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (scan_cases); i++)
    {
      const ScanCase *c = &scan_cases[i];
      gsize len = strlen (c->xml), end = 0;
      XmScanResult r = XM_SCAN_MORE;
      XmScan scan;

      if (c->result != XM_SCAN_DONE)
        continue;
      xm_scan_init (&scan);
      for (gsize n = 1; n <= len && r == XM_SCAN_MORE; n++)
        r = xm_scan_element (&scan, (const guint8 *) c->xml, n, &end);
      g_assert_cmpint (r, ==, XM_SCAN_DONE);
      g_assert_cmpuint (end, ==, c->end < 0 ? len : (gsize) c->end);
      g_assert_cmpint (xm_scan_is_plain (&scan), ==, c->plain);
      xm_scan_clear (&scan);
    }
}

/* ---- lazy framer against full framer ---- */

typedef struct {
  GString *log;
  gboolean lazy;
  guint shallow;
  guint64 ws;  /* keepalive bytes not yet logged */
} Log;

/* Keepalive bytes are summed over the whole stream: where expat reports
 * whitespace next to stray text depends on its chunking (it holds back a
 * trailing CR), and the lazy framer may cut that run elsewhere. */
static void
log_ws (Log *l)
{
}

static gboolean
is_shallow_kind (const XmNode *el)
{
  return strcmp (el->name, "message") == 0 || strcmp (el->name, "presence") == 0;
}

static void
log_root (Log *l, const XmNode *el)
{
  g_string_append_printf (l->log, " <%s%s%s ns=%s", el->prefix ? el->prefix : "",
                          el->prefix ? ":" : "", el->name, el->ns ? el->ns : "-");
  /* shallow roots (messages and presences) have no attributes */
  for (guint i = 0; !is_shallow_kind (el) && i < el->n_attrs; i++)
    {
      const XmAttr *a = &el->attrs[i];
      g_autofree char *v = g_strescape (a->value, NULL);
      g_string_append_printf (l->log, " {%s}%s%s%s=\"%s\"", a->ns ? a->ns : "",
                              a->prefix ? a->prefix : "", a->prefix ? ":" : "",
                              a->name, v);
    }
  for (guint i = 0; i < el->n_ns_decls; i++)
    g_string_append_printf (l->log, " xmlns:%s=%s",
                            el->ns_decls[i].prefix ? el->ns_decls[i].prefix : "",
                            el->ns_decls[i].uri);
  g_string_append_printf (l->log, " tag=%" G_GSIZE_FORMAT " content=%" G_GSIZE_FORMAT
                          "-%" G_GSIZE_FORMAT ">", el->tag_start,
                          el->content_start, el->content_end);
}

static void
log_item (Log *l, const char *what, XmStanza *st)
{
  log_ws (l);
  g_string_append_printf (l->log, "%s @%" G_GUINT64_FORMAT " len=%" G_GSIZE_FORMAT,
                          what, st->offset, st->raw_len);
  if (st->raw)
    {
      g_autofree char *raw = g_strndup ((const char *) st->raw, st->raw_len);
      g_autofree char *esc = g_strescape (raw, NULL);
      g_string_append_printf (l->log, " \"%s\"", esc);
    }
  if (st->root)
    log_root (l, st->root);
  g_string_append_c (l->log, '\n');
  if (st->shallow)
    {
      g_assert_true (l->lazy);
      g_assert_null (st->root->children);
      g_assert_cmpuint (st->root->n_attrs, ==, 0);
      l->shallow++;
    }
}

static void
on_open (XmStanza *st, gpointer ud)
{
  log_item (ud, "open", st);
}

static void
on_stanza (XmStanza *st, gpointer ud)
{
  log_item (ud, "stanza", st);
}

static void
on_keepalive (gsize n, gpointer ud)
{
  ((Log *) ud)->ws += n;
}

static void
on_close (guint64 offset, gpointer ud)
{
  Log *l = ud;
  log_ws (l);
  g_string_append_printf (l->log, "close @%" G_GUINT64_FORMAT "\n", offset);
}

static void
on_problem (XmFramerProblem kind, guint64 offset, const char *message, gpointer ud)
{
  Log *l = ud;
  log_ws (l);
  g_string_append_printf (l->log, "problem %d @%" G_GUINT64_FORMAT " %s\n", kind,
                          offset, message);
}

static const XmFramerEvents events = { on_open, on_stanza, on_keepalive, on_close,
                                       on_problem };

/* Feeds data in chunks cut at the given points (sorted, < len). */
static char *
run (const guint8 *data, gsize len, gboolean lazy, const gsize *cuts, guint n_cuts,
     gsize max_stanza, guint *shallow)
{
  Log l = { g_string_new (NULL), lazy, 0, 0 };
  g_autoptr (XmFramer) f = xm_framer_new (&events, &l);
  gsize from = 0;

  xm_framer_set_lazy (f, lazy);
  if (max_stanza)
    xm_framer_set_max_stanza (f, max_stanza);
  for (guint i = 0; i <= n_cuts; i++)
    {
      gsize to = i < n_cuts ? cuts[i] : len;
      while (from < to)
        from += xm_framer_feed (f, data + from, to - from);
    }
  g_string_append_printf (l.log, "keepalive bytes %" G_GUINT64_FORMAT "\n", l.ws);
  g_string_append_printf (l.log, "offset %" G_GUINT64_FORMAT " pending %" G_GUINT64_FORMAT
                          " stalled %d\n", xm_framer_offset (f),
                          xm_framer_pending_offset (f), xm_framer_is_stalled (f));
  if (shallow)
    *shallow += l.shallow;
  return g_string_free (l.log, FALSE);
}

static int
cmp_size (gconstpointer a, gconstpointer b)
{
  gsize x = *(const gsize *) a, y = *(const gsize *) b;
  return x < y ? -1 : x > y;
}

/* A lazy framer must report what a full one reports, fed the same chunks:
 * whole, in random chunks, and byte by byte. Returns how many stanzas the
 * lazy runs handed out shallow. */
static guint
check_same (GRand *rand, const guint8 *data, gsize len, gsize max_stanza)
{
  guint shallow = 0;

  for (guint round = 0; round < 4; round++)
    {
      g_autofree gsize *cuts = g_new (gsize, MAX (len, 16));
      guint n = 0;
      g_autofree char *want = NULL, *got = NULL;

      if (round == 1 && len)
        for (n = 0; n < 16; n++)
          cuts[n] = g_rand_int_range (rand, 0, (gint32) len);
      else if (round == 2 && len)
        for (n = 0; n < 3; n++)
          cuts[n] = g_rand_int_range (rand, 0, (gint32) len);
      else if (round == 3)
        for (gsize i = 1; i < len && n < 4096; i++)
          cuts[n++] = i; /* byte by byte, up to a few kilobytes */
      qsort (cuts, n, sizeof cuts[0], cmp_size);
      want = run (data, len, FALSE, cuts, n, max_stanza, NULL);
      got = run (data, len, TRUE, cuts, n, max_stanza, &shallow);
      if (g_strcmp0 (got, want) != 0)
        {
          g_autofree char *in = g_strndup ((const char *) data, len);
          g_autofree char *esc = g_strescape (in, NULL);
          g_printerr ("input: \"%s\"\nround %u, cuts:", esc, round);
          for (guint i = 0; i < n; i++)
            g_printerr (" %" G_GSIZE_FORMAT, cuts[i]);
          g_printerr ("\nfull framer:\n%s\nlazy framer:\n%s\n", want, got);
          g_assert_not_reached ();
        }
    }
  return shallow;
}

/* Streams that exercise each branch of the scanner and the framer. */
static const char *const streams[] = {
  HEADER "<message to='bob@example.com' id='m1' type='chat'><body>hello</body></message>"
  " \n <presence/><presence xml:lang='de'><show>away</show></presence>"
  "<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>"
  "<message xmlns='jabber:client' to='a\tb&#9;c&#10;\r\nd'><body>&lt;x&gt; \xc3\xa9\xf0\x9f\x98\x80</body></message>"
  "</stream:stream>",
  HEADER "<message><body>a</body></message><!-- comment --><message><body>b</body></message>",
  HEADER "<message><body>a<!-- inside --></body></message><message/>",
  HEADER "<message><body><![CDATA[<b>]]></body></message><message/>",
  HEADER "<message>stray?</message>stray text<message/>",
  HEADER "<message><body>a</bogus></message><message/>",
  HEADER "<message><body>&nbsp;</body></message><message/>",
  HEADER "<message><body>\xff</body></message><message/>",
  HEADER "<message a='1' a='2'/><message/>",
  HEADER "<message xmlns='urn:other'/><message xmlns=''/><presence/>",
  HEADER "<message xmlns:x='urn:x'><x:y/></message><message/>",
  HEADER "<message><body>one</body></message><?xml version='1.0'?>" HEADER
  "<message><body>two</body></message>",
  HEADER "<message/>" HEADER "<message/>",
  HEADER "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"
  "<message/>",
  HEADER "<message><body>" "0123456789012345678901234567890123456789" "</body></message><message/>",
  "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
  "<message><body>no default namespace</body></message></stream:stream>",
  "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>"
  "<message from='a' to='b'/><presence type='probe'/></stream:stream>",
  HEADER "<!DOCTYPE x [<!ENTITY a 'b'>]><message/>",
  HEADER "<message><a><b><c><d><e/></d></c></b></a></message>",
  HEADER "<message to=\"x'y\" id='a\"b'/>",
  /* 64 levels, then 65 (the framer's limit) with an empty element */
  HEADER "<message><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a>"
  "<a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a>"
  "<a><a><a><a><a><a><a><b/></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a>"
  "</a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a>"
  "</a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a>"
  "</a></message><message/>",
  HEADER "<message><body>]]</body></message><message><body>]]&gt;</body></message>",
};

static const char alphabet[] = "<>/&;'\"=: \r\n\t\x00#x]![-?abm\xc3\xa9\xff";

static void
mutate (GRand *rand, GByteArray *b)
{
  guint n = g_rand_int_range (rand, 1, 4);

  for (guint i = 0; i < n && b->len; i++)
    {
      guint at = g_rand_int_range (rand, 0, (gint32) b->len);
      guint8 c = (guint8) alphabet[g_rand_int_range (rand, 0, sizeof alphabet - 1)];
      switch (g_rand_int_range (rand, 0, 3))
        {
        case 0:
          b->data[at] = c;
          break;
        case 1:
          g_byte_array_append (b, &c, 1);
          memmove (b->data + at + 1, b->data + at, b->len - at - 1);
          b->data[at] = c;
          break;
        default:
          g_byte_array_remove_index (b, at);
          break;
        }
    }
}

static void
test_lazy_streams (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (1);
  guint shallow = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (streams); i++)
    {
      gsize len = strlen (streams[i]);
      shallow += check_same (rand, (const guint8 *) streams[i], len, 0);
      shallow += check_same (rand, (const guint8 *) streams[i], len, 40);
    }
  {
    static const char nul[] = HEADER "<message><body>a\0b</body></message><message/>";
    check_same (rand, (const guint8 *) nul, sizeof nul - 1, 0);
  }
  /* the lazy framer did take the fast path */
  g_assert_cmpuint (shallow, >, 20);
}

/* expat reads what the scanner cannot (the header, a prefixed element, an
 * element after a give-up) and stops after it when a message or presence
 * follows, so that the scanner frames the rest of the same feed. Without
 * that, a feed ending inside a stanza kept expat reading every following
 * feed. */
static void
test_lazy_handover (void)
{
  g_autoptr (GString) in = g_string_new (HEADER "<stream:features><bind "
                                         "xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
                                         "</stream:features>");
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  g_autofree char *want = NULL, *got = NULL;
  guint shallow = 0;
  const guint n = 40;

  for (guint i = 0; i < n; i++)
    {
      if (i == n / 2)
        g_string_append (in, "<iq type='result' id='r'><x:y xmlns:x='urn:x'/></iq>");
      g_string_append_printf (in, "<message id='m%u'><body>%u</body></message>\n", i, i);
    }
  /* one feed, then cut short of the end: expat meets a cut stanza last */
  want = run ((const guint8 *) in->str, in->len, FALSE, NULL, 0, 0, NULL);
  got = run ((const guint8 *) in->str, in->len, TRUE, NULL, 0, 0, &shallow);
  g_assert_cmpstr (got, ==, want);
  g_assert_cmpuint (shallow, ==, n);
  {
    gsize cut = in->len - 10;

    shallow = 0;
    g_free (got);
    got = run ((const guint8 *) in->str, in->len, TRUE, &cut, 1, 0, &shallow);
    g_assert_cmpstr (got, ==, want);
    g_assert_cmpuint (shallow, ==, n);
  }
  check_same (rand, (const guint8 *) in->str, in->len, 0);
}

static void
test_lazy_seeds (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (2);
  g_autofree char *dir = g_test_build_filename (G_TEST_DIST, "data", "seeds", NULL);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint files = 0;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)))
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *data = NULL;
      gsize len;

      if (!g_str_has_suffix (name, ".xml"))
        continue;
      g_assert_true (g_file_get_contents (path, &data, &len, NULL));
      check_same (rand, (const guint8 *) data, len, 0);
      files++;
    }
  g_assert_cmpuint (files, >, 0);
}

/* Random mutations of every stream: whatever the scanner calls plain must
 * be what expat accepts, and what it gives up on must come out the same. */
static void
test_lazy_mutations (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (3);
  guint rounds = g_test_slow () ? 200000 : 6000;

  for (guint r = 0; r < rounds; r++)
    {
      const char *s = streams[r % G_N_ELEMENTS (streams)];
      g_autoptr (GByteArray) b = g_byte_array_new ();
      g_byte_array_append (b, (const guint8 *) s, strlen (s));
      mutate (rand, b);
      check_same (rand, b->data, b->len, r % 7 == 0 ? 64 : 0);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/scan/cases", test_scan_cases);
  g_test_add_func ("/scan/bytewise", test_scan_bytewise);
  g_test_add_func ("/scan/lazy/streams", test_lazy_streams);
  g_test_add_func ("/scan/lazy/handover", test_lazy_handover);
  g_test_add_func ("/scan/lazy/seeds", test_lazy_seeds);
  g_test_add_func ("/scan/lazy/mutations", test_lazy_mutations);
  return g_test_run ();
}
