/* conn-component.c: XEP-0114 components in replay, both roles.
 *
 * A component's stream (jabber:component:accept) has no features, no TLS
 * and no SASL: the component opens its stream to its domain, the server
 * answers with a stream id, the component proves the secret with
 * <handshake>hex SHA-1 of stream id + secret</handshake> and the server
 * answers an empty <handshake/> (XEP-0114 §3), after which stanzas flow.
 *
 * Against a server, replay computes the handshake anew from --password
 * (or --credentials: DOMAIN SECRET) and the live stream id. With --serve it
 * plays the server: the domain picks the recorded connection, the
 * handshake is checked against the secret, and a wrong one gets what
 * servers send (<not-authorized/>), as does a domain the recording has no
 * session for (<host-unknown/>). */
#include "config.h"

#include <string.h>

#include "component.h"
#include "replay-private.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_XMPP_STREAMS "urn:ietf:params:xml:ns:xmpp-streams"
#define HANDSHAKE_MECHANISM "the XEP-0114 handshake"

static gboolean
is_handshake (const XmNode *el)
{
  return xm_node_is (el, XM_NS_COMPONENT_ACCEPT, "handshake")
         || xm_node_is (el, XM_NS_COMPONENT_CONNECT, "handshake");
}

/* ---- against a server ---- */

void
xm_conn_component_open (Conn *c)
{
  const char *secret = xm_replay_password (c->r, c);
  g_autofree char *digest = NULL, *xml = NULL;

  if (secret == NULL)
    {
      xm_replay_fatal (c->r, c, "%s is an XEP-0114 component: its handshake is "
                       "computed from the live stream id and its secret: give "
                       "--password SECRET (or --credentials FILE with a line "
                       "'%s SECRET')", c->sc->domain ? c->sc->domain : "it",
                       c->sc->domain ? c->sc->domain : "DOMAIN");
      return;
    }
  if (c->stream_id == NULL)
    {
      xm_replay_fatal (c->r, c, "the server's stream header has no id, which the "
                       "XEP-0114 handshake is computed from");
      return;
    }
  digest = xm_component_handshake (c->stream_id, secret);
  xml = g_strdup_printf ("<handshake>%s</handshake>", digest);
  c->login = XM_LOGIN_COMPONENT;
  g_free (c->mechanism);
  c->mechanism = g_strdup (HANDSHAKE_MECHANISM);
  c->state = NEG_SASL;
  xm_conn_send (c, xml, strlen (xml));
}

/* The server's condition, and its <text/> (escaped for one line). */
static char *
stream_error (const XmNode *el)
{
  const XmNode *cond = NULL, *text = NULL;
  g_autofree char *t = NULL;

  for (const XmNode *n = el->children; n; n = n->next)
    if (n->type == XM_NODE_ELEMENT && g_strcmp0 (n->ns, NS_XMPP_STREAMS) == 0)
      {
        if (strcmp (n->name, "text") == 0)
          text = n;
        else if (cond == NULL)
          cond = n;
      }
  if (text)
    {
      t = xm_node_text (text);
      g_strdelimit (g_strstrip (t), "\r\n\t", ' ');
    }
  return g_strdup_printf ("<%s/>%s%s%s", cond ? cond->name : "?", t ? " (\"" : "",
                          t ? t : "", t ? "\")" : "");
}

void
xm_conn_component_answer (Conn *c, XmStanza *st)
{
  const XmNode *el = st->root;
  const char *domain = c->sc->domain ? c->sc->domain : "the component";

  if (is_handshake (el))
    {
      c->authed = TRUE;
      c->state = NEG_ESTABLISHED;
      xm_replay_established (c);
      return;
    }
  if (xm_node_is (el, NS_STREAMS, "error"))
    {
      g_autofree char *what = stream_error (el);
      const XmNode *cond = xm_node_first_element (el);

      if (cond && strcmp (cond->name, "not-authorized") == 0)
        xm_replay_fatal (c->r, c, "the server refused the handshake for %s: %s: the "
                         "secret is wrong (check --password or --credentials), or "
                         "the server has no component %s (ejabberd says "
                         "not-authorized for that too)", domain, what, domain);
      else if (cond && strcmp (cond->name, "host-unknown") == 0)
        xm_replay_fatal (c->r, c, "the server has no component %s: %s: it is not "
                         "configured with this domain", domain, what);
      else
        xm_replay_fatal (c->r, c, "the server refused the component %s: %s", domain,
                         what);
      return;
    }
  xm_replay_fatal (c->r, c, "unexpected <%s/> from the server while waiting for "
                   "its XEP-0114 <handshake/>", el->name);
}

/* ---- serving a component under test ---- */

static void
send_str (Conn *c, const char *s)
{
  xm_conn_send (c, s, strlen (s));
}

/* Ends the stream with an error as servers do (RFC 6120 §4.9). */
static void
refuse (Conn *c, const char *condition, const char *text)
{
  g_autofree char *t = g_markup_escape_text (text, -1);
  g_autofree char *xml = g_strdup_printf ("<stream:error><%s xmlns='" NS_XMPP_STREAMS
                                          "'/><text xmlns='" NS_XMPP_STREAMS "'>%s"
                                          "</text></stream:error></stream:stream>",
                                          condition, t);

  send_str (c, xml);
  xm_serve_release (c);
  xm_replay_progress (c->r);
  xm_conn_close (c);
}

