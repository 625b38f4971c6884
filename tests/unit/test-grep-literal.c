/* test-grep-literal.c: the literals a --grep pattern requires
 * (ui/grep-literal.c), read conservatively: what they are for plain
 * patterns, alternations and groups, and none for what the reading does
 * not follow; and, against GRegex itself, that a subject a pattern matches
 * holds one of them. */
#include "config.h"

#include <string.h>

#include "grep-literal.h"

/* literals joined by ',' in the order found, NULL for none */
static char *
literals_of (const char *pattern, gboolean *caseless)
{
  g_autoptr (GPtrArray) set = xm_grep_literals (pattern, caseless);

  if (set == NULL)
    return NULL;
  g_ptr_array_add (set, NULL);
  return g_strjoinv (",", (char **) set->pdata);
}

static void
test_cases (void)
{
  static const struct {
    const char *pattern, *want;
    gboolean caseless;
  } cases[] = {
    { "b137", "b137" },
    { "<body xmlns='urn:x'>b14", "<body xmlns='urn:x'>b14" },
    { "b1+3", NULL },            /* "b1" and "13": runs of 2 */
    { "ab1+34", "ab1" },        /* then "34": the run ends at the repetition */
    { "b14?2", NULL },
    { "x{0}b1490", "b1490" },
    { "^<message to=.bob", "<message to=" },
    { "id='000025000[0-9]'", "id='000025000" },
    /* alternation: one literal per branch */
    { "(0000250001|0000250002)", "0000250001,0000250002" },
    { "0000250001|0000250002", "0000250001,0000250002" },
    { "(?:jabber:iq:roster|urn:xmpp:ping)", "jabber:iq:roster,urn:xmpp:ping" },
    { "id='(q1|q2)'", "id='" },
    { "id='(q123|q245)'", "id='" },    /* as long: one literal is better */
    { "id='(q1234|q2456)'", "q1234,q2456" },
    { "(?<n>abcd|efgh)x", "abcd,efgh" },
    { "(?P<n>abcd|efgh)", "abcd,efgh" },
    { "((abc|def)|ghi)", "abc,def,ghi" },
    { "abc|d", NULL },           /* a branch without 3 characters */
    { "abc|", NULL },
    { "(abcd)?xy", NULL },       /* an optional group claims nothing */
    { "(abcd)*xyz", "xyz" },
    { "(abcd){1}", NULL },       /* any {...} counts as optional */
    { "(abcd)+", "abcd" },
    { "(abcd)+?", "abcd" },
    /* escapes: punctuation is itself; classes and assertions claim nothing */
    { "a\\.b\\.c", "a.b.c" },
    { "\\bfoo\\d+bar", "foo" },    /* the first of two as good */
    { "foo\\/bar", "foo" },      /* '/' may be written \/ in JSON */
    { "abc\\1", NULL },          /* a backreference */
    { "\\Qabc\\E", NULL },
    { "\\x41bcd", NULL },
    /* classes: none of their characters, and PCRE's rules for ']' */
    { "[\\]x]abc", "abc" },
    { "[]x]abc", "abc" },
    { "[^]x]abc", "abc" },
    { "[[:alpha:]]abc", NULL },  /* not followed */
    { "[abc", NULL },
    { "[x\\c]ba]", NULL },
    /* a '{' that is no quantifier is a literal, and the rest is read */
    { "{||||}&amp;{}", NULL },   /* empty branches (found by the fuzzer) */
    { "abcd{x}efgh", "x}efgh" },
    { "abcd{2,3}efgh", "efgh" },     /* \c] is control-], the class goes on (found by the fuzzer) */
    /* options */
    { "(?i)Romeo", "Romeo", TRUE },
    { "(?i)(romeo|juliet)", "romeo,juliet", TRUE },
    { "(?s)abc.defg", "defg" },
    { "(?x)a b c d", NULL },
    { "ab(?i)cdef", NULL },
    { "(?i:abc)", NULL },
    { "abc(?=def)", NULL },
    { "(*UTF)abcd", NULL },
    { "\"abcd\"", "abcd" },
    { "abc)", NULL },
    { "abcd\\", NULL },
    { "abcd[\\", NULL },
    { "abcd(?<x", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gboolean caseless;
      g_autofree char *got = literals_of (cases[i].pattern, &caseless);

      if (g_strcmp0 (got, cases[i].want) != 0)
        g_printerr ("%s: got %s\n", cases[i].pattern, got ? got : "(none)");
      g_assert_cmpstr (got, ==, cases[i].want);
      if (got)
        g_assert_cmpint (caseless, ==, cases[i].caseless);
    }
}

/* Whether subject holds one of set's literals as xm_filter_line_may_match
 * looks for it. */
static gboolean
holds (const char *subject, GPtrArray *set, gboolean caseless)
{
  for (const char *p = subject; caseless && *p; p++)
    if ((guchar) *p >= 0x80)
      return TRUE;
  for (guint i = 0; i < set->len; i++)
    {
      const char *lit = set->pdata[i];
      for (const char *p = subject; *p; p++)
        if ((caseless ? g_ascii_strncasecmp (p, lit, strlen (lit))
                      : strncmp (p, lit, strlen (lit))) == 0)
          return TRUE;
    }
  return FALSE;
}

/* Every subject a pattern matches holds a literal. */
static void
test_sound (void)
{
  static const char *const patterns[] = {
    "b137", "ab1+34", "x{0}b1490", "(0000250001|0000250002)", "id='(q123|q245)'",
    "(abcd)*xyz", "\\bfoo\\d+bar", "[\\]x]abc", "[]x]abc", "(?i)(romeo|juliet)",
    "(?i)keep", "a\\.b\\.c", "(abcd)+?", "((abc|def)|ghi)",
  };
  static const char *const subjects[] = {
    "b137", "ab1134", "b1490", "xx0000250002yy", "id='q245'", "abcdxyz", "foo12bar",
    "]abc", "xabc", "JULIET", "\xe2\x84\xaa" "EEP", "KeEp", "a.b.c", "abcdabcd",
    "def", "ghi", "nothing here", "ROMEO and",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (patterns); i++)
    {
      gboolean caseless;
      g_autoptr (GPtrArray) set = xm_grep_literals (patterns[i], &caseless);
      g_autoptr (GRegex) re = g_regex_new (patterns[i], G_REGEX_OPTIMIZE, 0, NULL);
      guint matched = 0;

      g_assert_nonnull (set);
      g_assert_nonnull (re);
      for (gsize k = 0; k < G_N_ELEMENTS (subjects); k++)
        if (g_regex_match (re, subjects[k], 0, NULL))
          {
            matched++;
            if (!holds (subjects[k], set, caseless))
              g_printerr ("%s matches %s\n", patterns[i], subjects[k]);
            g_assert_true (holds (subjects[k], set, caseless));
          }
      g_assert_cmpuint (matched, >, 0);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/grep-literal/cases", test_cases);
  g_test_add_func ("/grep-literal/sound", test_sound);
  return g_test_run ();
}
