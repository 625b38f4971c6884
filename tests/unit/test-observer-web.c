/* test-observer-web.c: XMPP over WebSocket in the observer
 * (decoders/observer-web.c): an HTTP upgrade, RFC 7395 frames both ways,
 * and the rule breaks it names. Every session is fed whole and in pieces
 * of every size up to 9 bytes, as a capture and as the live proxy: the
 * events must be the same. */
#include <string.h>
#include <zlib.h>

#include <glib.h>

#include "observer.h"
#include "ws-frame.h"

#define NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define C_OPEN "<open xmlns='" NS_FRAMING "' to='example.com' version='1.0'/>"
#define S_OPEN "<open xmlns='" NS_FRAMING "' from='example.com' id='s1' version='1.0'/>"
#define FEATURES "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>" \
  "<mechanisms xmlns='" NS_SASL "'><mechanism>PLAIN</mechanism></mechanisms>"      \
  "</stream:features>"
#define AUTH "<auth xmlns='" NS_SASL "' mechanism='PLAIN'>AGp1bGlldABw</auth>"
#define SUCCESS "<success xmlns='" NS_SASL "'/>"
#define MSG "<message xmlns='jabber:client' to='romeo@example.net'><body>hi</body></message>"
#define CLOSE "<close xmlns='" NS_FRAMING "'/>"

#define REQUEST                                                               \
  "GET /xmpp-websocket HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n" \
  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"    \
  "Sec-WebSocket-Protocol: xmpp\r\nSec-WebSocket-Version: 13\r\n"             \
  "Authorization: Basic c2VjcmV0\r\n\r\n"
#define RESPONSE                                                              \
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"                \
  "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" \
  "Sec-WebSocket-Protocol: xmpp\r\n\r\n"

typedef struct {
  GString *log;
} Seen;

static void
on_event (XmEvent *ev, gpointer user_data)
{
  Seen *s = user_data;
  const char *dir = ev->dir == XM_DIR_C2S ? "c2s" : ev->dir == XM_DIR_S2C ? "s2c" : "-";
  const char *w = (ev->flags & XM_EVENT_FLAG_WS) ? " [ws]" : "";

  switch (ev->kind)
    {
    case XM_EVENT_STREAM_OPEN:
      g_string_append_printf (s->log, "%s open%s %s\n", dir, w, ev->stanza->root->name);
      break;
    case XM_EVENT_STANZA:
      g_string_append_printf (s->log, "%s stanza%s %s\n", dir, w, ev->stanza->root->name);
      break;
    case XM_EVENT_SASL:
      g_string_append_printf (s->log, "%s sasl %s\n", dir, ev->sasl->step);
      break;
    case XM_EVENT_LAYER:
      g_string_append_printf (s->log, "%s layer %s\n", dir, ev->layer->layer);
      break;
    case XM_EVENT_NOTE:
      g_string_append_printf (s->log, "%s note %s\n", dir, ev->text);
      break;
    case XM_EVENT_STREAM_CLOSE:
      g_string_append_printf (s->log, "%s close%s\n", dir, w);
      break;
    case XM_EVENT_TRANSPORT:
      g_string_append_printf (s->log, "%s %s %s\n", dir, ev->transport, ev->text);
      break;
    default:
      break;
    }
}

/* A session: chunks of each direction in the order they crossed. */
typedef struct {
  XmDir dir;
  GByteArray *bytes;
} Chunk;

typedef struct {
  GArray *chunks;
} Session;

static Session *
session_new (void)
{
  Session *s = g_new0 (Session, 1);
  s->chunks = g_array_new (FALSE, TRUE, sizeof (Chunk));
  return s;
}

static void
session_free (Session *s)
{
  for (guint i = 0; i < s->chunks->len; i++)
    g_byte_array_unref (g_array_index (s->chunks, Chunk, i).bytes);
  g_array_unref (s->chunks);
  g_free (s);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Session, session_free)

static void
add_raw (Session *s, XmDir dir, const void *data, gsize len)
{
  Chunk c = { dir, g_byte_array_new () };
  g_byte_array_append (c.bytes, data, len);
  g_array_append_val (s->chunks, c);
}

static void
add_http (Session *s, XmDir dir, const char *text)
{
  add_raw (s, dir, text, strlen (text));
}

