/* peer-index.c: see peer-index.h. */
#include "config.h"

#include <string.h>

#include "peer-index.h"

struct _XmPeerIndex {
  XmPeerDoneFunc done;
  XmPeerMoreFunc more;
  gpointer data;
  GPtrArray *items;
  GArray *others;      /* guint: items before j that are not presences */
  guint head;          /* every item before it has arrived */
  GHashTable *by_key;  /* key -> GQueue of item numbers (GUINT_TO_POINTER) */
  GHashTable *by_name; /* "ns name" -> GQueue of item numbers */
};

static void
queue_free (gpointer q)
{
  g_queue_free (q);
}

XmPeerIndex *
xm_peer_index_new (XmPeerDoneFunc done, XmPeerMoreFunc more, gpointer data)
{
  XmPeerIndex *x = g_new0 (XmPeerIndex, 1);
  guint zero = 0;

  x->done = done;
  x->more = more;
  x->data = data;
  x->items = g_ptr_array_new ();
  x->others = g_array_new (FALSE, FALSE, sizeof (guint));
  g_array_append_val (x->others, zero);
  x->by_key = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, queue_free);
  x->by_name = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, queue_free);
  return x;
}

void
xm_peer_index_free (XmPeerIndex *x)
{
  if (x == NULL)
    return;
  g_ptr_array_unref (x->items);
  g_array_unref (x->others);
  g_hash_table_unref (x->by_key);
  g_hash_table_unref (x->by_name);
  g_free (x);
}

static void
push (GHashTable *table, char *key, guint j)
{
  GQueue *q = g_hash_table_lookup (table, key);

  if (q == NULL)
    {
      q = g_queue_new ();
      g_hash_table_insert (table, key, q);
    }
  else
    g_free (key);
  g_queue_push_tail (q, GUINT_TO_POINTER (j));
}

void
xm_peer_index_add (XmPeerIndex *x, gpointer item, const char *key,
                   const char *ns, const char *name, gboolean presence)
{
  guint j = x->items->len;
  guint others = g_array_index (x->others, guint, j) + !presence;

  g_ptr_array_add (x->items, item);
  g_array_append_val (x->others, others);
  push (x->by_key, g_strdup (key), j);
  push (x->by_name, g_strconcat (ns ? ns : "", " ", name, NULL), j);
}

guint
xm_peer_index_len (const XmPeerIndex *x)
{
  return x->items->len;
}

gpointer
xm_peer_index_item (const XmPeerIndex *x, guint j)
{
  g_return_val_if_fail (j < x->items->len, NULL);
  return x->items->pdata[j];
}

static void
start (XmPeerIndex *x, GHashTable *table, char *key, XmPeerIter *it)
{
  it->index = x;
  it->table = table;
  it->key = key;
  it->queue = g_hash_table_lookup (table, key);
  it->link = it->queue ? it->queue->head : NULL;
  it->last = NULL;
}

void
xm_peer_index_by_key (XmPeerIndex *x, const char *key, XmPeerIter *it)
{
  start (x, x->by_key, g_strdup (key), it);
}

void
xm_peer_index_by_name (XmPeerIndex *x, const char *ns, const char *name,
                       XmPeerIter *it)
{
  start (x, x->by_name, g_strconcat (ns ? ns : "", " ", name, NULL), it);
}

void
xm_peer_iter_clear (XmPeerIter *it)
{
  g_clear_pointer (&it->key, g_free);
}

/* The walk has run out: have the caller add items until one joins it. */
static gboolean
resume (XmPeerIter *it)
{
  XmPeerIndex *x = it->index;

  while (x->more && x->more (x, x->data))
    {
      if (it->queue == NULL)
        it->queue = g_hash_table_lookup (it->table, it->key);
      if (it->queue == NULL)
        continue;
      it->link = it->last ? it->last->next : it->queue->head;
      if (it->link)
        return TRUE;
    }
  return FALSE;
}

gboolean
xm_peer_iter_next (XmPeerIter *it, guint *j)
{
  XmPeerIndex *x = it->index;

  while (it->link || resume (it))
    {
      GList *l = it->link;
      guint k = GPOINTER_TO_UINT (l->data);

      it->link = l->next;
      if (x->done (x->items->pdata[k], x->data))
        {
          /* Arrived: never a candidate again. */
          g_queue_delete_link (it->queue, l);
          continue;
        }
      it->last = l;
      *j = k;
      return TRUE;
    }
  return FALSE;
}

/* As xm_arrival_overtakes(): h is the first item not arrived; j may come
 * if it is h, or a presence in the run of presences that starts at h. */
gint
xm_peer_index_overtakes (XmPeerIndex *x, guint j)
{
  const guint *others = (const guint *) (void *) x->others->data;
  gpointer item;

  g_return_val_if_fail (j < x->items->len, -1);
  item = x->items->pdata[j];
  g_return_val_if_fail (!x->done (item, x->data), -1);
  while (x->head < j && x->done (x->items->pdata[x->head], x->data))
    x->head++;
  if (x->head == j)
    return -1;
  if (others[j + 1] - others[j] == 1)
    return (gint) x->head; /* j is not a presence */
  return others[j] - others[x->head] > 0 ? (gint) x->head : -1;
}
