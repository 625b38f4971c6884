/* sasl-fields.c: the building blocks of a decode: escaping to printable
 * UTF-8, fields, notes, and base64 checked the way RFC 6120 §6.3.5 wants.
 *
 * Everything that ends up in a field or note passes through
 * xm_sasl_escape(), so a decode prints on one line whatever the peer sent. */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "sasl-private.h"

void
xm_sasl_escape (GString *out, const char *data, gsize len, guint flags)
{
  const char *p = data;
  const char *end = data + len;

  while (p < end)
    {
      guchar c = (guchar) *p;
      gunichar u;
      const char *next;

      if (c < 0x80)
        {
          if (c == '\n')
            g_string_append (out, "\\n");
          else if (c == '\r')
            g_string_append (out, "\\r");
          else if (c == '\t')
            g_string_append (out, "\\t");
          else if (c == '\\' && (flags & XM_SASL_ESC_BACKSLASH))
            g_string_append (out, "\\\\");
          else if (c == '\'' && (flags & XM_SASL_ESC_QUOTE))
            g_string_append (out, "\\'");
          else if (c < 0x20 || c == 0x7f)
            g_string_append_printf (out, "\\x%02x", c);
          else
            g_string_append_c (out, (char) c);
          p++;
          continue;
        }
      u = g_utf8_get_char_validated (p, end - p);
      if (u == (gunichar) -1 || u == (gunichar) -2)
        {
          g_string_append_printf (out, "\\x%02x", c);
          p++;
          continue;
        }
      next = g_utf8_next_char (p);
      /* C1 controls, format characters (bidi overrides) and the Unicode
       * line and paragraph separators would garble a one-line display. */
      if (!g_unichar_isprint (u)
          || g_unichar_type (u) == G_UNICODE_LINE_SEPARATOR
          || g_unichar_type (u) == G_UNICODE_PARAGRAPH_SEPARATOR)
        g_string_append_printf (out, u > 0xffff ? "\\U%08X" : "\\u%04X", u);
      else
        g_string_append_len (out, p, next - p);
      p = next;
    }
}

char *
xm_sasl_excerpt (const char *data, gsize len, gsize max)
{
  GString *s = g_string_new (NULL);

  xm_sasl_escape (s, data, MIN (len, max), XM_SASL_ESC_BACKSLASH);
  if (len > max)
    g_string_append (s, "...");
  return g_string_free (s, FALSE);
}

void
xm_sasl_note (XmSaslDecode *d, const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  g_ptr_array_add (d->notes, g_strdup_vprintf (format, ap));
  va_end (ap);
}

static XmSaslField *
field_add (XmSaslDecode *d, const char *name, char *value, gsize raw_len,
           gboolean secret, gboolean binary)
{
  XmSaslField *f = g_new0 (XmSaslField, 1);

  f->name = g_strdup (name);
  f->value = value;
  f->raw_len = raw_len;
  f->secret = secret;
  f->binary = binary;
  g_ptr_array_add (d->fields, f);
  return f;
}

XmSaslField *
xm_sasl_field (XmSaslDecode *d, const char *name, const char *data, gsize len,
               gboolean secret)
{
  GString *s = g_string_sized_new (len);

  xm_sasl_escape (s, data, len, XM_SASL_ESC_BACKSLASH);
  return field_add (d, name, g_string_free (s, FALSE), len, secret, FALSE);
}

XmSaslField *
xm_sasl_field_str (XmSaslDecode *d, const char *name, const char *str,
                   gboolean secret)
{
  return xm_sasl_field (d, name, str, strlen (str), secret);
}

XmSaslField *
xm_sasl_field_hex (XmSaslDecode *d, const char *name, const guint8 *data,
                   gsize len, gboolean secret)
{
  static const char digits[] = "0123456789abcdef";
  char *hex = g_malloc (len * 2 + 1);

  for (gsize i = 0; i < len; i++)
    {
      hex[2 * i] = digits[data[i] >> 4];
      hex[2 * i + 1] = digits[data[i] & 0xf];
    }
  hex[len * 2] = '\0';
  return field_add (d, name, hex, len, secret, TRUE);
}

