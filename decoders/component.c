/* component.c: see component.h. XEP-0114 §3 (the handshake) and what
 * prosody and ejabberd answer when it fails. */
#include "config.h"

#include <string.h>

#include "component.h"
#include "sasl-private.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_XMPP_STREAMS "urn:ietf:params:xml:ns:xmpp-streams"

/* The longest domain quoted in a note. */
#define DOMAIN_MAX 128

typedef enum {
  COMP_UNKNOWN,    /* no client stream header yet */
  COMP_NO,         /* not a component stream (c2s, s2s) */
  COMP_OPENED,     /* the component opened its stream */
  COMP_HANDSHAKE,  /* it sent its <handshake/> */
  COMP_ACCEPTED,   /* the server answered <handshake/> */
} CompState;

struct _XmComponent {
  CompState state;
  char *domain;     /* the client header's to=, for the field */
  char *shown;      /* the same excerpted and escaped, for notes */
  gboolean connect; /* jabber:component:connect: the server opens */
};

XmComponent *
xm_component_new (void)
{
  return g_new0 (XmComponent, 1);
}

void
xm_component_free (XmComponent *comp)
{
  if (comp == NULL)
    return;
  g_free (comp->domain);
  g_free (comp->shown);
  g_free (comp);
}

const char *
xm_component_stream_ns (const XmNode *header)
{
  if (header == NULL || header->type != XM_NODE_ELEMENT)
    return NULL;
  for (guint i = 0; i < header->n_ns_decls; i++)
    if (header->ns_decls[i].prefix == NULL)
      return header->ns_decls[i].uri;
  return NULL;
}

gboolean
xm_component_is_stream (const XmNode *header)
{
  const char *ns = xm_component_stream_ns (header);

  return ns && (strcmp (ns, XM_NS_COMPONENT_ACCEPT) == 0
                || strcmp (ns, XM_NS_COMPONENT_CONNECT) == 0);
}

void
xm_component_stream_open (XmComponent *comp, const XmNode *header, gboolean from_client)
{
  const char *to;

  g_return_if_fail (comp != NULL);
  if (!from_client || comp->state != COMP_UNKNOWN)
    return;
  if (!xm_component_is_stream (header))
    {
      comp->state = COMP_NO;
      return;
    }
  comp->state = COMP_OPENED;
  comp->connect = strcmp (xm_component_stream_ns (header), XM_NS_COMPONENT_CONNECT) == 0;
  to = xm_node_attr (header, "to");
  if (to)
    {
      comp->domain = g_strndup (to, MIN (strlen (to), DOMAIN_MAX * 8));
      comp->shown = xm_sasl_excerpt (to, strlen (to), DOMAIN_MAX);
    }
}

static XmSaslDecode *
decode_new (const char *element, const char *step)
{
  XmSaslDecode *d = xm_sasl_decode_new ("XEP-0114");

  d->element = g_strdup (element);
  d->step = g_strdup (step);
  return d;
}

/* What a stream error before (or in answer to) the handshake means. */
static void
explain_error (XmComponent *comp, XmSaslDecode *d, const XmNode *error)
{
  const XmNode *cond = xm_node_condition (error, NS_XMPP_STREAMS);
  const char *domain = comp->shown ? comp->shown : "(no to=)";

  if (cond == NULL)
    {
      xm_sasl_note (d, "the server refused the component %s without a condition "
                    "(RFC 6120 §4.9.3)", domain);
      return;
    }
  if (strcmp (cond->name, "not-authorized") == 0)
    /* ejabberd 23.01 answers a domain it has no component for with
     * not-authorized too, after the handshake; prosody 0.12 with
     * host-unknown, before it. */
    xm_sasl_note (d, "not-authorized: the server rejected the handshake for %s: "
                  "wrong secret (the component's secret is not the one the "
                  "server has for this domain; ejabberd also says this for a "
                  "domain it has no component for) (XEP-0114 §3)", domain);
  else if (strcmp (cond->name, "host-unknown") == 0)
    xm_sasl_note (d, "host-unknown: the server has no component %s: wrong domain "
                  "(the stream's to= must be a component domain the server "
                  "is configured with) (XEP-0114 §3)", domain);
  else if (strcmp (cond->name, "conflict") == 0)
    xm_sasl_note (d, "conflict: another component is already connected as %s",
                  domain);
  else
    {
      g_autofree char *name = xm_sasl_excerpt (cond->name, strlen (cond->name), 64);
      xm_sasl_note (d, "%s: the server refused the component %s", name, domain);
    }
}

XmSaslDecode *
xm_component_decode (XmComponent *comp, const XmNode *el, gboolean from_client)
{
  XmSaslDecode *d;

  g_return_val_if_fail (comp != NULL, NULL);
  if (el == NULL || el->type != XM_NODE_ELEMENT
      || (comp->state != COMP_OPENED && comp->state != COMP_HANDSHAKE))
    return NULL;
  if (xm_node_is (el, XM_NS_COMPONENT_ACCEPT, "handshake")
      || xm_node_is (el, XM_NS_COMPONENT_CONNECT, "handshake"))
    {
      g_autofree char *text = xm_node_text (el);

      g_strstrip (text);
      if (from_client)
        {
          d = decode_new ("handshake", NULL);
          if (comp->domain)
            xm_sasl_field_str (d, "component", comp->domain, FALSE);
          xm_sasl_field_str (d, "digest", text, TRUE);
          if (!xm_sasl_is_sha1_hex (text, TRUE))
            xm_sasl_note (d, "the handshake is not 40 hex digits (XEP-0114 §3: "
                          "the hex SHA-1 of the stream id and the secret)");
          comp->state = COMP_HANDSHAKE;
          return d;
        }
      d = decode_new ("handshake", "success");
      if (*text != '\0')
        xm_sasl_note (d, "the server's <handshake/> should be empty (XEP-0114 §3)");
      if (comp->state == COMP_OPENED)
        xm_sasl_note (d, "the server accepted a handshake the component did not send");
      else
        xm_sasl_note (d, "the server accepted the handshake: %s is connected",
                      comp->shown ? comp->shown : "the component");
      comp->state = COMP_ACCEPTED;
      return d;
    }
  if (!from_client && xm_node_is (el, NS_STREAMS, "error"))
    {
      d = decode_new ("stream:error", "failure");
      explain_error (comp, d, el);
      return d;
    }
  return NULL;
}

char *
xm_component_handshake (const char *stream_id, const char *secret)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA1);

  g_return_val_if_fail (stream_id != NULL && secret != NULL, NULL);
  g_checksum_update (sum, (const guchar *) stream_id, strlen (stream_id));
  g_checksum_update (sum, (const guchar *) secret, strlen (secret));
  return g_strdup (g_checksum_get_string (sum));
}
