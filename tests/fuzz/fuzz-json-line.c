/* fuzz-json-line.c: ui/json-line.c, the recording reader's JSON parser,
 * against json-glib on the same line: whatever the fast parser reads
 * itself, json-glib must read too, to a value that means the same
 * (xm_json_equal); anything else it must hand to json-glib. A difference
 * aborts. Input: lines of a file, each parsed alone. */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "json-line.h"

static void
check_line (XmJsonLine *fast, XmJsonLine *slow, const char *data, gsize len)
{
  g_autofree char *a = g_malloc (len + 1);
  g_autofree char *b = g_malloc (len + 1);
  GError *ea = NULL, *eb = NULL;
  const XmJsonValue *va, *vb;

  memcpy (a, data, len);
  memcpy (b, data, len);
  va = xm_json_line_parse (fast, a, len, &ea);
  vb = xm_json_line_parse_glib (slow, b, len, &eb);
  if (!xm_json_line_fell_back (fast))
    {
      /* Read by the fast parser: json-glib agrees. */
      g_assert (va != NULL && ea == NULL);
      g_assert (vb != NULL && eb == NULL);
      g_assert (xm_json_equal (fast, va, slow, vb));
    }
  else
    {
      /* Handed over (the line put back as it was first): the same
       * answer as json-glib's own. */
      g_assert ((va == NULL) == (vb == NULL));
      g_assert ((ea == NULL) == (eb == NULL));
      if (ea)
        g_assert_cmpstr (ea->message, ==, eb->message);
      if (va)
        g_assert (xm_json_equal (fast, va, slow, vb));
    }
  g_clear_error (&ea);
  g_clear_error (&eb);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (XmJsonLine) fast = NULL;
  g_autoptr (XmJsonLine) slow = NULL;
  const char *p = (const char *) data, *end = p + size;

  fuzz_glib_fatal ();
  fast = xm_json_line_new ();
  slow = xm_json_line_new ();
  while (p < end)
    {
      const char *nl = memchr (p, '\n', end - p);
      const char *stop = nl ? nl : end;

      check_line (fast, slow, p, stop - p);
      p = nl ? nl + 1 : end;
    }
  return 0;
}