static gboolean
is_printable_text (const guint8 *data, gsize len)
{
  const char *p = (const char *) data;
  const char *end = p + len;

  if (!g_utf8_validate_len (p, len, NULL))
    return FALSE;
  for (; p < end; p = g_utf8_next_char (p))
    {
      gunichar u = g_utf8_get_char (p);
      if (u == '\t' || u == '\n' || u == '\r')
        continue;
      if (!g_unichar_isprint (u))
        return FALSE;
    }
  return TRUE;
}

XmSaslField *
xm_sasl_field_data (XmSaslDecode *d, const char *name, const guint8 *data,
                    gsize len, gboolean secret)
{
  if (is_printable_text (data, len))
    return xm_sasl_field (d, name, (const char *) data, len, secret);
  return xm_sasl_field_hex (d, name, data, len, secret);
}

/* ------------------------------------------------------------------------ */
/* Base64 (RFC 4648 §4, RFC 6120 §6.3.5)                                     */
/* ------------------------------------------------------------------------ */

static int
b64_value (guchar c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

GByteArray *
xm_sasl_base64_decode (XmSaslDecode *d, const char *what, const char *text,
                       gsize len)
{
  GByteArray *out = g_byte_array_sized_new (len / 4 * 3 + 3);
  gsize start = 0, end = len;
  gsize n_data = 0, n_pad = 0, n_bad = 0, first_bad = 0;
  gboolean space_inside = FALSE, data_after_pad = FALSE;
  guint32 acc = 0;
  guint bits = 0;

  while (start < end && xm_sasl_is_space (text[start]))
    start++;
  while (end > start && xm_sasl_is_space (text[end - 1]))
    end--;

  for (gsize i = start; i < end; i++)
    {
      int v = b64_value ((guchar) text[i]);

      if (v >= 0)
        {
          data_after_pad |= n_pad > 0;
          acc = (acc << 6) | (guint32) v;
          bits += 6;
          n_data++;
          if (bits >= 8)
            {
              guint8 byte = (acc >> (bits - 8)) & 0xff;
              g_byte_array_append (out, &byte, 1);
              bits -= 8;
              acc &= (1u << bits) - 1;
            }
        }
      else if (text[i] == '=')
        n_pad++;
      else if (xm_sasl_is_space (text[i]))
        space_inside = TRUE;
      else if (n_bad++ == 0)
        first_bad = i;
    }

  if (space_inside)
    xm_sasl_note (d, "%s: whitespace inside the base64 data (RFC 6120 §6.3.5 "
                  "forbids it); decoded without it", what);
  else if (start > 0 || end < len)
    xm_sasl_note (d, "%s: whitespace around the base64 data (RFC 6120 §6.3.5 "
                  "forbids whitespace); ignored", what);
  if (n_bad > 0)
    {
      g_autofree char *c = xm_sasl_excerpt (text + first_bad, 1, 1);
      xm_sasl_note (d, "%s: %" G_GSIZE_FORMAT " invalid base64 character%s, "
                    "the first '%s' at offset %" G_GSIZE_FORMAT
                    " (RFC 4648 §4); decoded ignoring %s", what, n_bad,
                    n_bad > 1 ? "s" : "", c, first_bad - start,
                    n_bad > 1 ? "them" : "it");
    }
  /* Padding: a last quantum of 2 or 3 characters takes "==" or "=". */
  if (data_after_pad)
    xm_sasl_note (d, "%s: base64 data after '=' padding (RFC 4648 §3.3)", what);
  else if (n_data % 4 == 1)
    xm_sasl_note (d, "%s: bad base64 length: %" G_GSIZE_FORMAT " characters "
                  "leave one that encodes no whole byte (RFC 4648 §4); "
                  "it is dropped", what, n_data);
  else if ((n_data + n_pad) % 4 != 0 || n_pad > 2
           || (n_pad > 0 && 4 - n_data % 4 != n_pad))
    xm_sasl_note (d, "%s: bad base64 padding: %" G_GSIZE_FORMAT " characters "
                  "with %" G_GSIZE_FORMAT " '=' (RFC 4648 §4 wants %"
                  G_GSIZE_FORMAT ")", what, n_data, n_pad,
                  (4 - n_data % 4) % 4);
  else if (acc != 0)
    xm_sasl_note (d, "%s: base64 padding bits are not zero (RFC 4648 §3.5)",
                  what);
  return out;
}

