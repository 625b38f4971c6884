/* filter.c: event filters on connection, direction, kind, namespace, JID
 * and a regular expression (see filter.h). */
#include "config.h"

#include <string.h>

#include "filter.h"
#include "grep-literal.h"
#include "jid.h"
#include "json-line.h"

/* Bits of XmFilter.kinds and of what an event is. */
enum {
  KIND_MESSAGE = XM_EVENT_CLASS_MESSAGE,
  KIND_PRESENCE = XM_EVENT_CLASS_PRESENCE,
  KIND_IQ = XM_EVENT_CLASS_IQ,
  KIND_STREAM = XM_EVENT_CLASS_STREAM,
};

typedef struct {
  guint lo, hi;
} ConnRange;

/* Last STANZA verdict of a connection, for the SASL event after it. */
enum {
  VERDICT_DROP = 1,
  VERDICT_PASS = 2,
};

struct _XmFilter {
  GArray *conns;      /* ConnRange; NULL: any connection */
  guint dirs;         /* 1 << XmDir; 0: any direction */
  guint kinds;        /* KIND_*; 0: any kind */
  GPtrArray *ns;      /* char*; NULL: any namespace */
  GPtrArray *jids;    /* XmJid*; NULL: any JID */
  GPtrArray *regexes; /* GRegex*; NULL: no --grep */
  /* char *: text one of which every match of some regex contains
   * (xm_grep_literals; NULL: some regex has none), as written, and in
   * lower case for the regexes that ignore case */
  GPtrArray *literals, *iliterals;
  GHashTable *verdicts; /* connection number -> VERDICT_* */
  /* guint32: the digest bits of each --ns and --jid (see digests below) */
  GArray *ns_bits, *jid_bits;
};

/* ---- options ---- */

void
xm_filter_args_clear (XmFilterArgs *args)
{
  g_clear_pointer (&args->conn, g_strfreev);
  g_clear_pointer (&args->dir, g_strfreev);
  g_clear_pointer (&args->kind, g_strfreev);
  g_clear_pointer (&args->ns, g_strfreev);
  g_clear_pointer (&args->jid, g_strfreev);
  g_clear_pointer (&args->grep, g_strfreev);
}

void
xm_filter_add_options (GOptionContext *ctx, XmFilterArgs *args)
{
  /* g_option_context_add_main_entries() copies the array. */
  GOptionEntry entries[] = {
    { "conn", 0, 0, G_OPTION_ARG_STRING_ARRAY, &args->conn,
      "Only connection N (repeat, or give a list 3,5 or a range 3-7, for "
      "several)", "N" },
    { "dir", 0, 0, G_OPTION_ARG_STRING_ARRAY, &args->dir,
      "Only one direction: c2s or client (what the client sent), s2c or "
      "server (what the server sent); connection events always pass", "DIR" },
    { "kind", 0, 0, G_OPTION_ARG_STRING_ARRAY, &args->kind,
      "Only message, presence, iq, or stream (everything else: stream "
      "headers, features, TLS/SASL/compression negotiation, stream errors, "
      "XEP-0198, keepalives, connection events); repeat or give a list "
      "for several", "KIND" },
    { "ns", 0, 0, G_OPTION_ARG_STRING_ARRAY, &args->ns,
      "Only stanzas with a child element in namespace URI, e.g. "
      "jabber:iq:roster, urn:xmpp:ping; other elements, like SASL <auth/>, "
      "also match their own namespace. Repeat for several", "URI" },
    { "jid", 0, 0, G_OPTION_ARG_STRING_ARRAY, &args->jid,
      "Only stanzas and stream headers from or to JID; a bare JID "
      "(user@host) matches all its resources. A client's stanzas often "
      "have no 'from' (the server adds it): they match by 'to' only. "
      "Repeat for several", "JID" },
    { "grep", 0, 0, G_OPTION_ARG_STRING_ARRAY, &args->grep,
      "Only stanzas whose XML, or connection events and notes whose text, "
      "matches the Perl-style REGEX (case-sensitive; (?i) ignores case). "
      "Repeat for several", "REGEX" },
    { NULL }
  };

  g_option_context_add_main_entries (ctx, entries, NULL);
}

