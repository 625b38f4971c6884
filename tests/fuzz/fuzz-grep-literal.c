/* fuzz-grep-literal.c: ui/grep-literal.c, the literals a --grep pattern
 * requires, checked against GRegex itself: whenever the pattern matches
 * the subject, the subject holds one of them (in any ASCII case for a
 * (?i) pattern, or holds a non-ASCII character), else a scan would pass
 * over a line that matches. Literals are printable ASCII, at most
 * XM_GREP_MAX_LITERALS. Input: the pattern, a NUL, the subject. */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "grep-literal.h"

static gboolean
holds (const char *subject, gsize len, const GPtrArray *set, gboolean caseless)
{
  for (gsize i = 0; caseless && i < len; i++)
    if ((guchar) subject[i] >= 0x80)
      return TRUE;
  for (guint i = 0; i < set->len; i++)
    {
      const char *lit = set->pdata[i];
      gsize n = strlen (lit);

      for (gsize at = 0; at + n <= len; at++)
        if ((caseless ? g_ascii_strncasecmp (subject + at, lit, n)
                      : strncmp (subject + at, lit, n)) == 0)
          return TRUE;
    }
  return FALSE;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *nul = memchr (data, 0, size);
  g_autofree char *pattern = NULL;
  g_autoptr (GPtrArray) set = NULL;
  g_autoptr (GRegex) re = NULL;
  const char *subject;
  gsize len;
  gboolean caseless;

  fuzz_glib_fatal ();
  /* patterns as long as a command line's, subjects as a few stanzas */
  if (nul == NULL || nul - (const char *) data > 512 || size > 8192)
    return 0;
  pattern = g_strndup ((const char *) data, nul - (const char *) data);
  /* options reach the filter as UTF-8 (GOption converts them); PCRE2
   * reads past the end of some patterns that are not */
  if (!g_utf8_validate (pattern, -1, NULL))
    return 0;
  subject = nul + 1;
  len = size - (nul + 1 - (const char *) data);
  set = xm_grep_literals (pattern, &caseless);
  if (set == NULL)
    return 0;
  if (set->len == 0 || set->len > XM_GREP_MAX_LITERALS)
    abort ();
  for (guint i = 0; i < set->len; i++)
    for (const char *p = set->pdata[i]; *p; p++)
      if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '/')
        abort ();
  /* as filter.c compiles it, and matches only valid UTF-8 */
  re = g_regex_new (pattern, G_REGEX_OPTIMIZE, 0, NULL);
  if (re == NULL || !g_utf8_validate_len (subject, len, NULL))
    return 0;
  if (g_regex_match_full (re, subject, len, 0, 0, NULL, NULL)
      && !holds (subject, len, set, caseless))
    abort ();
  return 0;
}
