/* leg.c: see leg.h. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "leg.h"
#include "poller.h"

G_DEFINE_QUARK (xm-leg-error-quark, xm_leg_error)

struct _XmLeg {
  char *name;
  const XmLegEvents *events;
  gpointer user_data;
  int fd;
  XmWatch *watch;
  XmLayer *bottom, *top;
  GByteArray *out;     /* bytes for the socket it could not take yet */
  gsize out_off;
  gboolean reading;    /* the owner wants input */
  gboolean eof;
  gboolean shut;       /* shutdown(SHUT_WR) done */
  gboolean shut_pending;
  gboolean failed;
  gboolean closed;
  gboolean dispatching; /* in on_event: io_done will run */
};

/* One read at a time in the process (a single-threaded loop), so one
 * buffer serves every leg: a leg costs nothing while idle. */
static guint8 scratch[XM_LEG_READ_CHUNK];

static void update_events (XmLeg *leg);
static void on_event (XmWatch *watch, guint32 revents, gpointer user_data);

XmLeg *
xm_leg_new (const char *name, const XmLegEvents *events, gpointer user_data)
{
  XmLeg *leg = g_new0 (XmLeg, 1);

  leg->name = g_strdup (name);
  leg->events = events;
  leg->user_data = user_data;
  leg->fd = -1;
  leg->reading = TRUE;
  return leg;
}

const char *
xm_leg_name (const XmLeg *leg)
{
  return leg->name;
}

gboolean
xm_leg_is_open (const XmLeg *leg)
{
  return leg->fd >= 0;
}

gboolean
xm_leg_eof (const XmLeg *leg)
{
  return leg->eof;
}

gboolean
xm_leg_shut (const XmLeg *leg)
{
  return leg->shut;
}

gboolean
xm_leg_alive (const XmLeg *leg)
{
  return !leg->closed && !leg->failed;
}

/* ---- socket ---- */