const char *
xm_filter_help (void)
{
  return
    "Filters: different options must all match; repeating one (or a list\n"
    "for --conn, --dir, --kind) matches any of its values. A SASL decode\n"
    "shows with the stanza it decodes.\n"
    "  --conn 3 --dir c2s        what the client of connection 3 sent\n"
    "  --conn 2-4 --kind stream  negotiation and connection events of 2 to 4\n"
    "  --ns jabber:iq:roster     roster requests, results and pushes\n"
    "  --jid juliet@example.com  stanzas from or to any of juliet's resources\n"
    "  --kind message,presence --grep '(?i)romeo'\n"
    "                            messages and presences that mention romeo\n";
}

static gboolean
bad_value (GError **error, const char *option, const char *value,
           const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static gboolean
bad_value (GError **error, const char *option, const char *value,
           const char *fmt, ...)
{
  g_autofree char *why = NULL;
  va_list ap;

  va_start (ap, fmt);
  why = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "bad --%s '%s': %s", option, value, why);
  return FALSE;
}

/* The comma-separated items of every value, stripped of blanks. */
static char **
split_lists (char **values)
{
  g_autoptr (GPtrArray) items = g_ptr_array_new ();

  for (char **v = values; *v; v++)
    {
      g_auto (GStrv) parts = g_strsplit (*v, ",", -1);

      for (char **p = parts; *p; p++)
        g_ptr_array_add (items, g_strdup (g_strstrip (*p)));
    }
  g_ptr_array_add (items, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&items), FALSE);
}

static gboolean
parse_conn_number (const char *s, guint *n)
{
  guint64 v;

  /* Rejects signs, blanks and trailing junk; connections count from 1. */
  if (!g_ascii_string_to_unsigned (s, 10, 1, G_MAXUINT, &v, NULL))
    return FALSE;
  *n = (guint) v;
  return TRUE;
}

static gboolean
parse_conns (XmFilter *f, char **values, GError **error)
{
  g_auto (GStrv) items = split_lists (values);

  f->conns = g_array_new (FALSE, FALSE, sizeof (ConnRange));
  for (char **it = items; *it; it++)
    {
      ConnRange r;
      const char *dash = strchr (*it, '-');
      gboolean ok;

      if (dash)
        {
          g_autofree char *lo = g_strndup (*it, dash - *it);
          ok = parse_conn_number (lo, &r.lo) && parse_conn_number (dash + 1, &r.hi)
               && r.lo <= r.hi;
        }
      else
        {
          ok = parse_conn_number (*it, &r.lo);
          r.hi = r.lo;
        }
      if (!ok)
        return bad_value (error, "conn", *it, "use connection numbers from 1: "
                          "3, a list 3,5 or a range 3-7");
      g_array_append_val (f->conns, r);
    }
  return TRUE;
}

static gboolean
parse_dirs (XmFilter *f, char **values, GError **error)
{
  g_auto (GStrv) items = split_lists (values);

  for (char **it = items; *it; it++)
    {
      if (g_ascii_strcasecmp (*it, "c2s") == 0
          || g_ascii_strcasecmp (*it, "client") == 0)
        f->dirs |= 1u << XM_DIR_C2S;
      else if (g_ascii_strcasecmp (*it, "s2c") == 0
               || g_ascii_strcasecmp (*it, "server") == 0)
        f->dirs |= 1u << XM_DIR_S2C;
      else
        return bad_value (error, "dir", *it,
                          "use c2s (or client) or s2c (or server)");
    }
  return TRUE;
}

