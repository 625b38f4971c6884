/* test-xml-framer.c: unit tests for the incremental XMPP stream framer.
 *
 * The framer's contract is decoders/xml-framer.h and decoders/stanza.h. Each
 * test feeds bytes to a fresh framer and collects what it reports in a Seen;
 * most vectors are also fed split at every byte offset and byte by byte, and
 * must then report exactly the same stanzas (bytes and offsets). */
#include <string.h>

#include <glib.h>

#include "xml-framer.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_CLIENT "jabber:client"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_XML "http://www.w3.org/XML/1998/namespace"

#define N_PROBLEM_KINDS (XM_FRAMER_BAD_HEADER + 1)

/* A server stream header as most tests use it. */
#define HEADER_BODY                                                          \
  "<stream:stream xmlns='jabber:client' "                                    \
  "xmlns:stream='http://etherx.jabber.org/streams' from='example.com' "      \
  "id='s1' version='1.0' xml:lang='en'>"
#define HEADER "<?xml version='1.0'?>" HEADER_BODY

/* ------------------------------------------------------------------------ */
/* Collecting events                                                         */
/* ------------------------------------------------------------------------ */

typedef struct {
  gboolean oversized;
  GBytes *raw;    /* NULL when oversized */
  gsize raw_len;
  guint64 offset;
  char *name;     /* root element, NULL when oversized */
  char *ns;
  char *body;     /* text of a <body/> child, NULL if none */
} Rec;

typedef struct {
  /* options, set before feeding */
  gboolean restart_on_proceed; /* restart_after() on TLS <proceed/> */
  gboolean restart_on_success; /* restart_after() on SASL <success/> */
  gboolean keep_refs;          /* xm_stanza_ref() every stanza */
  gsize max_stanza;            /* 0: framer default */
} Opts;

typedef struct {
  Opts opts;
  XmFramer *framer;

  GPtrArray *stanzas;       /* Rec*, in order, oversized ones included */
  GPtrArray *headers;       /* GBytes*, raw of each stream header */
  GArray *header_offsets;   /* guint64 */
  GPtrArray *header_refs;   /* XmStanza*, the headers (always kept) */
  GPtrArray *refs;          /* XmStanza*, when opts.keep_refs */
  GArray *close_offsets;    /* guint64 */
  guint64 keepalive_total;
  guint problems[N_PROBLEM_KINDS];
  GString *log;             /* ordered text of opens, stanzas and closes */

  gboolean restart_requested; /* a callback called restart_after() */
  guint64 fed;                /* sum of xm_framer_feed() return values */
} Seen;

static void
rec_free (gpointer p)
{
  Rec *r = p;
  g_clear_pointer (&r->raw, g_bytes_unref);
  g_free (r->name);
  g_free (r->ns);
  g_free (r->body);
  g_free (r);
}

static char *
escape_bytes (const guint8 *data, gsize len)
{
  g_autofree char *s = g_strndup ((const char *) data, len);
  return g_strescape (s, NULL);
}

static XmNode *
find_child_named (const XmNode *el, const char *name)
{
  for (XmNode *c = el->children; c; c = c->next)
    if (c->type == XM_NODE_ELEMENT && g_strcmp0 (c->name, name) == 0)
      return c;
  return NULL;
}

static void
on_stream_open (XmStanza *header, gpointer user_data)
{
  Seen *s = user_data;

  g_assert_nonnull (header);
  g_assert_false (header->oversized);
  g_assert_nonnull (header->raw);
  g_assert_nonnull (header->root);
  g_assert_cmpuint (header->raw_len, >, 0);
  g_assert_cmpint (header->raw[header->raw_len - 1], ==, '>');
  g_assert_true (xm_node_is (header->root, NS_STREAMS, "stream"));
  g_assert_null (header->root->children);

  g_ptr_array_add (s->headers, g_bytes_new (header->raw, header->raw_len));
  g_array_append_val (s->header_offsets, header->offset);
  g_ptr_array_add (s->header_refs, xm_stanza_ref (header));

  g_autofree char *esc = escape_bytes (header->raw, header->raw_len);
  g_string_append_printf (s->log, "open @%" G_GUINT64_FORMAT " \"%s\"\n",
                          header->offset, esc);
}

static void
on_stanza (XmStanza *st, gpointer user_data)
{
  Seen *s = user_data;
  Rec *r = g_new0 (Rec, 1);

  g_assert_nonnull (st);
  r->oversized = st->oversized;
  r->raw_len = st->raw_len;
  r->offset = st->offset;
  if (st->oversized)
    {
      g_assert_null (st->root);
      g_assert_null (st->raw);
      g_ptr_array_add (s->stanzas, r);
      return;
    }

  g_assert_nonnull (st->raw);
  g_assert_nonnull (st->root);
  g_assert_cmpuint (st->raw_len, >=, 3);
  g_assert_cmpint (st->raw[0], ==, '<');
  g_assert_cmpint (st->raw[st->raw_len - 1], ==, '>');
  g_assert_cmpint (st->root->type, ==, XM_NODE_ELEMENT);
  g_assert_nonnull (st->root->name);
  g_assert_null (st->root->parent);

  r->raw = g_bytes_new (st->raw, st->raw_len);
  r->name = g_strdup (st->root->name);
  r->ns = g_strdup (st->root->ns);
  XmNode *body = find_child_named (st->root, "body");
  if (body)
    r->body = xm_node_text (body);
  g_ptr_array_add (s->stanzas, r);

  g_autofree char *esc = escape_bytes (st->raw, st->raw_len);
  g_autofree char *body_esc = r->body ? g_strescape (r->body, NULL) : NULL;
  g_string_append_printf (s->log, "stanza @%" G_GUINT64_FORMAT " \"%s\"%s%s\n",
                          st->offset, esc, body_esc ? " body=" : "",
                          body_esc ? body_esc : "");

  if (s->opts.keep_refs)
    {
      XmStanza *ref = xm_stanza_ref (st);
      g_assert_true (ref == st);
      g_ptr_array_add (s->refs, ref);
    }

  if ((s->opts.restart_on_proceed && xm_node_is (st->root, NS_TLS, "proceed")) ||
      (s->opts.restart_on_success && xm_node_is (st->root, NS_SASL, "success")))
    {
      xm_framer_restart_after (s->framer);
      s->restart_requested = TRUE;
    }
}

static void
on_keepalive (gsize n_bytes, gpointer user_data)
{
  Seen *s = user_data;
  s->keepalive_total += n_bytes;
}

static void
on_stream_close (guint64 offset, gpointer user_data)
{
  Seen *s = user_data;
  g_array_append_val (s->close_offsets, offset);
  g_string_append (s->log, "close\n");
}

static void
on_problem (XmFramerProblem kind, guint64 offset, const char *message,
            gpointer user_data)
{
  Seen *s = user_data;
  g_assert_cmpint (kind, >=, 0);
  g_assert_cmpint (kind, <, N_PROBLEM_KINDS);
  g_assert_nonnull (message);
  s->problems[kind]++;
  if (g_test_verbose ())
    g_test_message ("problem %d @%" G_GUINT64_FORMAT ": %s", kind, offset,
                    message);
}

static const XmFramerEvents events = {
  .stream_open = on_stream_open,
  .stanza = on_stanza,
  .keepalive = on_keepalive,
  .stream_close = on_stream_close,
  .problem = on_problem,
};

static Seen *
seen_new (const Opts *opts)
{
  Seen *s = g_new0 (Seen, 1);
  if (opts)
    s->opts = *opts;
  s->framer = xm_framer_new (&events, s);
  g_assert_nonnull (s->framer);
  if (s->opts.max_stanza)
    xm_framer_set_max_stanza (s->framer, s->opts.max_stanza);
  s->stanzas = g_ptr_array_new_with_free_func (rec_free);
  s->headers = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  s->header_offsets = g_array_new (FALSE, FALSE, sizeof (guint64));
  s->header_refs =
    g_ptr_array_new_with_free_func ((GDestroyNotify) xm_stanza_unref);
  s->refs = g_ptr_array_new_with_free_func ((GDestroyNotify) xm_stanza_unref);
  s->close_offsets = g_array_new (FALSE, FALSE, sizeof (guint64));
  s->log = g_string_new (NULL);
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, 0);
  g_assert_false (xm_framer_is_stalled (s->framer));
  return s;
}

static void
seen_free (Seen *s)
{
  xm_framer_free (s->framer);
  g_ptr_array_unref (s->stanzas);
  g_ptr_array_unref (s->headers);
  g_array_unref (s->header_offsets);
  g_ptr_array_unref (s->header_refs);
  g_ptr_array_unref (s->refs);
  g_array_unref (s->close_offsets);
  g_string_free (s->log, TRUE);
  g_free (s);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Seen, seen_free)

static guint
n_problems (const Seen *s)
{
  guint n = 0;
  for (guint i = 0; i < N_PROBLEM_KINDS; i++)
    n += s->problems[i];
  return n;
}

