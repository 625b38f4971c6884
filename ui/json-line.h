/* json-line.h: one line of a JSON Lines file (a recording), parsed fast.
 *
 * json-glib builds a hash table per object and a GObject per parse: most
 * of the time `xmitm show` spent on a long recording. This parser reads
 * strict JSON (RFC 8259) into a flat array of values, the strings pointing
 * into the line where they need no unescaping. Whatever it is not sure to
 * read exactly as json-glib does (numbers with a fraction or an exponent
 * or of more than 18 digits, leading zeros, \u0000, lone surrogates,
 * control characters or bad UTF-8 in strings, nesting deeper than 64, any
 * syntax error) it hands to json-glib, whose result or error is then the
 * answer: a line means the same as it always did, and a damaged line gets
 * json-glib's message. Duplicate members: the last one counts, as in
 * json-glib. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  XM_JSON_NULL,
  XM_JSON_BOOL,
  XM_JSON_INT,
  XM_JSON_DOUBLE,
  XM_JSON_STRING,
  XM_JSON_ARRAY,
  XM_JSON_OBJECT,
} XmJsonType;

typedef struct {
  XmJsonType type;
  const char *key;   /* in an object: the member's name */
  const char *str;   /* STRING: NUL-terminated (no NUL inside) */
  gint64 i;          /* INT; BOOL: 0 or 1 */
  double d;          /* DOUBLE */
  guint child;       /* ARRAY, OBJECT: the first element or member, 0 if none */
  guint next;        /* the next element or member, 0 if none */
} XmJsonValue;

typedef struct _XmJsonLine XmJsonLine;

XmJsonLine *xm_json_line_new (void);
void xm_json_line_free (XmJsonLine *jl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmJsonLine, xm_json_line_free)

/* Parses line[0..len) (no newline; NUL bytes make it invalid). The line is
 * borrowed until the next parse, and may be changed meanwhile (strings are
 * terminated where they are). Returns the root value, valid until the
 * next parse, or NULL with error (json-glib's message) if the line is not
 * JSON. */
const XmJsonValue *xm_json_line_parse (XmJsonLine *jl, char *line, gsize len,
                                       GError **error);

/* The member name of object (the last one of that name), or NULL; NULL if
 * object is NULL or not an object. */
const XmJsonValue *xm_json_member (const XmJsonLine *jl, const XmJsonValue *object,
                                   const char *name);
/* The elements of an array (or the members of an object): first, then
 * next until NULL. */
const XmJsonValue *xm_json_first (const XmJsonLine *jl, const XmJsonValue *v);
const XmJsonValue *xm_json_next (const XmJsonLine *jl, const XmJsonValue *v);

/* For tests: TRUE if json-glib read the last line; the same parse by
 * json-glib alone; whether two parses mean the same (the same type and
 * value, every member name found with equal values in both, the same
 * elements in the same order). */
gboolean xm_json_line_fell_back (const XmJsonLine *jl);
const XmJsonValue *xm_json_line_parse_glib (XmJsonLine *jl, char *line, gsize len,
                                            GError **error);
gboolean xm_json_equal (const XmJsonLine *a, const XmJsonValue *va,
                        const XmJsonLine *b, const XmJsonValue *vb);

/* A string member of a recording line as xmitm writes it, without a
 * parse: its value with JSON's short escapes undone onto out. FALSE when
 * it cannot be read that simply (absent, given twice, a \uXXXX escape,
 * unterminated): then parse the line. */
gboolean xm_json_line_simple_member (const char *line, gsize len, const char *name,
                                     GString *out);

G_END_DECLS