static gboolean
parse_kinds (XmFilter *f, char **values, GError **error)
{
  static const struct {
    const char *name;
    guint bit;
  } kinds[] = {
    { "message", KIND_MESSAGE },
    { "presence", KIND_PRESENCE },
    { "iq", KIND_IQ },
    { "stream", KIND_STREAM },
  };
  g_auto (GStrv) items = split_lists (values);

  for (char **it = items; *it; it++)
    {
      guint bit = 0;

      for (gsize i = 0; i < G_N_ELEMENTS (kinds); i++)
        if (g_ascii_strcasecmp (*it, kinds[i].name) == 0)
          bit = kinds[i].bit;
      if (bit == 0)
        return bad_value (error, "kind", *it,
                          "use message, presence, iq or stream");
      f->kinds |= bit;
    }
  return TRUE;
}

/* A namespace URI may hold a comma, so --ns takes one per option. */
static gboolean
parse_ns (XmFilter *f, char **values, GError **error)
{
  f->ns = g_ptr_array_new_with_free_func (g_free);
  for (char **v = values; *v; v++)
    {
      if (**v == '\0')
        return bad_value (error, "ns", *v,
                          "give a namespace URI such as jabber:iq:roster");
      g_ptr_array_add (f->ns, g_strdup (*v));
    }
  return TRUE;
}

/* ---- digests ----
 *
 * An index keeps, per event, two 32-bit words (XmFilterDigest): each
 * namespace --ns looks at sets two bits of the first, each JID --jid
 * looks at (from and to, parsed and folded as xm_jid_parse does: bare, and
 * full when it has a resource) two bits of the second. A --ns or --jid
 * value whose bits are not all set cannot match: the event is skipped
 * unread. Equal keys set equal bits, so this never rules out a match;
 * other keys set the same bits by chance only, and then the event is
 * read and decided by xm_filter_match. */

static guint32
fnv (guint32 h, const char *s, gsize n)
{
  for (gsize i = 0; i < n; i++)
    h = (h ^ (guchar) s[i]) * 16777619u;
  return h;
}

/* Two bits of a word from a hash (mixed first: FNV's low bits are
 * weak). */
static guint32
two_bits (guint32 h)
{
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  return (1u << (h & 31)) | (1u << ((h >> 5) & 31));
}

static guint32
ns_digest (const char *ns)
{
  return two_bits (fnv (2166136261u, ns, strlen (ns)));
}

/* The key of jid as a bare JID, or as a full one (it has a resource):
 * the fields xm_jid_matches compares, NULL told from empty. */
static guint32
jid_digest (const XmJid *jid, gboolean full)
{
  guint32 h = fnv (2166136261u, full ? "F" : "B", 1);

  h = jid->local ? fnv (h, jid->local, strlen (jid->local) + 1) : fnv (h, "\1", 1);
  h = fnv (h, jid->domain, strlen (jid->domain) + 1);
  if (full)
    h = fnv (h, jid->resource, strlen (jid->resource));
  return two_bits (h);
}

/* The bits each --ns and --jid value needs. */
static void
digest_wanted (XmFilter *f)
{
  if (f->ns)
    {
      f->ns_bits = g_array_new (FALSE, FALSE, sizeof (guint32));
      for (guint i = 0; i < f->ns->len; i++)
        {
          guint32 bits = ns_digest (f->ns->pdata[i]);
          g_array_append_val (f->ns_bits, bits);
        }
    }
  if (f->jids)
    {
      f->jid_bits = g_array_new (FALSE, FALSE, sizeof (guint32));
      for (guint i = 0; i < f->jids->len; i++)
        {
          const XmJid *want = f->jids->pdata[i];
          /* a bare JID matches any resource: the stanza's bare key */
          guint32 bits = jid_digest (want, want->resource != NULL);
          g_array_append_val (f->jid_bits, bits);
        }
    }
}

