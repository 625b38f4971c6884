/* stanza.c: arena-backed element trees for the framer. */
#include "config.h"

#include <string.h>

#include "stanza.h"
#include "swar.h"

/* One arena is a list of blocks; clearing keeps a single block so that a
 * framer reusing its stanza does not allocate per stanza. */
typedef struct Block Block;
struct Block {
  Block *next;
  gsize used;
  gsize size;
  char data[];
};

#define BLOCK_MIN 1024
#define BLOCK_GROW_MAX (64 * 1024)

/* Cleared stanzas give their small blocks to a pool for the next stanza of
 * any connection, so that framing allocates nothing per stanza and an idle
 * connection holds no block. */
#define POOL_MAX 256
static _Thread_local Block *pool;
static _Thread_local guint pool_len;

static Block *
block_new (gsize size)
{
  Block *b;

  if (size <= BLOCK_MIN && pool)
    {
      b = pool;
      pool = b->next;
      pool_len--;
    }
  else
    {
      size = MAX (size, BLOCK_MIN);
      b = g_malloc (sizeof (Block) + size);
      b->size = size;
    }
  b->next = NULL;
  b->used = 0;
  return b;
}

static void
block_free (Block *b)
{
  if (b->size == BLOCK_MIN && pool_len < POOL_MAX)
    {
      b->next = pool;
      pool = b;
      pool_len++;
    }
  else
    g_free (b);
}

void
xm_stanza_pool_clear (void)
{
  while (pool)
    {
      Block *b = pool;
      pool = b->next;
      g_free (b);
    }
  pool_len = 0;
}

XmStanza *
xm_stanza_new (void)
{
  XmStanza *s = g_new0 (XmStanza, 1);
  s->ref_count = 1;
  return s;
}

/* Uninitialized memory from the arena. */
static gpointer
arena_alloc (XmStanza *stanza, gsize size)
{
  Block *b = stanza->arena;

  size = (size + 7) & ~(gsize) 7;
  if (b == NULL || b->size - b->used < size)
    {
      gsize want = b ? MIN (b->size * 2, BLOCK_GROW_MAX) : BLOCK_MIN;
      Block *nb = block_new (MAX (want, size));
      nb->next = b;
      stanza->arena = nb;
      b = nb;
    }
  gpointer p = b->data + b->used;
  b->used += size;
  return p;
}

gpointer
xm_stanza_alloc_bytes (XmStanza *stanza, gsize size)
{
  return arena_alloc (stanza, size);
}

gpointer
xm_stanza_alloc (XmStanza *stanza, gsize size)
{
  gpointer p = arena_alloc (stanza, size);
  memset (p, 0, size);
  return p;
}

char *
xm_stanza_strndup (XmStanza *stanza, const char *s, gsize len)
{
  char *d = arena_alloc (stanza, len + 1);
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
      block_free (b);
      b = next;
    }
}

void
xm_stanza_clear (XmStanza *stanza)
{
  free_blocks (stanza->arena);
  stanza->arena = NULL;
  if (stanza->raw_copy)
    g_byte_array_set_size (stanza->raw_copy, 0);
  stanza->root = NULL;
  stanza->raw = NULL;
  stanza->raw_len = 0;
  stanza->offset = 0;
  stanza->oversized = FALSE;
  stanza->shallow = FALSE;
}

XmStanza *
xm_stanza_ref (XmStanza *stanza)
{
  g_return_val_if_fail (stanza != NULL, NULL);
  if (!stanza->in_slab)
    g_atomic_int_inc (&stanza->ref_count);
  return stanza;
}

