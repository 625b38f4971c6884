/* framer-cache.c: see framer-cache.h. */
#include "config.h"

#include "framer-cache.h"

typedef struct {
  guint64 key;       /* conn * 2 + (dir == S2C) */
  XmFramer *framer;  /* NULL once freed for room */
  GBytes *header;    /* NULL if none */
  GList link;        /* in XmFramerCache.lru while framer is set */
} Entry;

struct _XmFramerCache {
  const XmFramerEvents *events;
  gpointer user_data;
  gsize max_stanza;
  guint max_live;
  GHashTable *entries;   /* &Entry.key -> Entry* */
  GQueue lru;            /* Entry with a framer, most recently used first */
};

static void
entry_free (Entry *e)
{
  g_clear_pointer (&e->framer, xm_framer_free);
  g_clear_pointer (&e->header, g_bytes_unref);
  g_free (e);
}

XmFramerCache *
xm_framer_cache_new (const XmFramerEvents *events, gpointer user_data,
                     gsize max_stanza, guint max_live)
{
  XmFramerCache *fc = g_new0 (XmFramerCache, 1);

  fc->events = events;
  fc->user_data = user_data;
  fc->max_stanza = max_stanza;
  fc->max_live = MAX (max_live, 1);
  fc->entries = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL,
                                       (GDestroyNotify) entry_free);
  g_queue_init (&fc->lru);
  return fc;
}

void
xm_framer_cache_free (XmFramerCache *fc)
{
  if (fc == NULL)
    return;
  g_hash_table_unref (fc->entries);
  g_free (fc);
}

guint
xm_framer_cache_live (const XmFramerCache *fc)
{
  return fc->lru.length;
}

static void
free_framer (XmFramerCache *fc, Entry *e)
{
  if (e->framer == NULL)
    return;
  g_queue_unlink (&fc->lru, &e->link);
  g_clear_pointer (&e->framer, xm_framer_free);
}

static void
make_framer (XmFramerCache *fc, Entry *e)
{
  while (fc->lru.length >= fc->max_live)
    free_framer (fc, fc->lru.tail->data);
  e->framer = xm_framer_new (fc->events, fc->user_data);
  /* Full trees, built without expat for plain messages and presences
   * (plain-tree.h). Never shallow (lazy): readers such as replay's script
   * look inside stanzas without saying so (needs_children). */
  xm_framer_set_plain_trees (e->framer, TRUE);
  xm_framer_set_max_stanza (e->framer, fc->max_stanza);
  e->link.data = e;
  g_queue_push_head_link (&fc->lru, &e->link);
}

XmFramer *
xm_framer_cache_get (XmFramerCache *fc, guint conn, XmDir dir, gboolean fresh)
{
  guint64 key = (guint64) conn * 2 + (dir == XM_DIR_S2C);
  Entry *e = g_hash_table_lookup (fc->entries, &key);

  if (e == NULL)
    {
      e = g_new0 (Entry, 1);
      e->key = key;
      g_hash_table_insert (fc->entries, &e->key, e);
    }
  if (fresh)
    {
      free_framer (fc, e);
      g_clear_pointer (&e->header, g_bytes_unref);
    }
  if (e->framer == NULL)
    {
      make_framer (fc, e);
      if (e->header)
        {
          gsize len;
          const guint8 *data = g_bytes_get_data (e->header, &len);
          xm_framer_feed (e->framer, data, len);
        }
    }
  else if (fc->lru.head != &e->link)
    {
      g_queue_unlink (&fc->lru, &e->link);
      g_queue_push_head_link (&fc->lru, &e->link);
    }
  return e->framer;
}

void
xm_framer_cache_header (XmFramerCache *fc, guint conn, XmDir dir,
                        const guint8 *data, gsize len)
{
  guint64 key = (guint64) conn * 2 + (dir == XM_DIR_S2C);
  Entry *e = g_hash_table_lookup (fc->entries, &key);

  if (e == NULL)
    return;
  g_clear_pointer (&e->header, g_bytes_unref);
  e->header = g_bytes_new (data, len);
}

gboolean
xm_framer_cache_has_header (XmFramerCache *fc, guint conn, XmDir dir)
{
  guint64 key = (guint64) conn * 2 + (dir == XM_DIR_S2C);
  Entry *e = g_hash_table_lookup (fc->entries, &key);

  return e != NULL && e->header != NULL;
}

void
xm_framer_cache_drop (XmFramerCache *fc, guint conn)
{
  for (int d = 0; d < 2; d++)
    {
      guint64 key = (guint64) conn * 2 + d;
      Entry *e = g_hash_table_lookup (fc->entries, &key);

      if (e == NULL)
        continue;
      free_framer (fc, e);
      g_hash_table_remove (fc->entries, &key);
    }
}
