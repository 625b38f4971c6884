/* test-bosh.c: XMPP over BOSH (decoders/bosh.c through observer-web.c):
 * a session over two connections that share one XmBosh, in rid order, a
 * retransmission, a rid that never comes, a rid out of the window, a
 * failed creation, a body that is too large, and the session bound. */
#include <string.h>

#include <glib.h>

#include "bosh.h"
#include "observer.h"

#define NS_BIND "http://jabber.org/protocol/httpbind"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define SID "s1d"

typedef struct {
  GString *log;
  guint conn;
} Seen;

static void
on_event (XmEvent *ev, gpointer user_data)
{
  Seen *s = user_data;
  const char *dir = ev->dir == XM_DIR_C2S ? "c2s" : ev->dir == XM_DIR_S2C ? "s2c" : "-";
  const char *b = (ev->flags & XM_EVENT_FLAG_BOSH) ? " [bosh]" : "";

  if (ev->kind == XM_EVENT_TRANSPORT && strcmp (ev->transport, "bosh-body") != 0)
    return; /* HTTP lines: test-observer-web.c */
  g_string_append_printf (s->log, "#%u/%u %s ", ev->session, s->conn, dir);
  switch (ev->kind)
    {
    case XM_EVENT_STREAM_OPEN:
      g_string_append_printf (s->log, "open%s %s\n", b, ev->stanza->root->name);
      break;
    case XM_EVENT_STANZA:
      g_string_append_printf (s->log, "stanza%s %s\n", b, ev->stanza->root->name);
      break;
    case XM_EVENT_SASL:
      g_string_append_printf (s->log, "sasl %s\n", ev->sasl->step);
      break;
    case XM_EVENT_LAYER:
      g_string_append_printf (s->log, "layer %s\n", ev->layer->layer);
      break;
    case XM_EVENT_NOTE:
      g_string_append_printf (s->log, "note %s\n", ev->text);
      break;
    case XM_EVENT_STREAM_CLOSE:
      g_string_append_printf (s->log, "close%s\n", b);
      break;
    case XM_EVENT_TRANSPORT:
      g_string_append_printf (s->log, "%s\n", ev->text);
      break;
    default:
      g_string_append (s->log, "?\n");
      break;
    }
}

typedef struct {
  Seen seen;
  XmObserver *obs;
} Conn;

static void
conn_init (Conn *c, XmBosh *bosh, guint number, GString *log)
{
  c->seen.log = log;
  c->seen.conn = number;
  c->obs = xm_observer_new (on_event, &c->seen);
  xm_observer_from_start (c->obs, XM_DIR_C2S);
  xm_observer_from_start (c->obs, XM_DIR_S2C);
  xm_observer_set_bosh (c->obs, bosh, number);
}

static void
post (Conn *c, const char *body)
{
  g_autofree char *req = g_strdup_printf (
    "POST /http-bind HTTP/1.1\r\nHost: h\r\nContent-Type: text/xml\r\n"
    "Content-Length: %zu\r\n\r\n%s", strlen (body), body);
  xm_observer_feed (c->obs, XM_DIR_C2S, (const guint8 *) req, strlen (req));
}

static void
answer (Conn *c, const char *body)
{
  g_autofree char *resp = g_strdup_printf (
    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %zu\r\n\r\n%s",
    strlen (body), body);
  xm_observer_feed (c->obs, XM_DIR_S2C, (const guint8 *) resp, strlen (resp));
}

#define BODY(attrs, content) "<body xmlns='" NS_BIND "' " attrs ">" content "</body>"
#define EMPTY(attrs) "<body xmlns='" NS_BIND "' " attrs "/>"