static const Rec *
rec (const Seen *s, guint i)
{
  g_assert_cmpuint (i, <, s->stanzas->len);
  return g_ptr_array_index (s->stanzas, i);
}

/* Stanzas that were decoded (not oversized). */
static guint
n_decoded (const Seen *s)
{
  guint n = 0;
  for (guint i = 0; i < s->stanzas->len; i++)
    n += !rec (s, i)->oversized;
  return n;
}

static guint
n_oversized (const Seen *s)
{
  return s->stanzas->len - n_decoded (s);
}

/* ------------------------------------------------------------------------ */
/* Feeding                                                                   */
/* ------------------------------------------------------------------------ */

/* One xm_framer_feed() call, with the invariants every call must keep. */
static gsize
feed_once (Seen *s, const guint8 *data, gsize len)
{
  gboolean restart_before = s->restart_requested;
  gsize n = xm_framer_feed (s->framer, data, len);

  g_assert_cmpuint (n, <=, len);
  if (n < len)
    {
      /* only a restart_after() from a callback may stop a feed early */
      g_assert_true (s->restart_requested && !restart_before);
      g_assert_cmpuint (n, >, 0);
    }
  s->fed += n;
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, s->fed);
  return n;
}

/* Feeds a chunk of plaintext entirely, as the proxy does when a restart
 * happens in-band (SASL <success/> followed by the new stream header): when
 * a feed returns early, the rest is fed again. */
static void
feed_all (Seen *s, const guint8 *data, gsize len)
{
  while (len > 0)
    {
      s->restart_requested = FALSE;
      gsize n = feed_once (s, data, len);
      data += n;
      len -= n;
    }
  s->restart_requested = FALSE;
}

static void
feed_str (Seen *s, const char *str)
{
  feed_all (s, (const guint8 *) str, strlen (str));
}

static Seen *
run_whole (const void *data, gsize len, const Opts *opts)
{
  Seen *s = seen_new (opts);
  feed_all (s, data, len);
  return s;
}

static Seen *
run_split (const void *data, gsize len, gsize at, const Opts *opts)
{
  Seen *s = seen_new (opts);
  g_assert_cmpuint (at, <=, len);
  feed_all (s, data, at);
  feed_all (s, (const guint8 *) data + at, len - at);
  return s;
}

static Seen *
run_bytewise (const void *data, gsize len, const Opts *opts)
{
  Seen *s = seen_new (opts);
  for (gsize i = 0; i < len; i++)
    feed_all (s, (const guint8 *) data + i, 1);
  return s;
}

/* The same stanzas (bytes, offsets, order, headers) and keepalive total. */
static void
assert_same_events (const Seen *expected, const Seen *got, const char *what)
{
  if (strcmp (expected->log->str, got->log->str) != 0 ||
      expected->keepalive_total != got->keepalive_total)
    g_test_message ("differs from the whole feed: %s", what);
  g_assert_cmpstr (got->log->str, ==, expected->log->str);
  g_assert_cmpuint (got->keepalive_total, ==, expected->keepalive_total);
}

typedef void (*CheckFunc) (const Seen *s, const char *data, gsize len);

/* Feeds data whole, split in two at every offset, and byte by byte; each run
 * must pass check (if given) and report the same events as the whole feed. */
static void
check_every_split (const char *data, gsize len, const Opts *opts,
                   CheckFunc check)
{
  g_autoptr (Seen) whole = run_whole (data, len, opts);
  if (check)
    check (whole, data, len);

  for (gsize at = 1; at < len; at++)
    {
      g_autoptr (Seen) s = run_split (data, len, at, opts);
      g_autofree char *what = g_strdup_printf ("split at %" G_GSIZE_FORMAT, at);
      if (check)
        check (s, data, len);
      assert_same_events (whole, s, what);
    }

  g_autoptr (Seen) bytes = run_bytewise (data, len, opts);
  if (check)
    check (bytes, data, len);
  assert_same_events (whole, bytes, "byte by byte");
}

/* ------------------------------------------------------------------------ */
/* Expectations                                                              */
/* ------------------------------------------------------------------------ */

static gsize
offset_of (const char *haystack, const char *needle)
{
  const char *p = strstr (haystack, needle);
  g_assert_nonnull (p);
  return p - haystack;
}

/* Stanza i is exactly `text`, at `offset`. */
static void
assert_stanza (const Seen *s, guint i, const char *text, guint64 offset)
{
  const Rec *r = rec (s, i);
  gsize len;
  const char *raw;

  g_assert_false (r->oversized);
  raw = g_bytes_get_data (r->raw, &len);
  g_assert_cmpmem (raw, len, text, strlen (text));
  g_assert_cmpuint (r->raw_len, ==, strlen (text));
  g_assert_cmpuint (r->offset, ==, offset);
}

/* Stanza i is the first occurrence of `text` inside `data`. */
static void
assert_stanza_in (const Seen *s, guint i, const char *data, const char *text)
{
  assert_stanza (s, i, text, offset_of (data, text));
}

/* Every decoded stanza's raw bytes are the data at its offset. */
static void
assert_raws_match (const Seen *s, const char *data, gsize len)
{
  guint64 prev_end = 0;
  for (guint i = 0; i < s->stanzas->len; i++)
    {
      const Rec *r = rec (s, i);
      gsize rlen;
      const guint8 *raw;

      if (r->oversized)
        continue;
      raw = g_bytes_get_data (r->raw, &rlen);
      g_assert_cmpuint (r->offset, >=, prev_end);
      g_assert_cmpuint (r->offset + rlen, <=, len);
      g_assert_cmpmem (raw, rlen, data + r->offset, rlen);
      prev_end = r->offset + rlen;
    }
}

static void
assert_header (const Seen *s, guint i, const char *text, guint64 offset)
{
  gsize len;
  const char *raw;

  g_assert_cmpuint (i, <, s->headers->len);
  raw = g_bytes_get_data (g_ptr_array_index (s->headers, i), &len);
  g_assert_cmpmem (raw, len, text, strlen (text));
  g_assert_cmpuint (g_array_index (s->header_offsets, guint64, i), ==, offset);
}

static const char *
body_of (const Seen *s, guint i)
{
  return rec (s, i)->body;
}

/* ------------------------------------------------------------------------ */
/* 1. Events                                                                 */
/* ------------------------------------------------------------------------ */

#define EV_MSG "<message to='juliet@example.com' type='chat'><body>one</body></message>"
#define EV_PRES "<presence/>"
#define EV_IQ "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"
#define EV_CLOSE "</stream:stream>"
/* 4 + 1 + 3 whitespace bytes between the top-level elements */
static const char events_vec[] =
  HEADER EV_MSG " \n\t " EV_PRES "\n" EV_IQ "   " "<presence type='unavailable'/>"
  EV_CLOSE;

static void
check_events (const Seen *s, const char *data, gsize len)
{
  g_assert_cmpuint (s->headers->len, ==, 1);
  assert_header (s, 0, HEADER, 0);
  g_assert_cmpuint (s->stanzas->len, ==, 4);
  assert_stanza_in (s, 0, data, EV_MSG);
  assert_stanza_in (s, 1, data, EV_PRES);
  assert_stanza_in (s, 2, data, EV_IQ);
  assert_stanza_in (s, 3, data, "<presence type='unavailable'/>");
  g_assert_cmpstr (body_of (s, 0), ==, "one");
  g_assert_cmpstr (rec (s, 0)->name, ==, "message");
  g_assert_cmpstr (rec (s, 2)->name, ==, "iq");
  g_assert_cmpuint (s->keepalive_total, ==, 8);

  g_assert_cmpuint (s->close_offsets->len, ==, 1);
  guint64 close_at = offset_of (data, EV_CLOSE);
  guint64 got = g_array_index (s->close_offsets, guint64, 0);
  g_assert_cmpuint (got, >=, close_at);
  g_assert_cmpuint (got, <=, close_at + strlen (EV_CLOSE));

  g_assert_cmpuint (n_problems (s), ==, 0);
  g_assert_false (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len);
}

static void
test_events (void)
{
  g_autoptr (Seen) s =
    run_whole (events_vec, strlen (events_vec), NULL);
  check_events (s, events_vec, strlen (events_vec));

  /* the header's tree */
  XmNode *root = ((XmStanza *) g_ptr_array_index (s->header_refs, 0))->root;
  g_assert_cmpstr (root->name, ==, "stream");
  g_assert_cmpstr (root->ns, ==, NS_STREAMS);
  g_assert_cmpstr (root->prefix, ==, "stream");
  g_assert_cmpstr (xm_node_attr (root, "from"), ==, "example.com");
  g_assert_cmpstr (xm_node_attr (root, "id"), ==, "s1");
  g_assert_cmpstr (xm_node_attr (root, "version"), ==, "1.0");
  g_assert_cmpstr (xm_node_attr_ns (root, NS_XML, "lang"), ==, "en");
  g_assert_null (xm_node_attr (root, "to"));
}

