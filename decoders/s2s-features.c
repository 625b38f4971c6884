/* s2s-features.c: see s2s-features.h. */
#include "config.h"

#include <string.h>

#include "s2s-features.h"

#define NS_STREAM "http://etherx.jabber.org/streams"

gboolean
xm_s2s_header_is_s2s (const XmNode *h)
{
  if (h == NULL)
    return FALSE;
  for (guint i = 0; i < h->n_ns_decls; i++)
    if (h->ns_decls[i].prefix == NULL)
      return strcmp (h->ns_decls[i].uri, "jabber:server") == 0;
  return FALSE;
}

const char *
xm_s2s_feature_note (const XmNode *el, XmDir dir)
{
  if (el == NULL || el->type != XM_NODE_ELEMENT)
    return NULL;
  if (dir == XM_DIR_S2C && xm_node_is (el, NS_STREAM, "features"))
    {
      gboolean bidi = xm_node_child (el, XM_NS_BIDI_FEATURE, "bidi") != NULL;
      gboolean sm = xm_node_child (el, XM_NS_SM, "sm") != NULL;

      if (bidi && sm)
        return "the receiving server offers XEP-0288 bidirectional s2s (its "
               "own stanzas back over this stream) and XEP-0198 stream "
               "management on s2s";
      if (bidi)
        return "the receiving server offers XEP-0288 bidirectional s2s (its "
               "own stanzas back over this stream)";
      if (sm)
        return "the receiving server offers XEP-0198 stream management on "
               "s2s (acknowledged stanzas between the servers)";
      return NULL;
    }
  if (dir == XM_DIR_S2C && xm_node_is (el, NS_STREAM, "error")
      && xm_node_condition (el, "urn:ietf:params:xml:ns:xmpp-streams")
      && strcmp (xm_node_condition (el, "urn:ietf:params:xml:ns:xmpp-streams")->name,
                 "host-unknown") == 0)
    return "host-unknown: the receiving server does not serve the domain in "
           "the stream's 'to' (RFC 6120 §4.9.3.6): the initiating server "
           "resolved a domain (DNS, SRV) to a server that is not its host";
  if (dir == XM_DIR_C2S && xm_node_is (el, XM_NS_BIDI, "bidi"))
    return "XEP-0288: the initiating server asks for bidirectional s2s: from "
           "here on both servers send stanzas over this one stream (S->C "
           "stanzas come from the receiving server's domain, and no second "
           "connection is opened for them)";
  if (dir == XM_DIR_C2S && xm_node_is (el, XM_NS_SM, "enable"))
    return "XEP-0198 on s2s: the initiating server asks the receiving server "
           "to acknowledge its stanzas (<r/>, <a/>) on this stream";
  if (dir == XM_DIR_S2C && xm_node_is (el, XM_NS_SM, "enabled"))
    return "XEP-0198 on s2s: stream management is on for this stream (the "
           "receiving server acknowledges the initiating server's stanzas)";
  return NULL;
}
