/* canon-normalise.c: the normaliser of canonical stanzas (canon.h): the
 * built-in normalisations (values that differ on every run: ids,
 * timestamps, resources) and the --ignore paths, a small XPath subset. */
#include "config.h"

#include <string.h>

#include "canon-private.h"

#define NS_XML "http://www.w3.org/XML/1998/namespace"
#define NS_CLIENT "jabber:client"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NORMALISED "*"

/* ---- built-in normalisations ---- */

typedef struct {
  const char *ns;
  const char *name;
  const char *attr;   /* blank this attribute; NULL: blank the text */
} Blank;

/* What changes from one session to the next, by design. */
static const Blank blanks[] = {
  /* XEP-0203 and XEP-0091 delayed delivery: when it was stored */
  { "urn:xmpp:delay", "delay", "stamp" },
  { "jabber:x:delay", "x", "stamp" },
  /* XEP-0359: ids the server assigns */
  { "urn:xmpp:sid:0", "stanza-id", "id" },
  /* XEP-0313 MAM result ids, XEP-0059 RSM page markers */
  { "urn:xmpp:mam:0", "result", "id" },
  { "urn:xmpp:mam:1", "result", "id" },
  { "urn:xmpp:mam:2", "result", "id" },
  { "urn:xmpp:mam:tmp", "result", "id" },
  { "urn:xmpp:mam:tmp", "archived", "id" },
  { "http://jabber.org/protocol/rsm", "first", NULL },
  { "http://jabber.org/protocol/rsm", "last", NULL },
  /* XEP-0115 caps hash */
  { "http://jabber.org/protocol/caps", "c", "ver" },
  /* XEP-0202/XEP-0090 entity time, XEP-0012 last activity: the clock */
  { "urn:xmpp:time", "utc", NULL },
  { "urn:xmpp:time", "tzo", NULL },
  { "jabber:iq:time", "utc", NULL },
  { "jabber:iq:time", "tz", NULL },
  { "jabber:iq:time", "display", NULL },
  { "jabber:iq:last", "query", "seconds" },
  /* XEP-0198 stream management: ids and counters */
  { "urn:xmpp:sm:3", "enabled", "id" },
  { "urn:xmpp:sm:3", "enabled", "location" },
  { "urn:xmpp:sm:3", "resumed", "previd" },
  { "urn:xmpp:sm:3", "resumed", "h" },
  { "urn:xmpp:sm:3", "a", "h" },
  /* RFC 6120 §6 and XEP-0388 SASL payloads: nonces and proofs */
  { "urn:ietf:params:xml:ns:xmpp-sasl", "auth", NULL },
  { "urn:ietf:params:xml:ns:xmpp-sasl", "challenge", NULL },
  { "urn:ietf:params:xml:ns:xmpp-sasl", "response", NULL },
  { "urn:ietf:params:xml:ns:xmpp-sasl", "success", NULL },
  { "urn:xmpp:sasl:2", "initial-response", NULL },
  { "urn:xmpp:sasl:2", "challenge", NULL },
  { "urn:xmpp:sasl:2", "response", NULL },
  { "urn:xmpp:sasl:2", "additional-data", NULL },
  /* XEP-0484 FAST tokens */
  { "urn:xmpp:fast:0", "token", "token" },
  { "urn:xmpp:fast:0", "token", "expiry" },
};