/* The recorded component connection for domain not yet taken. */
static XmScriptConn *
claim (Replay *r, const char *domain)
{
  for (guint i = 0; i < r->script->conns->len; i++)
    {
      XmScriptConn *sc = r->script->conns->pdata[i];

      if (sc->component && sc->steps->len && sc->domain
          && g_ascii_strcasecmp (sc->domain, domain) == 0
          && !g_hash_table_contains (r->claimed, sc))
        return sc;
    }
  return NULL;
}

void
xm_serve_component_open (Conn *c, const XmNode *header)
{
  Replay *r = c->r;
  const char *to = xm_node_attr (header, "to");
  XmScriptConn *sc = to ? claim (r, to) : NULL;
  g_autofree char *id = NULL, *from = NULL, *xml = NULL;

  c->login = XM_LOGIN_COMPONENT;
  if (sc && sc->stream_ids->len > 0)
    id = g_markup_escape_text (sc->stream_ids->pdata[0], -1);
  else
    id = g_uuid_string_random ();
  from = g_markup_escape_text (to ? to : "", -1);
  g_free (c->stream_id);
  c->stream_id = g_strdup (sc && sc->stream_ids->len > 0 ? sc->stream_ids->pdata[0] : id);
  c->live_streams++;
  xml = g_strdup_printf ("<?xml version='1.0'?><stream:stream xmlns:stream='" NS_STREAMS
                         "' xmlns='" XM_NS_COMPONENT_ACCEPT "' from='%s' id='%s'>",
                         from, id);
  send_str (c, xml);
  if (sc == NULL)
    {
      /* what the peer sent, on one line */
      g_autofree char *shown = to ? g_strescape (to, NULL) : g_strdup ("(no to=)");
      g_autofree char *h = g_strdup_printf ("a component connected as %s, which the "
                                            "recording has no (more) component "
                                            "connection for", shown);
      xm_replay_report (c, h, NULL);
      r->unexpected++;
      refuse (c, "host-unknown", "xmitm replay: no recorded component session "
                                 "left for this domain");
      return;
    }
  /* Taken once the handshake is right: a component that fails or leaves
   * before leaves it to the next. */
  c->sc = sc;
  g_free (c->account);
  c->account = g_strdup (sc->domain);
  g_free (c->label);
  c->label = g_strdup_printf ("#%u %s", sc->conn, c->account);
  g_free (c->mechanism);
  c->mechanism = g_strdup (HANDSHAKE_MECHANISM);
  c->state = NEG_SASL;
}

void
xm_serve_component_stanza (Conn *c, const XmNode *el)
{
  Replay *r = c->r;
  const char *secret;
  g_autofree char *want = NULL, *got = NULL;

  if (c->state != NEG_SASL || !is_handshake (el))
    {
      xm_replay_say (r, "%s: unexpected <%s/> before the component's XEP-0114 "
                     "handshake; closing", c->label, el->name);
      refuse (c, "not-authorized", "xmitm replay: the handshake comes first");
      return;
    }
  secret = xm_replay_password (r, c);
  if (secret == NULL)
    {
      xm_replay_fatal (r, c, "the component sent its XEP-0114 handshake: give its "
                       "secret with --password SECRET (or --credentials FILE with "
                       "a line '%s SECRET') to check it", c->account);
      return;
    }
  want = xm_component_handshake (c->stream_id, secret);
  got = xm_node_text (el);
  g_strstrip (got);
  if (g_ascii_strcasecmp (want, got) != 0)
    {
      g_autofree char *h = g_strdup_printf ("C->S the XEP-0114 handshake for %s is not "
                                            "the SHA-1 of the stream id and the secret "
                                            "xmitm replay was given (wrong secret); the "
                                            "recorded component was accepted",
                                            c->account);
      xm_replay_report (c, h, NULL);
      r->compared++;
      r->differ++;
      refuse (c, "not-authorized", "xmitm replay: wrong handshake (not the SHA-1 of "
                                   "the stream id and the secret)");
      return;
    }
  if (g_hash_table_contains (r->claimed, c->sc))
    {
      /* Another component of this domain got in meanwhile. */
      XmScriptConn *sc = claim (r, c->account);

      if (sc == NULL)
        {
          g_autofree char *h = g_strdup_printf ("a second component connected as %s, "
                                                "which the recording has no (more) "
                                                "component connection for", c->account);
          xm_replay_report (c, h, NULL);
          r->unexpected++;
          refuse (c, "conflict", "xmitm replay: no recorded component session left "
                                 "for this domain");
          return;
        }
      c->sc = sc;
      g_free (c->label);
      c->label = g_strdup_printf ("#%u %s", sc->conn, c->account);
    }
  g_hash_table_add (r->claimed, c->sc);
  c->claimed = TRUE;
  xm_replay_claimed (c);
  send_str (c, "<handshake/>");
  g_hash_table_add (r->logged_in, c->sc);
  c->authed = TRUE;
  c->stage = XM_FEATURES_AUTH;
  c->state = NEG_ESTABLISHED;
  xm_replay_established (c);
}
