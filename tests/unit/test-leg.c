/* test-leg.c: legs over a socketpair, driven by the main loop as the
 * proxy and replay drive them: bytes through no layer, through TLS (a
 * client-role layer against a server-role one presenting a leaf from a
 * throwaway CA), through zlib, a layer pushed at an exact byte offset in
 * the middle of a read, back-pressure, and failures named by the layer;
 * WebSocket (RFC 7395) between the client and server sides of the layer,
 * and against peers that answer wrong. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <zlib.h>
#include <openssl/x509v3.h>

#include "layer-tls.h"
#include "layer-ws.h"
#include "ws-frame.h"
#include "layer-zlib.h"
#include "leg.h"
#include "net.h"

typedef struct {
  XmLeg *leg;
  GByteArray *got;      /* plaintext delivered on top */
  gboolean eof;
  XmLayer *eof_layer;
  GError *error;
  XmLayer *error_layer;
  gboolean tls_up;
  gboolean hello;
  /* client certificates: the server role asks for one; the client role
   * pauses when asked and presents one forged for a.test, or none */
  gboolean ask_cert;
  gboolean cert_wanted;
  gboolean present_cert;
  /* switch: after this marker, push a zlib layer (the rest is its input) */
  const char *switch_after;
  gboolean switched;
} End;

static XmCa *ca;
static char *ca_dir;

static gsize
on_data (XmLeg *leg, const guint8 *data, gsize len, gpointer user_data)
{
  End *e = user_data;

  if (e->switch_after && !e->switched)
    {
      gsize m = strlen (e->switch_after);
      const guint8 *at = memmem (data, len, e->switch_after, m);
      if (at)
        {
          gsize used = (at - data) + m;
          g_byte_array_append (e->got, data, used);
          e->switched = TRUE;
          xm_leg_push (leg, xm_layer_zlib_new (200));
          return used;
        }
    }
  g_byte_array_append (e->got, data, len);
  return len;
}

static void
on_eof (XmLeg *leg, XmLayer *layer, gpointer user_data)
{
  End *e = user_data;

  e->eof = TRUE;
  e->eof_layer = layer;
}

static void
on_failed (XmLeg *leg, XmLayer *layer, const GError *error, gpointer user_data)
{
  End *e = user_data;

  g_clear_error (&e->error);
  e->error = g_error_copy (error);
  e->error_layer = layer;
}

static const XmLegEvents events = {
  .data = on_data,
  .eof = on_eof,
  .failed = on_failed,
};

static void
on_tls (XmLayer *layer, XmLayerTlsEvent what, gpointer user_data)
{
  End *e = user_data;

  if (what == XM_LAYER_TLS_HELLO)
    {
      const char *sni = xm_tls_client_sni (xm_layer_tls_engine (layer));
      g_autoptr (GError) error = NULL;
      g_autoptr (X509) leaf = NULL;

      e->hello = TRUE;
      g_assert_cmpstr (sni, ==, "example.test");
      leaf = xm_ca_forge (ca, sni, NULL, &error);
      g_assert_no_error (error);
      if (e->ask_cert)
        xm_tls_request_client_cert (xm_layer_tls_engine (layer));
      xm_layer_tls_set_leaf (layer, leaf, xm_ca_leaf_key (ca), NULL);
    }
  else if (what == XM_LAYER_TLS_CERT_WANTED)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (X509) cert = NULL;

      e->cert_wanted = TRUE;
      /* the server's certificate is known by now */
      g_assert_nonnull (xm_tls_peer_cert (xm_layer_tls_engine (layer)));
      if (e->present_cert)
        {
          cert = xm_ca_forge (ca, "a.test", NULL, &error);
          g_assert_no_error (error);
        }
      xm_layer_tls_set_client_cert (layer, cert, cert ? xm_ca_leaf_key (ca) : NULL);
    }
  else
    e->tls_up = TRUE;
}

