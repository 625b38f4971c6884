/* rewrite.c: see rewrite.h. The features element is parsed again on its
 * own, without expat's namespace processing (the stream: prefix was
 * declared on the stream header, which is not part of it); namespaces are
 * resolved here from the xmlns and xmlns:p attributes inside it. */
#include "config.h"

#include <string.h>
#include <expat.h>

#include "rewrite.h"

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_SASL2 "urn:xmpp:sasl:2"
#define NS_SASL_CB "urn:xmpp:sasl-cb:0"
#define NS_COMPRESS_FEATURE "http://jabber.org/features/compress"
#define MAX_DEPTH 16

typedef struct {
  const char *local;
  char *ns;        /* the element's namespace, NULL if unknown */
  XML_Index start;
} Frame;

typedef struct {
  char *prefix;    /* "" for the default namespace */
  char *uri;
  int depth;       /* declared on the element at this depth */
} Binding;

typedef struct {
  XML_Parser p;
  guint flags;
  int depth;
  Frame stack[MAX_DEPTH];
  GArray *bindings; /* Binding, innermost last */
  GString *text;   /* text of the current <mechanism> */
  GArray *cut;     /* pairs of XML_Index: [start, end) to remove */
  GString *removed;
} Ctx;

static const char *
local_name (const char *name)
{
  const char *colon = strrchr (name, ':');
  return colon ? colon + 1 : name;
}

static const char *
resolve (Ctx *c, const char *prefix)
{
  for (guint i = c->bindings->len; i > 0; i--)
    {
      Binding *b = &g_array_index (c->bindings, Binding, i - 1);
      if (strcmp (b->prefix, prefix) == 0)
        return b->uri;
    }
  return NULL;
}

static void XMLCALL
on_start (void *ud, const XML_Char *name, const XML_Char **atts)
{
  Ctx *c = ud;
  Frame *f;
  const char *colon = strchr (name, ':');
  g_autofree char *prefix = colon ? g_strndup (name, colon - name) : g_strdup ("");

  if (c->depth >= MAX_DEPTH)
    {
      c->depth++;
      return;
    }
  for (int i = 0; atts[i]; i += 2)
    if (strcmp (atts[i], "xmlns") == 0 || g_str_has_prefix (atts[i], "xmlns:"))
      {
        Binding b = { g_strdup (atts[i][5] ? atts[i] + 6 : ""), g_strdup (atts[i + 1]),
                      c->depth };
        g_array_append_val (c->bindings, b);
      }
  f = &c->stack[c->depth++];
  f->local = local_name (name);
  f->ns = g_strdup (resolve (c, prefix));
  f->start = XML_GetCurrentByteIndex (c->p);
  g_string_truncate (c->text, 0);
}

static void
cut (Ctx *c, XML_Index start, const char *what)
{
  XML_Index end = XML_GetCurrentByteIndex (c->p) + XML_GetCurrentByteCount (c->p);

  g_array_append_val (c->cut, start);
  g_array_append_val (c->cut, end);
  if (c->removed->len)
    g_string_append (c->removed, ", ");
  g_string_append (c->removed, what);
}

static void XMLCALL
on_end (void *ud, const XML_Char *name)
{
  Ctx *c = ud;
  Frame *f, *parent;

  if (--c->depth >= MAX_DEPTH)
    return;
  f = &c->stack[c->depth];
  parent = c->depth ? &c->stack[c->depth - 1] : NULL;

  if (c->depth == 2 && strcmp (f->local, "mechanism") == 0
      && (c->flags & XM_REWRITE_STRIP_PLUS) && parent
      && ((strcmp (parent->local, "mechanisms") == 0 && g_strcmp0 (parent->ns, NS_SASL) == 0)
          || (strcmp (parent->local, "authentication") == 0
              && g_strcmp0 (parent->ns, NS_SASL2) == 0)))
    {
      g_autofree char *mech = g_strstrip (g_strdup (c->text->str));
      if (g_str_has_suffix (mech, "-PLUS"))
        cut (c, f->start, mech);
    }
  else if (c->depth == 1 && (c->flags & XM_REWRITE_STRIP_PLUS)
           && strcmp (f->local, "sasl-channel-binding") == 0
           && g_strcmp0 (f->ns, NS_SASL_CB) == 0)
    cut (c, f->start, "sasl-channel-binding (XEP-0440)");
  else if (c->depth == 1 && (c->flags & XM_REWRITE_STRIP_COMPRESSION)
           && strcmp (f->local, "compression") == 0
           && g_strcmp0 (f->ns, NS_COMPRESS_FEATURE) == 0)
    cut (c, f->start, "compression (XEP-0138)");
  g_clear_pointer (&f->ns, g_free);
  while (c->bindings->len
         && g_array_index (c->bindings, Binding, c->bindings->len - 1).depth == c->depth)
    g_array_set_size (c->bindings, c->bindings->len - 1);
}

static void
binding_clear (gpointer data)
{
  Binding *b = data;
  g_free (b->prefix);
  g_free (b->uri);
}

static void XMLCALL
on_text (void *ud, const XML_Char *s, int len)
{
  Ctx *c = ud;
  g_string_append_len (c->text, s, len);
}

GBytes *
xm_rewrite_features (const guint8 *raw, gsize len, guint flags, char **removed)
{
  Ctx c = { 0 };
  GByteArray *out = NULL;
  gboolean ok;
  XML_Index pos = 0;

  if (removed)
    *removed = NULL;
  if (flags == 0 || len > G_MAXINT)
    return NULL;
  c.p = XML_ParserCreate ("UTF-8");
  c.flags = flags;
  c.text = g_string_new (NULL);
  c.cut = g_array_new (FALSE, FALSE, sizeof (XML_Index));
  c.bindings = g_array_new (FALSE, FALSE, sizeof (Binding));
  g_array_set_clear_func (c.bindings, binding_clear);
  c.removed = g_string_new (NULL);
  XML_SetUserData (c.p, &c);
  XML_SetElementHandler (c.p, on_start, on_end);
  XML_SetCharacterDataHandler (c.p, on_text);
  ok = XML_Parse (c.p, (const char *) raw, (int) len, XML_TRUE) == XML_STATUS_OK;
  for (int i = 0; i < MIN (c.depth, MAX_DEPTH); i++)
    g_free (c.stack[i].ns);

  if (ok && c.cut->len)
    {
      out = g_byte_array_sized_new (len);
      for (guint i = 0; i < c.cut->len; i += 2)
        {
          XML_Index a = g_array_index (c.cut, XML_Index, i);
          XML_Index b = g_array_index (c.cut, XML_Index, i + 1);
          g_byte_array_append (out, raw + pos, a - pos);
          pos = b;
        }
      g_byte_array_append (out, raw + pos, len - pos);
      if (removed)
        *removed = g_strdup (c.removed->str);
    }
  XML_ParserFree (c.p);
  g_string_free (c.text, TRUE);
  g_array_unref (c.cut);
  g_array_unref (c.bindings);
  g_string_free (c.removed, TRUE);
  return out ? g_byte_array_free_to_bytes (out) : NULL;
}
