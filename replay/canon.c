/* canon.c: see canon.h. */
#include "config.h"

#include <string.h>

#include "canon-private.h"

#define NS_XML "http://www.w3.org/XML/1998/namespace"
#define NS_CLIENT "jabber:client"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NORMALISED "*"

/* ---- building ---- */

static void
attr_free (gpointer p)
{
  XmCanonAttr *a = p;

  g_free (a->ns);
  g_free (a->name);
  g_free (a->value);
  g_free (a);
}

static char *
mapped (const char *value, XmCanonMapFunc map, gpointer data)
{
  const char *m = map ? map (value, data) : NULL;

  return g_strdup (m ? m : value);
}

static gboolean
is_blank (const char *s)
{
  for (; *s; s++)
    if (!g_ascii_isspace (*s))
      return FALSE;
  return TRUE;
}

static XmCanon *
canon_build (const XmNode *el, XmCanon *parent, XmCanonMapFunc map, gpointer data)
{
  XmCanon *c = g_new0 (XmCanon, 1);
  GString *text = NULL;

  c->ns = g_strdup (el->ns ? el->ns : "");
  c->name = g_strdup (el->name);
  c->prefix = g_strdup (el->prefix);
  c->parent = parent;
  c->attrs = g_ptr_array_new_with_free_func (attr_free);
  c->children = g_ptr_array_new_with_free_func ((GDestroyNotify) xm_canon_free);
  for (guint i = 0; i < el->n_attrs; i++)
    {
      const XmAttr *src = &el->attrs[i];
      XmCanonAttr *a;

      if (parent == NULL && src->ns == NULL && strcmp (src->name, "id") == 0)
        {
          c->id = g_strdup (src->value);
          continue;
        }
      a = g_new0 (XmCanonAttr, 1);
      a->ns = g_strdup (src->ns);
      a->name = g_strdup (src->name);
      a->value = mapped (src->value, map, data);
      g_ptr_array_add (c->attrs, a);
    }
  for (const XmNode *n = el->children; n; n = n->next)
    {
      if (n->type == XM_NODE_ELEMENT)
        g_ptr_array_add (c->children, canon_build (n, c, map, data));
      else
        {
          if (text == NULL)
            text = g_string_new (NULL);
          g_string_append_len (text, n->text, n->text_len);
        }
    }
  if (text)
    {
      if (c->children->len > 0)
        {
          /* Mixed content: the whitespace is indentation. */
          g_strstrip (text->str);
          text->len = strlen (text->str);
        }
      if (text->len > 0 && !(c->children->len > 0 && is_blank (text->str)))
        {
          g_autofree char *t = g_string_free (g_steal_pointer (&text), FALSE);
          c->text = mapped (t, map, data);
        }
      else
        g_string_free (text, TRUE);
    }
  return c;
}

XmCanon *
xm_canon_new (const XmNode *element, XmCanonMapFunc map, gpointer map_data)
{
  g_return_val_if_fail (element != NULL && element->type == XM_NODE_ELEMENT, NULL);
  return canon_build (element, NULL, map, map_data);
}

void
xm_canon_free (XmCanon *c)
{
  if (c == NULL)
    return;
  g_free (c->ns);
  g_free (c->name);
  g_free (c->prefix);
  g_free (c->id);
  g_free (c->text);
  g_free (c->key);
  g_ptr_array_unref (c->attrs);
  g_ptr_array_unref (c->children);
  g_free (c);
}

XmCanonAttr *
xm_canon_find_attr (const XmCanon *c, const char *ns, const char *name)
{
  for (guint i = 0; i < c->attrs->len; i++)
    {
      XmCanonAttr *a = c->attrs->pdata[i];
      if (g_strcmp0 (a->ns, ns) == 0 && strcmp (a->name, name) == 0)
        return a;
    }
  return NULL;
}

void
xm_canon_remove_attr (XmCanon *c, XmCanonAttr *a)
{
  g_ptr_array_remove (c->attrs, a);
}

void
xm_canon_set_text (XmCanon *c, const char *text)
{
  g_free (c->text);
  c->text = g_strdup (text);
}

void
xm_canon_remove_child (XmCanon *c)
{
  if (c->parent)
    g_ptr_array_remove (c->parent->children, c);
}

/* ---- keys ---- */

static void
key_escape (GString *out, const char *s)
{
  for (; *s; s++)
    switch (*s)
      {
      case '&': g_string_append (out, "&amp;"); break;
      case '<': g_string_append (out, "&lt;"); break;
      case '>': g_string_append (out, "&gt;"); break;
      case '\'': g_string_append (out, "&apos;"); break;
      default: g_string_append_c (out, *s);
      }
}

