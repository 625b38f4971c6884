/* test-http-msg.c: the HTTP/1.1 reader: heads through libsoup, body
 * framing (length, chunked, until close, none), pipelining, HEAD, the
 * upgrade stop at the exact byte, and the bounds. Every input is fed whole,
 * a byte at a time and in odd chunks, and must give the same events. */
#include "config.h"

#include <string.h>

#include "http-msg.h"

typedef struct {
  GString *log;
  GString *body;
  XmHttpParser *p;
  gboolean stop_on_upgrade_head;  /* stop from head() on an upgrade */
  gboolean stop_on_upgrade_end;   /* stop from message_end() after one */
  gboolean upgrade_seen;
} Rec;

static void
flush_body (Rec *r)
{
  if (r->body->len == 0)
    return;
  g_string_append_printf (r->log, "B%" G_GSIZE_FORMAT " [%.60s]\n", r->body->len,
                          r->body->str);
  g_string_truncate (r->body, 0);
}

static void
on_head (const XmHttpHead *h, gpointer user_data)
{
  Rec *r = user_data;
  SoupMessageHeadersIter it;
  const char *name, *value;

  if (h->method)
    g_string_append_printf (r->log, "H %s %s 1.%u", h->method, h->path, h->minor);
  else
    g_string_append_printf (r->log, "H %u %s 1.%u", h->status, h->reason, h->minor);
  g_string_append_printf (r->log, " at=%" G_GUINT64_FORMAT "+%" G_GSIZE_FORMAT
                          " cl=%" G_GINT64_FORMAT "%s%s {", h->offset, h->head_len,
                          h->content_length, h->chunked ? " chunked" : "",
                          h->upgrade ? " upgrade" : "");
  soup_message_headers_iter_init (&it, h->headers);
  while (soup_message_headers_iter_next (&it, &name, &value))
    g_string_append_printf (r->log, "%s=%s;", name, value);
  g_string_append (r->log, "}\n");
  r->upgrade_seen = h->upgrade;
  if (h->upgrade && r->stop_on_upgrade_head)
    xm_http_parser_stop (r->p);
}

static void
on_body (const guint8 *data, gsize len, gpointer user_data)
{
  Rec *r = user_data;

  g_assert_cmpuint (len, >, 0);
  g_string_append_len (r->body, (const char *) data, len);
}

static void
on_end (guint64 end, gpointer user_data)
{
  Rec *r = user_data;

  flush_body (r);
  g_string_append_printf (r->log, "E %" G_GUINT64_FORMAT "\n", end);
  if (r->upgrade_seen && r->stop_on_upgrade_end)
    xm_http_parser_stop (r->p);
}

static void
on_problem (guint64 offset, gboolean fatal, const char *message, gpointer user_data)
{
  Rec *r = user_data;

  flush_body (r);
  g_string_append_printf (r->log, "P%s at=%" G_GUINT64_FORMAT " %s\n",
                          fatal ? "!" : "", offset, message);
}

static const XmHttpEvents events = { on_head, on_body, on_end, on_problem };

typedef struct {
  gboolean stop_head, stop_end, finish;
  gsize max_head;
  const char *const *methods; /* expect_response, in order */
} Opts;

static char *
run_chunked (XmHttpSide side, const Opts *o, const char *in, gsize len, gsize chunk)
{
  Rec r = { g_string_new (NULL), g_string_new (NULL), NULL, FALSE, FALSE, FALSE };
  gsize done = 0;

  r.p = xm_http_parser_new (side, &events, &r);
  if (o)
    {
      r.stop_on_upgrade_head = o->stop_head;
      r.stop_on_upgrade_end = o->stop_end;
      if (o->max_head)
        xm_http_parser_set_max_head (r.p, o->max_head);
      for (guint i = 0; o->methods && o->methods[i]; i++)
        xm_http_parser_expect_response (r.p, o->methods[i]);
    }
  while (done < len)
    {
      gsize n = MIN (chunk, len - done);
      gsize took = xm_http_parser_feed (r.p, (const guint8 *) in + done, n);

      g_assert_cmpuint (took, <=, n);
      done += took;
      if (took < n)
        {
          g_assert_true (xm_http_parser_stopped (r.p));
          break;
        }
    }
  flush_body (&r);
  if (xm_http_parser_stopped (r.p) && done == len)
    g_string_append (r.log, "STOPPED consumed=all\n");
  else if (xm_http_parser_stopped (r.p))
    g_string_append_printf (r.log, "STOPPED consumed=%" G_GSIZE_FORMAT "\n", done);
  else if (o && o->finish)
    {
      xm_http_parser_finish (r.p);
      flush_body (&r);
      g_string_append (r.log, "FINISHED\n");
    }
  g_assert_cmpuint (xm_http_parser_offset (r.p), ==, done);
  xm_http_parser_free (r.p);
  g_string_free (r.body, TRUE);
  return g_string_free (r.log, FALSE);
}

