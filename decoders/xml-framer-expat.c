/* xml-framer-expat.c: the framer's expat callbacks: a stanza's tree built
 * in its arena as expat reports it, stanza boundaries at depth 1, text
 * between stanzas (whitespace keepalives, stray text), and restricted XML
 * (RFC 6120 §11.1: DOCTYPE, comments, processing instructions; a DOCTYPE
 * is never expanded). */
#include "config.h"

#include <string.h>

#include "xml-framer-private.h"

/* Expat names are "uri SEP local SEP prefix" (XML_SetReturnNSTriplet). */
static void
split_name (XmStanza *st, const char *name, const char **ns,
            const char **local, const char **prefix)
{
  const char *a = strchr (name, NS_SEP);
  const char *b;

  *ns = NULL;
  *prefix = NULL;
  if (a == NULL)
    {
      *local = xm_stanza_strndup (st, name, strlen (name));
      return;
    }
  *ns = xm_stanza_strndup (st, name, a - name);
  b = strchr (a + 1, NS_SEP);
  if (b == NULL)
    *local = xm_stanza_strndup (st, a + 1, strlen (a + 1));
  else
    {
      *local = xm_stanza_strndup (st, a + 1, b - a - 1);
      *prefix = xm_stanza_strndup (st, b + 1, strlen (b + 1));
    }
}

static XmNode *
build_element (XmFramer *f, const char *name, const char **atts, XmNode *parent)
{
  XmStanza *st = f->stanza;
  XmNode *el = xm_stanza_alloc (st, sizeof (XmNode));
  guint n = 0;

  el->type = XM_NODE_ELEMENT;
  split_name (st, name, &el->ns, &el->name, &el->prefix);
  while (atts[2 * n])
    n++;
  if (n)
    {
      el->attrs = xm_stanza_alloc (st, n * sizeof (XmAttr));
      for (guint i = 0; i < n; i++)
        {
          XmAttr *a = &el->attrs[i];
          split_name (st, atts[2 * i], &a->ns, &a->name, &a->prefix);
          a->value = xm_stanza_strndup (st, atts[2 * i + 1],
                                        strlen (atts[2 * i + 1]));
        }
      el->n_attrs = n;
    }
  if (f->pending_ns->len)
    {
      el->n_ns_decls = f->pending_ns->len;
      el->ns_decls = xm_stanza_alloc (st, el->n_ns_decls * sizeof (XmNsDecl));
      memcpy (el->ns_decls, f->pending_ns->data,
              el->n_ns_decls * sizeof (XmNsDecl));
      g_array_set_size (f->pending_ns, 0);
    }
  el->parent = parent;
  if (parent)
    {
      if (parent->last_child)
        parent->last_child->next = el;
      else
        parent->children = el;
      parent->last_child = el;
    }
  return el;
}

/* Forget the item being built: its bytes, its tree, its pending text. */
static gboolean
is_stream_name (const char *name)
{
  return g_str_has_prefix (name, STREAM_NS "\x01stream")
         && (name[sizeof STREAM_NS + 6] == '\0'
             || name[sizeof STREAM_NS + 6] == NS_SEP);
}

/* XEP-0124 §4: a BOSH <body/> wrapper, a document whose children are
 * stanzas: read like a stream header, without a problem. */
static gboolean
is_bosh_body (const char *name)
{
  static const char body[] = "http://jabber.org/protocol/httpbind\x01" "body";
  return g_str_has_prefix (name, body)
         && (name[sizeof body - 1] == '\0' || name[sizeof body - 1] == NS_SEP);
}

