/* test-filter.c: event filters (ui/filter.h).
 *
 * A transcript of two connections is framed with the real framer and SASL
 * decoder, as a session would report it. Each event has a label: the
 * connection number, the direction ('>' client to server, '<' server to
 * client, ':' the connection as a whole) and what it is (a stanza's id, or
 * its element name when it has none). A filter is built from a command line
 * parsed by GOption, and a test compares the labels of the events it lets
 * through. */
#include "config.h"

#include <locale.h>
#include <string.h>

#include "filter.h"
#include "xml-framer.h"

#define N_CONNS 3

typedef struct {
  XmEvent ev;         /* first, so a sink can find the label; stanza ref'd,
                       * text and sasl point below */
  char *label;
  char *text;
  XmSaslDecode *sasl;
} Rec;

typedef struct {
  GPtrArray *recs; /* Rec* */
  XmFramer *framers[N_CONNS][2];
  XmSasl *sasl[N_CONNS];
  guint conn;      /* of the framer being fed */
  XmDir dir;
} Transcript;

static void
rec_free (gpointer p)
{
  Rec *r = p;

  if (r->ev.stanza)
    xm_stanza_unref (r->ev.stanza);
  g_free (r->label);
  g_free (r->text);
  if (r->sasl)
    xm_sasl_decode_free (r->sasl);
  g_free (r);
}

static Rec *
add (Transcript *t, XmEventKind kind, guint conn, XmDir dir, const char *what)
{
  Rec *r = g_new0 (Rec, 1);

  r->ev.kind = kind;
  r->ev.conn = conn;
  r->ev.dir = dir;
  r->label = g_strdup_printf ("%u%c%s", conn,
                              dir == XM_DIR_C2S ? '>' : dir == XM_DIR_S2C ? '<' : ':',
                              what);
  g_ptr_array_add (t->recs, r);
  return r;
}

static void
add_text (Transcript *t, XmEventKind kind, guint conn, XmDir dir,
          const char *what, const char *text)
{
  Rec *r = add (t, kind, conn, dir, what);

  r->text = g_strdup (text);
  r->ev.text = r->text;
}

static void
on_open (XmStanza *h, gpointer ud)
{
  Transcript *t = ud;
  Rec *r = add (t, XM_EVENT_STREAM_OPEN, t->conn, t->dir, "hdr");

  r->ev.stanza = xm_stanza_ref (h);
}

static void
on_stanza (XmStanza *st, gpointer ud)
{
  Transcript *t = ud;
  const char *id = st->root ? xm_node_attr (st->root, "id") : NULL;
  Rec *r = add (t, XM_EVENT_STANZA, t->conn, t->dir,
                id ? id : st->root ? st->root->name : "oversized");
  XmSaslDecode *d;

  r->ev.stanza = xm_stanza_ref (st);
  if (st->root == NULL)
    return;
  d = xm_sasl_decode (t->sasl[t->conn], st->root, t->dir == XM_DIR_C2S);
  if (d)
    {
      r = add (t, XM_EVENT_SASL, t->conn, t->dir, "sasl");
      r->sasl = d;
      r->ev.sasl = d;
    }
}

static void
on_keepalive (gsize n, gpointer ud)
{
  Transcript *t = ud;

  add (t, XM_EVENT_KEEPALIVE, t->conn, t->dir, "ka")->ev.count = n;
}

static void
on_close (guint64 off, gpointer ud)
{
  Transcript *t = ud;

  add (t, XM_EVENT_STREAM_CLOSE, t->conn, t->dir, "end");
}

static void
on_problem (XmFramerProblem kind, guint64 off, const char *msg, gpointer ud)
{
  Transcript *t = ud;

  add_text (t, XM_EVENT_NOTE, t->conn, t->dir, "problem", msg);
}

static const XmFramerEvents framer_events = {
  on_open, on_stanza, on_keepalive, on_close, on_problem,
};

