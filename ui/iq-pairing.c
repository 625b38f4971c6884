/* iq-pairing.c: which iq answers which (see iq-pairing.h).
 *
 * A get or set waits for the result or error with the same id from the
 * other side of its connection: keyed by connection, the asking direction
 * and the id, so that both sides may use the same ids. What waits is
 * bounded per connection (XM_IQ_MAX_PENDING requests of at most about 200
 * bytes each) and in all (XM_IQ_MAX_PENDING_TOTAL), and freed when the
 * connection closes. The total matters for proxy --web: a close the live
 * view dropped (its queue was full) leaves the connection's requests
 * waiting for good. */
#include "config.h"

#include <string.h>

#include "filter.h"
#include "iq-pairing.h"

typedef struct {
  guint64 id;
  gint64 time_us;
} Waiting;

struct _XmIqPairing {
  /* conn -> GHashTable of pending_key () -> Waiting * */
  GHashTable *conns;
  guint pending;          /* requests waiting, over all connections */
  XmIqUnansweredFunc unanswered;
  gpointer data;
};

XmIqPairing *
xm_iq_pairing_new (XmIqUnansweredFunc unanswered, gpointer data)
{
  XmIqPairing *p = g_new0 (XmIqPairing, 1);

  p->conns = g_hash_table_new_full (NULL, NULL, NULL,
                                    (GDestroyNotify) g_hash_table_unref);
  p->unanswered = unanswered;
  p->data = data;
  return p;
}

void
xm_iq_pairing_free (XmIqPairing *p)
{
  if (p == NULL)
    return;
  g_hash_table_unref (p->conns);
  g_free (p);
}

/* The key of a waiting request: the asking direction and the id; an id
 * longer than 128 bytes by its length and SHA-256, so that what a
 * connection keeps waiting stays small whatever its peer sends. */
static char *
pending_key (guint dir, const char *id)
{
  gsize len = strlen (id);
  g_autofree char *sum = NULL;

  if (len <= 128)
    return g_strdup_printf ("%u:%s", dir, id);
  sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, id, len);
  return g_strdup_printf ("%u:%" G_GSIZE_FORMAT ":%s", dir, len, sum);
}

static void
tell_unanswered (gpointer key, gpointer value, gpointer data)
{
  XmIqPairing *p = data;

  p->unanswered (((Waiting *) value)->id, p->data);
}

guint
xm_iq_pairing_event (XmIqPairing *p, guint64 id, const XmEvent *ev,
                     guint64 *request, gint64 *rtt_us)
{
  const XmNode *root = ev->stanza ? ev->stanza->root : NULL;
  gpointer conn = GUINT_TO_POINTER (ev->conn);
  GHashTable *waiting = g_hash_table_lookup (p->conns, conn);
  const char *type, *iq_id;
  g_autofree char *key = NULL;
  Waiting *w;

  if (ev->kind == XM_EVENT_CONN_CLOSE)
    {
      /* what the connection left waiting never gets its answer */
      if (waiting)
        {
          g_hash_table_foreach (waiting, tell_unanswered, p);
          p->pending -= g_hash_table_size (waiting);
          g_hash_table_remove (p->conns, conn);
        }
      return 0;
    }
  if (ev->kind != XM_EVENT_STANZA || root == NULL || ev->dir == XM_DIR_NONE
      /* an iq as --kind iq sees one (of the stream's namespace) */
      || xm_filter_event_class (ev) != XM_EVENT_CLASS_IQ
      || (type = xm_node_attr (root, "type")) == NULL
      || (iq_id = xm_node_attr (root, "id")) == NULL)
    return 0;
  if (strcmp (type, "get") == 0 || strcmp (type, "set") == 0)
    {
      if (waiting == NULL)
        {
          waiting = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
          g_hash_table_insert (p->conns, conn, waiting);
        }
      key = pending_key (ev->dir, iq_id);
      if ((w = g_hash_table_lookup (waiting, key)))
        {
          /* the same id again before an answer: the first never gets one
           * it can be told apart by */
          p->unanswered (w->id, p->data);
          w->id = id;
          w->time_us = ev->time_us;
          return XM_IQ_REQUEST;
        }
      /* memory stays bounded against a peer that never answers */
      if (g_hash_table_size (waiting) >= XM_IQ_MAX_PENDING
          || p->pending >= XM_IQ_MAX_PENDING_TOTAL)
        return XM_IQ_REQUEST | XM_IQ_UNTRACKED;
      w = g_new (Waiting, 1);
      w->id = id;
      w->time_us = ev->time_us;
      g_hash_table_insert (waiting, g_steal_pointer (&key), w);
      p->pending++;
      return XM_IQ_REQUEST;
    }
  if (strcmp (type, "result") != 0 && strcmp (type, "error") != 0)
    return 0;
  if (waiting == NULL)
    return XM_IQ_ANSWER;
  key = pending_key (ev->dir == XM_DIR_C2S ? XM_DIR_S2C : XM_DIR_C2S, iq_id);
  if ((w = g_hash_table_lookup (waiting, key)) == NULL)
    return XM_IQ_ANSWER;
  *request = w->id;
  *rtt_us = MAX (ev->time_us - w->time_us, 0);
  g_hash_table_remove (waiting, key);
  p->pending--;
  return XM_IQ_ANSWER;
}

void
xm_iq_pairing_finish (XmIqPairing *p)
{
  GHashTableIter it;
  gpointer waiting;

  g_hash_table_iter_init (&it, p->conns);
  while (g_hash_table_iter_next (&it, NULL, &waiting))
    {
      g_hash_table_foreach (waiting, tell_unanswered, p);
      g_hash_table_iter_remove (&it);
    }
  p->pending = 0;
}
