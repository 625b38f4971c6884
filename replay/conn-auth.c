/* conn-auth.c: a replayed client's authentication, as recorded: SASL
 * (RFC 6120 §6: SCRAM and DIGEST-MD5 computed anew from the password,
 * PLAIN, recorded payloads), XEP-0388 SASL2 with its inline requests, and
 * XEP-0078 jabber:iq:auth (password or digest of the live stream id). */
#include "config.h"

#include <string.h>

#include "replay-private.h"

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_SASL2 "urn:xmpp:sasl:2"
#define NS_FAST "urn:xmpp:fast:0"
#define NS_IQ_AUTH "jabber:iq:auth"
#define NS_SM "urn:xmpp:sm:3"

static char *
sasl2_authenticate (Conn *c, const char *mechanism, const char *b64)
{
  GString *out = g_string_new (NULL);
  const XmNode *rec = c->sc->sasl2_authenticate ? c->sc->sasl2_authenticate->root : NULL;
  g_autofree char *m = g_markup_escape_text (mechanism, -1);

  g_string_append_printf (out, "<authenticate xmlns='" NS_SASL2 "' mechanism='%s'>", m);
  if (b64)
    g_string_append_printf (out, "<initial-response>%s</initial-response>", b64);
  for (const XmNode *n = rec ? rec->children : NULL; n; n = n->next)
    if (n->type == XM_NODE_ELEMENT && !xm_node_is (n, NS_SASL2, "initial-response"))
      {
        gboolean changed;
        g_autofree char *x = xm_conn_rewrite (c, n, &changed);
        g_string_append (out, x);
      }
  g_string_append (out, "</authenticate>");
  return g_string_free (out, FALSE);
}

static void
send_sasl (Conn *c, const char *element, const guint8 *data, gsize len,
           const char *mechanism)
{
  g_autofree char *b64 = len ? g_base64_encode (data, len) : g_strdup ("=");
  g_autofree char *xml = NULL;

  if (mechanism && c->sc->sasl2)
    xml = sasl2_authenticate (c, mechanism, data ? b64 : NULL);
  else if (c->sc->sasl2)
    xml = g_strdup_printf ("<%s xmlns='" NS_SASL2 "'>%s</%s>", element, b64, element);
  else if (mechanism)
    xml = g_markup_printf_escaped ("<auth xmlns='" NS_SASL "' mechanism='%s'>%s</auth>",
                                   mechanism, data ? b64 : "");
  else
    xml = g_strdup_printf ("<%s xmlns='" NS_SASL "'>%s</%s>", element, b64, element);
  xm_conn_send (c, xml, strlen (xml));
}

static gboolean
offered (const XmNode *mechs, const char *name)
{
  for (const XmNode *m = mechs ? mechs->children : NULL; m; m = m->next)
    if (m->type == XM_NODE_ELEMENT && strcmp (m->name, "mechanism") == 0)
      {
        g_autofree char *t = xm_node_text (m);
        if (g_ascii_strcasecmp (g_strstrip (t), name) == 0)
          return TRUE;
      }
  return FALSE;
}

/* XEP-0388 offers its mechanisms in <authentication/>, and XEP-0484 its
 * token mechanisms inline: <inline><fast><mechanism/>. */
static gboolean
offered_sasl2 (const XmNode *auth, const char *name)
{
  XmNode *in = auth ? xm_node_child (auth, NS_SASL2, "inline") : NULL;
  XmNode *fast = in ? xm_node_child (in, NS_FAST, "fast") : NULL;

  return offered (auth, name) || offered (fast, name);
}

static const char *
authcid (Conn *c)
{
  static char buf[256];

  if (c->sc->authcid)
    return c->sc->authcid;
  if (c->account)
    {
      const char *at = strchr (c->account, '@');
      g_strlcpy (buf, c->account, at ? MIN ((gsize) (at - c->account) + 1, sizeof buf)
                                     : sizeof buf);
      return buf;
    }
  return "";
}