static void
test_events_no_declaration (void)
{
  static const char vec[] = HEADER_BODY "<presence/>";
  g_autoptr (Seen) s = run_whole (vec, strlen (vec), NULL);

  g_assert_cmpuint (s->headers->len, ==, 1);
  assert_header (s, 0, HEADER_BODY, 0);
  g_assert_cmpuint (s->stanzas->len, ==, 1);
  assert_stanza_in (s, 0, vec, "<presence/>");
  g_assert_cmpuint (n_problems (s), ==, 0);
}

/* Keepalives are counted in bytes: a CR LF pair is two bytes even though XML
 * reads it as one newline character. */
static void
test_keepalive_crlf (void)
{
  static const char vec[] = HEADER "<presence/>\r\n<presence/> \r\n\r\n <presence/>";

  check_every_split (vec, strlen (vec), NULL, NULL);
  g_autoptr (Seen) s = run_whole (vec, strlen (vec), NULL);
  g_assert_cmpuint (s->stanzas->len, ==, 3);
  g_assert_cmpuint (s->keepalive_total, ==, 2 + 6);
}

/* A lone keepalive between two stanzas fed in three chunks, as it arrives on
 * a real connection. */
static void
test_keepalive_chunks (void)
{
  g_autoptr (Seen) s = seen_new (NULL);
  feed_str (s, HEADER "<presence/>");
  feed_str (s, " ");
  feed_str (s, "<presence/>");
  g_assert_cmpuint (s->stanzas->len, ==, 2);
  g_assert_cmpuint (s->keepalive_total, ==, 1);
  assert_stanza (s, 1, "<presence/>", strlen (HEADER "<presence/> "));
}

/* ------------------------------------------------------------------------ */
/* 2. Splitting                                                              */
/* ------------------------------------------------------------------------ */

static void
test_split_every_byte (void)
{
  check_every_split (events_vec, strlen (events_vec), NULL, check_events);
}

#define UTF8_BODY "héllo wörld ☃ 𝄞"
#define UTF8_MSG1 "<message to='a@b'><body>" UTF8_BODY "</body></message>"
#define UTF8_MSG2 "<message to='ü@b' id='☃'><body>𝄞𝄞</body></message>"
static const char utf8_vec[] = HEADER UTF8_MSG1 " " UTF8_MSG2;

static void
check_utf8 (const Seen *s, const char *data, gsize len)
{
  g_assert_cmpuint (s->stanzas->len, ==, 2);
  assert_stanza_in (s, 0, data, UTF8_MSG1);
  assert_stanza_in (s, 1, data, UTF8_MSG2);
  g_assert_cmpstr (body_of (s, 0), ==, UTF8_BODY);
  g_assert_cmpstr (body_of (s, 1), ==, "𝄞𝄞");
  g_assert_cmpuint (s->keepalive_total, ==, 1);
  g_assert_cmpuint (n_problems (s), ==, 0);
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len);
}

static void
test_split_utf8 (void)
{
  check_every_split (utf8_vec, strlen (utf8_vec), NULL, check_utf8);
}

/* ------------------------------------------------------------------------ */
/* 3. Namespaces and trees                                                   */
/* ------------------------------------------------------------------------ */

#define NS_FEATURES                                                          \
  "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"      \
  "<required/></starttls></stream:features>"
#define NS_MESSAGE                                                           \
  "<message to='romeo@example.net/orchard' from='a&amp;b@example.com' "      \
  "type='chat'><body>a &amp; b &lt;c&gt; &#x2603; &apos;q&apos;</body>"      \
  "<x:data xmlns:x='urn:example:x' x:attr='v' plain='p'/></message>"
static const char ns_vec[] =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
  "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' "
  "version='1.0' xml:lang='en'>" NS_FEATURES "\n" NS_MESSAGE;

/* The declaration of prefix (NULL: default namespace) written on el; fails
 * the test if there is none. */
static const XmNsDecl *
find_decl (const XmNode *el, const char *prefix)
{
  for (guint i = 0; i < el->n_ns_decls; i++)
    if (g_strcmp0 (el->ns_decls[i].prefix, prefix) == 0)
      return &el->ns_decls[i];
  g_error ("<%s> has no declaration for prefix %s", el->name,
           prefix ? prefix : "(default)");
}

/* The attribute with local name `name` on el; fails the test if none. */
static const XmAttr *
find_attr (const XmNode *el, const char *name)
{
  for (guint i = 0; i < el->n_attrs; i++)
    if (g_strcmp0 (el->attrs[i].name, name) == 0)
      return &el->attrs[i];
  g_error ("<%s> has no attribute %s", el->name, name);
}

static void
check_ns_trees (const Seen *s)
{
  /* header */
  g_assert_cmpuint (s->header_refs->len, ==, 1);
  XmNode *root = ((XmStanza *) g_ptr_array_index (s->header_refs, 0))->root;
  g_assert_true (xm_node_is (root, NS_STREAMS, "stream"));
  g_assert_cmpstr (root->prefix, ==, "stream");
  g_assert_cmpstr (xm_node_attr (root, "to"), ==, "example.com");
  g_assert_cmpstr (xm_node_attr (root, "version"), ==, "1.0");
  g_assert_cmpstr (xm_node_attr_ns (root, NS_XML, "lang"), ==, "en");
  g_assert_cmpuint (root->n_ns_decls, ==, 2);
  g_assert_cmpstr (find_decl (root, NULL)->uri, ==, NS_CLIENT);
  g_assert_cmpstr (find_decl (root, "stream")->uri, ==, NS_STREAMS);

  g_assert_cmpuint (s->refs->len, ==, 2);

  /* <stream:features> */
  XmNode *features = ((XmStanza *) g_ptr_array_index (s->refs, 0))->root;
  g_assert_cmpstr (features->name, ==, "features");
  g_assert_cmpstr (features->ns, ==, NS_STREAMS);
  g_assert_cmpstr (features->prefix, ==, "stream");
  g_assert_true (xm_node_is (features, NS_STREAMS, "features"));
  g_assert_cmpuint (features->n_ns_decls, ==, 0);

  XmNode *starttls = xm_node_first_element (features);
  g_assert_nonnull (starttls);
  g_assert_true (starttls->parent == features);
  g_assert_cmpstr (starttls->name, ==, "starttls");
  g_assert_cmpstr (starttls->ns, ==, NS_TLS);
  g_assert_null (starttls->prefix);
  g_assert_cmpuint (starttls->n_ns_decls, ==, 1);
  g_assert_null (starttls->ns_decls[0].prefix);
  g_assert_cmpstr (starttls->ns_decls[0].uri, ==, NS_TLS);
  g_assert_true (xm_node_child (features, NS_TLS, "starttls") == starttls);
  g_assert_null (xm_node_child (features, NS_CLIENT, "starttls"));

  XmNode *required = xm_node_child (starttls, NS_TLS, "required");
  g_assert_nonnull (required);
  g_assert_cmpuint (required->n_ns_decls, ==, 0);
  g_assert_null (required->children);

  /* <message> in the header's default namespace */
  XmNode *msg = ((XmStanza *) g_ptr_array_index (s->refs, 1))->root;
  g_assert_true (xm_node_is (msg, NS_CLIENT, "message"));
  g_assert_null (msg->prefix);
  g_assert_cmpuint (msg->n_ns_decls, ==, 0);
  g_assert_cmpstr (xm_node_attr (msg, "to"), ==, "romeo@example.net/orchard");
  g_assert_cmpstr (xm_node_attr (msg, "from"), ==, "a&b@example.com");
  g_assert_cmpstr (xm_node_attr (msg, "type"), ==, "chat");
  g_assert_null (xm_node_attr (msg, "id"));

  XmNode *body = xm_node_child (msg, NS_CLIENT, "body");
  g_assert_nonnull (body);
  g_assert_true (body->parent == msg);
  g_assert_true (xm_node_first_element (msg) == body);
  g_autofree char *text = xm_node_text (body);
  g_assert_cmpstr (text, ==, "a & b <c> ☃ 'q'");
  for (XmNode *t = body->children; t; t = t->next)
    {
      g_assert_cmpint (t->type, ==, XM_NODE_TEXT);
      g_assert_cmpuint (strlen (t->text), ==, t->text_len);
    }

  XmNode *data = xm_node_child (msg, "urn:example:x", "data");
  g_assert_nonnull (data);
  g_assert_true (body->next == data);
  g_assert_true (msg->last_child == data);
  g_assert_cmpstr (data->prefix, ==, "x");
  g_assert_cmpuint (data->n_ns_decls, ==, 1);
  g_assert_cmpstr (data->ns_decls[0].prefix, ==, "x");
  g_assert_cmpstr (data->ns_decls[0].uri, ==, "urn:example:x");
  g_assert_cmpstr (xm_node_attr_ns (data, "urn:example:x", "attr"), ==, "v");
  g_assert_cmpstr (xm_node_attr (data, "plain"), ==, "p");
  const XmAttr *a = find_attr (data, "attr");
  g_assert_cmpstr (a->ns, ==, "urn:example:x");
  g_assert_cmpstr (a->prefix, ==, "x");
  const XmAttr *p = find_attr (data, "plain");
  g_assert_null (p->ns);
}

