/* test-observer.c: the two-direction decoding of a connection
 * (decoders/observer.c), driven from buffers: the events of a session with
 * a SASL restart, XEP-0138 compression, STARTTLS, a mid-stream start, a gap
 * and an unfinished element; and live, as the proxy decodes. */
#include <string.h>
#include <zlib.h>

#include <glib.h>

#include "observer.h"

#define C_HEADER "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " \
  "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"
#define S_HEADER "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " \
  "xmlns:stream='http://etherx.jabber.org/streams' from='example.com' id='s1' " \
  "version='1.0'>"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_COMPRESS "http://jabber.org/protocol/compress"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"

/* One line per event: "c2s stanza auth", "s2c layer stream-restart", ... */
typedef struct {
  GString *log;
} Seen;

static void
on_event (XmEvent *ev, gpointer user_data)
{
  Seen *s = user_data;
  const char *dir = ev->dir == XM_DIR_C2S ? "c2s" : ev->dir == XM_DIR_S2C ? "s2c" : "-";
  const char *t = (ev->flags & XM_EVENT_FLAG_TLS) ? " [tls]" : "";
  const char *z = (ev->flags & XM_EVENT_FLAG_ZLIB) ? " [zlib]" : "";

  switch (ev->kind)
    {
    case XM_EVENT_STREAM_OPEN:
      g_string_append_printf (s->log, "%s open%s%s\n", dir, t, z);
      break;
    case XM_EVENT_STANZA:
      g_string_append_printf (s->log, "%s stanza %s%s%s\n", dir, ev->stanza->root->name,
                              t, z);
      break;
    case XM_EVENT_SASL:
      g_string_append_printf (s->log, "%s sasl %s\n", dir, ev->sasl->step);
      break;
    case XM_EVENT_LAYER:
      g_string_append_printf (s->log, "%s layer %s\n", dir, ev->layer->layer);
      break;
    case XM_EVENT_NOTE:
      g_string_append_printf (s->log, "%s note %s\n", dir, ev->text);
      break;
    case XM_EVENT_STREAM_CLOSE:
      g_string_append_printf (s->log, "%s close\n", dir);
      break;
    default:
      break;
    }
}

static void
feed (XmObserver *obs, XmDir dir, const char *text)
{
  xm_observer_feed (obs, dir, (const guint8 *) text, strlen (text));
}

