/* layer-bosh.c: see layer-bosh.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connect.h"
#include "http-msg.h"
#include "layer-bosh.h"
#include "layer-tls.h"
#include "leg.h"
#include "tls.h"
#include "xml-framer.h"

#define NS_HTTPBIND "http://jabber.org/protocol/httpbind"
#define NS_XBOSH "urn:xmpp:xbosh"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define STREAM_CLOSE "</stream:stream>"

/* Two connections: the held request and the one carrying stanzas
 * (XEP-0124 §11: hold='1' makes 'requests' two). */
#define N_HTTP 2

/* A server that answers the empty request it should hold (hold='1')
 * sooner than this, empty and with nothing else sent meanwhile, is not
 * holding it: the next one waits its 'polling' interval (XEP-0124 §12),
 * rather than going at once, a thousand requests a second for as long as
 * replay waits. */
#define BOSH_MIN_HOLD_US (G_USEC_PER_SEC / 2)
#define BOSH_DEFAULT_POLLING_US G_USEC_PER_SEC
#define BOSH_MAX_POLLING_US (10 * G_USEC_PER_SEC)

typedef struct _BoshLayer BoshLayer;

/* One HTTP/1.1 connection, at most one request in flight. */
typedef struct {
  BoshLayer *b;
  XmLeg *leg;            /* NULL: not connected (yet, or any more) */
  XmConnect *connect;
  XmHttpParser *http;
  guint64 rid;           /* of the request in flight; 0: idle */
  gboolean fresh;        /* no byte of its response has come yet */
  guint status;
  gboolean keep_alive;   /* the server did not say Connection: close */
  GByteArray *body;      /* the response's body so far */
  GByteArray *done;      /* a whole response's body, to take after the read */
  gboolean lone_poll;    /* the request is the empty one, sent alone and
                          * alone since: nothing made the server answer it */
  gint64 sent_us;
} Http;

/* A response body waiting for the answers to earlier rids. */
typedef struct {
  guint64 rid;
  GByteArray *body;
  gboolean quick_lone_poll; /* a lone empty request answered at once */
} Answer;

typedef enum {
  ST_IDLE,       /* no stream header from above yet */
  ST_CREATING,   /* the session creation request is out */
  ST_OPEN,
  ST_TERMINATING, /* our terminate went out */
  ST_ENDED,
} State;

struct _BoshLayer {
  XmLayer base;
  char *host, *path, *domain, *tls_name, *hostport;
  guint16 port;
  guint connect_timeout_s;
  gboolean no_pacing;
  Http http[N_HTTP];
  guint opened;          /* HTTP connections opened so far */
  State state;
  char *sid;
  char *authid;
  char *from;
  guint requests;        /* at once: the server's, at most N_HTTP */
  guint64 next_rid;      /* for the next request */
  guint64 next_answer;   /* the rid whose response goes up next */
  guint64 restart_rid;   /* the restart's response opens a new stream */
  GQueue answers;        /* Answer*, by rid */
  GByteArray *pending;   /* whole elements from above, for a request */
  GArray *cuts;          /* gsize: where each send from above ends in it */
  gboolean restart_due, terminate_due;
  XmFramer *framer;      /* reads one response body at a time */
  gboolean in_body_open; /* the framer's body root was read */
  gboolean body_terminate;
  gboolean body_children; /* the body being read had children */
  gboolean closed;
  GPtrArray *retired;    /* XmLeg*: closed from inside their own callbacks,
                          * freed from an idle source */
  guint reap;
  guint timer;           /* pump again (a gap, or the empty request) */
  gboolean poll_now;     /* the empty request may go */
  gint64 last_sent_us;
  gint64 polling_us;     /* the server's 'polling' (XEP-0124 §7.2) */
  gint64 poll_after_us;  /* no empty request before (monotonic) */
};

static BoshLayer *
bosh_of (XmLayer *layer)
{
  return (BoshLayer *) layer;
}

