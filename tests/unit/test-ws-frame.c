/* test-ws-frame.c: the RFC 6455 frame reader, rule by rule; every stream is
 * fed whole, a byte at a time and in odd chunks, and must give the same
 * events each way. */
#include "config.h"

#include <string.h>
#include <zlib.h>

#include "ws-frame.h"

static const guint8 mask[4] = { 0x37, 0xfa, 0x21, 0x3d };

typedef struct {
  gsize max;
  gboolean deflate;
  gboolean no_takeover;
} Opts;

static void
on_message (guint8 opcode, const guint8 *data, gsize len, guint64 offset,
            guint64 end, guint n_frames, gpointer user_data)
{
  GString *log = user_data;

  g_string_append_printf (log, "M%u len=%" G_GSIZE_FORMAT " at=%" G_GUINT64_FORMAT
                          "-%" G_GUINT64_FORMAT " n=%u [", opcode, len, offset,
                          end, n_frames);
  for (gsize i = 0; i < MIN (len, 40); i++)
    {
      if (data[i] >= 0x20 && data[i] < 0x7f)
        g_string_append_c (log, (char) data[i]);
      else
        g_string_append_printf (log, "\\x%02x", data[i]);
    }
  g_string_append (log, "]\n");
}

static void
on_close (guint code, const char *reason, guint64 offset, gpointer user_data)
{
  g_string_append_printf (user_data, "C%u [%s] at=%" G_GUINT64_FORMAT "\n",
                          code, reason, offset);
}

static void
on_problem (guint64 offset, gboolean fatal, const char *message, gpointer user_data)
{
  g_assert_true (g_utf8_validate (message, -1, NULL));
  g_string_append_printf (user_data, "P%s at=%" G_GUINT64_FORMAT " %s\n",
                          fatal ? "!" : "", offset, message);
}

static const XmWsEvents events = { on_message, on_close, on_problem, NULL };

static char *
run_chunked (XmWsRole role, const Opts *o, const guint8 *data, gsize len,
             gsize chunk)
{
  GString *log = g_string_new (NULL);
  XmWsReader *r = xm_ws_reader_new (role, &events, log);

  if (o && o->max)
    xm_ws_reader_set_max_message (r, o->max);
  if (o && o->deflate)
    xm_ws_reader_set_deflate (r, TRUE);
  if (o && o->no_takeover)
    xm_ws_reader_set_no_context_takeover (r, TRUE);
  for (gsize done = 0; done < len;)
    {
      gsize n = MIN (chunk, len - done);
      xm_ws_reader_feed (r, data + done, n);
      done += n;
    }
  g_assert_cmpuint (xm_ws_reader_offset (r), ==, len);
  if (xm_ws_reader_stopped (r))
    g_string_append (log, "STOPPED\n");
  xm_ws_reader_free (r);
  return g_string_free (log, FALSE);
}

/* The events, the same whole, byte by byte and in chunks of 2, 3, 7, 100. */
static char *
run (XmWsRole role, const Opts *o, const GByteArray *in)
{
  static const gsize chunks[] = { 1, 2, 3, 7, 100 };
  char *whole = run_chunked (role, o, in->data, in->len, G_MAXSIZE);

  for (guint i = 0; i < G_N_ELEMENTS (chunks); i++)
    {
      g_autofree char *other = run_chunked (role, o, in->data, in->len, chunks[i]);
      g_assert_cmpstr (other, ==, whole);
    }
  return whole;
}

static void
frame (GByteArray *out, guint8 op, gboolean fin, gboolean masked, const char *text)
{
  xm_ws_frame_append (out, op, fin, masked ? mask : NULL, (const guint8 *) text,
                      strlen (text));
}

static void
expect (const char *log, const char *needle)
{
  if (strstr (log, needle) == NULL)
    g_error ("expected \"%s\" in:\n%s", needle, log);
}

