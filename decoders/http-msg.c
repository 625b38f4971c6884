/* http-msg.c: see http-msg.h. Heads: found here, parsed by libsoup. Bodies:
 * RFC 9112 §6, framed here and never buffered. */
#include "config.h"

#include <string.h>

#include "http-msg.h"

/* A chunk-size line (RFC 9112 §7.1) with its extensions: real ones are a
 * few bytes; extensions are ignored, so they need no room. */
#define CHUNK_LINE_MAX 4096
/* Requests whose responses have not begun (pipelining): more are counted
 * but not remembered. */
#define PENDING_MAX 4096

typedef enum {
  ST_HEAD,        /* reading a head (or the empty lines before one) */
  ST_BODY,        /* Content-Length bytes */
  ST_CHUNK_SIZE,  /* a chunk-size line */
  ST_CHUNK_DATA,
  ST_CHUNK_CRLF,  /* the CRLF after a chunk's data */
  ST_TRAILERS,    /* trailer lines up to the blank line */
  ST_UNTIL_CLOSE, /* a response with no length */
  ST_STOPPED,
} State;

struct _XmHttpParser {
  XmHttpSide side;
  XmHttpEvents ev;
  gpointer user_data;
  gsize max_head;

  State state;
  gboolean stop_req;
  guint64 offset;         /* bytes consumed */

  GByteArray *head;       /* the head so far (ST_HEAD), or a chunk line */
  guint64 head_offset;
  gsize line_len;         /* bytes of the current line before its LF */
  gboolean last_cr;       /* the byte before was CR */
  gsize trailer_bytes;

  guint64 left;           /* body or chunk bytes still to come */
  gboolean crlf_cr;       /* ST_CHUNK_CRLF: the CR was seen */

  GArray *pending;        /* guint8: the method class of each request */
  gboolean pending_overflow;
  gboolean stop_after;    /* this message is the last one (101, CONNECT) */
  const char *what;       /* "request" or "response" */
};

enum { PENDING_OTHER, PENDING_HEAD, PENDING_CONNECT };

XmHttpParser *
xm_http_parser_new (XmHttpSide side, const XmHttpEvents *ev, gpointer user_data)
{
  XmHttpParser *p = g_new0 (XmHttpParser, 1);

  p->side = side;
  p->ev = *ev;
  p->user_data = user_data;
  p->max_head = XM_HTTP_DEFAULT_MAX_HEAD;
  p->head = g_byte_array_new ();
  p->pending = g_array_new (FALSE, FALSE, 1);
  p->what = side == XM_HTTP_REQUESTS ? "request" : "response";
  return p;
}

void
xm_http_parser_free (XmHttpParser *p)
{
  if (p == NULL)
    return;
  g_byte_array_unref (p->head);
  g_array_unref (p->pending);
  g_free (p);
}

void
xm_http_parser_set_max_head (XmHttpParser *p, gsize max)
{
  /* libsoup takes the head's length as an int. */
  p->max_head = CLAMP (max, 16, (gsize) G_MAXINT / 2);
}

void
xm_http_parser_expect_response (XmHttpParser *p, const char *method)
{
  guint8 kind = PENDING_OTHER;

  if (g_strcmp0 (method, "HEAD") == 0)
    kind = PENDING_HEAD;
  else if (g_strcmp0 (method, "CONNECT") == 0)
    kind = PENDING_CONNECT;
  if (p->pending->len >= PENDING_MAX)
    {
      p->pending_overflow = TRUE;
      return;
    }
  g_array_append_val (p->pending, kind);
}

void
xm_http_parser_expect_head (XmHttpParser *p)
{
  xm_http_parser_expect_response (p, "HEAD");
}

void
xm_http_parser_stop (XmHttpParser *p)
{
  p->stop_req = TRUE;
}

gboolean
xm_http_parser_stopped (const XmHttpParser *p)
{
  return p->state == ST_STOPPED;
}

guint64
xm_http_parser_offset (const XmHttpParser *p)
{
  return p->offset;
}

static void G_GNUC_PRINTF (4, 5)
problem (XmHttpParser *p, guint64 offset, gboolean fatal, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (fatal)
    p->state = ST_STOPPED;
  if (p->ev.problem)
    p->ev.problem (offset, fatal, msg, p->user_data);
}