static gboolean
parse_jids (XmFilter *f, char **values, GError **error)
{
  f->jids = g_ptr_array_new_with_free_func ((GDestroyNotify) xm_jid_free);
  for (char **v = values; *v; v++)
    {
      const char *why = NULL;
      XmJid *jid = xm_jid_parse (*v, &why);

      if (jid == NULL)
        return bad_value (error, "jid", *v, "%s", why);
      g_ptr_array_add (f->jids, jid);
    }
  return TRUE;
}

static gboolean
valid_utf8 (char **values, const char *option, GError **error)
{
  for (char **v = values; v && *v; v++)
    if (!g_utf8_validate (*v, -1, NULL))
      {
        g_autofree char *shown = g_utf8_make_valid (*v, -1);
        return bad_value (error, option, shown, "not valid UTF-8");
      }
  return TRUE;
}

static gboolean
parse_regexes (XmFilter *f, char **values, GError **error)
{
  f->regexes = g_ptr_array_new_with_free_func ((GDestroyNotify) g_regex_unref);
  for (char **v = values; *v; v++)
    {
      g_autoptr (GError) local = NULL;
      GRegex *re = g_regex_new (*v, G_REGEX_OPTIMIZE, 0, &local);

      if (re == NULL)
        return bad_value (error, "grep", *v, "%s", local->message);
      g_ptr_array_add (f->regexes, re);
    }
  /* a line must hold one literal of some regex (the regexes are ORed) */
  f->literals = g_ptr_array_new_with_free_func (g_free);
  f->iliterals = g_ptr_array_new_with_free_func (g_free);
  for (char **v = values; *v && f->literals; v++)
    {
      gboolean caseless;
      g_autoptr (GPtrArray) lits = xm_grep_literals (*v, &caseless);

      if (lits == NULL)
        {
          g_clear_pointer (&f->literals, g_ptr_array_unref);
          g_clear_pointer (&f->iliterals, g_ptr_array_unref);
          break;
        }
      for (guint i = 0; i < lits->len; i++)
        g_ptr_array_add (caseless ? f->iliterals : f->literals,
                         caseless ? g_ascii_strdown (lits->pdata[i], -1)
                                  : g_strdup (lits->pdata[i]));
    }
  return TRUE;
}

static gboolean
given (char **values)
{
  return values != NULL && values[0] != NULL;
}

XmFilter *
xm_filter_new (const XmFilterArgs *args, GError **error)
{
  g_autoptr (XmFilter) f = g_new0 (XmFilter, 1);

  f->verdicts = g_hash_table_new (NULL, NULL);
  if (args == NULL)
    return g_steal_pointer (&f);
  /* The command line hands over UTF-8 (GOption converts), a browser's
   * query need not: PCRE2 reads past the end of a pattern that is not
   * UTF-8, and the messages below quote the values. */
  if (!valid_utf8 (args->ns, "ns", error) || !valid_utf8 (args->jid, "jid", error)
      || !valid_utf8 (args->grep, "grep", error))
    return NULL;
  if ((given (args->conn) && !parse_conns (f, args->conn, error))
      || (given (args->dir) && !parse_dirs (f, args->dir, error))
      || (given (args->kind) && !parse_kinds (f, args->kind, error))
      || (given (args->ns) && !parse_ns (f, args->ns, error))
      || (given (args->jid) && !parse_jids (f, args->jid, error))
      || (given (args->grep) && !parse_regexes (f, args->grep, error)))
    return NULL;
  digest_wanted (f);
  return g_steal_pointer (&f);
}

void
xm_filter_free (XmFilter *f)
{
  if (f == NULL)
    return;
  if (f->conns)
    g_array_unref (f->conns);
  if (f->ns)
    g_ptr_array_unref (f->ns);
  if (f->jids)
    g_ptr_array_unref (f->jids);
  if (f->regexes)
    g_ptr_array_unref (f->regexes);
  if (f->literals)
    g_ptr_array_unref (f->literals);
  if (f->iliterals)
    g_ptr_array_unref (f->iliterals);
  g_hash_table_unref (f->verdicts);
  if (f->ns_bits)
    g_array_unref (f->ns_bits);
  if (f->jid_bits)
    g_array_unref (f->jid_bits);
  g_free (f);
}

