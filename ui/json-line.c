/* json-line.c: see json-line.h. */
#include "config.h"

#include <string.h>
#include <json-glib/json-glib.h>

#include "json-line.h"

#define MAX_DEPTH 64
/* More digits may not fit in a gint64: json-glib's answer then. */
#define MAX_DIGITS 18

struct _XmJsonLine {
  GArray *values;      /* XmJsonValue; [0] is unused (0 means none) */
  GString *unescaped;  /* strings with escapes, unescaped; sized so that
                        * it never moves during a parse */
  char *out;           /* where the next unescaped string goes */
  GArray *cut;         /* gsize: where a closing '"' of the line became NUL */
  GStringChunk *copies; /* strings of a line json-glib read */
  JsonParser *parser;
  char *line;
  const char *p, *end;
  gboolean fell_back;
};

XmJsonLine *
xm_json_line_new (void)
{
  XmJsonLine *jl = g_new0 (XmJsonLine, 1);

  jl->values = g_array_new (FALSE, TRUE, sizeof (XmJsonValue));
  jl->unescaped = g_string_new (NULL);
  jl->cut = g_array_new (FALSE, FALSE, sizeof (gsize));
  jl->copies = g_string_chunk_new (4096);
  return jl;
}

void
xm_json_line_free (XmJsonLine *jl)
{
  if (jl == NULL)
    return;
  g_array_unref (jl->values);
  g_string_free (jl->unescaped, TRUE);
  g_array_unref (jl->cut);
  g_string_chunk_free (jl->copies);
  g_clear_object (&jl->parser);
  g_free (jl);
}

/* ---- the fast, strict parser: 0 (or FALSE) means "ask json-glib" ---- */

static guint
new_value (XmJsonLine *jl, XmJsonType type)
{
  XmJsonValue v = { .type = type };

  g_array_append_val (jl->values, v);
  return jl->values->len - 1;
}

#define VAL(jl, i) (&g_array_index ((jl)->values, XmJsonValue, (i)))

static void
skip_space (XmJsonLine *jl)
{
  while (jl->p < jl->end && (*jl->p == ' ' || *jl->p == '\t' || *jl->p == '\r'
                             || *jl->p == '\n'))
    jl->p++;
}

static int
hex4 (const char *p)
{
  int v = 0;

  for (int i = 0; i < 4; i++)
    {
      int d = g_ascii_xdigit_value (p[i]);
      if (d < 0)
        return -1;
      v = v * 16 + d;
    }
  return v;
}

/* The escapes from p (at a '\\') to the closing quote, into jl->out. */
static const char *
unescape (XmJsonLine *jl, const char *start, const char *p, const char **after)
{
  const char *end = jl->end;
  char *o = jl->out, *s = o;
  gboolean high = FALSE;

  memcpy (o, start, p - start);
  o += p - start;
  for (const char *q = start; q < p; q++)
    high |= (guchar) *q >= 0x80;
  while (p < end && *p != '"')
    {
      guchar ch = *p;

      if (ch < 0x20)
        return NULL;
      if (ch != '\\')
        {
          high |= ch >= 0x80;
          *o++ = *p++;
          continue;
        }
      if (end - p < 2)
        return NULL;
      switch (p[1])
        {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u':
          {
            int u = end - p >= 6 ? hex4 (p + 2) : -1;
            gunichar c;

            if (u <= 0 || (u >= 0xdc00 && u <= 0xdfff))
              return NULL; /* \u0000, a lone low surrogate, bad hex */
            c = u;
            if (u >= 0xd800 && u <= 0xdbff)
              {
                int lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4 (p + 8) : -1;

                if (lo < 0xdc00 || lo > 0xdfff)
                  return NULL;
                c = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
              }
            o += g_unichar_to_utf8 (c, o);
            p += 6;
            continue;
          }
        default:
          return NULL;
        }
      p += 2;
    }
  if (p >= end)
    return NULL;
  if (high && !g_utf8_validate_len (s, o - s, NULL))
    return NULL;
  *o++ = '\0';
  jl->out = o;
  *after = p + 1;
  return s;
}

/* A string at jl->p (a '"'): NUL-terminated where it is when it has no
 * escape, else unescaped into jl->unescaped. */