static void
test_session (void)
{
  g_autoptr (GString) log = g_string_new (NULL);
  g_autoptr (XmBosh) bosh = xm_bosh_new ();
  Conn a, b;

  conn_init (&a, bosh, 1, log);
  conn_init (&b, bosh, 2, log);
  post (&a, EMPTY ("rid='100' to='example.com' wait='60' hold='1' ver='1.6' "
                   "xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'"));
  answer (&a, BODY ("sid='" SID "' wait='60' requests='2' from='example.com' "
                    "xmlns:stream='http://etherx.jabber.org/streams'",
                    "<stream:features><mechanisms xmlns='" NS_SASL "'><mechanism>"
                    "PLAIN</mechanism></mechanisms></stream:features>"));
  post (&a, BODY ("rid='101' sid='" SID "'", "<auth xmlns='" NS_SASL
                  "' mechanism='PLAIN'>AGp1bGlldABw</auth>"));
  answer (&a, BODY ("sid='" SID "'", "<success xmlns='" NS_SASL "'/>"));
  /* the long poll on one connection, the next request on the other */
  post (&a, EMPTY ("rid='102' sid='" SID "'"));
  post (&b, BODY ("rid='103' sid='" SID "'",
                  "<message xmlns='jabber:client' to='romeo@example.net'/>"));
  answer (&b, EMPTY ("sid='" SID "' ack='103'"));
  answer (&a, BODY ("sid='" SID "'", "<message xmlns='jabber:client' from='romeo@example.net'/>"));
  post (&b, EMPTY ("rid='104' sid='" SID "' type='terminate'"));
  answer (&b, EMPTY ("sid='" SID "' type='terminate'"));
  g_assert_cmpuint (xm_bosh_sessions (bosh), ==, 0);
  g_assert_cmpstr (log->str, ==,
    "#1/1 c2s open [bosh] body\n"
    "#1/1 s2c open [bosh] body\n"
    "#1/1 s2c stanza [bosh] features\n"
    "#1/1 c2s body rid=101 sid=" SID "\n"
    "#1/1 c2s stanza [bosh] auth\n"
    "#1/1 c2s sasl auth\n"
    "#1/1 s2c body sid=" SID "\n"
    "#1/1 s2c stanza [bosh] success\n"
    "#1/1 s2c sasl success\n"
    "#1/1 s2c layer stream-restart\n"
    "#1/1 c2s body rid=102 sid=" SID "\n"
    "#1/2 c2s body rid=103 sid=" SID "\n"
    "#1/2 c2s stanza [bosh] message\n"
    "#1/2 s2c body sid=" SID " ack=103\n"
    "#1/1 s2c body sid=" SID "\n"
    "#1/1 s2c stanza [bosh] message\n"
    "#1/2 c2s body rid=104 sid=" SID " type=terminate\n"
    "#1/2 c2s close [bosh]\n"
    "#1/2 s2c body sid=" SID " type=terminate\n"
    "#1/2 s2c close [bosh]\n");
  xm_observer_free (a.obs);
  xm_observer_free (b.obs);
}

/* Creates SID on connection 1 with rid 10 next. */
static void
created (Conn *a, XmBosh *bosh, GString *log)
{
  conn_init (a, bosh, 1, log);
  post (a, EMPTY ("rid='9' to='example.com'"));
  answer (a, EMPTY ("sid='" SID "' requests='2'"));
  g_string_truncate (log, 0);
}

