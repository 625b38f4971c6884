/* test-inflate.c: the XEP-0138 inflater with both flush modes, every split,
 * garbage, and a decompression bomb. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "inflate.h"

static const char *stanzas[] = {
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
  "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>",
  "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
  "<resource>balcony</resource></bind></iq>",
  "<message to='romeo@example.net' type='chat'><body>Art thou not Romeo, "
  "and a Montague? \xe2\x98\x83</body></message>",
  "<presence/>",
};

/* What a sender does: one deflate stream, flushed after each stanza. */
static GByteArray *
deflate_stanzas (int flush)
{
  GByteArray *out = g_byte_array_new ();
  z_stream z = { 0 };
  guint8 buf[4096];

  g_assert_cmpint (deflateInit (&z, Z_DEFAULT_COMPRESSION), ==, Z_OK);
  for (guint i = 0; i < G_N_ELEMENTS (stanzas); i++)
    {
      z.next_in = (Bytef *) stanzas[i];
      z.avail_in = strlen (stanzas[i]);
      do
        {
          z.next_out = buf;
          z.avail_out = sizeof buf;
          g_assert_cmpint (deflate (&z, flush), !=, Z_STREAM_ERROR);
          g_byte_array_append (out, buf, sizeof buf - z.avail_out);
        }
      while (z.avail_out == 0);
    }
  deflateEnd (&z);
  return out;
}

static char *
all_stanzas (void)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (stanzas); i++)
    g_string_append (s, stanzas[i]);
  return g_string_free (s, FALSE);
}

typedef struct {
  GString *text;
  gsize max_piece;
  guint64 limit; /* stop once this much came out; 0: never */
} Sink;

static gboolean
collect (const guint8 *data, gsize len, gpointer user_data)
{
  Sink *k = user_data;

  g_string_append_len (k->text, (const char *) data, len);
  k->max_piece = MAX (k->max_piece, len);
  return k->limit == 0 || k->text->len < k->limit;
}

static void
check_flush_mode (int flush)
{
  g_autoptr (GByteArray) z = deflate_stanzas (flush);
  g_autofree char *want = all_stanzas ();

  for (gsize cut = 0; cut <= z->len; cut++)
    {
      g_autoptr (XmInflate) inf = xm_inflate_new (XM_INFLATE_DEFAULT_MAX_RATIO);
      Sink k = { g_string_new (NULL) };
      char *msg = NULL;

      g_assert_cmpint (xm_inflate_feed (inf, z->data, cut, collect, &k, &msg), ==, XM_INFLATE_OK);
      g_assert_cmpint (xm_inflate_feed (inf, z->data + cut, z->len - cut, collect, &k, &msg),
                       ==, XM_INFLATE_OK);
      g_assert_null (msg);
      g_assert_cmpstr (k.text->str, ==, want);
      g_assert_cmpuint (xm_inflate_total_in (inf), ==, z->len);
      g_assert_cmpuint (xm_inflate_total_out (inf), ==, strlen (want));
      g_string_free (k.text, TRUE);
    }
}

static void
test_sync_flush (void)
{
  check_flush_mode (Z_SYNC_FLUSH);
}

static void
test_full_flush (void)
{
  check_flush_mode (Z_FULL_FLUSH);
}

/* Each flushed stanza is complete as soon as its compressed bytes are in. */
static void
test_flush_delivers_each_stanza (void)
{
  g_autoptr (XmInflate) inf = xm_inflate_new (0);
  z_stream z = { 0 };
  guint8 buf[4096];
  Sink k = { g_string_new (NULL) };
  char *msg = NULL;

  deflateInit (&z, Z_DEFAULT_COMPRESSION);
  for (guint i = 0; i < G_N_ELEMENTS (stanzas); i++)
    {
      gsize before = k.text->len;
      z.next_in = (Bytef *) stanzas[i];
      z.avail_in = strlen (stanzas[i]);
      z.next_out = buf;
      z.avail_out = sizeof buf;
      deflate (&z, Z_SYNC_FLUSH);
      xm_inflate_feed (inf, buf, sizeof buf - z.avail_out, collect, &k, &msg);
      g_assert_cmpstr (k.text->str + before, ==, stanzas[i]);
    }
  deflateEnd (&z);
  g_string_free (k.text, TRUE);
}