static int
attr_cmp (gconstpointer pa, gconstpointer pb)
{
  const XmCanonAttr *a = *(XmCanonAttr *const *) pa;
  const XmCanonAttr *b = *(XmCanonAttr *const *) pb;
  int r = g_strcmp0 (a->ns, b->ns);

  return r ? r : strcmp (a->name, b->name);
}

static int
child_cmp (gconstpointer pa, gconstpointer pb)
{
  const XmCanon *a = *(XmCanon *const *) pa;
  const XmCanon *b = *(XmCanon *const *) pb;

  return strcmp (a->key, b->key);
}

void
xm_canon_finish (XmCanon *c)
{
  GString *k;

  /* Always recompute: normalising may have changed any level. */
  for (guint i = 0; i < c->children->len; i++)
    {
      XmCanon *ch = c->children->pdata[i];
      g_clear_pointer (&ch->key, g_free);
      xm_canon_finish (ch);
    }
  g_ptr_array_sort (c->attrs, attr_cmp);
  g_ptr_array_sort (c->children, child_cmp);
  k = g_string_new ("<{");
  key_escape (k, c->ns);
  g_string_append_c (k, '}');
  key_escape (k, c->name);
  for (guint i = 0; i < c->attrs->len; i++)
    {
      XmCanonAttr *a = c->attrs->pdata[i];
      g_string_append (k, " {");
      if (a->ns)
        key_escape (k, a->ns);
      g_string_append_c (k, '}');
      key_escape (k, a->name);
      g_string_append (k, "='");
      key_escape (k, a->value);
      g_string_append_c (k, '\'');
    }
  g_string_append_c (k, '>');
  if (c->text)
    key_escape (k, c->text);
  for (guint i = 0; i < c->children->len; i++)
    g_string_append (k, ((XmCanon *) c->children->pdata[i])->key);
  g_string_append (k, "</>");
  g_free (c->key);
  c->key = g_string_free (k, FALSE);
}

gboolean
xm_canon_equal (const XmCanon *a, const XmCanon *b)
{
  g_return_val_if_fail (a->key && b->key, FALSE);
  return strcmp (a->key, b->key) == 0;
}

/* ---- display ---- */

static void
text_escape (GString *out, const char *s, gboolean attr)
{
  xm_xml_escape (out, s, strlen (s), attr);
}

static const char *
parent_ns (const XmCanon *c)
{
  return c->parent ? c->parent->ns : NS_CLIENT;
}

static void
append_attr_name (GString *out, const XmCanonAttr *a)
{
  if (a->ns && strcmp (a->ns, NS_XML) == 0)
    g_string_append (out, "xml:");
  else if (a->ns)
    g_string_append_printf (out, "{%s}", a->ns);
  g_string_append (out, a->name);
}

static void
append_name (GString *out, const XmCanon *c)
{
  if (c->prefix && strcmp (c->ns, NS_STREAMS) == 0)
    g_string_append_printf (out, "%s:", c->prefix);
  g_string_append (out, c->name);
}

/* "<name xmlns='...' id='...' a='b'" without the closing '>'. */
static void
append_start (GString *out, const XmCanon *c)
{
  g_string_append_c (out, '<');
  append_name (out, c);
  if (strcmp (c->ns, parent_ns (c)) != 0
      && !(c->parent == NULL && strcmp (c->ns, NS_STREAMS) == 0))
    {
      g_string_append (out, " xmlns='");
      text_escape (out, c->ns, TRUE);
      g_string_append_c (out, '\'');
    }
  if (c->id)
    {
      g_string_append (out, " id='");
      text_escape (out, c->id, TRUE);
      g_string_append_c (out, '\'');
    }
  for (guint i = 0; i < c->attrs->len; i++)
    {
      XmCanonAttr *a = c->attrs->pdata[i];
      g_string_append_c (out, ' ');
      append_attr_name (out, a);
      g_string_append (out, "='");
      text_escape (out, a->value, TRUE);
      g_string_append_c (out, '\'');
    }
}

static void
append_end (GString *out, const XmCanon *c)
{
  g_string_append (out, "</");
  append_name (out, c);
  g_string_append_c (out, '>');
}

/* One element on one line if it has no children. */
static void
append_leaf (GString *out, const XmCanon *c)
{
  append_start (out, c);
  if (c->text == NULL)
    {
      g_string_append (out, "/>");
      return;
    }
  g_string_append_c (out, '>');
  text_escape (out, c->text, FALSE);
  append_end (out, c);
}