static char *
run (XmHttpSide side, const Opts *o, const char *in, gsize len)
{
  static const gsize chunks[] = { 1, 2, 3, 7, 64 };
  char *whole = run_chunked (side, o, in, len, G_MAXSIZE);

  for (guint i = 0; i < G_N_ELEMENTS (chunks); i++)
    {
      g_autofree char *other = run_chunked (side, o, in, len, chunks[i]);
      g_assert_cmpstr (other, ==, whole);
    }
  return whole;
}

#define RUN(side, o, s) run (side, o, s, sizeof s - 1)

static const char ws_request[] =
  "GET /xmpp-websocket HTTP/1.1\r\n"
  "Host: example.com\r\n"
  "Upgrade: websocket\r\n"
  "Connection: Upgrade\r\n"
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
  "Sec-WebSocket-Protocol: xmpp\r\n"
  "Sec-WebSocket-Version: 13\r\n"
  "\r\n";

static void
test_upgrade_request (void)
{
  /* The client's first frame follows the request at once. */
  static const char in[] = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                           "\r\n\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
  Opts head = { .stop_head = TRUE }, end = { .stop_end = TRUE };
  g_autofree char *a = NULL, *b = NULL, *c = NULL;

  a = RUN (XM_HTTP_REQUESTS, &head, in);
  g_assert_cmpstr (a, ==,
    "H GET /ws 1.1 at=0+49 cl=-1 upgrade {Host=a;Upgrade=websocket;}\n"
    "E 49\nSTOPPED consumed=49\n");
  b = RUN (XM_HTTP_REQUESTS, &end, in);
  g_assert_cmpstr (b, ==, a);
  c = RUN (XM_HTTP_REQUESTS, NULL, ws_request);
  g_assert_cmpstr (c, ==,
    "H GET /xmpp-websocket 1.1 at=0+194 cl=-1 upgrade {Host=example.com;Upgrade=websocket;"
    "Connection=Upgrade;Sec-WebSocket-Key=dGhlIHNhbXBsZSBub25jZQ==;"
    "Sec-WebSocket-Protocol=xmpp;Sec-WebSocket-Version=13;}\nE 194\n");
}

static void
test_101_stops (void)
{
  /* The server's 101, then its first frame in the same read: the parser
   * stops by itself, at the exact byte. */
  static const char in[] =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Protocol: xmpp\r\n\r\n"
    "\x81\x05Hello";
  g_autofree char *log = RUN (XM_HTTP_RESPONSES, NULL, in);

  g_assert_cmpstr (log, ==,
    "H 101 Switching Protocols 1.1 at=0+159 cl=-1 upgrade {Upgrade=websocket;"
    "Connection=Upgrade;Sec-WebSocket-Accept=s3pPLMBiTxaQ9kYGzzhZRbK+xOo=;"
    "Sec-WebSocket-Protocol=xmpp;}\nE 159\nSTOPPED consumed=159\n");
  g_assert_cmpuint (sizeof in - 1, ==, 166);
}

static void
test_connect_stops (void)
{
  /* A CONNECT's 2xx ends HTTP on the connection, like a 101. */
  static const char *const methods[] = { "CONNECT", NULL };
  static const char in[] = "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01";
  Opts o = { .methods = methods };
  g_autofree char *log = RUN (XM_HTTP_RESPONSES, &o, in);

  g_assert_cmpstr (log, ==, "H 200 Connection established 1.1 at=0+39 cl=-1 {}\nE 39\n"
                   "STOPPED consumed=39\n");
}

