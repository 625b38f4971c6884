/* conn.c: one replayed connection: a leg (stream/leg.h: the socket with
 * TLS and XEP-0138 zlib layers, as the proxy's legs) and stream
 * negotiation as the recording negotiated it (RFC 6120
 * §5 STARTTLS, §6 SASL, §4.3.3 restarts, XEP-0138 compression, XEP-0388
 * SASL2, XEP-0078 jabber:iq:auth). Once the
 * stream is authenticated, stanzas go to replay.c. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "connect.h"
#include "layer-bosh.h"
#include "layer-bosh-serve.h"
#include "layer-tls.h"
#include "layer-ws.h"
#include "layer-zlib.h"
#include "net.h"
#include "replay-private.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_COMPRESS "http://jabber.org/protocol/compress"
#define NS_SASL2 "urn:xmpp:sasl:2"
#define NS_FAST "urn:xmpp:fast:0"
#define NS_IQ_AUTH "jabber:iq:auth"
#define NS_SM "urn:xmpp:sm:3"

static const XmLegEvents leg_events;

/* ---- life ---- */

Conn *
xm_conn_new (Replay *r, XmScriptConn *sc)
{
  Conn *c = g_new0 (Conn, 1);

  c->r = r;
  c->sc = sc;
  c->account = xm_script_conn_account (sc);
  c->label = g_strdup_printf ("#%u %s", sc->conn, c->account ? c->account : "(unknown account)");
  c->leg = xm_leg_new ("server", &leg_events, c);
  c->id_rec2live = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  c->id_live2rec = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  c->report = g_string_new (NULL);
  return c;
}

void
xm_conn_free (Conn *c)
{
  if (c == NULL)
    return;
  g_clear_pointer (&c->connect, xm_connect_free);
  g_clear_pointer (&c->leg, xm_leg_free);
  g_clear_pointer (&c->framer, xm_framer_free);
  g_clear_pointer (&c->http, xm_http_parser_free);
  if (c->http_body)
    g_byte_array_unref (c->http_body);
  g_clear_pointer (&c->scram, xm_scram_free);
  g_free (c->rspauth);
  g_free (c->mechanism);
  g_free (c->stream_id);
  g_free (c->iq_auth_id);
  g_free (c->digest_nonce);
  g_free (c->label);
  g_free (c->account);
  g_free (c->peer);
  g_clear_pointer (&c->scram_server, xm_scram_server_free);
  g_free (c->live_jid);
  g_free (c->error);
  g_hash_table_unref (c->id_rec2live);
  g_hash_table_unref (c->id_live2rec);
  g_string_free (c->report, TRUE);
  g_queue_clear_full (&c->received, (GDestroyNotify) xm_stanza_unref);
  if (c->gather)
    g_byte_array_unref (c->gather);
  g_free (c);
}

static gboolean
dead (Conn *c)
{
  return c->state == NEG_CLOSED || c->r->stopping;
}

gboolean
xm_conn_tls (Conn *c)
{
  return xm_leg_find (c->leg, &xm_layer_tls_class) != NULL;
}

gboolean
xm_conn_compressed (Conn *c)
{
  return xm_leg_find (c->leg, &xm_layer_zlib_class) != NULL;
}

/* Whether c's leg takes bytes: a socket's, or BOSH's HTTP connections. */
static gboolean
sendable (Conn *c)
{
  return (xm_leg_is_open (c->leg) || c->bosh) && xm_leg_alive (c->leg);
}

gsize
xm_conn_queued (Conn *c)
{
  return xm_leg_queued (c->leg) + (c->gather ? c->gather->len : 0);
}

/* ---- output ---- */

void
xm_conn_flush (Conn *c)
{
  if (c->gather == NULL || c->gather->len == 0)
    return;
  if (sendable (c))
    xm_leg_send (c->leg, c->gather->data, c->gather->len);
  g_byte_array_set_size (c->gather, 0);
}

