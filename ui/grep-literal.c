/* grep-literal.c: the literals every match of a --grep pattern contains
 * (see grep-literal.h).
 *
 * A small recursive reading of PCRE syntax: an alternation is a list of
 * sequences; a sequence is atoms, each perhaps quantified. A sequence's
 * candidates are its runs of plain characters (each required, since the
 * atoms of a sequence all match, in order) and its groups that cannot be
 * skipped (one of the group's literals is required); it keeps the most
 * selective one. An alternation needs a candidate in every branch, and
 * then requires one of their union. Whatever this does not follow makes
 * the whole pattern give none: the reading may miss literals, never claim
 * one a match can lack (tests/fuzz/fuzz-grep-literal.c checks this
 * against GRegex itself). */
#include "config.h"

#include <string.h>

#include "grep-literal.h"

#define MIN_RUN 3
/* groups nested deeper are not followed (and the stack stays small) */
#define MAX_DEPTH 32

typedef struct {
  const char *p;
  gboolean bad;   /* a construct this reading does not follow */
  guint depth;
} Reader;

static GPtrArray *read_alternation (Reader *r);

static gsize
shortest (const GPtrArray *set)
{
  gsize n = G_MAXSIZE;

  for (guint i = 0; i < set->len; i++)
    n = MIN (n, strlen (set->pdata[i]));
  return n;
}

/* Keeps the better of *best and cand (takes cand): the longer shortest
 * literal, then fewer literals. */
static void
offer (GPtrArray **best, GPtrArray *cand)
{
  if (*best == NULL || shortest (cand) > shortest (*best)
      || (shortest (cand) == shortest (*best) && cand->len < (*best)->len))
    {
      if (*best)
        g_ptr_array_unref (*best);
      *best = cand;
    }
  else
    g_ptr_array_unref (cand);
}

static void
end_run (GString *run, GPtrArray **best)
{
  if (run->len >= MIN_RUN)
    {
      GPtrArray *set = g_ptr_array_new_with_free_func (g_free);
      g_ptr_array_add (set, g_strdup (run->str));
      offer (best, set);
    }
  g_string_truncate (run, 0);
}

/* Characters a recording's JSON writes as they are. */
static gboolean
claimable (char c)
{
  return c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '/';
}

/* Whether a '{' starts a quantifier: only digits, commas and blanks
 * before its '}' (PCRE reads any other '{' as a literal, and what follows
 * it as usual: "{||}" is three branches). Any such one is taken as
 * allowing zero repetitions. */
static gboolean
brace_quantifier (const char *p)
{
  for (p++; *p != '}'; p++)
    if (!g_ascii_isdigit (*p) && *p != ',' && *p != ' ')
      return FALSE;
  return TRUE;
}

/* Consumes a quantifier at r->p, if any, with its lazy or possessive
 * mark. *optional: it allows zero repetitions. */
static gboolean
read_quantifier (Reader *r, gboolean *optional)
{
  char c = *r->p;

  *optional = FALSE;
  if (c == '?' || c == '*' || c == '+')
    {
      *optional = c != '+';
      r->p++;
    }
  else if (c == '{' && brace_quantifier (r->p))
    {
      *optional = TRUE;
      r->p = strchr (r->p, '}') + 1;
    }
  else
    return FALSE;
  if (*r->p == '?' || *r->p == '+')
    r->p++;
  return TRUE;
}

/* Skips a character class at '['. A '[' inside (POSIX classes), \Q, \E
 * or \c is not followed. */
static void
skip_class (Reader *r)
{
  const char *p = r->p + 1;

  if (*p == '^')
    p++;
  if (*p == ']')
    p++;
  for (; *p && *p != ']'; p++)
    {
      /* \c takes the next character, ']' included: "[\c]a]" */
      if (*p == '[' || (*p == '\\' && (p[1] == '\0' || p[1] == 'Q' || p[1] == 'E'
                                        || p[1] == 'c')))
        {
          r->bad = TRUE;
          return;
        }
      if (*p == '\\')
        p++;
    }
  if (*p != ']')
    r->bad = TRUE;
  else
    r->p = p + 1;
}

/* A group at '(': capturing, (?:, (?<name>, (?P<name>, (?'name'; other
 * kinds are not followed. Returns its literals (NULL: none). */
static GPtrArray *
read_group (Reader *r)
{
  const char *q = r->p + 1;
  GPtrArray *set;

  if (*q == '?')
    {
      q++;
      if (*q == ':')
        q++;
      else if ((*q == '<' && q[1] != '=' && q[1] != '!') || (*q == 'P' && q[1] == '<')
               || *q == '\'')
        {
          char end = *q == '\'' ? '\'' : '>';
          q = strchr (q + 1, end);
          if (q == NULL)
            {
              r->bad = TRUE;
              return NULL;
            }
          q++;
        }
      else
        {
          r->bad = TRUE;
          return NULL;
        }
    }
  else if (*q == '*')
    {
      r->bad = TRUE;
      return NULL;
    }
  if (++r->depth > MAX_DEPTH)
    {
      r->bad = TRUE;
      return NULL;
    }
  r->p = q;
  set = read_alternation (r);
  r->depth--;
  if (!r->bad && *r->p != ')')
    r->bad = TRUE;
  if (r->bad)
    {
      g_clear_pointer (&set, g_ptr_array_unref);
      return NULL;
    }
  r->p++;
  return set;
}

