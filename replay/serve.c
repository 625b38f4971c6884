/* serve.c: `xmitm replay --serve`: the recorded server, played to clients.
 *
 * Each client gets the recorded stream features (less SCRAM-*-PLUS and
 * XEP-0440: no channel binding here), STARTTLS with a
 * certificate from xmitm's CA, XEP-0138 zlib compression where the recorded
 * server offered it, and its authentication accepted and checked: SASL or
 * XEP-0388 SASL2 (PLAIN; SCRAM and DIGEST-MD5 with the password from
 * --password/--credentials, since the client checks the server's proof; a
 * payload replay cannot compute, such as an XEP-0484 token, against the
 * one recorded with secrets) or XEP-0078 jabber:iq:auth (password or
 * digest). SASL2 and XEP-0078 start the session without a stream restart.
 * The account it authenticates as
 * picks the recorded connection it plays; from then on replay.c sends the
 * recorded server stanzas as the client's stanzas arrive. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <openssl/rand.h>

#include "component.h"
#include "net.h"
#include "rewrite.h"
#include "replay-private.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_COMPRESS "http://jabber.org/protocol/compress"
#define NS_SASL2 "urn:xmpp:sasl:2"
#define NS_IQ_AUTH "jabber:iq:auth"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

/* ---- negotiation, the server's side (RFC 6120 §4-§6) ---- */

static void send_element (Conn *c, const char *data, gsize len);

static void on_stream_close (guint64 offset, gpointer data);

static void
send_str (Conn *c, const char *s)
{
  send_element (c, s, strlen (s));
}

/* RFC 7395 §3.3.3: over WebSocket the features declare the stream
 * prefix themselves; in a recorded TCP stream the header did. Over BOSH
 * (XEP-0206 §3) they declare jabber:client, the body's namespace being
 * another. */
static void
send_element (Conn *c, const char *data, gsize len)
{
  static const char tag[] = "<stream:features";

  if (c->bosh && len > sizeof tag && memcmp (data, tag, sizeof tag - 1) == 0)
    {
      /* the body declares the stream prefix; the default namespace is
       * the features' to declare */
      const char *end = memchr (data, '>', len);
      gsize head = end ? (gsize) (end - data) : len;

      if (g_strstr_len (data, head, " xmlns=") == NULL)
        {
          g_autoptr (GString) s = g_string_new_len (tag, sizeof tag - 1);
          g_string_append (s, " xmlns='jabber:client'");
          g_string_append_len (s, data + sizeof tag - 1, len - (sizeof tag - 1));
          xm_conn_send (c, s->str, s->len);
          return;
        }
    }
  else if (c->ws && len > sizeof tag && memcmp (data, tag, sizeof tag - 1) == 0
      && g_strstr_len (data, MIN (len, (gsize) 512), "xmlns:stream") == NULL)
    {
      g_autoptr (GString) s = g_string_new_len (tag, sizeof tag - 1);
      g_string_append (s, " xmlns:stream='" NS_STREAMS "' xmlns='jabber:client'");
      g_string_append_len (s, data + sizeof tag - 1, len - (sizeof tag - 1));
      xm_conn_send (c, s->str, s->len);
      return;
    }
  xm_conn_send (c, data, len);
}