void
xm_stanza_unref (XmStanza *stanza)
{
  if (stanza == NULL || stanza->in_slab)
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

const XmNode *
xm_node_condition (const XmNode *error, const char *ns)
{
  for (const XmNode *c = error ? error->children : NULL; c; c = c->next)
    if (c->type == XM_NODE_ELEMENT && g_strcmp0 (c->ns, ns) == 0
        && strcmp (c->name, "text") != 0)
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

/* ---- writing XML ---- */

/* What each byte needs: 0 nothing, 1 escaping anywhere, 2 escaping in an
 * attribute value only. */
static const guint8 escape_kind[256] = {
  1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, /* & ' */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, /* < > */
};

/* May any byte of w need escaping? A byte below 0x20, '&', '<' or '>',
 * and in an attribute value '\'' too (swar.h). */
static inline gboolean
word_may_need_escape (guint64 w, gboolean attr)
{
  guint64 hit = xm_swar_has_below (w, 0x20) | xm_swar_has (w, '&')
                | xm_swar_has (w, '<') | xm_swar_has (w, '>');

  if (attr)
    hit |= xm_swar_has (w, '\'');
  return hit != 0;
}

void
xm_xml_escape (GString *buf, const char *s, gsize len, gboolean attr)
{
  const guchar *p = (const guchar *) s, *end = p + len, *run = p;
  guint8 need = attr ? 2 : 1;

  while (p < end)
    {
      const guchar *stop;

      if (end - p >= 8 && !word_may_need_escape (xm_swar_load (p), attr))
        {
          p += 8;
          continue;
        }
      /* the flagged word (or the tail) byte by byte */
      for (stop = MIN (end, p + 8); p < stop; p++)
        {
          const char *rep;
          char num[8];

          if (escape_kind[*p] == 0 || escape_kind[*p] > need)
            continue;
          switch (*p)
            {
            case '&': rep = "&amp;"; break;
            case '<': rep = "&lt;"; break;
            case '>': rep = "&gt;"; break;
            case '\'': rep = "&apos;"; break;
            case '\t': rep = "&#9;"; break;
            case '\n': rep = "&#10;"; break;
            case '\r': rep = "&#13;"; break;
            default:
              g_snprintf (num, sizeof num, "&#%d;", *p);
              rep = num;
            }
          g_string_append_len (buf, (const char *) run, p - run);
          g_string_append (buf, rep);
          run = p + 1;
        }
    }
  g_string_append_len (buf, (const char *) run, p - run);
}

/* ---- secrets ---- */

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_SASL2 "urn:xmpp:sasl:2"
#define NS_IQ_AUTH "jabber:iq:auth"
#define NS_FAST "urn:xmpp:fast:0"
#define NS_REGISTER "jabber:iq:register"
#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_DATA "jabber:x:data"
#define NS_DIALBACK "jabber:server:dialback"

/* Data-form fields (XEP-0004) whose values are secrets even in a submitted
 * form, which need not repeat the field's type: XEP-0077's and XEP-0133's
 * password fields, XEP-0045's room secret. */
static const char *const secret_vars[] = {
  "password", "password-verify", "old-password", "muc#roomconfig_roomsecret",
};

/* A <value/> of a XEP-0004 field of type text-private (or a secret_vars
 * field). */
static gboolean
is_private_value (const XmNode *el)
{
  const XmNode *f = el->parent;
  const char *type, *var;

  if (strcmp (el->name, "value") != 0 || f == NULL || g_strcmp0 (f->ns, NS_DATA) != 0
      || strcmp (f->name, "field") != 0)
    return FALSE;
  type = xm_node_attr (f, "type");
  if (type && strcmp (type, "text-private") == 0)
    return TRUE;
  var = xm_node_attr (f, "var");
  if (var == NULL)
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (secret_vars); i++)
    if (strcmp (var, secret_vars[i]) == 0)
      return TRUE;
  return FALSE;
}

/* Elements whose text carries a password, token or key: RFC 6120 §6.4.2
 * SASL auth/response, XEP-0388 SASL2, XEP-0078 and XEP-0077 <password>,
 * XEP-0045 room <password> (join, invitation, destroy), values of XEP-0004
 * text-private fields, the XEP-0114 <handshake> (a digest of the component
 * secret) and XEP-0220 dialback keys. Every payload there is hidden,
 * whatever the mechanism: the field-level view is the SASL decode. */
/* The first letters of the element names below (auth, response,
 * initial-response, password, value, handshake, result, verify): most
 * elements (body, message, query...) are told apart without comparing
 * their namespace with each of the list's. */
static gboolean
may_be_secret_name (const char *name)
{
  return strchr ("arpvhi", name[0]) != NULL && name[0] != '\0';
}

gboolean
xm_node_is_secret (const XmNode *el)
{
  if (el->ns == NULL || !may_be_secret_name (el->name))
    return FALSE;
  if (strcmp (el->ns, NS_SASL) == 0)
    return strcmp (el->name, "auth") == 0 || strcmp (el->name, "response") == 0;
  if (strcmp (el->ns, NS_SASL2) == 0)
    return strcmp (el->name, "initial-response") == 0
           || strcmp (el->name, "response") == 0;
  if (strcmp (el->ns, NS_IQ_AUTH) == 0 || strcmp (el->ns, NS_REGISTER) == 0)
    return strcmp (el->name, "password") == 0;
  if (g_str_has_prefix (el->ns, NS_MUC)
      && (el->ns[strlen (NS_MUC)] == '\0' || strcmp (el->ns + strlen (NS_MUC), "#user") == 0
          || strcmp (el->ns + strlen (NS_MUC), "#owner") == 0))
    return strcmp (el->name, "password") == 0;
  if (strcmp (el->ns, NS_DATA) == 0)
    return is_private_value (el);
  if (strcmp (el->ns, "jabber:component:accept") == 0
      || strcmp (el->ns, "jabber:component:connect") == 0)
    return strcmp (el->name, "handshake") == 0;
  if (strcmp (el->ns, NS_DIALBACK) == 0)
    return strcmp (el->name, "result") == 0 || strcmp (el->name, "verify") == 0;
  return FALSE;
}

gboolean
xm_attr_is_secret (const XmNode *el, const XmAttr *a)
{
  /* the element first: it is the same for each of its attributes */
  return el->name[0] == 't' && strcmp (el->name, "token") == 0
         && a->ns == NULL && a->prefix == NULL && strcmp (a->name, "token") == 0
         && g_strcmp0 (el->ns, NS_FAST) == 0;
}

static gboolean
is_xml_space (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* In the start tag buf[from, to), the span of the unprefixed attribute
 * name's value (between the quotes). The tag is well-formed: expat read it. */
static gboolean
find_attr_value (const char *buf, gsize from, gsize to, const char *name,
                 gsize *vstart, gsize *vend)
{
  gsize nlen = strlen (name), i = from + 1;

  while (i < to && !is_xml_space (buf[i]) && buf[i] != '>' && buf[i] != '/')
    i++; /* the element's name */
  while (i < to)
    {
      gsize a0, a1;
      char q;

      while (i < to && is_xml_space (buf[i]))
        i++;
      a0 = i;
      while (i < to && buf[i] != '=' && !is_xml_space (buf[i]) && buf[i] != '>')
        i++;
      a1 = i;
      while (i < to && (is_xml_space (buf[i]) || buf[i] == '='))
        i++;
      if (i >= to || (buf[i] != '\'' && buf[i] != '"'))
        return FALSE;
      q = buf[i++];
      *vstart = i;
      while (i < to && buf[i] != q)
        i++;
      *vend = i++;
      if (a1 - a0 == nlen && memcmp (buf + a0, name, nlen) == 0)
        return TRUE;
    }
  return FALSE;
}

static gsize
redact_node (const XmNode *el, GString *out)
{
  gsize n = 0;

  if (xm_node_is_secret (el) && el->content_end > el->content_start
      && el->content_end <= out->len)
    {
      /* Whitespace stays: a blank payload prints as an empty element, and
       * must from the recording too. */
      for (gsize i = el->content_start; i < el->content_end; i++)
        if (!is_xml_space (out->str[i]))
          {
            out->str[i] = '*';
            n++;
          }
    }
  for (guint i = 0; i < el->n_attrs; i++)
    {
      gsize v0, v1;

      if (xm_attr_is_secret (el, &el->attrs[i])
          && find_attr_value (out->str, el->tag_start, el->content_start,
                              el->attrs[i].name, &v0, &v1))
        {
          memset (out->str + v0, '*', v1 - v0);
          n += v1 - v0;
        }
    }
  for (const XmNode *c = el->children; c; c = c->next)
    if (c->type == XM_NODE_ELEMENT)
      n += redact_node (c, out);
  return n;
}

/* Cheap test first: most stanzas hold no secret, and then nothing is
 * copied. */
static gboolean
has_secret (const XmNode *el)
{
  if (xm_node_is_secret (el))
    return TRUE;
  for (guint i = 0; i < el->n_attrs; i++)
    if (xm_attr_is_secret (el, &el->attrs[i]))
      return TRUE;
  for (const XmNode *c = el->children; c; c = c->next)
    if (c->type == XM_NODE_ELEMENT && has_secret (c))
      return TRUE;
  return FALSE;
}

gsize
xm_stanza_redact (const XmStanza *stanza, GString *out)
{
  gsize base = out->len, n;
  GString view;

  if (stanza->root == NULL || stanza->raw == NULL || !has_secret (stanza->root))
    return 0;
  g_string_append_len (out, (const char *) stanza->raw, stanza->raw_len);
  /* Offsets are relative to the stanza: work on a view of the copy. */
  view.str = out->str + base;
  view.len = stanza->raw_len;
  view.allocated_len = view.len + 1;
  n = redact_node (stanza->root, &view);
  if (n == 0)
    g_string_truncate (out, base);
  return n;
}