static void
test_garbage (void)
{
  g_autoptr (GByteArray) z = deflate_stanzas (Z_SYNC_FLUSH);
  g_autoptr (XmInflate) inf = xm_inflate_new (0);
  Sink k = { g_string_new (NULL) };
  g_autofree char *msg = NULL;
  char *msg2 = NULL;
  gsize half = z->len / 2;

  /* Good bytes, then the stream switches to garbage. */
  g_assert_cmpint (xm_inflate_feed (inf, z->data, half, collect, &k, &msg), ==, XM_INFLATE_OK);
  g_assert_cmpint (xm_inflate_feed (inf, (const guint8 *) "\xff\xfe garbage garbage", 19,
                                    collect, &k, &msg), ==, XM_INFLATE_ERROR);
  g_assert_nonnull (strstr (msg, "not a valid zlib stream"));
  g_assert_cmpint (xm_inflate_feed (inf, z->data + half, z->len - half, collect, &k, &msg2),
                   ==, XM_INFLATE_STALLED);
  g_assert_null (msg2);
  g_assert_cmpuint (xm_inflate_total_in (inf), ==, z->len + 19);
  g_string_free (k.text, TRUE);

  /* Good bytes and garbage in one feed: what inflated before the error
   * still comes out, and the message says where the error was. */
  {
    g_autoptr (XmInflate) inf3 = xm_inflate_new (0);
    g_autoptr (GByteArray) both = g_byte_array_new ();
    g_autofree char *want = all_stanzas ();
    g_autofree char *m = NULL;
    const char *where;
    guint64 at = 0;
    Sink k3 = { g_string_new (NULL) };

    g_byte_array_append (both, z->data, z->len);
    g_byte_array_append (both, (const guint8 *) "\xff\xfe garbage garbage", 19);
    g_assert_cmpint (xm_inflate_feed (inf3, both->data, both->len, collect, &k3, &m),
                     ==, XM_INFLATE_ERROR);
    g_assert_cmpstr (k3.text->str, ==, want);
    /* zlib reads a byte or so of the garbage before it knows. */
    where = strstr (m, "after ");
    g_assert_nonnull (where);
    g_assert_cmpint (sscanf (where, "after %" G_GUINT64_FORMAT " compressed", &at), ==, 1);
    g_assert_cmpuint (at, >, z->len);
    g_assert_cmpuint (at, <=, z->len + 3);
    g_assert_cmpuint (xm_inflate_total_in (inf3), ==, both->len);
    g_string_free (k3.text, TRUE);
  }

  /* Not zlib at all (plaintext XML where zlib was expected). */
  {
    g_autoptr (XmInflate) inf2 = xm_inflate_new (0);
    g_autofree char *m = NULL;
    Sink k2 = { g_string_new (NULL) };
    g_assert_cmpint (xm_inflate_feed (inf2, (const guint8 *) "<presence/>", 11, collect,
                                      &k2, &m), ==, XM_INFLATE_ERROR);
    g_assert_nonnull (m);
    g_string_free (k2.text, TRUE);
  }
}

/* A bomb: 256 MiB of spaces compresses to about 256 KiB; the ratio cap stops
 * it after a few MiB, in pieces of at most 16 KiB. */
static void
test_bomb (void)
{
  g_autoptr (XmInflate) inf = xm_inflate_new (XM_INFLATE_DEFAULT_MAX_RATIO);
  g_autoptr (GByteArray) bomb = g_byte_array_new ();
  guint8 zeros[65536], buf[65536];
  z_stream z = { 0 };
  Sink k = { g_string_new (NULL) };
  g_autofree char *msg = NULL;
  XmInflateStatus st = XM_INFLATE_OK;

  memset (zeros, ' ', sizeof zeros);
  deflateInit (&z, Z_BEST_COMPRESSION);
  for (int i = 0; i < 4096; i++) /* 256 MiB */
    {
      z.next_in = zeros;
      z.avail_in = sizeof zeros;
      do
        {
          z.next_out = buf;
          z.avail_out = sizeof buf;
          deflate (&z, Z_NO_FLUSH);
          g_byte_array_append (bomb, buf, sizeof buf - z.avail_out);
        }
      while (z.avail_out == 0);
    }
  z.next_out = buf;
  z.avail_out = sizeof buf;
  deflate (&z, Z_SYNC_FLUSH);
  g_byte_array_append (bomb, buf, sizeof buf - z.avail_out);
  deflateEnd (&z);

  /* Fed in 4 KiB reads, as from a socket. */
  for (gsize off = 0; off < bomb->len && st == XM_INFLATE_OK; off += 4096)
    st = xm_inflate_feed (inf, bomb->data + off, MIN (4096, bomb->len - off), collect, &k, &msg);
  g_assert_cmpint (st, ==, XM_INFLATE_LIMIT);
  g_assert_nonnull (strstr (msg, "expansion ratio over 200:1"));
  g_assert_cmpuint (k.max_piece, <=, 16 * 1024);
  g_assert_cmpuint (k.text->len, <, 8 * 1024 * 1024);
  g_string_free (k.text, TRUE);
}

/* The consumer's own cap (bytes per pending stanza) stops it too. */
static void
test_consumer_limit (void)
{
  g_autoptr (GByteArray) z = deflate_stanzas (Z_SYNC_FLUSH);
  g_autoptr (XmInflate) inf = xm_inflate_new (0);
  Sink k = { g_string_new (NULL), 0, 100 };
  char *msg = NULL;

  g_assert_cmpint (xm_inflate_feed (inf, z->data, z->len, collect, &k, &msg), ==,
                   XM_INFLATE_LIMIT);
  g_assert_null (msg);
  g_assert_cmpuint (k.text->len, >=, 100);
  g_string_free (k.text, TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/inflate/sync-flush/every-split", test_sync_flush);
  g_test_add_func ("/inflate/full-flush/every-split", test_full_flush);
  g_test_add_func ("/inflate/flush-per-stanza", test_flush_delivers_each_stanza);
  g_test_add_func ("/inflate/garbage", test_garbage);
  g_test_add_func ("/inflate/bomb", test_bomb);
  g_test_add_func ("/inflate/consumer-limit", test_consumer_limit);
  return g_test_run ();
}