static const char *
parse_string (XmJsonLine *jl)
{
  const char *start = jl->p + 1, *p = start, *end = jl->end;
  gboolean high = FALSE;
  const char *s, *after;

  for (; p < end; p++)
    {
      guchar ch = *p;

      if (ch == '"' || ch == '\\' || ch < 0x20)
        break;
      high |= ch >= 0x80;
    }
  if (p >= end || (guchar) *p < 0x20)
    return NULL;
  if (*p == '"')
    {
      gsize at = p - jl->line;

      if (high && !g_utf8_validate_len (start, p - start, NULL))
        return NULL;
      jl->line[at] = '\0';
      g_array_append_val (jl->cut, at);
      jl->p = p + 1;
      return start;
    }
  s = unescape (jl, start, p, &after);
  if (s)
    jl->p = after;
  return s;
}

static gboolean
delimiter (XmJsonLine *jl)
{
  return jl->p >= jl->end || strchr (" \t\r\n,]}", *jl->p) != NULL;
}

static guint parse_value (XmJsonLine *jl, int depth);

/* An object or an array at jl->p, '{' or '['. */
static guint
parse_container (XmJsonLine *jl, int depth)
{
  gboolean object = *jl->p == '{';
  char close = object ? '}' : ']';
  guint self = new_value (jl, object ? XM_JSON_OBJECT : XM_JSON_ARRAY);
  guint last = 0;

  if (depth >= MAX_DEPTH)
    return 0;
  jl->p++;
  skip_space (jl);
  if (jl->p < jl->end && *jl->p == close)
    {
      jl->p++;
      return self;
    }
  for (;;)
    {
      const char *key = NULL;
      guint v;

      if (object)
        {
          if (jl->p >= jl->end || *jl->p != '"' || (key = parse_string (jl)) == NULL)
            return 0;
          skip_space (jl);
          if (jl->p >= jl->end || *jl->p != ':')
            return 0;
          jl->p++;
          skip_space (jl);
        }
      v = parse_value (jl, depth + 1);
      if (v == 0)
        return 0;
      VAL (jl, v)->key = key;
      if (last)
        VAL (jl, last)->next = v;
      else
        VAL (jl, self)->child = v;
      last = v;
      skip_space (jl);
      if (jl->p >= jl->end)
        return 0;
      if (*jl->p == close)
        {
          jl->p++;
          return self;
        }
      if (*jl->p != ',')
        return 0;
      jl->p++;
      skip_space (jl);
    }
}

static guint
parse_number (XmJsonLine *jl)
{
  const char *p = jl->p, *digits;
  gboolean neg = *p == '-';
  gint64 n = 0;
  guint v;

  if (neg)
    p++;
  digits = p;
  while (p < jl->end && g_ascii_isdigit (*p))
    {
      if (p - digits == MAX_DIGITS)
        return 0; /* more digits than a gint64 surely holds */
      n = n * 10 + (*p++ - '0');
    }
  if (p == digits || (*digits == '0' && p - digits > 1))
    return 0;
  jl->p = p;
  if (!delimiter (jl))
    return 0; /* a fraction, an exponent, or not a number */
  v = new_value (jl, XM_JSON_INT);
  VAL (jl, v)->i = neg ? -n : n;
  return v;
}

static guint
parse_literal (XmJsonLine *jl, const char *word, XmJsonType type, gint64 i)
{
  gsize n = strlen (word);
  guint v;

  if ((gsize) (jl->end - jl->p) < n || memcmp (jl->p, word, n) != 0)
    return 0;
  jl->p += n;
  if (!delimiter (jl))
    return 0;
  v = new_value (jl, type);
  VAL (jl, v)->i = i;
  return v;
}

static guint
parse_value (XmJsonLine *jl, int depth)
{
  const char *s;
  guint v;

  if (jl->p >= jl->end)
    return 0;
  switch (*jl->p)
    {
    case '{':
    case '[':
      return parse_container (jl, depth);
    case '"':
      if ((s = parse_string (jl)) == NULL)
        return 0;
      v = new_value (jl, XM_JSON_STRING);
      VAL (jl, v)->str = s;
      return v;
    case 't':
      return parse_literal (jl, "true", XM_JSON_BOOL, 1);
    case 'f':
      return parse_literal (jl, "false", XM_JSON_BOOL, 0);
    case 'n':
      return parse_literal (jl, "null", XM_JSON_NULL, 0);
    default:
      if (*jl->p == '-' || g_ascii_isdigit (*jl->p))
        return parse_number (jl);
      return 0;
    }
}

