/* serve.c: `xmitm replay --serve`: the recorded server, played to clients.
 *
 * Each client gets the recorded stream features (less SCRAM-*-PLUS and
 * XEP-0440: no channel binding here), STARTTLS with a
 * certificate from xmitm's CA, XEP-0138 zlib compression where the recorded
 * server offered it, and its authentication accepted (PLAIN as
 * is; SCRAM with the password from --password/--credentials, since the
 * client checks the server's signature). The account it authenticates as
 * picks the recorded connection it plays; from then on replay.c sends the
 * recorded server stanzas as the client's stanzas arrive. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <openssl/rand.h>

#include "net.h"
#include "rewrite.h"
#include "replay-private.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_COMPRESS "http://jabber.org/protocol/compress"

/* ---- negotiation, the server's side (RFC 6120 §4-§6) ---- */

static void
send_str (Conn *c, const char *s)
{
  xm_conn_send (c, s, strlen (s));
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
                          : c->tls ? XM_FEATURES_TLS : XM_FEATURES_INITIAL;

  /* Compressed where the recording compressed: what came after. */
  if (c->deflate && sc->compression
      && (sc->compress_stage == XM_FEATURES_AUTH) == c->authed)
    f = sc->features[XM_FEATURES_COMPRESSED];
  for (int i = 0; i < 3 && f == NULL; i++)
    f = sc->features[fallback[stage][i]];
  c->zlib_offered = f && c->deflate == NULL && xm_features_offer_zlib (f->root);
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
          xm_conn_send (c, (const char *) f->raw, f->raw_len);
          return;
        }
      data = g_bytes_get_data (cut, &len);
      xm_conn_send (c, data, len);
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
  g_autofree char *own_id = NULL, *xml = NULL, *from = NULL;
  const char *to = xm_node_attr (header->root, "to");

  if (c->state == NEG_CLOSED)
    return;
  if (c->live_streams < c->sc->stream_ids->len)
    id = c->sc->stream_ids->pdata[c->live_streams];
  c->live_streams++;
  if (id == NULL)
    id = own_id = g_uuid_string_random ();
  from = g_markup_escape_text (c->sc->domain ? c->sc->domain : to ? to : "localhost", -1);
  xml = g_strdup_printf ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                         "xmlns:stream='" NS_STREAMS "' version='1.0' xml:lang='en' "
                         "from='%s' id='%s'>", from, id);
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

static void
sasl_failure (Conn *c, const char *condition, const char *text)
{
  g_autofree char *t = g_markup_escape_text (text, -1);
  g_autofree char *xml = g_strdup_printf ("<failure xmlns='" NS_SASL "'><%s/>"
                                          "<text>%s</text></failure>", condition, t);

  send_str (c, xml);
  c->state = NEG_STREAM;
}

static void
send_sasl (Conn *c, const char *element, const char *data)
{
  g_autofree char *b64 = data && *data ? g_base64_encode ((const guchar *) data, strlen (data))
                                       : NULL;
  g_autofree char *xml = b64 ? g_strdup_printf ("<%s xmlns='" NS_SASL "'>%s</%s>",
                                                element, b64, element)
                             : g_strdup_printf ("<%s xmlns='" NS_SASL "'/>", element);
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
  g_autofree char *account = strchr (user, '@') ? g_strdup (user)
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

static void
success (Conn *c, const char *data)
{
  /* RFC 6120 §6.4.6: the stream restarts after <success/>. */
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

static void
on_auth (Conn *c, const XmNode *el)
{
  const char *mech = xm_node_attr (el, "mechanism");
  g_autoptr (GByteArray) p = payload (el);
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
                           "needs the password: give --password PW or --credentials FILE",
                           mech);
          return;
        }
      first = xm_scram_server_first (c->scram_server, password);
      send_sasl (c, "challenge", first);
      c->state = NEG_SASL;
      return;
    }
  sasl_failure (c, "invalid-mechanism", "xmitm replay --serve accepts PLAIN and SCRAM");
}

static void
on_response (Conn *c, const XmNode *el)
{
  g_autoptr (GByteArray) p = payload (el);
  g_autoptr (GError) error = NULL;
  g_autofree char *final = NULL;

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
  if (c->state == NEG_ESTABLISHED)
    {
      xm_replay_stanza (c, st);
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
  if (xm_node_is (el, NS_TLS, "starttls") && c->tls == NULL && c->deflate == NULL)
    {
      send_str (c, "<proceed xmlns='" NS_TLS "'/>");
      xm_conn_restart_after (c, TRUE);
      return;
    }
  if (xm_node_is (el, NS_SASL, "auth") && !c->authed)
    {
      on_auth (c, el);
      return;
    }
  if (xm_node_is (el, NS_SASL, "response") && c->state == NEG_SASL)
    {
      on_response (c, el);
      return;
    }
  if (xm_node_is (el, NS_SASL, "abort"))
    {
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