static void
normalise_builtin (XmCanon *c)
{
  for (gsize i = 0; i < G_N_ELEMENTS (blanks); i++)
    {
      const Blank *b = &blanks[i];

      if (strcmp (c->name, b->name) != 0 || strcmp (c->ns, b->ns) != 0)
        continue;
      if (b->attr == NULL)
        {
          if (c->text)
            xm_canon_set_text (c, NORMALISED);
        }
      else
        {
          XmCanonAttr *a = xm_canon_find_attr (c, NULL, b->attr);
          if (a)
            {
              g_free (a->value);
              a->value = g_strdup (NORMALISED);
            }
        }
    }
  /* A disco#info query for a caps node carries the hash after '#'. */
  if (strcmp (c->name, "query") == 0
      && strcmp (c->ns, "http://jabber.org/protocol/disco#info") == 0)
    {
      XmCanonAttr *node = xm_canon_find_attr (c, NULL, "node");
      char *hash = node ? strchr (node->value, '#') : NULL;
      if (hash)
        {
          char *v = g_strdup_printf ("%.*s#" NORMALISED,
                                     (int) (hash - node->value), node->value);
          g_free (node->value);
          node->value = v;
        }
    }
  /* Stream features: xmitm removes channel binding when recording through
   * a proxy (it cannot survive a man in the middle) and a direct session
   * gets it, so neither -PLUS mechanisms nor XEP-0440 count. */
  if (strcmp (c->name, "mechanism") == 0
      && strcmp (c->ns, "urn:ietf:params:xml:ns:xmpp-sasl") == 0
      && c->text && g_str_has_suffix (c->text, "-PLUS"))
    {
      xm_canon_remove_child (c);
      return; /* c is freed */
    }
  if (strcmp (c->name, "sasl-channel-binding") == 0
      && strcmp (c->ns, "urn:xmpp:sasl-cb:0") == 0)
    {
      xm_canon_remove_child (c);
      return;
    }
  for (guint i = c->children->len; i > 0; i--)
    if (i - 1 < c->children->len)
      normalise_builtin (c->children->pdata[i - 1]);
}

/* ---- --ignore paths ---- */

typedef enum {
  STEP_ELEMENT,
  STEP_ATTR,
  STEP_TEXT,
} StepKind;

typedef struct {
  char *name; /* NULL: any */
  char *ns;   /* NULL: any; from [@xmlns='...'] or [namespace-uri()='...'] */
  char *attr_ns; /* STEP_ATTR: the attribute's namespace ({uri}name), or NULL */
  GPtrArray *preds; /* char* pairs: attribute name, value */
} Test;

typedef struct {
  StepKind kind;
  gboolean descendant; /* reached with '//' */
  Test test;
} Step;

struct _XmCanonPath {
  char *text;
  GArray *steps; /* Step */
};

static void
step_clear (gpointer p)
{
  Step *s = p;

  g_free (s->test.name);
  g_free (s->test.ns);
  g_free (s->test.attr_ns);
  if (s->test.preds)
    g_ptr_array_unref (s->test.preds);
}

void
xm_canon_path_free (XmCanonPath *path)
{
  if (path == NULL)
    return;
  g_free (path->text);
  g_array_unref (path->steps);
  g_free (path);
}

static gboolean
path_error (GError **error, const char *xpath, gsize at, const char *what)
{
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "bad --ignore '%s' at character %" G_GSIZE_FORMAT ": %s "
               "(say e.g. //delay/@stamp, /message/body, "
               "//query[@xmlns='jabber:iq:version'])", xpath, at + 1, what);
  return FALSE;
}

static gboolean
is_name_char (char c)
{
  return g_ascii_isalnum (c) || c == '-' || c == '_' || c == '.' || c == ':'
         || (guchar) c >= 0x80;
}

/* A name: "*", "local", "prefix:local" (prefix dropped) or "{uri}local". */
static gboolean
parse_name (const char *s, gsize *i, char **ns, char **name)
{
  gsize start;

  *ns = NULL;
  *name = NULL;
  if (s[*i] == '{')
    {
      const char *close = strchr (s + *i, '}');
      if (close == NULL)
        return FALSE;
      *ns = g_strndup (s + *i + 1, close - (s + *i + 1));
      *i = close - s + 1;
    }
  if (s[*i] == '*' && *ns == NULL)
    {
      (*i)++;
      return TRUE;
    }
  start = *i;
  while (is_name_char (s[*i]))
    (*i)++;
  if (*i == start)
    {
      g_clear_pointer (ns, g_free);
      return FALSE;
    }
  {
    g_autofree char *full = g_strndup (s + start, *i - start);
    const char *colon = strrchr (full, ':');
    *name = g_strdup (colon ? colon + 1 : full);
  }
  return TRUE;
}

