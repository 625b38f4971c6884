/* grep-literal.h: text that every match of a --grep pattern contains, so
 * that a scan over a recording can pass over lines without any of it
 * unparsed (xm_filter_line_may_match). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* More literals than this (a long alternation) are not worth a search
 * each per line: no prefilter then. */
#define XM_GREP_MAX_LITERALS 16

/* The literals of pattern (a GRegex pattern, compiled without options):
 * every match of it holds at least one of them (one for a plain pattern,
 * one per branch for an alternation). NULL when this conservative reading
 * finds none: a construct it does not follow (backreferences, lookaround,
 * most escapes, inline options other than a leading (?i), (?m) or (?s)),
 * a branch without a run of 3 characters that every match of the branch
 * holds, more than XM_GREP_MAX_LITERALS. A literal holds only printable
 * ASCII other than '"', '\\' and '/' (what a recording's JSON writes as
 * it is). *caseless: the pattern starts with (?i), so a match holds a
 * literal with its ASCII letters in any case, or some non-ASCII character
 * in place of one of them (U+212A KELVIN SIGN matches k). */
GPtrArray *xm_grep_literals (const char *pattern, gboolean *caseless);

/* Whether line holds one of lits (lower case) in any ASCII case, or a
 * character that is no ASCII (PCRE's caseless matching pairs some of those
 * with ASCII letters). */
gboolean xm_grep_holds_caseless (const char *line, gsize len, const GPtrArray *lits);

G_END_DECLS