static void
test_namespaces (void)
{
  Opts opts = { .keep_refs = TRUE };
  gsize len = strlen (ns_vec);
  g_autoptr (Seen) whole = run_whole (ns_vec, len, &opts);
  g_autoptr (Seen) bytes = run_bytewise (ns_vec, len, &opts);
  g_autoptr (Seen) split = run_split (ns_vec, len, offset_of (ns_vec, "&#x26") + 3,
                                      &opts);

  assert_stanza_in (whole, 0, ns_vec, NS_FEATURES);
  assert_stanza_in (whole, 1, ns_vec, NS_MESSAGE);
  g_assert_cmpuint (n_problems (whole), ==, 0);
  check_ns_trees (whole);
  check_ns_trees (bytes);
  check_ns_trees (split);
  assert_same_events (whole, bytes, "byte by byte");
  assert_same_events (whole, split, "split in a character reference");
}

/* ------------------------------------------------------------------------ */
/* 4. Restarts                                                               */
/* ------------------------------------------------------------------------ */

#define TLS_FEATURES NS_FEATURES
#define TLS_PROCEED "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
static const char tls_plain[] = HEADER TLS_FEATURES TLS_PROCEED;
/* What follows <proceed/> in the same TCP segment: a TLS record, with bytes
 * that would upset an XML parser. */
static const guint8 tls_record[] = {
  0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, '<',
  0x00, 0xff, '>', '<', '/', 0xfe, 0x80, '&', ']', ']', '>', 0x00, 0x3c,
};
#define TLS_STREAM2_HEADER                                                   \
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "               \
  "xmlns:stream='http://etherx.jabber.org/streams' from='example.com' "      \
  "id='s2' version='1.0'>"
#define TLS_STREAM2_FEATURES                                                 \
  "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"   \
  "<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
static const char tls_stream2[] = TLS_STREAM2_HEADER TLS_STREAM2_FEATURES;

static GBytes *
tls_segment (void)
{
  GByteArray *b = g_byte_array_new ();
  g_byte_array_append (b, (const guint8 *) tls_plain, strlen (tls_plain));
  g_byte_array_append (b, tls_record, sizeof tls_record);
  return g_byte_array_free_to_bytes (b);
}

/* The proxy's view: the segment arrives in two reads split at `at` (or whole
 * when at == 0); once restart_after() was called, the rest is TLS and never
 * reaches the framer; after the handshake the new stream is fed. */
static Seen *
run_tls (gsize at)
{
  Opts opts = { .restart_on_proceed = TRUE };
  Seen *s = seen_new (&opts);
  g_autoptr (GBytes) seg = tls_segment ();
  gsize len;
  const guint8 *data = g_bytes_get_data (seg, &len);
  gsize cuts[2] = { at ? at : len, len };
  gsize pos = 0;

  for (guint i = 0; i < G_N_ELEMENTS (cuts) && !s->restart_requested; i++)
    {
      gsize n = feed_once (s, data + pos, cuts[i] - pos);
      if (n < cuts[i] - pos)
        break;
      pos = cuts[i];
    }
  g_assert_true (s->restart_requested);
  g_assert_cmpuint (s->fed, ==, strlen (tls_plain));
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, strlen (tls_plain));
  s->restart_requested = FALSE;

  feed_str (s, tls_stream2);
  return s;
}

static void
check_tls (const Seen *s)
{
  gsize plain = strlen (tls_plain);

  g_assert_cmpuint (s->headers->len, ==, 2);
  assert_header (s, 0, HEADER, 0);
  assert_header (s, 1, TLS_STREAM2_HEADER, plain);
  g_assert_cmpuint (s->stanzas->len, ==, 3);
  assert_stanza_in (s, 0, tls_plain, TLS_FEATURES);
  assert_stanza_in (s, 1, tls_plain, TLS_PROCEED);
  assert_stanza (s, 2, TLS_STREAM2_FEATURES, plain + strlen (TLS_STREAM2_HEADER));
  g_assert_cmpuint (n_problems (s), ==, 0);
  g_assert_false (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, plain + strlen (tls_stream2));
}

static void
test_restart_tls (void)
{
  g_autoptr (Seen) s = run_tls (0);
  check_tls (s);
}

static void
test_restart_tls_split (void)
{
  g_autoptr (Seen) whole = run_tls (0);
  gsize len = strlen (tls_plain) + sizeof tls_record;

  for (gsize at = 1; at < len; at++)
    {
      g_autoptr (Seen) s = run_tls (at);
      g_autofree char *what = g_strdup_printf ("split at %" G_GSIZE_FORMAT, at);
      check_tls (s);
      assert_same_events (whole, s, what);
    }
}

#define SASL_HEADER HEADER_BODY
#define SASL_FEATURES TLS_STREAM2_FEATURES
#define SASL_SUCCESS "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
#define SASL_HEADER2 TLS_STREAM2_HEADER
#define SASL_FEATURES2                                                       \
  "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"        \
  "</stream:features>"
#define SASL_BIND                                                            \
  "<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>" \
  "<jid>juliet@example.com/balcony</jid></bind></iq>"
static const char sasl_vec[] =
  SASL_HEADER SASL_FEATURES SASL_SUCCESS SASL_HEADER2 SASL_FEATURES2 SASL_BIND;

static void
check_sasl (const Seen *s, const char *data, gsize len)
{
  gsize second = offset_of (data, SASL_HEADER2);

  g_assert_cmpuint (s->headers->len, ==, 2);
  assert_header (s, 0, SASL_HEADER, 0);
  assert_header (s, 1, SASL_HEADER2, second);
  g_assert_cmpuint (s->stanzas->len, ==, 4);
  assert_stanza_in (s, 0, data, SASL_FEATURES);
  assert_stanza_in (s, 1, data, SASL_SUCCESS);
  assert_stanza_in (s, 2, data, SASL_FEATURES2);
  assert_stanza_in (s, 3, data, SASL_BIND);
  g_assert_cmpstr (rec (s, 3)->ns, ==, NS_CLIENT);
  g_assert_cmpstr (rec (s, 2)->ns, ==, NS_STREAMS);
  g_assert_cmpuint (n_problems (s), ==, 0);
  g_assert_false (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len);
}

static void
test_restart_sasl (void)
{
  Opts opts = { .restart_on_success = TRUE };
  g_autoptr (Seen) s = seen_new (&opts);
  gsize len = strlen (sasl_vec);
  gsize end_of_success = offset_of (sasl_vec, SASL_SUCCESS) + strlen (SASL_SUCCESS);

  gsize n = feed_once (s, (const guint8 *) sasl_vec, len);
  g_assert_true (s->restart_requested);
  g_assert_cmpuint (n, ==, end_of_success);
  g_assert_cmpuint (s->headers->len, ==, 1);
  g_assert_cmpuint (s->stanzas->len, ==, 2);
  s->restart_requested = FALSE;

  gsize m = feed_once (s, (const guint8 *) sasl_vec + n, len - n);
  g_assert_cmpuint (m, ==, len - n);
  check_sasl (s, sasl_vec, len);
}

static void
test_restart_sasl_split (void)
{
  Opts opts = { .restart_on_success = TRUE };
  check_every_split (sasl_vec, strlen (sasl_vec), &opts, check_sasl);
}

/* xm_framer_reset() between feeds: the next byte starts a new document, with
 * or without an XML declaration. */
static void
test_restart_reset (void)
{
  static const char s1[] = HEADER "<message><body>one</body></message>";
  static const char s2[] = HEADER_BODY "<message><body>two</body></message>";
  static const char s3[] = HEADER " <message><body>three</body></message>";
  g_autoptr (Seen) s = seen_new (NULL);

  feed_str (s, s1);
  xm_framer_reset (s->framer);
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, strlen (s1));
  feed_str (s, s2);
  xm_framer_reset (s->framer);
  feed_str (s, s3);

  gsize o2 = strlen (s1), o3 = o2 + strlen (s2);
  g_assert_cmpuint (s->headers->len, ==, 3);
  assert_header (s, 0, HEADER, 0);
  assert_header (s, 1, HEADER_BODY, o2);
  assert_header (s, 2, HEADER, o3);
  g_assert_cmpuint (s->stanzas->len, ==, 3);
  assert_stanza (s, 0, "<message><body>one</body></message>", strlen (HEADER));
  assert_stanza (s, 1, "<message><body>two</body></message>",
                 o2 + strlen (HEADER_BODY));
  assert_stanza (s, 2, "<message><body>three</body></message>",
                 o3 + strlen (HEADER " "));
  g_assert_cmpstr (rec (s, 2)->ns, ==, NS_CLIENT);
  g_assert_cmpuint (n_problems (s), ==, 0);
  g_assert_false (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, o3 + strlen (s3));
}

