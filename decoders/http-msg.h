/* http-msg.h: one direction of HTTP/1.1 (RFC 9112), the requests or the
 * responses of a connection, decoded incrementally from a copy of the bytes:
 * a WebSocket upgrade (RFC 6455 §4, RFC 7395) or BOSH (XEP-0124/0206).
 *
 * We find the end of each head ourselves (CRLF CRLF, a bare LF LF
 * tolerated), under a bound, and hand the head to libsoup 3's header parser;
 * the body is framed here (RFC 9112 §6) and handed out as it comes, never
 * buffered, de-chunked. Problems are events; the ones that lose the message
 * framing (a bad chunk size, conflicting Content-Length: the shapes request
 * smuggling takes) are fatal and the parser stops. */
#pragma once

#include <glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef enum { XM_HTTP_REQUESTS, XM_HTTP_RESPONSES } XmHttpSide;

typedef struct {
  guint64 offset;           /* of the head's first byte in this direction */
  gsize head_len;           /* the head's bytes, its blank line included */
  const char *method;       /* requests (NULL in responses) */
  const char *path;
  guint status;             /* responses (0 in requests) */
  const char *reason;
  guint minor;              /* HTTP/1.<minor> */
  SoupMessageHeaders *headers; /* borrowed */
  gint64 content_length;    /* -1: none, chunked or until close */
  gboolean chunked;
  gboolean upgrade;         /* a 101 response, or a request with Upgrade */
} XmHttpHead;

typedef struct {
  void (*head) (const XmHttpHead *head, gpointer user_data);
  /* De-chunked body bytes as they come (not buffered by the parser). */
  void (*body) (const guint8 *data, gsize len, gpointer user_data);
  /* end: offset just past the message. */
  void (*message_end) (guint64 end, gpointer user_data);
  void (*problem) (guint64 offset, gboolean fatal, const char *message,
                   gpointer user_data);
} XmHttpEvents;

#define XM_HTTP_DEFAULT_MAX_HEAD (64 * 1024)

typedef struct _XmHttpParser XmHttpParser;

XmHttpParser *xm_http_parser_new (XmHttpSide side, const XmHttpEvents *ev,
                                  gpointer user_data);
void xm_http_parser_free (XmHttpParser *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmHttpParser, xm_http_parser_free)

/* Default 64 KiB. Over it: a fatal problem ("HTTP request head larger than
 * N bytes") and the parser stops. */
void xm_http_parser_set_max_head (XmHttpParser *p, gsize max);

/* Responses: a response answers a HEAD request (no body): the same as
 * xm_http_parser_expect_response (p, "HEAD"), which see. */
void xm_http_parser_expect_head (XmHttpParser *p);

/* Pipelining: the caller tells the response parser the method of every
 * request, in order, as it sees them; a final response answers the oldest.
 * HEAD: no body; CONNECT: a 2xx ends HTTP on the connection. Without these
 * calls every response is taken as answering a GET. */
void xm_http_parser_expect_response (XmHttpParser *p, const char *method);

/* Returns the bytes consumed: len, or fewer when the parser was stopped
 * (xm_http_parser_stop() from a callback, for an upgrade request the caller
 * knows will be accepted; or by itself at the end of a 101 response or a
 * CONNECT's 2xx): the rest of the bytes are not HTTP (the new protocol's,
 * WebSocket) and the parser takes no more. After a stop at message_end the
 * count is exactly the offset just past the message. After a fatal problem
 * the parser is stopped too, but the rest counts as consumed (it is HTTP,
 * only not decoded). Callbacks may not feed or free the same parser. */
gsize xm_http_parser_feed (XmHttpParser *p, const guint8 *data, gsize len);

/* Only from a callback: the parser takes no more bytes after the current
 * event's: after the message from message_end(); from head(), after the
 * head (a message without a body still gets its message_end() first);
 * from body(), after those body bytes. */
void xm_http_parser_stop (XmHttpParser *p);

/* The connection closed: a response without length ends here; a message
 * cut short is a problem. */
void xm_http_parser_finish (XmHttpParser *p);

gboolean xm_http_parser_stopped (const XmHttpParser *p);

/* Bytes consumed so far. */
guint64 xm_http_parser_offset (const XmHttpParser *p);

/* Whether s (len bytes) may stand as the path of a request line xmitm
 * writes: it starts with '/' and is printable ASCII without a space, so
 * that no CR, LF or space can end the line or add a header. */
gboolean xm_http_path_ok (const char *s, gsize len);

G_END_DECLS