static void
feed (Transcript *t, guint conn, XmDir dir, const char *xml)
{
  XmFramer **f = &t->framers[conn][dir];

  if (*f == NULL)
    {
      *f = xm_framer_new (&framer_events, t);
      /* Connection 2 has a small cap, for an oversized stanza. */
      if (conn == 2)
        xm_framer_set_max_stanza (*f, 200);
    }
  if (t->sasl[conn] == NULL)
    t->sasl[conn] = xm_sasl_new ();
  t->conn = conn;
  t->dir = dir;
  xm_framer_feed (*f, (const guint8 *) xml, strlen (xml));
}

#define HDR_C "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " \
  "xmlns:stream='http://etherx.jabber.org/streams' to='example.net' version='1.0'>"
#define HDR_S "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " \
  "xmlns:stream='http://etherx.jabber.org/streams' from='example.net' id='s1' " \
  "version='1.0'>"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"

/* Everything, in order, as the unfiltered output shows it. */
#define ALL_1                                                               \
  "1:open 1>hdr 1>auth 1>sasl 1>ka 1<hdr 1<features 1<success 1<sasl "      \
  "1<layer 1>r1 1>p1 1>m1 1>pr1 1>r 1<r1 1<m2 1<pr2 1<pr3 1<a 1<end "       \
  "1:note 1:closed"
#define ALL_2 "2:open 2>hdr 2>m3 2>problem 2>oversized 2:closed"
#define ALL ALL_1 " " ALL_2

static Transcript *
transcript_new (void)
{
  Transcript *t = g_new0 (Transcript, 1);
  g_autofree char *big = g_strnfill (300, 'A');
  g_autofree char *big_msg = g_strconcat ("<message id='big'><body>", big,
                                          "</body></message>", NULL);

  t->recs = g_ptr_array_new_with_free_func (rec_free);

  add_text (t, XM_EVENT_CONN_OPEN, 1, XM_DIR_NONE, "open",
            "client 127.0.0.1:40000, upstream example.net:5222");
  /* "\0juliet\0secret" */
  feed (t, 1, XM_DIR_C2S, HDR_C "<auth xmlns='" NS_SASL "' mechanism='PLAIN'>"
        "AGp1bGlldABzZWNyZXQ=</auth>");
  feed (t, 1, XM_DIR_C2S, " ");
  feed (t, 1, XM_DIR_S2C, HDR_S "<stream:features><mechanisms xmlns='" NS_SASL "'>"
        "<mechanism>PLAIN</mechanism></mechanisms><sm xmlns='urn:xmpp:sm:3'/>"
        "</stream:features><success xmlns='" NS_SASL "'/>");
  add_text (t, XM_EVENT_LAYER, 1, XM_DIR_S2C, "layer",
            "SASL success: both streams restart");
  /* The streams go on without a restart: the framer does not mind. */
  feed (t, 1, XM_DIR_C2S,
        "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"
        "<iq type='get' id='p1' to='example.net'><ping xmlns='urn:xmpp:ping'/></iq>"
        "<message to='Romeo@Example.NET/orchard' id='m1' type='chat'>"
        "<body>Wherefore art thou Romeo?</body>"
        "<request xmlns='urn:xmpp:receipts'/></message>"
        "<presence id='pr1'><show>away</show></presence>"
        "<r xmlns='urn:xmpp:sm:3'/>");
  feed (t, 1, XM_DIR_S2C,
        "<iq type='result' id='r1' to='juliet@example.net/balcony'>"
        "<query xmlns='jabber:iq:roster'><item jid='romeo@example.net'/></query></iq>"
        "<message from='romeo@example.net/orchard' to='juliet@example.net/balcony' "
        "id='m2'><body>By a name I know not how to tell thee</body></message>"
        "<presence from='Romeo@B\xc3\xbc" "cher.example/garden' "
        "to='juliet@example.net' id='pr2'/>"
        "<presence from='\xc3\x84RZTE@example.net/x' id='pr3'/>"
        "<a xmlns='urn:xmpp:sm:3' h='3'/></stream:stream>");
  add_text (t, XM_EVENT_NOTE, 1, XM_DIR_NONE, "note",
            "upstream example.net:5222 closed the connection");
  add_text (t, XM_EVENT_CONN_CLOSE, 1, XM_DIR_NONE, "closed", "both sides closed");

  add_text (t, XM_EVENT_CONN_OPEN, 2, XM_DIR_NONE, "open",
            "client 127.0.0.1:40002, upstream example.net:5222");
  feed (t, 2, XM_DIR_C2S, HDR_C "<message to='nurse@example.net' id='m3'>"
        "<body>Wherefore?</body></message>");
  feed (t, 2, XM_DIR_C2S, big_msg);
  add_text (t, XM_EVENT_CONN_CLOSE, 2, XM_DIR_NONE, "closed", "both sides closed");
  return t;
}