/* The start of a line a peer sent, quoted printable (for a problem). */
static char *
quote_line (const guint8 *s, gsize len)
{
  GString *q = g_string_new (NULL);

  for (gsize i = 0; i < len && s[i] != '\n' && s[i] != '\r'; i++)
    {
      if (q->len >= 80)
        {
          g_string_append (q, "...");
          break;
        }
      if (s[i] >= 0x20 && s[i] < 0x7f)
        g_string_append_c (q, (char) s[i]);
      else
        g_string_append_printf (q, "\\x%02x", s[i]);
    }
  return g_string_free (q, FALSE);
}

static void
message_end (XmHttpParser *p)
{
  g_byte_array_set_size (p->head, 0);
  p->state = ST_HEAD;
  p->line_len = 0;
  p->last_cr = FALSE;
  if (p->ev.message_end)
    p->ev.message_end (p->offset, p->user_data);
  if (p->stop_after)
    p->stop_req = TRUE;
  p->stop_after = FALSE;
}

/* Content-Length (RFC 9112 §6.3, RFC 9110 §8.6): every field and every
 * list member must be the same decimal number. Returns -1 when there is
 * none, -2 after a fatal problem. */
static gint64
content_length (XmHttpParser *p, SoupMessageHeaders *h)
{
  SoupMessageHeadersIter it;
  const char *name, *value;
  gint64 found = -1;

  soup_message_headers_iter_init (&it, h);
  while (soup_message_headers_iter_next (&it, &name, &value))
    {
      g_auto (GStrv) parts = NULL;

      if (g_ascii_strcasecmp (name, "Content-Length") != 0)
        continue;
      parts = g_strsplit (value, ",", -1);
      for (guint i = 0; parts[i]; i++)
        {
          const char *v = g_strstrip (parts[i]);
          guint64 n = 0;
          gboolean ok = *v != '\0';

          for (const char *c = v; ok && *c; c++)
            {
              if (!g_ascii_isdigit (*c) || n > (G_MAXINT64 - 9) / 10)
                ok = FALSE;
              else
                n = n * 10 + (guint64) (*c - '0');
            }
          if (!ok)
            {
              g_autofree char *q = quote_line ((const guint8 *) value, strlen (value));
              problem (p, p->head_offset, TRUE, "RFC 9112 §6.3: the %s's "
                       "Content-Length \"%s\" is not a valid length; where the "
                       "body ends is unknown (a request smuggling shape): "
                       "decoding of this direction stops", p->what, q);
              return -2;
            }
          if (found >= 0 && (guint64) found != n)
            {
              problem (p, p->head_offset, TRUE, "RFC 9112 §6.3: the %s has "
                       "conflicting Content-Length values %" G_GINT64_FORMAT
                       " and %" G_GUINT64_FORMAT " (a request smuggling shape): "
                       "decoding of this direction stops", p->what, found, n);
              return -2;
            }
          found = (gint64) n;
        }
    }
  return found;
}

/* Transfer-Encoding: 1 when chunked is the final coding, 0 when there is
 * none, -1 when there is one without chunked last. */
static int
transfer_encoding (SoupMessageHeaders *h, gboolean *chunked_not_last)
{
  SoupMessageHeadersIter it;
  const char *name, *value;
  int result = 0;

  *chunked_not_last = FALSE;
  soup_message_headers_iter_init (&it, h);
  while (soup_message_headers_iter_next (&it, &name, &value))
    {
      g_auto (GStrv) parts = NULL;

      if (g_ascii_strcasecmp (name, "Transfer-Encoding") != 0)
        continue;
      parts = g_strsplit (value, ",", -1);
      for (guint i = 0; parts[i]; i++)
        {
          const char *v = g_strstrip (parts[i]);

          if (*v == '\0')
            continue;
          if (result == 1)
            *chunked_not_last = TRUE;
          result = g_ascii_strcasecmp (v, "chunked") == 0 ? 1 : -1;
        }
    }
  return result;
}

/* Splits "METHOD SP target SP version" when libsoup gave up on it for a
 * reason that leaves the line readable (an unknown Expect). */
static gboolean
split_request_line (const char *head, char **method, char **path)
{
  g_autofree char *line = g_strndup (head, strcspn (head, "\r\n"));
  g_auto (GStrv) parts = g_strsplit (line, " ", 3);

  if (g_strv_length (parts) != 3 || !*parts[0] || !*parts[1])
    return FALSE;
  *method = g_strdup (parts[0]);
  *path = g_strdup (parts[1]);
  return TRUE;
}