static void
test_content_length (void)
{
  static const char in[] =
    "POST /http-bind HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n<body rid/>"
    "\r\n"  /* a stray CRLF after a body is ignored (RFC 9112 §2.2) */
    "POST /http-bind HTTP/1.0\r\nContent-Length: 0\r\n\r\n"
    "GET / HTTP/1.1\r\n\r\n";
  g_autofree char *log = RUN (XM_HTTP_REQUESTS, NULL, in);

  g_assert_cmpstr (log, ==,
    "H POST /http-bind 1.1 at=0+57 cl=11 {Host=a;Content-Length=11;}\n"
    "B11 [<body rid/>]\nE 68\n"
    "H POST /http-bind 1.0 at=70+47 cl=0 {Content-Length=0;}\nE 117\n"
    "H GET / 1.1 at=117+18 cl=-1 {}\nE 135\n");
}

static void
test_bare_lf (void)
{
  static const char in[] = "HTTP/1.1 200 OK\nContent-Length: 2\n\nok";
  g_autofree char *log = RUN (XM_HTTP_RESPONSES, NULL, in);

  g_assert_cmpstr (log, ==, "H 200 OK 1.1 at=0+35 cl=2 {Content-Length=2;}\nB2 [ok]\nE 37\n");
}

static void
test_chunked (void)
{
  static const char in[] =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;name=value;q=\"x\"\r\n<body\r\n"
    "A \r\n xmlns='x'\r\n"
    "2\n/>\n"
    "0\r\nExpires: never\r\nX-Trailer: 1\r\n\r\n"
    "HTTP/1.1 204 No Content\r\n\r\n";
  g_autofree char *log = RUN (XM_HTTP_RESPONSES, NULL, in);

  g_assert_cmpstr (log, ==,
    "H 200 OK 1.1 at=0+47 cl=-1 chunked {Transfer-Encoding=chunked;}\n"
    "B17 [<body xmlns='x'/>]\nE 130\n"
    "H 204 No Content 1.1 at=130+27 cl=-1 {}\nE 157\n");
}

static void
test_until_close (void)
{
  static const char in[] = "HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n<body/>";
  Opts o = { .finish = TRUE };
  g_autofree char *log = RUN (XM_HTTP_RESPONSES, &o, in);

  g_assert_cmpstr (log, ==,
    "H 200 OK 1.0 at=0+43 cl=-1 {Content-Type=text/xml;}\nB7 [<body/>]\nE 50\nFINISHED\n");
}

static void
test_head_and_pipelining (void)
{
  static const char *const methods[] = { "GET", "HEAD", "GET", NULL };
  static const char *const just_head[] = { "HEAD", NULL };
  static const char in[] =
    "HTTP/1.1 100 Continue\r\n\r\n"
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
    "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo";
  Opts o = { .methods = methods };
  g_autofree char *log = RUN (XM_HTTP_RESPONSES, &o, in);
  static const char req[] = "HEAD / HTTP/1.1\r\n\r\nGET /a HTTP/1.1\r\n\r\n";
  g_autofree char *rlog = RUN (XM_HTTP_REQUESTS, NULL, req);
  Opts oh = { .methods = just_head };
  static const char head_resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  g_autofree char *hlog = RUN (XM_HTTP_RESPONSES, &oh, head_resp);

  g_assert_cmpstr (log, ==,
    "H 100 Continue 1.1 at=0+25 cl=-1 {}\nE 25\n"
    "H 200 OK 1.1 at=25+38 cl=3 {Content-Length=3;}\nB3 [one]\nE 66\n"
    "H 200 OK 1.1 at=66+41 cl=1000 {Content-Length=1000;}\nE 107\n"
    "P at=107 RFC 9110 §8.6: a 304 response has no body; its Content-Length is ignored\n"
    "H 304 Not Modified 1.1 at=107+48 cl=5 {Content-Length=5;}\nE 155\n"
    "H 200 OK 1.1 at=155+38 cl=3 {Content-Length=3;}\nB3 [two]\nE 196\n");
  g_assert_cmpstr (rlog, ==, "H HEAD / 1.1 at=0+19 cl=-1 {}\nE 19\nH GET /a 1.1 at=19+19 cl=-1 {}\nE 38\n");
  g_assert_cmpstr (hlog, ==, "H 200 OK 1.1 at=0+41 cl=1000 {Content-Length=1000;}\nE 41\n");
  {
    /* expect_head() is the same as expect_response("HEAD"). */
    Rec r = { g_string_new (NULL), g_string_new (NULL), NULL, FALSE, FALSE, FALSE };
    r.p = xm_http_parser_new (XM_HTTP_RESPONSES, &events, &r);
    xm_http_parser_expect_head (r.p);
    g_assert_cmpuint (xm_http_parser_feed (r.p, (const guint8 *) head_resp, sizeof head_resp - 1),
                      ==, sizeof head_resp - 1);
    g_assert_cmpstr (r.log->str, ==, hlog);
    xm_http_parser_free (r.p);
    g_string_free (r.log, TRUE);
    g_string_free (r.body, TRUE);
  }
}

