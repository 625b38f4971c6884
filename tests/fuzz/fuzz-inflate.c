/* fuzz-inflate.c: the XEP-0138 inflater (decoders/inflate.c) with its caps.
 *
 * Input: two option bytes, then the payload. Option bits: which expansion
 * ratio cap (none, 2, 20, the default), which consumer cap (none, 1 KiB,
 * 64 KiB, 4 MiB: the consumer stops inflating past it, as the session does
 * with --max-inflate) and a seed for the chunk sizes. In raw mode the payload
 * is the compressed stream itself (mutations reach the zlib header, block
 * types, stored lengths, Adler-32, bombs). In deflate mode the payload is
 * plaintext, compressed here with a sync flush at each chunk as XEP-0138
 * peers do; unless one byte of the result is then flipped (the second option
 * byte says which), what comes out must be the plaintext. */
#include "config.h"

#include <string.h>
#include <zlib.h>

#include "fuzz.h"
#include "inflate.h"

typedef struct {
  GByteArray *out;
  gsize cap;        /* 0: none */
  guint64 seen;
  gboolean stopped;
} Consumer;

static gboolean
on_out (const guint8 *data, gsize len, gpointer user_data)
{
  Consumer *c = user_data;

  g_assert (len > 0);
  g_assert (!c->stopped);
  c->seen += len;
  if (c->out->len < 8 * 1024 * 1024)
    g_byte_array_append (c->out, data, len);
  if (c->cap && c->seen > c->cap)
    {
      c->stopped = TRUE;
      return FALSE;
    }
  return TRUE;
}

/* Deflates the plaintext with a sync flush after each piece. */
static GByteArray *
deflate_pieces (const uint8_t *p, size_t len, guint32 *rng)
{
  GByteArray *z = g_byte_array_new ();
  z_stream zs = { 0 };
  guint8 buf[4096];
  size_t done = 0;

  g_assert (deflateInit (&zs, Z_DEFAULT_COMPRESSION) == Z_OK);
  do
    {
      size_t n;

      *rng = *rng * 1103515245u + 12345u;
      n = MIN (len - done, 1 + (*rng >> 8) % 512);
      zs.next_in = (Bytef *) p + done;
      zs.avail_in = (uInt) n;
      do
        {
          zs.next_out = buf;
          zs.avail_out = sizeof buf;
          g_assert (deflate (&zs, Z_SYNC_FLUSH) != Z_STREAM_ERROR);
          g_byte_array_append (z, buf, sizeof buf - zs.avail_out);
        }
      while (zs.avail_out == 0);
      done += n;
    }
  while (done < len);
  deflateEnd (&zs);
  return z;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const guint ratios[] = { 0, 2, 20, XM_INFLATE_DEFAULT_MAX_RATIO };
  static const gsize caps[] = { 0, 1024, 64 * 1024, 4 * 1024 * 1024 };
  FuzzIn in = { data, size };
  unsigned opt = fuzz_byte (&in), flip = fuzz_byte (&in);
  gboolean deflate_mode = opt & 1;
  guint32 rng = opt * 2654435761u + flip;
  Consumer c = { g_byte_array_new (), caps[(opt >> 3) & 3], 0, FALSE };
  XmInflate *inf = xm_inflate_new (ratios[(opt >> 1) & 3]);
  GByteArray *z = NULL;
  const uint8_t *stream;
  const uint8_t *plain;
  size_t stream_len, plain_len, fed = 0;
  gboolean corrupted = FALSE, ended = FALSE;

  fuzz_glib_fatal ();
  stream_len = plain_len = fuzz_take (&in, in.left, &stream);
  plain = stream;
  if (deflate_mode)
    {
      z = deflate_pieces (stream, stream_len, &rng);
      if (opt & 0x80)
        {
          z->data[(flip * 7919u) % z->len] ^= (guint8) (1 + (opt & 0x60));
          corrupted = TRUE;
        }
      stream = z->data;
      stream_len = z->len;
    }

  while (fed < stream_len)
    {
      char *msg = NULL;
      size_t n;
      XmInflateStatus st;

      rng = rng * 1103515245u + 12345u;
      n = MIN (stream_len - fed, (rng >> 8) % 4 == 0 ? stream_len : 1 + (rng >> 8) % 300);
      st = xm_inflate_feed (inf, stream + fed, n, on_out, &c, &msg);
      fed += n;
      switch (st)
        {
        case XM_INFLATE_OK:
          g_assert (msg == NULL || ended);
          g_assert (!ended);
          /* All input is taken in whenever the inflater goes on. */
          g_assert (xm_inflate_total_in (inf) == fed);
          break;
        case XM_INFLATE_ERROR:
          g_assert (msg != NULL);
          g_assert (!ended);
          ended = TRUE;
          break;
        case XM_INFLATE_LIMIT:
          g_assert (!ended);
          g_assert (msg != NULL || c.stopped);
          ended = TRUE;
          break;
        case XM_INFLATE_STALLED:
          g_assert (ended);
          break;
        }
      g_free (msg);
      g_assert (xm_inflate_total_out (inf) >= c.seen);
    }
  g_assert (xm_inflate_total_in (inf) == fed);

  /* Lossless: what was deflated comes back, unless a cap stopped it. */
  if (deflate_mode && !corrupted && !ended)
    {
      g_assert (c.seen == plain_len);
      g_assert (c.out->len == MIN (plain_len, c.out->len));
      g_assert (c.out->len == 0 || memcmp (c.out->data, plain, c.out->len) == 0);
    }

  if (z)
    g_byte_array_unref (z);
  g_byte_array_unref (c.out);
  xm_inflate_free (inf);
  return 0;
}