static void
test_masked_text (void)
{
  g_autoptr (GByteArray) in = g_byte_array_new ();
  g_autofree char *log = NULL;

  frame (in, XM_WS_TEXT, TRUE, TRUE, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>");
  frame (in, XM_WS_TEXT, TRUE, TRUE, "<presence/>");
  log = run (XM_WS_FROM_CLIENT, NULL, in);
  g_assert_cmpstr (log, ==,
    "M1 len=82 at=0-88 n=1 [<open xmlns='urn:ietf:params:xml:ns:xmpp]\n"
    "M1 len=11 at=88-105 n=1 [<presence/>]\n");
  /* The same unmasked from the server. */
  g_byte_array_set_size (in, 0);
  frame (in, XM_WS_TEXT, TRUE, FALSE, "<presence/>");
  g_free (log);
  log = run (XM_WS_FROM_SERVER, NULL, in);
  g_assert_cmpstr (log, ==, "M1 len=11 at=0-13 n=1 [<presence/>]\n");
}

static void
test_masking_rules (void)
{
  g_autoptr (GByteArray) in = g_byte_array_new ();
  g_autofree char *c = NULL, *s = NULL;

  frame (in, XM_WS_TEXT, TRUE, FALSE, "<a/>");
  c = run (XM_WS_FROM_CLIENT, NULL, in);
  g_assert_cmpstr (c, ==, "P at=0 RFC 6455 §5.1: a client must mask every frame "
                   "it sends; this text frame is not masked\nM1 len=4 at=0-6 n=1 [<a/>]\n");
  g_byte_array_set_size (in, 0);
  frame (in, XM_WS_TEXT, TRUE, TRUE, "<a/>");
  s = run (XM_WS_FROM_SERVER, NULL, in);
  g_assert_cmpstr (s, ==, "P at=0 RFC 6455 §5.1: a server must not mask its "
                   "frames; this text frame is masked\nM1 len=4 at=0-10 n=1 [<a/>]\n");
}

static void
test_lengths (void)
{
  static const gsize sizes[] = { 0, 1, 125, 126, 127, 65535, 65536, 70000 };

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    for (int m = 0; m < 2; m++)
      {
        g_autoptr (GByteArray) in = g_byte_array_new ();
        g_autofree char *payload = g_malloc (sizes[i] + 1);
        g_autofree char *log = NULL, *want = NULL;
        gsize hl = 2 + (sizes[i] > 65535 ? 8 : sizes[i] > 125 ? 2 : 0) + (m ? 4 : 0);

        memset (payload, 'x', sizes[i]);
        payload[sizes[i]] = '\0';
        xm_ws_frame_append (in, XM_WS_BINARY, TRUE, m ? mask : NULL,
                            (const guint8 *) payload, sizes[i]);
        g_assert_cmpuint (in->len, ==, hl + sizes[i]);
        log = run (m ? XM_WS_FROM_CLIENT : XM_WS_FROM_SERVER, NULL, in);
        want = g_strdup_printf ("M2 len=%" G_GSIZE_FORMAT " at=0-%u"
                                " n=1 [%.*s]\n", sizes[i], in->len,
                                (int) MIN (sizes[i], 40), payload);
        g_assert_cmpstr (log, ==, want);
      }
}

static void
test_non_minimal (void)
{
  /* 5 bytes in a 16-bit length, then 3 in a 64-bit one. */
  static const guint8 in16[] = { 0x81, 126, 0, 5, 'h', 'e', 'l', 'l', 'o' };
  static const guint8 in64[] = { 0x81, 127, 0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c' };
  g_autoptr (GByteArray) in = g_byte_array_new ();
  g_autofree char *log = NULL;

  g_byte_array_append (in, in16, sizeof in16);
  g_byte_array_append (in, in64, sizeof in64);
  log = run (XM_WS_FROM_SERVER, NULL, in);
  g_assert_cmpstr (log, ==,
    "P at=0 RFC 6455 §5.2: the minimal number of bytes must encode the length; 5 is sent in 16 bits\n"
    "M1 len=5 at=0-9 n=1 [hello]\n"
    "P at=9 RFC 6455 §5.2: the minimal number of bytes must encode the length; 3 is sent in 64 bits\n"
    "M1 len=3 at=9-22 n=1 [abc]\n");
}

static void
test_length_2_63 (void)
{
  static const guint8 bomb[] = { 0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0 };
  g_autoptr (GByteArray) in = g_byte_array_new ();
  g_autofree char *log = NULL;

  frame (in, XM_WS_TEXT, TRUE, FALSE, "<a/>");
  g_byte_array_append (in, bomb, sizeof bomb);
  /* Nothing after it is decoded, though it looks like a frame. */
  frame (in, XM_WS_TEXT, TRUE, FALSE, "<b/>");
  log = run (XM_WS_FROM_SERVER, NULL, in);
  g_assert_cmpstr (log, ==,
    "M1 len=4 at=0-6 n=1 [<a/>]\n"
    "P! at=6 RFC 6455 §5.2: the most significant bit of a 64-bit payload length "
    "must be 0; this frame claims 9223372036854775808 bytes: decoding of this "
    "direction stops\nSTOPPED\n");
}

static void
test_huge_claim_bounded (void)
{
  /* 2^40 bytes claimed: skipped as oversized, nothing allocated for it. */
  static const guint8 big[] = { 0x82, 127, 0, 0, 0x01, 0, 0, 0, 0, 0, 'x', 'y' };
  g_autoptr (GByteArray) in = g_byte_array_new ();
  g_autofree char *log = NULL;

  g_byte_array_append (in, big, sizeof big);
  log = run (XM_WS_FROM_SERVER, NULL, in);
  g_assert_cmpstr (log, ==, "P at=0 a binary message larger than 1048576 bytes: "
                   "not decoded, still forwarded\n");
}

static void
test_fragmented_with_ping (void)
{
  g_autoptr (GByteArray) in = g_byte_array_new ();
  g_autofree char *log = NULL;

  frame (in, XM_WS_TEXT, FALSE, TRUE, "<message><bo");
  frame (in, XM_WS_PING, TRUE, TRUE, "are you there");
  frame (in, XM_WS_CONTINUATION, FALSE, TRUE, "dy>hi</bo");
  frame (in, XM_WS_PONG, TRUE, TRUE, "");
  frame (in, XM_WS_CONTINUATION, TRUE, TRUE, "dy></message>");
  log = run (XM_WS_FROM_CLIENT, NULL, in);
  g_assert_cmpstr (log, ==,
    "M9 len=13 at=18-37 n=1 [are you there]\n"
    "M10 len=0 at=52-58 n=1 []\n"
    "M1 len=34 at=0-77 n=3 [<message><body>hi</body></message>]\n");
}

static void
test_fragment_rules (void)
{
  g_autoptr (GByteArray) in = g_byte_array_new ();
  g_autofree char *log = NULL;

  frame (in, XM_WS_CONTINUATION, TRUE, FALSE, "stray");
  frame (in, XM_WS_TEXT, FALSE, FALSE, "<a");
  frame (in, XM_WS_BINARY, TRUE, FALSE, "bin");
  frame (in, XM_WS_TEXT, TRUE, FALSE, "<b/>");
  log = run (XM_WS_FROM_SERVER, NULL, in);
  g_assert_cmpstr (log, ==,
    "P at=0 RFC 6455 §5.4: a continuation frame with no fragmented message in progress: skipped\n"
    "P at=11 RFC 6455 §5.4: a new binary message began before the fragmented text message in progress ended; that one is dropped\n"
    "M2 len=3 at=11-16 n=1 [bin]\n"
    "M1 len=4 at=16-22 n=1 [<b/>]\n");
}

static void
test_control_rules (void)
{
  g_autoptr (GByteArray) in = g_byte_array_new ();
  g_autofree char *log = NULL;
  char big[127];

  memset (big, 'p', 126);
  big[126] = '\0';
  frame (in, XM_WS_PING, TRUE, FALSE, big);
  frame (in, XM_WS_PING, FALSE, FALSE, "frag");
  frame (in, 11, TRUE, FALSE, "");
  frame (in, 3, TRUE, FALSE, "x");
  log = run (XM_WS_FROM_SERVER, NULL, in);
  g_assert_cmpstr (log, ==,
    "P at=0 RFC 6455 §5.5: a control frame carries at most 125 bytes; this ping frame claims 126: skipped\n"
    "P at=130 RFC 6455 §5.5: control frames must not be fragmented; this ping frame has FIN clear\n"
    "M9 len=4 at=130-136 n=1 [frag]\n"
    "P at=136 RFC 6455 §5.2: opcode 11 is reserved; the frame is skipped\n"
    "P at=138 RFC 6455 §5.2: opcode 3 is reserved; the frame is skipped\n");
}

static void
test_rsv (void)
{
  g_autoptr (GByteArray) in = g_byte_array_new ();
  g_autofree char *log = NULL;

  frame (in, XM_WS_TEXT, TRUE, FALSE, "<a/>");
  in->data[0] |= 0x40;
  frame (in, XM_WS_TEXT, TRUE, FALSE, "<b/>");
  in->data[6] |= 0x30;
  log = run (XM_WS_FROM_SERVER, NULL, in);
  g_assert_cmpstr (log, ==,
    "P at=0 RFC 6455 §5.2: RSV1 is set but no extension was negotiated\n"
    "M1 len=4 at=0-6 n=1 [<a/>]\n"
    "P at=6 RFC 6455 §5.2: RSV2 and RSV3 are set but no extension that defines them was negotiated\n"
    "M1 len=4 at=6-12 n=1 [<b/>]\n");
}

static void
test_utf8 (void)
{
  g_autoptr (GByteArray) in = g_byte_array_new ();
  g_autofree char *log = NULL;

  /* A valid character split across two frames is fine; a bad byte is not. */
  frame (in, XM_WS_TEXT, FALSE, FALSE, "snow \xe2\x98");
  frame (in, XM_WS_CONTINUATION, TRUE, FALSE, "\x83");
  frame (in, XM_WS_TEXT, TRUE, FALSE, "bad \xc0\xaf");
  log = run (XM_WS_FROM_SERVER, NULL, in);
  g_assert_cmpstr (log, ==,
    "M1 len=8 at=0-12 n=2 [snow \\xe2\\x98\\x83]\n"
    "P at=12 RFC 6455 §8.1: a text message is not valid UTF-8\n"
    "M1 len=6 at=12-20 n=1 [bad \\xc0\\xaf]\n");
}

static void
close_frame (GByteArray *in, guint code, const char *reason)
{
  guint8 body[125];
  gsize n = 0;

  if (code)
    {
      body[n++] = (guint8) (code >> 8);
      body[n++] = (guint8) code;
    }
  memcpy (body + n, reason, strlen (reason));
  n += strlen (reason);
  xm_ws_frame_append (in, XM_WS_CLOSE, TRUE, NULL, body, n);
}

static void
test_close_codes (void)
{
  static const struct { guint code; gboolean ok; } codes[] = {
    { 1000, TRUE }, { 1001, TRUE }, { 1003, TRUE }, { 1004, FALSE }, { 1005, FALSE },
    { 1006, FALSE }, { 1007, TRUE }, { 1011, TRUE }, { 1014, TRUE }, { 1015, FALSE },
    { 1016, FALSE }, { 2999, FALSE }, { 3000, TRUE }, { 4999, TRUE }, { 5000, FALSE },
    { 999, FALSE }, { 1, FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (codes); i++)
    {
      g_autoptr (GByteArray) in = g_byte_array_new ();
      g_autofree char *log = NULL;

      close_frame (in, codes[i].code, "bye");
      log = run (XM_WS_FROM_SERVER, NULL, in);
      g_assert_cmpint (strstr (log, "§7.4.1") == NULL, ==, codes[i].ok);
      {
        g_autofree char *c = g_strdup_printf ("C%u [bye] at=0\n", codes[i].code);
        expect (log, c);
      }
    }
}

static void
test_close_bodies (void)
{
  g_autoptr (GByteArray) in = g_byte_array_new ();
  g_autofree char *log = NULL;
  static const guint8 one[] = { 0x88, 1, 0x03 };

  close_frame (in, 0, "");
  g_byte_array_append (in, one, sizeof one);
  close_frame (in, 1000, "ok \xe2\x98\x83 \x01 \xff");
  log = run (XM_WS_FROM_SERVER, NULL, in);
  g_assert_cmpstr (log, ==,
    "M8 len=0 at=0-2 n=1 []\n"
    "C0 [] at=0\n"
    "P at=2 RFC 6455 §5.5.1: a close frame after the close frame; nothing may follow a close\n"
    "M8 len=1 at=2-5 n=1 [\\x03]\n"
    "P at=2 RFC 6455 §5.5.1: a close frame's body starts with a two-byte status code; this one has one byte\n"
    "C0 [] at=2\n"
    "M8 len=12 at=5-19 n=1 [\\x03\\xe8ok \\xe2\\x98\\x83 \\x01 \\xff]\n"
    "P at=5 RFC 6455 §5.5.1: the close reason is not valid UTF-8\n"
    "C1000 [ok \xe2\x98\x83 \\x01 \\xff] at=5\n");
}

static void
test_after_close (void)
{
  g_autoptr (GByteArray) in = g_byte_array_new ();
  g_autofree char *log = NULL;

  close_frame (in, 1000, "");
  frame (in, XM_WS_TEXT, TRUE, FALSE, "<late/>");
  frame (in, XM_WS_TEXT, TRUE, FALSE, "<later/>");
  log = run (XM_WS_FROM_SERVER, NULL, in);
  g_assert_cmpstr (log, ==,
    "M8 len=2 at=0-4 n=1 [\\x03\\xe8]\n"
    "C1000 [] at=0\n"
    "P at=4 RFC 6455 §5.5.1: a text frame after the close frame; nothing may follow a close\n"
    "M1 len=7 at=4-13 n=1 [<late/>]\n"
    "M1 len=8 at=13-23 n=1 [<later/>]\n");
}

static void
test_max_message (void)
{
  g_autoptr (GByteArray) in = g_byte_array_new ();
  g_autofree char *log = NULL;
  Opts o = { .max = 16 };

  frame (in, XM_WS_TEXT, TRUE, FALSE, "0123456789abcdef");      /* exactly 16 */
  frame (in, XM_WS_TEXT, TRUE, FALSE, "0123456789abcdefg");     /* one over */
  frame (in, XM_WS_TEXT, FALSE, FALSE, "0123456789");           /* 10 + 10 */
  frame (in, XM_WS_PING, TRUE, FALSE, "still");
  frame (in, XM_WS_CONTINUATION, FALSE, FALSE, "0123456789");
  frame (in, XM_WS_CONTINUATION, TRUE, FALSE, "more");
  frame (in, XM_WS_TEXT, TRUE, FALSE, "<next/>");
  log = run (XM_WS_FROM_SERVER, &o, in);
  g_assert_cmpstr (log, ==,
    "M1 len=16 at=0-18 n=1 [0123456789abcdef]\n"
    "P at=18 a text message larger than 16 bytes: not decoded, still forwarded\n"
    "M9 len=5 at=49-56 n=1 [still]\n"
    "P at=37 a text message larger than 16 bytes: not decoded, still forwarded\n"
    "M1 len=7 at=74-83 n=1 [<next/>]\n");
}

/* Raw deflate as a permessage-deflate sender does it (RFC 7692 §7.2.1):
 * a sync flush per message, its 00 00 ff ff tail removed. */
static GByteArray *
deflate_message (z_stream *z, const char *text)
{
  GByteArray *out = g_byte_array_new ();
  guint8 buf[4096];

  z->next_in = (Bytef *) text;
  z->avail_in = strlen (text);
  do
    {
      z->next_out = buf;
      z->avail_out = sizeof buf;
      g_assert_cmpint (deflate (z, Z_SYNC_FLUSH), !=, Z_STREAM_ERROR);
      g_byte_array_append (out, buf, sizeof buf - z->avail_out);
    }
  while (z->avail_out == 0);
  if (out->len == 0)
    {
      /* Nothing new to flush: an empty message is one empty stored block
       * (RFC 7692 §7.2.3.6), its tail 00 00 ff ff removed: 0x00. */
      g_byte_array_append (out, (const guint8 *) "\0\0\0\xff\xff", 5);
    }
  g_assert_cmpuint (out->len, >=, 4);
  g_assert_cmpmem (out->data + out->len - 4, 4, "\x00\x00\xff\xff", 4);
  g_byte_array_set_size (out, out->len - 4);
  return out;
}

static void
deflate_round_trip (gboolean no_takeover)
{
  static const char *msgs[] = {
    "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>",
    "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>",
    "<message to='juliet@example.com'><body>\xe2\x98\x83</body></message>",
    "",
  };
  g_autoptr (GByteArray) in = g_byte_array_new ();
  GString *want = g_string_new (NULL);
  g_autofree char *log = NULL, *w = NULL;
  z_stream z = { 0 };
  Opts o = { .deflate = TRUE, .no_takeover = no_takeover };

  g_assert_cmpint (deflateInit2 (&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
                                 Z_DEFAULT_STRATEGY), ==, Z_OK);
  for (guint i = 0; i < G_N_ELEMENTS (msgs); i++)
    {
      g_autoptr (GByteArray) c = deflate_message (&z, msgs[i]);
      guint64 at = in->len;
      gsize half = c->len / 2;

      if (i == 2)
        {
          /* Fragmented: RSV1 on the first frame only. */
          xm_ws_frame_append (in, XM_WS_TEXT, FALSE, mask, c->data, half);
          in->data[at] |= 0x40;
          xm_ws_frame_append (in, XM_WS_CONTINUATION, TRUE, mask, c->data + half,
                              c->len - half);
        }
      else
        {
          xm_ws_frame_append (in, XM_WS_TEXT, TRUE, mask, c->data, c->len);
          in->data[at] |= 0x40;
        }
      g_string_append_printf (want, "M1 len=%" G_GSIZE_FORMAT " at=%" G_GUINT64_FORMAT
                              "-%u n=%u [%.40s]\n", strlen (msgs[i]), at, in->len,
                              i == 2 ? 2 : 1, msgs[i]);
      if (no_takeover)
        deflateReset (&z);
    }
  /* And an uncompressed one in between is fine. */
  frame (in, XM_WS_TEXT, TRUE, TRUE, "<plain/>");
  deflateEnd (&z);
  w = g_string_free (want, FALSE);
  log = run (XM_WS_FROM_CLIENT, &o, in);
  {
    /* The snowman is escaped by the log. */
    g_autofree char *w2 = NULL;
    GString *esc = g_string_new (NULL);
    for (const char *c = w; *c; c++)
      if ((guint8) *c >= 0x80)
        g_string_append_printf (esc, "\\x%02x", (guint8) *c);
      else
        g_string_append_c (esc, *c);
    g_string_append_printf (esc, "M1 len=8 at=%u-%u n=1 [<plain/>]\n", in->len - 14, in->len);
    w2 = g_string_free (esc, FALSE);
    g_assert_cmpstr (log, ==, w2);
  }
  /* Without the context, the second message (a back-reference to the
   * first) cannot be read: the reader must have kept it. */
  if (!no_takeover)
    {
      g_autofree char *bad = NULL;
      Opts o2 = { .deflate = TRUE, .no_takeover = TRUE };
      bad = run (XM_WS_FROM_CLIENT, &o2, in);
      g_assert_cmpstr (bad, !=, log);
    }
}

static void
test_deflate (void)
{
  deflate_round_trip (FALSE);
  deflate_round_trip (TRUE);
}

/* RFC 7692 §7.2.3.3: a message may end its block stream (BFINAL, as
 * Z_FINISH writes it); the next message starts a new one, and both read. */
static void
test_deflate_final_block (void)
{
  g_autoptr (GByteArray) in = g_byte_array_new ();
  Opts o = { .deflate = TRUE };
  g_autofree char *log = NULL;
  static const char *const msgs[] = { "<a/>", "<b/>" };

  for (guint i = 0; i < 2; i++)
    {
      z_stream z = { 0 };
      guint8 out[256];
      gsize n, at = in->len;

      g_assert_cmpint (deflateInit2 (&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), ==, Z_OK);
      z.next_in = (Bytef *) msgs[i];
      z.avail_in = strlen (msgs[i]);
      z.next_out = out;
      z.avail_out = sizeof out;
      /* the first ends its stream; the second is flushed as usual */
      g_assert_cmpint (deflate (&z, i == 0 ? Z_FINISH : Z_SYNC_FLUSH), ==,
                       i == 0 ? Z_STREAM_END : Z_OK);
      n = sizeof out - z.avail_out - (i == 0 ? 0 : 4);
      deflateEnd (&z);
      xm_ws_frame_append (in, XM_WS_TEXT, TRUE, NULL, out, n);
      in->data[at] |= 0x40;
    }
  log = run (XM_WS_FROM_SERVER, &o, in);
  g_assert_nonnull (strstr (log, "[<a/>]"));
  g_assert_nonnull (strstr (log, "[<b/>]"));
  g_assert_null (strstr (log, "cannot be inflated"));
}

static void
test_deflate_rules (void)
{
  g_autoptr (GByteArray) in = g_byte_array_new ();
  g_autofree char *log = NULL, *zeros = g_malloc0 (4 * 1024 * 1024);
  g_autoptr (GByteArray) bomb = g_byte_array_new ();
  Opts o = { .deflate = TRUE };
  z_stream z = { 0 };
  guint8 buf[65536];

  /* RSV1 on a continuation or a control frame; garbage deflate data. */
  frame (in, XM_WS_TEXT, FALSE, FALSE, "<a");
  frame (in, XM_WS_CONTINUATION, TRUE, FALSE, "/>");
  in->data[4] |= 0x40;
  frame (in, XM_WS_PING, TRUE, FALSE, "");
  in->data[8] |= 0x40;
  frame (in, XM_WS_TEXT, TRUE, FALSE, "\xff\xff\xff");
  in->data[10] |= 0x40;
  frame (in, XM_WS_TEXT, TRUE, FALSE, "<b/>");
  log = run (XM_WS_FROM_SERVER, &o, in);
  g_assert_cmpstr (log, ==,
    "P at=4 RFC 7692 §6.1: RSV1 is set on a continuation frame; only a message's first frame may carry it\n"
    "M1 len=4 at=0-8 n=2 [<a/>]\n"
    "P at=8 RFC 7692 §6.1: RSV1 is set on a ping frame; only a message's first frame may carry it\n"
    "M9 len=0 at=8-10 n=1 []\n"
    "P at=10 RFC 7692 §7.2.2: a compressed message is not valid deflate data (invalid block type); later compressed messages cannot be inflated\n"
    "M1 len=4 at=15-21 n=1 [<b/>]\n");

  /* A bomb: 4 MiB of zeros in a few KiB. */
  g_assert_cmpint (deflateInit2 (&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), ==, Z_OK);
  z.next_in = (Bytef *) zeros;
  z.avail_in = 4 * 1024 * 1024;
  do
    {
      z.next_out = buf;
      z.avail_out = sizeof buf;
      deflate (&z, Z_SYNC_FLUSH);
      g_byte_array_append (bomb, buf, sizeof buf - z.avail_out);
    }
  while (z.avail_out == 0);
  deflateEnd (&z);
  g_byte_array_set_size (in, 0);
  xm_ws_frame_append (in, XM_WS_BINARY, TRUE, NULL, bomb->data, bomb->len - 4);
  in->data[0] |= 0x40;
  g_free (log);
  log = run_chunked (XM_WS_FROM_SERVER, &o, in->data, in->len, G_MAXSIZE);
  expect (log, "a decompression bomb?");
  g_assert_null (strstr (log, "M2"));

  /* Over the message cap but under the ratio: not decoded, context kept. */
  {
    g_autofree char *log2 = NULL;
    Opts small = { .deflate = TRUE, .max = 100 };
    g_autoptr (GByteArray) in2 = g_byte_array_new ();
    g_autoptr (GByteArray) a = NULL, b = NULL;
    char text[301];

    for (int i = 0; i < 300; i++)
      text[i] = (char) ('a' + (i * 7) % 26);
    text[300] = '\0';
    g_assert_cmpint (deflateInit2 (&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), ==, Z_OK);
    a = deflate_message (&z, text);
    b = deflate_message (&z, "<b/>");
    deflateEnd (&z);
    xm_ws_frame_append (in2, XM_WS_TEXT, TRUE, NULL, a->data, a->len);
    in2->data[0] |= 0x40;
    {
      guint at = in2->len;
      xm_ws_frame_append (in2, XM_WS_TEXT, TRUE, NULL, b->data, b->len);
      in2->data[at] |= 0x40;
    }
    log2 = run (XM_WS_FROM_SERVER, &small, in2);
    expect (log2, "inflates to more than 100 bytes: not decoded");
    expect (log2, "[<b/>]");
  }
}

static void
test_encoder (void)
{
  g_autofree char *accept = xm_ws_accept_key ("dGhlIHNhbXBsZSBub25jZQ==");
  g_autoptr (GByteArray) out = g_byte_array_new ();
  /* RFC 6455 §5.7's examples. */
  static const guint8 hello[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
  static const guint8 masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f,
                                   0x4d, 0x51, 0x58 };
  static const guint8 frag[] = { 0x01, 0x03, 0x48, 0x65, 0x6c };

  g_assert_cmpstr (accept, ==, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  xm_ws_frame_append (out, XM_WS_TEXT, TRUE, NULL, (const guint8 *) "Hello", 5);
  g_assert_cmpmem (out->data, out->len, hello, sizeof hello);
  g_byte_array_set_size (out, 0);
  xm_ws_frame_append (out, XM_WS_TEXT, TRUE, mask, (const guint8 *) "Hello", 5);
  g_assert_cmpmem (out->data, out->len, masked, sizeof masked);
  g_byte_array_set_size (out, 0);
  xm_ws_frame_append (out, XM_WS_TEXT, FALSE, NULL, (const guint8 *) "Hel", 3);
  g_assert_cmpmem (out->data, out->len, frag, sizeof frag);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ws/masked-text", test_masked_text);
  g_test_add_func ("/ws/masking-rules", test_masking_rules);
  g_test_add_func ("/ws/lengths", test_lengths);
  g_test_add_func ("/ws/non-minimal", test_non_minimal);
  g_test_add_func ("/ws/length-2-63", test_length_2_63);
  g_test_add_func ("/ws/huge-claim-bounded", test_huge_claim_bounded);
  g_test_add_func ("/ws/fragmented-with-ping", test_fragmented_with_ping);
  g_test_add_func ("/ws/fragment-rules", test_fragment_rules);
  g_test_add_func ("/ws/control-rules", test_control_rules);
  g_test_add_func ("/ws/rsv", test_rsv);
  g_test_add_func ("/ws/utf8", test_utf8);
  g_test_add_func ("/ws/close-codes", test_close_codes);
  g_test_add_func ("/ws/close-bodies", test_close_bodies);
  g_test_add_func ("/ws/after-close", test_after_close);
  g_test_add_func ("/ws/max-message", test_max_message);
  g_test_add_func ("/ws/deflate", test_deflate);
  g_test_add_func ("/ws/deflate-rules", test_deflate_rules);
  g_test_add_func ("/ws/deflate-final-block", test_deflate_final_block);
  g_test_add_func ("/ws/encoder", test_encoder);
  return g_test_run ();
}