static void
line (GString *out, const char *indent, const char *mark, int depth)
{
  g_string_append (out, indent);
  g_string_append (out, mark);
  for (int i = 0; i < depth; i++)
    g_string_append (out, "  ");
}

static void
format_tree (GString *out, const XmCanon *c, const char *indent, const char *mark,
             int depth)
{
  line (out, indent, mark, depth);
  if (c->children->len == 0)
    {
      append_leaf (out, c);
      g_string_append_c (out, '\n');
      return;
    }
  append_start (out, c);
  g_string_append (out, ">\n");
  if (c->text)
    {
      line (out, indent, mark, depth + 1);
      text_escape (out, c->text, FALSE);
      g_string_append_c (out, '\n');
    }
  for (guint i = 0; i < c->children->len; i++)
    format_tree (out, c->children->pdata[i], indent, mark, depth + 1);
  line (out, indent, mark, depth);
  append_end (out, c);
  g_string_append_c (out, '\n');
}

void
xm_canon_format (const XmCanon *canon, const char *indent, GString *out)
{
  format_tree (out, canon, indent, "", 0);
}

/* The attribute that tells siblings apart, if any. */
static const XmCanonAttr *
identity_attr (const XmCanon *c)
{
  static const char *const names[] = { "jid", "var", "node", "id", "name",
                                       "category", "type", "from", "to" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      XmCanonAttr *a = xm_canon_find_attr (c, NULL, names[i]);
      if (a)
        return a;
    }
  return xm_canon_find_attr (c, NS_XML, "lang");
}

char *
xm_canon_describe (const XmCanon *c)
{
  GString *out = g_string_new (NULL);
  const XmCanonAttr *a = identity_attr (c);

  append_name (out, c);
  if (strcmp (c->ns, parent_ns (c)) != 0 && strcmp (c->ns, NS_STREAMS) != 0)
    g_string_append_printf (out, "{%s}", c->ns);
  if (a)
    {
      g_string_append_c (out, ' ');
      append_attr_name (out, a);
      g_string_append (out, "='");
      text_escape (out, a->value, TRUE);
      g_string_append_c (out, '\'');
    }
  else if (c->id)
    g_string_append_printf (out, " id='%s'", c->id);
  return g_string_free (out, FALSE);
}

static char *
path_of (const XmCanon *c)
{
  GString *out = g_string_new (NULL);
  GPtrArray *chain = g_ptr_array_new ();

  for (const XmCanon *up = c; up; up = up->parent)
    g_ptr_array_insert (chain, 0, (gpointer) up);
  for (guint i = 0; i < chain->len; i++)
    {
      const XmCanon *e = chain->pdata[i];
      const XmCanonAttr *a = i > 0 ? identity_attr (e) : NULL;

      if (i)
        g_string_append_c (out, '/');
      append_name (out, e);
      if (strcmp (e->ns, parent_ns (e)) != 0 && strcmp (e->ns, NS_STREAMS) != 0)
        g_string_append_printf (out, "{%s}", e->ns);
      if (a)
        {
          g_string_append (out, "[@");
          append_attr_name (out, a);
          g_string_append (out, "='");
          text_escape (out, a->value, TRUE);
          g_string_append (out, "']");
        }
    }
  g_ptr_array_unref (chain);
  return g_string_free (out, FALSE);
}

/* ---- diff ---- */

typedef struct {
  const XmCanon *e; /* recorded, or NULL: only the live peer has it */
  const XmCanon *a; /* live, or NULL: only the recording has it */
} Pair;

static gboolean
same_identity (const XmCanon *x, const XmCanon *y)
{
  const XmCanonAttr *ix = identity_attr (x), *iy = identity_attr (y);

  if (strcmp (x->name, y->name) != 0 || strcmp (x->ns, y->ns) != 0)
    return FALSE;
  if (ix == NULL || iy == NULL)
    return FALSE;
  return g_strcmp0 (ix->ns, iy->ns) == 0 && strcmp (ix->name, iy->name) == 0
         && strcmp (ix->value, iy->value) == 0;
}

static guint
count_named (const XmCanon *parent, const gboolean *used, const XmCanon *like)
{
  guint n = 0;

  for (guint i = 0; i < parent->children->len; i++)
    {
      const XmCanon *c = parent->children->pdata[i];
      if (!used[i] && strcmp (c->name, like->name) == 0 && strcmp (c->ns, like->ns) == 0)
        n++;
    }
  return n;
}

