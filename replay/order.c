/* order.c: see order.h. */
#include "config.h"

#include <string.h>

#include "order.h"

typedef struct {
  guint conn;
  XmOrderKind kind;
  guint flags;
  gint64 time_us;
  gboolean done;
  gint64 done_at;
} Item;

/* Items of one kind, in order, with a cursor: every one before it is
 * done. Items are done in about the order they come, so moving the cursor
 * costs next to nothing, and "is one of these before item still open?" is
 * a comparison. */
typedef struct {
  GArray *items;   /* guint: item numbers, ascending */
  guint open;      /* every one before it is done */
} Run;

/* A connection's server items: all, those that answer its iqs or that it
 * answers, those it answers. */
typedef struct {
  guint conn;
  Run all, answer_or_request, request;
} ConnRuns;

struct _XmOrder {
  XmPace pace;
  GArray *items;   /* Item */
  guint first_open; /* every item before it is done */
  Run sends;       /* every XM_ORDER_SEND item */
  GPtrArray *conns; /* ConnRuns*, one per connection with server items */
};

gboolean
xm_pace_parse (const char *s, XmPace *pace)
{
  if (g_strcmp0 (s, "iq") == 0)
    *pace = XM_PACE_IQ;
  else if (g_strcmp0 (s, "recorded") == 0)
    *pace = XM_PACE_RECORDED;
  else if (g_strcmp0 (s, "fast") == 0)
    *pace = XM_PACE_FAST;
  else
    return FALSE;
  return TRUE;
}

XmOrder *
xm_order_new (XmPace pace)
{
  XmOrder *o = g_new0 (XmOrder, 1);

  o->pace = pace;
  o->items = g_array_new (FALSE, TRUE, sizeof (Item));
  o->sends.items = g_array_new (FALSE, FALSE, sizeof (guint));
  o->conns = g_ptr_array_new ();
  return o;
}

static void
conn_runs_free (ConnRuns *cr)
{
  g_array_unref (cr->all.items);
  g_array_unref (cr->answer_or_request.items);
  g_array_unref (cr->request.items);
  g_free (cr);
}

static ConnRuns *
conn_runs (XmOrder *o, guint conn)
{
  ConnRuns *cr;

  for (guint i = 0; i < o->conns->len; i++)
    if (((ConnRuns *) o->conns->pdata[i])->conn == conn)
      return o->conns->pdata[i];
  cr = g_new0 (ConnRuns, 1);
  cr->conn = conn;
  cr->all.items = g_array_new (FALSE, FALSE, sizeof (guint));
  cr->answer_or_request.items = g_array_new (FALSE, FALSE, sizeof (guint));
  cr->request.items = g_array_new (FALSE, FALSE, sizeof (guint));
  g_ptr_array_add (o->conns, cr);
  return cr;
}

void
xm_order_free (XmOrder *o)
{
  if (o == NULL)
    return;
  g_array_unref (o->items);
  g_array_unref (o->sends.items);
  g_ptr_array_foreach (o->conns, (GFunc) (void (*) (void)) conn_runs_free, NULL);
  g_ptr_array_unref (o->conns);
  g_free (o);
}

guint
xm_order_add (XmOrder *o, guint conn, XmOrderKind kind, guint flags, gint64 time_us)
{
  Item it = { .conn = conn, .kind = kind, .flags = flags, .time_us = time_us };
  guint n = o->items->len;

  g_array_append_val (o->items, it);
  if (kind == XM_ORDER_SEND)
    g_array_append_val (o->sends.items, n);
  else
    {
      ConnRuns *cr = conn_runs (o, conn);

      g_array_append_val (cr->all.items, n);
      if (flags & (XM_ORDER_ANSWER | XM_ORDER_REQUEST))
        g_array_append_val (cr->answer_or_request.items, n);
      if (flags & XM_ORDER_REQUEST)
        g_array_append_val (cr->request.items, n);
    }
  return n;
}

guint
xm_order_len (const XmOrder *o)
{
  return o->items->len;
}

#define ITEM(o, i) (&g_array_index ((o)->items, Item, (i)))

/* Does later have to wait for earlier (an earlier item)? */
static gboolean
depends (const XmOrder *o, const Item *earlier, const Item *later)
{
  gboolean same = earlier->conn == later->conn;

  if (earlier->kind == XM_ORDER_SEND)
    return TRUE;
  if (later->kind != XM_ORDER_SEND)
    return FALSE;
  if (same && (later->flags & XM_ORDER_CLOSE))
    return TRUE;
  switch (o->pace)
    {
    case XM_PACE_RECORDED:
      return TRUE;
    case XM_PACE_FAST:
      /* The answer to a server request needs the request's live id. */
      return same && (earlier->flags & XM_ORDER_REQUEST);
    case XM_PACE_IQ:
    default:
      return !same || (earlier->flags & (XM_ORDER_ANSWER | XM_ORDER_REQUEST));
    }
}

