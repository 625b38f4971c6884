/* xml-scan.c: find the end of one stanza at memory speed (see xml-scan.h).
 *
 * The scanner resumes at token boundaries: when the bytes run out inside a
 * tag, an entity or a UTF-8 sequence, it stops before it and reads it again
 * next time (tags are capped at XM_SCAN_MAX_TAG, so this stays linear).
 * Text, where nearly all the bytes of a stanza are, is one table lookup per
 * byte. */
#include "config.h"

#include <string.h>

#include "xml-scan.h"

#define XML_NS "http://www.w3.org/XML/1998/namespace"
#define XMLNS_NS "http://www.w3.org/2000/xmlns/"
#define MAX_ATTRS 16

/* Byte classes in text and attribute values. */
enum { C_TEXT, C_LT, C_AMP, C_GT, C_HIGH, C_CTRL, C_QUOTE };

static const guint8 text_class[256] = {
  [0x00 ... 0x08] = C_CTRL, [0x0b ... 0x0c] = C_CTRL, [0x0e ... 0x1f] = C_CTRL,
  ['<'] = C_LT, ['&'] = C_AMP, ['>'] = C_GT, [0x80 ... 0xff] = C_HIGH,
};

static const guint8 value_class[256] = {
  [0x00 ... 0x08] = C_CTRL, [0x0b ... 0x0c] = C_CTRL, [0x0e ... 0x1f] = C_CTRL,
  ['<'] = C_LT, ['&'] = C_AMP, ['"'] = C_QUOTE, ['\''] = C_QUOTE,
  [0x80 ... 0xff] = C_HIGH,
};

/* Name characters: 1 may start a name, 2 only continue one. Non-ASCII
 * bytes (3) may be name characters, which this scanner leaves to expat. */
enum { N_NO, N_START, N_MORE, N_HIGH, N_COLON };

static const guint8 name_class[256] = {
  ['A' ... 'Z'] = N_START, ['a' ... 'z'] = N_START, ['_'] = N_START,
  ['0' ... '9'] = N_MORE, ['.'] = N_MORE, ['-'] = N_MORE,
  [':'] = N_COLON, [0x80 ... 0xff] = N_HIGH,
};

/* Inside tags: the name characters of the common case (letters, digits,
 * '.', '-', '_') and white space, one table test each. */
enum { T_NAME = 1, T_SPACE = 2 };

static const guint8 tag_class[256] = {
  ['A' ... 'Z'] = T_NAME, ['a' ... 'z'] = T_NAME, ['_'] = T_NAME,
  ['0' ... '9'] = T_NAME, ['.'] = T_NAME, ['-'] = T_NAME,
  [' '] = T_SPACE, ['\n'] = T_SPACE, ['\t'] = T_SPACE, ['\r'] = T_SPACE,
};

static inline gboolean
is_space (guint8 c)
{
  return tag_class[c] & T_SPACE;
}

/* Past the white space at p, if any. */
static inline const guint8 *
skip_space (const guint8 *p, const guint8 *e)
{
  while (p < e && is_space (*p))
    p++;
  return p;
}

/* Past the name characters of the common case at p: four at a time while
 * four are there, a bound check per four (names are a few bytes, too short
 * for vectors to pay off). */
static inline __attribute__ ((always_inline)) const guint8 *
skip_name_chars (const guint8 *p, const guint8 *e)
{
  for (; e - p >= 4; p += 4)
    {
      if (!(tag_class[p[0]] & T_NAME))
        return p;
      if (!(tag_class[p[1]] & T_NAME))
        return p + 1;
      if (!(tag_class[p[2]] & T_NAME))
        return p + 2;
      if (!(tag_class[p[3]] & T_NAME))
        return p + 3;
    }
  while (p < e && (tag_class[*p] & T_NAME))
    p++;
  return p;
}

static gboolean
is_xml_char (guint32 v)
{
  return v == 0x9 || v == 0xa || v == 0xd || (v >= 0x20 && v <= 0xd7ff)
         || (v >= 0xe000 && v <= 0xfffd) || (v >= 0x10000 && v <= 0x10ffff);
}

int
xm_utf8_decode (const guint8 *p, const guint8 *e, guint32 *cp)
{
  guint8 c = p[0];
  guint32 v;
  int n;

  if (c >= 0xc2 && c <= 0xdf)
    n = 2, v = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3, v = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4, v = c & 0x07;
  else
    return 0;
  for (int i = 1; i < n; i++)
    {
      if (p + i >= e)
        return -1;
      if ((p[i] & 0xc0) != 0x80)
        return 0;
      v = v << 6 | (p[i] & 0x3f);
    }
  if ((n == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff)))
      || (n == 4 && (v < 0x10000 || v > 0x10ffff)))
    return 0;
  *cp = v;
  return n;
}