gboolean
xm_filter_is_empty (const XmFilter *f)
{
  return f->conns == NULL && f->dirs == 0 && f->kinds == 0 && f->ns == NULL
         && f->jids == NULL && f->regexes == NULL;
}

/* ---- matching ---- */

/* RFC 6120 stanzas live in the stream's content namespace; an element
 * without one is a stanza its sender forgot to qualify. */
static gboolean
is_stanza_ns (const char *ns)
{
  return ns == NULL || strcmp (ns, "jabber:client") == 0
         || strcmp (ns, "jabber:server") == 0
         || strcmp (ns, "jabber:component:accept") == 0
         || strcmp (ns, "jabber:component:connect") == 0;
}

static guint
element_kind (const XmNode *el)
{
  if (!is_stanza_ns (el->ns))
    return KIND_STREAM;
  if (strcmp (el->name, "message") == 0)
    return KIND_MESSAGE;
  if (strcmp (el->name, "presence") == 0)
    return KIND_PRESENCE;
  if (strcmp (el->name, "iq") == 0)
    return KIND_IQ;
  return KIND_STREAM;
}

/* The top-level element of an event, NULL if it has none. */
static const XmNode *
event_element (const XmEvent *ev)
{
  if ((ev->kind == XM_EVENT_STANZA || ev->kind == XM_EVENT_STREAM_OPEN)
      && ev->stanza)
    return ev->stanza->root;
  return NULL;
}

/* KIND_* of an event; 0 when unknown (a stanza too large to decode, a
 * SASL event without its stanza). */
static guint
event_kind (const XmEvent *ev)
{
  const XmNode *el = event_element (ev);

  switch (ev->kind)
    {
    case XM_EVENT_STANZA:
      return el ? element_kind (el) : 0;
    case XM_EVENT_SASL:
      return 0;
    default:
      return KIND_STREAM;
    }
}

static gboolean
conn_matches (const XmFilter *f, guint conn)
{
  for (guint i = 0; i < f->conns->len; i++)
    {
      const ConnRange *r = &g_array_index (f->conns, ConnRange, i);
      if (conn >= r->lo && conn <= r->hi)
        return TRUE;
    }
  return FALSE;
}