static void
transcript_free (Transcript *t)
{
  for (guint c = 0; c < N_CONNS; c++)
    {
      for (guint d = 0; d < 2; d++)
        if (t->framers[c][d])
          xm_framer_free (t->framers[c][d]);
      if (t->sasl[c])
        xm_sasl_free (t->sasl[c]);
    }
  g_ptr_array_unref (t->recs);
  g_free (t);
}

static Transcript *transcript;

/* Parses an xmitm command line with the filter options into args. */
static void
parse (const char *cmdline, XmFilterArgs *args)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *full = g_strconcat ("xmitm ", cmdline, NULL);
  g_auto (GStrv) argv = NULL;
  int argc;

  g_assert_true (g_shell_parse_argv (full, &argc, &argv, &error));
  g_assert_no_error (error);
  xm_filter_add_options (ctx, args);
  g_option_context_parse_strv (ctx, &argv, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (argv), ==, 1);
}

static XmFilter *
filter_new (const char *cmdline)
{
  g_auto (XmFilterArgs) args = { 0 };
  g_autoptr (GError) error = NULL;
  XmFilter *f;

  parse (cmdline, &args);
  f = xm_filter_new (&args, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f);
  return f;
}

/* The labels of the transcript's events that cmdline lets through. */
static char *
pass (const char *cmdline)
{
  g_autoptr (XmFilter) f = filter_new (cmdline);
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; i < transcript->recs->len; i++)
    {
      Rec *r = g_ptr_array_index (transcript->recs, i);

      if (!xm_filter_match (f, &r->ev))
        continue;
      if (out->len)
        g_string_append_c (out, ' ');
      g_string_append (out, r->label);
    }
  return g_strdup (out->str);
}

#define assert_pass(cmdline, want)              \
  G_STMT_START {                                \
    g_autofree char *got_ = pass (cmdline);     \
    g_assert_cmpstr (got_, ==, want);           \
  } G_STMT_END

/* The transcript is what the tests think it is. */
static void
test_none (void)
{
  g_autoptr (XmFilter) f = filter_new ("");
  g_autoptr (XmFilter) g = xm_filter_new (NULL, NULL);

  g_assert_true (xm_filter_is_empty (f));
  g_assert_true (xm_filter_is_empty (g));
  assert_pass ("", ALL);
}

static void
test_conn (void)
{
  assert_pass ("--conn 2", ALL_2);
  assert_pass ("--conn 1,2", ALL);
  assert_pass ("--conn 1 --conn 2", ALL);
  assert_pass ("--conn 1-2", ALL);
  assert_pass ("--conn ' 2 , 7 '", ALL_2);
  assert_pass ("--conn 2-9", ALL_2);
  assert_pass ("--conn 3", "");
  assert_pass ("--conn 1", ALL_1);
}

