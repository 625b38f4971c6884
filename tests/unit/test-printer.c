/* test-printer.c: the printer against golden output.
 *
 * A session of stanzas is framed with the real framer and printed with fixed
 * timestamps; the text must equal tests/data/printer/NAME.txt. To review a
 * change, run with XMITM_WRITE_GOLDEN=1 and read the diff of the files. */
#include "config.h"

#include <string.h>

#include "printer.h"
#include "xml-framer.h"

#define T0 G_GINT64_CONSTANT (1795000000123456) /* 2026-11-18T09:06:40.123456Z */

typedef struct {
  XmPrinterOptions opts;
  GString *out;
  XmDir dir;
  gint64 time;
  XmSasl *sasl;
} Ctx;

static void
print_event (Ctx *c, XmEvent *ev)
{
  ev->conn = 7;
  ev->time_us = c->time;
  c->time += 1001;
  xm_printer_format (&c->opts, ev, c->out);
}

static void
on_open (XmStanza *h, gpointer ud)
{
  Ctx *c = ud;
  XmEvent ev = { .kind = XM_EVENT_STREAM_OPEN, .dir = c->dir, .stanza = h };
  print_event (c, &ev);
}

static void
on_stanza (XmStanza *st, gpointer ud)
{
  Ctx *c = ud;
  XmEvent ev = { .kind = XM_EVENT_STANZA, .dir = c->dir, .stanza = st };
  g_autoptr (XmSaslDecode) d = NULL;

  print_event (c, &ev);
  d = xm_sasl_decode (c->sasl, st->root, c->dir == XM_DIR_C2S);
  if (d)
    {
      XmEvent dev = { .kind = XM_EVENT_SASL, .dir = c->dir, .sasl = d };
      print_event (c, &dev);
    }
}

static void
on_keepalive (gsize n, gpointer ud)
{
  Ctx *c = ud;
  XmEvent ev = { .kind = XM_EVENT_KEEPALIVE, .dir = c->dir, .count = n };
  print_event (c, &ev);
}

static void
on_close (guint64 off, gpointer ud)
{
  Ctx *c = ud;
  XmEvent ev = { .kind = XM_EVENT_STREAM_CLOSE, .dir = c->dir };
  print_event (c, &ev);
}

static void
on_problem (XmFramerProblem kind, guint64 off, const char *msg, gpointer ud)
{
  Ctx *c = ud;
  XmEvent ev = { .kind = XM_EVENT_NOTE, .dir = c->dir, .level = XM_NOTE_WARNING,
                 .text = msg };
  print_event (c, &ev);
}

static const XmFramerEvents events = {
  on_open, on_stanza, on_keepalive, on_close, on_problem,
};

#define HDR_C "<?xml version='1.0'?><stream:stream to='example.com' " \
  "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " \
  "xml:lang='en' version='1.0'>"
#define HDR_S "<?xml version='1.0'?><stream:stream from='example.com' id='s1' " \
  "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " \
  "version='1.0'>"

static const char *client_xml =
  HDR_C
  "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>"
  " "
  "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>"
  "<message to='romeo@example.net' type='chat' id='m1' xml:lang='en'>"
  "<body>Art thou not Romeo, &amp; a Montague? &lt;3 \xe2\x98\x83</body>"
  "<thread>t'1\"</thread></message>"
  "<iq type='set' id='a1'><query xmlns='jabber:iq:auth'><username>juliet</username>"
  "<password>r0m30myr0m30</password><resource>x</resource></query></iq>"
  "<presence><status>tab\there\nnewline</status><c xmlns='http://jabber.org/protocol/caps' "
  "hash='sha-1' node='n' ver='q&apos;&lt;&#10;'/></presence>"
  "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>"
  "AGp1bGlldAByMG0zMG15cjBtMzA=</initial-response>"
  "<fast xmlns='urn:xmpp:fast:0'/></authenticate>"
  "<token xmlns='urn:xmpp:fast:0' expiry='2026-12-01T00:00:00Z' token='WXZzciBpcyBub3QgYSB0b2tlbg=='/>"
  "<message to='a@b'><body>";