/* A UTF-8 sequence of an XML character at p: its length, 0 if invalid, -1
 * if it may be valid but is cut short by e. */
static int
utf8_char (const guint8 *p, const guint8 *e)
{
  guint32 v = 0;
  int n = xm_utf8_decode (p, e, &v);

  return n > 0 && !is_xml_char (v) ? 0 : n;
}

/* A character reference's value, or G_MAXUINT32 if it is not one. */
static guint32
char_ref (const guint8 *name, gsize len)
{
  guint32 v = 0;
  gsize i = 1;
  gboolean hex = len > 1 && name[1] == 'x';

  if (len < 2 || name[0] != '#')
    return G_MAXUINT32;
  if (hex)
    i = 2;
  if (i == len || len - i > (hex ? 6u : 7u))
    return G_MAXUINT32;
  for (; i < len; i++)
    {
      guint8 c = name[i];
      if (c >= '0' && c <= '9')
        v = v * (hex ? 16 : 10) + (c - '0');
      else if (hex && c >= 'a' && c <= 'f')
        v = v * 16 + (c - 'a' + 10);
      else if (hex && c >= 'A' && c <= 'F')
        v = v * 16 + (c - 'A' + 10);
      else
        return G_MAXUINT32;
    }
  return is_xml_char (v) ? v : G_MAXUINT32;
}

/* The predefined entity or character reference at p ('&'): its length
 * through ';', 0 if it is none (expat would refuse it), -1 if cut short. */
static int
entity (const guint8 *p, const guint8 *e, guint32 *value)
{
  gsize avail = e - p, max = MIN (avail, 12), i;
  const guint8 *name = p + 1;
  gsize len;
  guint32 v;

  for (i = 1; i < max && p[i] != ';'; i++)
    {
      guint8 c = p[i];

      if (p[1] == '#')
        {
          /* expat refuses a bad character reference at its first bad byte */
          gboolean hex = i > 2 && p[2] == 'x';
          if (!(i == 1 || (i == 2 && c == 'x') || g_ascii_isdigit (c)
                || (hex && g_ascii_isxdigit (c))))
            return 0;
        }
      else if (name_class[c] != N_START && (i == 1 || name_class[c] != N_MORE))
        return 0; /* not a name: expat refuses it at this byte */
    }
  if (i >= max)
    return avail < 12 ? -1 : 0;
  len = i - 1;
  if (len == 2 && name[1] == 't' && (name[0] == 'l' || name[0] == 'g'))
    v = name[0] == 'l' ? '<' : '>';
  else if (len == 3 && memcmp (name, "amp", 3) == 0)
    v = '&';
  else if (len == 4 && memcmp (name, "quot", 4) == 0)
    v = '"';
  else if (len == 4 && memcmp (name, "apos", 4) == 0)
    v = '\'';
  else if ((v = char_ref (name, len)) == G_MAXUINT32)
    return 0;
  if (value)
    *value = v;
  return (int) i + 1;
}

/* A '&' or a non-ASCII byte at p, in text or an attribute value: how many
 * bytes it takes, -1 if e cuts it short. What is no predefined reference or
 * no UTF-8 XML character makes the element not plain (expat's to judge),
 * and counts one byte. */
static int
reference_or_char (XmScan *s, const guint8 *p, const guint8 *e)
{
  int n = *p == '&' ? entity (p, e, NULL) : utf8_char (p, e);

  if (n == 0)
    {
      s->plain = FALSE;
      n = 1;
    }
  return n;
}

void
xm_scan_init (XmScan *s)
{
  memset (s, 0, sizeof *s);
  s->plain = TRUE;
}

void
xm_scan_clear (XmScan *s)
{
  g_free (s->stack);
  xm_scan_init (s);
}

static void
reset_element (XmScan *s)
{
  s->pos = 0;
  s->depth = 0;
  s->root_end = 0;
  s->plain = TRUE;
  s->secret = FALSE;
}

gboolean
xm_scan_is_plain (const XmScan *s)
{
  return s->plain;
}