static void
test_sasl_restart_interleaved (void)
{
  Seen s = { g_string_new (NULL) };
  XmObserver *obs = xm_observer_new (on_event, &s);

  xm_observer_from_start (obs, XM_DIR_C2S);
  xm_observer_from_start (obs, XM_DIR_S2C);
  feed (obs, XM_DIR_C2S, C_HEADER);
  feed (obs, XM_DIR_S2C, S_HEADER "<stream:features><mechanisms xmlns='" NS_SASL
        "'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
  feed (obs, XM_DIR_C2S, "<auth xmlns='" NS_SASL "' mechanism='PLAIN'>AGp1bGlldABw</auth>");
  /* The restarted server stream follows <success/> in the same chunk. */
  feed (obs, XM_DIR_S2C, "<success xmlns='" NS_SASL "'/>" S_HEADER);
  feed (obs, XM_DIR_C2S, C_HEADER "<presence/>");
  feed (obs, XM_DIR_C2S, "</stream:stream>");
  xm_observer_finish (obs);
  g_assert_cmpstr (s.log->str, ==,
                   "c2s open\n"
                   "s2c open\n"
                   "s2c stanza features\n"
                   "c2s stanza auth\n"
                   "c2s sasl auth\n"
                   "s2c stanza success\n"
                   "s2c sasl success\n"
                   "s2c layer stream-restart\n"
                   "s2c open\n"
                   "c2s open\n"
                   "c2s stanza presence\n"
                   "c2s close\n");
  xm_observer_free (obs);
  g_string_free (s.log, TRUE);
}

static GByteArray *
deflate_sync (z_stream *z, const char *text)
{
  GByteArray *out = g_byte_array_new ();
  guint8 buf[4096];

  z->next_in = (Bytef *) text;
  z->avail_in = (uInt) strlen (text);
  do
    {
      z->next_out = buf;
      z->avail_out = sizeof buf;
      g_assert_cmpint (deflate (z, Z_SYNC_FLUSH), !=, Z_STREAM_ERROR);
      g_byte_array_append (out, buf, sizeof buf - z->avail_out);
    }
  while (z->avail_out == 0);
  return out;
}

static void
test_zlib (void)
{
  Seen s = { g_string_new (NULL) };
  XmObserver *obs = xm_observer_new (on_event, &s);
  z_stream z = { 0 };
  GByteArray *bytes;

  feed (obs, XM_DIR_C2S, C_HEADER "<compress xmlns='" NS_COMPRESS
        "'><method>zlib</method></compress>");
  feed (obs, XM_DIR_S2C, S_HEADER "<compressed xmlns='" NS_COMPRESS "'/>");
  g_assert_cmpint (deflateInit (&z, Z_DEFAULT_COMPRESSION), ==, Z_OK);
  bytes = deflate_sync (&z, C_HEADER "<iq type='get' id='1'/>");
  /* Split inside the compressed bytes. */
  xm_observer_feed (obs, XM_DIR_C2S, bytes->data, 3);
  xm_observer_feed (obs, XM_DIR_C2S, bytes->data + 3, bytes->len - 3);
  g_byte_array_unref (bytes);
  deflateEnd (&z);
  g_assert_true (xm_observer_decoding (obs, XM_DIR_C2S));
  /* Not zlib: that direction stops. */
  feed (obs, XM_DIR_S2C, "<plain/>");
  g_assert_false (xm_observer_decoding (obs, XM_DIR_S2C));
  g_assert_true (xm_observer_decoding (obs, XM_DIR_C2S));
  xm_observer_finish (obs);
  g_assert_true (g_str_has_prefix (s.log->str,
                   "c2s open\n"
                   "c2s stanza compress\n"
                   "s2c open\n"
                   "s2c stanza compressed\n"
                   "s2c layer zlib\n"
                   "c2s open [zlib]\n"
                   "c2s stanza iq [zlib]\n"
                   "s2c note zlib: not a valid zlib stream"));
  xm_observer_free (obs);
  g_string_free (s.log, TRUE);
}

static void
test_starttls (void)
{
  Seen s = { g_string_new (NULL) };
  XmObserver *obs = xm_observer_new (on_event, &s);

  feed (obs, XM_DIR_C2S, C_HEADER "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  feed (obs, XM_DIR_S2C, S_HEADER "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        "\x16\x03\x01");
  g_assert_false (xm_observer_decoding (obs, XM_DIR_C2S));
  g_assert_false (xm_observer_decoding (obs, XM_DIR_S2C));
  feed (obs, XM_DIR_C2S, "\x16\x03\x01\x02");
  xm_observer_finish (obs);
  g_assert_true (g_str_has_suffix (s.log->str,
                   "s2c stanza proceed\n"
                   "s2c layer starttls\n"
                   "- note the rest of this connection is TLS, which a capture "
                   "cannot decrypt: decoding of this connection stops (run the "
                   "session through xmitm to see it)\n"));
  xm_observer_free (obs);
  g_string_free (s.log, TRUE);
}

/* Mid-stream: wait for a header, found across two chunks; a gap; then an
 * element the end cuts short. */
static void
test_resync_gap_unfinished (void)
{
  Seen s = { g_string_new (NULL) };
  XmObserver *obs = xm_observer_new (on_event, &s);
  const char *header = C_HEADER;

  feed (obs, XM_DIR_C2S, "ody>hi</body></message><presence/><?x");
  feed (obs, XM_DIR_C2S, header + 3);
  feed (obs, XM_DIR_C2S, "<presence/>");
  xm_observer_gap (obs, XM_DIR_C2S, "10 bytes missing at offset 300");
  feed (obs, XM_DIR_C2S, "<presence/>");
  feed (obs, XM_DIR_C2S, C_HEADER "<message><bo");
  xm_observer_finish (obs);
  g_assert_cmpstr (s.log->str, ==,
                   "c2s note the capture starts in the middle of this "
                   "direction's stream: decoding waits for a stream header\n"
                   "c2s note a stream header: decoding of this direction resumes\n"
                   "c2s open\n"
                   "c2s stanza presence\n"
                   "c2s note TCP: 10 bytes missing at offset 300 of this "
                   "direction (not in the capture): decoding of this direction "
                   "waits for a new stream header\n"
                   "c2s note a stream header: decoding of this direction resumes\n"
                   "c2s open\n"
                   "c2s note the last 12 bytes of this direction are an "
                   "incomplete element (not decoded)\n");
  xm_observer_free (obs);
  g_string_free (s.log, TRUE);
}

static void
on_element (XmDir dir, const XmStanza *st, const XmSaslDecode *sasl, gpointer user_data)
{
  Seen *s = user_data;

  g_string_append_printf (s->log, "%s element %s%s\n", dir == XM_DIR_C2S ? "c2s" : "s2c",
                          st->root->name, sasl ? " +sasl" : "");
}

static void
live_feed (XmObserver *obs, XmDir dir, const char *text)
{
  gsize len = strlen (text);
  XmSwitch sw;

  g_assert_cmpuint (xm_observer_decode (obs, dir, (const guint8 *) text, len, &sw), ==, len);
  g_assert_cmpint (sw, ==, XM_SWITCH_NONE);
}

/* As the proxy decodes: xm_observer_decode() stops right after <proceed/>
 * and <compressed/>, the caller switches; its element hook comes after an
 * element's events; TLS it runs does not stop decoding, and a <proceed/>
 * inside it switches nothing. */
static void
test_live (void)
{
  Seen s = { g_string_new (NULL) };
  XmObserverLive live = { .max_stanza = 4096, .lazy = TRUE, .max_inflate = 1 << 20,
                          .element = on_element };
  XmObserver *obs = xm_observer_new_live (&live, on_event, &s);
  const char *proceed = "<proceed xmlns='" NS_TLS "'/>";
  const char *compressed = "<compressed xmlns='" NS_COMPRESS "'/>";
  g_autofree char *chunk = g_strconcat (proceed, "\x16\x03\x01", NULL);
  GByteArray *zchunk = g_byte_array_new ();
  GByteArray *zbytes;
  z_stream z = { 0 };
  XmSwitch sw;

  live_feed (obs, XM_DIR_C2S, C_HEADER "<starttls xmlns='" NS_TLS "'/>");
  live_feed (obs, XM_DIR_S2C, S_HEADER);
  g_assert_cmpuint (xm_observer_decode (obs, XM_DIR_S2C, (const guint8 *) chunk,
                                        strlen (chunk), &sw), ==, strlen (proceed));
  g_assert_cmpint (sw, ==, XM_SWITCH_STARTTLS);
  xm_observer_switch (obs);
  xm_observer_tls_started (obs);
  xm_observer_tls_up (obs);
  live_feed (obs, XM_DIR_C2S, C_HEADER "<auth xmlns='" NS_SASL "' mechanism='PLAIN'>"
             "AGp1bGlldABw</auth>");
  live_feed (obs, XM_DIR_S2C, S_HEADER "<proceed xmlns='" NS_TLS "'/>"
             "<message><body>hi</body></message>");
  /* The compressed stream starts in the chunk that holds <compressed/>. */
  g_assert_cmpint (deflateInit (&z, Z_DEFAULT_COMPRESSION), ==, Z_OK);
  zbytes = deflate_sync (&z, S_HEADER "<presence/>");
  deflateEnd (&z);
  g_byte_array_append (zchunk, (const guint8 *) compressed, strlen (compressed));
  g_byte_array_append (zchunk, zbytes->data, zbytes->len);
  g_assert_cmpuint (xm_observer_decode (obs, XM_DIR_S2C, zchunk->data, zchunk->len, &sw),
                    ==, strlen (compressed));
  g_assert_cmpint (sw, ==, XM_SWITCH_ZLIB);
  xm_observer_switch (obs);
  g_assert_cmpuint (xm_observer_decode (obs, XM_DIR_S2C, zbytes->data, zbytes->len, &sw),
                    ==, zbytes->len);
  g_assert_cmpint (sw, ==, XM_SWITCH_NONE);
  live_feed (obs, XM_DIR_C2S, "\xff\xfe not zlib");
  g_assert_cmpuint (xm_framer_offset (xm_observer_framer (obs, XM_DIR_S2C)), ==,
                    3 * strlen (S_HEADER) + 2 * strlen (proceed)
                    + strlen ("<message><body>hi</body></message>")
                    + strlen (compressed) + strlen ("<presence/>"));
  g_assert_true (g_str_has_prefix (s.log->str,
                   "c2s open\n"
                   "c2s stanza starttls\n"
                   "c2s element starttls\n"
                   "s2c open\n"
                   "s2c stanza proceed\n"
                   "s2c element proceed\n"
                   "s2c layer starttls\n"
                   "c2s open [tls]\n"
                   "c2s stanza auth [tls]\n"
                   "c2s sasl auth\n"
                   "c2s element auth +sasl\n"
                   "s2c open [tls]\n"
                   "s2c stanza proceed [tls]\n"
                   "s2c element proceed\n"
                   "s2c stanza message [tls]\n"
                   "s2c element message\n"
                   "s2c stanza compressed [tls]\n"
                   "s2c element compressed\n"
                   "s2c layer zlib\n"
                   "s2c open [tls] [zlib]\n"
                   "s2c stanza presence [tls] [zlib]\n"
                   "s2c element presence\n"
                   "c2s note zlib: not a valid zlib stream"));
  g_assert_true (g_str_has_suffix (s.log->str, ": decoding of this direction stops; "
                                   "the bytes are still forwarded\n"));
  g_byte_array_unref (zbytes);
  g_byte_array_unref (zchunk);
  xm_observer_free (obs);
  g_string_free (s.log, TRUE);
}

/* On an s2s stream, XEP-0288 bidi, XEP-0198 and <host-unknown/> get a
 * note each; on a client's stream the same elements get none. */
static void
test_s2s_features (void)
{
  for (int s2s = 0; s2s < 2; s2s++)
    {
      Seen s = { g_string_new (NULL) };
      XmObserver *obs = xm_observer_new (on_event, &s);
      const char *ns = s2s ? "jabber:server" : "jabber:client";
      g_autofree char *ch = g_strdup_printf ("<stream:stream xmlns='%s' xmlns:stream="
                                             "'http://etherx.jabber.org/streams' "
                                             "from='a.test' to='b.test' version='1.0'>", ns);
      g_autofree char *sh = g_strdup_printf ("<stream:stream xmlns='%s' xmlns:stream="
                                             "'http://etherx.jabber.org/streams' "
                                             "from='b.test' to='a.test' id='i' version='1.0'>", ns);

      xm_observer_from_start (obs, XM_DIR_C2S);
      xm_observer_from_start (obs, XM_DIR_S2C);
      feed (obs, XM_DIR_C2S, ch);
      feed (obs, XM_DIR_S2C, sh);
      feed (obs, XM_DIR_S2C, "<stream:features><bidi xmlns='urn:xmpp:features:bidi'/>"
            "<sm xmlns='urn:xmpp:sm:3'/></stream:features>");
      feed (obs, XM_DIR_C2S, "<bidi xmlns='urn:xmpp:bidi'/><enable xmlns='urn:xmpp:sm:3'/>");
      feed (obs, XM_DIR_S2C, "<enabled xmlns='urn:xmpp:sm:3'/>");
      feed (obs, XM_DIR_S2C, "<stream:error><host-unknown xmlns='urn:ietf:params:"
            "xml:ns:xmpp-streams'/></stream:error>");
      xm_observer_finish (obs);
      if (!s2s)
        g_assert_null (strstr (s.log->str, "note"));
      else
        {
          g_assert_nonnull (strstr (s.log->str, "s2c stanza features\ns2c note the "
                                    "receiving server offers XEP-0288 bidirectional s2s"));
          g_assert_nonnull (strstr (s.log->str, "and XEP-0198 stream management on s2s"));
          g_assert_nonnull (strstr (s.log->str, "c2s stanza bidi\nc2s note XEP-0288: "
                                    "the initiating server asks for bidirectional s2s"));
          g_assert_nonnull (strstr (s.log->str, "c2s stanza enable\nc2s note XEP-0198 on s2s"));
          g_assert_nonnull (strstr (s.log->str, "s2c stanza enabled\ns2c note XEP-0198 on s2s: "
                                    "stream management is on"));
          g_assert_nonnull (strstr (s.log->str, "s2c stanza error\ns2c note host-unknown: "
                                    "the receiving server does not serve"));
        }
      xm_observer_free (obs);
      g_string_free (s.log, TRUE);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/observer/sasl-restart-interleaved", test_sasl_restart_interleaved);
  g_test_add_func ("/observer/zlib", test_zlib);
  g_test_add_func ("/observer/starttls", test_starttls);
  g_test_add_func ("/observer/resync-gap-unfinished", test_resync_gap_unfinished);
  g_test_add_func ("/observer/live", test_live);
  g_test_add_func ("/observer/s2s-features", test_s2s_features);
  return g_test_run ();
}