void
xm_conn_send (Conn *c, const char *data, gsize len)
{
  if (!sendable (c))
    return;
  /* Only an established stream gathers: negotiation may push a layer
   * after any element, and the bytes before it belong to the old stack.
   * Not over WebSocket either: each send is one message (RFC 7395
   * §3.3.3), which the layer frames as it comes; nor over BOSH, whose
   * layer gathers what waits for a request, in whole sends. */
  if (c->r->gathering && c->state == NEG_ESTABLISHED && !c->ws && !c->bosh)
    {
      if (c->gather == NULL)
        c->gather = g_byte_array_new ();
      g_byte_array_append (c->gather, (const guint8 *) data, len);
    }
  else
    {
      xm_conn_flush (c); /* what was gathered goes first */
      xm_leg_send (c->leg, (const guint8 *) data, len);
    }
  if (c->state == NEG_ESTABLISHED)
    xm_replay_show (c->r, c, TRUE, data, len);
}

void
xm_conn_close (Conn *c)
{
  if (c->state == NEG_CLOSED)
    return;
  xm_conn_flush (c);
  /* TLS says close_notify first, when nothing is left to send */
  if (xm_leg_is_open (c->leg))
    xm_leg_shutdown (c->leg);
  xm_leg_close (c->leg, FALSE);
  g_clear_pointer (&c->connect, xm_connect_free);
  c->state = NEG_CLOSED;
  if (c->bosh_carrier)
    xm_serve_bosh_carrier_closed (c);
}

/* ---- negotiation ---- */

const char *
xm_conn_close_tag (const Conn *c)
{
  return c->ws ? "<close xmlns='" XM_FRAMER_NS_FRAMING "'/>" : "</stream:stream>";
}

/* RFC 7395 §3.1: the upgrade to WebSocket, for the 'xmpp' subprotocol;
 * what is sent meanwhile waits in the layer. */
static void
start_websocket (Conn *c)
{
  const XmReplayOptions *o = c->r->opts;
  g_autofree char *host = xm_hostport_to_string (o->host, o->port);
  const char *path = o->path ? o->path : c->sc->ws_path;

  xm_leg_push (c->leg, xm_layer_ws_new_client (host, path));
  xm_framer_set_framing (c->framer, TRUE);
}

void
xm_conn_send_header (Conn *c)
{
  GPtrArray *h = c->sc->headers;

  if (c->ws && xm_leg_find (c->leg, &xm_layer_ws_class) == NULL)
    start_websocket (c);
  if (c->ws && (h->len == 0 || !c->sc->ws))
    {
      /* RFC 7395 §3.3.2: <open/> in the framing namespace */
      g_autofree char *s = g_markup_printf_escaped (
        "<open xmlns='" XM_FRAMER_NS_FRAMING "' to='%s' version='1.0'/>",
        c->sc->domain ? c->sc->domain : c->r->opts->host);
      xm_conn_send (c, s, strlen (s));
    }
  else if (h->len > 0 && c->ws == c->sc->ws && !c->bosh && !c->sc->bosh)
    {
      GBytes *b = h->pdata[MIN (c->headers_sent, h->len - 1)];
      gsize len;
      const char *data = g_bytes_get_data (b, &len);
      xm_conn_send (c, data, len);
    }
  else
    {
      g_autofree char *s = g_markup_printf_escaped (
        "<?xml version='1.0'?><stream:stream to='%s' version='1.0' "
        "xmlns='jabber:client' xmlns:stream='" NS_STREAMS "'>",
        c->sc->domain ? c->sc->domain : c->r->opts->host);
      xm_conn_send (c, s, strlen (s));
    }
  c->headers_sent++;
  c->state = NEG_STREAM;
}

static void start_tls (Conn *c);

/* XEP-0138 where the recording compressed: before SASL, or after it. TRUE
 * when <compress/> went out. */