/* A restart nobody announced: a new declaration and header after stanzas. */
#define IMPLICIT_HEADER2                                                     \
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "               \
  "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' "        \
  "version='1.0'>"
static const char implicit_vec[] =
  HEADER "<message><body>one</body></message>"
  IMPLICIT_HEADER2 "<message><body>two</body></message>"
  "<presence/>";

static void
check_implicit (const Seen *s, const char *data, gsize len)
{
  g_assert_cmpuint (s->headers->len, ==, 2);
  assert_header (s, 0, HEADER, 0);
  assert_header (s, 1, IMPLICIT_HEADER2, offset_of (data, IMPLICIT_HEADER2));
  g_assert_cmpuint (s->stanzas->len, ==, 3);
  assert_stanza_in (s, 0, data, "<message><body>one</body></message>");
  assert_stanza_in (s, 1, data, "<message><body>two</body></message>");
  assert_stanza_in (s, 2, data, "<presence/>");
  g_assert_cmpstr (rec (s, 1)->ns, ==, NS_CLIENT);
  g_assert_false (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len);
}

static void
test_restart_implicit (void)
{
  g_autoptr (Seen) s = run_whole (implicit_vec, strlen (implicit_vec), NULL);
  check_implicit (s, implicit_vec, strlen (implicit_vec));
}

static void
test_restart_implicit_split (void)
{
  check_every_split (implicit_vec, strlen (implicit_vec), NULL, check_implicit);
}

/* ------------------------------------------------------------------------ */
/* 5. Restricted XML                                                         */
/* ------------------------------------------------------------------------ */

#define LOL10(x) x x x x x x x x x x
static const char lol_vec[] =
  "<?xml version='1.0'?>\n"
  "<!DOCTYPE stream:stream [\n"
  " <!ENTITY lol \"lol\">\n"
  " <!ENTITY lol1 \"" LOL10 ("&lol;") "\">\n"
  " <!ENTITY lol2 \"" LOL10 ("&lol1;") "\">\n"
  " <!ENTITY lol3 \"" LOL10 ("&lol2;") "\">\n"
  " <!ENTITY lol4 \"" LOL10 ("&lol3;") "\">\n"
  " <!ENTITY lol5 \"" LOL10 ("&lol4;") "\">\n"
  " <!ENTITY lol6 \"" LOL10 ("&lol5;") "\">\n"
  " <!ENTITY lol7 \"" LOL10 ("&lol6;") "\">\n"
  " <!ENTITY lol8 \"" LOL10 ("&lol7;") "\">\n"
  " <!ENTITY lol9 \"" LOL10 ("&lol8;") "\">\n"
  "]>\n"
  HEADER_BODY "<message><body>&lol9;</body></message>"
  "<message><body>&lol1;</body></message>";

static void
check_no_lol (const Seen *s)
{
  g_assert_cmpuint (s->problems[XM_FRAMER_RESTRICTED] +
                    s->problems[XM_FRAMER_MALFORMED], >=, 1);
  for (guint i = 0; i < s->stanzas->len; i++)
    {
      const Rec *r = rec (s, i);
      g_assert_true (r->body == NULL || strstr (r->body, "lol") == NULL);
    }
  g_assert_true (xm_framer_is_stalled (s->framer));
}

static void
test_restricted_billion_laughs (void)
{
  gsize len = strlen (lol_vec);
  g_autoptr (Seen) s = run_whole (lol_vec, len, NULL);
  check_no_lol (s);

  g_autoptr (Seen) b = run_bytewise (lol_vec, len, NULL);
  check_no_lol (b);
}