static void
test_rid_order (void)
{
  g_autoptr (GString) log = g_string_new (NULL);
  g_autoptr (XmBosh) bosh = xm_bosh_new ();
  Conn a;

  created (&a, bosh, log);
  /* 11 before 10: held until 10 comes */
  post (&a, BODY ("rid='11' sid='" SID "'", "<presence xmlns='jabber:client' id='b'/>"));
  g_assert_cmpstr (log->str, ==, "");
  post (&a, BODY ("rid='10' sid='" SID "'", "<presence xmlns='jabber:client' id='a'/>"));
  g_assert_cmpstr (log->str, ==,
    "#1/1 c2s body rid=10 sid=" SID "\n#1/1 c2s stanza [bosh] presence\n"
    "#1/1 c2s body rid=11 sid=" SID "\n#1/1 c2s stanza [bosh] presence\n");
  g_string_truncate (log, 0);
  /* a retransmission */
  post (&a, BODY ("rid='11' sid='" SID "'", "<presence xmlns='jabber:client' id='b'/>"));
  g_assert_cmpstr (log->str, ==, "#1/1 c2s note BOSH: rid 11 again: a retransmission "
                   "(XEP-0124 §14.3); its stanzas were shown the first time\n");
  g_string_truncate (log, 0);
  /* 12 never comes: after the window of held bodies, decoding goes on */
  for (int rid = 13; rid <= 21; rid++)
    {
      g_autofree char *body = g_strdup_printf (EMPTY ("rid='%d' sid='" SID "'"), rid);
      post (&a, body);
    }
  g_assert_true (g_str_has_prefix (log->str, "#1/1 c2s note BOSH: rid 12 to 12 never "
                                   "came (XEP-0124 §14.1); going on with rid 13\n"
                                   "#1/1 c2s body rid=13 sid=" SID "\n"));
  g_assert_nonnull (strstr (log->str, "c2s body rid=21 "));
  g_string_truncate (log, 0);
  /* far ahead of any window */
  post (&a, EMPTY ("rid='1000' sid='" SID "'"));
  g_assert_cmpstr (log->str, ==, "#1/1 c2s note BOSH: rid 1000 is out of the window "
                   "(XEP-0124 §14.1: the next is 22); decoded anyway\n"
                   "#1/1 c2s body rid=1000 sid=" SID "\n");
  xm_observer_free (a.obs);
}

/* A creation the server refuses; a session begun before the capture; a
 * response that is not a body; a body over the cap. */
static void
test_odd (void)
{
  g_autoptr (GString) log = g_string_new (NULL);
  g_autoptr (XmBosh) bosh = xm_bosh_new ();
  Conn a;
  g_autofree char *big = NULL;

  conn_init (&a, bosh, 1, log);
  post (&a, EMPTY ("rid='1' to='nowhere.example'"));
  answer (&a, EMPTY ("type='terminate' condition='host-unknown'"));
  g_assert_cmpuint (xm_bosh_sessions (bosh), ==, 0);
  g_assert_nonnull (strstr (log->str, "#1/1 s2c note BOSH: the server ended the "
                            "session: condition 'host-unknown' (XEP-0124 §17)\n"));
  g_string_truncate (log, 0);

  post (&a, EMPTY ("rid='50' sid='old'"));
  g_assert_cmpstr (log->str, ==, "#1/1 c2s note BOSH: session 'old' began before xmitm "
                   "saw it: decoded from here\n#1/1 c2s body rid=50 sid=old\n");
  g_string_truncate (log, 0);
  answer (&a, "<html/>");
  g_assert_nonnull (strstr (log->str, "s2c note BOSH: the response to rid 50 is not a "
                            "<body/>"));
  g_string_truncate (log, 0);

  big = g_strnfill (2 << 20, ' ');
  post (&a, big);
  g_assert_nonnull (strstr (log->str, "c2s note an HTTP body larger than 1048576 bytes: "
                            "not decoded"));
  xm_observer_free (a.obs);
}

/* XEP-0124 §14: a sid used from a second address is named, once. */
static void
test_shared_sid (void)
{
  g_autoptr (GString) log = g_string_new (NULL);
  g_autoptr (XmBosh) bosh = xm_bosh_new ();
  Conn a, b;

  conn_init (&a, bosh, 1, log);
  xm_observer_set_client (a.obs, "192.0.2.1:40000");
  conn_init (&b, bosh, 2, log);
  xm_observer_set_client (b.obs, "[2001:db8::7]:40001");
  post (&a, EMPTY ("rid='9' to='example.com'"));
  answer (&a, EMPTY ("sid='" SID "'"));
  g_string_truncate (log, 0);
  post (&b, EMPTY ("rid='10' sid='" SID "'"));
  post (&b, EMPTY ("rid='11' sid='" SID "'"));
  g_assert_cmpstr (log->str, ==,
    "#1/2 c2s note BOSH: session '" SID "' is used by a second client (192.0.2.1, "
    "then [2001:db8::7]): two clients share its sid, a session hijack or clients "
    "behind several proxies (XEP-0124 §14)\n"
    "#1/2 c2s body rid=10 sid=" SID "\n"
    "#1/2 c2s body rid=11 sid=" SID "\n");
  xm_observer_free (a.obs);
  xm_observer_free (b.obs);
}