static void
push (XmScan *s, gsize off, gsize len)
{
  if (s->depth >= s->stack_size)
    {
      s->stack_size = MAX (16u, s->stack_size * 2);
      s->stack = g_renew (guint32, s->stack, 2 * s->stack_size);
    }
  s->stack[2 * s->depth] = (guint32) off;
  s->stack[2 * s->depth + 1] = (guint32) len;
  s->depth++;
}

typedef enum { TAG_OK, TAG_MORE, TAG_GIVE_UP } TagResult;

/* Whether a[0..n) and b[0..n) are equal: names are a few bytes, shorter
 * than a call to memcmp costs. */
static inline gboolean
same_bytes (const guint8 *a, const guint8 *b, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (a[i] != b[i])
      return FALSE;
  return TRUE;
}

/* A name's first eight bytes (fewer if it is shorter) as a number: equal
 * names have equal keys, and names of up to eight bytes with equal keys
 * and lengths are equal. One load where e leaves eight bytes to read, the
 * bytes one by one where it does not. */
static inline guint64
name_key (const guint8 *n, gsize len, const guint8 *e)
{
  guint64 key = 0;

  if (e - n >= 8)
    {
      memcpy (&key, n, 8);
      key = GUINT64_FROM_LE (key);
      return len >= 8 ? key : key & ((G_GUINT64_CONSTANT (1) << (8 * len)) - 1);
    }
  for (gsize i = 0; i < MIN (len, 8u); i++)
    key |= (guint64) n[i] << (8 * i);
  return key;
}

/* Whether the n bytes at a and at b (both before e) are equal: one compare
 * for names of up to eight bytes. */
static inline gboolean
same_name (const guint8 *a, const guint8 *b, gsize n, const guint8 *e)
{
  return n <= 8 ? name_key (a, n, e) == name_key (b, n, e) : same_bytes (a, b, n);
}

/* A name at *q: advances past it; sets *colon to its colon, if any. A name
 * expat would refuse as soon as it is read (two colons, nothing after the
 * colon) or one with non-ASCII characters is a give-up. */
static inline __attribute__ ((always_inline)) TagResult
name (const guint8 **q, const guint8 *e, const guint8 **colon)
{
  const guint8 *p = *q;
  guint8 k;

  if (p >= e)
    return TAG_MORE;
  /* Non-ASCII names are XML, but rare enough in XMPP to leave to expat. */
  if (name_class[*p] != N_START)
    return TAG_GIVE_UP;
  *colon = NULL;
  for (;;)
    {
      p = skip_name_chars (p, e);
      if (p >= e || (k = name_class[*p]) == N_NO)
        break;
      if (k == N_COLON && (p + 1 < e && name_class[p[1]] != N_START))
        return TAG_GIVE_UP; /* no local name after the colon: expat's error */
      if (k == N_COLON && *colon == NULL)
        *colon = p;
      else if (k == N_COLON)
        return TAG_GIVE_UP; /* two colons: expat's error, at once */
      else if (k == N_HIGH)
        return TAG_GIVE_UP;
      p++;
    }
  if (p >= e)
    return TAG_MORE;
  *q = p;
  return TAG_OK;
}

/* An attribute value from just past its opening quote: advances past the
 * closing quote. */
static inline __attribute__ ((always_inline)) TagResult
value (XmScan *s, const guint8 **q, const guint8 *e, guint8 quote, gboolean *amp)
{
  const guint8 *p = *q;
  int n;

  for (;;)
    {
      p = xm_skip_plain (p, e, '<', '&', (char) quote);
      while (p < e && value_class[*p] == C_TEXT)
        p++;
      if (p >= e)
        return TAG_MORE;
      switch (value_class[*p])
        {
        case C_QUOTE:
          if (*p++ == quote)
            {
              *q = p;
              return TAG_OK;
            }
          break;
        case C_AMP:
        case C_HIGH:
          *amp = *amp || *p == '&';
          if ((n = reference_or_char (s, p, e)) < 0)
            return TAG_MORE;
          p += n;
          break;
        default: /* '<' or a control character: expat's error */
          s->plain = FALSE;
          p++;
          break;
        }
    }
}

/* The start tag at *q ('<'): advances past it, pushes its name unless it
 * is empty (<x/>), sets *empty. */