static void
send_features (Conn *c)
{
  XmScriptConn *sc = c->sc;
  XmStanza *f = NULL;
  static const XmFeaturesStage fallback[][3] = {
    [XM_FEATURES_INITIAL] = { XM_FEATURES_INITIAL, XM_FEATURES_TLS, XM_FEATURES_AUTH },
    [XM_FEATURES_TLS] = { XM_FEATURES_TLS, XM_FEATURES_INITIAL, XM_FEATURES_AUTH },
    [XM_FEATURES_AUTH] = { XM_FEATURES_AUTH, XM_FEATURES_AUTH, XM_FEATURES_AUTH },
  };
  XmFeaturesStage stage = c->authed ? XM_FEATURES_AUTH
                          : xm_conn_tls (c) ? XM_FEATURES_TLS : XM_FEATURES_INITIAL;

  /* Compressed where the recording compressed: what came after. */
  if (xm_conn_compressed (c) && sc->compression
      && (sc->compress_stage == XM_FEATURES_AUTH) == c->authed)
    f = sc->features[XM_FEATURES_COMPRESSED];
  for (int i = 0; i < 3 && f == NULL; i++)
    f = sc->features[fallback[stage][i]];
  c->zlib_offered = f && !xm_conn_compressed (c) && xm_features_offer_zlib (f->root);
  if (f)
    {
      /* A recording keeps what the server offered, channel binding
       * (SCRAM-*-PLUS, XEP-0440) included; --serve does not do it, and a
       * client that took it up would fail. */
      g_autofree char *removed = NULL;
      g_autoptr (GBytes) cut = xm_rewrite_features (f->raw, f->raw_len,
                                                    XM_REWRITE_STRIP_PLUS, &removed);
      gsize len;
      const char *data;

      if (cut == NULL)
        {
          send_element (c, (const char *) f->raw, f->raw_len);
          return;
        }
      data = g_bytes_get_data (cut, &len);
      send_element (c, data, len);
      if (!c->r->said_plus)
        {
          c->r->said_plus = TRUE;
          xm_replay_say (c->r, "replay: removed %s from the recorded stream features "
                         "(--serve does not do channel binding)", removed);
        }
    }
  else
    send_str (c, c->authed ? "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
                             "</stream:features>"
                           : "<stream:features><mechanisms xmlns='" NS_SASL "'>"
                             "<mechanism>PLAIN</mechanism></mechanisms></stream:features>");
}

static void
on_stream_open (XmStanza *header, gpointer data)
{
  Conn *c = data;
  const char *id = NULL;
  g_autofree char *own_id = NULL, *xml = NULL, *from = NULL, *eid = NULL;
  const char *to = xm_node_attr (header->root, "to");

  if (c->state == NEG_CLOSED)
    return;
  if (xm_component_is_stream (header->root) && c->live_streams == 0)
    {
      xm_serve_component_open (c, header->root); /* conn-component.c */
      return;
    }
  if (c->live_streams < c->sc->stream_ids->len)
    id = c->sc->stream_ids->pdata[c->live_streams];
  c->live_streams++;
  if (id == NULL)
    id = own_id = g_uuid_string_random ();
  g_free (c->stream_id);
  c->stream_id = g_strdup (id);
  from = g_markup_escape_text (c->sc->domain ? c->sc->domain : to ? to : "localhost", -1);
  eid = g_markup_escape_text (id, -1);   /* the recorded id: a file's word */
  if (c->ws)
    xml = g_strdup_printf ("<open xmlns='" XM_FRAMER_NS_FRAMING "' version='1.0' "
                           "xml:lang='en' from='%s' id='%s'/>", from, eid);
  else
    xml = g_strdup_printf ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                           "xmlns:stream='" NS_STREAMS "' version='1.0' xml:lang='en' "
                           "from='%s' id='%s'>", from, eid);
  send_str (c, xml);
  send_features (c);
  /* Offered compression: the session starts after it, or with the
   * client's first stanza (on_stanza). */
  if (c->authed && !c->zlib_offered)
    {
      c->state = NEG_ESTABLISHED;
      xm_replay_established (c);
    }
  else
    c->state = NEG_STREAM;
}

/* A failed login, in the shape of how the client logs in: SASL (RFC 6120
 * §6.5), XEP-0388 (the SASL condition inside), or an XEP-0078 iq error. */
static void
sasl_failure (Conn *c, const char *condition, const char *text)
{
  g_autofree char *t = g_markup_escape_text (text, -1);
  g_autofree char *xml = NULL;

  if (c->login == XM_LOGIN_IQ_AUTH)
    {
      g_autofree char *id = g_markup_escape_text (c->iq_auth_id ? c->iq_auth_id : "", -1);
      gboolean bad = strcmp (condition, "malformed-request") == 0;

      xml = g_strdup_printf ("<iq type='error' id='%s'><error type='%s'><%s xmlns='"
                             NS_STANZAS "'/><text xmlns='" NS_STANZAS "'>%s</text>"
                             "</error></iq>", id, bad ? "modify" : "auth",
                             bad ? "not-acceptable" : "not-authorized", t);
    }
  else if (c->login == XM_LOGIN_SASL2)
    xml = g_strdup_printf ("<failure xmlns='" NS_SASL2 "'><%s xmlns='" NS_SASL "'/>"
                           "<text>%s</text></failure>", condition, t);
  else
    xml = g_strdup_printf ("<failure xmlns='" NS_SASL "'><%s/>"
                           "<text>%s</text></failure>", condition, t);
  send_str (c, xml);
  c->state = NEG_STREAM;
}

