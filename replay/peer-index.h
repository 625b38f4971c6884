/* peer-index.h: one connection's recorded peer stanzas (what replay waits
 * for), indexed so that matching a stanza that arrives costs about the same
 * at the millionth stanza as at the first.
 *
 * Pure. Items are the recorded stanzas in recorded order (0, 1, ...), each
 * with its canonical key (canon.h: equal keys, equal stanzas), its name and
 * namespace (who may be its live counterpart), and whether it is a
 * presence (the arrival window, order.h). Whether an item has arrived is
 * the caller's (done()): it only ever goes from not arrived to arrived,
 * and the index forgets arrived items as it meets them. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _XmPeerIndex XmPeerIndex;

/* Has item (given to xm_peer_index_add) arrived? */
typedef gboolean (*XmPeerDoneFunc) (gpointer item, gpointer data);
/* Adds the next item(s) in recorded order with xm_peer_index_add();
 * FALSE when there are none left. The index asks only when a walk has
 * run out of the items it has, so a caller whose items cost something to
 * index (a canonical form each) pays as it goes, not all at the start. */
typedef gboolean (*XmPeerMoreFunc) (XmPeerIndex *index, gpointer data);

/* more may be NULL: every item is added before the first walk. */
XmPeerIndex *xm_peer_index_new (XmPeerDoneFunc done, XmPeerMoreFunc more,
                                gpointer data);
void xm_peer_index_free (XmPeerIndex *index);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmPeerIndex, xm_peer_index_free)

/* Appends the next recorded item (borrowed; key, ns and name are copied). */
void xm_peer_index_add (XmPeerIndex *index, gpointer item, const char *key,
                        const char *ns, const char *name, gboolean presence);
guint xm_peer_index_len (const XmPeerIndex *index);
gpointer xm_peer_index_item (const XmPeerIndex *index, guint j);

/* Walks the items not arrived yet with an equal key (or with the same ns
 * and name), in recorded order: start, then next until it returns FALSE
 * (every item added by then). Only more() may add items while walking. */
typedef struct {
  /*< private >*/
  XmPeerIndex *index;
  GHashTable *table;
  char *key;
  GQueue *queue;
  GList *link, *last;
} XmPeerIter;

void xm_peer_index_by_key (XmPeerIndex *index, const char *key, XmPeerIter *iter);
void xm_peer_index_by_name (XmPeerIndex *index, const char *ns, const char *name,
                            XmPeerIter *iter);
gboolean xm_peer_iter_next (XmPeerIter *iter, guint *j);
void xm_peer_iter_clear (XmPeerIter *iter);

/* What xm_arrival_overtakes() (order.h) says of item j (not arrived), in
 * constant time: -1 if it may arrive now, else the first item not arrived,
 * which it overtakes. */
gint xm_peer_index_overtakes (XmPeerIndex *index, guint j);

G_END_DECLS