static const char *client_tail =
  "</body></message>"
  "<!-- not allowed -->"
  "</stream:stream>";

static const char *server_xml =
  HDR_S
  "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
  "<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>"
  "</stream:features>\n"
  "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>";

static char *
render (const XmPrinterOptions *opts)
{
  Ctx c = { .opts = *opts, .out = g_string_new (NULL), .time = T0, .sasl = xm_sasl_new () };
  g_autofree char *longtext = g_strnfill (600, 'A');
  g_autofree char *cx = g_strconcat (client_xml, longtext, client_tail, NULL);
  XmEvent ev = { 0 };
  XmFramer *f;

  ev.kind = XM_EVENT_CONN_OPEN;
  ev.text = "client 127.0.0.1:40000, upstream example.com:5222";
  print_event (&c, &ev);

  c.dir = XM_DIR_C2S;
  f = xm_framer_new (&events, &c);
  xm_framer_feed (f, (const guint8 *) cx, strlen (cx));
  xm_framer_free (f);

  c.dir = XM_DIR_S2C;
  f = xm_framer_new (&events, &c);
  xm_framer_feed (f, (const guint8 *) server_xml, strlen (server_xml));
  xm_framer_free (f);

  memset (&ev, 0, sizeof ev);
  ev.kind = XM_EVENT_LAYER;
  ev.dir = XM_DIR_S2C;
  ev.text = "SASL success: both streams restart";
  print_event (&c, &ev);

  memset (&ev, 0, sizeof ev);
  ev.kind = XM_EVENT_NOTE;
  ev.dir = XM_DIR_NONE;
  ev.level = XM_NOTE_ERROR;
  ev.text = "cannot connect to upstream example.com:5222: Connection refused";
  print_event (&c, &ev);

  memset (&ev, 0, sizeof ev);
  ev.kind = XM_EVENT_CONN_CLOSE;
  ev.text = "both sides closed";
  ev.bytes[XM_DIR_C2S] = 1234;
  ev.bytes[XM_DIR_S2C] = 5678;
  print_event (&c, &ev);

  xm_sasl_free (c.sasl);
  return g_string_free (c.out, FALSE);
}

static void
check_golden (const char *name, const XmPrinterOptions *opts)
{
  g_autofree char *got = render (opts);
  g_autofree char *file = g_strconcat (name, ".txt", NULL);
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", "printer", file, NULL);
  g_autofree char *want = NULL;
  g_autoptr (GError) error = NULL;

  if (g_getenv ("XMITM_WRITE_GOLDEN"))
    {
      g_file_set_contents (path, got, -1, &error);
      g_assert_no_error (error);
    }
  g_file_get_contents (path, &want, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got, ==, want);
}

static void
test_plain (void)
{
  XmPrinterOptions o;
  xm_printer_options_init (&o);
  check_golden ("plain", &o);
}

static void
test_utc (void)
{
  XmPrinterOptions o;
  xm_printer_options_init (&o);
  o.utc = TRUE;
  check_golden ("utc", &o);
}

static void
test_color (void)
{
  XmPrinterOptions o;
  xm_printer_options_init (&o);
  o.color = TRUE;
  check_golden ("color", &o);
}

static void
test_full (void)
{
  XmPrinterOptions o;
  xm_printer_options_init (&o);
  o.max_text = 0;
  o.show_secrets = TRUE;
  o.hide_keepalives = TRUE;
  check_golden ("full-secrets", &o);
}

/* Secrets must not be recoverable from the default output. */
static void
test_secrets_absent (void)
{
  XmPrinterOptions o;
  g_autofree char *out = NULL;

  xm_printer_options_init (&o);
  out = render (&o);
  g_assert_null (strstr (out, "AGp1bGlldAByMG0zMG15cjBtMzA="));
  g_assert_null (strstr (out, "r0m30myr0m30"));
  g_assert_null (strstr (out, "WXZzciBpcyBub3QgYSB0b2tlbg=="));
  o.show_secrets = TRUE;
  g_free (out);
  out = render (&o);
  g_assert_nonnull (strstr (out, "AGp1bGlldAByMG0zMG15cjBtMzA="));
  g_assert_nonnull (strstr (out, "r0m30myr0m30"));
  g_assert_nonnull (strstr (out, "WXZzciBpcyBub3QgYSB0b2tlbg=="));
}