static void XMLCALL
on_start (void *ud, const XML_Char *name, const XML_Char **atts)
{
  XmFramer *f = ud;
  guint64 off, end;

  if (f->stop != STOP_NONE)
    return;
  if (f->replaying)
    {
      /* the header of a rebuilt parser: reported long ago */
      f->depth = 1;
      g_array_set_size (f->pending_ns, 0);
      return;
    }
  off = ev_offset (f);
  end = ev_end (f);
  f->last_progress = end;

  if (f->depth == 0)
    {
      if (end - f->mark > f->max_stanza)
        {
          xm_framer_problem (f, XM_FRAMER_OVERSIZED, f->mark,
                   "stream header larger than %" G_GSIZE_FORMAT " bytes: "
                   "decoding of this direction stops until the stream restarts",
                   f->max_stanza);
          xm_framer_stop_parser (f, STOP_FATAL, end);
          return;
        }
      g_autofree char *bad = NULL;
      guint64 at = f->mark;
      const XmNode *h;

      h = f->stanza->root = build_element (f, name, atts, NULL);
      f->depth = 1;
      for (guint i = 0; i < f->stanza->root->n_ns_decls; i++)
        if (f->stanza->root->ns_decls[i].prefix == NULL)
          {
            const char *uri = f->stanza->root->ns_decls[i].uri;
            g_free (f->default_ns);
            f->default_ns = *uri ? g_strdup (uri) : NULL;
          }
      if (!is_stream_name (name) && !is_bosh_body (name))
        bad = g_strdup_printf ("the stream header is <%s%s%s> %s%s%s, not "
                               "<stream:stream> in the namespace " STREAM_NS
                               " (RFC 6120 §4.8.1); taken as the stream header "
                               "anyway", h->prefix ? h->prefix : "",
                               h->prefix ? ":" : "", h->name,
                               h->ns ? "in the namespace '" : "in no namespace",
                               h->ns ? h->ns : "", h->ns ? "'" : "");
      xm_framer_emit_item (f, end, TRUE);
      if (bad)
        xm_framer_problem (f, XM_FRAMER_BAD_HEADER, at, "%s", bad);
      return;
    }

  if (f->depth > XM_FRAMER_MAX_DEPTH)
    {
      /* No stanza needs this; expat would keep a tag per level even inside
       * a stanza over the size cap, and the tree would be walked and
       * indented level by level. */
      xm_framer_problem (f, XM_FRAMER_OVERSIZED, off,
               "elements nested more than %d deep: decoding of this direction "
               "stops until the stream restarts; bytes are still forwarded",
               XM_FRAMER_MAX_DEPTH);
      xm_framer_stop_parser (f, STOP_FATAL, off);
      return;
    }

  if (f->depth == 1)
    {
      if (is_stream_name (name) && !f->framing)
        {
          /* A new stream header inside the stream: the peer restarted the
           * stream without our being told (e.g. we missed a negotiation). */
          xm_framer_flush_ws (f);
          if (f->pending_oversized)
            {
              /* Its start tag outgrew the cap over several chunks: its
               * bytes were dropped, there is nothing to restart from. */
              xm_framer_problem (f, XM_FRAMER_OVERSIZED, off,
                       "stream header larger than %" G_GSIZE_FORMAT " bytes: "
                       "decoding of this direction stops until the stream "
                       "restarts", f->max_stanza);
              xm_framer_stop_parser (f, STOP_FATAL, end);
              return;
            }
          xm_framer_stop_parser (f, STOP_IMPLICIT, off);
          return;
        }
      xm_framer_flush_ws (f);
      xm_framer_set_mark (f, off);
      f->in_stray = FALSE;
      f->in_stanza = TRUE;
      f->item_start = off;
      f->oversized = f->pending_oversized;
      f->pending_oversized = FALSE;
      if (!f->oversized)
        {
          f->cur = build_element (f, name, atts, NULL);
          f->cur->content_start = f->cur->content_end = end - off;
          f->cur->tag_start = 0;
          f->stanza->root = f->cur;
        }
    }
  else if (!f->oversized)
    {
      xm_framer_flush_text (f);
      f->cur = build_element (f, name, atts, f->cur);
      f->cur->content_start = f->cur->content_end = end - f->item_start;
      f->cur->tag_start = off - f->item_start;
    }
  f->depth++;
  xm_framer_check_size (f, end);
}

/* Lazy: does a message or presence start after stream offset end, in the
 * piece expat is reading? Then expat stops there and the scanner takes
 * over; else expat would go on to the end of the piece, and to the end of
 * every following piece that ends inside a stanza. */
static gboolean
plain_stanza_next (const XmFramer *f, guint64 end)
{
  const guint8 *p, *e = f->piece + f->piece_len;
  gsize n;

  if (end < f->piece_base || end >= f->piece_base + f->piece_len)
    return FALSE;
  p = f->piece + (end - f->piece_base);
  while (p < e && is_ws (*p))
    p++;
  n = (gsize) (e - p);
  if (n >= 10 && memcmp (p, "<presence", 9) == 0)
    p += 9;
  else if (n >= 9 && memcmp (p, "<message", 8) == 0)
    p += 8;
  else
    return FALSE;
  return is_ws (*p) || *p == '>' || *p == '/';
}

static void XMLCALL
on_end (void *ud, const XML_Char *name)
{
  XmFramer *f = ud;
  guint64 end;

  if (f->stop != STOP_NONE)
    return;
  end = ev_end (f);
  f->last_progress = end;
  f->depth--;

  if (f->depth == 0)
    {
      xm_framer_flush_ws (f);
      if (f->ev->stream_close)
        {
          f->in_callback = TRUE;
          f->ev->stream_close (ev_offset (f), f->user_data);
          f->in_callback = FALSE;
        }
      xm_framer_set_mark (f, end);
      xm_framer_stop_parser (f, STOP_CLOSE, end);
      return;
    }

  xm_framer_check_size (f, end);
  if (!f->oversized)
    {
      guint64 tag = ev_offset (f) - f->item_start;

      xm_framer_flush_text (f);
      /* An empty element's end comes at its start tag: content stays empty. */
      if (tag > f->cur->content_start)
        f->cur->content_end = tag;
      if (f->depth > 1)
        f->cur = f->cur->parent;
    }
  if (f->depth == 1)
    {
      f->in_stanza = FALSE;
      xm_framer_emit_item (f, end, FALSE);
      if (f->fast && f->stop == STOP_NONE && f->header->len && plain_stanza_next (f, end))
        xm_framer_stop_parser (f, STOP_HANDOVER, end);
    }
}