static void
send_sasl (Conn *c, const char *element, const char *data)
{
  const char *ns = c->login == XM_LOGIN_SASL2 ? NS_SASL2 : NS_SASL;
  g_autofree char *b64 = data && *data ? g_base64_encode ((const guchar *) data, strlen (data))
                                       : NULL;
  g_autofree char *xml = b64 ? g_strdup_printf ("<%s xmlns='%s'>%s</%s>",
                                                element, ns, b64, element)
                             : g_strdup_printf ("<%s xmlns='%s'/>", element, ns);
  send_str (c, xml);
}

/* The recorded connection for account, if one is left. */
static XmScriptConn *
claim (Replay *r, const char *account)
{
  for (guint i = 0; i < r->script->conns->len; i++)
    {
      XmScriptConn *sc = r->script->conns->pdata[i];
      g_autofree char *a = xm_script_conn_account (sc);

      if (sc->steps->len && a && g_ascii_strcasecmp (a, account) == 0
          && !g_hash_table_contains (r->claimed, sc))
        return sc;
    }
  return NULL;
}

static gboolean
take (Conn *c, const char *user)
{
  Replay *r = c->r;
  g_autofree char *account = strchr (user, '@') ? g_strndup (user, strcspn (user, "/"))
    : g_strdup_printf ("%s@%s", user, c->sc->domain ? c->sc->domain : "localhost");
  XmScriptConn *sc = claim (r, account);

  if (sc == NULL)
    {
      g_autofree char *h = g_strdup_printf ("a client logged in as %s, which the "
                                            "recording has no (more) connection for",
                                            account);
      xm_replay_report (c, h, NULL);
      r->unexpected++;
      sasl_failure (c, "not-authorized", "xmitm replay: no recorded session left for this account");
      return FALSE;
    }
  g_hash_table_add (r->claimed, sc);
  c->sc = sc;
  c->claimed = TRUE;
  g_free (c->account);
  c->account = g_steal_pointer (&account);
  g_free (c->label);
  c->label = g_strdup_printf ("#%u %s", sc->conn, c->account);
  xm_replay_claimed (c);
  return TRUE;
}

void
xm_serve_release (Conn *c)
{
  if (!c->serving || !c->claimed)
    return;
  g_hash_table_remove (c->r->claimed, c->sc);
  c->claimed = FALSE;
}

/* A login that failed after take(). Every recorded connection logged in
 * (one that did not has no steps to play), so this is a difference; the
 * recorded connection is free again for another try, and if none comes it
 * is reported missing when --timeout passes. */
static void
login_failed (Conn *c, const char *condition, const char *why)
{
  Replay *r = c->r;
  g_autofree char *h = g_strdup_printf ("C->S login as %s with %s failed (%s); the "
                                        "recorded client logged in", c->account,
                                        c->mechanism ? c->mechanism : "?", why);

  xm_replay_report (c, h, NULL);
  r->compared++;
  r->differ++;
  xm_serve_release (c);
  xm_replay_progress (r);
  sasl_failure (c, condition, why);
}

/* The session starts without a stream restart (XEP-0388, XEP-0078). */
static void
established (Conn *c)
{
  g_hash_table_add (c->r->logged_in, c->sc);
  c->authed = TRUE;
  c->stage = XM_FEATURES_AUTH;
  c->state = NEG_ESTABLISHED;
  xm_replay_established (c);
}

/* XEP-0388 <success/>: the mechanism's additional data, then what the
 * recorded server granted (authorization identifier, bind2's <bound/>,
 * XEP-0198, a FAST token), as recorded. */