/* Escapes: a backslash before ASCII punctuation is that character;
 * single-character classes and zero-width assertions claim nothing;
 * anything else (backreferences, \x, \Q, \p, \K...) is not followed.
 * *lit: the literal character, or 0. */
static void
read_escape (Reader *r, char *lit)
{
  char e = r->p[1];

  *lit = 0;
  if (e == '\0')
    {
      /* a pattern ending in '\' (GRegex refuses it): stay on its end */
      r->bad = TRUE;
      r->p++;
      return;
    }
  if ((guchar) e >= 0x80)
    r->bad = TRUE;
  else if (g_ascii_isalnum (e))
    {
      if (strchr ("dDwWsShHvVbBAzZG", e) == NULL)
        r->bad = TRUE;
    }
  else
    *lit = e;
  r->p += 2;
}

static GPtrArray *
read_sequence (Reader *r)
{
  g_autoptr (GString) run = g_string_new (NULL);
  GPtrArray *best = NULL;

  while (!r->bad && *r->p && *r->p != '|' && *r->p != ')')
    {
      char c = *r->p, lit = 0;
      gboolean optional;

      if (c == '(')
        {
          GPtrArray *inner = read_group (r);
          end_run (run, &best);
          read_quantifier (r, &optional);
          if (inner && !optional)
            offer (&best, inner);
          else if (inner)
            g_ptr_array_unref (inner);
          continue;
        }
      if (c == '[')
        skip_class (r);
      else if (c == '\\')
        read_escape (r, &lit);
      else if (c == '?' || c == '*' || c == '+' || (c == '{' && brace_quantifier (r->p)))
        {
          /* nothing before it to repeat: claim nothing of it */
          end_run (run, &best);
          read_quantifier (r, &optional);
          continue;
        }
      else
        {
          /* a '{' that is no quantifier is a literal; claimed as none, in
           * case a PCRE reads more forms as quantifiers */
          if (c != '.' && c != '^' && c != '$' && c != '{')
            lit = c;
          r->p++;
        }
      if (r->bad)
        break;
      if (read_quantifier (r, &optional))
        {
          /* "ab+c": "ab" and "bc" are required, "abc" is not */
          if (lit && !optional && claimable (lit))
            g_string_append_c (run, lit);
          end_run (run, &best);
        }
      else if (lit && claimable (lit))
        g_string_append_c (run, lit);
      else
        end_run (run, &best);
    }
  end_run (run, &best);
  if (r->bad)
    g_clear_pointer (&best, g_ptr_array_unref);
  return best;
}

static GPtrArray *
read_alternation (Reader *r)
{
  GPtrArray *all = g_ptr_array_new_with_free_func (g_free);
  gboolean none = FALSE;

  for (;;)
    {
      GPtrArray *set = read_sequence (r);

      if (set == NULL)
        none = TRUE;
      else
        {
          for (guint i = 0; i < set->len; i++)
            g_ptr_array_add (all, g_strdup (set->pdata[i]));
          g_ptr_array_unref (set);
        }
      if (r->bad || *r->p != '|')
        break;
      r->p++;
    }
  if (none || r->bad || all->len > XM_GREP_MAX_LITERALS)
    g_clear_pointer (&all, g_ptr_array_unref);
  return all;
}

GPtrArray *
xm_grep_literals (const char *pattern, gboolean *caseless)
{
  Reader r = { .p = pattern };
  GPtrArray *set;

  *caseless = FALSE;
  /* leading options: (?i) ignores case; (?m) and (?s) change only ^, $
   * and '.', which claim nothing */
  if (pattern[0] == '(' && pattern[1] == '?')
    {
      const char *q = pattern + 2;
      gboolean i = FALSE;

      while (*q == 'i' || *q == 'm' || *q == 's')
        i |= *q++ == 'i';
      if (*q == ')' && q > pattern + 2)
        {
          r.p = q + 1;
          *caseless = i;
        }
    }
  set = read_alternation (&r);
  if (set && (r.bad || *r.p != '\0'))
    g_clear_pointer (&set, g_ptr_array_unref);
  return set;
}

/* Whether line holds one of lits (lower case) in any ASCII case, or a
 * character that is no ASCII: PCRE's caseless matching pairs some of
 * those with ASCII letters (U+212A KELVIN SIGN with k, U+017F with s). */
gboolean
xm_grep_holds_caseless (const char *line, gsize len, const GPtrArray *lits)
{
  g_autofree char *low = NULL;

  if (lits->len == 0)
    return FALSE;
  low = g_malloc (len + 1);
  for (gsize i = 0; i < len; i++)
    {
      guchar c = (guchar) line[i];
      if (c >= 0x80)
        return TRUE;
      low[i] = g_ascii_tolower (c);
    }
  for (guint i = 0; i < lits->len; i++)
    {
      const char *lit = lits->pdata[i];
      if (memmem (low, len, lit, strlen (lit)))
        return TRUE;
    }
  return FALSE;
}