static gboolean
all_space (const char *s, int len)
{
  for (int i = 0; i < len; i++)
    if (!is_ws ((guint8) s[i]))
      return FALSE;
  return TRUE;
}

static void XMLCALL
on_text (void *ud, const XML_Char *s, int len)
{
  XmFramer *f = ud;
  guint64 end;

  if (f->stop != STOP_NONE)
    return;
  end = ev_end (f);
  f->last_progress = end;

  if (f->depth == 1)
    {
      if (all_space (s, len))
        f->ws_pending += end - ev_offset (f);
      else
        f->in_stray = TRUE;
      if (f->in_stray && !f->stray_reported)
        {
          f->stray_reported = TRUE;
          xm_framer_problem (f, XM_FRAMER_STRAY_TEXT, ev_offset (f),
                   "text between stanzas (only whitespace keepalives may "
                   "appear there)");
        }
      xm_framer_set_mark (f, end);
      return;
    }
  if (!f->oversized)
    g_string_append_len (f->text, s, len);
  xm_framer_check_size (f, end);
}

static void
skip_restricted (XmFramer *f, const char *what)
{
  guint64 end = ev_end (f);

  f->last_progress = end;
  xm_framer_problem (f, XM_FRAMER_RESTRICTED, ev_offset (f),
           "%s in the stream: XMPP forbids it (RFC 6120 §11.1); skipped", what);
  if (f->depth == 1)
    xm_framer_set_mark (f, end);
}

static void XMLCALL
on_cdata_start (void *ud)
{
  ((XmFramer *) ud)->in_cdata = TRUE;
}

static void XMLCALL
on_cdata_end (void *ud)
{
  ((XmFramer *) ud)->in_cdata = FALSE;
}

static void XMLCALL
on_comment (void *ud, const XML_Char *data)
{
  XmFramer *f = ud;

  if (f->stop == STOP_NONE)
    skip_restricted (f, "comment");
}

static void XMLCALL
on_pi (void *ud, const XML_Char *target, const XML_Char *data)
{
  XmFramer *f = ud;

  if (f->stop == STOP_NONE)
    skip_restricted (f, "processing instruction");
}

static void XMLCALL
on_doctype (void *ud, const XML_Char *name, const XML_Char *sysid,
            const XML_Char *pubid, int has_internal_subset)
{
  XmFramer *f = ud;

  if (f->stop != STOP_NONE)
    return;
  /* Stop before the internal subset is read, so no entity is ever declared
   * or expanded: a billion-laughs document costs nothing. */
  xm_framer_problem (f, XM_FRAMER_RESTRICTED, ev_offset (f),
           "DOCTYPE in the stream: XMPP forbids it (RFC 6120 §11.1); not "
           "expanded, decoding of this direction stops until the stream "
           "restarts");
  xm_framer_stop_parser (f, STOP_FATAL, ev_offset (f));
}

static void XMLCALL
on_entity_decl (void *ud, const XML_Char *name, int is_param,
                const XML_Char *value, int value_len, const XML_Char *base,
                const XML_Char *sysid, const XML_Char *pubid,
                const XML_Char *notation)
{
  XmFramer *f = ud;

  if (f->stop != STOP_NONE)
    return;
  xm_framer_problem (f, XM_FRAMER_RESTRICTED, ev_offset (f),
           "entity declaration in the stream: not expanded, decoding stops");
  xm_framer_stop_parser (f, STOP_FATAL, ev_offset (f));
}

static void XMLCALL
on_ns_start (void *ud, const XML_Char *prefix, const XML_Char *uri)
{
  XmFramer *f = ud;
  XmNsDecl d;

  if (f->stop != STOP_NONE || f->oversized || f->pending_oversized)
    return;
  d.prefix = prefix ? xm_stanza_strndup (f->stanza, prefix, strlen (prefix)) : NULL;
  d.uri = xm_stanza_strndup (f->stanza, uri ? uri : "", uri ? strlen (uri) : 0);
  g_array_append_val (f->pending_ns, d);
}

/* The handlers above, on a parser being set up. */
void
xm_framer_set_handlers (XML_Parser parser)
{
  XML_SetElementHandler (parser, on_start, on_end);
  XML_SetCharacterDataHandler (parser, on_text);
  XML_SetCommentHandler (parser, on_comment);
  XML_SetCdataSectionHandler (parser, on_cdata_start, on_cdata_end);
  XML_SetProcessingInstructionHandler (parser, on_pi);
  XML_SetStartDoctypeDeclHandler (parser, on_doctype);
  XML_SetEntityDeclHandler (parser, on_entity_decl);
  XML_SetStartNamespaceDeclHandler (parser, on_ns_start);
}