static void
ends_init (End *a, End *b)
{
  int sv[2];

  memset (a, 0, sizeof *a);
  memset (b, 0, sizeof *b);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
  for (int i = 0; i < 2; i++)
    g_assert_cmpint (fcntl (sv[i], F_SETFL, O_NONBLOCK), ==, 0);
  a->got = g_byte_array_new ();
  b->got = g_byte_array_new ();
  a->leg = xm_leg_new ("client", &events, a);
  b->leg = xm_leg_new ("server", &events, b);
  g_assert_true (xm_leg_attach (a->leg, sv[0], NULL));
  g_assert_true (xm_leg_attach (b->leg, sv[1], NULL));
}

static void
ends_clear (End *a, End *b)
{
  End *e[2] = { a, b };

  for (int i = 0; i < 2; i++)
    {
      xm_leg_free (e[i]->leg);
      g_byte_array_unref (e[i]->got);
      g_clear_error (&e[i]->error);
    }
}

static gboolean
on_expire (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the loop until done(data) or 5 s. */
static void
run_until (gboolean (*done) (gpointer), gpointer data)
{
  gboolean expired = FALSE;
  guint t = g_timeout_add (5000, on_expire, &expired);

  while (!done (data) && !expired)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (expired);
  g_source_remove (t);
}

typedef struct {
  End *e;
  gsize want;
} Want;

static gboolean
has_bytes (gpointer data)
{
  Want *w = data;
  return w->e->got->len >= w->want || w->e->error;
}

static void
expect (End *e, const char *text)
{
  Want w = { e, strlen (text) };

  run_until (has_bytes, &w);
  g_assert_no_error (e->error);
  g_assert_cmpmem (e->got->data, e->got->len, text, strlen (text));
  g_byte_array_set_size (e->got, 0);
}

static void
send_str (End *e, const char *text)
{
  g_assert_true (xm_leg_send (e->leg, (const guint8 *) text, strlen (text)));
}

static void
test_plain (void)
{
  End a, b;

  ends_init (&a, &b);
  send_str (&a, "<stream:stream to='example.test'>");
  expect (&b, "<stream:stream to='example.test'>");
  send_str (&b, "<stream:features/>");
  expect (&a, "<stream:features/>");
  ends_clear (&a, &b);
}

static gboolean
both_up (gpointer data)
{
  End **e = data;
  return (e[0]->tls_up && e[1]->tls_up) || e[0]->error || e[1]->error;
}

static void
start_tls (End *a, End *b)
{
  End *e[2] = { a, b };
  static const guint8 alpn[] = "\x0bxmpp-client";
  XmLayer *client = xm_layer_tls_new_client ("example.test", NULL, alpn,
                                             sizeof alpn - 1, on_tls, a);

  xm_tls_pause_for_client_cert (xm_layer_tls_engine (client));
  xm_leg_push (b->leg, xm_layer_tls_new_server (on_tls, b));
  xm_leg_push (a->leg, client);
  run_until (both_up, e);
  g_assert_no_error (a->error);
  g_assert_no_error (b->error);
  g_assert_true (b->hello);
  g_assert_nonnull (xm_leg_find (a->leg, &xm_layer_tls_class));
}

/* Plaintext sent before the handshake is over waits in the layer, and
 * goes out, in order, once it is. */
static void
test_tls (void)
{
  End a, b;

  ends_init (&a, &b);
  send_str (&a, "<starttls/>");
  expect (&b, "<starttls/>");
  start_tls (&a, &b);
  send_str (&a, "<auth>secret</auth>");
  expect (&b, "<auth>secret</auth>");
  send_str (&b, "<success/>");
  expect (&a, "<success/>");
  /* a large write comes back whole, over several records and reads */
  {
    GString *big = g_string_new (NULL);
    while (big->len < 600 * 1024)
      g_string_append (big, "<message><body>abcdefghijklmnopqrstuvwxyz</body></message>");
    send_str (&b, big->str);
    expect (&a, big->str);
    g_string_free (big, TRUE);
  }
  ends_clear (&a, &b);
}

/* A server that asks for a client certificate pauses the client role's
 * handshake until it is told which (the proxy forges it once the other
 * leg's peer has shown its own); one that does not ask never pauses it. */
static void
test_tls_client_cert (void)
{
  for (int round = 0; round < 3; round++)
    {
      End a, b;
      X509 *got;

      ends_init (&a, &b);
      b.ask_cert = round > 0;
      a.present_cert = round == 2;
      start_tls (&a, &b);
      g_assert_cmpint (a.cert_wanted, ==, round > 0);
      got = xm_tls_peer_cert (xm_layer_tls_engine (xm_leg_find (b.leg, &xm_layer_tls_class)));
      if (round == 2)
        {
          g_assert_nonnull (got);
          g_assert_cmpint (X509_check_host (got, "a.test", 0, 0, NULL), ==, 1);
        }
      else
        g_assert_null (got);
      send_str (&a, "<stream:stream from='a.test'>");
      expect (&b, "<stream:stream from='a.test'>");
      ends_clear (&a, &b);
    }
}

static gboolean
got_eof (gpointer data)
{
  End *e = data;
  return e->eof || e->error;
}

/* A shutdown says close_notify first; the peer's TLS layer reports it. */
static void
test_tls_shutdown (void)
{
  End a, b;

  ends_init (&a, &b);
  start_tls (&a, &b);
  send_str (&a, "</stream:stream>");
  xm_leg_shutdown (a.leg);
  expect (&b, "</stream:stream>");
  run_until (got_eof, &b);
  g_assert_no_error (b.error);
  g_assert_true (b.eof_layer == xm_leg_find (b.leg, &xm_layer_tls_class));
  ends_clear (&a, &b);
}

static gboolean
got_error (gpointer data)
{
  End *e = data;
  return e->error != NULL;
}

/* A peer that answers a ClientHello with something else: the TLS layer
 * fails, named, and the owner hears it once. */
static void
test_tls_garbage (void)
{
  End a, b;

  ends_init (&a, &b);
  xm_leg_push (a.leg, xm_layer_tls_new_client ("example.test", NULL, NULL, 0, on_tls, &a));
  send_str (&b, "<stream:error><not-well-formed/></stream:error>");
  run_until (got_error, &a);
  g_assert_true (a.error_layer == xm_leg_find (a.leg, &xm_layer_tls_class));
  g_assert_true (a.error->domain == XM_TLS_ERROR);
  g_assert_false (xm_leg_alive (a.leg));
  ends_clear (&a, &b);
}

/* The exact-byte switch: one write carries the last plaintext element and
 * the first compressed bytes; the reader's callback pushes zlib right
 * after the element, and the rest of the same read goes to zlib. */
static void
test_switch_at_offset (void)
{
  End a, b;
  XmLayer *z;

  ends_init (&a, &b);
  b.switch_after = "<compressed/>";
  send_str (&a, "<compressed/>");
  z = xm_layer_zlib_new (200);
  xm_leg_push (a.leg, z);
  send_str (&a, "<stream:stream>");
  /* both writes may arrive in one read: the switch is at the byte */
  expect (&b, "<compressed/><stream:stream>");
  g_assert_true (b.switched);
  send_str (&b, "<stream:features/>");
  expect (&a, "<stream:features/>");
  ends_clear (&a, &b);
}

/* The same inside TLS: plaintext then zlib in one TLS record. */
static void
test_switch_inside_tls (void)
{
  End a, b;

  ends_init (&a, &b);
  start_tls (&a, &b);
  b.switch_after = "<compressed/>";
  {
    /* one record: "<compressed/>" + deflate("<presence/>") */
    z_stream zs = { 0 };
    guint8 out[256];
    GByteArray *rec = g_byte_array_new ();
    g_assert_cmpint (deflateInit (&zs, Z_DEFAULT_COMPRESSION), ==, Z_OK);
    zs.next_in = (Bytef *) "<presence/>";
    zs.avail_in = strlen ("<presence/>");
    zs.next_out = out;
    zs.avail_out = sizeof out;
    g_assert_cmpint (deflate (&zs, Z_SYNC_FLUSH), ==, Z_OK);
    g_byte_array_append (rec, (const guint8 *) "<compressed/>", 13);
    g_byte_array_append (rec, out, sizeof out - zs.avail_out);
    deflateEnd (&zs);
    g_assert_true (xm_leg_send (a.leg, rec->data, rec->len));
    g_byte_array_free (rec, TRUE);
  }
  expect (&b, "<compressed/><presence/>");
  g_assert_nonnull (xm_leg_find (b.leg, &xm_layer_zlib_class));
  ends_clear (&a, &b);
}

/* What the peer does not read queues in the leg, and is counted there
 * for the owner's back-pressure; it all arrives once the peer reads. */
static void
test_queue (void)
{
  End a, b;
  g_autofree guint8 *block = g_malloc (1024 * 1024);
  gsize total = 0;

  ends_init (&a, &b);
  memset (block, 'x', 1024 * 1024);
  xm_leg_set_reading (b.leg, FALSE);
  for (int i = 0; i < 4; i++, total += 1024 * 1024)
    g_assert_true (xm_leg_send (a.leg, block, 1024 * 1024));
  g_assert_cmpuint (xm_leg_queued (a.leg), >, 0);
  g_assert_cmpuint (xm_leg_queued (a.leg), <=, total);
  xm_leg_set_reading (b.leg, TRUE);
  {
    Want w = { &b, total };
    run_until (has_bytes, &w);
  }
  g_assert_cmpuint (b.got->len, ==, total);
  g_assert_cmpuint (xm_leg_queued (a.leg), ==, 0);
  ends_clear (&a, &b);
}

/* A peer that is gone: the write fails as a write, on the socket. */
static void
test_write_failure (void)
{
  End a, b;

  ends_init (&a, &b);
  xm_leg_close (b.leg, FALSE);
  for (int i = 0; i < 100 && a.error == NULL; i++)
    xm_leg_send (a.leg, (const guint8 *) "<presence/>", 11);
  g_assert_error (a.error, XM_LEG_ERROR, XM_LEG_ERROR_WRITE);
  g_assert_null (a.error_layer);
  g_assert_false (xm_leg_send (a.leg, (const guint8 *) "x", 1));
  ends_clear (&a, &b);
}

static gboolean
has_error (gpointer data)
{
  return ((End *) data)->error != NULL;
}

/* The client and server sides of the WebSocket layer: sent before the
 * upgrade, each send arrives as one message; then both ways. */
static void
test_websocket (void)
{
  End a, b;

  ends_init (&a, &b);
  xm_leg_push (b.leg, xm_layer_ws_new_server ());
  xm_leg_push (a.leg, xm_layer_ws_new_client ("example.test", "/xmpp-websocket"));
  g_assert_true (xm_leg_busy (a.leg));
  send_str (&a, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.test'/>");
  expect (&b, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.test'/>");
  g_assert_false (xm_leg_busy (a.leg));
  send_str (&b, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='example.test'/>");
  expect (&a, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='example.test'/>");
  send_str (&a, "<presence xmlns='jabber:client'/>");
  expect (&b, "<presence xmlns='jabber:client'/>");
  ends_clear (&a, &b);
}

/* A server that is not one: each wrong answer fails the client's leg
 * with one sentence; the server side answers a request that is not an
 * upgrade with 400. */
static void
check_refused (const char *answer, const char *why)
{
  End a, b;
  g_autofree char *req = NULL;

  ends_init (&a, &b);
  xm_leg_push (a.leg, xm_layer_ws_new_client ("example.test", "/ws"));
  send_str (&a, "<open/>");
  {
    Want w = { &b, 4 };
    run_until (has_bytes, &w);
  }
  req = g_strndup ((const char *) b.got->data, b.got->len);
  g_assert_true (g_str_has_prefix (req, "GET /ws HTTP/1.1\r\n"));
  g_assert_nonnull (strstr (req, "Sec-WebSocket-Protocol: xmpp\r\n"));
  send_str (&b, answer);
  run_until (has_error, &a);
  g_assert_nonnull (strstr (a.error->message, why));
  g_assert_cmpuint (a.got->len, ==, 0);
  ends_clear (&a, &b);
}

/* An interim 100 before the 101 is not the answer (RFC 9110 §15.2). */
static void
test_websocket_interim (void)
{
  End a, b;
  g_autofree char *req = NULL, *accept = NULL, *reply = NULL;
  const char *k;

  ends_init (&a, &b);
  xm_leg_push (a.leg, xm_layer_ws_new_client ("example.test", "/ws"));
  send_str (&a, "<open/>");
  {
    Want w = { &b, 4 };
    run_until (has_bytes, &w);
  }
  req = g_strndup ((const char *) b.got->data, b.got->len);
  k = strstr (req, "Sec-WebSocket-Key: ");
  g_assert_nonnull (k);
  k += strlen ("Sec-WebSocket-Key: ");
  {
    g_autofree char *key = g_strndup (k, strcspn (k, "\r"));
    accept = xm_ws_accept_key (key);
  }
  reply = g_strdup_printf ("HTTP/1.1 100 Continue\r\n\r\n"
                           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                           "Sec-WebSocket-Protocol: xmpp\r\n\r\n", accept);
  send_str (&b, reply);
  /* the waiting <open/> goes out as a frame once upgraded */
  {
    Want w = { &b, b.got->len + 7 + 6 };
    run_until (has_bytes, &w);
  }
  g_assert_no_error (a.error);
  g_assert_false (xm_leg_busy (a.leg));
  ends_clear (&a, &b);
}

static void
test_websocket_refused (void)
{
  End a, b;

  check_refused ("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                 "WebSocket: the server answered the upgrade to /ws with 404 Not Found");
  check_refused ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: bm90IGl0\r\n"
                 "Sec-WebSocket-Protocol: xmpp\r\n\r\n",
                 "Sec-WebSocket-Accept is bm90IGl0");
  check_refused ("<stream:stream xmlns='jabber:client'>",
                 "the server's answer to the upgrade is not HTTP");

  /* the server side, asked for something else */
  ends_init (&a, &b);
  xm_leg_push (b.leg, xm_layer_ws_new_server ());
  send_str (&a, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  run_until (has_error, &b);
  g_assert_nonnull (strstr (b.error->message, "does not ask for the 'xmpp' subprotocol"));
  {
    Want w = { &a, 12 };
    run_until (has_bytes, &w);
    g_assert_true (g_str_has_prefix ((const char *) a.got->data, "HTTP/1.1 400 "));
  }
  ends_clear (&a, &b);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *cert = NULL, *key = NULL;
  XmTlsConfig tls = { .insecure = TRUE };
  int rc;

  g_test_init (&argc, &argv, NULL);
  ca_dir = g_dir_make_tmp ("xmitm-leg-XXXXXX", &error);
  g_assert_no_error (error);
  cert = g_build_filename (ca_dir, "ca.pem", NULL);
  key = g_build_filename (ca_dir, "ca-key.pem", NULL);
  ca = xm_ca_open (cert, key, TRUE, &error);
  g_assert_no_error (error);
  g_assert_true (xm_tls_init (&tls, &error));
  g_test_add_func ("/leg/plain", test_plain);
  g_test_add_func ("/leg/websocket", test_websocket);
  g_test_add_func ("/leg/websocket-refused", test_websocket_refused);
  g_test_add_func ("/leg/websocket-interim", test_websocket_interim);
  g_test_add_func ("/leg/tls", test_tls);
  g_test_add_func ("/leg/tls-shutdown", test_tls_shutdown);
  g_test_add_func ("/leg/tls-client-cert", test_tls_client_cert);
  g_test_add_func ("/leg/tls-garbage", test_tls_garbage);
  g_test_add_func ("/leg/switch-at-offset", test_switch_at_offset);
  g_test_add_func ("/leg/switch-inside-tls", test_switch_inside_tls);
  g_test_add_func ("/leg/queue", test_queue);
  g_test_add_func ("/leg/write-failure", test_write_failure);
  rc = g_test_run ();
  xm_tls_cleanup ();
  xm_ca_free (ca);
  g_unlink (cert);
  g_unlink (key);
  g_rmdir (ca_dir);
  g_free (ca_dir);
  return rc;
}
