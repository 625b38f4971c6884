/* test-layer-bosh.c: the BOSH layer (stream/layer-bosh.c) of a leg with
 * no socket of its own, driven by the main loop against a connection
 * manager scripted here on loopback: each test reads the requests the
 * layer makes (over as many TCP connections as it opens) and answers them
 * as it likes. Checked: the session's creation, the empty request kept
 * at the server, a second connection for stanzas while it is held, the
 * responses going up in rid order whatever order they come in, a restart,
 * the terminate, a connection the server closes between requests, and a
 * body over the cap. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
#include <glib-unix.h>

#include "layer-bosh.h"
#include "layer-bosh-serve.h"
#include "leg.h"

/* ---- the scripted connection manager ---- */

typedef struct {
  int fd;
  GByteArray *in;
  guint source;
  gboolean eof;
} CmConn;

typedef struct {
  CmConn *conn;
  guint64 rid;
  char *body;
} Req;

typedef struct {
  int listen_fd;
  guint16 port;
  guint listen_source;
  GPtrArray *conns;     /* CmConn* */
  GPtrArray *reqs;      /* Req*, as they came */
} Cm;

static guint64
attr_u64 (const char *body, const char *name)
{
  g_autofree char *pat = g_strdup_printf (" %s='", name);
  const char *at = strstr (body, pat);

  return at ? g_ascii_strtoull (at + strlen (pat), NULL, 10) : 0;
}

static void
cm_take (Cm *cm, CmConn *c)
{
  for (;;)
    {
      const guint8 *end = memmem (c->in->data, c->in->len, "\r\n\r\n", 4);
      g_autofree char *head = NULL;
      const char *cl;
      gsize head_len, body_len;
      Req *r;

      if (end == NULL)
        return;
      head_len = end + 4 - c->in->data;
      head = g_strndup ((const char *) c->in->data, head_len);
      cl = strstr (head, "Content-Length: ");
      g_assert_nonnull (cl);
      g_assert_true (g_str_has_prefix (head, "POST /bind HTTP/1.1\r\n"));
      body_len = g_ascii_strtoull (cl + 16, NULL, 10);
      if (c->in->len < head_len + body_len)
        return;
      r = g_new0 (Req, 1);
      r->conn = c;
      r->body = g_strndup ((const char *) c->in->data + head_len, body_len);
      r->rid = attr_u64 (r->body, "rid");
      g_ptr_array_add (cm->reqs, r);
      g_byte_array_remove_range (c->in, 0, head_len + body_len);
    }
}

typedef struct {
  Cm *cm;
  CmConn *c;
} CmRead;

static gboolean
cm_readable (int fd, GIOCondition cond, gpointer data)
{
  CmRead *cr = data;
  guint8 buf[65536];
  ssize_t n = read (fd, buf, sizeof buf);

  if (n <= 0)
    {
      cr->c->eof = TRUE;
      cr->c->source = 0;
      return G_SOURCE_REMOVE;
    }
  g_byte_array_append (cr->c->in, buf, n);
  cm_take (cr->cm, cr->c);
  return G_SOURCE_CONTINUE;
}

static gboolean
cm_accept (int fd, GIOCondition cond, gpointer data)
{
  Cm *cm = data;
  CmConn *c = g_new0 (CmConn, 1);
  CmRead *cr = g_new0 (CmRead, 1);

  c->fd = accept (fd, NULL, NULL);
  g_assert_cmpint (c->fd, >=, 0);
  c->in = g_byte_array_new ();
  cr->cm = cm;
  cr->c = c;
  c->source = g_unix_fd_add_full (G_PRIORITY_DEFAULT, c->fd, G_IO_IN, cm_readable,
                                  cr, g_free);
  g_ptr_array_add (cm->conns, c);
  return G_SOURCE_CONTINUE;
}

static void
cm_conn_free (gpointer p)
{
  CmConn *c = p;

  if (c->source)
    g_source_remove (c->source);
  if (c->fd >= 0)
    close (c->fd);
  g_byte_array_unref (c->in);
  g_free (c);
}

static void
req_free (gpointer p)
{
  Req *r = p;
  g_free (r->body);
  g_free (r);
}

static Cm *
cm_new (void)
{
  Cm *cm = g_new0 (Cm, 1);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof a;

  cm->listen_fd = socket (AF_INET, SOCK_STREAM, 0);
  g_assert_cmpint (bind (cm->listen_fd, (struct sockaddr *) &a, sizeof a), ==, 0);
  g_assert_cmpint (listen (cm->listen_fd, 8), ==, 0);
  getsockname (cm->listen_fd, (struct sockaddr *) &a, &len);
  cm->port = ntohs (a.sin_port);
  cm->listen_source = g_unix_fd_add (cm->listen_fd, G_IO_IN, cm_accept, cm);
  cm->conns = g_ptr_array_new_with_free_func (cm_conn_free);
  cm->reqs = g_ptr_array_new_with_free_func (req_free);
  return cm;
}

