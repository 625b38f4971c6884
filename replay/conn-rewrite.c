/* conn-rewrite.c: a recorded stanza as replay sends it, with the live
 * values (JIDs, stream ids, the ids the live peer chose) in place of the recorded
 * ones, and the namespace a WebSocket or BOSH stream needs declared on a
 * stanza recorded over TCP. Split from conn.c: the writing side of the
 * script, apart from the connection's life and negotiation. */
#include "config.h"

#include <string.h>

#include "replay-private.h"

static const char *
live_value (Conn *c, const char *value, gboolean *changed)
{
  const char *v = g_hash_table_lookup (c->r->rec2live, value);

  if (v && strcmp (v, value) != 0)
    {
      *changed = TRUE;
      return v;
    }
  return value;
}

static void
serialise (Conn *c, const XmNode *el, gboolean top, GString *out, gboolean *changed)
{
  g_string_append_c (out, '<');
  if (el->prefix)
    g_string_append_printf (out, "%s:", el->prefix);
  g_string_append (out, el->name);
  if (top && (c->ws || c->bosh) && el->ns && el->prefix == NULL)
    {
      /* RFC 7395 §3.3.3: over WebSocket every element declares its
       * namespace, and a BOSH body's children are in its own unless they
       * do (XEP-0206 §3); one recorded in a TCP stream inherited it. */
      gboolean declared = FALSE;
      for (guint i = 0; i < el->n_ns_decls; i++)
        declared |= el->ns_decls[i].prefix == NULL;
      if (!declared)
        {
          g_string_append (out, " xmlns='");
          xm_xml_escape (out, el->ns, strlen (el->ns), TRUE);
          g_string_append_c (out, '\'');
          *changed = TRUE;
        }
    }
  for (guint i = 0; i < el->n_ns_decls; i++)
    {
      const XmNsDecl *d = &el->ns_decls[i];
      g_string_append (out, d->prefix ? " xmlns:" : " xmlns");
      if (d->prefix)
        g_string_append (out, d->prefix);
      g_string_append (out, "='");
      xm_xml_escape (out, d->uri, strlen (d->uri), TRUE);
      g_string_append_c (out, '\'');
    }
  for (guint i = 0; i < el->n_attrs; i++)
    {
      const XmAttr *a = &el->attrs[i];
      const char *v = a->value;

      if (top && a->ns == NULL && strcmp (a->name, "id") == 0)
        {
          /* An answer to a request whose id the server chose. */
          const char *live = g_hash_table_lookup (c->id_rec2live, v);
          if (live == NULL && c->r->ids_rec2live)
            live = g_hash_table_lookup (c->r->ids_rec2live, v);
          if (live && strcmp (live, v) != 0)
            {
              v = live;
              *changed = TRUE;
            }
        }
      else
        v = live_value (c, v, changed);
      g_string_append_c (out, ' ');
      if (a->prefix)
        g_string_append_printf (out, "%s:", a->prefix);
      g_string_append_printf (out, "%s='", a->name);
      xm_xml_escape (out, v, strlen (v), TRUE);
      g_string_append_c (out, '\'');
    }
  if (el->children == NULL)
    {
      g_string_append (out, "/>");
      return;
    }
  g_string_append_c (out, '>');
  for (const XmNode *n = el->children; n; n = n->next)
    if (n->type == XM_NODE_ELEMENT)
      serialise (c, n, FALSE, out, changed);
    else
      {
        const char *t = live_value (c, n->text, changed);
        xm_xml_escape (out, t, strlen (t), FALSE);
      }
  g_string_append (out, "</");
  if (el->prefix)
    g_string_append_printf (out, "%s:", el->prefix);
  g_string_append_printf (out, "%s>", el->name);
}

/* Is it certain that xm_conn_rewrite would change nothing in st, a script
 * stanza kept without its children (plain bytes, xm_script_stanza_full)?
 * Then its bytes go as they are, without building its tree. Certain when
 * no recorded value that maps to another live one is in its bytes: plain
 * bytes without '&' write every value literally, except for whitespace
 * (attribute values and line ends are normalised), so a value with
 * neither whitespace nor a character XML escapes is found by a search of
 * the bytes. Anything else, or more values than a quick look allows:
 * not certain. */
gboolean
xm_conn_rewrite_needless (Conn *c, const XmStanza *st)
{
  GHashTableIter it;
  gpointer key, value;
  const XmNode *el = st->root;

  /* a TCP recording over WebSocket: serialise() declares the namespace */
  if (xm_conn_transport_differs (c))
    return FALSE;
  if (!st->shallow || el == NULL || el->children || st->raw == NULL
      || memchr (st->raw, '&', st->raw_len)
      || g_hash_table_size (c->r->rec2live) > 16)
    return FALSE;
  for (guint i = 0; i < el->n_attrs; i++)
    {
      const XmAttr *a = &el->attrs[i];

      if (a->ns == NULL && strcmp (a->name, "id") == 0)
        {
          const char *live = g_hash_table_lookup (c->id_rec2live, a->value);
          if (live == NULL && c->r->ids_rec2live)
            live = g_hash_table_lookup (c->r->ids_rec2live, a->value);
          if (live && strcmp (live, a->value) != 0)
            return FALSE;
        }
    }
  g_hash_table_iter_init (&it, c->r->rec2live);
  while (g_hash_table_iter_next (&it, &key, &value))
    {
      const char *rec = key;

      if (strcmp (rec, value) == 0)
        continue;
      if (*rec == '\0' || strpbrk (rec, " \t\r\n&<>'\"")
          || memmem (st->raw, st->raw_len, rec, strlen (rec)))
        return FALSE;
    }
  return TRUE;
}

char *
xm_conn_rewrite (Conn *c, const XmNode *el, gboolean *changed)
{
  GString *out = g_string_new (NULL);

  *changed = FALSE;
  serialise (c, el, TRUE, out, changed);
  return g_string_free (out, FALSE);
}

gboolean
xm_conn_transport_differs (const Conn *c)
{
  return c->ws != c->sc->ws || c->bosh != c->sc->bosh;
}
