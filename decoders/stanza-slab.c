/* stanza-slab.c: stanzas packed into large mappings (see stanza.h). */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "stanza.h"

/* 32 MiB: a few mappings for a recording of a million stanzas, and a
 * multiple of the 2 MiB huge page. */
#define CHUNK_SIZE ((gsize) 32 * 1024 * 1024)

typedef struct Chunk Chunk;
struct Chunk {
  Chunk *next;
  gsize size; /* of the mapping, this header included */
  gsize used;
};

struct _XmStanzaSlab {
  Chunk *chunks; /* the newest first: it is the one allocated from */
  gsize mapped;
};

static Chunk *
chunk_new (XmStanzaSlab *slab, gsize at_least)
{
  gsize size = MAX (CHUNK_SIZE, (at_least + sizeof (Chunk) + 4095) & ~(gsize) 4095);
  void *p = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  Chunk *c;

  if (p == MAP_FAILED)
    g_error ("stanza slab: cannot map %" G_GSIZE_FORMAT " bytes: %s", size,
             g_strerror (errno));
  /* Fewer page faults: each costs an exit to the hypervisor on a VM. A
   * kernel without transparent huge pages says no, which is fine. */
  (void) madvise (p, size, MADV_HUGEPAGE);
  c = p;
  c->size = size;
  c->used = (sizeof (Chunk) + 7) & ~(gsize) 7;
  slab->mapped += size;
  return c;
}

static gpointer
slab_alloc (XmStanzaSlab *slab, gsize size)
{
  Chunk *c = slab->chunks;
  gpointer p;

  size = (size + 7) & ~(gsize) 7;
  if (c == NULL || c->size - c->used < size)
    {
      Chunk *nc = chunk_new (slab, size);

      /* A chunk larger than usual (one huge stanza) goes behind the current
       * one, which still has room for the next stanzas. */
      if (c && nc->size > CHUNK_SIZE)
        {
          nc->next = c->next;
          c->next = nc;
        }
      else
        {
          nc->next = c;
          slab->chunks = nc;
        }
      c = nc;
    }
  p = (char *) c + c->used;
  c->used += size;
  return p;
}

static const char *
slab_strndup (XmStanzaSlab *slab, const char *s, gsize len)
{
  char *d;

  if (s == NULL)
    return NULL;
  d = slab_alloc (slab, len + 1);
  memcpy (d, s, len);
  d[len] = '\0';
  return d;
}

static const char *
slab_strdup (XmStanzaSlab *slab, const char *s)
{
  return s ? slab_strndup (slab, s, strlen (s)) : NULL;
}

/* Recursion is bounded by the framer's depth limit (XM_FRAMER_MAX_DEPTH). */
static XmNode *
copy_node (XmStanzaSlab *slab, const XmNode *src, XmNode *parent, gboolean children)
{
  XmNode *n = slab_alloc (slab, sizeof (XmNode));

  *n = *src;
  n->parent = parent;
  n->next = n->children = n->last_child = NULL;
  if (src->type == XM_NODE_TEXT)
    {
      n->text = slab_strndup (slab, src->text, src->text_len);
      return n;
    }
  n->ns = slab_strdup (slab, src->ns);
  n->prefix = slab_strdup (slab, src->prefix);
  n->name = slab_strdup (slab, src->name);
  if (src->n_attrs)
    {
      n->attrs = slab_alloc (slab, src->n_attrs * sizeof (XmAttr));
      for (guint i = 0; i < src->n_attrs; i++)
        {
          const XmAttr *a = &src->attrs[i];
          n->attrs[i] = (XmAttr) {
            .ns = slab_strdup (slab, a->ns), .prefix = slab_strdup (slab, a->prefix),
            .name = slab_strdup (slab, a->name), .value = slab_strdup (slab, a->value),
          };
        }
    }
  if (src->n_ns_decls)
    {
      n->ns_decls = slab_alloc (slab, src->n_ns_decls * sizeof (XmNsDecl));
      for (guint i = 0; i < src->n_ns_decls; i++)
        n->ns_decls[i] = (XmNsDecl) {
          .prefix = slab_strdup (slab, src->ns_decls[i].prefix),
          .uri = slab_strdup (slab, src->ns_decls[i].uri),
        };
    }
  for (const XmNode *k = children ? src->children : NULL; k; k = k->next)
    {
      XmNode *copy = copy_node (slab, k, n, TRUE);

      if (n->last_child)
        n->last_child->next = copy;
      else
        n->children = copy;
      n->last_child = copy;
    }
  return n;
}

XmStanzaSlab *
xm_stanza_slab_new (void)
{
  return g_new0 (XmStanzaSlab, 1);
}

XmStanza *
xm_stanza_slab_copy (XmStanzaSlab *slab, const XmStanza *stanza, gboolean children)
{
  XmStanza *s = slab_alloc (slab, sizeof (XmStanza));

  *s = (XmStanza) {
    .raw_len = stanza->raw_len,
    .offset = stanza->offset,
    .oversized = stanza->oversized,
    .shallow = stanza->shallow || !children,
    .ref_count = 1,
    .in_slab = TRUE,
  };
  if (stanza->raw)
    s->raw = (const guint8 *) slab_strndup (slab, (const char *) stanza->raw,
                                            stanza->raw_len);
  if (stanza->root)
    s->root = copy_node (slab, stanza->root, NULL, children);
  return s;
}

gsize
xm_stanza_slab_size (const XmStanzaSlab *slab)
{
  return slab->mapped;
}

void
xm_stanza_slab_free (XmStanzaSlab *slab)
{
  if (slab == NULL)
    return;
  for (Chunk *c = slab->chunks, *next; c; c = next)
    {
      next = c->next;
      munmap (c, c->size);
    }
  g_free (slab);
}