/* Escaping round-trips: every printed text and attribute parses back to the
 * values the framer saw. */
static void
test_escaping (void)
{
  XmPrinterOptions o;
  g_autofree char *out = NULL;

  xm_printer_options_init (&o);
  out = render (&o);
  g_assert_nonnull (strstr (out, "<body>Art thou not Romeo, &amp; a Montague? &lt;3 \xe2\x98\x83</body>"));
  g_assert_nonnull (strstr (out, "<thread>t'1\"</thread>"));
  g_assert_nonnull (strstr (out, "ver='q&apos;&lt;&#10;'"));
  g_assert_nonnull (strstr (out, "<status>tab\there\nnewline</status>"));
}

static void
test_color_modes (void)
{
  XmColorMode m;

  g_assert_true (xm_color_mode_parse ("always", &m) && m == XM_COLOR_ALWAYS);
  g_assert_true (xm_color_mode_parse ("never", &m) && m == XM_COLOR_NEVER);
  g_assert_true (xm_color_mode_parse ("auto", &m) && m == XM_COLOR_AUTO);
  g_assert_false (xm_color_mode_parse ("sometimes", &m));
  g_assert_true (xm_color_mode_resolve (XM_COLOR_ALWAYS, stdout));
  g_assert_false (xm_color_mode_resolve (XM_COLOR_NEVER, stdout));
  g_setenv ("NO_COLOR", "1", TRUE);
  g_assert_false (xm_color_mode_resolve (XM_COLOR_AUTO, stdout));
  g_assert_true (xm_color_mode_resolve (XM_COLOR_ALWAYS, stdout));
  g_unsetenv ("NO_COLOR");
}

/* --max-text shortens the values of a SASL decode line as it does text. */
static void
test_sasl_max_text (void)
{
  XmPrinterOptions o;
  g_autofree char *out = NULL;

  xm_printer_options_init (&o);
  o.show_secrets = TRUE;
  o.max_text = 4;
  out = render (&o);
  g_assert_nonnull (strstr (out, "decoded: SASL PLAIN auth: authzid='' "
                            "authcid='juli'…[+2 bytes, --full-text shows all] "
                            "password='r0m3'…[+8 bytes, --full-text shows all]\n"));
  g_assert_null (strstr (out, "juliet"));
}

/* One stream header framed and printed as direction dir. */
static char *
header_line (const char *xml, XmDir dir)
{
  Ctx c = { .out = g_string_new (NULL), .time = T0, .sasl = xm_sasl_new (), .dir = dir };
  XmFramer *f = xm_framer_new (&events, &c);

  xm_printer_options_init (&c.opts);
  c.opts.utc = TRUE;
  xm_framer_feed (f, (const guint8 *) xml, strlen (xml));
  xm_framer_free (f);
  xm_sasl_free (c.sasl);
  return g_string_free (c.out, FALSE);
}

#define S2S_OPEN "<stream:stream xmlns='jabber:server' " \
  "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' "

/* An s2s stream is named by its domains, initiating -> receiving, on the
 * headers of both directions; a c2s stream, or one without both domains,
 * is not; a hostile domain is escaped and cut. */
