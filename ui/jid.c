/* jid.c: JIDs as the filters compare them (jid.h). */
#include "config.h"

#include <string.h>

#include "jid.h"

void
xm_jid_free (XmJid *jid)
{
  g_free (jid->local);
  g_free (jid->domain);
  g_free (jid->resource);
  g_free (jid);
}

/* Localparts compare after Unicode case folding and NFC, close to PRECIS
 * UsernameCaseMapped (RFC 8265; without its width mapping), which is
 * plain ASCII folding for ASCII names. */
static char *
fold_local (const char *s, gsize len)
{
  g_autofree char *folded = g_utf8_casefold (s, len);

  return g_utf8_normalize (folded, -1, G_NORMALIZE_NFC);
}

/* Domains compare in their IDNA ASCII form, lower case, so Bücher.example
 * equals xn--bcher-kva.example; what IDNA refuses is folded like a
 * localpart. */
static char *
fold_domain (const char *s, gsize len)
{
  g_autofree char *d = g_strndup (s, len);
  char *ascii = g_hostname_to_ascii (d);

  if (ascii == NULL)
    return fold_local (s, len);
  for (char *p = ascii; *p; p++)
    *p = g_ascii_tolower (*p);
  return ascii;
}

/* RFC 7622 §3.1: the resource is everything after the first '/', the
 * localpart what precedes the first '@' before it; a trailing dot of the
 * domain is not significant (§3.2). On bad input returns NULL and, if why
 * is not NULL, a reason there. */
XmJid *
xm_jid_parse (const char *s, const char **why)
{
  const char *slash, *at, *dom;
  gsize bare_len, dom_len;
  const char *reason = NULL;
  XmJid *jid;

  slash = strchr (s, '/');
  bare_len = slash ? (gsize) (slash - s) : strlen (s);
  at = memchr (s, '@', bare_len);
  dom = at ? at + 1 : s;
  dom_len = s + bare_len - dom;
  if (dom_len > 0 && dom[dom_len - 1] == '.')
    dom_len--;

  if (!g_utf8_validate (s, -1, NULL))
    reason = "not UTF-8";
  else if (at == s)
    reason = "the localpart before '@' is empty";
  else if (dom_len == 0)
    reason = "the domain is empty";
  else if (memchr (dom, '@', dom_len))
    reason = "more than one '@' before the resource";
  else if (slash && slash[1] == '\0')
    reason = "the resource after '/' is empty";
  if (reason)
    {
      if (why)
        *why = reason;
      return NULL;
    }

  jid = g_new0 (XmJid, 1);
  jid->local = at ? fold_local (s, at - s) : NULL;
  jid->domain = fold_domain (dom, dom_len);
  jid->resource = slash ? g_strdup (slash + 1) : NULL;
  return jid;
}

/* want from the command line, got from a stanza. */
gboolean
xm_jid_matches (const XmJid *want, const XmJid *got)
{
  return g_strcmp0 (want->local, got->local) == 0
         && strcmp (want->domain, got->domain) == 0
         && (want->resource == NULL
             || g_strcmp0 (want->resource, got->resource) == 0);
}
