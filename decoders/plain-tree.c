/* plain-tree.c: see plain-tree.h. */
#include "config.h"

#include <string.h>

#include "plain-tree.h"
#include "swar.h"

#define XML_NS "http://www.w3.org/XML/1998/namespace"
/* xml-scan.c's MAX_ATTRS: a plain element has fewer. */
#define MAX_ATTRS 16

static inline gboolean
is_space (guint8 c)
{
  return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* The reference at s ('&', plain: a predefined entity or a character
 * reference to an XML character) as UTF-8 into o; returns o past it and
 * sets *after past the ';'. */
static char *
reference (const guint8 *s, const guint8 *e, char *o, const guint8 **after)
{
  const guint8 *semi = memchr (s, ';', e - s);
  const guint8 *name = s + 1;
  gsize len = semi - name;
  gunichar v = 0;

  *after = semi + 1;
  if (name[0] == '#')
    {
      gboolean hex = name[1] == 'x';

      for (const guint8 *d = name + (hex ? 2 : 1); d < semi; d++)
        v = v * (hex ? 16 : 10) + g_ascii_xdigit_value (*d);
      return o + g_unichar_to_utf8 (v, o);
    }
  if (len == 2)
    *o = name[0] == 'l' ? '<' : '>';
  else if (len == 3)
    *o = '&';
  else
    *o = name[0] == 'q' ? '"' : '\'';
  return o + 1;
}

/* May w hold a byte decode changes: '&', CR, and in a value LF and tab? */
static inline gboolean
word_needs_decoding (guint64 w, gboolean attr)
{
  guint64 hit = xm_swar_has (w, '&') | xm_swar_has (w, '\r');

  if (attr)
    hit |= xm_swar_has (w, '\n') | xm_swar_has (w, '\t');
  return hit != 0;
}

/* raw[0..n), text (attr FALSE) or an attribute value, as expat reports
 * it: references replaced, line ends normalised (CR LF and CR are LF,
 * XML 1.0 §2.11), and in a value, literal white space is a space (§3.3.3).
 * Never longer than raw. */
static const char *
decode (XmStanza *st, const guint8 *raw, gsize n, gboolean attr, gsize *out_len)
{
  char *out = xm_stanza_alloc_bytes (st, n + 1), *o = out;
  const guint8 *s = raw, *e = raw + n;

  while (s < e)
    {
      const guint8 *stop;

      /* Eight bytes with nothing to change are copied as they are (the
       * output is never ahead of the input: eight bytes fit). */
      if (e - s >= 8 && !word_needs_decoding (xm_swar_load (s), attr))
        {
          memcpy (o, s, 8);
          o += 8;
          s += 8;
          continue;
        }
      /* the flagged word (or the tail) byte by byte; a reference may
       * end past it */
      for (stop = MIN (e, s + 8); s < stop;)
        {
          guint8 c = *s;

          if (c == '&')
            {
              o = reference (s, e, o, &s);
              continue;
            }
          if (c == '\r')
            {
              if (s + 1 < e && s[1] == '\n')
                s++;
              *o++ = attr ? ' ' : '\n';
            }
          else if (attr && (c == '\n' || c == '\t'))
            *o++ = ' ';
          else
            *o++ = c;
          s++;
        }
    }
  *o = '\0';
  if (out_len)
    *out_len = o - out;
  return out;
}

static void
append_child (XmNode *parent, XmNode *child)
{
  child->parent = parent;
  if (parent == NULL)
    return;
  if (parent->last_child)
    parent->last_child->next = child;
  else
    parent->children = child;
  parent->last_child = child;
}

/* The start tag at *q ('<'), under parent; advances past it. */
static XmNode *
start_tag (XmStanza *st, const guint8 *buf, const guint8 **q, const guint8 *e,
           XmNode *parent, const char *default_ns, gboolean *empty)
{
  XmNode *el = xm_stanza_alloc (st, sizeof (XmNode));
  const guint8 *p = *q + 1, *name = p;
  XmAttr attrs[MAX_ATTRS];
  const char *xmlns = NULL;
  guint n = 0;

  el->type = XM_NODE_ELEMENT;
  el->tag_start = *q - buf;
  while (!is_space (*p) && *p != '/' && *p != '>')
    p++;
  el->name = xm_stanza_strndup (st, (const char *) name, p - name);
  for (;;)
    {
      const guint8 *an, *ne, *colon, *v;
      guint8 quote;

      while (is_space (*p))
        p++;
      if (*p == '/' || *p == '>')
        break;
      an = ne = p;
      while (!is_space (*ne) && *ne != '=')
        ne++;
      colon = memchr (an, ':', ne - an);
      p = ne;
      while (*p != '\'' && *p != '"')
        p++;
      quote = *p++;
      v = p;
      p = memchr (p, quote, e - p);
      if (ne - an == 5 && memcmp (an, "xmlns", 5) == 0)
        xmlns = decode (st, v, p - v, TRUE, NULL);
      else if (n < MAX_ATTRS)
        {
          XmAttr *a = &attrs[n++];
          const guint8 *local = colon ? colon + 1 : an;

          /* plain: unprefixed, or xml: */
          a->ns = colon ? XML_NS : NULL;
          a->prefix = colon ? "xml" : NULL;
          a->name = xm_stanza_strndup (st, (const char *) local, ne - local);
          a->value = decode (st, v, p - v, TRUE, NULL);
        }
      p++;
    }
  *empty = *p == '/';
  p += *empty ? 2 : 1;
  if (n)
    {
      el->attrs = xm_stanza_alloc (st, n * sizeof (XmAttr));
      memcpy (el->attrs, attrs, n * sizeof (XmAttr));
      el->n_attrs = n;
    }
  if (xmlns)
    {
      el->n_ns_decls = 1;
      el->ns_decls = xm_stanza_alloc (st, sizeof (XmNsDecl));
      el->ns_decls[0].uri = xmlns;
      el->ns = *xmlns ? xmlns : NULL;
    }
  else if (parent)
    el->ns = parent->ns;
  else if (default_ns)
    el->ns = xm_stanza_strndup (st, default_ns, strlen (default_ns));
  el->content_start = el->content_end = p - buf;
  append_child (parent, el);
  *q = p;
  return el;
}

XmNode *
xm_plain_tree_build (XmStanza *st, const guint8 *buf, gsize len,
                     const char *default_ns)
{
  const guint8 *p = buf, *e = buf + len;
  XmNode *root = NULL, *cur = NULL;

  while (p < e)
    {
      if (*p == '<' && p[1] == '/')
        {
          gsize off = p - buf;

          if (off > cur->content_start)
            cur->content_end = off;
          p = memchr (p, '>', e - p) + 1;
          cur = cur->parent;
          if (cur == NULL)
            break;
        }
      else if (*p == '<')
        {
          gboolean empty;
          XmNode *el = start_tag (st, buf, &p, e, cur, default_ns, &empty);

          if (root == NULL)
            root = el;
          if (!empty)
            cur = el;
          else if (cur == NULL)
            break;
        }
      else
        {
          const guint8 *lt = memchr (p, '<', e - p);
          XmNode *t = xm_stanza_alloc (st, sizeof (XmNode));

          t->type = XM_NODE_TEXT;
          t->text = decode (st, p, lt - p, FALSE, &t->text_len);
          append_child (cur, t);
          p = lt;
        }
    }
  return root;
}