static gboolean
maybe_compress (Conn *c, const XmNode *features)
{
  static const char compress[] = "<compress xmlns='" NS_COMPRESS "'>"
                                 "<method>zlib</method></compress>";

  if (!c->sc->compression || xm_conn_compressed (c)
      || (c->sc->compress_stage == XM_FEATURES_AUTH) != c->authed)
    return FALSE;
  if (!xm_features_offer_zlib (features))
    {
      xm_replay_say (c->r, "%s: the recording negotiated XEP-0138 zlib compression "
                     "here; the server does not offer it now: replay goes on "
                     "uncompressed", c->label);
      return FALSE;
    }
  xm_conn_send (c, compress, strlen (compress));
  c->state = NEG_COMPRESS;
  return TRUE;
}

static void
on_compressed (Conn *c)
{
  /* XEP-0138 §3: both directions are zlib from the next byte, and the
   * stream restarts. */
  xm_conn_compress (c);
  c->stage = XM_FEATURES_COMPRESSED;
  if (c->r->opts->verbose)
    xm_replay_say (c->r, "%s: XEP-0138: zlib both ways from here", c->label);
  xm_conn_send_header (c);
}

static void
on_features (Conn *c, XmStanza *st)
{
  const XmNode *el = st->root;

  xm_replay_features (c, st, c->stage);
  if (dead (c))
    return;
  if (c->want_tls && !xm_conn_tls (c))
    {
      if (xm_node_child (el, NS_TLS, "starttls") == NULL)
        {
          xm_replay_fatal (c->r, c, "the server does not offer STARTTLS, which the "
                           "recording negotiated (--tls none replays without it)");
          return;
        }
      {
        static const char starttls[] = "<starttls xmlns='" NS_TLS "'/>";
        xm_conn_send (c, starttls, strlen (starttls));
      }
      c->state = NEG_STARTTLS;
      return;
    }
  if (maybe_compress (c, el))
    return;
  if (!c->authed)
    {
      xm_conn_auth_start (c, el);
      return;
    }
  c->state = NEG_ESTABLISHED;
  xm_replay_established (c);
}

/* ---- framer callbacks ---- */

static void on_stream_close (guint64 offset, gpointer data);

static void
on_stream_open (XmStanza *header, gpointer data)
{
  Conn *c = data;
  const char *id = xm_node_attr (header->root, "id");
  guint k = c->live_streams++;

  g_free (c->stream_id);
  c->stream_id = g_strdup (id);
  if (id && k < c->sc->stream_ids->len)
    {
      const char *rec = c->sc->stream_ids->pdata[k];
      g_hash_table_replace (c->r->rec2live, g_strdup (rec), g_strdup (id));
      g_hash_table_replace (c->r->live2rec, g_strdup (id), g_strdup (rec));
    }
  if (c->sc->component && c->state == NEG_STREAM && k == 0)
    xm_conn_component_open (c); /* XEP-0114: no features, the handshake */
}