static void
test_dir (void)
{
  const char *c2s = "2:open 2>hdr 2>m3 2>problem 2>oversized 2:closed";
  const char *s2c = "1:open 1<hdr 1<features 1<success 1<sasl 1<layer 1<r1 "
                    "1<m2 1<pr2 1<pr3 1<a 1<end 1:note 1:closed";

  assert_pass ("--dir c2s --conn 2", c2s);
  assert_pass ("--dir client --conn 2", c2s);
  assert_pass ("--dir s2c --conn 2", "2:open 2:closed");
  assert_pass ("--dir s2c --conn 1", s2c);
  assert_pass ("--dir server --conn 1", s2c);
  assert_pass ("--dir S2C --conn 1", s2c);
  assert_pass ("--dir c2s,s2c", ALL);
  assert_pass ("--dir c2s --dir server", ALL);
}

static void
test_kind (void)
{
  assert_pass ("--kind iq", "1>r1 1>p1 1<r1");
  assert_pass ("--kind message", "1>m1 1<m2 2>m3");
  assert_pass ("--kind presence", "1>pr1 1<pr2 1<pr3");
  assert_pass ("--kind message,presence", "1>m1 1>pr1 1<m2 1<pr2 1<pr3 2>m3");
  assert_pass ("--kind message --kind presence",
               "1>m1 1>pr1 1<m2 1<pr2 1<pr3 2>m3");
  assert_pass ("--kind IQ", "1>r1 1>p1 1<r1");
  /* Negotiation, XEP-0198, keepalives, close and connection events; the
   * SASL decodes follow their stanzas. */
  assert_pass ("--kind stream --conn 1",
               "1:open 1>hdr 1>auth 1>sasl 1>ka 1<hdr 1<features 1<success "
               "1<sasl 1<layer 1>r 1<a 1<end 1:note 1:closed");
  /* A stanza too large to decode is of no kind. */
  assert_pass ("--kind stream --conn 2", "2:open 2>hdr 2>problem 2:closed");
  assert_pass ("--kind message,iq,presence,stream --conn 2",
               "2:open 2>hdr 2>m3 2>problem 2:closed");
}

static void
test_ns (void)
{
  assert_pass ("--ns jabber:iq:roster", "1>r1 1<r1");
  assert_pass ("--ns urn:xmpp:ping", "1>p1");
  /* Any child, not only the first. */
  assert_pass ("--ns urn:xmpp:receipts", "1>m1");
  assert_pass ("--ns jabber:iq:roster --ns urn:xmpp:ping", "1>r1 1>p1 1<r1");
  /* Top-level elements that are not stanzas match their own namespace
   * too: <auth/>, <success/>, <r/>, <a/>, and the features by their
   * children. */
  assert_pass ("--ns " NS_SASL, "1>auth 1>sasl 1<features 1<success 1<sasl");
  assert_pass ("--ns urn:xmpp:sm:3", "1<features 1>r 1<a");
  assert_pass ("--ns http://etherx.jabber.org/streams",
               "1>hdr 1<hdr 1<features 2>hdr");
  /* A stanza does not match its own namespace, only its children's. */
  assert_pass ("--ns jabber:client --kind presence", "1>pr1");
  assert_pass ("--ns urn:xmpp:nothing", "");
}

static void
test_jid (void)
{
  /* Bare: any resource, localpart and domain in any case. */
  assert_pass ("--jid romeo@example.net", "1>m1 1<m2");
  assert_pass ("--jid ROMEO@EXAMPLE.NET", "1>m1 1<m2");
  /* A trailing dot of the domain does not count (RFC 7622 §3.2). */
  assert_pass ("--jid romeo@example.net.", "1>m1 1<m2");
  /* Full: that resource only, exactly. */
  assert_pass ("--jid romeo@example.net/orchard", "1>m1 1<m2");
  assert_pass ("--jid rOmEo@example.NET/orchard", "1>m1 1<m2");
  assert_pass ("--jid romeo@example.net/Orchard", "");
  assert_pass ("--jid juliet@example.net", "1<r1 1<m2 1<pr2");
  assert_pass ("--jid juliet@example.net/balcony", "1<r1 1<m2");
  /* A domain JID is the server's, not its users'; headers match too. */
  assert_pass ("--jid example.net", "1>hdr 1<hdr 1>p1 2>hdr");
  /* IDN domains match in either form; non-ASCII localparts fold. */
  assert_pass ("--jid romeo@xn--BCHER-kva.example", "1<pr2");
  assert_pass ("--jid romeo@b\xc3\xbc" "cher.EXAMPLE/garden", "1<pr2");
  assert_pass ("--jid romeo@B\xc3\x9c" "CHER.example", "1<pr2");
  assert_pass ("--jid \xc3\xa4rzte@example.net", "1<pr3");
  assert_pass ("--jid romeo@example.net --jid example.net --conn 1",
               "1>hdr 1<hdr 1>p1 1>m1 1<m2");
}