/* Pairs the children of e and a: equal ones, then the same identity
 * (item jid='x' with item jid='x'), then the only remaining ones of a
 * name. In e's order, then what only a has. */
static GArray *
pair_children (const XmCanon *e, const XmCanon *a)
{
  guint ne = e->children->len, na = a->children->len;
  g_autofree gboolean *eu = g_new0 (gboolean, ne + 1);
  g_autofree gboolean *au = g_new0 (gboolean, na + 1);
  g_autofree int *partner = g_new (int, ne + 1);
  GArray *pairs = g_array_new (FALSE, FALSE, sizeof (Pair));

  for (guint i = 0; i < ne; i++)
    partner[i] = -1;
  for (int pass = 0; pass < 3; pass++)
    for (guint i = 0; i < ne; i++)
      {
        const XmCanon *ec = e->children->pdata[i];
        if (eu[i])
          continue;
        for (guint j = 0; j < na; j++)
          {
            const XmCanon *ac = a->children->pdata[j];
            gboolean ok;
            if (au[j])
              continue;
            if (pass == 0)
              ok = strcmp (ec->key, ac->key) == 0;
            else if (pass == 1)
              ok = same_identity (ec, ac);
            else
              ok = strcmp (ec->name, ac->name) == 0 && strcmp (ec->ns, ac->ns) == 0
                   && count_named (e, eu, ec) == 1 && count_named (a, au, ec) == 1;
            if (ok)
              {
                eu[i] = au[j] = TRUE;
                partner[i] = (int) j;
                break;
              }
          }
      }
  for (guint i = 0; i < ne; i++)
    {
      Pair p = { e->children->pdata[i],
                 partner[i] >= 0 ? a->children->pdata[partner[i]] : NULL };
      g_array_append_val (pairs, p);
    }
  for (guint j = 0; j < na; j++)
    if (!au[j])
      {
        Pair p = { NULL, a->children->pdata[j] };
        g_array_append_val (pairs, p);
      }
  return pairs;
}

static gboolean
same_start (const XmCanon *e, const XmCanon *a)
{
  if (strcmp (e->name, a->name) != 0 || strcmp (e->ns, a->ns) != 0
      || e->attrs->len != a->attrs->len)
    return FALSE;
  for (guint i = 0; i < e->attrs->len; i++)
    {
      const XmCanonAttr *x = e->attrs->pdata[i], *y = a->attrs->pdata[i];
      if (g_strcmp0 (x->ns, y->ns) != 0 || strcmp (x->name, y->name) != 0
          || strcmp (x->value, y->value) != 0)
        return FALSE;
    }
  return TRUE;
}

/* A value in a summary line: as it is, quotes and line breaks escaped
 * C-style, long ones shortened. */
static void
quoted (GString *out, const char *s)
{
  gsize n = strlen (s);
  g_autofree char *cut = n > 80 ? g_utf8_make_valid (s, 77) : NULL;

  g_string_append_c (out, '\'');
  for (const char *p = cut ? cut : s; *p; p++)
    switch (*p)
      {
      case '\'': g_string_append (out, "\\'"); break;
      case '\\': g_string_append (out, "\\\\"); break;
      case '\n': g_string_append (out, "\\n"); break;
      case '\t': g_string_append (out, "\\t"); break;
      default: g_string_append_c (out, *p);
      }
  if (cut)
    g_string_append (out, "...");
  g_string_append_c (out, '\'');
}

