/* test-xml-framing.c: the framer in RFC 7395 framing mode
 * (xm_framer_set_framing), as XMPP over WebSocket uses it: no stream
 * document, every top-level element an item, <open/> and <close/> as the
 * stream's open and close. Each vector is fed whole, split at every byte
 * and byte by byte, with expat alone, lazily and with plain trees: the
 * events must be the same every time. */
#include <string.h>

#include <glib.h>

#include "xml-framer.h"

#define OPEN "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>"
#define CLOSE "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"
#define FEATURES                                                             \
  "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"      \
  "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"                    \
  "<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
#define MSG "<message xmlns='jabber:client' to='bob@example.com' type='chat'><body>hi</body></message>"
#define PRES "<presence xmlns='jabber:client'/>"

typedef struct {
  XmFramer *framer;
  GString *log;
} Seen;

static void
on_open (XmStanza *st, gpointer user_data)
{
  Seen *s = user_data;

  g_string_append_printf (s->log, "open@%" G_GUINT64_FORMAT " %s to=%s %.*s\n",
                          st->offset, st->root->name,
                          xm_node_attr (st->root, "to") ? xm_node_attr (st->root, "to") : "-", (int) st->raw_len,
                          (const char *) st->raw);
}

static void
on_stanza (XmStanza *st, gpointer user_data)
{
  Seen *s = user_data;

  if (st->oversized)
    {
      g_string_append_printf (s->log, "oversized@%" G_GUINT64_FORMAT "\n", st->offset);
      return;
    }
  /* shallow or not, the name and namespace are the same */
  g_string_append_printf (s->log, "stanza@%" G_GUINT64_FORMAT " {%s}%s %.*s\n",
                          st->offset, st->root->ns ? st->root->ns : "",
                          st->root->name, (int) st->raw_len, (const char *) st->raw);
}

static void
on_keepalive (gsize n, gpointer user_data)
{
  (void) n;
  (void) user_data;
}

static void
on_close (guint64 offset, gpointer user_data)
{
  (void) offset;
  (void) user_data;
  g_assert_not_reached (); /* no stream document, nothing closes it */
}

static void
on_problem (XmFramerProblem kind, guint64 offset, const char *message,
            gpointer user_data)
{
  Seen *s = user_data;
  g_string_append_printf (s->log, "problem%d@%" G_GUINT64_FORMAT "\n", kind, offset);
}

static const XmFramerEvents events = {
  on_open, on_stanza, on_keepalive, on_close, on_problem,
};

typedef enum { MODE_EXPAT, MODE_LAZY, MODE_PLAIN } Mode;

/* Feeds each message of msgs (NULL-terminated) in pieces of step bytes
 * (0: whole); after each message, a framer that still holds a pending
 * element is reset, as the WebSocket decoder does. */
static char *
run (const char *const *msgs, gsize step, Mode mode)
{
  Seen s = { xm_framer_new (&events, &s), g_string_new (NULL) };

  xm_framer_set_framing (s.framer, TRUE);
  xm_framer_set_lazy (s.framer, mode == MODE_LAZY);
  xm_framer_set_plain_trees (s.framer, mode == MODE_PLAIN);
  for (guint m = 0; msgs[m]; m++)
    {
      const char *p = msgs[m];
      gsize len = strlen (p);

      while (len)
        {
          gsize n = step ? MIN (step, len) : len;
          gsize took = xm_framer_feed (s.framer, (const guint8 *) p, n);

          g_assert_cmpuint (took, ==, n);
          p += n;
          len -= n;
        }
      if (xm_framer_pending_offset (s.framer) != xm_framer_offset (s.framer)
          || xm_framer_is_stalled (s.framer))
        {
          g_string_append (s.log, "reset\n");
          xm_framer_reset (s.framer);
        }
    }
  xm_framer_free (s.framer);
  return g_string_free (s.log, FALSE);
}

static char *
run_all_ways (const char *const *msgs)
{
  char *whole = run (msgs, 0, MODE_EXPAT);

  for (Mode mode = MODE_EXPAT; mode <= MODE_PLAIN; mode++)
    for (gsize step = 0; step <= 7; step++)
      {
        g_autofree char *other = run (msgs, step, mode);
        g_assert_cmpstr (other, ==, whole);
      }
  return whole;
}