static void
test_s2s_label (void)
{
  g_autofree char *c2s = header_line (S2S_OPEN "from='a.test' to='b.test'>", XM_DIR_C2S);
  g_autofree char *s2c = header_line (S2S_OPEN "from='b.test' to='a.test' id='x'>", XM_DIR_S2C);
  g_autofree char *client = header_line (HDR_C, XM_DIR_C2S);
  g_autofree char *no_from = header_line (S2S_OPEN "to='b.test'>", XM_DIR_C2S);
  g_autofree char *long_name = g_strnfill (300, 'x');
  g_autofree char *hostile_xml = g_strconcat (S2S_OPEN "from='a&#10;", long_name,
                                              "' to='b.test'>", NULL);
  g_autofree char *hostile = header_line (hostile_xml, XM_DIR_C2S);
  g_autofree char *cut = g_strconcat (" #7 a&#10;", long_name + 300 - 126, "… -> b.test C->S stream open", NULL);

  g_assert_nonnull (strstr (c2s, " #7 a.test -> b.test C->S stream open, "));
  g_assert_nonnull (strstr (s2c, " #7 a.test -> b.test S->C stream open, "));
  g_assert_nonnull (strstr (client, " #7 C->S stream open, "));
  g_assert_nonnull (strstr (no_from, " #7 C->S stream open, "));
  g_assert_nonnull (strstr (hostile, cut));
}

/* xm_xml_escape looks at eight bytes at a time: the same output as one
 * byte at a time, for every byte value at every position of a word, for
 * runs of bytes that need escaping, and for random strings. */
static void
escape_one_by_one (GString *out, const guchar *s, gsize len, gboolean attr)
{
  for (gsize i = 0; i < len; i++)
    {
      guchar c = s[i];

      if (c == '&')
        g_string_append (out, "&amp;");
      else if (c == '<')
        g_string_append (out, "&lt;");
      else if (c == '>')
        g_string_append (out, "&gt;");
      else if (c == '\'' && attr)
        g_string_append (out, "&apos;");
      else if (c < 0x20 && (attr || (c != '\t' && c != '\n')))
        g_string_append_printf (out, "&#%d;", c);
      else
        g_string_append_c (out, (char) c);
    }
}

static void
check_escape (const guchar *s, gsize len)
{
  for (int attr = 0; attr <= 1; attr++)
    {
      g_autoptr (GString) want = g_string_new (NULL);
      g_autoptr (GString) got = g_string_new ("x");

      escape_one_by_one (want, s, len, attr);
      xm_xml_escape (got, (const char *) s, len, attr);
      g_assert_cmpstr (got->str + 1, ==, want->str);
    }
}

static void
test_escape_words (void)
{
  guchar s[40];
  GRand *r = g_rand_new_with_seed (20261207);

  for (guint c = 0; c < 256; c++)
    for (gsize at = 0; at < 20; at++)
      {
        memset (s, 'a', sizeof s);
        s[at] = (guchar) c;
        s[at + 9] = (guchar) (255 - c);
        for (gsize len = at + 1; len <= 30; len += 7)
          check_escape (s, len);
      }
  for (guint round = 0; round < 20000; round++)
    {
      gsize len = g_rand_int_range (r, 0, sizeof s);

      for (gsize i = 0; i < len; i++)
        {
          /* mostly letters and the bytes that need escaping */
          static const char some[] = "ab&<>'\"\t\n\r\x01\x1f \x7f\x80\xff";
          s[i] = g_rand_boolean (r) ? (guchar) some[g_rand_int_range (r, 0, sizeof some - 1)]
                                    : (guchar) g_rand_int_range (r, 0, 256);
        }
      check_escape (s, len);
    }
  g_rand_free (r);
}

int
main (int argc, char **argv)
{
  /* Local time must not depend on the machine running the test. */
  g_setenv ("TZ", "XMT-1", TRUE); /* POSIX: UTC+1, no tzdata needed */
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/printer/sasl-max-text", test_sasl_max_text);
  g_test_add_func ("/printer/s2s-label", test_s2s_label);
  g_test_add_func ("/printer/golden/plain", test_plain);
  g_test_add_func ("/printer/golden/utc", test_utc);
  g_test_add_func ("/printer/golden/color", test_color);
  g_test_add_func ("/printer/golden/full-secrets", test_full);
  g_test_add_func ("/printer/secrets-absent", test_secrets_absent);
  g_test_add_func ("/printer/escaping", test_escaping);
  g_test_add_func ("/printer/escape-words", test_escape_words);
  g_test_add_func ("/printer/color-modes", test_color_modes);
  return g_test_run ();
}
