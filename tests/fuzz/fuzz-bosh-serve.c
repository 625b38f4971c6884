/* fuzz-bosh-serve.c: the connection manager's side of BOSH
 * (stream/layer-bosh-serve.c), which replay --serve puts before a
 * client's requests: bodies from two HTTP connections, in any rid order,
 * repeated, forged or not XML, with an owner above that answers the way
 * serve.c does (its stream header and features for each stream header,
 * a stanza now and then, its close for the client's).
 *
 * Input: an option byte (bit 0: the owner answers every stanza), then
 * records: header byte (bit 0: which connection; bit 1: the owner
 * closes its stream after this request; bit 2: that connection closes
 * and is forgotten, the request comes on it still, then it is freed and
 * a new one takes its place),
 * two-byte length, the body.
 *
 * Invariants: no crash, leak or GLib warning; what the layer keeps is
 * bounded (the requests waiting for an earlier rid are at most 8: past
 * that the owner's leg fails with one sentence starting "BOSH: "). */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "layer-bosh-serve.h"
#include "leg.h"

typedef struct {
  XmLeg *leg;
  gboolean echo;
  gboolean failed;
  gboolean closed;
} Owner;

static void
send_str (Owner *o, const char *s)
{
  if (!o->closed)
    xm_leg_send (o->leg, (const guint8 *) s, strlen (s));
}

static gsize
on_data (XmLeg *leg, const guint8 *data, gsize len, gpointer user_data)
{
  Owner *o = user_data;

  if (g_strstr_len ((const char *) data, len, "<stream:stream"))
    {
      send_str (o, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' "
                "from='localhost' id='fuzz&amp;id'>");
      send_str (o, "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:"
                "xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
    }
  else if (g_strstr_len ((const char *) data, len, "</stream:stream>"))
    {
      send_str (o, "</stream:stream>");
      o->closed = TRUE;
    }
  else if (o->echo)
    send_str (o, "<message xmlns='jabber:client'><body>echo</body></message>");
  return len;
}

static void
on_eof (XmLeg *leg, XmLayer *layer, gpointer user_data)
{
}

static void
on_failed (XmLeg *leg, XmLayer *layer, const GError *error, gpointer user_data)
{
  Owner *o = user_data;

  g_assert (g_str_has_prefix (error->message, "BOSH: "));
  g_assert (strchr (error->message, '\n') == NULL);
  o->failed = TRUE;
}

static const XmLegEvents owner_events = {
  .data = on_data, .eof = on_eof, .failed = on_failed,
};

static gsize
carrier_data (XmLeg *leg, const guint8 *data, gsize len, gpointer user_data)
{
  return len;
}

static const XmLegEvents carrier_events = {
  .data = carrier_data, .eof = on_eof, .failed = on_failed,
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Owner o = { NULL };
  Owner co = { NULL };
  XmLeg *carrier[2];
  XmLayer *layer;
  gsize at = 1;

  fuzz_glib_fatal ();
  if (size < 1)
    return 0;
  o.echo = data[0] & 1;
  o.leg = xm_leg_new ("client", &owner_events, &o);
  layer = xm_layer_bosh_serve_new ();
  xm_leg_push (o.leg, layer);
  /* carriers without sockets: what they are sent waits in their queues */
  for (int i = 0; i < 2; i++)
    carrier[i] = xm_leg_new ("client", &carrier_events, &co);
  while (at + 3 <= size && xm_leg_alive (o.leg))
    {
      guint8 h = data[at];
      gsize len = MIN ((gsize) (data[at + 1] | data[at + 2] << 8), size - at - 3);

      if (h & 4)
        {
          /* the connection closes and is forgotten; its request comes
           * still (read after the close), then it is freed, as replay
           * frees it: the layer must keep no pointer to it */
          xm_leg_close (carrier[h & 1], FALSE);
          xm_layer_bosh_serve_forget (layer, carrier[h & 1]);
          xm_layer_bosh_serve_request (layer, carrier[h & 1], data + at + 3, len);
          xm_leg_free (carrier[h & 1]);
          carrier[h & 1] = xm_leg_new ("client", &carrier_events, &co);
        }
      else
        xm_layer_bosh_serve_request (layer, carrier[h & 1], data + at + 3, len);
      if ((h & 2) && !o.closed && xm_leg_alive (o.leg))
        {
          send_str (&o, "</stream:stream>");
          o.closed = TRUE;
        }
      at += 3 + len;
    }
  /* a close answers what is held, as xm_conn_close does */
  xm_leg_close (o.leg, FALSE);
  xm_leg_free (o.leg);
  for (int i = 0; i < 2; i++)
    xm_leg_free (carrier[i]);
  return 0;
}