static void
on_stanza (XmStanza *st, gpointer data)
{
  Conn *c = data;
  const XmNode *el = st->root;

  if (dead (c) || el == NULL)
    return;
  if (c->ws && xm_node_is (el, XM_FRAMER_NS_FRAMING, "close"))
    {
      on_stream_close (st->offset, c); /* RFC 7395's stream close */
      return;
    }
  switch (c->state)
    {
    case NEG_STREAM:
      if (xm_node_is (el, NS_STREAMS, "features"))
        {
          on_features (c, st);
          return;
        }
      break;
    case NEG_STARTTLS:
      if (xm_node_is (el, NS_TLS, "proceed"))
        {
          xm_conn_restart_after (c, TRUE);
          return;
        }
      if (xm_node_is (el, NS_TLS, "failure"))
        {
          xm_replay_fatal (c->r, c, "the server refused STARTTLS (<failure/>)");
          return;
        }
      break;
    case NEG_SASL:
      if (c->login == XM_LOGIN_COMPONENT)
        {
          xm_conn_component_answer (c, st);
          return;
        }
      {
        const char *ns = c->sc->sasl2 ? NS_SASL2 : NS_SASL;

        if (xm_node_is (el, ns, "challenge"))
          {
            xm_conn_auth_challenge (c, el);
            return;
          }
        if (xm_node_is (el, ns, "success"))
          {
            xm_conn_auth_success (c, el);
            return;
          }
        if (xm_node_is (el, ns, "failure"))
          {
            xm_conn_auth_failure (c, el);
            return;
          }
        if (xm_node_is (el, NS_SASL2, "continue"))
          {
            xm_replay_fatal (c->r, c, "the server asks for XEP-0388 tasks "
                             "(<continue/>), which replay does not do");
            return;
          }
      }
      break;
    case NEG_IQ_AUTH:
      if (xm_stanza_is_iq (el, "result", "error"))
        {
          xm_conn_auth_iq_answer (c, el);
          return;
        }
      break;
    case NEG_COMPRESS:
      if (xm_node_is (el, NS_COMPRESS, "compressed"))
        {
          on_compressed (c);
          return;
        }
      if (xm_node_is (el, NS_COMPRESS, "failure"))
        {
          const XmNode *cond = xm_node_first_element (el);
          xm_replay_fatal (c->r, c, "the server offered XEP-0138 zlib compression, "
                           "which the recording negotiated, but refused it: "
                           "<failure><%s/></failure>", cond ? cond->name : "");
          return;
        }
      break;
    case NEG_ESTABLISHED:
      xm_replay_stanza (c, st);
      return;
    default:
      break;
    }
  if (xm_node_is (el, NS_STREAMS, "error"))
    {
      const XmNode *cond = xm_node_first_element (el);
      xm_replay_fatal (c->r, c, "the server sent a stream error during "
                       "negotiation: <%s/>", cond ? cond->name : "?");
      return;
    }
  xm_replay_fatal (c->r, c, "unexpected <%s/> from the server during negotiation",
                   el->name);
}

static void
on_stream_close (guint64 offset, gpointer data)
{
  Conn *c = data;

  if (dead (c))
    return;
  if (c->state != NEG_ESTABLISHED)
    {
      xm_replay_fatal (c->r, c, "the server closed the stream during negotiation");
      return;
    }
  c->got_close = TRUE;
  xm_replay_peer_close (c);
}

/* Both roles: XML that cannot be framed ends the connection (replay
 * compares stanzas, it has nothing to go on without them). */
void
xm_conn_framer_problem (XmFramerProblem kind, guint64 offset, const char *message,
                        gpointer data)
{
  Conn *c = data;

  if (kind == XM_FRAMER_MALFORMED || kind == XM_FRAMER_RESTRICTED)
    xm_replay_lost (c, message);
}

static const XmFramerEvents framer_events = {
  .stream_open = on_stream_open,
  .stanza = on_stanza,
  .stream_close = on_stream_close,
  .problem = xm_conn_framer_problem,
};

/* ---- input ---- */

enum { METHOD_NONE, METHOD_UNKNOWN_YET, METHOD_GET, METHOD_POST };

/* What a served connection's first bytes say: an HTTP request line
 * ("GET " a WebSocket upgrade, "POST " or "OPTIONS " BOSH), not one (XMPP
 * over TCP), or not yet (fewer bytes than a method that they begin). */
static int
http_method (const guint8 *p, gsize n)
{
  static const struct { const char *name; int method; } methods[] = {
    { "GET ", METHOD_GET }, { "POST ", METHOD_POST }, { "OPTIONS ", METHOD_POST },
  };
  int found = METHOD_NONE;

  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      gsize m = strlen (methods[i].name);

      if (memcmp (p, methods[i].name, MIN (n, m)) != 0)
        continue;
      if (n >= m)
        return methods[i].method;
      found = METHOD_UNKNOWN_YET;
    }
  return found;
}