/* ---- XEP-0078 jabber:iq:auth ---- */

static XmNode *
iq_auth_query (const XmNode *iq)
{
  return iq ? xm_node_child (iq, NS_IQ_AUTH, "query") : NULL;
}

/* The recorded text of a secret child of the recorded set, when the
 * recording kept it. New string or NULL. */
static char *
recorded_secret (Conn *c, const char *name)
{
  XmNode *q = iq_auth_query (c->sc->iq_auth_set->root);
  XmNode *el = q ? xm_node_child (q, NS_IQ_AUTH, name) : NULL;
  char *t;

  if (el == NULL || !c->r->script->secrets)
    return NULL;
  t = xm_node_text (el);
  return t;
}

/* §3: the recorded set again, with the password or a digest of the live
 * stream id computed anew. */
static void
send_iq_auth_set (Conn *c)
{
  const XmNode *iq = c->sc->iq_auth_set->root;
  XmNode *q = iq_auth_query (iq);
  g_autofree char *recorded_pw = recorded_secret (c, "password");
  const char *password = xm_replay_password (c->r, c);
  gboolean digest = xm_node_child (q, NS_IQ_AUTH, "digest") != NULL;
  GString *out = g_string_new ("<iq type='set'");
  g_autofree char *xml = NULL;

  if (password == NULL)
    password = recorded_pw;
  /* What the server offers now, if it said (the answer to the get). */
  if (digest && !c->iq_auth_digest && c->iq_auth_password)
    digest = FALSE;
  else if (!digest && !c->iq_auth_password && c->iq_auth_digest)
    digest = TRUE;
  if (password == NULL)
    {
      xm_replay_fatal (c->r, c, "%s logged in with XEP-0078 (jabber:iq:auth) %s: "
                       "give --password PW or --credentials FILE (or --password-file FILE)%s",
                       c->account ? c->account : c->label,
                       digest ? "digest, which replay computes anew from the password"
                              : "password",
                       digest || c->r->script->secrets ? ""
                       : ", or record with --record-secrets to reuse it");
      g_string_free (out, TRUE);
      return;
    }
  g_free (c->mechanism);
  c->mechanism = g_strdup (digest ? "XEP-0078 digest" : "XEP-0078 password");
  for (guint i = 0; i < iq->n_attrs; i++)
    if (iq->attrs[i].ns == NULL && strcmp (iq->attrs[i].name, "type") != 0)
      {
        g_string_append_printf (out, " %s='", iq->attrs[i].name);
        xm_xml_escape (out, iq->attrs[i].value, strlen (iq->attrs[i].value), TRUE);
        g_string_append_c (out, '\'');
      }
  g_string_append (out, "><query xmlns='" NS_IQ_AUTH "'>");
  for (const XmNode *n = q ? q->children : NULL; n; n = n->next)
    {
      if (n->type != XM_NODE_ELEMENT)
        continue;
      if (strcmp (n->name, "password") == 0 || strcmp (n->name, "digest") == 0)
        continue;
      {
        gboolean changed;
        g_autofree char *x = xm_conn_rewrite (c, n, &changed);
        g_string_append (out, x);
      }
    }
  if (digest)
    {
      g_autofree char *d = xm_auth_legacy_digest (c->stream_id ? c->stream_id : "",
                                                  password);
      g_string_append_printf (out, "<digest>%s</digest>", d);
    }
  else
    {
      g_string_append (out, "<password>");
      xm_xml_escape (out, password, strlen (password), FALSE);
      g_string_append (out, "</password>");
    }
  g_string_append (out, "</query></iq>");
  xml = g_string_free (out, FALSE);
  xm_conn_send (c, xml, strlen (xml));
}

