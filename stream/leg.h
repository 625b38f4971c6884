/* leg.h: one side of a connection: a socket and a stack of layers
 * (layer.h), shared by the proxy (two legs a session) and replay (one).
 *
 * Reading: one recv per readiness event into a buffer all legs share; the
 * bytes go up through the layers to the owner's data callback. Sending:
 * the owner's bytes go down through the layers to the socket; only what
 * the socket cannot take now is copied, into the leg's queue. The owner
 * asks xm_leg_queued() before reading the peer that feeds this leg and
 * stops above its high-water mark (back-pressure), so memory per leg is
 * bounded whatever the peers do.
 *
 * The exact-byte switch: when the data callback sees the element after
 * which the stream changes layer (<proceed/>, <compressed/>), it pushes the
 * new layer and returns how many bytes belonged to the old stack; the leg
 * hands the rest to the new layer. */
#pragma once

#include <gio/gio.h>

#include "layer.h"

G_BEGIN_DECLS

#define XM_LEG_ERROR (xm_leg_error_quark ())
GQuark xm_leg_error_quark (void);

typedef enum {
  XM_LEG_ERROR_READ,    /* recv failed, or the socket reported an error */
  XM_LEG_ERROR_WRITE,   /* send failed */
  XM_LEG_ERROR_LAYER,   /* a layer failed; the layer's own error is kept */
} XmLegError;

/* What one recv takes. Large, so that a busy leg makes few recv and send
 * calls and wakes its peer seldom: each send wakes the reader on the other
 * side, which on a VM is an interrupt sent to another CPU. In an echo run,
 * 64 KiB made 3.3 times the sends of 256 KiB and recorded about 6% fewer
 * stanzas a second. */
#define XM_LEG_READ_CHUNK (256 * 1024)

typedef struct {
  /* Bytes came in (n > 0) or the peer sent FIN (n == 0), before they go
   * up: the time of a read. Optional. */
  void (*received) (XmLeg *leg, gsize n, gpointer user_data);
  /* Plaintext from the top of the stack. Returns how many bytes belong to
   * the stack as it was: less than len only after the owner pushed a layer,
   * which then gets the rest. */
  gsize (*data) (XmLeg *leg, const guint8 *data, gsize len, gpointer user_data);
  /* The peer will send nothing more: layer NULL for TCP's FIN, else the
   * layer that ended (TLS close_notify). */
  void (*eof) (XmLeg *leg, XmLayer *layer, gpointer user_data);
  /* A transport failure (XM_LEG_ERROR_READ/WRITE: from the socket, layer
   * NULL; or the layer's error). Nothing more is read from the leg. */
  void (*failed) (XmLeg *leg, XmLayer *layer, const GError *error,
                  gpointer user_data);
  /* Each socket event's handling is over (reads, sends, callbacks): where
   * the owner settles what the event changed. Optional. */
  void (*io_done) (XmLeg *leg, gpointer user_data);
} XmLegEvents;

/* A leg with no socket yet (xm_leg_attach()); what is sent meanwhile is
 * queued. name ("client", "server") appears in messages about it. */
XmLeg *xm_leg_new (const char *name, const XmLegEvents *events, gpointer user_data);
/* Takes fd (non-blocking, connected): reads start, the queue goes out. */
gboolean xm_leg_attach (XmLeg *leg, int fd, GError **error);
/* Closes the socket (abort: with a reset, SO_LINGER 0); layers stay until
 * xm_leg_free(). Nothing is read or sent afterwards. */
void xm_leg_close (XmLeg *leg, gboolean abort);
void xm_leg_free (XmLeg *leg);

const char *xm_leg_name (const XmLeg *leg);
gboolean xm_leg_is_open (const XmLeg *leg);
/* The peer sent FIN, or a layer said it ended. */
gboolean xm_leg_eof (const XmLeg *leg);
/* The sending side is shut down (not just waiting for the queue). */
gboolean xm_leg_shut (const XmLeg *leg);

/* Layers: push on top (its start() runs); find the first of a class. */
void xm_leg_push (XmLeg *leg, XmLayer *layer);
XmLayer *xm_leg_find (XmLeg *leg, const XmLayerClass *klass);
/* Whether a layer is still setting up (a handshake). */
gboolean xm_leg_busy (XmLeg *leg);

/* Sends through the whole stack. FALSE once the leg cannot send (closed,
 * shut, failed). */
gboolean xm_leg_send (XmLeg *leg, const guint8 *data, gsize len);
/* Bytes accepted but not yet taken by the socket: the queue and what
 * layers hold. */
gsize xm_leg_queued (XmLeg *leg);
/* Shuts the sending side down once what is queued is out and no layer is
 * busy; layers say so first (TLS close_notify). */
void xm_leg_shutdown (XmLeg *leg);

/* Whether the owner wants to read the leg now (FALSE: back-pressure). The
 * leg also stops reading at EOF and while a layer holds. */
void xm_leg_set_reading (XmLeg *leg, gboolean reading);
/* Busy legs keep their layers' buffers, idle ones give them back. */
void xm_leg_keep_buffers (XmLeg *leg, gboolean keep);

/* For layers: a fatal problem (error is taken), a setup finished. */
void xm_leg_fail (XmLeg *leg, XmLayer *layer, GError *error);
void xm_leg_layer_eof (XmLeg *leg, XmLayer *layer);
void xm_leg_layer_settled (XmLeg *leg, XmLayer *layer);
/* For layers that emit on their own: is the leg still going? */
gboolean xm_leg_alive (const XmLeg *leg);

G_END_DECLS