static TagResult
start_tag (XmScan *s, const guint8 *buf, const guint8 **q, const guint8 *e,
           gboolean root, gboolean *empty)
{
  const guint8 *name_start = *q + 1, *p = name_start, *colon;
  const guint8 *attr[MAX_ATTRS];
  guint64 attr_key[MAX_ATTRS];
  gsize attr_len[MAX_ATTRS];
  guint n_attrs = 0;
  gsize name_len;
  TagResult r;

  if ((r = name (&p, e, &colon)) != TAG_OK)
    return r;
  name_len = p - name_start;
  if (root)
    {
      s->root_name_len = name_len;
      s->root_xmlns = 0;
      const guint8 *local = colon ? colon + 1 : name_start;
      /* A stream header where a stanza should be: the stream restarted. */
      if (p - local == 6 && memcmp (local, "stream", 6) == 0)
        return TAG_GIVE_UP;
    }
  if (colon)
    s->plain = FALSE;
  else if (!root && name_len == 8 && memcmp (name_start, "password", 8) == 0)
    s->secret = TRUE;

  for (;;)
    {
      const guint8 *an;
      gboolean spaced = FALSE, amp = FALSE;
      guint8 quote;
      gsize alen;

      if (p < e && is_space (*p))
        p = skip_space (p + 1, e), spaced = TRUE;
      if (p >= e)
        return TAG_MORE;
      if (*p == '>' || *p == '/')
        {
          *empty = *p == '/';
          if (*empty)
            {
              if (p + 1 >= e)
                return TAG_MORE;
              if (p[1] != '>')
                return TAG_GIVE_UP;
              p++;
            }
          p++;
          break;
        }
      if (!spaced)
        return TAG_GIVE_UP;
      an = p;
      if ((r = name (&p, e, &colon)) != TAG_OK)
        return r;
      alen = p - an;
      /* xmlns:p declarations, prefixes other than xml: (known before the
       * rest of the tag, so that an unfinished one is not waited for as
       * plain: expat judges the name as soon as it is complete) */
      if ((colon && !(colon - an == 3 && memcmp (an, "xml", 3) == 0)))
        s->plain = FALSE;
      if (e - p >= 2 && p[0] == '=' && (p[1] == '\'' || p[1] == '"'))
        p++; /* the common case: name='value' */
      else
        {
          p = skip_space (p, e);
          if (p >= e)
            return TAG_MORE;
          if (*p != '=')
            return TAG_GIVE_UP;
          p = skip_space (p + 1, e);
          if (p >= e)
            return TAG_MORE;
          if (*p != '"' && *p != '\'')
            return TAG_GIVE_UP;
        }
      quote = *p++;
      {
        const guint8 *v = p;
        if ((r = value (s, &p, e, quote, &amp)) != TAG_OK)
          return r;
        if (alen == 5 && memcmp (an, "xmlns", 5) == 0)
          {
            gsize vlen = p - 1 - v;
            if (root)
              {
                s->root_xmlns = v - buf;
                s->root_xmlns_len = vlen;
              }
            /* Reserved URIs are expat's errors; escaped URIs are rare
             * enough to leave to expat. */
            if (amp || (vlen == strlen (XML_NS) && memcmp (v, XML_NS, vlen) == 0)
                || (vlen == strlen (XMLNS_NS) && memcmp (v, XMLNS_NS, vlen) == 0))
              s->plain = FALSE;
            else if (vlen == 13 && memcmp (v, "jabber:x:data", 13) == 0)
              s->secret = TRUE;
          }
      }
      if (n_attrs == MAX_ATTRS)
        s->plain = FALSE;
      else
        {
          guint64 key = name_key (an, alen, e);

          for (guint i = 0; i < n_attrs; i++)
            if (attr_key[i] == key && attr_len[i] == alen
                && (alen <= 8 || same_bytes (attr[i] + 8, an + 8, alen - 8)))
              s->plain = FALSE;
          attr[n_attrs] = an;
          attr_key[n_attrs] = key;
          attr_len[n_attrs++] = alen;
        }
    }
  if (!*empty)
    push (s, name_start - buf, name_len);
  *q = p;
  return TAG_OK;
}

/* The end tag at *q ("</"): advances past it and pops, or gives up when it
 * does not close the innermost open element (whose name was checked when
 * it was opened, so matching it byte for byte checks this one). */
static TagResult
end_tag (XmScan *s, const guint8 *buf, const guint8 **q, const guint8 *e)
{
  const guint8 *p = *q + 2;
  gsize off = s->stack[2 * (s->depth - 1)];
  gsize len = s->stack[2 * (s->depth - 1) + 1];
  gsize avail = (gsize) (e - p);

  if (!same_name (p, buf + off, MIN (avail, len), e))
    return TAG_GIVE_UP;
  if (avail <= len)
    return TAG_MORE;
  p += len;
  if (name_class[*p] != N_NO)
    return TAG_GIVE_UP; /* a longer name */
  p = skip_space (p, e);
  if (p >= e)
    return TAG_MORE;
  if (*p != '>')
    return TAG_GIVE_UP;
  s->depth--;
  *q = p + 1;
  return TAG_OK;
}

