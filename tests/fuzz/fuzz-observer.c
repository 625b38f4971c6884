/* fuzz-observer.c: the negotiation state machine of a connection
 * (decoders/observer.c) fed its two directions interleaved: stream
 * headers, SASL with its stream restart, STARTTLS, XEP-0138 compression,
 * gaps and resynchronisation. Each event is then formatted by the printer
 * and the recorder, as xmitm show and --record would.
 *
 * Input: an option byte (bit 0: client-to-server bytes start at the start
 * of the stream, bit 1: same for server-to-client), then records: a header
 * byte, a length (one byte, two when bit 3 is set) and the bytes. Header
 * bit 0: the direction (0 client to server, 1 server to client); bit 1: the
 * record is a gap (bytes missing) instead of data; bit 2: the bytes are
 * deflated here first, on that direction's own zlib stream with a sync
 * flush (what an XEP-0138 peer sends), so that mutations reach the
 * compressed layer.
 *
 * Option bit 4 runs the observer as the proxy does (xm_observer_new_live):
 * bytes go through xm_observer_decode(), which must stop right after a
 * server's <proceed/> or <compressed/>; the target then switches as
 * proxy/session.c does (for STARTTLS: TLS started, then up on both legs,
 * and the rest of the record is the first plaintext inside TLS). Bit 5
 * turns on lazy framing, bit 6 sets small stanza and inflate limits. */
#include "config.h"

#include <string.h>
#include <zlib.h>

#include "fuzz.h"
#include "observer.h"
#include "printer.h"
#include "record.h"

typedef struct {
  XmPrinterOptions popts;
  GString *buf;
  gboolean live;
  gboolean zlib_seen;
  gboolean tls_seen;
  gboolean zlib_on;     /* live: bytes after <compressed/> are deflated */
  z_stream z[2];
  gboolean z_init[2];
} State;

static void
on_event (XmEvent *ev, gpointer user_data)
{
  State *s = user_data;

  ev->conn = 1;
  ev->time_us = 1700000000000000;
  switch (ev->kind)
    {
    case XM_EVENT_STREAM_OPEN:
      g_assert (ev->stanza != NULL && ev->stanza->root != NULL);
      break;
    case XM_EVENT_STANZA:
      g_assert (ev->stanza != NULL);
      break;
    case XM_EVENT_SASL:
      g_assert (ev->sasl != NULL);
      break;
    case XM_EVENT_LAYER:
      g_assert (ev->text != NULL && ev->layer != NULL);
      /* A capture's decoding ends at STARTTLS; a live session goes on
       * inside TLS, where compression can be negotiated. */
      g_assert (!s->tls_seen || (s->live && strcmp (ev->layer->layer, "starttls") != 0));
      if (strcmp (ev->layer->layer, "zlib") == 0)
        {
          g_assert (!s->zlib_seen);
          s->zlib_seen = TRUE;
        }
      else if (strcmp (ev->layer->layer, "starttls") == 0)
        s->tls_seen = TRUE;
      break;
    case XM_EVENT_NOTE:
      g_assert (ev->text != NULL);
      break;
    case XM_EVENT_KEEPALIVE:
      g_assert (ev->count > 0);
      break;
    default:
      break;
    }
  if (ev->flags & XM_EVENT_FLAG_ZLIB)
    g_assert (s->zlib_seen);
  g_assert (ev->dir <= XM_DIR_NONE);

  g_string_truncate (s->buf, 0);
  xm_printer_format (&s->popts, ev, s->buf);
  g_string_truncate (s->buf, 0);
  xm_record_format (ev, FALSE, s->buf);
  g_assert (s->buf->len > 0 && s->buf->str[s->buf->len - 1] == '\n');
  g_assert (memchr (s->buf->str, '\n', s->buf->len) == s->buf->str + s->buf->len - 1);
}

static void
on_element (XmDir dir, const XmStanza *stanza, const XmSaslDecode *sasl,
            gpointer user_data)
{
  g_assert (dir == XM_DIR_C2S || dir == XM_DIR_S2C);
  g_assert (stanza != NULL);
  g_assert (sasl == NULL || stanza->root != NULL);
}