static void
test_session (void)
{
  static const char *const msgs[] = { OPEN, FEATURES, MSG, PRES, CLOSE, NULL };
  g_autofree char *log = run_all_ways (msgs);
  gsize o1 = strlen (OPEN), o2 = o1 + strlen (FEATURES), o3 = o2 + strlen (MSG);
  gsize o4 = o3 + strlen (PRES);
  g_autofree char *want = g_strdup_printf (
    "open@0 open to=example.com " OPEN "\n"
    "stanza@%zu {http://etherx.jabber.org/streams}features " FEATURES "\n"
    "stanza@%zu {jabber:client}message " MSG "\n"
    "stanza@%zu {jabber:client}presence " PRES "\n"
    "stanza@%zu {urn:ietf:params:xml:ns:xmpp-framing}close " CLOSE "\n",
    o1, o2, o3, o4);

  g_assert_cmpstr (log, ==, want);
}

/* A stream restart (after SASL success) is a new <open/>; the offsets go
 * on counting the bytes fed. */
static void
test_reopen (void)
{
  static const char *const msgs[] = { OPEN, MSG, OPEN, MSG, NULL };
  g_autofree char *log = run_all_ways (msgs);
  gsize a = strlen (OPEN), b = a + strlen (MSG), c = b + strlen (OPEN);
  g_autofree char *want = g_strdup_printf (
    "open@0 open to=example.com " OPEN "\n"
    "stanza@%zu {jabber:client}message " MSG "\n"
    "open@%zu open to=example.com " OPEN "\n"
    "stanza@%zu {jabber:client}message " MSG "\n", a, b, c);

  g_assert_cmpstr (log, ==, want);
}

/* RFC 7395 §3.3.3: elements are namespace-complete. A stanza without
 * xmlns is in no namespace; a prefix nobody declared is malformed, and
 * the next message decodes again after the reset. */
static void
test_namespace_complete (void)
{
  static const char *const msgs[] = {
    "<message to='a@b'/>", "<stream:features/>", PRES, NULL };
  g_autofree char *log = run_all_ways (msgs);
  gsize a = strlen (msgs[0]), b = a + strlen (msgs[1]);
  g_autofree char *want = g_strdup_printf (
    "stanza@0 {}message <message to='a@b'/>\n"
    "problem%d@%zu\n"
    "reset\n"
    "stanza@%zu {jabber:client}presence " PRES "\n",
    XM_FRAMER_MALFORMED, a, b);

  g_assert_cmpstr (log, ==, want);
}

/* The old draft's stream header in a WebSocket message: an element that
 * never ends, so the message holds no whole element; the next message is
 * decoded. An XML declaration stalls until the reset. */
static void
test_stream_header_and_declaration (void)
{
  static const char *const msgs[] = {
    "<stream:stream xmlns='jabber:client' "
      "xmlns:stream='http://etherx.jabber.org/streams' to='example.com'>",
    MSG, "<?xml version='1.0'?>", PRES, NULL };
  g_autofree char *log = run_all_ways (msgs);
  gsize a = strlen (msgs[0]), b = a + strlen (MSG), c = b + strlen (msgs[2]);
  g_autofree char *want = g_strdup_printf (
    "reset\n"
    "stanza@%zu {jabber:client}message " MSG "\n"
    "problem%d@%zu\n"
    "reset\n"
    "stanza@%zu {jabber:client}presence " PRES "\n",
    a, XM_FRAMER_MALFORMED, b, c);

  g_assert_cmpstr (log, ==, want);
}

/* Framing is a mode of the next document: switching it on mid-stream
 * takes effect at the next byte, as after a reset. */
static void
test_switch_on (void)
{
  Seen s = { xm_framer_new (&events, &s), g_string_new (NULL) };
  static const char stream[] =
    "<stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams'>";

  xm_framer_feed (s.framer, (const guint8 *) stream, strlen (stream));
  xm_framer_set_framing (s.framer, TRUE);
  g_assert_true (xm_framer_framing (s.framer));
  xm_framer_feed (s.framer, (const guint8 *) OPEN, strlen (OPEN));
  g_autofree char *want = g_strdup_printf ("open@%zu open to=example.com " OPEN "\n",
                                           strlen (stream));
  g_assert_true (g_str_has_suffix (s.log->str, want));
  xm_framer_free (s.framer);
  g_string_free (s.log, TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/framing/session", test_session);
  g_test_add_func ("/framing/reopen", test_reopen);
  g_test_add_func ("/framing/namespace-complete", test_namespace_complete);
  g_test_add_func ("/framing/stream-header-and-declaration",
                   test_stream_header_and_declaration);
  g_test_add_func ("/framing/switch-on", test_switch_on);
  return g_test_run ();
}