static XmScanResult
tag_more (XmScan *s, const guint8 *buf, const guint8 *tag, const guint8 *e)
{
  if ((gsize) (e - tag) > XM_SCAN_MAX_TAG)
    return XM_SCAN_GIVE_UP;
  s->pos = tag - buf;
  return XM_SCAN_MORE;
}

XmScanResult
xm_scan_element (XmScan *s, const guint8 *buf, gsize len, gsize *end)
{
  const guint8 *p = buf + s->pos, *e = buf + len;
  TagResult r;
  int n;

  g_return_val_if_fail (len > 0 && buf[0] == '<', XM_SCAN_GIVE_UP);
  if (s->pos == 0)
    {
      gboolean empty = FALSE;

      s->plain = TRUE;
      s->secret = FALSE;
      s->root_end = 0;
      r = start_tag (s, buf, &p, e, TRUE, &empty);
      if (r == TAG_MORE)
        return tag_more (s, buf, buf, e);
      if (r == TAG_GIVE_UP)
        goto give_up;
      s->root_end = p - buf;
      if (empty)
        goto done;
    }

  for (;;)
    {
      p = xm_skip_plain (p, e, '<', '&', '>');
      while (p < e && text_class[*p] == C_TEXT)
        p++;
      if (p >= e)
        {
          s->pos = p - buf;
          return XM_SCAN_MORE;
        }
      switch (text_class[*p])
        {
        case C_GT:
          /* "]]>" may not appear in text (XML 1.0 §2.4) */
          if (p[-1] == ']' && p[-2] == ']')
            s->plain = FALSE;
          p++;
          break;
        case C_AMP:
        case C_HIGH:
          if ((n = reference_or_char (s, p, e)) < 0)
            goto more;
          p += n;
          break;
        case C_CTRL:
          s->plain = FALSE;
          p++;
          break;
        case C_LT:
          {
            const guint8 *tag = p;
            gboolean empty = FALSE;

            if (p + 1 >= e)
              goto more;
            if (p[1] == '/')
              r = end_tag (s, buf, &p, e);
            else if (p[1] == '!' || p[1] == '?')
              r = TAG_GIVE_UP; /* comment, CDATA, PI, DOCTYPE */
            else
              r = start_tag (s, buf, &p, e, FALSE, &empty);
            if (r == TAG_MORE)
              return tag_more (s, buf, tag, e);
            /* an element at level depth + 1, empty or not */
            if (r == TAG_GIVE_UP || s->depth + (empty ? 1 : 0) > XM_SCAN_MAX_DEPTH)
              goto give_up;
            if (s->depth == 0)
              goto done;
          }
          break;
        }
    }

more:
  s->pos = p - buf;
  return XM_SCAN_MORE;

done:
  *end = p - buf;
  s->pos = 0;
  s->depth = 0;
  return XM_SCAN_DONE;

give_up:
  reset_element (s);
  return XM_SCAN_GIVE_UP;
}

/* ---- the root of a plain element ---- */

XmNode *
xm_scan_build_root (const XmScan *scan, XmStanza *st, const guint8 *buf,
                    gsize len, const char *default_ns)
{
  XmNode *el = xm_stanza_alloc (st, sizeof (XmNode));

  el->type = XM_NODE_ELEMENT;
  el->name = xm_stanza_strndup (st, (const char *) buf + 1, scan->root_name_len);
  if (scan->root_xmlns)
    {
      const char *uri = xm_stanza_strndup (st, (const char *) buf + scan->root_xmlns,
                                           scan->root_xmlns_len);
      el->n_ns_decls = 1;
      el->ns_decls = xm_stanza_alloc (st, sizeof (XmNsDecl));
      el->ns_decls[0].uri = uri;
      el->ns = *uri ? uri : NULL;
    }
  else if (default_ns)
    el->ns = xm_stanza_strndup (st, default_ns, strlen (default_ns));
  el->content_start = el->content_end = scan->root_end;
  if (scan->root_end < len)
    {
      /* content ends where the end tag (the last '<') begins */
      const guint8 *lt = buf + len - 1;
      while (*lt != '<')
        lt--;
      el->content_end = lt - buf;
    }
  return el;
}