/* Plaintext from the leg, for the framer. Where negotiation changes the
 * stack (<proceed/>, <compressed/>), the framer stops after that element
 * and the rest goes to the new layer. */
static gsize
on_data (XmLeg *leg, const guint8 *data, gsize len, gpointer user_data)
{
  Conn *c = user_data;
  gsize done = 0;

  c->layer_pushed = FALSE; /* a push outside a read (direct TLS) is done */
  if (c->serving && !c->first_read)
    {
      /* the bytes held back before these, then these */
      guint8 joined[sizeof c->sniff + 64];
      gsize held = c->sniff_len;
      int method;

      if (held)
        {
          gsize n = MIN (len, sizeof joined - held);

          memcpy (joined, c->sniff, held);
          memcpy (joined + held, data, n);
          method = http_method (joined, held + n);
        }
      else
        method = http_method (data, len);
      if (method == METHOD_UNKNOWN_YET)
        {
          /* "G", "PO"...: a method may be coming in small pieces */
          memcpy (c->sniff + held, data, len);
          c->sniff_len += len;
          return len;
        }
      c->first_read = TRUE;
      c->sniff_len = 0;
      if (method == METHOD_GET)
        {
          /* --serve to a web client: RFC 7395, from its upgrade on */
          XmLayer *ws = xm_layer_ws_new_server ();

          c->ws = TRUE;
          xm_leg_push (c->leg, ws);
          xm_framer_set_framing (c->framer, TRUE);
          if (held == 0)
            return 0; /* the rest is the new layer's input */
          xm_layer_from_below (ws, c->sniff, held);
          if (xm_leg_alive (c->leg))
            xm_layer_from_below (ws, data, len);
          return len;
        }
      if (method == METHOD_POST)
        {
          /* --serve to a BOSH client: this connection carries HTTP
           * requests to sessions (serve-bosh.c) */
          xm_serve_bosh_carrier (c);
        }
      if (held)
        {
          /* not XML either way ('G', 'P', 'O' start no stream): what was
           * held goes first, to the framer or the carrier */
          if (c->bosh_carrier)
            xm_serve_bosh_feed (c, c->sniff, held);
          else
            xm_framer_feed (c->framer, c->sniff, held);
          if (dead (c))
            return len;
        }
    }
  if (c->bosh_carrier)
    {
      xm_serve_bosh_feed (c, data, len);
      return len;
    }
  while (done < len && !dead (c))
    {
      done += xm_framer_feed (c->framer, data + done, len - done);
      if (c->layer_pushed)
        {
          c->layer_pushed = FALSE;
          return done;
        }
    }
  return len;
}

static void
on_eof (XmLeg *leg, XmLayer *layer, gpointer user_data)
{
  Conn *c = user_data;

  if (!dead (c))
    xm_replay_lost (c, layer == NULL ? "the server closed the connection"
                       : layer->klass == &xm_layer_ws_class
                       ? "the server closed the WebSocket connection"
                       : layer->klass == &xm_layer_bosh_class
                       ? "the server ended the BOSH session"
                       : "the server closed TLS");
}

static void
on_failed (XmLeg *leg, XmLayer *layer, const GError *error, gpointer user_data)
{
  Conn *c = user_data;
  g_autofree char *why = NULL;

  if (dead (c))
    return;
  if (layer == NULL || error->domain != XM_TLS_ERROR)
    {
      xm_replay_lost (c, error->message);
      return;
    }
  why = xm_layer_tls_why (error, !c->serving,
                          c->sc && c->sc->domain ? c->sc->domain : c->r->opts->host,
                          c->r->opts->ca ? xm_ca_cert_path (c->r->opts->ca) : "");
  /* a KeyUpdate flood ends this connection, after the handshake */
  if (g_error_matches (error, XM_TLS_ERROR, XM_TLS_ERROR_KEY_UPDATES))
    xm_replay_lost (c, why);
  else if (c->serving)
    xm_replay_fatal (c->r, c, "%s", why);
  else
    xm_replay_fatal (c->r, c, "TLS with the server failed: %s", why);
}