/* One message in one frame; a client's is masked. */
static void
add_frame (Session *s, XmDir dir, guint8 opcode, const char *payload)
{
  static const guint8 mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
  g_autoptr (GByteArray) b = g_byte_array_new ();

  xm_ws_frame_append (b, opcode, TRUE, dir == XM_DIR_C2S ? mask : NULL,
                      (const guint8 *) payload, strlen (payload));
  add_raw (s, dir, b->data, b->len);
}

static void
add_text (Session *s, XmDir dir, const char *xml)
{
  add_frame (s, dir, XM_WS_TEXT, xml);
}

/* Feeds the session in pieces of step bytes (0: each chunk whole). */
static char *
run (const Session *sess, gsize step, gboolean live)
{
  Seen seen = { g_string_new (NULL) };
  XmObserverLive opts = { .max_stanza = 1 << 20, .max_inflate = 1 << 20 };
  XmObserver *obs = live ? xm_observer_new_live (&opts, on_event, &seen)
                         : xm_observer_new (on_event, &seen);

  if (!live)
    {
      xm_observer_from_start (obs, XM_DIR_C2S);
      xm_observer_from_start (obs, XM_DIR_S2C);
    }
  for (guint i = 0; i < sess->chunks->len; i++)
    {
      const Chunk *c = &g_array_index (sess->chunks, Chunk, i);
      gsize pos = 0;

      while (pos < c->bytes->len)
        {
          gsize n = step ? MIN (step, c->bytes->len - pos) : c->bytes->len - pos;

          if (live)
            {
              XmSwitch sw;
              gsize took = xm_observer_decode (obs, c->dir, c->bytes->data + pos, n, &sw);
              g_assert_cmpuint (took, ==, n); /* nothing switches over HTTP */
              g_assert_cmpint (sw, ==, XM_SWITCH_NONE);
            }
          else
            xm_observer_feed (obs, c->dir, c->bytes->data + pos, n);
          pos += n;
        }
    }
  xm_observer_finish (obs);
  g_assert_true (xm_observer_web (obs));
  xm_observer_free (obs);
  return g_string_free (seen.log, FALSE);
}

static char *
run_all_ways (const Session *sess)
{
  char *whole = run (sess, 0, FALSE);

  for (int live = 0; live <= 1; live++)
    for (gsize step = 0; step <= 9; step++)
      {
        g_autofree char *other = run (sess, step, live);
        g_assert_cmpstr (other, ==, whole);
      }
  return whole;
}

static Session *
upgraded (const char *request, const char *response)
{
  Session *s = session_new ();
  add_http (s, XM_DIR_C2S, request);
  add_http (s, XM_DIR_S2C, response);
  return s;
}

static void
test_session (void)
{
  g_autoptr (Session) s = upgraded (REQUEST, RESPONSE);
  g_autofree char *log = NULL;

  add_text (s, XM_DIR_C2S, C_OPEN);
  add_text (s, XM_DIR_S2C, S_OPEN);
  add_text (s, XM_DIR_S2C, FEATURES);
  add_text (s, XM_DIR_C2S, AUTH);
  add_text (s, XM_DIR_S2C, SUCCESS);
  add_text (s, XM_DIR_C2S, C_OPEN);
  add_text (s, XM_DIR_S2C, S_OPEN);
  add_text (s, XM_DIR_C2S, MSG);
  add_frame (s, XM_DIR_C2S, XM_WS_PING, "");
  add_frame (s, XM_DIR_S2C, XM_WS_PONG, "");
  add_text (s, XM_DIR_C2S, CLOSE);
  add_text (s, XM_DIR_S2C, CLOSE);
  add_frame (s, XM_DIR_S2C, XM_WS_CLOSE, "\x03\xe8" "bye");
  log = run_all_ways (s);
  g_assert_cmpstr (log, ==,
    "c2s http-request GET /xmpp-websocket HTTP/1.1 (Host: example.com; "
      "Upgrade: websocket; Sec-WebSocket-Protocol: xmpp; Sec-WebSocket-Version: 13; "
      "Connection: Upgrade; Authorization: 14 bytes hidden)\n"
    "s2c http-response HTTP/1.1 101 Switching Protocols (Upgrade: websocket; "
      "Sec-WebSocket-Protocol: xmpp; Connection: Upgrade)\n"
    "c2s open [ws] open\n"
    "s2c open [ws] open\n"
    "s2c stanza [ws] features\n"
    "c2s stanza [ws] auth\n"
    "c2s sasl auth\n"
    "s2c stanza [ws] success\n"
    "s2c sasl success\n"
    "s2c layer stream-restart\n"
    "c2s open [ws] open\n"
    "s2c open [ws] open\n"
    "c2s stanza [ws] message\n"
    "c2s ws-ping ping, 0 bytes\n"
    "s2c ws-pong pong, 0 bytes\n"
    "c2s close [ws]\n"
    "s2c close [ws]\n"
    "s2c ws-close close 1000 (normal closure): 'bye'\n");
}