static void
sasl2_success (Conn *c, const char *data)
{
  const XmNode *rec = c->sc->sasl2_success ? c->sc->sasl2_success->root : NULL;
  GString *out = g_string_new ("<success xmlns='" NS_SASL2 "'>");
  g_autofree char *xml = NULL;

  if (data && *data)
    {
      g_autofree char *b64 = g_base64_encode ((const guchar *) data, strlen (data));
      g_string_append_printf (out, "<additional-data>%s</additional-data>", b64);
    }
  if (rec == NULL)
    {
      g_autofree char *a = g_markup_escape_text (c->account, -1);
      g_string_append_printf (out, "<authorization-identifier>%s"
                              "</authorization-identifier>", a);
    }
  /* Without data of our own (a mechanism replay does not compute), the
   * recorded data goes back: a token's proof is the same each time. */
  for (const XmNode *n = rec ? rec->children : NULL; n; n = n->next)
    if (n->type == XM_NODE_ELEMENT
        && !(data && xm_node_is (n, NS_SASL2, "additional-data")))
      {
        gboolean changed;
        g_autofree char *x = xm_conn_rewrite (c, n, &changed);
        g_string_append (out, x);
      }
  g_string_append (out, "</success>");
  xml = g_string_free (out, FALSE);
  send_str (c, xml);
  established (c);
}

static void
success (Conn *c, const char *data)
{
  if (c->login == XM_LOGIN_SASL2)
    {
      sasl2_success (c, data);
      return;
    }
  /* RFC 6120 §6.4.6: the stream restarts after <success/>. */
  g_hash_table_add (c->r->logged_in, c->sc);
  send_sasl (c, "success", data);
  c->authed = TRUE;
  c->stage = XM_FEATURES_AUTH;
  c->state = NEG_IDLE;
  xm_conn_restart_after (c, FALSE);
}

static GByteArray *
payload (const XmNode *el)
{
  g_autofree char *text = xm_node_text (el);
  GByteArray *out = g_byte_array_new ();

  g_strstrip (text);
  if (*text && strcmp (text, "=") != 0)
    {
      gsize len = 0;
      g_autofree guchar *d = g_base64_decode (text, &len);
      g_byte_array_append (out, d, len);
    }
  g_byte_array_append (out, (const guint8 *) "", 1); /* NUL-terminated */
  out->len--;
  return out;
}

/* serve: the recorded connection not yet taken whose login sent exactly
 * this payload (a token mechanism, XEP-0484, or anything else replay
 * cannot compute), if the recording kept it. */
static XmScriptConn *
recorded_payload (Replay *r, const char *mech, const GByteArray *p)
{
  for (guint i = 0; i < r->script->conns->len; i++)
    {
      XmScriptConn *sc = r->script->conns->pdata[i];
      gsize len;
      const guint8 *d;

      if (sc->steps->len == 0 || sc->initial_response == NULL || sc->mechanism == NULL
          || g_ascii_strcasecmp (sc->mechanism, mech) != 0
          || g_hash_table_contains (r->claimed, sc))
        continue;
      d = g_bytes_get_data (sc->initial_response, &len);
      if (len == p->len && (len == 0 || memcmp (d, p->data, len) == 0))
        return sc;
    }
  return NULL;
}

/* Whether the recording has a login with mechanism whose payload it kept. */
static gboolean
kept_payloads (Replay *r, const char *mech)
{
  for (guint i = 0; i < r->script->conns->len; i++)
    {
      XmScriptConn *sc = r->script->conns->pdata[i];
      if (sc->initial_response && sc->mechanism
          && g_ascii_strcasecmp (sc->mechanism, mech) == 0)
        return TRUE;
    }
  return FALSE;
}

/* A mechanism replay does not compute (XEP-0484 HT-* tokens, ...): the
 * login is the recorded one if its payload is the recorded payload. The
 * account is the one that payload logged in as, or the name before its
 * first NUL (HT-*: username NUL hash). */
static void
on_opaque_auth (Conn *c, const char *mech, const GByteArray *p)
{
  XmScriptConn *sc = recorded_payload (c->r, mech, p);
  const guint8 *nul = p->len ? memchr (p->data, 0, p->len) : NULL;
  g_autofree char *user = nul ? g_strndup ((const char *) p->data, nul - p->data) : NULL;

  if (sc)
    {
      g_autofree char *account = xm_script_conn_account (sc);
      if (account && take (c, account))
        success (c, NULL);
      else if (account == NULL)
        sasl_failure (c, "not-authorized", "xmitm replay: the recording does not say "
                      "who logged in");
      return;
    }
  if (user == NULL || *user == '\0')
    {
      sasl_failure (c, "invalid-mechanism", "xmitm replay --serve accepts PLAIN, "
                    "SCRAM, DIGEST-MD5 and payloads recorded with --record-secrets");
      return;
    }
  if (!take (c, user))
    return;
  if (kept_payloads (c->r, mech))
    {
      login_failed (c, "not-authorized", "not the payload the recording kept");
      return;
    }
  /* Recorded without secrets: nothing to check it against. */
  xm_replay_say (c->r, "%s: %s accepted unchecked (the recording did not keep "
                 "its payload: record with --record-secrets)", c->label, mech);
  success (c, NULL);
}