static gboolean
ns_wanted (const XmFilter *f, const char *ns)
{
  if (ns == NULL)
    return FALSE;
  for (guint i = 0; i < f->ns->len; i++)
    if (strcmp (g_ptr_array_index (f->ns, i), ns) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
ns_matches (const XmFilter *f, const XmNode *el)
{
  if (el == NULL)
    return FALSE;
  if (element_kind (el) == KIND_STREAM && ns_wanted (f, el->ns))
    return TRUE;
  for (const XmNode *c = el->children; c; c = c->next)
    if (c->type == XM_NODE_ELEMENT && ns_wanted (f, c->ns))
      return TRUE;
  return FALSE;
}

static gboolean
jid_attr_matches (const XmFilter *f, const char *value)
{
  XmJid *got;
  gboolean found = FALSE;

  if (value == NULL || (got = xm_jid_parse (value, NULL)) == NULL)
    return FALSE;
  for (guint i = 0; i < f->jids->len && !found; i++)
    found = xm_jid_matches (g_ptr_array_index (f->jids, i), got);
  xm_jid_free (got);
  return found;
}

static gboolean
jid_event_matches (const XmFilter *f, const XmNode *el)
{
  return el != NULL && (jid_attr_matches (f, xm_node_attr (el, "from"))
                        || jid_attr_matches (f, xm_node_attr (el, "to")));
}

/* Whether some --grep matches s: the test of grep_matches, also run by
 * xm_filter_line_may_match on a line's own member. GRegex matches UTF-8;
 * a stream that declared another encoding is searched with its bad bytes
 * replaced. */
static gboolean
regexes_match (const XmFilter *f, const char *s, gsize len)
{
  g_autofree char *valid = NULL;

  if (!g_utf8_validate_len (s, len, NULL))
    {
      valid = g_utf8_make_valid (s, len);
      s = valid;
      len = strlen (valid);
    }
  for (guint i = 0; i < f->regexes->len; i++)
    if (g_regex_match_full (g_ptr_array_index (f->regexes, i), s, len, 0, 0,
                            NULL, NULL))
      return TRUE;
  return FALSE;
}

/* What --grep searches in an event of kind: a stanza's (or stream
 * header's) bytes, which a recording line holds as its "xml" member; an
 * event's text, its "text" member; nothing else (NULL). One answer for
 * grep_matches and for member_may_match, which must agree. */
static const char *
grep_member (XmEventKind kind)
{
  switch (kind)
    {
    case XM_EVENT_STANZA:
    case XM_EVENT_STREAM_OPEN:
      return "xml";
    case XM_EVENT_CONN_OPEN:
    case XM_EVENT_CONN_CLOSE:
    case XM_EVENT_NOTE:
    case XM_EVENT_LAYER:
    case XM_EVENT_TRANSPORT:
      return "text";
    default:
      return NULL;
    }
}

static gboolean
grep_matches (const XmFilter *f, const XmEvent *ev)
{
  const char *member = grep_member (ev->kind);

  if (member == NULL)
    return FALSE;
  if (strcmp (member, "xml") == 0)
    return ev->stanza && ev->stanza->raw
           && regexes_match (f, (const char *) ev->stanza->raw, ev->stanza->raw_len);
  return ev->text && regexes_match (f, ev->text, strlen (ev->text));
}

static gboolean
evaluate (const XmFilter *f, const XmEvent *ev)
{
  if (f->conns && !conn_matches (f, ev->conn))
    return FALSE;
  if (f->dirs && ev->dir != XM_DIR_NONE && !(f->dirs & (1u << ev->dir)))
    return FALSE;
  if (f->kinds && !(f->kinds & event_kind (ev)))
    return FALSE;
  if (f->ns && !ns_matches (f, event_element (ev)))
    return FALSE;
  if (f->jids && !jid_event_matches (f, event_element (ev)))
    return FALSE;
  if (f->regexes && !grep_matches (f, ev))
    return FALSE;
  return TRUE;
}

gboolean
xm_filter_match (XmFilter *f, const XmEvent *ev)
{
  gpointer key = GUINT_TO_POINTER (ev->conn);
  gboolean pass;

  if (ev->kind == XM_EVENT_SASL)
    {
      guint verdict = GPOINTER_TO_UINT (g_hash_table_lookup (f->verdicts, key));
      if (verdict)
        return verdict == VERDICT_PASS;
      return evaluate (f, ev);
    }
  pass = evaluate (f, ev);
  if (ev->kind == XM_EVENT_STANZA)
    g_hash_table_insert (f->verdicts, key,
                         GUINT_TO_POINTER (pass ? VERDICT_PASS : VERDICT_DROP));
  else if (ev->kind == XM_EVENT_CONN_CLOSE)
    g_hash_table_remove (f->verdicts, key);
  return pass;
}

guint
xm_filter_event_class (const XmEvent *ev)
{
  return event_kind (ev);
}

/* Whether one of wanted (the bits of each value) is all in word. */
static gboolean
digest_holds (const GArray *wanted, guint32 word)
{
  for (guint i = 0; i < wanted->len; i++)
    {
      guint32 bits = g_array_index (wanted, guint32, i);
      if ((word & bits) == bits)
        return TRUE;
    }
  return FALSE;
}

/* Folding a JID (casefold, NFC, IDNA) costs allocations; a recording
 * repeats a few JIDs, so the digest of each attribute value is kept,
 * for at most this many values (then they are forgotten at once), each
 * of at most MAX_CACHED_JID bytes. */
#define MAX_CACHED_JIDS 4096
#define MAX_CACHED_JID 256

struct _XmFilterDigester {
  GHashTable *jids; /* value -> its bits, + 1 (0 is "not cached") */
};

XmFilterDigester *
xm_filter_digester_new (void)
{
  XmFilterDigester *d = g_new0 (XmFilterDigester, 1);

  d->jids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return d;
}

void
xm_filter_digester_free (XmFilterDigester *d)
{
  if (d == NULL)
    return;
  g_hash_table_unref (d->jids);
  g_free (d);
}

/* The bits of a from or to value, as jid_attr_matches reads it. */
static guint32
attr_digest (XmFilterDigester *d, const char *value)
{
  gpointer hit;
  guint32 bits = 0;
  XmJid *got;

  if (value == NULL)
    return 0;
  if ((hit = g_hash_table_lookup (d->jids, value)))
    return (guint32) (GPOINTER_TO_SIZE (hit) - 1);
  if ((got = xm_jid_parse (value, NULL)))
    {
      bits = jid_digest (got, FALSE);
      if (got->resource)
        bits |= jid_digest (got, TRUE);
      xm_jid_free (got);
    }
  if (strlen (value) <= MAX_CACHED_JID)
    {
      if (g_hash_table_size (d->jids) >= MAX_CACHED_JIDS)
        g_hash_table_remove_all (d->jids);
      g_hash_table_insert (d->jids, g_strdup (value),
                           GSIZE_TO_POINTER ((gsize) bits + 1));
    }
  return bits;
}

void
xm_filter_event_digest (XmFilterDigester *d, const XmEvent *ev,
                        XmFilterDigest *out)
{
  const XmNode *el = event_element (ev);

  out->ns = out->jid = 0;
  if (el == NULL)
    return;
  /* what ns_matches and jid_event_matches look at */
  if (element_kind (el) == KIND_STREAM && el->ns)
    out->ns |= ns_digest (el->ns);
  for (const XmNode *c = el->children; c; c = c->next)
    if (c->type == XM_NODE_ELEMENT && c->ns)
      out->ns |= ns_digest (c->ns);
  out->jid = attr_digest (d, xm_node_attr (el, "from"))
             | attr_digest (d, xm_node_attr (el, "to"));
}

gboolean
xm_filter_may_match (const XmFilter *f, guint conn, XmDir dir, XmEventKind kind,
                     guint event_class, const XmFilterDigest *digest)
{
  /* a SASL event follows its stanza's verdict: read it (they are few) */
  if (kind == XM_EVENT_SASL)
    return TRUE;
  /* each test below is one evaluate() makes, on the same values */
  return !(f->conns && !conn_matches (f, conn))
         && !(f->dirs && dir != XM_DIR_NONE && !(f->dirs & (1u << dir)))
         && !(f->kinds && !(f->kinds & event_class))
         /* --ns and --jid need an element: only these events have one */
         && !((f->ns || f->jids) && kind != XM_EVENT_STANZA
              && kind != XM_EVENT_STREAM_OPEN)
         /* --grep has nothing to search in these */
         && !(f->regexes && (kind == XM_EVENT_KEEPALIVE
                             || kind == XM_EVENT_STREAM_CLOSE))
         /* none of the namespaces or JIDs wanted is in the event */
         && !(digest && f->ns && !digest_holds (f->ns_bits, digest->ns))
         && !(digest && f->jids && !digest_holds (f->jid_bits, digest->jid));
}

static void
string_free (GString *s)
{
  g_string_free (s, TRUE);
}

/* A --grep with no literal to look for: the text grep_matches searches is
 * one member of the line (a stanza's "xml", as read back its raw bytes; an
 * event's "text"), so the regexes run on that alone, without the JSON
 * parse, the framing and the tree a full read costs. TRUE whenever the
 * member cannot be read that simply. */
static gboolean
member_may_match (const XmFilter *f, XmEventKind kind, const char *line, gsize len)
{
  static GPrivate buf_key = G_PRIVATE_INIT ((GDestroyNotify) string_free);
  GString *buf = g_private_get (&buf_key);
  const char *name = grep_member (kind);

  if (name == NULL)
    return TRUE;
  if (buf == NULL)
    g_private_set (&buf_key, (buf = g_string_new (NULL)));
  /* bytes that were no UTF-8 are kept as base64 beside */
  if (memmem (line, len, "_base64", 7) || !xm_json_line_simple_member (line, len, name, buf))
    return TRUE;
  return regexes_match (f, buf->str, buf->len);
}

gboolean
xm_filter_line_may_match (const XmFilter *f, XmEventKind kind,
                          const char *line, gsize len)
{
  const char *end = line + len, *p;

  if (f->regexes == NULL || kind == XM_EVENT_SASL)
    return TRUE;
  if (f->literals == NULL)
    return member_may_match (f, kind, line, len);
  for (guint i = 0; i < f->literals->len; i++)
    {
      const char *lit = f->literals->pdata[i];
      if (memmem (line, len, lit, strlen (lit)))
        return TRUE;
    }
  if (xm_grep_holds_caseless (line, len, f->iliterals))
    return TRUE;
  /* text the line may hold in a form memmem cannot see: \uXXXX escapes
   * (a writer other than xmitm's), bytes that were no UTF-8 (xml_base64).
   * memchr for a rare first byte: this runs on every line a rare --grep
   * passes over. */
  for (p = line; p < end && (p = memchr (p, '\\', end - p)) && p + 1 < end; p += 2)
    if (p[1] == 'u')
      return TRUE;
  for (p = line; p < end && (p = memchr (p, '_', end - p)); p++)
    if (end - p >= 7 && memcmp (p, "_base64", 7) == 0)
      return TRUE;
  return FALSE;
}

void
xm_filter_skipped (XmFilter *f, guint conn, XmEventKind kind)
{
  /* the bookkeeping xm_filter_match does for an event it drops */
  gpointer key = GUINT_TO_POINTER (conn);

  if (kind == XM_EVENT_STANZA)
    g_hash_table_insert (f->verdicts, key, GUINT_TO_POINTER (VERDICT_DROP));
  else if (kind == XM_EVENT_CONN_CLOSE)
    g_hash_table_remove (f->verdicts, key);
}

/* ---- sink ---- */

typedef struct {
  XmSink sink;
  XmFilter *filter;
  XmSink *inner;
} FilterSink;

static void
filter_sink_event (XmSink *sink, const XmEvent *ev)
{
  FilterSink *fs = (FilterSink *) sink;

  if (xm_filter_match (fs->filter, ev))
    xm_sink_event (fs->inner, ev);
}

static void
filter_sink_flush (XmSink *sink)
{
  xm_sink_flush (((FilterSink *) sink)->inner);
}

static void
filter_sink_free (XmSink *sink)
{
  FilterSink *fs = (FilterSink *) sink;

  xm_sink_free (fs->inner);
  xm_filter_free (fs->filter);
  g_free (fs);
}

static const XmSinkVTable filter_sink_vtable = {
  filter_sink_event, filter_sink_flush, filter_sink_free, .needs_children = TRUE,
};

XmSink *
xm_filter_sink_new (XmFilter *filter, XmSink *inner)
{
  FilterSink *fs;

  if (xm_filter_is_empty (filter))
    {
      xm_filter_free (filter);
      return inner;
    }
  fs = g_new0 (FilterSink, 1);
  fs->sink.vtable = &filter_sink_vtable;
  fs->filter = filter;
  fs->inner = inner;
  return &fs->sink;
}