static void
test_grep (void)
{
  assert_pass ("--grep Wherefore", "1>m1 2>m3");
  assert_pass ("--grep wherefore", "");
  assert_pass ("--grep '(?i)wherefore'", "1>m1 2>m3");
  assert_pass ("--grep Wherefore --grep 'a name'", "1>m1 1<m2 2>m3");
  /* Event text: connection lines, notes, layer changes. */
  assert_pass ("--grep '127\\.0\\.0\\.1:40002'", "2:open");
  assert_pass ("--grep upstream", "1:open 1:note 2:open");
  assert_pass ("--grep 'both sides'", "1:closed 2:closed");
  assert_pass ("--grep restart", "1<layer");
  assert_pass ("--grep 'not decoded'", "2>problem");
  /* Stream headers by their bytes. */
  assert_pass ("--grep \"id='s1'\"", "1<hdr");
  /* No bytes, no match: oversized stanzas, keepalives, stream close. */
  assert_pass ("--grep AAAA", "");
  assert_pass ("--grep '' --conn 2", "2:open 2>hdr 2>m3 2>problem 2:closed");
  assert_pass ("--grep . --conn 1 --dir c2s",
               "1:open 1>hdr 1>auth 1>sasl 1>r1 1>p1 1>m1 1>pr1 1>r 1:note "
               "1:closed");
  /* UTF-8 patterns against UTF-8 bytes. */
  assert_pass ("--grep '(?i)\xc3\xa4rzte'", "1<pr3");
}

static void
test_compose (void)
{
  assert_pass ("--kind iq --dir s2c", "1<r1");
  assert_pass ("--kind message --conn 2 --grep Wherefore", "2>m3");
  assert_pass ("--kind iq,message --dir c2s --conn 1", "1>r1 1>p1 1>m1");
  assert_pass ("--jid romeo@example.net --dir c2s", "1>m1");
  assert_pass ("--ns jabber:iq:roster --grep result", "1<r1");
  assert_pass ("--kind stream --ns " NS_SASL " --dir s2c",
               "1<features 1<success 1<sasl");
  assert_pass ("--kind stream --jid example.net", "1>hdr 1<hdr 2>hdr");
  assert_pass ("--kind iq --grep upstream", "");
}

/* SASL decodes pass or fail with their stanza, also when the decode text
 * or the filter alone would say otherwise. */
static void
test_sasl (void)
{
  assert_pass ("--grep mechanism=.PLAIN", "1>auth 1>sasl");
  assert_pass ("--grep '<success'", "1<success 1<sasl");
  assert_pass ("--ns " NS_SASL " --dir c2s", "1>auth 1>sasl");
  assert_pass ("--conn 1 --kind iq", "1>r1 1>p1 1<r1");
}

static const Rec *
find (const char *label)
{
  for (guint i = 0; i < transcript->recs->len; i++)
    {
      const Rec *r = g_ptr_array_index (transcript->recs, i);
      if (strcmp (r->label, label) == 0)
        return r;
    }
  g_error ("no event %s in the transcript", label);
}

/* The verdict is kept per connection: another connection's stanza between
 * a stanza and its decode does not change it. */