static gboolean
parse_predicate (const char *s, gsize *i, Test *t, const char *xpath, GError **error)
{
  g_autofree char *pname = NULL, *pns = NULL, *value = NULL;
  gboolean ns_test = FALSE;
  char quote;
  const char *end;

  (*i)++; /* '[' */
  if (g_str_has_prefix (s + *i, "namespace-uri()"))
    {
      *i += strlen ("namespace-uri()");
      ns_test = TRUE;
    }
  else
    {
      if (s[*i] != '@')
        return path_error (error, xpath, *i, "a test is [@attr='value']");
      (*i)++;
      if (!parse_name (s, i, &pns, &pname) || pname == NULL)
        return path_error (error, xpath, *i, "an attribute name was expected");
      ns_test = strcmp (pname, "xmlns") == 0 && pns == NULL;
    }
  if (s[*i] != '=')
    return path_error (error, xpath, *i, "'=' was expected");
  (*i)++;
  quote = s[*i];
  if (quote != '\'' && quote != '"')
    return path_error (error, xpath, *i, "a quoted value was expected");
  end = strchr (s + *i + 1, quote);
  if (end == NULL)
    return path_error (error, xpath, *i, "the quote is not closed");
  value = g_strndup (s + *i + 1, end - (s + *i + 1));
  *i = end - s + 1;
  if (s[*i] != ']')
    return path_error (error, xpath, *i, "']' was expected");
  (*i)++;
  if (ns_test)
    {
      g_free (t->ns);
      t->ns = g_steal_pointer (&value);
    }
  else
    {
      if (t->preds == NULL)
        t->preds = g_ptr_array_new_with_free_func (g_free);
      g_ptr_array_add (t->preds, g_steal_pointer (&pname));
      g_ptr_array_add (t->preds, g_steal_pointer (&value));
    }
  return TRUE;
}

XmCanonPath *
xm_canon_path_parse (const char *xpath, GError **error)
{
  g_autoptr (XmCanonPath) p = g_new0 (XmCanonPath, 1);
  const char *s = xpath;
  gsize i = 0;
  gboolean first = TRUE;

  p->text = g_strdup (xpath);
  p->steps = g_array_new (FALSE, TRUE, sizeof (Step));
  g_array_set_clear_func (p->steps, step_clear);
  if (*s == '\0')
    {
      path_error (error, xpath, 0, "empty");
      return NULL;
    }
  while (s[i])
    {
      Step step = { 0 };

      if (s[i] == '/' && s[i + 1] == '/')
        {
          step.descendant = TRUE;
          i += 2;
        }
      else if (s[i] == '/')
        i++;
      else if (first)
        step.descendant = TRUE; /* relative: anywhere */
      else
        {
          path_error (error, xpath, i, "'/' was expected");
          return NULL;
        }
      first = FALSE;
      if (s[i] == '@')
        {
          i++;
          step.kind = STEP_ATTR;
          /* @* is every attribute (name NULL). */
          if (!parse_name (s, &i, &step.test.attr_ns, &step.test.name))
            {
              step_clear (&step);
              path_error (error, xpath, i, "an attribute name was expected");
              return NULL;
            }
        }
      else if (g_str_has_prefix (s + i, "text()"))
        {
          step.kind = STEP_TEXT;
          i += strlen ("text()");
        }
      else
        {
          step.kind = STEP_ELEMENT;
          if (!parse_name (s, &i, &step.test.ns, &step.test.name))
            {
              path_error (error, xpath, i, "an element name was expected");
              return NULL;
            }
          while (s[i] == '[')
            if (!parse_predicate (s, &i, &step.test, xpath, error))
              {
                step_clear (&step);
                return NULL;
              }
        }
      g_array_append_val (p->steps, step);
      if (step.kind != STEP_ELEMENT && s[i])
        {
          path_error (error, xpath, i, "an attribute or text() ends the path");
          return NULL;
        }
    }
  if (p->steps->len == 0 || g_array_index (p->steps, Step, 0).kind != STEP_ELEMENT)
    {
      path_error (error, xpath, 0, "the path must start with an element");
      return NULL;
    }
  return g_steal_pointer (&p);
}