static void
on_auth (Conn *c, const char *mech, GByteArray *p)
{
  g_autoptr (GError) error = NULL;

  g_free (c->mechanism);
  c->mechanism = g_strdup (mech);
  if (mech && g_ascii_strcasecmp (mech, "PLAIN") == 0)
    {
      /* RFC 4616: [authzid] NUL authcid NUL password. */
      const guint8 *nul1 = memchr (p->data, 0, p->len);
      const guint8 *nul2 = nul1 ? memchr (nul1 + 1, 0, p->len - (nul1 + 1 - p->data)) : NULL;
      g_autofree char *user = nul2 ? g_strndup ((const char *) nul1 + 1, nul2 - nul1 - 1) : NULL;

      if (user == NULL || *user == '\0')
        {
          sasl_failure (c, "malformed-request", "PLAIN needs authcid and password");
          return;
        }
      if (!take (c, user))
        return;
      {
        const char *want = xm_replay_password (c->r, c);
        g_autofree char *pw = g_strndup ((const char *) nul2 + 1,
                                         p->len - (nul2 + 1 - p->data));
        if (want && strcmp (want, pw) != 0)
          {
            login_failed (c, "not-authorized", "not the password xmitm replay was given");
            return;
          }
      }
      success (c, NULL);
      return;
    }
  if (mech && g_ascii_strncasecmp (mech, "SCRAM-", 6) == 0 && !xm_sasl_is_plus (mech))
    {
      guint8 salt[16];
      g_autofree char *user = NULL, *first = NULL;
      const char *password;

      if (RAND_bytes (salt, sizeof salt) != 1)
        memset (salt, 0x5a, sizeof salt);
      c->scram_server = xm_scram_server_new (mech, salt, sizeof salt, 4096, NULL, &error);
      if (c->scram_server)
        user = xm_scram_server_read_first (c->scram_server, (const char *) p->data,
                                           p->len, &error);
      if (user == NULL)
        {
          sasl_failure (c, "malformed-request", error->message);
          return;
        }
      if (!take (c, user))
        return;
      password = xm_replay_password (c->r, c);
      if (password == NULL)
        {
          sasl_failure (c, "temporary-auth-failure", "xmitm replay has no password for this account");
          xm_replay_fatal (c->r, c, "the client logs in with %s, whose server signature "
                           "needs the password: give --password PW or --credentials FILE (or --password-file FILE)",
                           mech);
          return;
        }
      first = xm_scram_server_first (c->scram_server, password);
      send_sasl (c, "challenge", first);
      c->state = NEG_SASL;
      return;
    }
  if (mech && g_ascii_strcasecmp (mech, "DIGEST-MD5") == 0)
    {
      /* RFC 2831 §2.1.1: the client starts with nothing; the challenge. */
      g_autofree char *challenge = NULL;

      g_clear_pointer (&c->digest_nonce, g_free);
      challenge = xm_digest_md5_challenge (c->sc->domain ? c->sc->domain : "localhost",
                                           NULL, &c->digest_nonce);
      c->digest_step = 1;
      send_sasl (c, "challenge", challenge);
      c->state = NEG_SASL;
      return;
    }
  if (mech && !xm_sasl_is_plus (mech))
    {
      on_opaque_auth (c, mech, p);
      return;
    }
  sasl_failure (c, "invalid-mechanism", "xmitm replay --serve accepts PLAIN, SCRAM, "
                "DIGEST-MD5 and payloads recorded with --record-secrets");
}

/* RFC 2831 §2.1.2-§2.1.3: the digest-response checked against the password,
 * answered with rspauth; then the client's empty response. */
