/* stanza.c: arena-backed element trees for the framer. */
#include "config.h"

#include <string.h>

#include "stanza.h"

/* One arena is a list of blocks; clearing keeps a single block so that a
 * framer reusing its stanza does not allocate per stanza. */
typedef struct Block Block;
struct Block {
  Block *next;
  gsize used;
  gsize size;
  char data[];
};

#define BLOCK_MIN 4096
#define BLOCK_KEEP_MAX (64 * 1024)

static Block *
block_new (gsize size)
{
  Block *b = g_malloc (sizeof (Block) + size);
  b->next = NULL;
  b->used = 0;
  b->size = size;
  return b;
}

XmStanza *
xm_stanza_new (void)
{
  XmStanza *s = g_new0 (XmStanza, 1);
  s->ref_count = 1;
  return s;
}

gpointer
xm_stanza_alloc (XmStanza *stanza, gsize size)
{
  Block *b = stanza->arena;

  size = (size + 7) & ~(gsize) 7;
  if (b == NULL || b->size - b->used < size)
    {
      gsize want = b ? MIN (b->size * 2, BLOCK_KEEP_MAX) : BLOCK_MIN;
      Block *nb = block_new (MAX (want, size));
      nb->next = b;
      stanza->arena = nb;
      b = nb;
    }
  gpointer p = b->data + b->used;
  b->used += size;
  memset (p, 0, size);
  return p;
}

char *
xm_stanza_strndup (XmStanza *stanza, const char *s, gsize len)
{
  char *d = xm_stanza_alloc (stanza, len + 1);
  memcpy (d, s, len);
  d[len] = '\0';
  return d;
}

static void
free_blocks (Block *b)
{
  while (b)
    {
      Block *next = b->next;
      g_free (b);
      b = next;
    }
}

void
xm_stanza_clear (XmStanza *stanza)
{
  Block *b = stanza->arena;

  if (b)
    {
      /* Keep the newest (largest) block unless it is unusually big. */
      free_blocks (b->next);
      b->next = NULL;
      b->used = 0;
      if (b->size > BLOCK_KEEP_MAX)
        {
          g_free (b);
          stanza->arena = NULL;
        }
    }
  if (stanza->raw_copy)
    g_byte_array_set_size (stanza->raw_copy, 0);
  stanza->root = NULL;
  stanza->raw = NULL;
  stanza->raw_len = 0;
  stanza->offset = 0;
  stanza->oversized = FALSE;
}

XmStanza *
xm_stanza_ref (XmStanza *stanza)
{
  g_return_val_if_fail (stanza != NULL, NULL);
  g_atomic_int_inc (&stanza->ref_count);
  return stanza;
}

void
xm_stanza_unref (XmStanza *stanza)
{
  if (stanza == NULL)
    return;
  if (!g_atomic_int_dec_and_test (&stanza->ref_count))
    return;
  free_blocks (stanza->arena);
  if (stanza->raw_copy)
    g_byte_array_unref (stanza->raw_copy);
  g_free (stanza);
}

const char *
xm_node_attr_ns (const XmNode *el, const char *ns, const char *name)
{
  if (el == NULL || el->type != XM_NODE_ELEMENT)
    return NULL;
  for (guint i = 0; i < el->n_attrs; i++)
    if (g_strcmp0 (el->attrs[i].ns, ns) == 0
        && strcmp (el->attrs[i].name, name) == 0)
      return el->attrs[i].value;
  return NULL;
}

const char *
xm_node_attr (const XmNode *el, const char *name)
{
  return xm_node_attr_ns (el, NULL, name);
}

gboolean
xm_node_is (const XmNode *el, const char *ns, const char *name)
{
  return el != NULL && el->type == XM_NODE_ELEMENT
         && (ns == NULL || g_strcmp0 (el->ns, ns) == 0)
         && strcmp (el->name, name) == 0;
}

XmNode *
xm_node_child (const XmNode *el, const char *ns, const char *name)
{
  if (el == NULL)
    return NULL;
  for (XmNode *c = el->children; c; c = c->next)
    if (xm_node_is (c, ns, name))
      return c;
  return NULL;
}

XmNode *
xm_node_first_element (const XmNode *el)
{
  if (el == NULL)
    return NULL;
  for (XmNode *c = el->children; c; c = c->next)
    if (c->type == XM_NODE_ELEMENT)
      return c;
  return NULL;
}

char *
xm_node_text (const XmNode *el)
{
  GString *s = g_string_new (NULL);

  if (el)
    for (XmNode *c = el->children; c; c = c->next)
      if (c->type == XM_NODE_TEXT)
        g_string_append_len (s, c->text, c->text_len);
  return g_string_free (s, FALSE);
}
