/* layer-zlib.c: see layer-zlib.h. */
#include "config.h"

#include <zlib.h>

#include "inflate.h"
#include "layer-zlib.h"
#include "leg.h"

typedef struct {
  XmLayer base;
  z_stream deflate;
  XmInflate *inflate;
} ZlibLayer;

static ZlibLayer *
zlib_of (XmLayer *layer)
{
  return (ZlibLayer *) layer;
}

static void
fail (ZlibLayer *z, const char *message)
{
  xm_leg_fail (z->base.leg, &z->base,
               g_error_new (XM_LEG_ERROR, XM_LEG_ERROR_LAYER, "XEP-0138: %s", message));
}

static gboolean
inflated (const guint8 *data, gsize len, gpointer user_data)
{
  XmLayer *layer = user_data;

  xm_layer_up (layer, data, len);
  return xm_leg_alive (layer->leg);
}

static void
zlib_from_below (XmLayer *layer, const guint8 *data, gsize len)
{
  ZlibLayer *z = zlib_of (layer);
  g_autofree char *message = NULL;
  XmInflateStatus st = xm_inflate_feed (z->inflate, data, len, inflated, layer, &message);

  if ((st == XM_INFLATE_ERROR || st == XM_INFLATE_LIMIT) && message
      && xm_leg_alive (layer->leg))
    fail (z, message);
}

static void
zlib_from_above (XmLayer *layer, const guint8 *data, gsize len)
{
  ZlibLayer *z = zlib_of (layer);
  guint8 buf[16384];

  do
    {
      uInt chunk = (uInt) MIN (len, (gsize) G_MAXUINT32);

      z->deflate.next_in = (Bytef *) data;
      z->deflate.avail_in = chunk;
      do
        {
          int rc;

          z->deflate.next_out = buf;
          z->deflate.avail_out = sizeof buf;
          rc = deflate (&z->deflate, Z_SYNC_FLUSH);
          if (rc != Z_OK && rc != Z_BUF_ERROR)
            {
              fail (z, "zlib compression failed");
              return;
            }
          xm_layer_down (layer, buf, sizeof buf - z->deflate.avail_out);
          if (!xm_leg_alive (layer->leg))
            return;
        }
      while (z->deflate.avail_out == 0);
      data += chunk;
      len -= chunk;
    }
  while (len > 0);
}

static void
zlib_free (XmLayer *layer)
{
  ZlibLayer *z = zlib_of (layer);

  deflateEnd (&z->deflate);
  xm_inflate_free (z->inflate);
  g_free (z);
}

const XmLayerClass xm_layer_zlib_class = {
  .name = "zlib",
  .from_below = zlib_from_below,
  .from_above = zlib_from_above,
  .free = zlib_free,
};

XmLayer *
xm_layer_zlib_new (guint max_ratio)
{
  ZlibLayer *z = g_new0 (ZlibLayer, 1);

  z->base.klass = &xm_layer_zlib_class;
  /* RFC 1950 framing, as XEP-0138 §2 says. */
  if (deflateInit (&z->deflate, Z_DEFAULT_COMPRESSION) != Z_OK)
    g_error ("xmitm: out of memory for a deflater");
  z->inflate = xm_inflate_new (max_ratio);
  return &z->base;
}