/* A server that answers before the request has ended (an early error):
 * the pairing of later responses with their requests stays right. */
static void
test_early_answer (void)
{
  g_autoptr (GString) log = g_string_new (NULL);
  g_autoptr (XmBosh) bosh = xm_bosh_new ();
  Conn a;
  static const char head[] = "POST /http-bind HTTP/1.1\r\nHost: h\r\n"
    "Content-Length: 30\r\n\r\n";

  created (&a, bosh, log);
  /* the head, the server's 413, then the body */
  xm_observer_feed (a.obs, XM_DIR_C2S, (const guint8 *) head, strlen (head));
  answer (&a, "");
  xm_observer_feed (a.obs, XM_DIR_C2S, (const guint8 *) "<body xmlns='x'/>             ", 30);
  g_string_truncate (log, 0);
  post (&a, EMPTY ("rid='10' sid='" SID "'"));
  answer (&a, BODY ("sid='" SID "'", "<message xmlns='jabber:client'/>"));
  g_assert_cmpstr (log->str, ==,
    "#1/1 c2s body rid=10 sid=" SID "\n"
    "#1/1 s2c body sid=" SID "\n"
    "#1/1 s2c stanza [bosh] message\n");
  xm_observer_free (a.obs);
}

/* Bodies held for missing rids are bounded across sessions (16 MiB): past
 * it, a body is decoded out of order, with one line. */
static void
test_held_budget (void)
{
  g_autoptr (GString) log = g_string_new (NULL);
  g_autoptr (XmBosh) bosh = xm_bosh_new ();
  g_autofree char *pad = g_strnfill (900 * 1024, ' ');
  Conn a;

  conn_init (&a, bosh, 1, log);
  for (int i = 0; i < 24; i++)
    {
      g_autofree char *first = g_strdup_printf (EMPTY ("rid='1' sid='s%d'"), i);
      g_autofree char *later = g_strdup_printf (
        "<body xmlns='" NS_BIND "' rid='3' sid='s%d'>%s</body>", i, pad);
      post (&a, first);
      post (&a, later); /* rid 2 never comes: held */
    }
  g_assert_nonnull (strstr (log->str, "BOSH: bodies waiting for earlier rids hold "
                            "16 MiB across sessions: rid 3 is decoded now, out of order"));
  xm_observer_free (a.obs);
}

/* Sessions are bounded: creating many keeps at most the bound alive. */
static void
test_bound (void)
{
  g_autoptr (GString) log = g_string_new (NULL);
  g_autoptr (XmBosh) bosh = xm_bosh_new ();
  Conn a;

  conn_init (&a, bosh, 1, log);
  for (int i = 0; i < 1500; i++)
    {
      g_autofree char *sid = g_strdup_printf (EMPTY ("sid='s%d'"), i);
      post (&a, EMPTY ("rid='1' to='example.com'"));
      answer (&a, sid);
    }
  g_assert_cmpuint (xm_bosh_sessions (bosh), <=, 1024);
  xm_observer_free (a.obs);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bosh/session", test_session);
  g_test_add_func ("/bosh/rid-order", test_rid_order);
  g_test_add_func ("/bosh/odd", test_odd);
  g_test_add_func ("/bosh/shared-sid", test_shared_sid);
  g_test_add_func ("/bosh/early-answer", test_early_answer);
  g_test_add_func ("/bosh/held-budget", test_held_budget);
  g_test_add_func ("/bosh/bound", test_bound);
  return g_test_run ();
}