static void
test_sasl_interleaved (void)
{
  g_autoptr (XmFilter) f = filter_new ("--grep '<auth'");
  g_autoptr (XmFilter) g = filter_new ("--grep Wherefore");
  g_autoptr (XmFilter) c = filter_new ("--conn 1 --dir c2s");
  g_autoptr (XmFilter) k = filter_new ("--conn 1 --kind stream");
  const Rec *auth = find ("1>auth"), *sasl = find ("1>sasl");
  const Rec *m3 = find ("2>m3"), *closed = find ("1:closed");
  XmEvent sasl2 = sasl->ev;

  sasl2.conn = 2;
  g_assert_true (xm_filter_match (f, &auth->ev));
  g_assert_false (xm_filter_match (f, &m3->ev));
  g_assert_true (xm_filter_match (f, &sasl->ev));   /* as conn 1's stanza */
  g_assert_false (xm_filter_match (f, &sasl2));     /* as conn 2's stanza */

  g_assert_false (xm_filter_match (g, &auth->ev));
  g_assert_true (xm_filter_match (g, &m3->ev));
  g_assert_false (xm_filter_match (g, &sasl->ev));
  g_assert_true (xm_filter_match (g, &sasl2));

  /* A closed connection forgets its verdict. A decode without its stanza
   * passes filters on connection and direction only. */
  g_assert_false (xm_filter_match (f, &closed->ev));
  g_assert_false (xm_filter_match (f, &sasl->ev));
  g_assert_true (xm_filter_match (c, &sasl->ev));
  g_assert_false (xm_filter_match (k, &sasl->ev));
}

static void
assert_bad (const char *cmdline, const char *option, const char *value)
{
  g_auto (XmFilterArgs) args = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *want = g_strdup_printf ("bad --%s '%s': ", option, value);
  XmFilter *f;

  parse (cmdline, &args);
  f = xm_filter_new (&args, &error);
  g_assert_null (f);
  g_assert_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
  if (!g_str_has_prefix (error->message, want))
    g_error ("%s: got \"%s\", want it to start with \"%s\"", cmdline,
             error->message, want);
}

static void
test_bad (void)
{
  assert_bad ("--conn x", "conn", "x");
  assert_bad ("--conn 0", "conn", "0");
  assert_bad ("--conn=-1", "conn", "-1");
  assert_bad ("--conn 7-3", "conn", "7-3");
  assert_bad ("--conn 3-", "conn", "3-");
  assert_bad ("--conn 1,", "conn", "");
  assert_bad ("--conn 1 --conn 2x", "conn", "2x");
  assert_bad ("--conn 99999999999", "conn", "99999999999");
  assert_bad ("--dir up", "dir", "up");
  assert_bad ("--dir c2s,both", "dir", "both");
  assert_bad ("--kind foo", "kind", "foo");
  assert_bad ("--kind iq,", "kind", "");
  assert_bad ("--ns ''", "ns", "");
  assert_bad ("--grep '('", "grep", "(");
  assert_bad ("--grep ok --grep '[a'", "grep", "[a");
  assert_bad ("--jid @", "jid", "@");
  assert_bad ("--jid @example.net", "jid", "@example.net");
  assert_bad ("--jid juliet@", "jid", "juliet@");
  assert_bad ("--jid juliet@/r", "jid", "juliet@/r");
  assert_bad ("--jid juliet@example.net/", "jid", "juliet@example.net/");
  assert_bad ("--jid a@b@c", "jid", "a@b@c");
  assert_bad ("--jid ''", "jid", "");
  assert_bad ("--jid /r", "jid", "/r");
}

/* A sink that records the labels of what reaches it. */
typedef struct {
  XmSink sink;
  GString *seen;
  guint flushes;
  gboolean *freed;
} Recorder;

static void
recorder_event (XmSink *sink, const XmEvent *ev)
{
  Recorder *r = (Recorder *) sink;

  /* Only the transcript's events come here. */
  if (r->seen->len)
    g_string_append_c (r->seen, ' ');
  g_string_append (r->seen, ((const Rec *) ev)->label);
}

