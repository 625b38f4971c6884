/* s2s-auth.c: why SASL EXTERNAL failed on a server-to-server stream, and
 * whether the servers fell back to dialback (XEP-0220).
 *
 * Only the proxy can say why: it knows whether the receiving server asked
 * for a client certificate during TLS, whether the initiating server
 * presented one, and that the one the receiving server saw was forged by
 * xmitm's CA (intercept.c). The decoder's sentence (sasl.c) is the
 * generic one, for recordings and captures too. */
#include "config.h"

#include <string.h>

#include "session-private.h"

/* XEP-0220: a server sends one db:result per domain pair it wants to
 * send for, and a db:verify per key it checks; a few on one stream is
 * usual (prosody and ejabberd: one or two). Past this many requests on
 * one stream, a warning says it is a flood, once. xmitm keeps nothing per
 * request (dialback-link.h keeps one stream id per connection), so memory
 * stays bounded however many come. */
#define DIALBACK_FLOOD 100

static gboolean
is_s2s (const XmSession *s)
{
  return g_strcmp0 (s->client_ns, "jabber:server") == 0;
}

/* A domain of a stream header, for a sentence: a hostile peer's is cut
 * and escaped. */
static char *
domain (const char *d, const char *fallback)
{
  g_autofree char *cut = NULL;

  if (d == NULL || *d == '\0')
    return g_strdup (fallback);
  cut = g_strndup (d, 128);
  return g_strescape (cut, NULL);
}

/* what: the failure, as the start of a sentence ("SASL EXTERNAL
 * failed"). */
static void
explain_cert_failure (XmSession *s, const char *what)
{
  g_autofree char *from = domain (s->client_from, "the initiating server");
  g_autofree char *to = domain (s->client_to, "the receiving server");
  const char *ca = xm_ca_cert_path (xm_proxy_config (s->proxy)->ca);

  switch (s->client_cert)
    {
    case CLIENT_CERT_FORGED:
      xm_session_note (s, XM_DIR_S2C, XM_NOTE_ERROR,
            "%s because %s does not trust xmitm's CA, which signed the client "
            "certificate xmitm presented for %s (a copy of %s's own): add "
            "xmitm's CA (%s) to %s's trusted CAs (prosody: ssl = { cafile = "
            "... }, ejabberd: ca_file), or expect dialback where it is allowed",
            what, to, s->client_cert_name, from, ca, to);
      break;
    case CLIENT_CERT_NONE:
      xm_session_note (s, XM_DIR_S2C, XM_NOTE_ERROR,
            "%s because %s presented no client certificate during TLS, so "
            "xmitm presented none to %s either: give %s a certificate for its "
            "outgoing s2s connections", what, from, to, from);
      break;
    case CLIENT_CERT_NOT_ASKED:
    case CLIENT_CERT_ASKED:
      xm_session_note (s, XM_DIR_S2C, XM_NOTE_ERROR,
            "%s because %s did not ask for a client certificate during TLS%s, "
            "so it had none to check: certificates on s2s need TLS with "
            "certificates on both sides",
            what, to, s->intercept == INTERCEPT_NONE ? " (there was no TLS)" : "");
      break;
    }
}

/* RFC 6120 §4.9.3: the conditions a server refusing a peer's
 * certificate before any authentication sends (prosody with
 * s2s_secure_auth: not-authorized, "Your server's certificate is not
 * trusted"). */
static gboolean
refuses_peer (const XmNode *error)
{
  const XmNode *c = xm_node_condition (error, "urn:ietf:params:xml:ns:xmpp-streams");

  return c && (strcmp (c->name, "not-authorized") == 0
               || strcmp (c->name, "policy-violation") == 0);
}

void
xm_s2s_auth_element (XmSession *s, XmDir dir, const XmNode *root,
                     const XmSaslDecode *d)
{
  if (!is_s2s (s))
    return;
  if (dir == XM_DIR_S2C && !s->s2s_authed && s->client_cert == CLIENT_CERT_FORGED
      && xm_node_is (root, NS_STREAM, "error") && refuses_peer (root))
    {
      g_autofree char *to = domain (s->client_to, "the receiving server");
      g_autofree char *what = g_strdup_printf ("%s refused the stream", to);
      explain_cert_failure (s, what);
      return;
    }
  if (d == NULL)
    return;
  if (dir == XM_DIR_C2S && strcmp (d->protocol, "XEP-0220") == 0
      && g_strcmp0 (d->step, "request") == 0
      && ++s->dialback_requests == DIALBACK_FLOOD)
    xm_session_note (s, XM_DIR_C2S, XM_NOTE_WARNING,
          "%u dialback requests (db:result, db:verify) on this stream: a "
          "flood (XEP-0220 needs one per domain pair or key); xmitm keeps "
          "forwarding and decoding them, and keeps nothing per request",
          DIALBACK_FLOOD);
  if (dir == XM_DIR_S2C && (g_strcmp0 (d->step, "success") == 0
                            || g_strcmp0 (d->step, "valid") == 0))
    s->s2s_authed = TRUE;
  if (dir == XM_DIR_S2C && strcmp (d->protocol, "SASL") == 0
      && g_strcmp0 (d->mechanism, "EXTERNAL") == 0
      && g_strcmp0 (d->step, "failure") == 0)
    {
      s->external_failed = TRUE;
      explain_cert_failure (s, "SASL EXTERNAL failed");
    }
  else if (dir == XM_DIR_C2S && s->external_failed && !s->fell_back
           && strcmp (d->protocol, "XEP-0220") == 0
           && g_strcmp0 (d->element, "db:result") == 0
           && g_strcmp0 (d->step, "request") == 0)
    {
      g_autofree char *from = domain (s->client_from, "the initiating server");

      s->fell_back = TRUE;
      xm_session_note (s, XM_DIR_C2S, XM_NOTE_INFO,
            "%s fell back to server dialback (XEP-0220) on this stream after "
            "SASL EXTERNAL failed", from);
    }
}

void
xm_s2s_auth_end (XmSession *s)
{
  g_autofree char *from = NULL;

  if (!s->external_failed || s->fell_back)
    return;
  from = domain (s->client_from, "the initiating server");
  xm_session_note (s, XM_DIR_NONE, XM_NOTE_WARNING,
        "no dialback followed the failed SASL EXTERNAL on this stream: %s "
        "either tries again on another connection or does not federate "
        "(a server that requires certificates, such as prosody with "
        "s2s_secure_auth, never falls back)", from);
}