static gboolean
io_again (int err)
{
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

static void
socket_failed (XmLeg *leg, XmLegError code, int err)
{
  xm_leg_fail (leg, NULL, g_error_new_literal (XM_LEG_ERROR, code, g_strerror (err)));
}

/* Ciphertext (or plaintext, without layers) for the socket. */
static void
raw_send (XmLeg *leg, const guint8 *data, gsize len)
{
  gsize done = 0;

  if (leg->closed || leg->shut)
    return;
  if (leg->fd >= 0 && !(leg->out && leg->out->len > leg->out_off))
    {
      ssize_t w = send (leg->fd, data, len, MSG_NOSIGNAL);
      if (w < 0 && !io_again (errno))
        {
          socket_failed (leg, XM_LEG_ERROR_WRITE, errno);
          return;
        }
      done = w > 0 ? (gsize) w : 0;
    }
  if (done < len)
    {
      /* (a queue that drained is freed: out exists while bytes wait) */
      if (leg->out == NULL)
        leg->out = g_byte_array_sized_new (len - done);
      g_byte_array_append (leg->out, data + done, len - done);
      if (!leg->dispatching)
        update_events (leg);
    }
}

static void try_shutdown (XmLeg *leg);

static void
flush_out (XmLeg *leg)
{
  while (leg->out && leg->out->len > leg->out_off)
    {
      ssize_t w = send (leg->fd, leg->out->data + leg->out_off,
                        leg->out->len - leg->out_off, MSG_NOSIGNAL);
      if (w < 0)
        {
          if (!io_again (errno))
            socket_failed (leg, XM_LEG_ERROR_WRITE, errno);
          return;
        }
      leg->out_off += w;
    }
  /* Drained: give the memory back, idle legs should cost little. */
  g_clear_pointer (&leg->out, g_byte_array_unref);
  leg->out_off = 0;
  if (leg->shut_pending)
    try_shutdown (leg);
}

gboolean
xm_leg_attach (XmLeg *leg, int fd, GError **error)
{
  g_return_val_if_fail (leg->fd < 0, FALSE);
  leg->watch = xm_watch_add (fd, EPOLLIN, on_event, leg);
  if (leg->watch == NULL)
    {
      g_set_error (error, XM_LEG_ERROR, XM_LEG_ERROR_READ,
                   "cannot watch the %s socket: %s", leg->name, g_strerror (errno));
      return FALSE;
    }
  leg->fd = fd;
  flush_out (leg);
  if (xm_leg_alive (leg))
    {
      if (leg->shut_pending)
        try_shutdown (leg);
      update_events (leg);
    }
  return TRUE;
}

void
xm_leg_close (XmLeg *leg, gboolean abort)
{
  leg->closed = TRUE;
  g_clear_pointer (&leg->watch, xm_watch_remove);
  if (leg->fd >= 0)
    {
      if (abort)
        {
          /* Pass a reset on as a reset: linger 0 makes close() send RST. */
          struct linger lg = { 1, 0 };
          setsockopt (leg->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
      close (leg->fd);
      leg->fd = -1;
    }
  g_clear_pointer (&leg->out, g_byte_array_unref);
  leg->out_off = 0;
  for (XmLayer *l = leg->bottom; l; l = l->above)
    if (l->klass->close)
      l->klass->close (l);
}

void
xm_leg_free (XmLeg *leg)
{
  if (leg == NULL)
    return;
  xm_leg_close (leg, FALSE);
  while (leg->top)
    {
      XmLayer *l = leg->top;
      leg->top = l->below;
      l->klass->free (l);
    }
  g_free (leg->name);
  g_free (leg);
}

/* ---- layers ---- */

void
xm_leg_push (XmLeg *leg, XmLayer *layer)
{
  layer->leg = leg;
  layer->below = leg->top;
  layer->above = NULL;
  if (leg->top)
    leg->top->above = layer;
  else
    leg->bottom = layer;
  leg->top = layer;
  if (layer->klass->start)
    layer->klass->start (layer);
  if (!leg->dispatching && xm_leg_alive (leg))
    update_events (leg);
}

XmLayer *
xm_leg_find (XmLeg *leg, const XmLayerClass *klass)
{
  for (XmLayer *l = leg->bottom; l; l = l->above)
    if (l->klass == klass)
      return l;
  return NULL;
}

gboolean
xm_leg_busy (XmLeg *leg)
{
  for (XmLayer *l = leg->bottom; l; l = l->above)
    if (l->klass->busy && l->klass->busy (l))
      return TRUE;
  return FALSE;
}

void
xm_layer_from_below (XmLayer *layer, const guint8 *data, gsize len)
{
  if (layer->klass->from_below)
    layer->klass->from_below (layer, data, len);
  else
    xm_layer_up (layer, data, len);
}

/* Bytes at the top of the stack (from layer, or from the socket). */
static void
deliver (XmLeg *leg, XmLayer *from, const guint8 *data, gsize len)
{
  gsize used = leg->events->data (leg, data, len, leg->user_data);
  XmLayer *next;

  if (used >= len || !xm_leg_alive (leg))
    return;
  /* The owner pushed a layer above from: the rest is its input. */
  next = from ? from->above : leg->bottom;
  g_return_if_fail (next != NULL);
  xm_layer_from_below (next, data + used, len - used);
}

void
xm_layer_up (XmLayer *layer, const guint8 *data, gsize len)
{
  if (!xm_leg_alive (layer->leg))
    return;
  if (layer->above)
    xm_layer_from_below (layer->above, data, len);
  else
    deliver (layer->leg, layer, data, len);
}

void
xm_layer_down (XmLayer *layer, const guint8 *data, gsize len)
{
  XmLayer *below = layer->below;

  if (below == NULL)
    raw_send (layer->leg, data, len);
  else if (below->klass->from_above)
    below->klass->from_above (below, data, len);
  else
    xm_layer_down (below, data, len);
}

void
xm_layer_set_hold (XmLayer *layer, gboolean hold)
{
  layer->hold = hold;
  if (layer->leg && !layer->leg->dispatching && xm_leg_alive (layer->leg))
    update_events (layer->leg);
}

/* ---- sending ---- */

gboolean
xm_leg_send (XmLeg *leg, const guint8 *data, gsize len)
{
  if (!xm_leg_alive (leg) || leg->shut)
    return FALSE;
  if (leg->top == NULL)
    raw_send (leg, data, len);
  else if (leg->top->klass->from_above)
    leg->top->klass->from_above (leg->top, data, len);
  else
    xm_layer_down (leg->top, data, len);
  return xm_leg_alive (leg);
}

gsize
xm_leg_queued (XmLeg *leg)
{
  gsize n = leg->out ? leg->out->len - leg->out_off : 0;

  for (XmLayer *l = leg->bottom; l; l = l->above)
    if (l->klass->pending)
      n += l->klass->pending (l);
  return n;
}

static void
try_shutdown (XmLeg *leg)
{
  if (leg->shut || !xm_leg_alive (leg))
    return;
  leg->shut_pending = TRUE;
  if (leg->fd < 0 || xm_leg_queued (leg) > 0 || xm_leg_busy (leg))
    return;
  /* Layers say they are closing first (TLS close_notify), top down. */
  for (XmLayer *l = leg->top; l; l = l->below)
    if (l->klass->shutdown)
      l->klass->shutdown (l);
  if (!xm_leg_alive (leg) || (leg->out && leg->out->len > leg->out_off))
    return;
  shutdown (leg->fd, SHUT_WR);
  leg->shut = TRUE;
  leg->shut_pending = FALSE;
}

void
xm_leg_shutdown (XmLeg *leg)
{
  try_shutdown (leg);
}

void
xm_leg_layer_settled (XmLeg *leg, XmLayer *layer)
{
  if (leg->shut_pending && xm_leg_alive (leg))
    try_shutdown (leg);
}

/* ---- reading ---- */

void
xm_leg_fail (XmLeg *leg, XmLayer *layer, GError *error)
{
  if (!xm_leg_alive (leg))
    {
      g_error_free (error);
      return;
    }
  leg->failed = TRUE;
  leg->events->failed (leg, layer, error, leg->user_data);
  g_error_free (error);
}

void
xm_leg_layer_eof (XmLeg *leg, XmLayer *layer)
{
  if (leg->eof || !xm_leg_alive (leg))
    return;
  leg->eof = TRUE;
  leg->events->eof (leg, layer, leg->user_data);
}

void
xm_leg_set_reading (XmLeg *leg, gboolean reading)
{
  leg->reading = reading;
  if (!leg->dispatching && xm_leg_alive (leg))
    update_events (leg);
}

void
xm_leg_keep_buffers (XmLeg *leg, gboolean keep)
{
  for (XmLayer *l = leg->bottom; l; l = l->above)
    if (l->klass->keep_buffers)
      l->klass->keep_buffers (l, keep);
}

static gboolean
held (const XmLeg *leg)
{
  for (const XmLayer *l = leg->bottom; l; l = l->above)
    if (l->hold)
      return TRUE;
  return FALSE;
}

static void
update_events (XmLeg *leg)
{
  guint32 ev = 0;

  if (leg->watch == NULL)
    return;
  if (leg->reading && !leg->eof && !held (leg))
    ev |= EPOLLIN;
  if (leg->out && leg->out->len > leg->out_off)
    ev |= EPOLLOUT;
  xm_watch_set_events (leg->watch, ev);
}

static void
read_leg (XmLeg *leg)
{
  ssize_t n = recv (leg->fd, scratch, sizeof scratch, 0);

  if (n < 0)
    {
      if (!io_again (errno))
        socket_failed (leg, XM_LEG_ERROR_READ, errno);
      return;
    }
  if (leg->events->received)
    leg->events->received (leg, n, leg->user_data);
  if (n == 0)
    {
      xm_leg_layer_eof (leg, NULL);
      return;
    }
  if (leg->bottom)
    xm_layer_from_below (leg->bottom, scratch, n);
  else
    deliver (leg, NULL, scratch, n);
}

static void
on_event (XmWatch *watch, guint32 revents, gpointer user_data)
{
  XmLeg *leg = user_data;

  leg->dispatching = TRUE;
  if ((revents & EPOLLOUT) && xm_leg_alive (leg))
    flush_out (leg);
  if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && xm_leg_alive (leg)
      && (xm_watch_get_events (watch) & EPOLLIN))
    read_leg (leg);
  else if ((revents & EPOLLERR) && xm_leg_alive (leg))
    {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt (leg->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      socket_failed (leg, XM_LEG_ERROR_READ, err ? err : EPIPE);
    }
  /* The owner settles first (it may change what this leg reads), then
   * the interest is set once. */
  if (leg->events->io_done)
    leg->events->io_done (leg, leg->user_data);
  leg->dispatching = FALSE;
  if (xm_leg_alive (leg))
    update_events (leg);
}