/* The head is complete in p->head (blank line included). */
static void
head_done (XmHttpParser *p)
{
  gsize blank = p->head->len >= 2 && p->head->data[p->head->len - 2] == '\r' ? 2 : 1;
  gsize len = p->head->len - blank;
  const char *str;
  SoupMessageHeaders *h;
  XmHttpHead head = { 0 };
  g_autofree char *method = NULL, *path = NULL, *reason = NULL;
  SoupHTTPVersion ver = SOUP_HTTP_1_1;
  gboolean ok, no_body = FALSE, chunked_not_last;
  int te;
  guint8 pending = PENDING_OTHER;

  /* libsoup refuses a NUL (and some of its entry points assert on a
   * leading one): say so ourselves. */
  if (memchr (p->head->data, '\0', len))
    {
      problem (p, p->head_offset, TRUE, "RFC 9112 §2.2: a NUL byte in an HTTP "
               "%s head: decoding of this direction stops", p->what);
      return;
    }
  /* libsoup reads the head as a NUL-terminated string up to, not
   * including, the blank line. */
  g_byte_array_append (p->head, (const guint8 *) "", 1);
  str = (const char *) p->head->data;
  h = soup_message_headers_new (p->side == XM_HTTP_REQUESTS
                                ? SOUP_MESSAGE_HEADERS_REQUEST
                                : SOUP_MESSAGE_HEADERS_RESPONSE);
  if (p->side == XM_HTTP_REQUESTS)
    {
      guint st = soup_headers_parse_request (str, (int) len, h, &method, &path, &ver);

      ok = st == SOUP_STATUS_OK;
      if (st == SOUP_STATUS_EXPECTATION_FAILED
          && split_request_line (str, &method, &path))
        {
          /* Only the Expect value was not understood: the head is fine. */
          problem (p, p->head_offset, FALSE, "RFC 9110 §10.1.1: the request's "
                   "Expect field is not 100-continue");
          ok = TRUE;
          ver = strstr (str, "HTTP/1.0") ? SOUP_HTTP_1_0 : SOUP_HTTP_1_1;
        }
    }
  else
    ok = soup_headers_parse_response (str, (int) len, h, &ver, &head.status, &reason);
  if (!ok)
    {
      g_autofree char *q = quote_line (p->head->data, len);
      problem (p, p->head_offset, TRUE, "RFC 9112 §%s: not an HTTP/1.x %s head "
               "(\"%s\"): decoding of this direction stops",
               p->side == XM_HTTP_REQUESTS ? "3" : "4", p->what, q);
      soup_message_headers_unref (h);
      return;
    }

  head.offset = p->head_offset;
  head.head_len = p->head->len - 1;
  head.method = method;
  head.path = path;
  head.reason = reason;
  head.minor = ver == SOUP_HTTP_1_0 ? 0 : 1;
  head.headers = h;
  head.content_length = -1;

  if (p->side == XM_HTTP_RESPONSES && (head.status >= 200 || head.status == 101))
    {
      /* A final response (101 is one: RFC 9110 §15.2) answers the oldest
       * request; other 1xx are interim. */
      if (p->pending->len > 0)
        {
          pending = p->pending->data[0];
          g_array_remove_index (p->pending, 0);
        }
    }

  te = transfer_encoding (h, &chunked_not_last);
  head.content_length = content_length (p, h);
  if (head.content_length == -2)
    {
      soup_message_headers_unref (h);
      return;
    }
  if (p->side == XM_HTTP_REQUESTS)
    head.upgrade = soup_message_headers_get_one (h, "Upgrade") != NULL;
  else
    {
      head.upgrade = head.status == 101;
      no_body = head.status < 200 || head.status == 204 || head.status == 304
                || pending == PENDING_HEAD;
      /* After a 101, or a CONNECT's 2xx, the bytes are no longer HTTP. */
      if (head.status == 101
          || (pending == PENDING_CONNECT && head.status / 100 == 2))
        {
          p->stop_after = TRUE;
          no_body = TRUE;
        }
    }

  if (no_body)
    {
      if (head.content_length > 0 && pending != PENDING_HEAD)
        problem (p, p->head_offset, FALSE, "RFC 9110 §8.6: a %u response has no "
                 "body; its Content-Length is ignored", head.status);
      p->state = ST_HEAD;
    }
  else if (te != 0)
    {
      if (head.content_length >= 0)
        problem (p, p->head_offset, FALSE, "RFC 9112 §6.3: the %s has both "
                 "Transfer-Encoding and Content-Length (a request smuggling "
                 "shape); Transfer-Encoding wins", p->what);
      if (chunked_not_last && te == 1)
        te = -1;
      if (te == 1)
        {
          head.chunked = TRUE;
          p->state = ST_CHUNK_SIZE;
        }
      else if (p->side == XM_HTTP_REQUESTS)
        {
          problem (p, p->head_offset, TRUE, "RFC 9112 §6.3: a request's "
                   "Transfer-Encoding must end in chunked; where its body ends "
                   "is unknown: decoding of this direction stops");
          soup_message_headers_unref (h);
          return;
        }
      else
        p->state = ST_UNTIL_CLOSE;
      head.content_length = -1;
    }
  else if (head.content_length >= 0)
    {
      p->left = (guint64) head.content_length;
      p->state = p->left ? ST_BODY : ST_HEAD;
    }
  else if (p->side == XM_HTTP_RESPONSES)
    p->state = ST_UNTIL_CLOSE;
  else
    p->state = ST_HEAD;

  g_byte_array_set_size (p->head, 0);
  p->line_len = 0;
  p->last_cr = FALSE;
  if (p->ev.head)
    p->ev.head (&head, p->user_data);
  soup_message_headers_unref (h);
  /* A message without a body ends with its head; a stop asked for in
   * head() still gets its message_end first. */
  if (p->state == ST_HEAD)
    message_end (p);
}

