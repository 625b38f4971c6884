/* fuzz-bosh.c: XMPP over HTTP across connections: four connections'
 * observers share one XmBosh (decoders/bosh.c), as the proxy's and a
 * capture's do, so that bodies of one session arrive over several of them,
 * out of order, repeated, or forged. HTTP requests and responses
 * (http-msg.c), WebSocket upgrades and frames (ws-frame.c) and BOSH bodies
 * all go through observer-web.c; each event is formatted by the printer
 * and the recorder.
 *
 * Input: an option byte (bit 0: the connections are live, as the proxy
 * decodes; bit 1: small caps), then records: a header byte (bits 0-1: the
 * connection, bit 2: the direction, 0 client to server; bit 3: a two-byte
 * length), the length and the bytes. */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "bosh.h"
#include "observer.h"
#include "printer.h"
#include "record.h"

#define CONNS 4

typedef struct {
  XmPrinterOptions popts;
  GString *buf;
  guint conn;
} Conn;

static void
on_event (XmEvent *ev, gpointer user_data)
{
  Conn *c = user_data;

  ev->conn = c->conn;
  ev->time_us = 1700000000000000;
  g_assert (ev->dir <= XM_DIR_NONE);
  g_assert (ev->session <= CONNS);
  if (ev->kind == XM_EVENT_STREAM_OPEN || ev->kind == XM_EVENT_STANZA)
    g_assert (ev->stanza != NULL);
  if (ev->kind == XM_EVENT_TRANSPORT)
    g_assert (ev->transport != NULL && ev->text != NULL);
  if (ev->flags & XM_EVENT_FLAG_BOSH)
    g_assert (ev->session != 0);
  g_string_truncate (c->buf, 0);
  xm_printer_format (&c->popts, ev, c->buf);
  g_string_truncate (c->buf, 0);
  xm_record_format (ev, FALSE, c->buf);
  g_assert (c->buf->len > 0 && c->buf->str[c->buf->len - 1] == '\n');
  g_assert (memchr (c->buf->str, '\n', c->buf->len) == c->buf->str + c->buf->len - 1);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  XmBosh *bosh;
  XmObserver *obs[CONNS];
  Conn conns[CONNS];
  gboolean live;
  gsize pos = 1;

  fuzz_glib_fatal ();
  if (size < 1)
    return 0;
  live = data[0] & 1;
  bosh = xm_bosh_new ();
  for (guint i = 0; i < CONNS; i++)
    {
      XmObserverLive opts = { .max_stanza = data[0] & 2 ? 256 : 1 << 20,
                              .max_inflate = 1 << 20, .max_inflate_ratio = 100 };
      g_autofree char *addr = g_strdup_printf ("192.0.2.%u:4000%u", i / 2, i);

      memset (&conns[i], 0, sizeof conns[i]);
      conns[i].buf = g_string_new (NULL);
      conns[i].conn = i + 1;
      conns[i].popts.max_text = 64;
      obs[i] = live ? xm_observer_new_live (&opts, on_event, &conns[i])
                    : xm_observer_new (on_event, &conns[i]);
      if (!live)
        {
          xm_observer_from_start (obs[i], XM_DIR_C2S);
          xm_observer_from_start (obs[i], XM_DIR_S2C);
        }
      xm_observer_set_bosh (obs[i], bosh, i + 1);
      xm_observer_set_client (obs[i], addr);
    }
  while (pos < size)
    {
      guint8 h = data[pos++];
      guint c = h & 3;
      XmDir dir = h & 4 ? XM_DIR_S2C : XM_DIR_C2S;
      gsize len;

      if (h & 8)
        {
          if (pos + 2 > size)
            break;
          len = data[pos] | data[pos + 1] << 8;
          pos += 2;
        }
      else
        {
          if (pos + 1 > size)
            break;
          len = data[pos++];
        }
      len = MIN (len, size - pos);
      if (live)
        {
          XmSwitch sw;
          gsize at = 0;

          while (at < len)
            {
              at += xm_observer_decode (obs[c], dir, data + pos + at, len - at, &sw);
              if (sw != XM_SWITCH_NONE)
                xm_observer_switch (obs[c]);
            }
        }
      else
        xm_observer_feed (obs[c], dir, data + pos, len);
      pos += len;
    }
  g_assert (xm_bosh_sessions (bosh) <= 1024);
  for (guint i = 0; i < CONNS; i++)
    {
      xm_observer_finish (obs[i]);
      xm_observer_free (obs[i]);
      g_string_free (conns[i].buf, TRUE);
    }
  xm_bosh_free (bosh);
  return 0;
}