static gboolean
element_matches (const Test *t, const XmCanon *c)
{
  if (t->name && strcmp (t->name, c->name) != 0)
    return FALSE;
  if (t->ns && strcmp (t->ns, c->ns) != 0)
    return FALSE;
  for (guint i = 0; t->preds && i < t->preds->len; i += 2)
    {
      XmCanonAttr *a = xm_canon_find_attr (c, NULL, t->preds->pdata[i]);
      if (a == NULL || strcmp (a->value, t->preds->pdata[i + 1]) != 0)
        return FALSE;
    }
  return TRUE;
}

static void
add_descendants (XmCanon *c, const Test *t, GPtrArray *out, gboolean self)
{
  if (self && element_matches (t, c) && !g_ptr_array_find (out, c, NULL))
    g_ptr_array_add (out, c);
  for (guint i = 0; i < c->children->len; i++)
    add_descendants (c->children->pdata[i], t, out, TRUE);
}

static void
path_apply (const XmCanonPath *p, XmCanon *root)
{
  g_autoptr (GPtrArray) ctx = g_ptr_array_new ();
  guint last = p->steps->len - 1;
  const Step *final = &g_array_index (p->steps, Step, last);
  guint n_el = final->kind == STEP_ELEMENT ? p->steps->len : last;

  /* ctx holds the elements the steps so far reach; NULL stands for the
   * document node above the root. */
  g_ptr_array_add (ctx, NULL);
  for (guint s = 0; s < n_el; s++)
    {
      const Step *step = &g_array_index (p->steps, Step, s);
      g_autoptr (GPtrArray) next = g_ptr_array_new ();

      for (guint i = 0; i < ctx->len; i++)
        {
          XmCanon *c = ctx->pdata[i];
          if (c == NULL)
            {
              if (step->descendant)
                add_descendants (root, &step->test, next, TRUE);
              else if (element_matches (&step->test, root))
                g_ptr_array_add (next, root);
              continue;
            }
          if (step->descendant)
            add_descendants (c, &step->test, next, FALSE);
          else
            for (guint k = 0; k < c->children->len; k++)
              {
                XmCanon *ch = c->children->pdata[k];
                if (element_matches (&step->test, ch) && !g_ptr_array_find (next, ch, NULL))
                  g_ptr_array_add (next, ch);
              }
        }
      g_ptr_array_unref (ctx);
      ctx = g_steal_pointer (&next);
    }

  if (final->kind == STEP_ELEMENT)
    {
      /* Remove deepest first, so no element is freed before its turn; the
       * root itself is kept (an empty shell compares equal). */
      for (guint i = ctx->len; i > 0; i--)
        {
          XmCanon *c = ctx->pdata[i - 1];
          gboolean inside_removed = FALSE;
          for (XmCanon *up = c->parent; up && !inside_removed; up = up->parent)
            inside_removed = g_ptr_array_find (ctx, up, NULL);
          if (inside_removed)
            continue;
          if (c == root)
            {
              g_ptr_array_set_size (c->attrs, 0);
              g_ptr_array_set_size (c->children, 0);
              g_clear_pointer (&c->text, g_free);
            }
          else
            xm_canon_remove_child (c);
        }
      return;
    }
  for (guint i = 0; i < ctx->len; i++)
    {
      XmCanon *c = ctx->pdata[i];
      if (final->kind == STEP_TEXT)
        g_clear_pointer (&c->text, g_free);
      else if (final->test.name == NULL)
        g_ptr_array_set_size (c->attrs, 0);
      else
        {
          XmCanonAttr *a = xm_canon_find_attr (c, final->test.attr_ns, final->test.name);
          if (a)
            xm_canon_remove_attr (c, a);
        }
    }
}

void
xm_canon_normalise (XmCanon *canon, GPtrArray *paths)
{
  normalise_builtin (canon);
  for (guint i = 0; paths && i < paths->len; i++)
    path_apply (paths->pdata[i], canon);
  g_clear_pointer (&canon->key, g_free);
  xm_canon_finish (canon);
}