/* Finds the end of a line-based section (a head, a chunk-size line, the
 * trailers) in data. Appends what belongs to it to p->head when keep, and
 * returns how many bytes were taken; *line_end is set when a line ended
 * (the last byte taken was its LF), *blank when that line was empty. */
static gsize
take_line (XmHttpParser *p, const guint8 *data, gsize len, gsize room,
           gboolean keep, gboolean *line_end, gboolean *blank)
{
  gsize scan = MIN (len, room);
  const guint8 *nl = memchr (data, '\n', scan);
  gsize n = nl ? (gsize) (nl - data) + 1 : scan;

  *line_end = nl != NULL;
  *blank = FALSE;
  if (nl)
    {
      gsize content = p->line_len + (n - 1);
      gboolean cr = n >= 2 ? data[n - 2] == '\r' : p->last_cr;

      *blank = content == 0 || (content == 1 && cr);
      p->line_len = 0;
      p->last_cr = FALSE;
    }
  else if (n)
    {
      p->line_len += n;
      p->last_cr = data[n - 1] == '\r';
    }
  if (keep)
    g_byte_array_append (p->head, data, n);
  return n;
}

/* Parses a complete chunk-size line in p->head (RFC 9112 §7.1). */
static void
chunk_line_done (XmHttpParser *p)
{
  const guint8 *s = p->head->data;
  gsize len = p->head->len, i = 0;
  guint64 size = 0;
  guint64 at = p->offset - len;

  while (i < len && g_ascii_isxdigit (s[i]))
    {
      if (size >> 59)
        {
          problem (p, at, TRUE, "RFC 9112 §7.1: a chunk size overflows 63 bits "
                   "(a request smuggling shape): decoding of this direction "
                   "stops");
          return;
        }
      size = size << 4 | (guint64) g_ascii_xdigit_value (s[i]);
      i++;
    }
  while (i < len && (s[i] == ' ' || s[i] == '\t'))
    i++;
  if (i == 0 || i >= len || (s[i] != ';' && s[i] != '\r' && s[i] != '\n'))
    {
      g_autofree char *q = quote_line (s, len);
      problem (p, at, TRUE, "RFC 9112 §7.1: \"%s\" is not a chunk-size line: "
               "decoding of this direction stops", q);
      return;
    }
  g_byte_array_set_size (p->head, 0);
  if (size == 0)
    {
      p->trailer_bytes = 0;
      p->state = ST_TRAILERS;
    }
  else
    {
      p->left = size;
      p->state = ST_CHUNK_DATA;
    }
}