static void
advance (XmOrder *o)
{
  while (o->first_open < o->items->len && ITEM (o, o->first_open)->done)
    o->first_open++;
}

/* Is an item of run before item not done yet? */
static gboolean
open_before (XmOrder *o, Run *run, guint item)
{
  const guint *n = (const guint *) (void *) run->items->data;

  while (run->open < run->items->len && ITEM (o, n[run->open])->done)
    run->open++;
  return run->open < run->items->len && n[run->open] < item;
}

/* Whether an earlier item that is not done depends on item (depends()),
 * asked of the runs of each kind instead of item by item: what the
 * default pace asks before every send, the cost does not grow with how
 * many items are open before it. */
gboolean
xm_order_ready (XmOrder *o, guint item)
{
  const Item *later;
  ConnRuns *own = NULL;

  g_return_val_if_fail (item < o->items->len, FALSE);
  later = ITEM (o, item);
  if (o->first_open >= item)
    return TRUE;
  if (open_before (o, &o->sends, item))
    return FALSE;
  if (later->kind != XM_ORDER_SEND)
    return TRUE;
  /* What is open before item is server items only. */
  for (guint i = 0; i < o->conns->len; i++)
    if (((ConnRuns *) o->conns->pdata[i])->conn == later->conn)
      own = o->conns->pdata[i];
  if (own && (later->flags & XM_ORDER_CLOSE) && open_before (o, &own->all, item))
    return FALSE;
  switch (o->pace)
    {
    case XM_PACE_RECORDED:
      return FALSE; /* first_open, before item, is a server item */
    case XM_PACE_FAST:
      return !(own && open_before (o, &own->request, item));
    case XM_PACE_IQ:
    default:
      if (own && open_before (o, &own->answer_or_request, item))
        return FALSE;
      for (guint i = 0; i < o->conns->len; i++)
        {
          ConnRuns *cr = o->conns->pdata[i];
          if (cr != own && open_before (o, &cr->all, item))
            return FALSE;
        }
      return TRUE;
    }
}

void
xm_order_blockers (XmOrder *o, guint item, GArray *out)
{
  const Item *later;

  g_return_if_fail (item < o->items->len);
  later = ITEM (o, item);
  for (guint i = o->first_open; i < item; i++)
    {
      const Item *e = ITEM (o, i);
      if (!e->done && e->kind == XM_ORDER_RECEIVE && depends (o, e, later))
        g_array_append_val (out, i);
    }
}

void
xm_order_done (XmOrder *o, guint item, gint64 now_us)
{
  Item *it;

  g_return_if_fail (item < o->items->len);
  it = ITEM (o, item);
  if (it->done)
    return;
  it->done = TRUE;
  it->done_at = now_us;
  advance (o);
}

gboolean
xm_order_is_done (const XmOrder *o, guint item)
{
  g_return_val_if_fail (item < o->items->len, FALSE);
  return ITEM (o, item)->done;
}

gboolean
xm_order_finished (const XmOrder *o)
{
  return o->first_open >= o->items->len;
}

gint64
xm_order_not_before (const XmOrder *o, guint item)
{
  const Item *prev, *it;
  gint64 gap;

  if (o->pace != XM_PACE_RECORDED || item == 0 || item >= o->items->len)
    return 0;
  it = ITEM (o, item);
  prev = ITEM (o, item - 1);
  if (!prev->done)
    return 0;
  gap = it->time_us - prev->time_us;
  /* Clock steps in the recording must not stall the replay. */
  gap = CLAMP (gap, 0, 60 * G_USEC_PER_SEC);
  return prev->done_at + gap;
}

gint
xm_arrival_overtakes (const XmArrival *rec, guint n, guint j)
{
  guint h = 0;

  g_return_val_if_fail (j < n && !rec[j].arrived, -1);
  while (rec[h].arrived)
    h++;
  if (h == j)
    return -1;
  /* Only within the run of presences that the first pending one is in. */
  if (!rec[j].presence)
    return (gint) h;
  for (guint i = h; i < j; i++)
    if (!rec[i].presence)
      return (gint) h;
  return -1;
}