static void
fail (BoshLayer *b, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static void
fail (BoshLayer *b, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  b->state = ST_ENDED;
  xm_leg_fail (b->base.leg, &b->base,
               g_error_new (XM_LEG_ERROR, XM_LEG_ERROR_LAYER, "BOSH: %s", msg));
}

static gboolean
alive (BoshLayer *b)
{
  return !b->closed && b->base.leg && xm_leg_alive (b->base.leg);
}

/* ---- HTTP connections ---- */

static void http_drop (Http *h);
static void pump (BoshLayer *b);
static void take_answers (BoshLayer *b);

static void
on_http_head (const XmHttpHead *head, gpointer user_data)
{
  Http *h = user_data;

  if (head->status >= 100 && head->status < 200)
    return; /* interim (100 Continue): the answer is still to come */
  h->status = head->status;
  h->keep_alive = head->minor >= 1
    && !soup_message_headers_header_contains (head->headers, "Connection", "close");
  if (head->status == 200 && head->content_length > (gint64) XM_LAYER_BOSH_MAX_BODY)
    {
      fail (h->b, "the server's response to rid %" G_GUINT64_FORMAT " announces %"
            G_GINT64_FORMAT " bytes, more than the %u MiB a body may have: given up",
            h->rid, head->content_length, XM_LAYER_BOSH_MAX_BODY >> 20);
      return;
    }
  if (head->status != 200)
    fail (h->b, "the server answered POST %s with %u %s, not 200 (is it the "
          "server's BOSH endpoint? --path names another)", h->b->path,
          head->status, head->reason ? head->reason : "");
}

static void
on_http_body (const guint8 *data, gsize len, gpointer user_data)
{
  Http *h = user_data;

  if (!alive (h->b) || h->body == NULL)
    return;
  if (h->body->len + len > XM_LAYER_BOSH_MAX_BODY)
    {
      fail (h->b, "the server's response to rid %" G_GUINT64_FORMAT " is larger "
            "than the %u MiB a body may have: given up", h->rid,
            XM_LAYER_BOSH_MAX_BODY >> 20);
      g_clear_pointer (&h->body, g_byte_array_unref);
      return;
    }
  g_byte_array_append (h->body, data, len);
}

static void
on_http_end (guint64 end, gpointer user_data)
{
  Http *h = user_data;

  if (h->status < 200 || h->body == NULL)
    return; /* an interim response */
  /* taken after the read (take_http), outside the parser's callbacks */
  h->done = g_steal_pointer (&h->body);
}

static void
on_http_problem (guint64 offset, gboolean fatal, const char *message, gpointer user_data)
{
  Http *h = user_data;

  if (fatal && alive (h->b))
    fail (h->b, "the server's answer is not HTTP/1.1 as expected: %s", message);
}

static const XmHttpEvents http_events = {
  .head = on_http_head,
  .body = on_http_body,
  .message_end = on_http_end,
  .problem = on_http_problem,
};

static Http *
http_of (BoshLayer *b, XmLeg *leg)
{
  for (guint i = 0; i < N_HTTP; i++)
    if (b->http[i].leg == leg)
      return &b->http[i];
  return NULL;
}

/* A response came whole: it goes in rid order. */
static void
take_http (Http *h)
{
  BoshLayer *b = h->b;
  Answer *a = g_new0 (Answer, 1);
  GList *l = b->answers.head;

  a->rid = h->rid;
  a->body = g_steal_pointer (&h->done);
  a->quick_lone_poll = h->lone_poll
    && g_get_monotonic_time () - h->sent_us < BOSH_MIN_HOLD_US;
  h->rid = 0;
  h->lone_poll = FALSE;
  while (l && ((Answer *) l->data)->rid < a->rid)
    l = l->next;
  g_queue_insert_before (&b->answers, l, a);
  if (!h->keep_alive)
    http_drop (h); /* Connection: close: another one when needed */
}

static gsize
on_leg_data (XmLeg *leg, const guint8 *data, gsize len, gpointer user_data)
{
  BoshLayer *b = user_data;
  Http *h = http_of (b, leg);

  if (h == NULL || !alive (b))
    return len;
  if (h->fresh && h->rid && memcmp (data, "HTTP/", MIN (len, (gsize) 5)) != 0)
    {
      /* not an HTTP server at all (an XMPP port?): say so now rather
       * than wait for a head that will not come */
      g_autofree char *start = g_strndup ((const char *) data, MIN (len, (gsize) 40));
      g_autofree char *shown = g_strescape (start, NULL);
      fail (b, "the server's answer to POST %s is not HTTP (it starts with \"%s\")",
            b->path, shown);
      return len;
    }
  if (h->rid == 0)
    {
      fail (b, "the server sent %zu bytes on an HTTP connection with no request "
            "pending", len);
      return len;
    }
  h->fresh = FALSE;
  xm_http_parser_feed (h->http, data, len);
  if (!alive (b))
    return len;
  if (h->done)
    take_http (h);
  take_answers (b);
  if (alive (b))
    pump (b);
  return len;
}

static void
on_leg_eof (XmLeg *leg, XmLayer *layer, gpointer user_data)
{
  BoshLayer *b = user_data;
  Http *h = http_of (b, leg);

  if (h == NULL || !alive (b))
    return;
  if (h->rid && b->state == ST_TERMINATING)
    {
      /* the session is over anyway; the owner hears the input end */
      b->state = ST_ENDED;
      xm_leg_layer_eof (b->base.leg, &b->base);
      return;
    }
  if (h->rid && b->state != ST_ENDED)
    {
      fail (b, "the server closed an HTTP connection without answering rid %"
            G_GUINT64_FORMAT, h->rid);
      return;
    }
  http_drop (h); /* between requests: the next one opens another */
  pump (b);
}

static void
on_leg_failed (XmLeg *leg, XmLayer *layer, const GError *error, gpointer user_data)
{
  BoshLayer *b = user_data;

  if (!alive (b))
    return;
  b->state = ST_ENDED;
  /* a TLS error stays one (the owner explains it); the rest is a sentence */
  if (error->domain == XM_TLS_ERROR)
    xm_leg_fail (b->base.leg, &b->base, g_error_copy (error));
  else
    fail (b, "HTTP connection to %s: %s", b->hostport, error->message);
}

static const XmLegEvents leg_events = {
  .data = on_leg_data,
  .eof = on_leg_eof,
  .failed = on_leg_failed,
};

static void
on_connected (int fd, const char *error, gpointer user_data)
{
  Http *h = user_data;
  BoshLayer *b = h->b;
  g_autoptr (GError) attach_error = NULL;
  g_autofree char *why = g_strdup (error); /* the XmConnect's, freed next */

  g_clear_pointer (&h->connect, xm_connect_free);
  if (!alive (b))
    {
      if (fd >= 0)
        close (fd);
      return;
    }
  if (fd < 0)
    {
      fail (b, "cannot connect to %s: %s", b->hostport, why);
      return;
    }
  if (!xm_leg_attach (h->leg, fd, &attach_error))
    {
      close (fd);
      fail (b, "cannot connect to %s: %s", b->hostport, attach_error->message);
    }
}

static const XmConnectEvents connect_events = {
  .done = on_connected,
};

static gboolean
reap (gpointer data)
{
  BoshLayer *b = data;

  b->reap = 0;
  g_ptr_array_set_size (b->retired, 0);
  return G_SOURCE_REMOVE;
}

/* The connection is done with: closed now, its leg freed once no callback
 * of it is running (this may be one). */
static void
http_drop (Http *h)
{
  BoshLayer *b = h->b;

  g_clear_pointer (&h->connect, xm_connect_free);
  if (h->leg)
    {
      xm_leg_close (h->leg, FALSE);
      g_ptr_array_add (b->retired, g_steal_pointer (&h->leg));
      if (b->reap == 0)
        b->reap = g_idle_add (reap, b);
    }
  g_clear_pointer (&h->http, xm_http_parser_free);
  g_clear_pointer (&h->body, g_byte_array_unref);
  g_clear_pointer (&h->done, g_byte_array_unref);
  h->rid = 0;
}

static void
on_tls (XmLayer *layer, XmLayerTlsEvent what, gpointer user_data)
{
  /* nothing to do: requests sent meanwhile went out once it was up */
}

/* A new connection (its TLS layer says hello; what is sent waits in the
 * leg until it is connected). */
static void
http_open (Http *h)
{
  BoshLayer *b = h->b;
  static const guint8 alpn[] = "\x08http/1.1";

  h->leg = xm_leg_new ("server", &leg_events, b);
  h->http = xm_http_parser_new (XM_HTTP_RESPONSES, &http_events, h);
  h->keep_alive = TRUE;
  b->opened++;
  if (b->tls_name)
    xm_leg_push (h->leg, xm_layer_tls_new_client (b->tls_name, b->tls_name, alpn,
                                                  sizeof alpn - 1, on_tls, b));
  h->connect = xm_connect_start (b->host, b->port, b->connect_timeout_s,
                                 &connect_events, h);
}

static void
http_post (Http *h, const char *body, gsize len)
{
  BoshLayer *b = h->b;
  g_autofree char *head = NULL;

  if (h->leg == NULL)
    http_open (h);
  head = g_strdup_printf ("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/xml; "
                          "charset=utf-8\r\nContent-Length: %zu\r\n\r\n",
                          b->path, b->hostport, len);
  h->status = 0;
  h->fresh = TRUE;
  h->body = g_byte_array_new ();
  xm_http_parser_expect_response (h->http, "POST");
  /* one send: one TLS record for the request where it fits */
  {
    g_autoptr (GByteArray) req = g_byte_array_sized_new (strlen (head) + len);
    g_byte_array_append (req, (const guint8 *) head, strlen (head));
    g_byte_array_append (req, (const guint8 *) body, len);
    xm_leg_send (h->leg, req->data, req->len);
  }
}

/* ---- requests ---- */

static guint
in_flight (BoshLayer *b)
{
  guint n = 0;

  for (guint i = 0; i < N_HTTP; i++)
    n += b->http[i].rid != 0;
  return n;
}

/* Requests not done with: in flight, or answered and waiting for an
 * earlier rid's answer. At most 'requests' of them (XEP-0124 §11): a
 * server that held one rid and answered every later one at once would
 * otherwise have the layer keep answer after answer (8 MiB each) for as
 * long as it held it. */
static guint
outstanding (BoshLayer *b)
{
  return in_flight (b) + g_queue_get_length (&b->answers);
}

static Http *
idle_http (BoshLayer *b)
{
  /* a connected one first: no handshake to wait for */
  for (guint i = 0; i < N_HTTP; i++)
    if (b->http[i].rid == 0 && b->http[i].leg)
      return &b->http[i];
  for (guint i = 0; i < N_HTTP; i++)
    if (b->http[i].rid == 0)
      return &b->http[i];
  return NULL;
}

static void
send_request (BoshLayer *b, const char *attrs, const guint8 *payload, gsize len)
{
  Http *h = idle_http (b);
  g_autoptr (GString) s = g_string_new (NULL);
  gboolean alone = in_flight (b) == 0;

  g_return_if_fail (h != NULL);
  /* a request sent while one is held lets the server answer that one at
   * once (hold='1') */
  for (guint i = 0; i < N_HTTP; i++)
    b->http[i].lone_poll = FALSE;
  h->lone_poll = alone && len == 0 && *attrs == '\0';
  h->sent_us = g_get_monotonic_time ();
  h->rid = b->next_rid++;
  g_string_append_printf (s, "<body rid='%" G_GUINT64_FORMAT "'", h->rid);
  if (b->sid)
    {
      g_string_append (s, " sid='");
      xm_xml_escape (s, b->sid, strlen (b->sid), TRUE);
      g_string_append_c (s, '\'');
    }
  g_string_append (s, attrs);
  g_string_append (s, " xmlns='" NS_HTTPBIND "'");
  if (len == 0)
    g_string_append (s, "/>");
  else
    {
      g_string_append_c (s, '>');
      g_string_append_len (s, (const char *) payload, len);
      g_string_append (s, "</body>");
    }
  http_post (h, s->str, s->len);
}

/* XEP-0124 §7.1, XEP-0206 §3: the session creation request. */
static void
create_session (BoshLayer *b)
{
  g_autoptr (GString) a = g_string_new (NULL);

  g_string_append (a, " content='text/xml; charset=utf-8' hold='1' to='");
  xm_xml_escape (a, b->domain, strlen (b->domain), TRUE);
  g_string_append_printf (a, "' ver='1.6' wait='%u' xml:lang='en' xmpp:version='1.0' "
                          "xmlns:xmpp='" NS_XBOSH "'", XM_LAYER_BOSH_WAIT_S);
  b->state = ST_CREATING;
  b->next_answer = b->next_rid;
  send_request (b, a->str, NULL, 0);
}

static gboolean
on_timer (gpointer data)
{
  BoshLayer *b = data;

  b->timer = 0;
  b->poll_now = TRUE;
  pump (b);
  return G_SOURCE_REMOVE;
}

static void
pump_later (BoshLayer *b, gint64 us)
{
  if (b->timer == 0)
    b->timer = g_timeout_add (MAX ((us + 999) / 1000, 1), on_timer, b);
}

/* Whatever can go now: a restart, stanzas, our terminate, or the empty
 * request the server holds to have something to answer with.
 *
 * Two requests sent at once on two connections can reach the server in
 * either order, and a connection manager need not cope: ejabberd 23.01
 * keeps rid N+1 aside until N is answered, and when N is the empty one it
 * holds, N is answered only at the end of its wait, without N+1 (the
 * session then hangs until it expires). So a request does not follow an
 * unanswered one by less than BOSH_GAP_US; and the empty request waits
 * for the end of the main-loop round (BOSH_POLL_DELAY_US), where the
 * owner's answer to what just came usually is, to go in it instead. */
#define BOSH_GAP_US 10000
/* What one request carries at most, unless one element is larger
 * (prosody takes 10 MiB a request by default). */
#define BOSH_MAX_REQUEST (256 * 1024)
#define BOSH_POLL_DELAY_US 1000

/* The first n bytes of pending went out (n is at a cut). */
static void
take_pending (BoshLayer *b, gsize n)
{
  guint k = 0;

  g_byte_array_remove_range (b->pending, 0, n);
  while (k < b->cuts->len && g_array_index (b->cuts, gsize, k) <= n)
    k++;
  g_array_remove_range (b->cuts, 0, k);
  for (guint i = 0; i < b->cuts->len; i++)
    g_array_index (b->cuts, gsize, i) -= n;
}

static void
pump (BoshLayer *b)
{
  while (alive (b) && (b->state == ST_OPEN) && outstanding (b) < b->requests)
    {
      gboolean data = b->restart_due || b->pending->len > 0 || b->terminate_due;
      gint64 now = g_get_monotonic_time ();

      if (!data && in_flight (b) > 0)
        return;
      if (b->no_pacing)
        ; /* none of the waits below */
      else if (in_flight (b) > 0 && now - b->last_sent_us < BOSH_GAP_US)
        {
          pump_later (b, BOSH_GAP_US - (now - b->last_sent_us));
          return;
        }
      else if (!data && now < b->poll_after_us)
        {
          pump_later (b, b->poll_after_us - now);
          return;
        }
      else if (!data && !b->poll_now)
        {
          pump_later (b, BOSH_POLL_DELAY_US);
          return;
        }
      b->poll_now = FALSE;
      b->last_sent_us = now;
      if (b->restart_due)
        {
          /* XEP-0206 §5: an empty body, after everything before it */
          g_autoptr (GString) a = g_string_new (" to='");
          xm_xml_escape (a, b->domain, strlen (b->domain), TRUE);
          g_string_append (a, "' xml:lang='en' xmpp:restart='true' xmlns:xmpp='" NS_XBOSH "'");
          b->restart_due = FALSE;
          b->restart_rid = b->next_rid;
          send_request (b, a->str, NULL, 0);
          continue;
        }
      {
        /* whole sends from above, up to BOSH_MAX_REQUEST (one at least):
         * a connection manager limits what a request may carry */
        gsize n = b->pending->len;

        for (guint i = 0; i < b->cuts->len; i++)
          {
            gsize cut = g_array_index (b->cuts, gsize, i);
            if (cut > BOSH_MAX_REQUEST && i > 0)
              {
                n = g_array_index (b->cuts, gsize, i - 1);
                break;
              }
          }
        if (b->terminate_due && n == b->pending->len)
          {
            b->terminate_due = FALSE;
            b->state = ST_TERMINATING;
            send_request (b, " type='terminate'", b->pending->data, n);
            take_pending (b, n);
            return;
          }
        send_request (b, "", b->pending->data, n);
        take_pending (b, n);
      }
    }
}

/* ---- responses ---- */

static void
emit_header (BoshLayer *b)
{
  g_autoptr (GString) s = g_string_new ("<stream:stream xmlns='jabber:client' "
                                        "xmlns:stream='" NS_STREAMS "' version='1.0'");
  const char *id = b->authid ? b->authid : b->sid;

  if (id)
    {
      g_string_append (s, " id='");
      xm_xml_escape (s, id, strlen (id), TRUE);
      g_string_append_c (s, '\'');
    }
  if (b->from)
    {
      g_string_append (s, " from='");
      xm_xml_escape (s, b->from, strlen (b->from), TRUE);
      g_string_append_c (s, '\'');
    }
  g_string_append_c (s, '>');
  xm_layer_up (&b->base, (const guint8 *) s->str, s->len);
}

static void
on_body_open (XmStanza *header, gpointer user_data)
{
  BoshLayer *b = user_data;
  const XmNode *body = header->root;
  const char *sid = xm_node_attr (body, "sid");
  const char *condition = xm_node_attr (body, "condition");

  if (!alive (b))
    return;
  if (!xm_node_is (body, NS_HTTPBIND, "body"))
    {
      fail (b, "the server's response is <%s/>, not a <body/> in the namespace "
            NS_HTTPBIND " (XEP-0124 §4)", body->name);
      return;
    }
  b->in_body_open = TRUE;
  b->body_terminate = g_strcmp0 (xm_node_attr (body, "type"), "terminate") == 0;
  /* after our terminate, any terminate ends it (ejabberd answers the held
   * request with condition 'other-request'); a remote-stream-error carries
   * the <stream:error/>, which goes up for the owner to name (XEP-0206
   * §6) before the stream closes */
  if (b->body_terminate && condition && b->state != ST_TERMINATING
      && strcmp (condition, "remote-stream-error") != 0)
    {
      fail (b, "the server ended the session: condition '%s' (XEP-0124 §17)%s",
            condition, b->state == ST_CREATING ? ", in answer to its creation" : "");
      return;
    }
  if (b->state == ST_CREATING)
    {
      const char *requests = xm_node_attr (body, "requests");
      const char *polling = xm_node_attr (body, "polling");

      if (sid == NULL || *sid == '\0')
        {
          fail (b, "the server's answer to the session creation request has no sid "
                "(XEP-0124 §7.2)");
          return;
        }
      b->sid = g_strdup (sid);
      b->authid = g_strdup (xm_node_attr (body, "authid"));
      b->from = g_strdup (xm_node_attr (body, "from"));
      /* XEP-0124 §7.2: at most this many requests at once; hold='1'
       * needs two, and more would only open more connections */
      b->requests = requests ? CLAMP (atoi (requests), 1, N_HTTP) : N_HTTP;
      if (polling)
        b->polling_us = CLAMP (g_ascii_strtoull (polling, NULL, 10), 1,
                               BOSH_MAX_POLLING_US / G_USEC_PER_SEC) * G_USEC_PER_SEC;
      b->state = ST_OPEN;
      emit_header (b);
      return;
    }
  if (sid && g_strcmp0 (sid, b->sid) != 0)
    {
      fail (b, "the server's response names session '%s', not this one ('%s')",
            sid, b->sid);
      return;
    }
}

static void
on_body_child (XmStanza *st, gpointer user_data)
{
  BoshLayer *b = user_data;

  b->body_children = TRUE;
  if (alive (b) && st->raw)
    xm_layer_up (&b->base, st->raw, st->raw_len);
}

static void
on_body_problem (XmFramerProblem kind, guint64 offset, const char *message,
                 gpointer user_data)
{
  BoshLayer *b = user_data;

  if ((kind == XM_FRAMER_MALFORMED || kind == XM_FRAMER_RESTRICTED
       || kind == XM_FRAMER_OVERSIZED) && alive (b))
    fail (b, "the server's response body is not XMPP over BOSH: %s", message);
}

static const XmFramerEvents body_events = {
  .stream_open = on_body_open,
  .stanza = on_body_child,
  .problem = on_body_problem,
};

static void
answer (BoshLayer *b, Answer *a)
{
  gboolean restart = a->rid == b->restart_rid;

  if (a->body->len == 0)
    {
      fail (b, "the server's response to rid %" G_GUINT64_FORMAT " is empty, "
            "not a <body/> (XEP-0124 §4)", a->rid);
      return;
    }
  xm_framer_reset (b->framer);
  b->in_body_open = FALSE;
  b->body_terminate = FALSE;
  b->body_children = FALSE;
  if (restart)
    {
      b->restart_rid = 0;
      emit_header (b); /* the new stream, before its features */
    }
  xm_framer_feed (b->framer, a->body->data, a->body->len);
  if (!alive (b))
    return;
  if (!b->in_body_open || xm_framer_pending_offset (b->framer) != xm_framer_offset (b->framer))
    {
      fail (b, "the server's response to rid %" G_GUINT64_FORMAT " is not one "
            "whole <body/> (XEP-0124 §4)", a->rid);
      return;
    }
  if (a->quick_lone_poll && !b->body_children && !b->body_terminate)
    b->poll_after_us = g_get_monotonic_time () + b->polling_us;
  if (b->body_terminate)
    {
      /* the session is over: the stream ends */
      b->state = ST_ENDED;
      xm_layer_up (&b->base, (const guint8 *) STREAM_CLOSE, strlen (STREAM_CLOSE));
      if (alive (b))
        xm_leg_layer_eof (b->base.leg, &b->base);
    }
}

static void
answer_free (Answer *a)
{
  g_byte_array_unref (a->body);
  g_free (a);
}

static void
take_answers (BoshLayer *b)
{
  while (alive (b) && b->answers.head
         && ((Answer *) b->answers.head->data)->rid == b->next_answer)
    {
      Answer *a = g_queue_pop_head (&b->answers);

      b->next_answer++;
      if (b->state != ST_ENDED)
        answer (b, a);
      answer_free (a);
    }
}

/* ---- from above ---- */

static gboolean
starts (const guint8 *data, gsize len, const char *prefix)
{
  gsize n = strlen (prefix);
  return len >= n && memcmp (data, prefix, n) == 0;
}

static void
bosh_from_above (XmLayer *layer, const guint8 *data, gsize len)
{
  BoshLayer *b = bosh_of (layer);
  gsize n = strlen (STREAM_CLOSE);

  if (b->state == ST_ENDED || b->state == ST_TERMINATING || !alive (b))
    return;
  if (starts (data, len, "<?xml") || starts (data, len, "<stream:stream"))
    {
      /* a stream header: the session's creation, or a restart */
      if (b->state == ST_IDLE)
        create_session (b);
      else
        {
          b->restart_due = TRUE;
          pump (b);
        }
      return;
    }
  if (len >= n && memcmp (data + len - n, STREAM_CLOSE, n) == 0)
    {
      b->terminate_due = TRUE;
      len -= n;
    }
  if (len)
    {
      gsize cut;

      g_byte_array_append (b->pending, data, len);
      cut = b->pending->len;
      g_array_append_val (b->cuts, cut);
    }
  pump (b);
}

static gsize
bosh_pending (XmLayer *layer)
{
  BoshLayer *b = bosh_of (layer);
  gsize n = b->pending->len;

  for (guint i = 0; i < N_HTTP; i++)
    if (b->http[i].leg)
      n += xm_leg_queued (b->http[i].leg);
  return n;
}

static void
bosh_close (XmLayer *layer)
{
  BoshLayer *b = bosh_of (layer);

  /* (free may come later, from outside any of these legs' callbacks) */
  b->closed = TRUE;
  if (b->timer)
    {
      g_source_remove (b->timer);
      b->timer = 0;
    }
  for (guint i = 0; i < N_HTTP; i++)
    {
      g_clear_pointer (&b->http[i].connect, xm_connect_free);
      if (b->http[i].leg)
        xm_leg_close (b->http[i].leg, FALSE);
    }
}

static void
bosh_free (XmLayer *layer)
{
  BoshLayer *b = bosh_of (layer);

  for (guint i = 0; i < N_HTTP; i++)
    http_drop (&b->http[i]);
  if (b->reap)
    g_source_remove (b->reap);
  if (b->timer)
    g_source_remove (b->timer);
  g_ptr_array_unref (b->retired);
  g_queue_clear_full (&b->answers, (GDestroyNotify) answer_free);
  g_byte_array_unref (b->pending);
  g_array_unref (b->cuts);
  xm_framer_free (b->framer);
  g_free (b->sid);
  g_free (b->authid);
  g_free (b->from);
  g_free (b->host);
  g_free (b->path);
  g_free (b->domain);
  g_free (b->tls_name);
  g_free (b->hostport);
  g_free (b);
}

const XmLayerClass xm_layer_bosh_class = {
  .name = "bosh",
  .from_above = bosh_from_above,
  .pending = bosh_pending,
  .close = bosh_close,
  .free = bosh_free,
};

XmLayer *
xm_layer_bosh_new (const XmLayerBoshConfig *config)
{
  BoshLayer *b = g_new0 (BoshLayer, 1);

  b->base.klass = &xm_layer_bosh_class;
  b->host = g_strdup (config->host);
  b->port = config->port;
  b->hostport = strchr (config->host, ':') ? g_strdup_printf ("[%s]:%u", config->host, config->port)
                                           : g_strdup_printf ("%s:%u", config->host, config->port);
  b->path = g_strdup (config->path && *config->path ? config->path : "/http-bind");
  b->domain = g_strdup (config->domain ? config->domain : config->host);
  b->tls_name = g_strdup (config->tls_name);
  b->connect_timeout_s = config->connect_timeout_s;
  b->no_pacing = config->no_pacing;
  b->requests = 1;
  b->polling_us = BOSH_DEFAULT_POLLING_US;
  /* XEP-0124 §14.1: random, and far enough below 2^53 for a long
   * session's increments */
  b->next_rid = 1 + (((guint64) g_random_int () << 10) | g_random_int_range (0, 1024));
  for (guint i = 0; i < N_HTTP; i++)
    b->http[i].b = b;
  g_queue_init (&b->answers);
  b->pending = g_byte_array_new ();
  b->cuts = g_array_new (FALSE, FALSE, sizeof (gsize));
  b->retired = g_ptr_array_new_with_free_func ((GDestroyNotify) xm_leg_free);
  b->framer = xm_framer_new (&body_events, b);
  xm_framer_set_max_stanza (b->framer, XM_LAYER_BOSH_MAX_BODY);
  return &b->base;
}

const char *
xm_layer_bosh_sid (XmLayer *layer)
{
  return bosh_of (layer)->sid;
}

guint
xm_layer_bosh_connections (XmLayer *layer)
{
  return bosh_of (layer)->opened;
}