/* Summary lines: what changed, by path. */
static void
summarise (GString *out, const char *indent, const XmCanon *e, const XmCanon *a)
{
  g_autofree char *path = path_of (e);

  if (strcmp (e->name, a->name) != 0 || strcmp (e->ns, a->ns) != 0)
    {
      g_autofree char *de = xm_canon_describe (e), *da = xm_canon_describe (a);
      g_string_append_printf (out, "%s%s: recorded <%s>, now <%s>\n", indent,
                              path, de, da);
      return;
    }
  for (guint i = 0; i < e->attrs->len; i++)
    {
      const XmCanonAttr *x = e->attrs->pdata[i];
      const XmCanonAttr *y = xm_canon_find_attr (a, x->ns, x->name);
      if (y && strcmp (x->value, y->value) == 0)
        continue;
      g_string_append_printf (out, "%s%s: attribute ", indent, path);
      append_attr_name (out, x);
      if (y)
        {
          g_string_append (out, " recorded ");
          quoted (out, x->value);
          g_string_append (out, ", now ");
          quoted (out, y->value);
        }
      else
        {
          g_string_append (out, "=");
          quoted (out, x->value);
          g_string_append (out, " is missing");
        }
      g_string_append_c (out, '\n');
    }
  for (guint i = 0; i < a->attrs->len; i++)
    {
      const XmCanonAttr *y = a->attrs->pdata[i];
      if (xm_canon_find_attr (e, y->ns, y->name))
        continue;
      g_string_append_printf (out, "%s%s: unexpected attribute ", indent, path);
      append_attr_name (out, y);
      g_string_append_c (out, '=');
      quoted (out, y->value);
      g_string_append_c (out, '\n');
    }
  if (g_strcmp0 (e->text, a->text) != 0)
    {
      g_string_append_printf (out, "%s%s: text ", indent, path);
      if (e->text)
        {
          g_string_append (out, "recorded ");
          quoted (out, e->text);
        }
      else
        g_string_append (out, "recorded none");
      g_string_append (out, ", now ");
      if (a->text)
        quoted (out, a->text);
      else
        g_string_append (out, "none");
      g_string_append_c (out, '\n');
    }
  {
    g_autoptr (GArray) pairs = pair_children (e, a);
    for (guint i = 0; i < pairs->len; i++)
      {
        Pair *p = &g_array_index (pairs, Pair, i);
        if (p->e && p->a)
          {
            if (strcmp (p->e->key, p->a->key) != 0)
              summarise (out, indent, p->e, p->a);
          }
        else
          {
            g_autofree char *d = xm_canon_describe (p->e ? p->e : p->a);
            g_string_append_printf (out, "%s%s: %s %s\n", indent, path,
                                    p->e ? "missing" : "unexpected", d);
          }
      }
  }
}

static void
diff_tree (GString *out, const char *indent, const XmCanon *e, const XmCanon *a,
           int depth)
{
  gboolean start_same, text_same;
  g_autoptr (GArray) pairs = NULL;

  if (strcmp (e->key, a->key) == 0)
    {
      format_tree (out, e, indent, "  ", depth);
      return;
    }
  if (strcmp (e->name, a->name) != 0 || strcmp (e->ns, a->ns) != 0)
    {
      format_tree (out, e, indent, "- ", depth);
      format_tree (out, a, indent, "+ ", depth);
      return;
    }
  start_same = same_start (e, a);
  text_same = g_strcmp0 (e->text, a->text) == 0;
  if (e->children->len == 0 && a->children->len == 0)
    {
      line (out, indent, "- ", depth);
      append_leaf (out, e);
      g_string_append_c (out, '\n');
      line (out, indent, "+ ", depth);
      append_leaf (out, a);
      g_string_append_c (out, '\n');
      return;
    }
  if (start_same)
    {
      line (out, indent, "  ", depth);
      append_start (out, e);
      g_string_append (out, ">\n");
    }
  else
    {
      line (out, indent, "- ", depth);
      append_start (out, e);
      g_string_append (out, ">\n");
      line (out, indent, "+ ", depth);
      append_start (out, a);
      g_string_append (out, ">\n");
    }
  if (!text_same || e->text)
    {
      if (e->text)
        {
          line (out, indent, text_same ? "  " : "- ", depth + 1);
          text_escape (out, e->text, FALSE);
          g_string_append_c (out, '\n');
        }
      if (!text_same && a->text)
        {
          line (out, indent, "+ ", depth + 1);
          text_escape (out, a->text, FALSE);
          g_string_append_c (out, '\n');
        }
    }
  pairs = pair_children (e, a);
  for (guint i = 0; i < pairs->len; i++)
    {
      Pair *p = &g_array_index (pairs, Pair, i);
      if (p->e && p->a)
        diff_tree (out, indent, p->e, p->a, depth + 1);
      else if (p->e)
        format_tree (out, p->e, indent, "- ", depth + 1);
      else
        format_tree (out, p->a, indent, "+ ", depth + 1);
    }
  line (out, indent, "  ", depth);
  append_end (out, e);
  g_string_append_c (out, '\n');
}

char *
xm_canon_diff (const XmCanon *expected, const XmCanon *actual, const char *indent)
{
  GString *out;

  g_return_val_if_fail (expected->key && actual->key, NULL);
  if (strcmp (expected->key, actual->key) == 0)
    return NULL;
  out = g_string_new (NULL);
  summarise (out, indent, expected, actual);
  diff_tree (out, indent, expected, actual, 0);
  return g_string_free (out, FALSE);
}