static const XmLegEvents leg_events = {
  .data = on_data,
  .eof = on_eof,
  .failed = on_failed,
};

/* serve: the ClientHello is in; present a certificate from xmitm's CA for
 * the name the client asked for. */
static void
serve_leaf (Conn *c, XmLayer *layer)
{
  const char *sni = xm_tls_client_sni (xm_layer_tls_engine (layer));
  const char *name = sni ? sni : c->sc->domain ? c->sc->domain : "localhost";
  g_autofree char *how = NULL;
  g_autoptr (X509) leaf = xm_layer_tls_forge (c->r->opts->ca, name, NULL, &how);

  if (leaf == NULL)
    {
      xm_replay_fatal (c->r, c, "%s", how);
      return;
    }
  xm_layer_tls_set_leaf (layer, leaf, xm_ca_leaf_key (c->r->opts->ca), NULL);
}

static void
on_tls (XmLayer *layer, XmLayerTlsEvent what, gpointer user_data)
{
  Conn *c = user_data;

  if (what == XM_LAYER_TLS_HELLO)
    {
      serve_leaf (c, layer);
      return;
    }
  c->stage = c->authed ? XM_FEATURES_AUTH : XM_FEATURES_TLS;
  if (c->r->opts->verbose)
    {
      g_autofree char *d = xm_tls_describe (xm_layer_tls_engine (layer));
      xm_replay_say (c->r, "%s: TLS: %s", c->label, d);
    }
  /* RFC 6120 §5.4.3.3: the client opens a new stream. */
  xm_framer_reset (c->framer);
  if (c->serving)
    c->state = NEG_IDLE;
  else
    xm_conn_send_header (c);
}

static void
start_tls (Conn *c)
{
  const char *name = c->sc->domain ? c->sc->domain : c->r->opts->host;
  static const guint8 xmpp[] = "\x0bxmpp-client", http[] = "\x08http/1.1";
  /* wss: HTTP/1.1, where the WebSocket upgrade happens */
  const guint8 *alpn = c->ws ? http : xmpp;
  gsize alpn_len = c->ws ? sizeof http - 1 : sizeof xmpp - 1;

  c->state = NEG_TLS;
  c->layer_pushed = TRUE;
  if (c->serving)
    xm_leg_push (c->leg, xm_layer_tls_new_server (on_tls, c));
  else
    /* XEP-0368: direct TLS names its protocol with ALPN. */
    xm_leg_push (c->leg, xm_layer_tls_new_client (name, name, c->direct_tls ? alpn : NULL,
                                                  c->direct_tls ? alpn_len : 0,
                                                  on_tls, c));
}

/* ---- connecting ---- */

/* The server as given: HOST:PORT, or the domain found by SRV. */
static char *
server_name (const XmReplayOptions *o)
{
  return o->port ? xm_hostport_to_string (o->host, o->port) : g_strdup (o->host);
}