static void
cm_free (Cm *cm)
{
  g_source_remove (cm->listen_source);
  close (cm->listen_fd);
  g_ptr_array_unref (cm->reqs);
  g_ptr_array_unref (cm->conns);
  g_free (cm);
}

/* Answers r with body (status 200), or with the raw bytes given. */
static void
cm_raw (Req *r, const char *bytes)
{
  gsize len = strlen (bytes);
  g_assert_cmpint (write (r->conn->fd, bytes, len), ==, (gssize) len);
}

static void
cm_answer (Req *r, const char *body, gboolean close_after)
{
  g_autofree char *resp = g_strdup_printf (
    "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\n"
    "Content-Length: %zu\r\n%s\r\n%s", strlen (body),
    close_after ? "Connection: close\r\n" : "", body);

  cm_raw (r, resp);
  if (close_after)
    shutdown (r->conn->fd, SHUT_WR);
}

#define HB "xmlns='http://jabber.org/protocol/httpbind'"
#define CREATED "<body " HB " xmlns:stream='http://etherx.jabber.org/streams' " \
  "sid='S1' authid='A1' from='example.test' requests='2' hold='1' wait='20'>" \
  "<stream:features xmlns='jabber:client'><mechanisms " \
  "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>" \
  "</mechanisms></stream:features></body>"

/* ---- the owner's side ---- */

typedef struct {
  XmLeg *leg;
  GString *got;
  gboolean eof;
  GError *error;
} Owner;

static gsize
on_data (XmLeg *leg, const guint8 *data, gsize len, gpointer user_data)
{
  Owner *o = user_data;
  g_string_append_len (o->got, (const char *) data, len);
  return len;
}

static void
on_eof (XmLeg *leg, XmLayer *layer, gpointer user_data)
{
  ((Owner *) user_data)->eof = TRUE;
}

static void
on_failed (XmLeg *leg, XmLayer *layer, const GError *error, gpointer user_data)
{
  Owner *o = user_data;
  g_assert_null (o->error);
  o->error = g_error_copy (error);
}

static const XmLegEvents owner_events = {
  .data = on_data, .eof = on_eof, .failed = on_failed,
};

static Owner *
owner_new (Cm *cm)
{
  Owner *o = g_new0 (Owner, 1);
  XmLayerBoshConfig cfg = {
    .host = "127.0.0.1", .port = cm->port, .path = "/bind", .domain = "example.test",
  };

  o->got = g_string_new (NULL);
  o->leg = xm_leg_new ("server", &owner_events, o);
  xm_leg_push (o->leg, xm_layer_bosh_new (&cfg));
  return o;
}

static void
owner_free (Owner *o)
{
  xm_leg_free (o->leg);
  g_string_free (o->got, TRUE);
  g_clear_error (&o->error);
  g_free (o);
}

static void
owner_send (Owner *o, const char *s)
{
  g_assert_true (xm_leg_send (o->leg, (const guint8 *) s, strlen (s)));
}