static void
start_iq_auth (Conn *c)
{
  c->state = NEG_IQ_AUTH;
  c->login = XM_LOGIN_IQ_AUTH;
  if (c->sc->iq_auth_set == NULL)
    {
      xm_replay_fatal (c->r, c, "the recording's XEP-0078 login has no set to replay");
      return;
    }
  if (c->sc->iq_auth_get)
    {
      /* §3: ask which fields the server takes first, as recorded. */
      xm_conn_send (c, (const char *) c->sc->iq_auth_get->raw, c->sc->iq_auth_get->raw_len);
      return;
    }
  send_iq_auth_set (c);
}

void
xm_conn_auth_iq_answer (Conn *c, const XmNode *el)
{
  const char *id = xm_node_attr (el, "id");
  gboolean to_set = g_strcmp0 (id, xm_node_attr (c->sc->iq_auth_set->root, "id")) == 0;

  if (!to_set && (c->sc->iq_auth_get == NULL
                  || g_strcmp0 (id, xm_node_attr (c->sc->iq_auth_get->root, "id")) != 0))
    {
      xm_replay_fatal (c->r, c, "unexpected <iq id='%s'/> from the server during "
                       "XEP-0078 authentication", id ? id : "");
      return;
    }
  if (xm_stanza_is_iq (el, "error", NULL))
    {
      XmNode *err = xm_node_child (el, NULL, "error");
      const XmNode *cond = err ? xm_node_first_element (err) : NULL;

      xm_replay_fatal (c->r, c, "authentication as %s with %s failed: the server "
                       "said <%s/> (check --password or --credentials)",
                       c->account ? c->account : authcid (c),
                       to_set ? c->mechanism : "XEP-0078 (jabber:iq:auth)",
                       cond ? cond->name : "error");
      return;
    }
  if (!to_set)
    {
      XmNode *q = iq_auth_query (el);

      c->iq_auth_digest = q && xm_node_child (q, NS_IQ_AUTH, "digest");
      c->iq_auth_password = q && xm_node_child (q, NS_IQ_AUTH, "password");
      send_iq_auth_set (c);
      return;
    }
  /* §3: authenticated, the resource bound: no restart, no bind. */
  c->authed = TRUE;
  c->stage = XM_FEATURES_AUTH;
  c->state = NEG_ESTABLISHED;
  xm_replay_established (c);
}