/* After a DOCTYPE the framer ignores input until reset. */
static void
test_restricted_doctype_stalls (void)
{
  static const char doctype[] =
    "<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY x 'y'>]>"
    HEADER_BODY;
  static const char more[] = "<message><body>&x;</body></message><presence/>";
  static const char fresh[] = HEADER "<message><body>ok</body></message>";
  g_autoptr (Seen) s = seen_new (NULL);

  feed_str (s, doctype);
  g_assert_cmpuint (s->problems[XM_FRAMER_RESTRICTED] +
                    s->problems[XM_FRAMER_MALFORMED], >=, 1);
  g_assert_true (xm_framer_is_stalled (s->framer));

  feed_str (s, more); /* feed_str checks that all bytes were consumed */
  g_assert_true (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (s->stanzas->len, ==, 0);

  xm_framer_reset (s->framer);
  g_assert_false (xm_framer_is_stalled (s->framer));
  guint before = n_problems (s);
  feed_str (s, fresh);
  g_assert_false (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (n_problems (s), ==, before);
  g_assert_cmpuint (s->stanzas->len, ==, 1);
  gsize base = strlen (doctype) + strlen (more);
  assert_stanza (s, 0, "<message><body>ok</body></message>",
                 base + strlen (HEADER));
  g_assert_cmpstr (body_of (s, 0), ==, "ok");
  g_assert_cmpuint (s->headers->len, >=, 1);
  assert_header (s, s->headers->len - 1, HEADER, base);
}

#define R_MSG_A "<message><body>a</body></message>"
#define R_MSG_B "<message><body>b</body></message>"
#define R_MSG_A_COMMENT "<message><!-- x --><body>a</body></message>"
static const char comment_between_vec[] = HEADER R_MSG_A "<!-- x -->" R_MSG_B;
static const char comment_inside_vec[] = HEADER R_MSG_A_COMMENT R_MSG_B;
static const char pi_vec[] = HEADER R_MSG_A "<?foo bar?>" R_MSG_B;

static void
check_restricted_two (const Seen *s, const char *data, gsize len,
                      const char *first)
{
  g_assert_cmpuint (s->problems[XM_FRAMER_RESTRICTED], >=, 1);
  g_assert_cmpuint (s->problems[XM_FRAMER_MALFORMED], ==, 0);
  g_assert_cmpuint (s->stanzas->len, ==, 2);
  assert_stanza_in (s, 0, data, first);
  assert_stanza_in (s, 1, data, R_MSG_B);
  g_assert_cmpstr (body_of (s, 0), ==, "a");
  g_assert_cmpstr (body_of (s, 1), ==, "b");
  g_assert_false (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len);
}

static void
check_comment_between (const Seen *s, const char *data, gsize len)
{
  check_restricted_two (s, data, len, R_MSG_A);
}

static void
check_comment_inside (const Seen *s, const char *data, gsize len)
{
  check_restricted_two (s, data, len, R_MSG_A_COMMENT);
}

static void
test_restricted_comment (void)
{
  g_autoptr (Seen) s1 =
    run_whole (comment_between_vec, strlen (comment_between_vec), NULL);
  check_comment_between (s1, comment_between_vec, strlen (comment_between_vec));
  g_assert_cmpuint (s1->problems[XM_FRAMER_RESTRICTED], ==, 1);

  g_autoptr (Seen) s2 =
    run_whole (comment_inside_vec, strlen (comment_inside_vec), NULL);
  check_comment_inside (s2, comment_inside_vec, strlen (comment_inside_vec));
  g_assert_cmpuint (s2->problems[XM_FRAMER_RESTRICTED], ==, 1);
}

static void
test_restricted_comment_split (void)
{
  check_every_split (comment_between_vec, strlen (comment_between_vec), NULL,
                     check_comment_between);
  check_every_split (comment_inside_vec, strlen (comment_inside_vec), NULL,
                     check_comment_inside);
}

static void
test_restricted_pi (void)
{
  g_autoptr (Seen) s = run_whole (pi_vec, strlen (pi_vec), NULL);
  check_comment_between (s, pi_vec, strlen (pi_vec));
  g_assert_cmpuint (s->problems[XM_FRAMER_RESTRICTED], ==, 1);
  check_every_split (pi_vec, strlen (pi_vec), NULL, check_comment_between);
}

/* ------------------------------------------------------------------------ */
/* 6. Malformed input and stray text                                         */
/* ------------------------------------------------------------------------ */

static void
test_malformed_mismatch (void)
{
  static const char good[] = HEADER "<presence/>";
  static const char bad[] = "<message><body>x</message>";
  static const char later[] = "<message><body>later</body></message><presence/>";
  static const char fresh[] = HEADER "<message><body>ok</body></message>";
  g_autoptr (Seen) s = seen_new (NULL);

  feed_str (s, good);
  g_assert_cmpuint (s->stanzas->len, ==, 1);
  feed_str (s, bad);
  g_assert_cmpuint (s->problems[XM_FRAMER_MALFORMED], >=, 1);
  g_assert_true (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (s->stanzas->len, ==, 1);

  /* ignored: no stanza, all bytes consumed (feed_str checks the return) */
  feed_str (s, later);
  g_assert_true (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (s->stanzas->len, ==, 1);
  g_assert_cmpuint (xm_framer_offset (s->framer), ==,
                    strlen (good) + strlen (bad) + strlen (later));

  xm_framer_reset (s->framer);
  g_assert_false (xm_framer_is_stalled (s->framer));
  feed_str (s, fresh);
  g_assert_false (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (s->stanzas->len, ==, 2);
  gsize base = strlen (good) + strlen (bad) + strlen (later);
  assert_stanza (s, 1, "<message><body>ok</body></message>",
                 base + strlen (HEADER));
  g_assert_cmpuint (s->headers->len, ==, 2);
  assert_header (s, 1, HEADER, base);
}

/* Each bad vector, fed whole, split anywhere and byte by byte: MALFORMED,
 * stalled, and the bad message is never reported as a stanza. */
static void
check_malformed_bad_message (const Seen *s, const char *data, gsize len)
{
  g_assert_cmpuint (s->problems[XM_FRAMER_MALFORMED], >=, 1);
  g_assert_true (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (s->stanzas->len, ==, 1);
  assert_stanza_in (s, 0, data, "<presence/>");
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len);
}

static void
run_malformed_all_ways (const char *data, gsize len)
{
  g_autoptr (Seen) whole = run_whole (data, len, NULL);
  check_malformed_bad_message (whole, data, len);
  for (gsize at = 1; at < len; at++)
    {
      g_autoptr (Seen) s = run_split (data, len, at, NULL);
      check_malformed_bad_message (s, data, len);
    }
  g_autoptr (Seen) bytes = run_bytewise (data, len, NULL);
  check_malformed_bad_message (bytes, data, len);
}

static void
test_malformed_invalid_utf8 (void)
{
  static const char vec[] =
    HEADER "<presence/><message><body>h\xc3\xa9l\xfflo</body></message>";
  run_malformed_all_ways (vec, strlen (vec));
}

static void
test_malformed_nul (void)
{
  static const char vec[] =
    HEADER "<presence/><message><body>a\0b</body></message>";
  run_malformed_all_ways (vec, sizeof vec - 1);
}

static const char stray_vec[] = HEADER R_MSG_A "hello" R_MSG_B;

static void
check_stray (const Seen *s, const char *data, gsize len)
{
  g_assert_cmpuint (s->problems[XM_FRAMER_STRAY_TEXT], >=, 1);
  g_assert_cmpuint (s->problems[XM_FRAMER_MALFORMED], ==, 0);
  g_assert_cmpuint (s->stanzas->len, ==, 2);
  assert_stanza_in (s, 0, data, R_MSG_A);
  assert_stanza_in (s, 1, data, R_MSG_B);
  g_assert_false (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len);
}

static void
test_stray_text (void)
{
  check_every_split (stray_vec, strlen (stray_vec), NULL, check_stray);
}

/* ------------------------------------------------------------------------ */
/* 7. Size cap                                                               */
/* ------------------------------------------------------------------------ */

#define BIG_LEN 5000
#define NEXT_MSG "<message><body>next</body></message>"

static char *
big_vec_new (gsize *len)
{
  static const char open[] = "<message to='a@example.com'><body>";
  static const char close[] = "</body></message>";
  GString *s = g_string_new (HEADER "<presence/>");
  g_string_append (s, open);
  for (gsize i = strlen (open) + strlen (close); i < BIG_LEN; i++)
    g_string_append_c (s, 'x');
  g_string_append (s, close);
  g_string_append (s, NEXT_MSG);
  *len = s->len;
  g_assert_cmpuint (s->len, ==, strlen (HEADER "<presence/>" NEXT_MSG) + BIG_LEN);
  return g_string_free (s, FALSE);
}

static void
check_oversized (const Seen *s, const char *data, gsize len)
{
  g_assert_cmpuint (s->problems[XM_FRAMER_OVERSIZED], ==, 1);
  g_assert_cmpuint (s->problems[XM_FRAMER_MALFORMED], ==, 0);
  g_assert_cmpuint (n_oversized (s), <=, 1);
  g_assert_cmpuint (n_decoded (s), ==, 2);

  guint i = 0;
  assert_stanza_in (s, i++, data, "<presence/>");
  if (n_oversized (s) == 1)
    {
      const Rec *r = rec (s, i++);
      g_assert_true (r->oversized);
      g_assert_cmpuint (r->raw_len, >, 1000);
      g_assert_cmpuint (r->raw_len, <=, BIG_LEN);
    }
  assert_stanza_in (s, i++, data, NEXT_MSG);
  g_assert_cmpstr (body_of (s, i - 1), ==, "next");
  g_assert_false (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len);
}

/* The same with the size in the start tag (a huge attribute): the stanza
 * must be skipped, not stall the direction, wherever the input is split. */
static char *
big_tag_vec_new (gsize *len)
{
  GString *s = g_string_new (HEADER "<presence/><message id='");
  for (gsize i = 0; i < BIG_LEN; i++)
    g_string_append_c (s, 'x');
  g_string_append (s, "'><body>b</body></message>" NEXT_MSG);
  *len = s->len;
  return g_string_free (s, FALSE);
}

static void
check_oversized_tag (const Seen *s, const char *data, gsize len)
{
  g_assert_cmpuint (s->problems[XM_FRAMER_OVERSIZED], ==, 1);
  g_assert_cmpuint (s->problems[XM_FRAMER_MALFORMED], ==, 0);
  g_assert_cmpuint (n_decoded (s), ==, 2);
  assert_stanza_in (s, 0, data, "<presence/>");
  assert_stanza_in (s, s->stanzas->len - 1, data, NEXT_MSG);
  g_assert_false (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len);
}

static void
test_oversized_tag_split (void)
{
  Opts opts = { .max_stanza = 1000 };
  gsize len;
  g_autofree char *vec = big_tag_vec_new (&len);
  g_autoptr (Seen) whole = run_whole (vec, len, &opts);
  check_oversized_tag (whole, vec, len);
  check_every_split (vec, len, &opts, check_oversized_tag);
}

static void
test_oversized (void)
{
  Opts opts = { .max_stanza = 1000 };
  gsize len;
  g_autofree char *vec = big_vec_new (&len);
  g_autoptr (Seen) s = run_whole (vec, len, &opts);
  check_oversized (s, vec, len);
}

static void
test_oversized_split (void)
{
  Opts opts = { .max_stanza = 1000 };
  gsize len;
  g_autofree char *vec = big_vec_new (&len);
  check_every_split (vec, len, &opts, check_oversized);
}

/* Nesting: a stanza whose elements nest XM_FRAMER_MAX_DEPTH deep is decoded;
 * one level more stops decoding of the direction (expat keeps a tag per open
 * level, and the printer indents each), whatever the size cap. */
static char *
nested_vec_new (guint levels, const char *after)
{
  GString *v = g_string_new (HEADER "<message>");

  for (guint i = 1; i < levels; i++)
    g_string_append (v, "<a>");
  for (guint i = 1; i < levels; i++)
    g_string_append (v, "</a>");
  g_string_append (v, "</message>");
  g_string_append (v, after);
  return g_string_free (v, FALSE);
}

static void
check_deepest_decoded (const Seen *s, const char *data, gsize len)
{
  g_assert_cmpuint (n_problems (s), ==, 0);
  g_assert_cmpuint (s->stanzas->len, ==, 2);
  g_assert_cmpuint (n_decoded (s), ==, 2);
  g_assert_cmpstr (rec (s, 1)->body, ==, "b");
  g_assert_false (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len);
}

static void
check_too_deep (const Seen *s, const char *data, gsize len)
{
  g_assert_cmpuint (s->problems[XM_FRAMER_OVERSIZED], ==, 1);
  g_assert_cmpuint (n_problems (s), ==, 1);
  g_assert_cmpuint (s->stanzas->len, ==, 0);
  g_assert_true (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len);
}

static void
test_depth (void)
{
  g_autofree char *deepest = nested_vec_new (XM_FRAMER_MAX_DEPTH, R_MSG_B);
  g_autofree char *deeper = nested_vec_new (XM_FRAMER_MAX_DEPTH + 1, R_MSG_B);

  check_every_split (deepest, strlen (deepest), NULL, check_deepest_decoded);
  check_every_split (deeper, strlen (deeper), NULL, check_too_deep);
}

/* Inside a stanza already over the size cap (not decoded, still parsed):
 * 100,000 levels stop at the depth cap, not at the end of the input. */
static void
test_depth_oversized (void)
{
  Opts opts = { .max_stanza = 1000 };
  g_autofree char *vec = nested_vec_new (100000, R_MSG_B);
  g_autoptr (Seen) s = run_whole (vec, strlen (vec), &opts);

  g_assert_cmpuint (s->problems[XM_FRAMER_OVERSIZED], ==, 1);
  g_assert_cmpuint (n_problems (s), ==, 1);
  g_assert_cmpuint (s->stanzas->len, ==, 0);
  g_assert_true (xm_framer_is_stalled (s->framer));

  /* A restart decodes again. */
  xm_framer_reset (s->framer);
  feed_str (s, HEADER R_MSG_A);
  g_assert_cmpuint (s->stanzas->len, ==, 1);
  g_assert_cmpstr (rec (s, 0)->body, ==, "a");
}

/* A stream header that is not <stream:stream> in the streams namespace:
 * reported, and taken as the header anyway. */
static guint bad_opens, bad_stanzas, bad_problems[N_PROBLEM_KINDS];

static void
bad_on_open (XmStanza *header, gpointer user_data)
{
  bad_opens++;
}

static void
bad_on_stanza (XmStanza *st, gpointer user_data)
{
  bad_stanzas++;
}

static void
bad_on_problem (XmFramerProblem kind, guint64 offset, const char *message,
                gpointer user_data)
{
  g_assert_cmpuint ((guint) kind, <, N_PROBLEM_KINDS);
  if ((guint) kind < N_PROBLEM_KINDS)
    bad_problems[kind]++;
  if (kind == XM_FRAMER_BAD_HEADER)
    g_assert_nonnull (strstr (message, NS_STREAMS));
}

static void
test_bad_header (void)
{
  static const XmFramerEvents ev = {
    .stream_open = bad_on_open, .stanza = bad_on_stanza,
    .problem = bad_on_problem,
  };
  static const char *const vecs[] = {
    "<stream to='x' version='1.0'>" R_MSG_A,
    "<stream:stream xmlns:stream='urn:other' to='x'>" R_MSG_A,
    "<features xmlns='" NS_STREAMS "'>" R_MSG_A,
  };

  for (guint i = 0; i < G_N_ELEMENTS (vecs); i++)
    {
      g_autoptr (XmFramer) f = xm_framer_new (&ev, NULL);

      bad_opens = bad_stanzas = 0;
      memset (bad_problems, 0, sizeof bad_problems);
      g_assert_cmpuint (xm_framer_feed (f, (const guint8 *) vecs[i],
                                        strlen (vecs[i])), ==, strlen (vecs[i]));
      g_assert_cmpuint (bad_opens, ==, 1);
      g_assert_cmpuint (bad_stanzas, ==, 1);
      g_assert_cmpuint (bad_problems[XM_FRAMER_BAD_HEADER], ==, 1);
    }
}

/* A new stream header in mid-stream whose start tag outgrows the cap over
 * several chunks: its bytes were dropped as an oversized stanza's, so the
 * framer cannot restart there (it used to re-feed them from before its
 * buffer); decoding stops until a reset, which works as usual. */
static void
test_oversized_restart_header_split (void)
{
  Opts opts = { .max_stanza = 256 };
  g_autoptr (GString) vec = g_string_new (HEADER "<presence/>");
  g_autoptr (Seen) s = seen_new (&opts);
  gsize header_at = vec->len;

  g_string_append (vec, "<stream:stream xmlns='jabber:client' "
                   "xmlns:stream='http://etherx.jabber.org/streams' from='");
  for (int i = 0; i < 40; i++)
    g_string_append (vec, "example.com.");
  g_string_append (vec, "'><message><body>after</body></message>");
  /* The header of the new stream arrives in pieces of 16 bytes. */
  feed_all (s, (const guint8 *) vec->str, header_at);
  for (gsize at = header_at; at < vec->len; at += 16)
    feed_all (s, (const guint8 *) vec->str + at, MIN (16, vec->len - at));
  g_assert_cmpuint (s->headers->len, ==, 1);
  g_assert_cmpuint (n_decoded (s), ==, 1);
  g_assert_cmpuint (s->problems[XM_FRAMER_OVERSIZED], >=, 1);
  g_assert_true (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, vec->len);

  xm_framer_reset (s->framer);
  feed_str (s, HEADER "<presence/>");
  g_assert_cmpuint (s->headers->len, ==, 2);
  g_assert_cmpuint (n_decoded (s), ==, 2);
}

/* ------------------------------------------------------------------------ */
/* 8. References                                                             */
/* ------------------------------------------------------------------------ */

static void
test_ref (void)
{
  static const char vec[] =
    HEADER "<message id='m1'><body>first</body></message>\n"
    "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"
    "<message id='m2'><body>" UTF8_BODY "</body></message>";
  static const char *const expected[] = {
    "<message id='m1'><body>first</body></message>",
    "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<message id='m2'><body>" UTF8_BODY "</body></message>",
  };
  gsize len = strlen (vec);

  /* chunk sizes: whole, and pieces small enough that stanzas span feeds */
  static const gsize chunk_sizes[] = { G_MAXSIZE, 7, 64 };
  for (guint c = 0; c < G_N_ELEMENTS (chunk_sizes); c++)
    {
      Opts opts = { .keep_refs = TRUE };
      g_autoptr (Seen) s = seen_new (&opts);

      /* Each chunk lives in its own buffer, scribbled over and freed after
       * the feed, as a proxy's read buffer is reused. */
      for (gsize pos = 0; pos < len;)
        {
          gsize n = MIN (chunk_sizes[c], len - pos);
          guint8 *buf = g_memdup2 (vec + pos, n);
          feed_all (s, buf, n);
          memset (buf, 'Z', n);
          g_free (buf);
          pos += n;
        }
      feed_str (s, "<presence/>"); /* a later feed */

      g_assert_cmpuint (s->refs->len, ==, 4);
      for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
        {
          XmStanza *st = g_ptr_array_index (s->refs, i);
          g_assert_nonnull (st->raw);
          g_assert_cmpmem (st->raw, st->raw_len, expected[i], strlen (expected[i]));
          g_assert_cmpuint (st->offset, ==, offset_of (vec, expected[i]));
          g_assert_nonnull (st->root);
        }
      XmStanza *m1 = g_ptr_array_index (s->refs, 0);
      XmStanza *iq = g_ptr_array_index (s->refs, 1);
      XmStanza *m2 = g_ptr_array_index (s->refs, 2);
      g_assert_true (xm_node_is (m1->root, NS_CLIENT, "message"));
      g_assert_cmpstr (xm_node_attr (m1->root, "id"), ==, "m1");
      g_autofree char *t1 =
        xm_node_text (xm_node_child (m1->root, NS_CLIENT, "body"));
      g_assert_cmpstr (t1, ==, "first");
      g_assert_true (xm_node_is (iq->root, NS_CLIENT, "iq"));
      g_assert_true (xm_node_is (xm_node_first_element (iq->root), "urn:xmpp:ping",
                                 "ping"));
      g_autofree char *t2 =
        xm_node_text (xm_node_child (m2->root, NS_CLIENT, "body"));
      g_assert_cmpstr (t2, ==, UTF8_BODY);

      /* the stream is over; the references still hold */
      g_clear_pointer (&s->framer, xm_framer_free);
      s->framer = xm_framer_new (&events, s);
      g_assert_cmpstr (xm_node_attr (m2->root, "id"), ==, "m2");

      /* one more reference, dropped: the stanza lives until the last one */
      g_assert_true (xm_stanza_ref (m1) == m1);
      xm_stanza_unref (m1);
      g_assert_cmpmem (m1->raw, m1->raw_len, expected[0], strlen (expected[0]));
      /* s->refs drops the last references in seen_free() */
    }
}

/* ------------------------------------------------------------------------ */
/* 9. Offsets                                                                */
/* ------------------------------------------------------------------------ */

static void
test_offset (void)
{
  g_autoptr (Seen) s = seen_new (NULL);
  g_autoptr (GRand) rand = g_rand_new_with_seed (42);
  gsize len = strlen (events_vec), total = 0;

  g_assert_cmpuint (xm_framer_offset (s->framer), ==, 0);
  for (gsize pos = 0; pos < len;)
    {
      gsize r = (gsize) g_rand_int_range (rand, 0, 40); /* MIN() would draw twice */
      gsize n = MIN (r, len - pos);
      gsize got = xm_framer_feed (s->framer, (const guint8 *) events_vec + pos, n);
      g_assert_cmpuint (got, ==, n);
      total += n;
      pos += n;
      g_assert_cmpuint (xm_framer_offset (s->framer), ==, total);
    }
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len);

  /* a reset does not rewind the count; stalled bytes count too */
  static const char bad[] = HEADER_BODY "<a></b>";
  xm_framer_reset (s->framer);
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len);
  g_assert_cmpuint (xm_framer_feed (s->framer, (const guint8 *) bad, strlen (bad)),
                    ==, strlen (bad));
  g_assert_true (xm_framer_is_stalled (s->framer));
  g_assert_cmpuint (xm_framer_feed (s->framer, (const guint8 *) "junk", 4), ==, 4);
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len + strlen (bad) + 4);
  g_assert_cmpuint (xm_framer_feed (s->framer, (const guint8 *) "", 0), ==, 0);
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len + strlen (bad) + 4);
}

/* ------------------------------------------------------------------------ */
/* 10. Seed vectors from real transcripts (tests/data/seeds/README.md)       */
/* ------------------------------------------------------------------------ */

typedef struct {
  const char *name;
  guint n_stanzas;
} Seed;

static const Seed seeds[] = {
  { "000-c2s-1", 1 }, { "000-c2s-2", 1 }, { "000-c2s-3", 4 },
  { "000-s2c-1", 2 }, { "000-s2c-2", 1 }, { "000-s2c-3", 4 },
  { "001-c2s-1", 1 }, { "001-c2s-2", 1 }, { "001-c2s-3", 4 },
  { "001-s2c-1", 2 }, { "001-s2c-2", 2 }, { "001-s2c-3", 3 },
  { "002-c2s-1", 1 }, { "002-c2s-2", 2 }, { "002-c2s-3", 9 },
  { "002-s2c-1", 2 }, { "002-s2c-2", 3 }, { "002-s2c-3", 10 },
  { "003-c2s-1", 1 }, { "003-c2s-2", 1 }, { "003-c2s-3", 2 },
  { "003-s2c-1", 2 }, { "003-s2c-2", 2 }, { "003-s2c-3", 3 },
  { "004-c2s-1", 3 }, { "004-c2s-2", 2 },
  { "004-s2c-1", 4 }, { "004-s2c-2", 3 },
};

typedef enum { SEED_WHOLE, SEED_SPLIT, SEED_BYTEWISE } SeedMode;

typedef struct {
  const Seed *seed;
  SeedMode mode;
} SeedCase;

static const Seed *current_seed;

static void
check_seed (const Seen *s, const char *data, gsize len)
{
  const Seed *seed = current_seed;

  g_assert_cmpuint (s->problems[XM_FRAMER_MALFORMED], ==, 0);
  g_assert_cmpuint (s->problems[XM_FRAMER_RESTRICTED], ==, 0);
  g_assert_cmpuint (n_problems (s), ==, 0);
  g_assert_false (xm_framer_is_stalled (s->framer));

  /* the header: from the first byte to the '>' of <stream:stream ...> */
  g_assert_cmpuint (s->headers->len, ==, 1);
  const char *hdr = strstr (data, "<stream:stream");
  g_assert_nonnull (hdr);
  const char *gt = strchr (hdr, '>');
  g_assert_nonnull (gt);
  g_autofree char *header = g_strndup (data, gt + 1 - data);
  assert_header (s, 0, header, 0);

  g_assert_cmpuint (s->stanzas->len, ==, seed->n_stanzas);
  g_assert_cmpuint (n_decoded (s), ==, seed->n_stanzas);
  assert_raws_match (s, data, len);
  g_assert_cmpuint (rec (s, 0)->offset, >, strlen (header) - 1);

  g_assert_cmpuint (s->close_offsets->len, ==,
                    strstr (data, "</stream:stream>") ? 1 : 0);
  g_assert_cmpuint (xm_framer_offset (s->framer), ==, len);
}

static void
test_seed (gconstpointer user_data)
{
  const SeedCase *c = user_data;
  g_autofree char *file = g_strconcat (c->seed->name, ".xml", NULL);
  g_autofree char *path =
    g_test_build_filename (G_TEST_DIST, "data", "seeds", file, NULL);
  g_autofree char *data = NULL;
  gsize len;
  g_autoptr (GError) error = NULL;

  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (len, >, 0);
  current_seed = c->seed;

  switch (c->mode)
    {
    case SEED_WHOLE:
      {
        g_autoptr (Seen) s = run_whole (data, len, NULL);
        check_seed (s, data, len);
      }
      break;
    case SEED_SPLIT:
      check_every_split (data, len, NULL, check_seed);
      break;
    case SEED_BYTEWISE:
      {
        g_autoptr (Seen) whole = run_whole (data, len, NULL);
        g_autoptr (Seen) s = run_bytewise (data, len, NULL);
        check_seed (s, data, len);
        assert_same_events (whole, s, "byte by byte");
      }
      break;
    }
}

/* ------------------------------------------------------------------------ */

/* pending_offset: where the incomplete item begins, at every byte. */
static void
noop_stanza (XmStanza *st, gpointer ud)
{
}

static void
test_pending_offset (void)
{
  static const XmFramerEvents ev = { NULL, noop_stanza, NULL, NULL, NULL };
  const char *hdr = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                    "xmlns:stream='http://etherx.jabber.org/streams'>";
  const char *msg = "<message><body>x</body></message>";
  g_autofree char *all = g_strconcat (hdr, " ", msg, "<iq/>", NULL);
  gsize h = strlen (hdr), m0 = h + 1, m1 = m0 + strlen (msg), i1 = m1 + 5;
  g_autoptr (XmFramer) f = xm_framer_new (&ev, NULL);

  g_assert_cmpuint (xm_framer_pending_offset (f), ==, 0);
  for (gsize cut = 1; cut <= i1; cut++)
    {
      guint64 want;

      xm_framer_feed (f, (const guint8 *) all + cut - 1, 1);
      if (cut < h)
        want = 0;            /* the header is still pending */
      else if (cut > m0 && cut < m1)
        want = m0;           /* inside <message> */
      else if (cut > m1 && cut < i1)
        want = m1;           /* inside <iq/> */
      else
        want = cut;          /* between items */
      g_assert_cmpuint (xm_framer_pending_offset (f), ==, want);
      /* The pending element is known once its start tag is complete. */
      if (cut >= m0 + strlen ("<message>") && cut < m1)
        g_assert_cmpstr (xm_framer_pending_element (f)->name, ==, "message");
      else
        g_assert_null (xm_framer_pending_element (f));
    }
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/framer/events", test_events);
  g_test_add_func ("/framer/events/no-declaration", test_events_no_declaration);
  g_test_add_func ("/framer/keepalive/chunks", test_keepalive_chunks);
  g_test_add_func ("/framer/keepalive/crlf", test_keepalive_crlf);
  g_test_add_func ("/framer/split-every-byte", test_split_every_byte);
  g_test_add_func ("/framer/split-every-byte/utf8", test_split_utf8);
  g_test_add_func ("/framer/namespaces", test_namespaces);
  g_test_add_func ("/framer/restart/tls-proceed", test_restart_tls);
  g_test_add_func ("/framer/restart/tls-proceed/split", test_restart_tls_split);
  g_test_add_func ("/framer/restart/sasl-success", test_restart_sasl);
  g_test_add_func ("/framer/restart/sasl-success/split", test_restart_sasl_split);
  g_test_add_func ("/framer/restart/reset", test_restart_reset);
  g_test_add_func ("/framer/restart/implicit", test_restart_implicit);
  g_test_add_func ("/framer/restart/implicit/split", test_restart_implicit_split);
  g_test_add_func ("/framer/restricted/billion-laughs",
                   test_restricted_billion_laughs);
  g_test_add_func ("/framer/restricted/doctype-stalls",
                   test_restricted_doctype_stalls);
  g_test_add_func ("/framer/restricted/comment", test_restricted_comment);
  g_test_add_func ("/framer/restricted/comment/split",
                   test_restricted_comment_split);
  g_test_add_func ("/framer/restricted/pi", test_restricted_pi);
  g_test_add_func ("/framer/malformed/mismatched-tag", test_malformed_mismatch);
  g_test_add_func ("/framer/malformed/invalid-utf8", test_malformed_invalid_utf8);
  g_test_add_func ("/framer/malformed/nul", test_malformed_nul);
  g_test_add_func ("/framer/stray-text", test_stray_text);
  g_test_add_func ("/framer/oversized", test_oversized);
  g_test_add_func ("/framer/oversized/split", test_oversized_split);
  g_test_add_func ("/framer/oversized/start-tag-split", test_oversized_tag_split);
  g_test_add_func ("/framer/depth", test_depth);
  g_test_add_func ("/framer/depth/oversized", test_depth_oversized);
  g_test_add_func ("/framer/bad-header", test_bad_header);
  g_test_add_func ("/framer/oversized/restart-header-split",
                   test_oversized_restart_header_split);
  g_test_add_func ("/framer/pending-offset", test_pending_offset);
  g_test_add_func ("/framer/ref", test_ref);
  g_test_add_func ("/framer/offset", test_offset);

  static const char *const mode_names[] = { "whole", "split", "bytewise" };
  static SeedCase cases[G_N_ELEMENTS (seeds) * 3];
  for (guint i = 0; i < G_N_ELEMENTS (seeds); i++)
    for (guint m = 0; m < 3; m++)
      {
        SeedCase *c = &cases[i * 3 + m];
        c->seed = &seeds[i];
        c->mode = m;
        g_autofree char *path =
          g_strdup_printf ("/framer/seeds/%s/%s", seeds[i].name, mode_names[m]);
        g_test_add_data_func (path, c, test_seed);
      }

  return g_test_run ();
}