static void
on_digest_response (Conn *c, GByteArray *p)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *user = NULL, *rspauth = NULL;
  const char *password;

  if (c->digest_step == 2)
    {
      c->digest_step = 0;
      success (c, NULL);
      return;
    }
  user = xm_digest_md5_response_user ((const char *) p->data, p->len);
  if (user == NULL || *user == '\0')
    {
      sasl_failure (c, "malformed-request", "the DIGEST-MD5 response names no username");
      return;
    }
  if (!take (c, user))
    return;
  password = xm_replay_password (c->r, c);
  if (password == NULL)
    {
      sasl_failure (c, "temporary-auth-failure", "xmitm replay has no password for this account");
      xm_replay_fatal (c->r, c, "the client logs in with DIGEST-MD5, whose rspauth "
                       "needs the password: give --password PW or --credentials FILE (or --password-file FILE)");
      return;
    }
  rspauth = xm_digest_md5_server_check ((const char *) p->data, p->len, c->digest_nonce,
                                        password, "xmpp", &error);
  if (rspauth == NULL)
    {
      c->digest_step = 0;
      login_failed (c, "not-authorized", error->message);
      return;
    }
  c->digest_step = 2;
  send_sasl (c, "challenge", rspauth);
}

/* ---- XEP-0078 jabber:iq:auth ---- */

static char *
query_text (const XmNode *q, const char *name)
{
  XmNode *el = xm_node_child (q, NS_IQ_AUTH, name);
  char *t;

  if (el == NULL)
    return NULL;
  t = xm_node_text (el);
  return g_strstrip (t);
}

/* §3: the fields the server takes: as recorded, or all of them. */
static void
on_iq_auth_get (Conn *c, const XmNode *el)
{
  const char *id = xm_node_attr (el, "id");
  const XmStanza *rec = c->sc->iq_auth_fields;
  XmNode *q = rec ? xm_node_child (rec->root, NS_IQ_AUTH, "query") : NULL;
  GString *out = g_string_new ("<iq type='result'");
  g_autofree char *xml = NULL;

  if (id)
    {
      g_string_append (out, " id='");
      xm_xml_escape (out, id, strlen (id), TRUE);
      g_string_append_c (out, '\'');
    }
  g_string_append_c (out, '>');
  if (q)
    {
      gboolean changed;
      g_autofree char *x = xm_conn_rewrite (c, q, &changed);
      g_string_append (out, x);
    }
  else
    g_string_append (out, "<query xmlns='" NS_IQ_AUTH "'><username/><password/>"
                          "<digest/><resource/></query>");
  g_string_append (out, "</iq>");
  xml = g_string_free (out, FALSE);
  send_str (c, xml);
}

static void
on_iq_auth_set (Conn *c, const XmNode *el)
{
  XmNode *q = xm_node_child (el, NS_IQ_AUTH, "query");
  g_autofree char *user = query_text (q, "username");
  g_autofree char *resource = query_text (q, "resource");
  g_autofree char *pw = query_text (q, "password");
  g_autofree char *digest = query_text (q, "digest");
  g_autofree char *recorded = NULL;
  const char *want;

  g_free (c->iq_auth_id);
  c->iq_auth_id = g_strdup (xm_node_attr (el, "id"));
  if (user == NULL || *user == '\0' || resource == NULL || *resource == '\0'
      || (pw == NULL && digest == NULL))
    {
      sasl_failure (c, "malformed-request", "XEP-0078 needs username, resource, "
                    "and password or digest");
      return;
    }
  g_free (c->mechanism);
  c->mechanism = g_strdup (digest ? "XEP-0078 digest" : "XEP-0078 password");
  if (!take (c, user))
    return;
  want = xm_replay_password (c->r, c);
  if (want == NULL && c->r->script->secrets && c->sc->iq_auth_set)
    {
      /* The password the recorded client sent in the clear. */
      recorded = query_text (xm_node_child (c->sc->iq_auth_set->root, NS_IQ_AUTH, "query"),
                             "password");
      want = recorded;
    }
  if (want == NULL)
    xm_replay_say (c->r, "%s: %s accepted unchecked (give --password PW or "
                   "--credentials FILE to check it)", c->label, c->mechanism);
  else if (digest)
    {
      g_autofree char *d = xm_auth_legacy_digest (c->stream_id ? c->stream_id : "", want);
      if (g_ascii_strcasecmp (d, digest) != 0)
        {
          login_failed (c, "not-authorized", "not the digest of the password xmitm "
                        "replay was given");
          return;
        }
    }
  else if (strcmp (want, pw) != 0)
    {
      login_failed (c, "not-authorized", "not the password xmitm replay was given");
      return;
    }
  {
    g_autofree char *id = g_markup_escape_text (c->iq_auth_id ? c->iq_auth_id : "", -1);
    g_autofree char *xml = g_strdup_printf ("<iq type='result' id='%s'/>", id);
    send_str (c, xml);
  }
  established (c);
}

