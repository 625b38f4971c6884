/* dialback.c: see dialback.h. XEP-0220 §2 (the protocol), §2.4 (errors). */
#include "config.h"

#include <string.h>

#include "dialback.h"
#include "sasl-private.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

/* The longest domain or id quoted in a note. */
#define NAME_MAX_SHOWN 128

/* What the condition of a dialback error means (XEP-0220 §2.4). */
static const struct {
  const char *name;
  const char *meaning;
} conditions[] = {
  { "item-not-found", "the receiving server does not serve the domain in 'to' "
                      "(or does not know the one in 'from')" },
  { "remote-server-not-found", "the receiving server could not reach the "
                               "authoritative server of 'from' to verify the key "
                               "(DNS or connection failure)" },
  { "remote-server-timeout", "the receiving server's connection to the "
                             "authoritative server of 'from' timed out" },
  { "policy-violation", "the receiving server's policy refuses dialback for this "
                        "domain (it may require certificates)" },
  { "not-authorized", "the receiving server does not allow dialback here (it may "
                      "require certificates)" },
  { "internal-server-error", "the receiving server failed internally" },
};

static char *
shown (const char *s)
{
  return s ? xm_sasl_excerpt (s, strlen (s), NAME_MAX_SHOWN) : g_strdup ("?");
}

static void
explain_error (XmSaslDecode *d, const XmNode *el)
{
  const XmNode *cond = xm_node_condition (xm_node_child (el, NULL, "error"), NS_STANZAS);
  if (cond == NULL)
    {
      xm_sasl_note (d, "dialback failed without a condition (XEP-0220 §2.4 "
                    "wants a stanza error)");
      return;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (conditions); i++)
    if (strcmp (conditions[i].name, cond->name) == 0)
      {
        xm_sasl_note (d, "%s: %s (XEP-0220 §2.4)", cond->name, conditions[i].meaning);
        return;
      }
  {
    g_autofree char *name = xm_sasl_excerpt (cond->name, strlen (cond->name), 64);
    xm_sasl_note (d, "%s: dialback failed (XEP-0220 §2.4)", name);
  }
}

XmSaslDecode *
xm_dialback_decode (const XmNode *el)
{
  gboolean verify;
  const char *from, *to, *id, *type;
  g_autofree char *key = NULL, *f = NULL, *t = NULL, *i = NULL;
  XmSaslDecode *d;

  if (el == NULL || el->type != XM_NODE_ELEMENT || g_strcmp0 (el->ns, XM_NS_DIALBACK) != 0
      || (strcmp (el->name, "result") != 0 && strcmp (el->name, "verify") != 0))
    return NULL;
  verify = strcmp (el->name, "verify") == 0;
  from = xm_node_attr (el, "from");
  to = xm_node_attr (el, "to");
  id = xm_node_attr (el, "id");
  type = xm_node_attr (el, "type");
  key = xm_node_text (el);
  g_strstrip (key);
  f = shown (from);
  t = shown (to);
  i = shown (id);

  d = xm_sasl_decode_new ("XEP-0220");
  d->element = g_strdup (verify ? "db:verify" : "db:result");
  d->step = type ? xm_sasl_excerpt (type, strlen (type), 32) : g_strdup ("request");
  if (from)
    xm_sasl_field_str (d, "from", from, FALSE);
  if (to)
    xm_sasl_field_str (d, "to", to, FALSE);
  if (id)
    xm_sasl_field_str (d, "id", id, FALSE);
  if (*key)
    xm_sasl_field_str (d, "key", key, TRUE);

  if (from == NULL || to == NULL)
    xm_sasl_note (d, "without %s (XEP-0220 §2.1 requires from and to)",
                  from == NULL && to == NULL ? "from and to" : from ? "to" : "from");
  if (verify && id == NULL)
    xm_sasl_note (d, "without id: the stream id the key is checked for "
                  "(XEP-0220 §2.1.2)");
  if (type == NULL)
    {
      if (*key == '\0')
        xm_sasl_note (d, "a request without a key (XEP-0220 §2.1)");
      else if (verify)
        xm_sasl_note (d, "%s asks %s's authoritative server whether the key is "
                      "%s's for stream %s (XEP-0220 §2.1.2)", f, t, t, i);
      else
        xm_sasl_note (d, "%s asks %s to accept this stream from %s; %s checks the "
                      "key with %s's authoritative server (XEP-0220 §2.1.1)",
                      f, t, f, t, f);
    }
  else if (strcmp (type, "valid") == 0)
    {
      if (verify)
        xm_sasl_note (d, "%s confirms the key for stream %s (XEP-0220 §2.1.2)", f, i);
      else
        xm_sasl_note (d, "%s accepts %s: this stream may carry its stanzas "
                      "(XEP-0220 §2.1.3)", f, t);
    }
  else if (strcmp (type, "invalid") == 0)
    {
      if (verify)
        xm_sasl_note (d, "%s says the key for stream %s is not its own "
                      "(XEP-0220 §2.1.2)", f, i);
      else
        xm_sasl_note (d, "%s refuses %s: its authoritative server did not confirm "
                      "the key (XEP-0220 §2.1.3)", f, t);
    }
  else if (strcmp (type, "error") == 0)
    explain_error (d, el);
  else
    xm_sasl_note (d, "type '%s' is not valid, invalid or error (XEP-0220 §2.1)",
                  d->step);
  return d;
}