static gboolean
on_expire (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

typedef gboolean (*Done) (gpointer a, gpointer b);

/* Runs the loop until done or 5 s. */
static void
run_until (Done done, gpointer a, gpointer b)
{
  gboolean expired = FALSE;
  guint t = g_timeout_add (5000, on_expire, &expired);

  while (!done (a, b) && !expired)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (expired);
  g_source_remove (t);
}

static gboolean
n_reqs (gpointer cm, gpointer n)
{
  return ((Cm *) cm)->reqs->len >= GPOINTER_TO_UINT (n);
}

static gboolean
got_text (gpointer o, gpointer text)
{
  return strstr (((Owner *) o)->got->str, text) != NULL;
}

static gboolean
failed (gpointer o, gpointer unused)
{
  return ((Owner *) o)->error != NULL;
}

static gboolean
owner_eof (gpointer o, gpointer unused)
{
  return ((Owner *) o)->eof;
}

static Req *
req (Cm *cm, guint i)
{
  return cm->reqs->pdata[i];
}

/* The session up: the creation request answered, the empty request
 * the server holds is in (request 1). */
static void
create (Cm *cm, Owner *o)
{
  owner_send (o, "<?xml version='1.0'?><stream:stream to='example.test' version='1.0' "
              "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
  run_until (n_reqs, cm, GUINT_TO_POINTER (1));
  /* XEP-0124 §7.1, XEP-0206 §3 */
  g_assert_nonnull (strstr (req (cm, 0)->body, "hold='1'"));
  g_assert_nonnull (strstr (req (cm, 0)->body, "to='example.test'"));
  g_assert_nonnull (strstr (req (cm, 0)->body, "xmpp:version='1.0'"));
  g_assert_nonnull (strstr (req (cm, 0)->body, "wait='20'"));
  g_assert_null (strstr (req (cm, 0)->body, "sid="));
  g_assert_cmpuint (req (cm, 0)->rid, >, 0);
  cm_answer (req (cm, 0), CREATED, FALSE);
  run_until (got_text, o, "</stream:features>");
  g_assert_true (g_str_has_prefix (o->got->str, "<stream:stream xmlns='jabber:client' "
                                   "xmlns:stream='http://etherx.jabber.org/streams' "
                                   "version='1.0' id='A1' from='example.test'>"
                                   "<stream:features"));
  g_assert_cmpstr (xm_layer_bosh_sid (xm_leg_find (o->leg, &xm_layer_bosh_class)), ==, "S1");
  /* nothing to send: an empty request for the server to hold */
  run_until (n_reqs, cm, GUINT_TO_POINTER (2));
  g_assert_cmpuint (req (cm, 1)->rid, ==, req (cm, 0)->rid + 1);
  g_assert_nonnull (strstr (req (cm, 1)->body, "sid='S1'"));
  g_assert_true (g_str_has_suffix (req (cm, 1)->body, "/>"));
}

static void
test_session (void)
{
  Cm *cm = cm_new ();
  Owner *o = owner_new (cm);
  XmLayer *layer = xm_leg_find (o->leg, &xm_layer_bosh_class);
  guint64 rid0;

  create (cm, o);
  rid0 = req (cm, 0)->rid;
  g_string_truncate (o->got, 0);
  /* request 1 is held: a stanza goes on a second connection */
  owner_send (o, "<message xmlns='jabber:client' to='a@example.test'><body>hi</body></message>");
  run_until (n_reqs, cm, GUINT_TO_POINTER (3));
  g_assert_cmpuint (req (cm, 2)->rid, ==, rid0 + 2);
  g_assert_true (req (cm, 2)->conn != req (cm, 1)->conn);
  g_assert_nonnull (strstr (req (cm, 2)->body, "<body>hi</body></message></body>"));
  g_assert_cmpuint (xm_layer_bosh_connections (layer), ==, 2);
  /* answered out of order: the later rid first; they go up in rid order */
  cm_answer (req (cm, 2), "<body " HB "><iq xmlns='jabber:client' id='second'/></body>", FALSE);
  for (guint i = 0; i < 20; i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_null (strstr (o->got->str, "second"));
  cm_answer (req (cm, 1), "<body " HB "><iq xmlns='jabber:client' id='first'/></body>", FALSE);
  run_until (got_text, o, "second");
  g_assert_cmpstr (o->got->str, ==, "<iq xmlns='jabber:client' id='first'/>"
                   "<iq xmlns='jabber:client' id='second'/>");
  /* both answered: one new empty request to hold */
  run_until (n_reqs, cm, GUINT_TO_POINTER (4));
  g_assert_true (g_str_has_suffix (req (cm, 3)->body, "/>"));
  /* a restart (XEP-0206 §5): an empty body, and a new stream header up */
  g_string_truncate (o->got, 0);
  owner_send (o, "<stream:stream to='example.test' version='1.0' xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams'>");
  run_until (n_reqs, cm, GUINT_TO_POINTER (5));
  g_assert_nonnull (strstr (req (cm, 4)->body, "xmpp:restart='true'"));
  g_assert_nonnull (strstr (req (cm, 4)->body, "xmlns:xmpp='urn:xmpp:xbosh'"));
  cm_answer (req (cm, 3), "<body " HB "/>", FALSE);
  cm_answer (req (cm, 4), "<body " HB " xmlns:stream='http://etherx.jabber.org/streams'>"
             "<stream:features xmlns='jabber:client'><bind "
             "xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features></body>", FALSE);
  run_until (got_text, o, "</stream:features>");
  g_assert_true (g_str_has_prefix (o->got->str, "<stream:stream "));
  g_assert_nonnull (strstr (o->got->str, "id='A1' from='example.test'><stream:features"));
  /* the end: a terminate carrying the last stanza; its answer closes the
   * stream and ends the input */
  run_until (n_reqs, cm, GUINT_TO_POINTER (6));
  owner_send (o, "<presence xmlns='jabber:client' type='unavailable'/></stream:stream>");
  run_until (n_reqs, cm, GUINT_TO_POINTER (7));
  g_assert_nonnull (strstr (req (cm, 6)->body, "type='terminate'"));
  g_assert_nonnull (strstr (req (cm, 6)->body, "<presence xmlns='jabber:client' "
                            "type='unavailable'/></body>"));
  cm_answer (req (cm, 5), "<body " HB "/>", FALSE);
  cm_answer (req (cm, 6), "<body " HB " type='terminate'/>", FALSE);
  run_until (owner_eof, o, NULL);
  g_assert_true (g_str_has_suffix (o->got->str, "</stream:stream>"));
  g_assert_no_error (o->error);
  /* no rid skipped or repeated */
  for (guint i = 0; i < cm->reqs->len; i++)
    g_assert_cmpuint (req (cm, i)->rid, ==, rid0 + i);
  g_assert_cmpuint (xm_layer_bosh_connections (layer), ==, 2);
  owner_free (o);
  cm_free (cm);
}

/* XEP-0206 §6: a stream error comes in a terminate body with condition
 * remote-stream-error: it goes up, then the stream closes. */
static void
test_stream_error (void)
{
  Cm *cm = cm_new ();
  Owner *o = owner_new (cm);

  create (cm, o);
  g_string_truncate (o->got, 0);
  cm_answer (req (cm, 1), "<body " HB " type='terminate' condition='remote-stream-error' "
             "xmlns:stream='http://etherx.jabber.org/streams'><stream:error>"
             "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
             "</body>", FALSE);
  run_until (owner_eof, o, NULL);
  g_assert_cmpstr (o->got->str, ==, "<stream:error><conflict "
                   "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
                   "</stream:stream>");
  g_assert_no_error (o->error);
  owner_free (o);
  cm_free (cm);
}

/* The server closes a connection after its answer (Connection: close):
 * the next request goes on a new one. */
static void
test_connection_close (void)
{
  Cm *cm = cm_new ();
  Owner *o = owner_new (cm);
  XmLayer *layer = xm_leg_find (o->leg, &xm_layer_bosh_class);

  create (cm, o);
  cm_answer (req (cm, 1), "<body " HB "/>", TRUE);
  run_until (n_reqs, cm, GUINT_TO_POINTER (3));
  owner_send (o, "<message xmlns='jabber:client'/>");
  run_until (n_reqs, cm, GUINT_TO_POINTER (4));
  g_assert_nonnull (strstr (req (cm, 3)->body, "<message"));
  g_assert_cmpuint (xm_layer_bosh_connections (layer), ==, 3);
  g_assert_no_error (o->error);
  owner_free (o);
  cm_free (cm);
}

/* What waits is sent in whole sends from above, at most 256 KiB a
 * request (one larger send alone). */
static void
test_request_cap (void)
{
  Cm *cm = cm_new ();
  Owner *o = owner_new (cm);
  g_autofree char *text = g_strnfill (200 * 1024, 'x');
  g_autofree char *msg = g_strdup_printf ("<message xmlns='jabber:client'><body>%s</body>"
                                          "</message>", text);
  g_autofree char *big = g_strdup_printf ("<message xmlns='jabber:client'><body>%s%s"
                                          "</body></message>", text, text);

  create (cm, o);
  /* request 1 is held; the gap after it lets these three wait together */
  owner_send (o, msg);
  owner_send (o, msg);
  owner_send (o, big);
  run_until (n_reqs, cm, GUINT_TO_POINTER (3));
  g_assert_cmpuint (strlen (req (cm, 2)->body), <, strlen (msg) + 200);
  g_assert_nonnull (strstr (req (cm, 2)->body, "</message></body>"));
  cm_answer (req (cm, 1), "<body " HB "/>", FALSE);
  cm_answer (req (cm, 2), "<body " HB "/>", FALSE);
  run_until (n_reqs, cm, GUINT_TO_POINTER (4));
  g_assert_cmpuint (strlen (req (cm, 3)->body), <, strlen (msg) + 200);
  cm_answer (req (cm, 3), "<body " HB "/>", FALSE);
  run_until (n_reqs, cm, GUINT_TO_POINTER (5));
  g_assert_cmpuint (strlen (req (cm, 4)->body), >, strlen (big));
  g_assert_cmpuint (strlen (req (cm, 4)->body), <, strlen (big) + 200);
  g_assert_no_error (o->error);
  owner_free (o);
  cm_free (cm);
}

/* A body over the cap, a wrong sid, a status other than 200: the leg
 * fails with one sentence. */
static void
test_refusals (void)
{
  static const struct {
    const char *answer;
    const char *says;
  } cases[] = {
    { "HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n<body",
      "announces 104857600 bytes, more than the 8 MiB a body may have" },
    { "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n<body " HB " sid='S2'/>",
      "names session 'S2', not this one ('S1')" },
    { "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
      "answered POST /bind with 404 Not Found" },
    { "HTTP/1.1 200 OK\r\nContent-Length: 71\r\n\r\n<body " HB " type='terminate' "
      "condition='host-gone'/>", "ended the session: condition 'host-gone'" },
    { "<?xml version='1.0'?><stream:stream>", "is not HTTP (it starts with" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      Cm *cm = cm_new ();
      Owner *o = owner_new (cm);
      g_autofree char *fixed = NULL;
      const char *answer = cases[i].answer;
      const char *cl = strstr (answer, "Content-Length: ");

      create (cm, o);
      if (cl && strstr (answer, "<body " HB))
        {
          /* the right length for the body given (but the huge one) */
          const char *body = strstr (answer, "\r\n\r\n") + 4;
          if (g_ascii_strtoull (cl + 16, NULL, 10) < 1000)
            answer = fixed = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Length: %zu"
                                              "\r\n\r\n%s", strlen (body), body);
        }
      cm_raw (req (cm, 1), answer);
      run_until (failed, o, NULL);
      g_assert_true (g_str_has_prefix (o->error->message, "BOSH: "));
      if (strstr (o->error->message, cases[i].says) == NULL)
        g_error ("case %u: %s", i, o->error->message);
      g_assert_null (strchr (o->error->message, '\n'));
      owner_free (o);
      cm_free (cm);
    }
}

/* A body larger than the cap without a length (chunked) stops at it. */
static void
test_chunked_cap (void)
{
  Cm *cm = cm_new ();
  Owner *o = owner_new (cm);
  g_autofree char *chunk = g_strnfill (65536, 'x');
  g_autofree char *framed = g_strdup_printf ("10000\r\n%s\r\n", chunk);
  gsize sent = 0;

  create (cm, o);
  cm_raw (req (cm, 1), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  while (o->error == NULL && sent < (16u << 20))
    {
      /* the writes block past the socket buffers: one at a time */
      cm_raw (req (cm, 1), framed);
      sent += 65536;
      for (guint i = 0; i < 4; i++)
        g_main_context_iteration (NULL, FALSE);
    }
  run_until (failed, o, NULL);
  g_assert_nonnull (strstr (o->error->message, "larger than the 8 MiB a body may have"));
  g_assert_cmpuint (sent, <=, (9u << 20));
  owner_free (o);
  cm_free (cm);
}

static gboolean
flag_set (gpointer flag, gpointer unused)
{
  return *(gboolean *) flag;
}

/* A server that holds one rid and answers every later one at once: the
 * answers wait for the held one's, so no request follows while one does
 * (XEP-0124 §11: 'requests' at most, answered or not): what the layer
 * keeps stays one answer, not one a request for as long as the server
 * holds. */
static void
test_held_answers_bounded (void)
{
  Cm *cm = cm_new ();
  Owner *o = owner_new (cm);
  gboolean waited = FALSE;

  create (cm, o);
  g_string_truncate (o->got, 0);
  owner_send (o, "<message xmlns='jabber:client' id='m1'/>");
  run_until (n_reqs, cm, GUINT_TO_POINTER (3));
  cm_answer (req (cm, 2), "<body " HB "><iq xmlns='jabber:client' id='a2'/></body>", FALSE);
  owner_send (o, "<message xmlns='jabber:client' id='m2'/>");
  /* well past the gap between requests (10 ms): m2 would have gone */
  g_timeout_add (300, on_expire, &waited);
  run_until (flag_set, &waited, NULL);
  g_assert_cmpuint (cm->reqs->len, ==, 3);
  g_assert_cmpstr (o->got->str, ==, "");
  /* the held one answered: both answers go up in order, m2 goes */
  cm_answer (req (cm, 1), "<body " HB "><iq xmlns='jabber:client' id='a1'/></body>", FALSE);
  run_until (n_reqs, cm, GUINT_TO_POINTER (4));
  g_assert_nonnull (strstr (req (cm, 3)->body, "id='m2'"));
  g_assert_cmpuint (req (cm, 3)->rid, ==, req (cm, 2)->rid + 1);
  g_assert_cmpstr (o->got->str, ==, "<iq xmlns='jabber:client' id='a1'/>"
                   "<iq xmlns='jabber:client' id='a2'/>");
  g_assert_no_error (o->error);
  owner_free (o);
  cm_free (cm);
}

/* A server that answers the empty request it should hold at once, and
 * empty (it is not holding it): the next empty request waits the
 * 'polling' interval (XEP-0124 §12) instead of going at once, again and
 * again; what the owner sends meanwhile goes as it comes. */
static void
test_lone_poll_answered_at_once (void)
{
  Cm *cm = cm_new ();
  Owner *o = owner_new (cm);
  gboolean waited = FALSE;

  create (cm, o);
  cm_answer (req (cm, 1), "<body " HB "/>", FALSE);
  /* well past the 1 ms an empty request waits for the round's end */
  g_timeout_add (300, on_expire, &waited);
  run_until (flag_set, &waited, NULL);
  g_assert_cmpuint (cm->reqs->len, ==, 2);
  owner_send (o, "<message xmlns='jabber:client' id='m1'/>");
  run_until (n_reqs, cm, GUINT_TO_POINTER (3));
  g_assert_nonnull (strstr (req (cm, 2)->body, "id='m1'"));
  cm_answer (req (cm, 2), "<body " HB "/>", FALSE);
  /* the interval over (the server named none: 1 s), an empty one again */
  run_until (n_reqs, cm, GUINT_TO_POINTER (4));
  g_assert_true (g_str_has_suffix (req (cm, 3)->body, "/>"));
  g_assert_null (strstr (req (cm, 3)->body, "<message"));
  g_assert_no_error (o->error);
  owner_free (o);
  cm_free (cm);
}

/* ---- the connection manager's side (layer-bosh-serve.c) ---- */

/* A carrier: a leg on one end of a socketpair; the test reads what it
 * answers from the other end. */
typedef struct {
  XmLeg *leg;
  int peer;
} Carrier;

static gsize
carrier_data (XmLeg *leg, const guint8 *data, gsize len, gpointer user_data)
{
  return len;
}

static void
carrier_eof (XmLeg *leg, XmLayer *layer, gpointer user_data)
{
}

static void
carrier_failed (XmLeg *leg, XmLayer *layer, const GError *error, gpointer user_data)
{
}

static const XmLegEvents carrier_events = {
  .data = carrier_data, .eof = carrier_eof, .failed = carrier_failed,
};

static void
carrier_init (Carrier *c)
{
  int sv[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), ==, 0);
  c->leg = xm_leg_new ("client", &carrier_events, NULL);
  g_assert_true (xm_leg_attach (c->leg, sv[0], NULL));
  c->peer = sv[1];
}

/* What the carrier's peer has read so far. */
static GString *
carrier_read (Carrier *c, GString *got)
{
  guint8 buf[65536];
  ssize_t n;

  while ((n = read (c->peer, buf, sizeof buf)) > 0)
    g_string_append_len (got, (const char *) buf, n);
  return got;
}

typedef struct {
  Carrier *c;
  GString *got;
  const char *want;
} Wait;

static gboolean
carrier_has (gpointer w_, gpointer unused)
{
  Wait *w = w_;
  carrier_read (w->c, w->got);
  return strstr (w->got->str, w->want) != NULL;
}

static void
serve_request (XmLayer *layer, Carrier *c, const char *body)
{
  xm_layer_bosh_serve_request (layer, c->leg, (const guint8 *) body, strlen (body));
}

/* Creation, a held request answered by a second one and by the owner's
 * stanza, a restart, rids out of order, the terminate. */
static void
test_serve (void)
{
  Owner o = { .got = g_string_new (NULL) };
  XmLayer *layer = xm_layer_bosh_serve_new ();
  Carrier a, b;
  g_autoptr (GString) ga = g_string_new (NULL), gb = g_string_new (NULL);
  Wait wa = { &a, ga, NULL }, wb = { &b, gb, NULL };

  carrier_init (&a);
  carrier_init (&b);
  o.leg = xm_leg_new ("client", &owner_events, &o);
  xm_leg_push (o.leg, layer);
  serve_request (layer, &a, "<body " HB " rid='10' to='example.test' wait='60' hold='1' "
                 "xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/>");
  g_assert_cmpstr (o.got->str, ==, "<stream:stream xmlns='jabber:client' xmlns:stream="
                   "'http://etherx.jabber.org/streams' version='1.0' to='example.test'>");
  /* the owner's header and features: the creation response */
  owner_send (&o, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' "
              "from='example.test' id='I1'>");
  owner_send (&o, "<stream:features xmlns='jabber:client'/>");
  wa.want = "</body>";
  run_until (carrier_has, &wa, NULL);
  g_assert_true (g_str_has_prefix (ga->str, "HTTP/1.1 200 OK\r\n"));
  g_assert_nonnull (strstr (ga->str, " sid='"));
  g_assert_nonnull (strstr (ga->str, xm_layer_bosh_serve_sid (layer)));
  g_assert_nonnull (strstr (ga->str, " wait='20'"));   /* capped */
  g_assert_nonnull (strstr (ga->str, " authid='I1' from='example.test'"));
  g_assert_nonnull (strstr (ga->str, "><stream:features xmlns='jabber:client'/></body>"));
  /* rid 12 before 11: it waits; 11 is held, then 12 answers it */
  g_string_truncate (o.got, 0);
  g_string_truncate (ga, 0);
  serve_request (layer, &b, "<body " HB " rid='12' sid='x'><message xmlns='jabber:client' "
                 "id='m12'/></body>");
  g_assert_cmpstr (o.got->str, ==, "");
  serve_request (layer, &a, "<body " HB " rid='11' sid='x'><message xmlns='jabber:client' "
                 "id='m11'/></body>");
  g_assert_cmpstr (o.got->str, ==, "<message xmlns='jabber:client' id='m11'/>"
                   "<message xmlns='jabber:client' id='m12'/>");
  wa.want = "/>";
  run_until (carrier_has, &wa, NULL);
  g_assert_nonnull (strstr (ga->str, "\r\n\r\n<body xmlns='http://jabber.org/protocol/"
                            "httpbind' xmlns:stream='http://etherx.jabber.org/streams'/>"));
  /* 12 is held: the owner's stanza goes in its answer */
  owner_send (&o, "<message xmlns='jabber:client' id='s1'/>");
  wb.want = "</body>";
  run_until (carrier_has, &wb, NULL);
  g_assert_nonnull (strstr (gb->str, "><message xmlns='jabber:client' id='s1'/></body>"));
  /* a restart: a new header up; the owner's new header is not sent */
  g_string_truncate (o.got, 0);
  g_string_truncate (gb, 0);
  serve_request (layer, &b, "<body " HB " rid='13' sid='x' xmpp:restart='true' "
                 "xmlns:xmpp='urn:xmpp:xbosh' to='example.test'/>");
  g_assert_true (g_str_has_prefix (o.got->str, "<stream:stream "));
  owner_send (&o, "<stream:stream xmlns='jabber:client' id='I2'>");
  owner_send (&o, "<stream:features xmlns='jabber:client'><bind/></stream:features>");
  run_until (carrier_has, &wb, NULL);
  g_assert_null (strstr (gb->str, "I2"));
  g_assert_nonnull (strstr (gb->str, "<bind/></stream:features></body>"));
  /* the client's terminate: its stanza and the stream close up; answered
   * with the owner's close */
  g_string_truncate (o.got, 0);
  g_string_truncate (ga, 0);
  serve_request (layer, &a, "<body " HB " rid='14' sid='x' type='terminate'>"
                 "<presence xmlns='jabber:client' type='unavailable'/></body>");
  g_assert_cmpstr (o.got->str, ==, "<presence xmlns='jabber:client' type='unavailable'/>"
                   "</stream:stream>");
  owner_send (&o, "<presence xmlns='jabber:client' id='bye'/></stream:stream>");
  wa.want = "</body>";
  run_until (carrier_has, &wa, NULL);
  g_assert_nonnull (strstr (ga->str, " type='terminate'><presence xmlns='jabber:client' "
                            "id='bye'/></body>"));
  /* and the session is over: a later request gets 404 */
  g_string_truncate (gb, 0);
  serve_request (layer, &b, "<body " HB " rid='15' sid='x'/>");
  wb.want = "item-not-found";
  run_until (carrier_has, &wb, NULL);
  g_assert_true (g_str_has_prefix (gb->str, "HTTP/1.1 404 "));
  g_assert_no_error (o.error);
  xm_leg_free (o.leg);
  g_string_free (o.got, TRUE);
  xm_leg_free (a.leg);
  xm_leg_free (b.leg);
  close (a.peer);
  close (b.peer);
}

/* The connection carrying the held request closes and the owner forgets
 * it (replay frees it): the layer keeps no pointer to it, and the owner's
 * next stanza goes in the client's next request instead of into nothing.
 * The same for a request handed over on a connection already closed. */
static void
test_serve_forget (void)
{
  Owner o = { .got = g_string_new (NULL) };
  XmLayer *layer = xm_layer_bosh_serve_new ();
  Carrier a, b;
  g_autoptr (GString) gb = g_string_new (NULL), ga = g_string_new (NULL);
  Wait wa = { &a, ga, "</body>" }, wb = { &b, gb, NULL };

  carrier_init (&a);
  carrier_init (&b);
  o.leg = xm_leg_new ("client", &owner_events, &o);
  xm_leg_push (o.leg, layer);
  serve_request (layer, &a, "<body " HB " rid='10' to='example.test' wait='60' hold='1' "
                 "xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/>");
  owner_send (&o, "<stream:stream xmlns='jabber:client' from='example.test' id='I1'>");
  owner_send (&o, "<stream:features xmlns='jabber:client'/>");
  run_until (carrier_has, &wa, NULL);
  /* rid 11 held on a, whose connection then goes */
  serve_request (layer, &a, "<body " HB " rid='11' sid='x'/>");
  xm_layer_bosh_serve_forget (layer, a.leg);
  xm_leg_free (a.leg);
  a.leg = NULL;
  /* the owner's stanza waits for a request to carry it: rid 12, on b */
  owner_send (&o, "<message xmlns='jabber:client' id='kept'/>");
  serve_request (layer, &b, "<body " HB " rid='12' sid='x'/>");
  wb.want = "</body>";
  run_until (carrier_has, &wb, NULL);
  g_assert_nonnull (strstr (gb->str, "><message xmlns='jabber:client' id='kept'/></body>"));
  /* a request on a connection already closed and forgotten (read after
   * an answer on it failed), its connection freed next: not held, so the
   * owner's next stanza goes in rid 14 (an answer on the freed leg,
   * before) */
  {
    Carrier c;

    carrier_init (&c);
    xm_leg_close (c.leg, FALSE);
    xm_layer_bosh_serve_forget (layer, c.leg); /* at its close */
    serve_request (layer, &c, "<body " HB " rid='13' sid='x'/>");
    xm_leg_free (c.leg);
    close (c.peer);
  }
  g_string_truncate (gb, 0);
  owner_send (&o, "<message xmlns='jabber:client' id='after'/>");
  serve_request (layer, &b, "<body " HB " rid='14' sid='x'/>");
  run_until (carrier_has, &wb, NULL);
  g_assert_nonnull (strstr (gb->str, "><message xmlns='jabber:client' id='after'/></body>"));
  g_assert_no_error (o.error);
  xm_leg_free (o.leg);
  g_string_free (o.got, TRUE);
  xm_leg_free (b.leg);
  close (a.peer);
  close (b.peer);
}

/* A rid that is none (missing, not a number, 2^53 or more: XEP-0124
 * §14.1): 400, and the session fails with one sentence. 2^64-1 was
 * taken, and the next rid expected wrapped round to 0, a session not
 * created yet. */
static void
test_serve_bad_rid (void)
{
  static const char *const rids[] = {
    " rid='18446744073709551615'", " rid='9007199254740992'", " rid='99999999999999999999'",
    " rid='-1'", " rid='12x'", "",
  };

  for (guint i = 0; i < G_N_ELEMENTS (rids); i++)
    {
      Owner o = { .got = g_string_new (NULL) };
      XmLayer *layer = xm_layer_bosh_serve_new ();
      Carrier a;
      g_autoptr (GString) ga = g_string_new (NULL);
      Wait wa = { &a, ga, "\r\n\r\n" };
      g_autofree char *body = g_strdup_printf ("<body " HB "%s to='example.test' "
                                               "wait='60' hold='1'/>", rids[i]);

      carrier_init (&a);
      o.leg = xm_leg_new ("client", &owner_events, &o);
      xm_leg_push (o.leg, layer);
      serve_request (layer, &a, body);
      run_until (carrier_has, &wa, NULL);
      g_assert_true (g_str_has_prefix (ga->str, "HTTP/1.1 400 "));
      g_assert_nonnull (o.error);
      g_assert_nonnull (strstr (o.error->message, "no rid from 1 to 2^53-1"));
      g_assert_cmpstr (o.got->str, ==, "");
      xm_leg_free (o.leg);
      g_string_free (o.got, TRUE);
      g_clear_error (&o.error);
      xm_leg_free (a.leg);
      close (a.peer);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/layer-bosh/session", test_session);
  g_test_add_func ("/layer-bosh/connection-close", test_connection_close);
  g_test_add_func ("/layer-bosh/stream-error", test_stream_error);
  g_test_add_func ("/layer-bosh/request-cap", test_request_cap);
  g_test_add_func ("/layer-bosh/refusals", test_refusals);
  g_test_add_func ("/layer-bosh/chunked-cap", test_chunked_cap);
  g_test_add_func ("/layer-bosh/held-answers-bounded", test_held_answers_bounded);
  g_test_add_func ("/layer-bosh/lone-poll-answered-at-once", test_lone_poll_answered_at_once);
  g_test_add_func ("/layer-bosh/serve", test_serve);
  g_test_add_func ("/layer-bosh/serve-bad-rid", test_serve_bad_rid);
  g_test_add_func ("/layer-bosh/serve-forget", test_serve_forget);
  return g_test_run ();
}
