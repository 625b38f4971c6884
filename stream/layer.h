/* layer.h: one layer of a leg's stack (leg.h), the way libstrophe's
 * struct conn_interface and curl's connection filters do it.
 *
 * A leg is a socket with an ordered stack of layers on top: bytes read
 * from the socket go up through every layer (TLS decrypts, zlib inflates)
 * to the leg's owner; bytes the owner sends go down through them to the
 * socket. A layer implements only the calls it changes: a NULL entry
 * passes bytes on unchanged (xm_layer_up()/xm_layer_down()). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _XmLeg XmLeg;
typedef struct _XmLayer XmLayer;

typedef struct {
  const char *name;  /* "tls", "zlib": names the layer in every message */
  /* Pushed onto its leg: a client handshake starts here. */
  void (*start) (XmLayer *self);
  /* Bytes from the layer below (or the socket). Results go on with
   * xm_layer_up(); a fatal problem with xm_leg_fail(). */
  void (*from_below) (XmLayer *self, const guint8 *data, gsize len);
  /* The read that fed from_below is over: a layer that reads its input in
   * place (TLS) keeps what it has not consumed. */
  void (*read_end) (XmLayer *self);
  /* Bytes from above (or the owner); results go on with xm_layer_down(). */
  void (*from_above) (XmLayer *self, const guint8 *data, gsize len);
  /* Bytes from above that this layer holds and has not sent down yet. */
  gsize (*pending) (XmLayer *self);
  /* Setting up (a handshake): a shutdown waits until it is over. */
  gboolean (*busy) (XmLayer *self);
  /* The leg closes its sending side: the layer says so first (TLS
   * close_notify), with xm_layer_down(). */
  void (*shutdown) (XmLayer *self);
  /* A busy leg keeps its buffers; an idle one gives them back. */
  void (*keep_buffers) (XmLayer *self, gboolean keep);
  /* The leg closes (xm_leg_close()): a layer with sockets of its own
   * (BOSH's HTTP connections) closes them; it is freed later. */
  void (*close) (XmLayer *self);
  void (*free) (XmLayer *self);
} XmLayerClass;

struct _XmLayer {
  const XmLayerClass *klass;
  XmLeg *leg;         /* set when pushed */
  XmLayer *below;     /* NULL: the socket */
  XmLayer *above;     /* NULL: the owner */
  gboolean hold;      /* do not read the socket for now (e.g. a TLS
                       * handshake waiting for the other leg) */
};

/* Passes bytes on to the layer above (or the leg's owner), or below (or
 * the socket). */
void xm_layer_up (XmLayer *layer, const guint8 *data, gsize len);
void xm_layer_down (XmLayer *layer, const guint8 *data, gsize len);
/* Bytes into layer from below, as if read from the socket: for an owner
 * that held the first bytes back until it knew which layer they are for
 * (replay --serve telling HTTP from XMPP). */
void xm_layer_from_below (XmLayer *layer, const guint8 *data, gsize len);
/* The layer's hold changed (xm_layer_up() bytes it kept meanwhile). */
void xm_layer_set_hold (XmLayer *layer, gboolean hold);

G_END_DECLS