/* What proxy/session.c's deliver() does with a chunk of plaintext. */
static void
live_feed (State *s, XmObserver *obs, XmDir dir, const guint8 *p, gsize len)
{
  while (len > 0)
    {
      XmSwitch sw;
      gsize take = xm_observer_decode (obs, dir, p, len, &sw);

      g_assert (take > 0 && take <= len);
      if (sw != XM_SWITCH_NONE)
        {
          /* right after the element's last byte, which is plaintext; one
           * STARTTLS per connection */
          g_assert (dir == XM_DIR_S2C && !s->zlib_on && p[take - 1] == '>');
          g_assert (sw != XM_SWITCH_STARTTLS || !s->tls_seen);
          xm_observer_switch (obs);
          if (sw == XM_SWITCH_STARTTLS)
            {
              xm_observer_tls_started (obs);
              xm_observer_tls_up (obs);
              s->zlib_seen = FALSE;
              s->zlib_on = FALSE;
            }
          else
            s->zlib_on = TRUE;
        }
      p += take;
      len -= take;
    }
}

static GByteArray *
deflate_chunk (State *s, int dir, const uint8_t *p, size_t len)
{
  GByteArray *out = g_byte_array_new ();
  z_stream *z = &s->z[dir];
  guint8 buf[4096];

  if (!s->z_init[dir])
    {
      g_assert (deflateInit (z, Z_DEFAULT_COMPRESSION) == Z_OK);
      s->z_init[dir] = TRUE;
    }
  z->next_in = (Bytef *) p;
  z->avail_in = (uInt) len;
  do
    {
      z->next_out = buf;
      z->avail_out = sizeof buf;
      g_assert (deflate (z, Z_SYNC_FLUSH) != Z_STREAM_ERROR);
      g_byte_array_append (out, buf, sizeof buf - z->avail_out);
    }
  while (z->avail_out == 0);
  return out;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FuzzIn in = { data, size };
  State s = { 0 };
  unsigned opt = fuzz_byte (&in);
  XmObserver *obs;

  fuzz_glib_fatal ();
  xm_printer_options_init (&s.popts);
  s.popts.utc = TRUE;
  s.popts.color = (opt & 4) != 0;
  s.popts.show_secrets = (opt & 8) != 0;
  s.buf = g_string_new (NULL);
  s.live = (opt & 0x10) != 0;
  if (s.live)
    {
      XmObserverLive live = {
        .max_stanza = (opt & 0x40) ? 300 : 1 << 20,
        .lazy = (opt & 0x20) != 0,
        .max_inflate = (opt & 0x40) ? 2000 : 1 << 20,
        .max_inflate_ratio = (opt & 0x40) ? 5 : 200,
        .element = on_element,
      };
      obs = xm_observer_new_live (&live, on_event, &s);
    }
  else
    {
      obs = xm_observer_new (on_event, &s);
      if (opt & 1)
        xm_observer_from_start (obs, XM_DIR_C2S);
      if (opt & 2)
        xm_observer_from_start (obs, XM_DIR_S2C);
    }

  while (in.left > 0)
    {
      unsigned h = fuzz_byte (&in);
      XmDir dir = (h & 1) ? XM_DIR_S2C : XM_DIR_C2S;
      size_t want = (h & 8) ? fuzz_u16 (&in) : fuzz_byte (&in);
      const uint8_t *p;
      size_t len = fuzz_take (&in, want, &p);

      if ((h & 2) && s.live)
        continue; /* a proxy sees every byte: no gaps */
      if (h & 2)
        {
          char *msg = g_strdup_printf ("%zu bytes missing at offset 4000", want);
          xm_observer_gap (obs, dir, msg);
          g_free (msg);
        }
      else if (h & 4)
        {
          GByteArray *z = deflate_chunk (&s, dir, p, len);
          if (s.live)
            live_feed (&s, obs, dir, z->data, z->len);
          else
            xm_observer_feed (obs, dir, z->data, z->len);
          g_byte_array_unref (z);
        }
      else if (s.live)
        live_feed (&s, obs, dir, p, len);
      else
        xm_observer_feed (obs, dir, p, len);
      (void) xm_observer_decoding (obs, dir);
    }
  xm_observer_finish (obs);

  xm_observer_free (obs);
  for (int i = 0; i < 2; i++)
    if (s.z_init[i])
      deflateEnd (&s.z[i]);
  g_string_free (s.buf, TRUE);
  return 0;
}