/* ---- json-glib, for whatever the fast parser left to it ---- */

static guint
from_node (XmJsonLine *jl, JsonNode *n)
{
  guint v, last = 0;

  switch (json_node_get_node_type (n))
    {
    case JSON_NODE_OBJECT:
      {
        JsonObjectIter it;
        const char *name;
        JsonNode *m;

        v = new_value (jl, XM_JSON_OBJECT);
        json_object_iter_init (&it, json_node_get_object (n));
        while (json_object_iter_next (&it, &name, &m))
          {
            guint c = from_node (jl, m);

            VAL (jl, c)->key = g_string_chunk_insert (jl->copies, name);
            if (last)
              VAL (jl, last)->next = c;
            else
              VAL (jl, v)->child = c;
            last = c;
          }
        return v;
      }
    case JSON_NODE_ARRAY:
      {
        JsonArray *a = json_node_get_array (n);

        v = new_value (jl, XM_JSON_ARRAY);
        for (guint i = 0; i < json_array_get_length (a); i++)
          {
            guint c = from_node (jl, json_array_get_element (a, i));

            if (last)
              VAL (jl, last)->next = c;
            else
              VAL (jl, v)->child = c;
            last = c;
          }
        return v;
      }
    case JSON_NODE_VALUE:
      switch (json_node_get_value_type (n))
        {
        case G_TYPE_INT64:
          v = new_value (jl, XM_JSON_INT);
          VAL (jl, v)->i = json_node_get_int (n);
          return v;
        case G_TYPE_DOUBLE:
          v = new_value (jl, XM_JSON_DOUBLE);
          VAL (jl, v)->d = json_node_get_double (n);
          return v;
        case G_TYPE_BOOLEAN:
          v = new_value (jl, XM_JSON_BOOL);
          VAL (jl, v)->i = json_node_get_boolean (n);
          return v;
        case G_TYPE_STRING:
          v = new_value (jl, XM_JSON_STRING);
          VAL (jl, v)->str = g_string_chunk_insert (jl->copies, json_node_get_string (n));
          return v;
        default:
          break;
        }
      break;
    case JSON_NODE_NULL:
    default:
      break;
    }
  return new_value (jl, XM_JSON_NULL);
}

static const XmJsonValue *
fall_back (XmJsonLine *jl, GError **error)
{
  JsonNode *root;
  guint top;

  /* Put the line back as it was. */
  for (guint i = 0; i < jl->cut->len; i++)
    jl->line[g_array_index (jl->cut, gsize, i)] = '"';
  g_array_set_size (jl->values, 1);
  jl->fell_back = TRUE;
  if (jl->parser == NULL)
    jl->parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (jl->parser, jl->line, jl->end - jl->line, error))
    return NULL;
  root = json_parser_get_root (jl->parser);
  if (root == NULL)
    return NULL; /* nothing but white space */
  top = from_node (jl, root); /* before VAL(): it may move the array */
  return VAL (jl, top);
}

const XmJsonValue *
xm_json_line_parse (XmJsonLine *jl, char *line, gsize len, GError **error)
{
  guint root;

  g_array_set_size (jl->values, 1);
  g_array_set_size (jl->cut, 0);
  g_string_chunk_clear (jl->copies);
  /* Unescaped strings are never longer than the line. */
  g_string_set_size (jl->unescaped, len + 1);
  jl->out = jl->unescaped->str;
  jl->line = line;
  jl->p = line;
  jl->end = line + len;
  jl->fell_back = FALSE;

  if (memchr (line, '\0', len) != NULL)
    return fall_back (jl, error);
  skip_space (jl);
  root = parse_value (jl, 0);
  skip_space (jl);
  if (root == 0 || jl->p != jl->end)
    return fall_back (jl, error);
  return VAL (jl, root);
}

const XmJsonValue *
xm_json_line_parse_glib (XmJsonLine *jl, char *line, gsize len, GError **error)
{
  g_array_set_size (jl->values, 1);
  g_array_set_size (jl->cut, 0);
  g_string_chunk_clear (jl->copies);
  jl->line = line;
  jl->end = line + len;
  return fall_back (jl, error);
}

