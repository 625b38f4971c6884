/* test-replay-index.c: replay's indexes against the plain walks they
 * replace, on random scripts: xm_order_ready() (runs with cursors) against
 * every earlier open item asked one by one, and the peer index
 * (peer-index.h) against a walk over every recorded stanza with
 * xm_arrival_overtakes(). */
#include "config.h"

#include <string.h>

#include "order.h"
#include "peer-index.h"

typedef struct {
  guint conn;
  XmOrderKind kind;
  guint flags;
  gboolean done;
} Ref;

/* order.c's depends(), written out again. */
static gboolean
ref_depends (XmPace pace, const Ref *e, const Ref *l)
{
  gboolean same = e->conn == l->conn;

  if (e->kind == XM_ORDER_SEND)
    return TRUE;
  if (l->kind != XM_ORDER_SEND)
    return FALSE;
  if (same && (l->flags & XM_ORDER_CLOSE))
    return TRUE;
  switch (pace)
    {
    case XM_PACE_RECORDED:
      return TRUE;
    case XM_PACE_FAST:
      return same && (e->flags & XM_ORDER_REQUEST);
    case XM_PACE_IQ:
    default:
      return !same || (e->flags & (XM_ORDER_ANSWER | XM_ORDER_REQUEST));
    }
}

static gboolean
ref_ready (XmPace pace, const Ref *items, guint item)
{
  for (guint i = 0; i < item; i++)
    if (!items[i].done && ref_depends (pace, &items[i], &items[item]))
      return FALSE;
  return TRUE;
}

static void
test_order_ready (void)
{
  GRand *rand = g_rand_new_with_seed (20);

  for (guint round = 0; round < 300; round++)
    {
      XmPace pace = round % 3 == 0 ? XM_PACE_IQ : round % 3 == 1 ? XM_PACE_FAST
                                                                 : XM_PACE_RECORDED;
      guint n = g_rand_int_range (rand, 1, 80);
      g_autoptr (XmOrder) o = xm_order_new (pace);
      Ref *items = g_new0 (Ref, n);

      for (guint i = 0; i < n; i++)
        {
          Ref *it = &items[i];

          it->conn = g_rand_int_range (rand, 1, 4);
          it->kind = g_rand_boolean (rand) ? XM_ORDER_SEND : XM_ORDER_RECEIVE;
          if (it->kind == XM_ORDER_SEND)
            it->flags = g_rand_int_range (rand, 0, 8) == 0 ? XM_ORDER_CLOSE : 0;
          else
            it->flags = g_rand_int_range (rand, 0, 4);
          g_assert_cmpuint (xm_order_add (o, it->conn, it->kind, it->flags, i), ==, i);
        }
      /* Done in an order near the recorded one, as replay does them. */
      for (guint step = 0; step < 3 * n; step++)
        {
          guint i = g_rand_int_range (rand, 0, n);

          for (guint k = 0; k < n; k++)
            g_assert_cmpint (xm_order_ready (o, k), ==, ref_ready (pace, items, k));
          if (g_rand_int_range (rand, 0, 3) == 0 || ref_ready (pace, items, i))
            {
              items[i].done = TRUE;
              xm_order_done (o, i, step);
            }
        }
      g_free (items);
    }
  g_rand_free (rand);
}

/* ---- the peer index ---- */

typedef struct {
  gboolean *arrived;
  guint n, added;
  const guint *name, *key;
} Items;

static const char *const names[] = { "message", "presence", "iq" };
static const char *const keys[] = { "a", "b", "c", "d" };

static gboolean
item_done (gpointer item, gpointer data)
{
  const Items *items = data;

  return items->arrived[GPOINTER_TO_UINT (item) - 1];
}

static void
add_item (XmPeerIndex *x, Items *items)
{
  guint j = items->added++;

  xm_peer_index_add (x, GUINT_TO_POINTER (j + 1), keys[items->key[j]], "jabber:client",
                     names[items->name[j]], items->name[j] == 1);
}

static gboolean
more_items (XmPeerIndex *x, gpointer data)
{
  Items *items = data;

  if (items->added == items->n)
    return FALSE;
  add_item (x, items);
  return TRUE;
}

/* lazy: items are added as walks need them (XmPeerMoreFunc). */
static void
check_peer_index (gboolean lazy)
{
  GRand *rand = g_rand_new_with_seed (21);

  for (guint round = 0; round < 300; round++)
    {
      guint n = g_rand_int_range (rand, 1, 60);
      gboolean *arrived = g_new0 (gboolean, n);
      XmArrival *rec = g_new0 (XmArrival, n);
      guint *name = g_new0 (guint, n), *key = g_new0 (guint, n);
      Items items = { arrived, n, 0, name, key };
      g_autoptr (XmPeerIndex) x = xm_peer_index_new (item_done, lazy ? more_items : NULL,
                                                     &items);

      for (guint j = 0; j < n; j++)
        {
          name[j] = g_rand_int_range (rand, 0, 3);
          key[j] = g_rand_int_range (rand, 0, 4);
          rec[j].presence = name[j] == 1;
        }
      while (!lazy && items.added < n)
        add_item (x, &items);
      g_assert_cmpuint (xm_peer_index_len (x), <=, n);
      for (guint step = 0; step < n; step++)
        {
          guint k = g_rand_int_range (rand, 0, 4), m = g_rand_int_range (rand, 0, 3), j;
          XmPeerIter it;

          for (guint i = 0; i < n; i++)
            rec[i].arrived = arrived[i];
          /* By key: the pending ones with that key, in order. */
          xm_peer_index_by_key (x, keys[k], &it);
          for (guint i = 0; i < n; i++)
            if (!arrived[i] && key[i] == k)
              {
                g_assert_true (xm_peer_iter_next (&it, &j));
                g_assert_cmpuint (j, ==, i);
                g_assert_cmpint (xm_peer_index_overtakes (x, j), ==,
                                 xm_arrival_overtakes (rec, n, j));
              }
          g_assert_false (xm_peer_iter_next (&it, &j));
          xm_peer_iter_clear (&it);
          /* By name, likewise. */
          xm_peer_index_by_name (x, "jabber:client", names[m], &it);
          for (guint i = 0; i < n; i++)
            if (!arrived[i] && name[i] == m)
              {
                g_assert_true (xm_peer_iter_next (&it, &j));
                g_assert_cmpuint (j, ==, i);
              }
          g_assert_false (xm_peer_iter_next (&it, &j));
          xm_peer_iter_clear (&it);
          xm_peer_index_by_key (x, "none", &it);
          g_assert_false (xm_peer_iter_next (&it, &j));
          xm_peer_iter_clear (&it);
          /* Something arrives, mostly near the front (only what the
           * index has: the caller marks matched items). */
          j = g_rand_int_range (rand, 0, MIN (n, 4u) + (g_rand_boolean (rand) ? n / 2 : 0));
          if (MIN (j, n - 1) < items.added)
            arrived[MIN (j, n - 1)] = TRUE;
        }
      g_free (arrived);
      g_free (rec);
      g_free (name);
      g_free (key);
    }
  g_rand_free (rand);
}

static void
test_peer_index (void)
{
  check_peer_index (FALSE);
}

static void
test_peer_index_lazy (void)
{
  check_peer_index (TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/replay-index/order-ready", test_order_ready);
  g_test_add_func ("/replay-index/peer-index", test_peer_index);
  g_test_add_func ("/replay-index/peer-index-lazy", test_peer_index_lazy);
  return g_test_run ();
}