static void
on_connected (int fd, const char *error, gpointer data)
{
  Conn *c = data;
  g_autoptr (GError) attach_error = NULL;
  g_autofree char *where = server_name (c->r->opts);
  const XmSrvTarget *t = fd >= 0 ? xm_connect_target (c->connect) : NULL;

  if (t)
    {
      /* The record says how to talk to its target (XEP-0368). */
      c->want_tls = !t->direct_tls && (c->direct_tls || c->want_tls);
      c->direct_tls = t->direct_tls;
      c->stage = c->direct_tls ? XM_FEATURES_TLS : XM_FEATURES_INITIAL;
      const char *before = xm_connect_failed_first (c->connect);

      xm_replay_say (c->r, "%s: connected to %s via %s%s%s", c->label, where, t->via,
                     before ? "; tried first: " : "", before ? before : "");
    }
  if (fd < 0)
    {
      g_autofree char *why = g_strdup (error);
      g_clear_pointer (&c->connect, xm_connect_free);
      xm_replay_fatal (c->r, c, "cannot connect to %s: %s", where, why);
      return;
    }
  g_clear_pointer (&c->connect, xm_connect_free);
  if (!xm_leg_attach (c->leg, fd, &attach_error))
    {
      close (fd);
      xm_replay_fatal (c->r, c, "cannot connect to %s: %s", where, attach_error->message);
      return;
    }
  c->state = NEG_STREAM;
  c->framer = xm_framer_new (&framer_events, c);
  /* Plain messages and presences get their tree without expat. */
  xm_framer_set_plain_trees (c->framer, TRUE);
  if (c->direct_tls)
    start_tls (c);
  else
    xm_conn_send_header (c);
}

static const XmConnectEvents connect_events = {
  .done = on_connected,
};

/* XEP-0206: the BOSH layer connects (two HTTP connections at times), the
 * leg has no socket; TLS (https) is each connection's. */
static void
start_bosh (Conn *c)
{
  const XmReplayOptions *o = c->r->opts;
  const char *domain = c->sc->domain ? c->sc->domain : o->host;
  XmLayerBoshConfig cfg = {
    .host = o->host, .port = o->port,
    .path = o->path ? o->path : c->sc->bosh_path,
    .domain = domain,
    .tls_name = c->direct_tls ? domain : NULL,
  };

  c->framer = xm_framer_new (&framer_events, c);
  xm_framer_set_plain_trees (c->framer, TRUE);
  xm_leg_push (c->leg, xm_layer_bosh_new (&cfg));
  xm_conn_send_header (c);
}

void
xm_conn_start (Conn *c)
{
  XmTlsMode mode = c->r->opts->tls;

  if (mode == XM_TLS_MODE_AUTO)
    mode = c->sc->direct_tls ? XM_TLS_MODE_DIRECT
           : c->sc->starttls ? XM_TLS_MODE_STARTTLS : XM_TLS_MODE_NONE;
  c->direct_tls = mode == XM_TLS_MODE_DIRECT;
  c->want_tls = mode == XM_TLS_MODE_STARTTLS;
  c->bosh = c->r->opts->transport == XM_TRANSPORT_BOSH
            || (c->r->opts->transport == XM_TRANSPORT_AUTO && c->sc->bosh);
  c->ws = !c->bosh && (c->r->opts->transport == XM_TRANSPORT_WS
                       || (c->r->opts->transport == XM_TRANSPORT_AUTO && c->sc->ws));
  if (c->ws || c->bosh)
    c->want_tls = FALSE; /* RFC 7395 §3.6: TLS is the WebSocket's (wss:);
                          * XEP-0206 §4: the HTTP connection's (https:) */
  c->stage = c->direct_tls ? XM_FEATURES_TLS : XM_FEATURES_INITIAL;
  c->started_us = g_get_monotonic_time ();
  if (c->r->opts->port == 0 && (c->ws || c->bosh))
    {
      xm_replay_fatal (c->r, c, "%s is a %s connection: SRV records name XMPP's "
                       "TCP services, so give --server HOST:PORT (the server's "
                       "HTTP port)", c->label, c->ws ? "WebSocket" : "BOSH");
      return;
    }
  if (c->bosh)
    {
      c->state = NEG_STREAM;
      start_bosh (c);
      return;
    }
  c->state = NEG_CONNECTING;
  /* The resolver does not block the loop; --timeout covers it. */
  if (c->r->opts->port == 0)
    {
      XmSrvWant want;

      /* --tls auto with a recording that used TLS: either kind, as DNS
       * orders them (XEP-0368 §3); otherwise the kind asked for. */
      if (c->r->opts->tls == XM_TLS_MODE_AUTO && mode != XM_TLS_MODE_NONE)
        want = XM_SRV_STARTTLS | XM_SRV_DIRECT;
      else
        want = mode == XM_TLS_MODE_DIRECT ? XM_SRV_DIRECT : XM_SRV_STARTTLS;
      c->connect = xm_connect_start_domain (c->r->opts->host, want, 0,
                                            &connect_events, c);
      return;
    }
  c->connect = xm_connect_start (c->r->opts->host, c->r->opts->port, 0,
                                 &connect_events, c);
}