static void
recorder_flush (XmSink *sink)
{
  ((Recorder *) sink)->flushes++;
}

static void
recorder_free (XmSink *sink)
{
  Recorder *r = (Recorder *) sink;

  *r->freed = TRUE;
  g_string_free (r->seen, TRUE);
  g_free (r);
}

static const XmSinkVTable recorder_vtable = {
  recorder_event, recorder_flush, recorder_free,
};

static Recorder *
recorder_new (gboolean *freed)
{
  Recorder *r = g_new0 (Recorder, 1);

  r->sink.vtable = &recorder_vtable;
  r->seen = g_string_new (NULL);
  r->freed = freed;
  return r;
}

static void
test_sink (void)
{
  gboolean freed = FALSE;
  Recorder *rec = recorder_new (&freed);
  XmSink *sink = xm_filter_sink_new (filter_new ("--conn 1 --kind message "
                                                 "--grep Wherefore --grep '<auth'"),
                                     &rec->sink);

  g_assert_true (sink != &rec->sink);
  for (guint i = 0; i < transcript->recs->len; i++)
    xm_sink_event (sink, &((Rec *) g_ptr_array_index (transcript->recs, i))->ev);
  g_assert_cmpstr (rec->seen->str, ==, "1>m1");
  xm_sink_flush (sink);
  g_assert_cmpuint (rec->flushes, ==, 1);
  xm_sink_free (sink);
  g_assert_true (freed);

  /* Without a filter the sink is inner itself. */
  freed = FALSE;
  rec = recorder_new (&freed);
  sink = xm_filter_sink_new (filter_new (""), &rec->sink);
  g_assert_true (sink == &rec->sink);
  xm_sink_free (sink);
  g_assert_true (freed);
}

static void
test_help (void)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_auto (XmFilterArgs) args = { 0 };
  g_autofree char *help = NULL;
  const char *para = xm_filter_help ();

  xm_filter_add_options (ctx, &args);
  help = g_option_context_get_help (ctx, TRUE, NULL);
  /* In the main --help, not behind --help-all. */
  g_assert_nonnull (strstr (help, "--conn=N"));
  g_assert_nonnull (strstr (help, "--dir=DIR"));
  g_assert_nonnull (strstr (help, "--kind=KIND"));
  g_assert_nonnull (strstr (help, "--ns=URI"));
  g_assert_nonnull (strstr (help, "--jid=JID"));
  g_assert_nonnull (strstr (help, "--grep=REGEX"));
  g_assert_nonnull (strstr (help, "no 'from'"));
  g_assert_true (g_str_has_suffix (para, "\n"));
  g_assert_nonnull (strstr (para, "--conn 3 --dir c2s"));
}

int
main (int argc, char **argv)
{
  int ret;

  /* GOption converts arguments from the locale's charset: make it UTF-8
   * for the non-ASCII JIDs. */
  setlocale (LC_ALL, "C.UTF-8");
  g_test_init (&argc, &argv, NULL);
  transcript = transcript_new ();
  g_test_add_func ("/filter/none", test_none);
  g_test_add_func ("/filter/conn", test_conn);
  g_test_add_func ("/filter/dir", test_dir);
  g_test_add_func ("/filter/kind", test_kind);
  g_test_add_func ("/filter/ns", test_ns);
  g_test_add_func ("/filter/jid", test_jid);
  g_test_add_func ("/filter/grep", test_grep);
  g_test_add_func ("/filter/compose", test_compose);
  g_test_add_func ("/filter/sasl", test_sasl);
  g_test_add_func ("/filter/sasl-interleaved", test_sasl_interleaved);
  g_test_add_func ("/filter/bad", test_bad);
  g_test_add_func ("/filter/sink", test_sink);
  g_test_add_func ("/filter/help", test_help);
  ret = g_test_run ();
  transcript_free (transcript);
  return ret;
}
