/* round.c: see round.h. */
#include "config.h"

#include "round.h"

#define HOT_GAP_US (10 * 1000)
#define COOL_S 1

struct _XmRound {
  GByteArray *gather;
  XmLeg *to;           /* what gather is for, or NULL */
  gpointer owner;
  gpointer src;        /* gather[decode_from...] came from src, undecoded */
  XmRoundDecode decode;
  guint decode_from;
  gboolean decoding;
  GQueue hot;          /* XmRoundBusy, linked by link */
  guint cool_timer;
};

XmRound *
xm_round_new (void)
{
  return g_new0 (XmRound, 1);
}

void
xm_round_free (XmRound *r)
{
  if (r == NULL)
    return;
  g_clear_handle_id (&r->cool_timer, g_source_remove);
  if (r->gather)
    g_byte_array_unref (r->gather);
  g_free (r);
}

gboolean
xm_round_decoding (XmRound *r)
{
  return r->decoding;
}

static void
decode_late (XmRound *r)
{
  gpointer src = r->src;

  if (src == NULL)
    return;
  r->src = NULL;
  r->decoding = TRUE;
  r->decode (src, r->gather->data + r->decode_from, r->gather->len - r->decode_from);
  r->decoding = FALSE;
}

void
xm_round_flush (XmRound *r)
{
  XmLeg *to = r->to;

  if (to == NULL)
    return;
  r->to = NULL;
  r->owner = NULL;
  xm_leg_send (to, r->gather->data, r->gather->len);
  decode_late (r);
  g_byte_array_set_size (r->gather, 0);
}

void
xm_round_flush_leg (XmRound *r, XmLeg *to)
{
  if (r->to == to)
    xm_round_flush (r);
}

void
xm_round_settle (XmRound *r, gpointer src)
{
  if (r->src == src)
    xm_round_flush (r);
}

void
xm_round_forget (XmRound *r, gpointer owner)
{
  if (r->to && r->owner == owner)
    xm_round_flush (r);
}

void
xm_round_add (XmRound *r, gpointer owner, XmLeg *to, const guint8 *data, gsize len,
              XmRoundDecode decode, gpointer src)
{
  if (r->to != to)
    xm_round_flush (r);
  if (r->gather == NULL)
    r->gather = g_byte_array_sized_new (XM_LEG_READ_CHUNK);
  if (src && r->src == NULL)
    {
      r->src = src;
      r->decode = decode;
      r->decode_from = r->gather->len;
    }
  r->to = to;
  r->owner = owner;
  g_byte_array_append (r->gather, data, len);
  if (r->gather->len >= XM_LEG_READ_CHUNK)
    xm_round_flush (r);
}

/* ---- busy legs ---- */

static void
set_hot (XmRound *r, XmRoundBusy *b, gboolean hot)
{
  b->hot = hot;
  b->streak = 0;
  for (int i = 0; i < 2; i++)
    if (b->legs[i])
      xm_leg_keep_buffers (b->legs[i], hot);
  b->link.data = b;
  if (hot)
    g_queue_push_tail_link (&r->hot, &b->link);
  else
    g_queue_unlink (&r->hot, &b->link);
}

static gboolean
cool_down (gpointer data)
{
  XmRound *r = data;
  gint64 now = g_get_real_time ();

  for (GList *l = r->hot.head, *next; l; l = next)
    {
      XmRoundBusy *b = l->data;
      next = l->next;
      if (now - b->last_busy >= COOL_S * G_USEC_PER_SEC)
        set_hot (r, b, FALSE);
    }
  if (r->hot.length)
    return G_SOURCE_CONTINUE;
  r->cool_timer = 0;
  return G_SOURCE_REMOVE;
}

void
xm_round_note_busy (XmRound *r, XmRoundBusy *b, gint64 now)
{
  if (!b->hot)
    {
      b->streak = now - b->last_busy < HOT_GAP_US ? b->streak + 1 : 0;
      if (b->streak >= XM_ROUND_HOT_STREAK)
        {
          set_hot (r, b, TRUE);
          if (r->cool_timer == 0)
            r->cool_timer = g_timeout_add_seconds (COOL_S, cool_down, r);
        }
    }
  b->last_busy = now;
}

void
xm_round_busy_end (XmRound *r, XmRoundBusy *b)
{
  if (b->hot)
    set_hot (r, b, FALSE);
}