/* RFC 7395 §3.1: 'xmpp' asked and selected; a server that answers
 * without it is named, and so is a client that does not ask. */
static void
test_no_subprotocol (void)
{
  g_autoptr (Session) s = upgraded (
    "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  g_autofree char *log = NULL;

  add_text (s, XM_DIR_C2S, C_OPEN);
  log = run_all_ways (s);
  g_assert_nonnull (strstr (log, "c2s note RFC 7395 §3.1: the upgrade request does "
                            "not ask for the 'xmpp' subprotocol"));
  g_assert_nonnull (strstr (log, "s2c note RFC 7395 §3.1: the server's upgrade "
                            "response does not select the 'xmpp' subprotocol"));
  g_assert_nonnull (strstr (log, "c2s open [ws] open\n"));
}

/* The old draft's framing: a stream header in a message of its own, then
 * stanzas; two elements in one message; a binary message; STARTTLS
 * offered inside the WebSocket. Each is named, and decoding goes on. */
static void
test_rule_breaks (void)
{
  g_autoptr (Session) s = upgraded (REQUEST, RESPONSE);
  g_autofree char *log = NULL;

  add_text (s, XM_DIR_C2S, "<stream:stream xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' to='example.com'>");
  add_text (s, XM_DIR_C2S, MSG MSG);
  add_frame (s, XM_DIR_C2S, XM_WS_BINARY, MSG);
  add_text (s, XM_DIR_S2C, "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"
            "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>");
  add_text (s, XM_DIR_S2C, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  add_text (s, XM_DIR_S2C, S_OPEN);
  log = run_all_ways (s);
  g_assert_nonnull (strstr (log, "c2s note RFC 7395 §3.3.3: a WebSocket message "
                            "holds one whole XML element; this one (at byte "));
  g_assert_nonnull (strstr (log, "ends inside <stream:stream\n"));
  g_assert_nonnull (strstr (log, "c2s note RFC 7395 §3.3.2: a <stream:stream> header "
                            "on WebSocket"));
  g_assert_nonnull (strstr (log, "c2s stanza [ws] message\nc2s stanza [ws] message\n"
                            "c2s note RFC 7395 §3.3.3: one WebSocket message held 2 "
                            "elements (one per message)\n"));
  g_assert_nonnull (strstr (log, "c2s note RFC 7395 §3.3.1: XMPP is sent in text "
                            "messages; this one is binary (decoded anyway)\n"
                            "c2s stanza [ws] message\n"));
  g_assert_nonnull (strstr (log, "s2c note RFC 7395 §3.6: the server offers STARTTLS"));
  g_assert_nonnull (strstr (log, "s2c note RFC 7395 §3.6: <proceed/> inside a "
                            "WebSocket connection"));
  /* nothing switched: the server's next <open/> is decoded */
  g_assert_true (g_str_has_suffix (log, "s2c open [ws] open\n"));
}

/* A refused upgrade: the client's next request is HTTP again; plain HTTP
 * (a page, a CORS preflight) is one line a message, bodies skipped. */
static void
test_refused_and_plain (void)
{
  g_autoptr (Session) s = upgraded (REQUEST,
    "HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nnope!");
  g_autofree char *log = NULL;

  add_http (s, XM_DIR_C2S, "OPTIONS /http-bind HTTP/1.1\r\nHost: h\r\nOrigin: http://a\r\n\r\n");
  add_http (s, XM_DIR_S2C, "HTTP/1.1 204 No Content\r\n\r\n");
  add_http (s, XM_DIR_C2S, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  add_http (s, XM_DIR_S2C, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n0\r\n\r\n");
  log = run_all_ways (s);
  g_assert_nonnull (strstr (log, "s2c http-response HTTP/1.1 403 Forbidden "
                            "(Content-Type: text/plain; Content-Length: 5)\n"
                            "c2s http-request OPTIONS /http-bind HTTP/1.1 (Host: h; "
                            "Origin: http://a)\n"
                            "s2c http-response HTTP/1.1 204 No Content\n"
                            "c2s http-request GET / HTTP/1.1 (Host: h)\n"
                            "s2c http-response HTTP/1.1 200 OK (Transfer-Encoding: chunked)\n"));
  g_assert_null (strstr (log, "[ws]"));
  g_assert_null (strstr (log, "note"));

  /* an upgrade to something else than WebSocket */
  {
    g_autoptr (Session) h = upgraded (
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
    g_autofree char *hlog = NULL;

    add_raw (h, XM_DIR_S2C, "\0\0\x12\x04\0\0\0\0\0", 9);
    add_raw (h, XM_DIR_C2S, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
    hlog = run (h, 0, FALSE);
    g_assert_nonnull (strstr (hlog, "s2c note the server switched this connection to "
                              "h2c, not WebSocket: the rest of it is not decoded\n"));
    g_assert_true (g_str_has_suffix (hlog, "not decoded\n"));
  }
}

/* Hostile: a frame that claims 2^63 bytes stops decoding of its direction
 * with one line, and a request line of a megabyte is bounded. */
static void
test_hostile (void)
{
  g_autoptr (Session) s = upgraded (REQUEST, RESPONSE);
  static const guint8 huge[] = { 0x81, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0 };
  g_autofree char *log = NULL;
  g_autoptr (Session) t = session_new ();
  g_autofree char *line = NULL;

  add_raw (s, XM_DIR_S2C, huge, sizeof huge);
  add_text (s, XM_DIR_C2S, C_OPEN);
  log = run (s, 0, FALSE);
  g_assert_nonnull (strstr (log, "s2c note WebSocket: "));
  g_assert_nonnull (strstr (log, "decoding of this direction stops (at byte "));
  g_assert_true (g_str_has_suffix (log, "c2s open [ws] open\n"));

  line = g_strnfill (1 << 20, 'a');
  add_http (t, XM_DIR_C2S, "GET /");
  add_http (t, XM_DIR_C2S, line);
  g_free (log);
  log = run (t, 0, FALSE);
  g_assert_nonnull (strstr (log, "c2s note HTTP: "));
  g_assert_nonnull (strstr (log, "decoding of this direction stops"));
}

/* RFC 7692: one message compressed (RSV1), with the context taken over to
 * the next; the server's, not masked. */
static void
add_deflated (Session *s, z_stream *z, const char *xml)
{
  guint8 out[4096];
  g_autoptr (GByteArray) frame = g_byte_array_new ();
  gsize n;

  z->next_in = (Bytef *) xml;
  z->avail_in = strlen (xml);
  z->next_out = out;
  z->avail_out = sizeof out;
  g_assert_cmpint (deflate (z, Z_SYNC_FLUSH), ==, Z_OK);
  n = sizeof out - z->avail_out;
  g_assert_cmpuint (n, >=, 4);
  n -= 4; /* 00 00 ff ff, which the receiver puts back (§7.2.1) */
  g_assert_cmpuint (n, <, 126);
  g_byte_array_append (frame, (const guint8 *) "\xc1", 1); /* FIN, RSV1, text */
  g_byte_array_append (frame, (const guint8 *) &(guint8) { (guint8) n }, 1);
  g_byte_array_append (frame, out, n);
  add_raw (s, XM_DIR_S2C, frame->data, frame->len);
}

static void
test_permessage_deflate (void)
{
  g_autoptr (Session) s = upgraded (REQUEST,
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Protocol: xmpp\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n\r\n");
  z_stream z = { 0 };
  g_autofree char *log = NULL;

  g_assert_cmpint (deflateInit2 (&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), ==, Z_OK);
  add_text (s, XM_DIR_C2S, C_OPEN);
  add_deflated (s, &z, S_OPEN);
  add_deflated (s, &z, FEATURES);
  add_deflated (s, &z, MSG);
  deflateEnd (&z);
  log = run_all_ways (s);
  g_assert_nonnull (strstr (log, "s2c note permessage-deflate (RFC 7692) agreed"));
  g_assert_true (g_str_has_suffix (log, "c2s open [ws] open\ns2c open [ws] open\n"
                                   "s2c stanza [ws] features\ns2c stanza [ws] message\n"));
}

/* A live session over HTTP forwards the features as they came: a -PLUS
 * mechanism on offer is named (a capture has nothing to say about it). */
static void
test_plus_named_live (void)
{
  g_autoptr (Session) s = upgraded (REQUEST, RESPONSE);
  g_autofree char *live = NULL, *capture = NULL;

  add_text (s, XM_DIR_S2C, "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"
            "<mechanisms xmlns='" NS_SASL "'><mechanism>SCRAM-SHA-1-PLUS</mechanism>"
            "<mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>");
  live = run (s, 0, TRUE);
  capture = run (s, 0, FALSE);
  g_assert_nonnull (strstr (live, "s2c note the server offers SCRAM-SHA-1-PLUS over HTTP"));
  g_assert_null (strstr (capture, "-PLUS over HTTP"));
}

/* A client that does not wait for the upgrade's answer (RFC 6455 §4.1):
 * what it sends meanwhile is held up to 64 KiB, then decoding of its
 * direction stops with one line; the server's side goes on. */
static void
test_client_ahead (void)
{
  g_autoptr (Session) s = session_new ();
  g_autofree char *big = g_strnfill (40000, ' ');
  g_autofree char *log = NULL;

  add_http (s, XM_DIR_C2S, REQUEST);
  add_text (s, XM_DIR_C2S, C_OPEN);
  add_text (s, XM_DIR_C2S, big);
  add_text (s, XM_DIR_C2S, big);
  add_http (s, XM_DIR_S2C, RESPONSE);
  add_text (s, XM_DIR_S2C, S_OPEN);
  /* (live, the note adds that the bytes are still forwarded) */
  log = run (s, 0, FALSE);
  for (gsize step = 1; step <= 9; step++)
    {
      g_autofree char *other = run (s, step, FALSE);
      g_assert_cmpstr (other, ==, log);
    }
  g_assert_nonnull (strstr (log, "c2s note more than 65536 bytes from the client after "
                            "its WebSocket upgrade request and before the server's answer"));
  g_assert_null (strstr (log, "c2s open"));
  g_assert_true (g_str_has_suffix (log, "s2c open [ws] open\n"));
}

/* What a peer writes in HTTP reaches a terminal: escape sequences are
 * escaped; tokens in a query or a subprotocol are only their size. */
static void
test_peer_text (void)
{
  g_autoptr (Session) s = upgraded (
    "GET /ws\x1b[2J?access_token=s3cr3t HTTP/1.1\r\nHost: e\x1b]0;pwn\x07\r\n"
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Protocol: xmpp, base64url.bearer.s3cr3t\r\n\r\n",
    "HTTP/1.1 403 N\x1b[31mo\r\nContent-Length: 0\r\n\r\n");
  g_autofree char *log = run_all_ways (s);

  g_assert_null (strchr (log, '\x1b'));
  g_assert_null (strchr (log, '\x07'));
  g_assert_null (strstr (log, "s3cr3t"));
  g_assert_nonnull (strstr (log, "GET /ws\\x1b[2J?[query: 19 bytes hidden] HTTP/1.1 "
                            "(Host: e\\x1b]0;pwn\\x07; Upgrade: websocket; "
                            "Sec-WebSocket-Protocol: xmpp, [23 bytes hidden]"));
  g_assert_nonnull (strstr (log, "HTTP/1.1 403 N\\x1b[31mo"));
}

/* A request pipelined before the upgrade: its 200 is not the upgrade's
 * answer; the 101 after it is, and the client's frames are decoded. */
static void
test_pipelined_before_upgrade (void)
{
  g_autoptr (Session) s = session_new ();
  g_autofree char *log = NULL;

  add_http (s, XM_DIR_C2S, "GET /info HTTP/1.1\r\nHost: example.com\r\n\r\n" REQUEST);
  add_text (s, XM_DIR_C2S, C_OPEN);
  add_http (s, XM_DIR_S2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" RESPONSE);
  add_text (s, XM_DIR_S2C, S_OPEN);
  log = run_all_ways (s);
  g_assert_true (g_str_has_suffix (log, "c2s open [ws] open\ns2c open [ws] open\n"));
  g_assert_null (strstr (log, "note"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/observer-web/session", test_session);
  g_test_add_func ("/observer-web/no-subprotocol", test_no_subprotocol);
  g_test_add_func ("/observer-web/rule-breaks", test_rule_breaks);
  g_test_add_func ("/observer-web/refused-and-plain", test_refused_and_plain);
  g_test_add_func ("/observer-web/hostile", test_hostile);
  g_test_add_func ("/observer-web/plus-named-live", test_plus_named_live);
  g_test_add_func ("/observer-web/permessage-deflate", test_permessage_deflate);
  g_test_add_func ("/observer-web/client-ahead", test_client_ahead);
  g_test_add_func ("/observer-web/peer-text", test_peer_text);
  g_test_add_func ("/observer-web/pipelined-before-upgrade", test_pipelined_before_upgrade);
  return g_test_run ();
}