static void
on_response (Conn *c, const XmNode *el)
{
  g_autoptr (GByteArray) p = payload (el);
  g_autoptr (GError) error = NULL;
  g_autofree char *final = NULL;

  if (c->digest_step)
    {
      on_digest_response (c, p);
      return;
    }
  if (c->scram_server == NULL)
    {
      sasl_failure (c, "malformed-request", "no exchange in progress");
      return;
    }
  final = xm_scram_server_final (c->scram_server, (const char *) p->data, p->len, &error);
  g_clear_pointer (&c->scram_server, xm_scram_server_free);
  if (final == NULL)
    {
      login_failed (c, "not-authorized", error->message);
      return;
    }
  success (c, final);
}

/* XEP-0138 §3: zlib, if the features offered it. */
static void
on_compress (Conn *c, const XmNode *el)
{
  XmNode *method = xm_node_child (el, NS_COMPRESS, "method");
  g_autofree char *m = method ? xm_node_text (method) : NULL;

  if (!c->zlib_offered)
    {
      send_str (c, "<failure xmlns='" NS_COMPRESS "'><setup-failed/></failure>");
      return;
    }
  if (m == NULL || strcmp (g_strstrip (m), "zlib") != 0)
    {
      send_str (c, "<failure xmlns='" NS_COMPRESS "'><unsupported-method/></failure>");
      return;
    }
  send_str (c, "<compressed xmlns='" NS_COMPRESS "'/>");
  c->zlib_offered = FALSE;
  c->state = NEG_IDLE;
  xm_conn_compress (c);
  if (c->r->opts->verbose)
    xm_replay_say (c->r, "%s: XEP-0138: zlib both ways from here", c->label);
}

static void
on_stanza (XmStanza *st, gpointer data)
{
  Conn *c = data;
  const XmNode *el = st->root;

  if (c->state == NEG_CLOSED || el == NULL)
    return;
  if (c->ws && xm_node_is (el, XM_FRAMER_NS_FRAMING, "close"))
    {
      on_stream_close (st->offset, c); /* RFC 7395's stream close */
      return;
    }
  if (c->state == NEG_ESTABLISHED)
    {
      xm_replay_stanza (c, st);
      return;
    }
  if (c->login == XM_LOGIN_COMPONENT)
    {
      xm_serve_component_stanza (c, el); /* conn-component.c */
      return;
    }
  if (xm_node_is (el, NS_COMPRESS, "compress") && c->state == NEG_STREAM)
    {
      on_compress (c, el);
      return;
    }
  if (c->authed && c->state == NEG_STREAM)
    {
      /* The client did not take the compression offered. */
      if (c->sc->compression && c->sc->compress_stage == XM_FEATURES_AUTH)
        xm_replay_say (c->r, "%s: the recorded client negotiated XEP-0138 zlib "
                       "compression here; this one goes on uncompressed", c->label);
      c->state = NEG_ESTABLISHED;
      xm_replay_established (c);
      xm_replay_stanza (c, st);
      return;
    }
  if (xm_node_is (el, NS_TLS, "starttls") && !xm_conn_tls (c) && !xm_conn_compressed (c))
    {
      send_str (c, "<proceed xmlns='" NS_TLS "'/>");
      xm_conn_restart_after (c, TRUE);
      return;
    }
  if (xm_node_is (el, NS_SASL, "auth") && !c->authed)
    {
      g_autoptr (GByteArray) p = payload (el);

      c->login = XM_LOGIN_SASL;
      on_auth (c, xm_node_attr (el, "mechanism"), p);
      return;
    }
  if (xm_node_is (el, NS_SASL2, "authenticate") && !c->authed)
    {
      XmNode *ir = xm_node_child (el, NS_SASL2, "initial-response");
      g_autoptr (GByteArray) p = ir ? payload (ir) : g_byte_array_new ();

      /* NUL-terminated, as payload() leaves it. */
      g_byte_array_append (p, (const guint8 *) "", 1);
      p->len--;
      c->login = XM_LOGIN_SASL2;
      on_auth (c, xm_node_attr (el, "mechanism"), p);
      return;
    }
  if (!c->authed && xm_stanza_is_iq (el, "get", "set")
      && xm_node_child (el, NS_IQ_AUTH, "query"))
    {
      c->login = XM_LOGIN_IQ_AUTH;
      if (xm_stanza_is_iq (el, "get", NULL))
        on_iq_auth_get (c, el);
      else
        on_iq_auth_set (c, el);
      return;
    }
  if ((xm_node_is (el, NS_SASL, "response") || xm_node_is (el, NS_SASL2, "response"))
      && c->state == NEG_SASL)
    {
      on_response (c, el);
      return;
    }
  if (xm_node_is (el, NS_SASL, "abort") || xm_node_is (el, NS_SASL2, "abort"))
    {
      c->digest_step = 0;
      g_clear_pointer (&c->scram_server, xm_scram_server_free);
      if (c->claimed)
        login_failed (c, "aborted", "the client aborted it");
      else
        sasl_failure (c, "aborted", "");
      return;
    }
  xm_replay_say (c->r, "%s: unexpected <%s/> during negotiation; closing", c->label,
                 el->name);
  send_str (c, "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
               "</stream:error></stream:stream>");
  xm_serve_release (c);
  xm_conn_close (c);
}

