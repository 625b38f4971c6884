/* inflate.c: see inflate.h. */
#include "config.h"

#include <zlib.h>

#include "inflate.h"

#define OUT_CHUNK (16 * 1024)
#define RATIO_GRACE (1024 * 1024)

struct _XmInflate {
  z_stream z;
  gboolean stalled;
  guint max_ratio;
  guint64 total_in;
  guint64 total_out;
  guint8 out[OUT_CHUNK];
};

XmInflate *
xm_inflate_new (guint max_ratio)
{
  XmInflate *inf = g_new0 (XmInflate, 1);

  inf->max_ratio = max_ratio;
  /* RFC 1950 framing (zlib header and Adler-32), as XEP-0138 §2 says. */
  if (inflateInit (&inf->z) != Z_OK)
    g_error ("xmitm: out of memory for an inflater");
  return inf;
}

void
xm_inflate_free (XmInflate *inf)
{
  if (inf == NULL)
    return;
  inflateEnd (&inf->z);
  g_free (inf);
}

XmInflateStatus
xm_inflate_feed (XmInflate *inf, const guint8 *data, gsize len,
                 XmInflateOut out, gpointer user_data, char **message)
{
  if (inf->stalled)
    {
      inf->total_in += len;
      return XM_INFLATE_STALLED;
    }
  while (len > 0)
    {
      uInt chunk = (uInt) MIN (len, (gsize) G_MAXUINT32);

      inf->z.next_in = (Bytef *) data;
      inf->z.avail_in = chunk;
      do
        {
          int rc;
          gsize produced;

          inf->z.next_out = inf->out;
          inf->z.avail_out = sizeof inf->out;
          rc = inflate (&inf->z, Z_SYNC_FLUSH);
          produced = sizeof inf->out - inf->z.avail_out;
          inf->total_out += produced;
          if (rc == Z_STREAM_END)
            {
              /* The sender ended its zlib stream: anything after is not
               * zlib (XEP-0138 has no way back to plaintext). */
              if (produced)
                out (inf->out, produced, user_data);
              inf->total_in += len;
              inf->stalled = TRUE;
              *message = g_strdup ("the zlib stream ended; what follows is not "
                                   "decoded");
              return XM_INFLATE_ERROR;
            }
          if (rc != Z_OK && rc != Z_BUF_ERROR)
            {
              /* What inflated before the bad bytes is good: hand it out. */
              guint64 at = inf->total_in + (chunk - inf->z.avail_in);

              if (produced)
                out (inf->out, produced, user_data);
              inf->total_in += len;
              inf->stalled = TRUE;
              *message = g_strdup_printf ("not a valid zlib stream after %"
                                          G_GUINT64_FORMAT " compressed bytes (%s)",
                                          at, inf->z.msg ? inf->z.msg : zError (rc));
              return XM_INFLATE_ERROR;
            }
          if (produced && !out (inf->out, produced, user_data))
            {
              inf->total_in += len;
              inf->stalled = TRUE;
              *message = NULL;
              return XM_INFLATE_LIMIT;
            }
          if (inf->max_ratio && inf->total_out > RATIO_GRACE
              && inf->total_out / MAX (inf->total_in + (chunk - inf->z.avail_in), 1)
                 > inf->max_ratio)
            {
              inf->total_in += len;
              inf->stalled = TRUE;
              *message = g_strdup_printf ("expansion ratio over %u:1 (%" G_GUINT64_FORMAT
                                          " bytes inflated): a decompression bomb?",
                                          inf->max_ratio, inf->total_out);
              return XM_INFLATE_LIMIT;
            }
        }
      while (inf->z.avail_out == 0);
      inf->total_in += chunk - inf->z.avail_in;
      /* All input is consumed whenever output space was left over. */
      data += chunk;
      len -= chunk;
    }
  return XM_INFLATE_OK;
}

guint64
xm_inflate_total_in (const XmInflate *inf)
{
  return inf->total_in;
}

guint64
xm_inflate_total_out (const XmInflate *inf)
{
  return inf->total_out;
}