void
xm_conn_auth_start (Conn *c, const XmNode *features)
{
  XmNode *mechs = xm_node_child (features, NS_SASL, "mechanisms");
  const char *mech = c->sc->mechanism;
  const char *password = xm_replay_password (c->r, c);
  g_autoptr (GError) error = NULL;

  if (c->sc->iq_auth)
    {
      start_iq_auth (c);
      return;
    }
  if (mech == NULL)
    {
      xm_replay_fatal (c->r, c, "the recording has no SASL authentication to replay");
      return;
    }
  if (c->sc->sasl2)
    {
      mechs = xm_node_child (features, NS_SASL2, "authentication");
      c->login = XM_LOGIN_SASL2;
      if (mechs == NULL)
        {
          xm_replay_fatal (c->r, c, "the recording authenticated with XEP-0388 SASL2, "
                           "which the server does not offer now");
          return;
        }
    }
  if (c->sc->sasl2 ? !offered_sasl2 (mechs, mech) : !offered (mechs, mech))
    {
      static const char *const fallback[] = { "SCRAM-SHA-512", "SCRAM-SHA-256",
                                              "SCRAM-SHA-1", "PLAIN" };
      const char *pick = NULL;
      for (gsize i = 0; password && i < G_N_ELEMENTS (fallback) && !pick; i++)
        if (offered (mechs, fallback[i]))
          pick = fallback[i];
      if (pick == NULL)
        {
          xm_replay_fatal (c->r, c, "the server no longer offers %s, and no "
                           "mechanism replay can use instead%s", mech,
                           password ? "" : " (without a password)");
          return;
        }
      xm_replay_say (c->r, "%s: the server no longer offers %s; authenticating "
                     "with %s", c->label, mech, pick);
      mech = pick;
    }
  g_free (c->mechanism);
  c->mechanism = g_strdup (mech);
  c->state = NEG_SASL;

  if (g_ascii_strncasecmp (mech, "SCRAM-", 6) == 0 || g_ascii_strcasecmp (mech, "DIGEST-MD5") == 0)
    {
      if (password == NULL)
        {
          xm_replay_fatal (c->r, c, "%s logged in with %s, which replay computes "
                           "anew from the password: give --password PW or "
                           "--credentials FILE (or --password-file FILE)", c->account ? c->account : c->label,
                           mech);
          return;
        }
      if (g_ascii_strcasecmp (mech, "DIGEST-MD5") == 0)
        {
          send_sasl (c, "auth", NULL, 0, mech);
          return;
        }
      c->scram = xm_scram_new (mech, c->sc->authzid, authcid (c), password, NULL, &error);
      if (c->scram == NULL)
        {
          xm_replay_fatal (c->r, c, "%s", error->message);
          return;
        }
      {
        const char *first = xm_scram_client_first (c->scram);
        send_sasl (c, "auth", (const guint8 *) first, strlen (first), mech);
      }
      return;
    }
  if (g_ascii_strcasecmp (mech, "PLAIN") == 0 && password)
    {
      g_autoptr (GBytes) p = xm_auth_plain (c->sc->authzid, authcid (c), password);
      gsize len;
      const guint8 *data = g_bytes_get_data (p, &len);
      send_sasl (c, "auth", data, len, mech);
      return;
    }
  if (c->sc->initial_response && g_ascii_strcasecmp (mech, c->sc->mechanism) == 0)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (c->sc->initial_response, &len);
      send_sasl (c, "auth", data, len, mech);
      return;
    }
  if (g_ascii_strcasecmp (mech, "ANONYMOUS") == 0)
    {
      send_sasl (c, "auth", (const guint8 *) "", 0, mech);
      return;
    }
  xm_replay_fatal (c->r, c, "%s logged in with %s%s: give --password PW or "
                   "--credentials FILE (or --password-file FILE)%s", c->account ? c->account : c->label, mech,
                   c->r->script->secrets ? "" : " and the recording was made "
                   "without --record-secrets",
                   g_ascii_strcasecmp (mech, "PLAIN") == 0 ? ""
                   : ", or record with --record-secrets to reuse its payload");
}

static GByteArray *
payload (const XmNode *el)
{
  g_autofree char *text = xm_node_text (el);
  g_autofree guchar *data = NULL;
  gsize len = 0;
  GByteArray *out = g_byte_array_new ();

  g_strstrip (text);
  if (*text && strcmp (text, "=") != 0)
    {
      data = g_base64_decode (text, &len);
      g_byte_array_append (out, data, len);
    }
  return out;
}

void
xm_conn_auth_challenge (Conn *c, const XmNode *el)
{
  g_autoptr (GByteArray) p = payload (el);
  g_autoptr (GError) error = NULL;
  g_autofree char *answer = NULL;

  if (c->scram)
    {
      answer = xm_scram_client_final (c->scram, (const char *) p->data, p->len, &error);
    }
  else if (c->mechanism && g_ascii_strcasecmp (c->mechanism, "DIGEST-MD5") == 0)
    {
      if (c->digest_step++ == 0)
        answer = xm_digest_md5_response ((const char *) p->data, p->len,
                                         c->sc->authzid, authcid (c),
                                         xm_replay_password (c->r, c), "xmpp",
                                         c->sc->domain ? c->sc->domain : c->r->opts->host,
                                         NULL, &c->rspauth, &error);
      else
        {
          g_autofree char *got = xm_digest_md5_rspauth ((const char *) p->data, p->len);
          if (got == NULL || g_strcmp0 (got, c->rspauth) != 0)
            g_set_error (&error, XM_AUTH_ERROR, XM_AUTH_ERROR_SERVER,
                         "the server's DIGEST-MD5 rspauth is %s: it does not "
                         "know the password", got ? "wrong" : "missing");
          else
            answer = g_strdup ("");
        }
    }
  else
    g_set_error (&error, XM_AUTH_ERROR, XM_AUTH_ERROR_UNSUPPORTED,
                 "the server sent a SASL challenge for %s, which replay "
                 "cannot answer", c->mechanism ? c->mechanism : "?");
  if (answer == NULL)
    {
      xm_replay_fatal (c->r, c, "authentication failed: %s", error->message);
      return;
    }
  send_sasl (c, "response", (const guint8 *) answer, strlen (answer), NULL);
}