/* fd -1: a BOSH session's (its leg has no socket; serve-bosh.c). */
Conn *
xm_conn_new_accepted (Replay *r, int fd, const char *peer, const XmFramerEvents *events)
{
  Conn *c = g_new0 (Conn, 1);

  c->r = r;
  c->serving = TRUE;
  c->peer = g_strdup (peer);
  c->label = g_strdup_printf ("client %s", peer);
  c->leg = xm_leg_new ("client", &leg_events, c);
  c->id_rec2live = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  c->id_live2rec = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  c->report = g_string_new (NULL);
  c->started_us = g_get_monotonic_time ();
  c->state = NEG_IDLE;
  c->framer = xm_framer_new (events, c);
  xm_framer_set_plain_trees (c->framer, TRUE);
  if (fd < 0)
    {
      c->bosh = TRUE;
      xm_leg_push (c->leg, xm_layer_bosh_serve_new ());
    }
  else if (!xm_leg_attach (c->leg, fd, NULL))
    {
      close (fd);
      c->state = NEG_CLOSED;
    }
  return c;
}

void
xm_conn_restart_after (Conn *c, gboolean tls)
{
  xm_framer_restart_after (c->framer);
  if (tls)
    start_tls (c);
}

void
xm_conn_compress (Conn *c)
{
  /* XEP-0138 §3: what c sends is deflated from now on, and what it
   * receives after the element being framed is inflated. */
  xm_framer_restart_after (c->framer);
  c->layer_pushed = TRUE;
  xm_leg_push (c->leg, xm_layer_zlib_new (XM_INFLATE_DEFAULT_MAX_RATIO));
}

void
xm_conn_check_timeout (Conn *c, gint64 now)
{
  static const char *const what[] = {
    [NEG_CONNECTING] = "connecting",
    [NEG_TLS] = "the TLS handshake",
    [NEG_STREAM] = "the server's stream features",
    [NEG_STARTTLS] = "the server's <proceed/>",
    [NEG_SASL] = "the server's answer to authentication",
    [NEG_IQ_AUTH] = "the server's answer to XEP-0078 authentication",
    [NEG_COMPRESS] = "the server's <compressed/>",
  };
  g_autofree char *where = NULL;

  if (c->bosh_carrier)
    return; /* HTTP connections come and go with the client's requests */
  if (c->serving)
    {
      /* Once authenticated, the session starts with the client's first
       * stanza (or compression): --timeout's idle rule covers it. */
      if (c->state != NEG_ESTABLISHED && c->state != NEG_CLOSED && !c->authed
          && now - c->started_us > (gint64) c->r->opts->timeout_s * 2 * G_USEC_PER_SEC)
        {
          xm_replay_say (c->r, "%s: gave up: the client did not finish negotiating "
                         "within %u s", c->label, c->r->opts->timeout_s * 2);
          xm_serve_release (c);
          xm_conn_close (c);
        }
      return;
    }
  if (c->state < NEG_CONNECTING || c->state > NEG_COMPRESS
      || now - c->started_us < (gint64) c->r->opts->timeout_s * G_USEC_PER_SEC)
    return;
  where = server_name (c->r->opts);
  xm_replay_fatal (c->r, c, "no answer from %s within %u s, waiting for %s "
                   "(see --timeout)", where, c->r->opts->timeout_s, what[c->state]);
}
