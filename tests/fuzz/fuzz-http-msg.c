/* fuzz-http-msg.c: one direction of HTTP/1.1 (decoders/http-msg.c): heads
 * through libsoup, body framing, pipelining, the upgrade stop.
 *
 * Input: two option bytes, then the stream. Option bits: requests or
 * responses, which head cap (64 KiB, 64, 512, 4096 bytes), stop from head()
 * or from message_end() after an upgrade, finish at the end (the peer
 * closes), and how many of the first responses answer HEAD; the second byte
 * seeds the chunk sizes.
 *
 * Invariants: the events and the consumed count fed in random chunks are
 * those fed whole; a head is within the cap; a message ends where the
 * parser is; a stop returns the exact byte; nothing follows a stop or a
 * fatal problem. */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "http-msg.h"

typedef struct {
  GString *log;
  XmHttpParser *p;
  unsigned opt;
  gsize cap;
  gboolean over;       /* stopped or fatal: no more events */
  gboolean upgrade;
  guint32 body_hash;
  guint64 body_len;
} Sink;

static void
flush_body (Sink *s)
{
  if (s->body_len)
    g_string_append_printf (s->log, "B%" G_GUINT64_FORMAT " %08x\n", s->body_len, s->body_hash);
  s->body_len = 0;
  s->body_hash = 2166136261u;
}

static void
on_head (const XmHttpHead *h, gpointer user_data)
{
  Sink *s = user_data;
  SoupMessageHeadersIter it;
  const char *name, *value;

  g_assert (!s->over);
  g_assert (h->head_len <= s->cap);
  g_assert (h->offset + h->head_len == xm_http_parser_offset (s->p));
  g_assert ((h->method != NULL) == (h->path != NULL));
  g_assert ((h->method != NULL) == !(s->opt & 1));
  g_assert (h->minor <= 1);
  g_assert (!(h->chunked && h->content_length >= 0));
  g_string_append_printf (s->log, "H %s %s %u %s %u %" G_GUINT64_FORMAT "+%"
                          G_GSIZE_FORMAT " %" G_GINT64_FORMAT " %d %d\n",
                          h->method ? h->method : "-", h->path ? h->path : "-",
                          h->status, h->reason ? h->reason : "-", h->minor,
                          h->offset, h->head_len, h->content_length, h->chunked,
                          h->upgrade);
  soup_message_headers_iter_init (&it, h->headers);
  while (soup_message_headers_iter_next (&it, &name, &value))
    g_string_append_printf (s->log, " %s=%s\n", name, value);
  s->upgrade = h->upgrade;
  if (h->upgrade && (s->opt & 0x08))
    xm_http_parser_stop (s->p);
}

static void
on_body (const guint8 *data, gsize len, gpointer user_data)
{
  Sink *s = user_data;

  g_assert (!s->over);
  g_assert (len > 0);
  for (gsize i = 0; i < len; i++)
    s->body_hash = (s->body_hash ^ data[i]) * 16777619u;
  s->body_len += len;
}

static void
on_end (guint64 end, gpointer user_data)
{
  Sink *s = user_data;

  g_assert (!s->over);
  g_assert (end == xm_http_parser_offset (s->p));
  flush_body (s);
  g_string_append_printf (s->log, "E %" G_GUINT64_FORMAT "\n", end);
  if (s->upgrade && (s->opt & 0x10))
    xm_http_parser_stop (s->p);
  s->upgrade = FALSE;
}

static void
on_problem (guint64 offset, gboolean fatal, const char *message, gpointer user_data)
{
  Sink *s = user_data;

  g_assert (!s->over);
  g_assert (g_utf8_validate (message, -1, NULL));
  flush_body (s);
  s->over = fatal;
  g_string_append_printf (s->log, "P%d %" G_GUINT64_FORMAT " %s\n", fatal, offset, message);
}

static const XmHttpEvents events = { on_head, on_body, on_end, on_problem };

static char *
run (unsigned opt, gsize cap, const guint8 *p, gsize len, guint32 seed)
{
  Sink s = { g_string_new (NULL), NULL, opt, cap, FALSE, FALSE, 2166136261u, 0 };
  gsize done = 0;
  gboolean stopped = FALSE;

  s.p = xm_http_parser_new (opt & 1 ? XM_HTTP_RESPONSES : XM_HTTP_REQUESTS, &events, &s);
  xm_http_parser_set_max_head (s.p, cap);
  for (unsigned i = 0; i < (opt >> 6); i++)
    xm_http_parser_expect_head (s.p);
  if (opt & 0x40)
    xm_http_parser_expect_response (s.p, "CONNECT");
  while (done < len)
    {
      gsize n = len - done, took;

      if (seed)
        {
          seed = seed * 1103515245u + 12345u;
          n = MIN (n, 1 + (seed >> 8) % ((seed >> 20) % 4 == 0 ? 3 : 151));
        }
      took = xm_http_parser_feed (s.p, p + done, n);
      g_assert (took <= n);
      done += took;
      g_assert (xm_http_parser_offset (s.p) == done);
      if (took < n)
        g_assert (xm_http_parser_stopped (s.p) && !s.over);
      if (xm_http_parser_stopped (s.p) && !s.over)
        {
          /* A stop (not a fatal problem): nothing more is taken. */
          g_assert (xm_http_parser_feed (s.p, p + done, len - done) == 0);
          stopped = TRUE;
          break;
        }
      /* After a fatal problem every byte counts as consumed. */
    }
  flush_body (&s);
  if (stopped || s.over)
    {
      s.over = TRUE;
      g_string_append_printf (s.log, "STOP %" G_GSIZE_FORMAT "\n", done);
    }
  if (opt & 0x20)
    {
      s.over = FALSE;
      xm_http_parser_finish (s.p);
      flush_body (&s);
      g_assert (xm_http_parser_stopped (s.p));
    }
  xm_http_parser_free (s.p);
  return g_string_free (s.log, FALSE);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const gsize caps[] = { XM_HTTP_DEFAULT_MAX_HEAD, 64, 512, 4096 };
  FuzzIn in = { data, size };
  unsigned opt = fuzz_byte (&in), seed = fuzz_byte (&in);
  gsize cap = caps[(opt >> 1) & 3];
  const guint8 *p;
  gsize len = fuzz_take (&in, in.left, &p);
  g_autofree char *whole = NULL, *chunked = NULL;

  fuzz_glib_fatal ();
  whole = run (opt, cap, p, len, 0);
  chunked = run (opt, cap, p, len, seed * 2654435761u + 1);
  g_assert (strcmp (whole, chunked) == 0);
  return 0;
}