static gboolean
members_in (const XmJsonLine *a, const XmJsonValue *va, const XmJsonLine *b,
            const XmJsonValue *vb)
{
  for (const XmJsonValue *m = xm_json_first (a, va); m; m = xm_json_next (a, m))
    if (!xm_json_equal (a, xm_json_member (a, va, m->key), b,
                        xm_json_member (b, vb, m->key)))
      return FALSE;
  return TRUE;
}

gboolean
xm_json_equal (const XmJsonLine *a, const XmJsonValue *va, const XmJsonLine *b,
               const XmJsonValue *vb)
{
  const XmJsonValue *x, *y;

  if (va == NULL || vb == NULL)
    return va == vb;
  if (va->type != vb->type)
    return FALSE;
  switch (va->type)
    {
    case XM_JSON_NULL:
      return TRUE;
    case XM_JSON_BOOL:
    case XM_JSON_INT:
      return va->i == vb->i;
    case XM_JSON_DOUBLE:
      return memcmp (&va->d, &vb->d, sizeof va->d) == 0;
    case XM_JSON_STRING:
      return strcmp (va->str, vb->str) == 0;
    case XM_JSON_OBJECT:
      return members_in (a, va, b, vb) && members_in (b, vb, a, va);
    case XM_JSON_ARRAY:
    default:
      for (x = xm_json_first (a, va), y = xm_json_first (b, vb); x && y;
           x = xm_json_next (a, x), y = xm_json_next (b, y))
        if (!xm_json_equal (a, x, b, y))
          return FALSE;
      return x == NULL && y == NULL;
    }
}

gboolean
xm_json_line_fell_back (const XmJsonLine *jl)
{
  return jl->fell_back;
}

const XmJsonValue *
xm_json_member (const XmJsonLine *jl, const XmJsonValue *object, const char *name)
{
  const XmJsonValue *found = NULL;

  if (object == NULL || object->type != XM_JSON_OBJECT)
    return NULL;
  for (guint i = object->child; i; i = VAL (jl, i)->next)
    if (strcmp (VAL (jl, i)->key, name) == 0)
      found = VAL (jl, i);
  return found;
}

const XmJsonValue *
xm_json_first (const XmJsonLine *jl, const XmJsonValue *v)
{
  if (v == NULL || (v->type != XM_JSON_ARRAY && v->type != XM_JSON_OBJECT) || v->child == 0)
    return NULL;
  return VAL (jl, v->child);
}

const XmJsonValue *
xm_json_next (const XmJsonLine *jl, const XmJsonValue *v)
{
  return v && v->next ? VAL (jl, v->next) : NULL;
}

/* The string member name of a recording line as xmitm writes it ("xml",
 * "text"): its value with JSON's short escapes undone onto out. FALSE when
 * it cannot be read that simply: absent, given twice, with a \uXXXX
 * escape (another writer's, or a control character), unterminated. A '"'
 * inside a JSON string is always escaped, so the key's pattern cannot
 * occur inside a value. */
gboolean
xm_json_line_simple_member (const char *line, gsize len, const char *name, GString *out)
{
  g_autofree char *key = g_strdup_printf ("\"%s\":\"", name);
  gsize klen = strlen (key);
  const char *end = line + len, *p = memmem (line, len, key, klen);

  if (p == NULL || memmem (p + klen, end - p - klen, key, klen))
    return FALSE;
  g_string_truncate (out, 0);
  for (p += klen; p < end; p++)
    {
      if (*p == '"')
        return TRUE;
      if (*p != '\\')
        {
          g_string_append_c (out, *p);
          continue;
        }
      if (++p == end)
        return FALSE;
      switch (*p)
        {
        case '"': case '\\': case '/': g_string_append_c (out, *p); break;
        case 'b': g_string_append_c (out, '\b'); break;
        case 'f': g_string_append_c (out, '\f'); break;
        case 'n': g_string_append_c (out, '\n'); break;
        case 'r': g_string_append_c (out, '\r'); break;
        case 't': g_string_append_c (out, '\t'); break;
        default: return FALSE;
        }
    }
  return FALSE;
}