static void
on_stream_close (guint64 offset, gpointer data)
{
  Conn *c = data;

  if (c->state == NEG_CLOSED)
    return;
  c->got_close = TRUE;
  xm_replay_peer_close (c);
}

static const XmFramerEvents serve_events = {
  .stream_open = on_stream_open,
  .stanza = on_stanza,
  .stream_close = on_stream_close,
  .problem = xm_conn_framer_problem,
};

/* ---- listening ---- */

/* Before authentication a client is served the features of the first
 * recorded connection not yet taken. */
static XmScriptConn *
provisional (Replay *r)
{
  XmScriptConn *first = NULL;

  for (guint i = 0; i < r->script->conns->len; i++)
    {
      XmScriptConn *sc = r->script->conns->pdata[i];
      if (sc->steps->len == 0)
        continue;
      if (first == NULL)
        first = sc;
      if (!g_hash_table_contains (r->claimed, sc))
        return sc;
    }
  return first;
}

static void
on_accept (XmWatch *watch, guint32 revents, gpointer data)
{
  Replay *r = data;

  for (;;)
    {
      struct sockaddr_storage ss;
      socklen_t len = sizeof ss;
      int fd = accept4 (r->listen_fd, (struct sockaddr *) &ss, &len,
                        SOCK_NONBLOCK | SOCK_CLOEXEC);
      g_autofree char *peer = NULL;
      Conn *c;

      if (fd < 0)
        {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            g_printerr ("xmitm: replay: accept: %s\n", g_strerror (errno));
          return;
        }
      xm_socket_setup (fd);
      peer = xm_sockaddr_to_string ((struct sockaddr *) &ss);
      c = xm_conn_new_accepted (r, fd, peer, &serve_events);
      c->sc = provisional (r);
      g_ptr_array_add (r->conns, c);
      r->any_client = TRUE;
      xm_replay_progress (r);
      if (r->opts->verbose)
        xm_replay_say (r, "%s: connected", c->label);
    }
}

Conn *
xm_serve_new_bosh_session (Replay *r, const char *peer)
{
  Conn *c = xm_conn_new_accepted (r, -1, peer, &serve_events);

  c->sc = provisional (r);
  g_ptr_array_add (r->conns, c);
  xm_replay_progress (r);
  if (r->opts->verbose)
    xm_replay_say (r, "%s: a BOSH session", c->label);
  return c;
}

gboolean
xm_serve_listen (Replay *r, GError **error)
{
  r->listen_fd = xm_listen (r->opts->listen_host, r->opts->listen_port, FALSE, error);
  if (r->listen_fd < 0)
    return FALSE;
  r->listen_watch = xm_watch_add (r->listen_fd, EPOLLIN, on_accept, r);
  return TRUE;
}

void
xm_serve_stop (Replay *r)
{
  g_clear_pointer (&r->listen_watch, xm_watch_remove);
  if (r->listen_fd >= 0)
    close (r->listen_fd);
  r->listen_fd = -1;
}
