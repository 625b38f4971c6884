/* order.h: when replay may send the next recorded client stanza.
 *
 * Pure: a list of the recording's items in recorded order (across every
 * connection), each either something replay does (open a connection, send
 * a stanza, close a stream) or something it waits for (a server stanza).
 * An item to do is ready once every earlier item it depends on is done;
 * which earlier items it depends on is the pace (XmPace, below). A
 * waited-for item is done when it arrived, or when replay gave up on it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  /* Default. Before a client item: every earlier client item of every
   * connection has been done; on other connections, every earlier server
   * item has arrived (a message to bob waits for bob's session); on its own
   * connection, the answers to its iqs (matched by id) and the server
   * requests it answers. A stream close waits for all of its connection. */
  XM_PACE_IQ,
  /* Every earlier item, and the recorded gap since the previous one. */
  XM_PACE_RECORDED,
  /* Only the recorded order of client items (and, before a stream close,
   * what its connection still waits for; before an answer to a server
   * request, the request). */
  XM_PACE_FAST,
} XmPace;

gboolean xm_pace_parse (const char *s, XmPace *pace);

typedef enum {
  XM_ORDER_SEND,    /* replay does it: connect, a stanza, a stream close */
  XM_ORDER_RECEIVE, /* replay waits for it: a server stanza */
} XmOrderKind;

/* What the pace needs to know about a server item. */
#define XM_ORDER_ANSWER (1u << 0)   /* answers an iq its client sent */
#define XM_ORDER_REQUEST (1u << 1)  /* an iq a later client item answers */
/* ... about a client item. */
#define XM_ORDER_CLOSE (1u << 2)    /* the client closes its stream */

typedef struct _XmOrder XmOrder;

XmOrder *xm_order_new (XmPace pace);
void xm_order_free (XmOrder *order);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmOrder, xm_order_free)

/* Appends an item; returns its index. time_us: when it was recorded. */
guint xm_order_add (XmOrder *order, guint conn, XmOrderKind kind, guint flags,
                    gint64 time_us);
guint xm_order_len (const XmOrder *order);

/* TRUE if nothing item depends on is still to do (see XmPace). */
gboolean xm_order_ready (XmOrder *order, guint item);
/* The unresolved server items item waits for (indices appended to out). */
void xm_order_blockers (XmOrder *order, guint item, GArray *out);

/* Marks item done at now_us (monotonic time). */
void xm_order_done (XmOrder *order, guint item, gint64 now_us);
gboolean xm_order_is_done (const XmOrder *order, guint item);
/* TRUE when every item is done. */
gboolean xm_order_finished (const XmOrder *order);

/* XM_PACE_RECORDED: the monotonic time before which item must not be done
 * (the previous item's completion plus the recorded gap); 0 otherwise. */
gint64 xm_order_not_before (const XmOrder *order, guint item);

/* ---- arrivals: how far what the peer sends may stray from the record ----
 *
 * One connection's recorded peer stanzas (what the server sent; with
 * --serve, what the client sent), in recorded order. Presence may arrive
 * in another order within its run: the presences recorded between the same
 * two other stanzas (presence broadcasts and probe answers come in whatever
 * order the server's routing gives them). Anything else arrives in recorded
 * order: a stanza that comes before one recorded ahead of it that has not
 * arrived yet is out of order. */
typedef struct {
  gboolean presence; /* a <presence/> */
  gboolean arrived;  /* matched, or given up on */
} XmArrival;

/* Whether something arriving now may be matched with recorded[j] (which
 * has not arrived) without leaving the window: -1 if so, else the index of
 * the first recorded stanza that has not arrived and that it overtakes. */
gint xm_arrival_overtakes (const XmArrival *recorded, guint n, guint j);

G_END_DECLS