/* A descendant of el named ns:name, or NULL. */
static const XmNode *
find_element (const XmNode *el, const char *ns, const char *name)
{
  for (const XmNode *n = el->children; n; n = n->next)
    if (n->type == XM_NODE_ELEMENT)
      {
        const XmNode *f = xm_node_is (n, ns, name) ? n : find_element (n, ns, name);
        if (f)
          return f;
      }
  return NULL;
}

/* XEP-0388 <success/>: no stream restart; the authorization identifier
 * is the JID bound inline (bind2), and XEP-0198 may be enabled inline. */
static void
sasl2_established (Conn *c, const XmNode *el)
{
  XmNode *aid = xm_node_child (el, NS_SASL2, "authorization-identifier");
  g_autofree char *live = aid ? xm_node_text (aid) : NULL;

  if (live && c->sc->jid && strchr (g_strstrip (live), '/'))
    xm_replay_bound (c, c->sc->jid, live);
  if (find_element (el, NS_SM, "enabled"))
    c->sm_enabled = TRUE;
  c->state = NEG_ESTABLISHED;
  xm_replay_established (c);
}

void
xm_conn_auth_success (Conn *c, const XmNode *el)
{
  XmNode *additional = c->sc->sasl2 ? xm_node_child (el, NS_SASL2, "additional-data")
                                    : NULL;
  g_autoptr (GByteArray) p = c->sc->sasl2 ? additional ? payload (additional)
                                                       : g_byte_array_new ()
                                          : payload (el);
  g_autoptr (GError) error = NULL;

  if (c->scram && !xm_scram_verify (c->scram, (const char *) p->data, p->len, &error))
    {
      xm_replay_fatal (c->r, c, "authentication failed: %s", error->message);
      return;
    }
  if (c->rspauth && c->digest_step < 2 && p->len)
    {
      g_autofree char *got = xm_digest_md5_rspauth ((const char *) p->data, p->len);
      if (g_strcmp0 (got, c->rspauth) != 0)
        {
          xm_replay_fatal (c->r, c, "authentication failed: the server's "
                           "DIGEST-MD5 rspauth is wrong");
          return;
        }
    }
  c->authed = TRUE;
  c->stage = XM_FEATURES_AUTH;
  if (c->sc->sasl2)
    {
      sasl2_established (c, el);
      return;
    }
  /* RFC 6120 §6.4.6: both sides restart the stream. */
  xm_framer_restart_after (c->framer);
  xm_conn_send_header (c);
}

void
xm_conn_auth_failure (Conn *c, const XmNode *el)
{
  const XmNode *cond = xm_node_first_element (el);
  XmNode *text = xm_node_child (el, el->ns, "text");
  g_autofree char *t = text ? xm_node_text (text) : NULL;

  xm_replay_fatal (c->r, c, "authentication as %s with %s failed: the server said "
                   "<%s/>%s%s%s (check --password or --credentials)",
                   c->account ? c->account : authcid (c),
                   c->mechanism ? c->mechanism : "?",
                   cond ? cond->name : "failure", t ? " '" : "", t ? t : "",
                   t ? "'" : "");
}