static void
test_content_length_rules (void)
{
  static const char same[] = "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nhi";
  static const char conflict[] = "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi!GET";
  static const char invalid[] = "POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\nhi";
  static const char huge[] = "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\nhi";
  static const char te_cl[] = "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n";
  static const char te_bad[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n";
  g_autofree char *a = RUN (XM_HTTP_REQUESTS, NULL, same);
  g_autofree char *b = RUN (XM_HTTP_REQUESTS, NULL, conflict);
  g_autofree char *c = RUN (XM_HTTP_REQUESTS, NULL, invalid);
  g_autofree char *d = RUN (XM_HTTP_REQUESTS, NULL, huge);
  g_autofree char *e = RUN (XM_HTTP_REQUESTS, NULL, te_cl);
  g_autofree char *f = RUN (XM_HTTP_REQUESTS, NULL, te_bad);

  g_assert_cmpstr (a, ==, "H POST / 1.1 at=0+60 cl=2 {Content-Length=2;Content-Length=2, 2;}\nB2 [hi]\nE 62\n");
  g_assert_cmpstr (b, ==, "P! at=0 RFC 9112 §6.3: the request has conflicting Content-Length "
                   "values 2 and 3 (a request smuggling shape): decoding of this direction stops\n"
                   "STOPPED consumed=all\n");
  g_assert_cmpstr (c, ==, "P! at=0 RFC 9112 §6.3: the request's Content-Length \"+2\" is not a "
                   "valid length; where the body ends is unknown (a request smuggling shape): "
                   "decoding of this direction stops\nSTOPPED consumed=all\n");
  g_assert_nonnull (strstr (d, "P! at=0 RFC 9112 §6.3: the request's Content-Length \"99999999999999999999\""));
  g_assert_cmpstr (e, ==, "P at=0 RFC 9112 §6.3: the request has both Transfer-Encoding and "
                   "Content-Length (a request smuggling shape); Transfer-Encoding wins\n"
                   "H POST / 1.1 at=0+66 cl=-1 chunked {Content-Length=3;Transfer-Encoding=chunked;}\n"
                   "B1 [x]\nE 77\n");
  g_assert_cmpstr (f, ==, "P! at=0 RFC 9112 §6.3: a request's Transfer-Encoding must end in chunked; "
                   "where its body ends is unknown: decoding of this direction stops\nSTOPPED consumed=all\n");
}

static void
test_chunk_rules (void)
{
  static const char overflow[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "10000000000000001\r\n";
  static const char bad[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
  static const char nocrlf[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX";
  g_autofree char *a = RUN (XM_HTTP_RESPONSES, NULL, overflow);
  g_autofree char *b = RUN (XM_HTTP_RESPONSES, NULL, bad);
  g_autofree char *c = RUN (XM_HTTP_RESPONSES, NULL, nocrlf);
  GString *longline = g_string_new ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;");
  g_autofree char *d = NULL;

  g_assert_cmpstr (a, ==, "H 200 OK 1.1 at=0+47 cl=-1 chunked {Transfer-Encoding=chunked;}\n"
                   "P! at=47 RFC 9112 §7.1: a chunk size overflows 63 bits (a request "
                   "smuggling shape): decoding of this direction stops\nSTOPPED consumed=all\n");
  g_assert_cmpstr (b, ==, "H 200 OK 1.1 at=0+47 cl=-1 chunked {Transfer-Encoding=chunked;}\n"
                   "P! at=47 RFC 9112 §7.1: \"zz\" is not a chunk-size line: decoding of "
                   "this direction stops\nSTOPPED consumed=all\n");
  g_assert_cmpstr (c, ==, "H 200 OK 1.1 at=0+47 cl=-1 chunked {Transfer-Encoding=chunked;}\n"
                   "B2 [ab]\nP! at=52 RFC 9112 §7.1: chunk data is not followed by CRLF: "
                   "decoding of this direction stops\nSTOPPED consumed=all\n");
  for (int i = 0; i < 5000; i++)
    g_string_append_c (longline, 'e');
  d = run (XM_HTTP_RESPONSES, NULL, longline->str, longline->len);
  g_assert_nonnull (strstr (d, "P! at=47 RFC 9112 §7.1: a chunk-size line longer than 4096 bytes"));
  g_string_free (longline, TRUE);
}

static void
test_huge_request_line (void)
{
  /* A 1 MB request line: a fatal problem at 64 KiB, nothing kept past it. */
  GString *in = g_string_new ("GET /");
  g_autofree char *log = NULL;

  for (int i = 0; i < 1024 * 1024; i++)
    g_string_append_c (in, 'a');
  g_string_append (in, " HTTP/1.1\r\n\r\n");
  log = run_chunked (XM_HTTP_REQUESTS, NULL, in->str, in->len, G_MAXSIZE);
  g_assert_cmpstr (log, ==, "P! at=0 HTTP request head larger than 65536 bytes: decoding of "
                   "this direction stops\nSTOPPED consumed=all\n");
  g_free (log);
  log = run_chunked (XM_HTTP_REQUESTS, NULL, in->str, in->len, 1000);
  g_assert_cmpstr (log, ==, "P! at=0 HTTP request head larger than 65536 bytes: decoding of "
                   "this direction stops\nSTOPPED consumed=all\n");
  g_string_free (in, TRUE);
  {
    /* A smaller cap; a head exactly at it is fine. */
    static const char in2[] = "GET / HTTP/1.1\r\nA: b\r\n\r\n";
    Opts o = { .max_head = sizeof in2 - 1 };
    g_autofree char *ok = RUN (XM_HTTP_REQUESTS, &o, in2);
    Opts o2 = { .max_head = sizeof in2 - 2 };
    g_autofree char *over = RUN (XM_HTTP_REQUESTS, &o2, in2);
    g_assert_cmpstr (ok, ==, "H GET / 1.1 at=0+24 cl=-1 {A=b;}\nE 24\n");
    g_assert_cmpstr (over, ==, "P! at=0 HTTP request head larger than 23 bytes: decoding of "
                     "this direction stops\nSTOPPED consumed=all\n");
  }
}

/* After a fatal problem feed() takes every byte (they are HTTP, only not
 * decoded), unlike after a stop. */
static void
test_fatal_consumes_all (void)
{
  static const char in[] = "NOT HTTP AT ALL\r\n\r\nmore bytes";
  Rec r = { g_string_new (NULL), g_string_new (NULL), NULL, FALSE, FALSE, FALSE };

  r.p = xm_http_parser_new (XM_HTTP_REQUESTS, &events, &r);
  g_assert_cmpuint (xm_http_parser_feed (r.p, (const guint8 *) in, sizeof in - 1), ==, sizeof in - 1);
  g_assert_true (xm_http_parser_stopped (r.p));
  g_assert_cmpuint (xm_http_parser_feed (r.p, (const guint8 *) "x", 1), ==, 1);
  {
    g_autofree char *nul = run (XM_HTTP_REQUESTS,
                                NULL, "\0GET / HTTP/1.1\r\n\r\n", 19);
    g_assert_cmpstr (nul, ==, "P! at=0 RFC 9112 §2.2: a NUL byte in an HTTP request head: "
                     "decoding of this direction stops\nSTOPPED consumed=all\n");
  }
  g_assert_cmpstr (r.log->str, ==, "P! at=0 RFC 9112 §3: not an HTTP/1.x request head "
                   "(\"NOT HTTP AT ALL\"): decoding of this direction stops\n");
  xm_http_parser_free (r.p);
  g_string_free (r.log, TRUE);
  g_string_free (r.body, TRUE);
}

static void
test_big_body_streams (void)
{
  /* A 100 MB body claimed and sent: handed out in pieces, never kept. */
  static const char head[] = "POST /http-bind HTTP/1.1\r\nContent-Length: 104857600\r\n\r\n";
  XmHttpParser *p;
  Rec r = { g_string_new (NULL), g_string_new (NULL), NULL, FALSE, FALSE, FALSE };
  g_autofree guint8 *block = g_malloc0 (1024 * 1024);

  p = r.p = xm_http_parser_new (XM_HTTP_REQUESTS, &events, &r);
  g_assert_cmpuint (xm_http_parser_feed (p, (const guint8 *) head, sizeof head - 1), ==, sizeof head - 1);
  for (int i = 0; i < 100; i++)
    {
      g_assert_cmpuint (xm_http_parser_feed (p, block, 1024 * 1024), ==, 1024 * 1024);
      /* The last piece went out with message_end. */
      g_assert_cmpuint (r.body->len, ==, i < 99 ? 1024 * 1024 : 0);
      g_string_truncate (r.body, 0);
    }
  g_assert_nonnull (strstr (r.log->str, "E 104857655\n"));
  xm_http_parser_free (p);
  g_string_free (r.log, TRUE);
  g_string_free (r.body, TRUE);
}

static void
test_finish_short (void)
{
  static const char in[] = "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc";
  static const char in2[] = "GET / HTTP/1.1\r\nHost:";
  Opts o = { .finish = TRUE };
  g_autofree char *a = RUN (XM_HTTP_REQUESTS, &o, in);
  g_autofree char *b = RUN (XM_HTTP_REQUESTS, &o, in2);

  g_assert_cmpstr (a, ==, "H POST / 1.1 at=0+39 cl=10 {Content-Length=10;}\n"
                   "B3 [abc]\nP at=42 the connection closed 7 bytes before the end of the "
                   "request body (Content-Length)\nFINISHED\n");
  g_assert_cmpstr (b, ==, "P at=0 the connection closed in the middle of an HTTP request head\nFINISHED\n");
}

static void
test_expect (void)
{
  static const char in[] = "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx"
                           "POST / HTTP/1.1\r\nExpect: nonsense\r\n\r\n";
  g_autofree char *log = RUN (XM_HTTP_REQUESTS, NULL, in);

  g_assert_cmpstr (log, ==,
    "H POST / 1.1 at=0+60 cl=1 {Expect=100-continue;Content-Length=1;}\nB1 [x]\nE 61\n"
    "P at=61 RFC 9110 §10.1.1: the request's Expect field is not 100-continue\n"
    "H POST / 1.1 at=61+37 cl=-1 {Expect=nonsense;}\nE 98\n");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/http/upgrade-request", test_upgrade_request);
  g_test_add_func ("/http/101-stops", test_101_stops);
  g_test_add_func ("/http/connect-stops", test_connect_stops);
  g_test_add_func ("/http/content-length", test_content_length);
  g_test_add_func ("/http/bare-lf", test_bare_lf);
  g_test_add_func ("/http/chunked", test_chunked);
  g_test_add_func ("/http/until-close", test_until_close);
  g_test_add_func ("/http/head-and-pipelining", test_head_and_pipelining);
  g_test_add_func ("/http/content-length-rules", test_content_length_rules);
  g_test_add_func ("/http/chunk-rules", test_chunk_rules);
  g_test_add_func ("/http/huge-request-line", test_huge_request_line);
  g_test_add_func ("/http/fatal-consumes-all", test_fatal_consumes_all);
  g_test_add_func ("/http/big-body-streams", test_big_body_streams);
  g_test_add_func ("/http/finish-short", test_finish_short);
  g_test_add_func ("/http/expect", test_expect);
  return g_test_run ();
}