gsize
xm_http_parser_feed (XmHttpParser *p, const guint8 *data, gsize len)
{
  gsize pos = 0;

  while (pos < len && p->state != ST_STOPPED && !p->stop_req)
    {
      const guint8 *d = data + pos;
      gsize rest = len - pos, n;
      gboolean eol, blank;

      switch (p->state)
        {
        case ST_HEAD:
          if (p->head->len == 0 && (*d == '\r' || *d == '\n'))
            {
              /* RFC 9112 §2.2: empty lines before a request line are
               * ignored (and the CRLF some clients add after a body). */
              pos++;
              p->offset++;
              continue;
            }
          if (p->head->len == 0)
            p->head_offset = p->offset;
          if (p->head->len >= p->max_head)
            {
              problem (p, p->head_offset, TRUE, "HTTP %s head larger than %"
                       G_GSIZE_FORMAT " bytes: decoding of this direction stops",
                       p->what, p->max_head);
              break;
            }
          n = take_line (p, d, rest, p->max_head - p->head->len, TRUE, &eol, &blank);
          pos += n;
          p->offset += n;
          if (eol && blank)
            head_done (p);
          break;

        case ST_BODY:
        case ST_CHUNK_DATA:
          n = (gsize) MIN ((guint64) rest, p->left);
          pos += n;
          p->offset += n;
          p->left -= n;
          if (p->ev.body)
            p->ev.body (d, n, p->user_data);
          if (p->left == 0)
            {
              if (p->state == ST_BODY)
                message_end (p);
              else
                {
                  p->state = ST_CHUNK_CRLF;
                  p->crlf_cr = FALSE;
                }
            }
          break;

        case ST_UNTIL_CLOSE:
          pos += rest;
          p->offset += rest;
          if (p->ev.body)
            p->ev.body (d, rest, p->user_data);
          break;

        case ST_CHUNK_CRLF:
          if (*d == '\r' && !p->crlf_cr)
            {
              p->crlf_cr = TRUE;
              pos++;
              p->offset++;
            }
          else if (*d == '\n')
            {
              pos++;
              p->offset++;
              p->state = ST_CHUNK_SIZE;
              g_byte_array_set_size (p->head, 0);
              p->line_len = 0;
              p->last_cr = FALSE;
            }
          else
            problem (p, p->offset, TRUE, "RFC 9112 §7.1: chunk data is not "
                     "followed by CRLF: decoding of this direction stops");
          break;

        case ST_CHUNK_SIZE:
          if (p->head->len >= CHUNK_LINE_MAX)
            {
              problem (p, p->offset - p->head->len, TRUE, "RFC 9112 §7.1: a "
                       "chunk-size line longer than %d bytes: decoding of this "
                       "direction stops", CHUNK_LINE_MAX);
              break;
            }
          n = take_line (p, d, rest, CHUNK_LINE_MAX - p->head->len, TRUE, &eol, &blank);
          pos += n;
          p->offset += n;
          if (eol)
            chunk_line_done (p);
          break;

        case ST_TRAILERS:
          if (p->trailer_bytes >= p->max_head)
            {
              problem (p, p->offset, TRUE, "HTTP %s trailers larger than %"
                       G_GSIZE_FORMAT " bytes: decoding of this direction stops",
                       p->what, p->max_head);
              break;
            }
          /* Trailer fields are read past, not kept (RFC 9110 §6.5 lets a
           * recipient discard them). */
          n = take_line (p, d, rest, p->max_head - p->trailer_bytes, FALSE, &eol, &blank);
          pos += n;
          p->offset += n;
          p->trailer_bytes += n;
          if (eol && blank)
            message_end (p);
          break;

        case ST_STOPPED:
          break;
        }
    }
  if (p->stop_req)
    {
      /* The rest is another protocol's: the caller takes it from here. */
      p->state = ST_STOPPED;
      return pos;
    }
  /* After a fatal problem the rest is still HTTP, only not decoded: it
   * counts as consumed, so that no caller mistakes it for WebSocket. */
  p->offset += len - pos;
  return len;
}

void
xm_http_parser_finish (XmHttpParser *p)
{
  switch (p->state)
    {
    case ST_UNTIL_CLOSE:
      message_end (p);
      break;
    case ST_HEAD:
      if (p->head->len > 0)
        problem (p, p->head_offset, FALSE, "the connection closed in the middle "
                 "of an HTTP %s head", p->what);
      break;
    case ST_BODY:
      problem (p, p->offset, FALSE, "the connection closed %" G_GUINT64_FORMAT
               " bytes before the end of the %s body (Content-Length)",
               p->left, p->what);
      break;
    case ST_CHUNK_SIZE:
    case ST_CHUNK_DATA:
    case ST_CHUNK_CRLF:
    case ST_TRAILERS:
      problem (p, p->offset, FALSE, "the connection closed in the middle of a "
               "chunked %s body", p->what);
      break;
    case ST_STOPPED:
      break;
    }
  p->state = ST_STOPPED;
}

gboolean
xm_http_path_ok (const char *s, gsize len)
{
  if (len == 0 || s[0] != '/')
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if ((guchar) s[i] <= 0x20 || (guchar) s[i] >= 0x7f)
      return FALSE;
  return TRUE;
}
