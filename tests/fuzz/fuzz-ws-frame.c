/* fuzz-ws-frame.c: the RFC 6455 frame reader (decoders/ws-frame.c), one
 * direction, with permessage-deflate and the message cap.
 *
 * Input: two option bytes, then the payload. Option bits: the role (client
 * or server frames), permessage-deflate on, no context takeover, which
 * message cap (1 MiB, 64 bytes, 1 KiB, 16 KiB), and encode mode; the second
 * byte seeds the chunk sizes. In raw mode the payload is the byte stream
 * itself. In encode mode the payload is cut into messages (a length byte
 * each) that xm_ws_frame_append frames, masked as the role must, fragmented
 * now and then with a ping between: they must come back as they were, with
 * no problem.
 *
 * Invariants: the events fed in random chunks are the events fed whole;
 * a data message is within the cap, a control one within 125 bytes; a
 * message ends where the reader is; nothing follows a fatal problem. */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "ws-frame.h"

typedef struct {
  GString *log;
  XmWsReader *r;
  gsize cap;
  gboolean fatal;
  GPtrArray *messages;   /* encode mode: what came out */
} Sink;

static guint32
fnv (const guint8 *p, gsize n)
{
  guint32 h = 2166136261u;
  for (gsize i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

static void
on_message (guint8 opcode, const guint8 *data, gsize len, guint64 offset,
            guint64 end, guint n_frames, gpointer user_data)
{
  Sink *s = user_data;

  g_assert (!s->fatal);
  g_assert (data != NULL || len == 0);
  /* Control payloads are within 125 bytes whatever the cap. */
  if (opcode >= 8)
    g_assert (len <= XM_WS_MAX_CONTROL);
  else
    g_assert ((opcode == 1 || opcode == 2) && len <= s->cap);
  g_assert (offset < end);
  g_assert (end == xm_ws_reader_offset (s->r));
  g_assert (n_frames >= 1);
  g_string_append_printf (s->log, "M%u %" G_GSIZE_FORMAT " %" G_GUINT64_FORMAT
                          " %" G_GUINT64_FORMAT " %u %08x\n", opcode, len, offset,
                          end, n_frames, fnv (data, len));
  if (s->messages && opcode < 8)
    g_ptr_array_add (s->messages, g_bytes_new (data, len));
}

static void
on_close (guint code, const char *reason, guint64 offset, gpointer user_data)
{
  Sink *s = user_data;

  g_assert (!s->fatal);
  g_assert (g_utf8_validate (reason, -1, NULL));
  g_assert (code <= 65535);
  g_string_append_printf (s->log, "C%u %s %" G_GUINT64_FORMAT "\n", code, reason, offset);
}

static void
on_problem (guint64 offset, gboolean fatal, const char *message, gpointer user_data)
{
  Sink *s = user_data;

  g_assert (!s->fatal);
  g_assert (g_utf8_validate (message, -1, NULL));
  g_assert (offset <= xm_ws_reader_offset (s->r));
  s->fatal = fatal;
  g_string_append_printf (s->log, "P%d %" G_GUINT64_FORMAT " %s\n", fatal, offset, message);
}

static void
on_frame (const XmWsFrame *f, gpointer user_data)
{
  Sink *s = user_data;

  g_assert (f->header_len >= 2 && f->header_len <= 14);
  g_assert (f->offset + f->header_len == xm_ws_reader_offset (s->r));
  g_assert (f->rsv <= 7 && f->opcode <= 15);
  g_string_append_printf (s->log, "F%u\n", f->opcode);
}

static const XmWsEvents events = { on_message, on_close, on_problem, on_frame };

static char *
run (unsigned opt, gsize cap, const guint8 *p, gsize len, guint32 seed,
     GPtrArray *messages)
{
  Sink s = { g_string_new (NULL), NULL, cap, FALSE, messages };
  gsize done = 0;

  s.r = xm_ws_reader_new (opt & 1 ? XM_WS_FROM_SERVER : XM_WS_FROM_CLIENT, &events, &s);
  xm_ws_reader_set_max_message (s.r, cap);
  xm_ws_reader_set_deflate (s.r, (opt & 2) != 0);
  xm_ws_reader_set_no_context_takeover (s.r, (opt & 4) != 0);
  while (done < len)
    {
      gsize n = len - done;

      if (seed)
        {
          seed = seed * 1103515245u + 12345u;
          n = MIN (n, 1 + (seed >> 8) % ((seed >> 20) % 4 == 0 ? 3 : 97));
        }
      xm_ws_reader_feed (s.r, p + done, n);
      done += n;
      g_assert (xm_ws_reader_offset (s.r) == done);
    }
  g_assert (xm_ws_reader_stopped (s.r) == s.fatal);
  xm_ws_reader_free (s.r);
  return g_string_free (s.log, FALSE);
}

/* Encode mode: frames the pieces as a sender would. */
static GByteArray *
encode (unsigned opt, FuzzIn *in, GPtrArray *sent)
{
  GByteArray *out = g_byte_array_new ();
  static const guint8 mask[4] = { 1, 2, 3, 4 };
  const guint8 *m = opt & 1 ? NULL : mask;

  while (in->left > 0)
    {
      unsigned h = fuzz_byte (in);
      const guint8 *piece;
      gsize n = fuzz_take (in, h & 0x3f, &piece);

      g_ptr_array_add (sent, g_bytes_new (piece, n));
      if ((h & 0x40) && n >= 2)
        {
          xm_ws_frame_append (out, XM_WS_BINARY, FALSE, m, piece, n / 2);
          xm_ws_frame_append (out, XM_WS_PING, TRUE, m, piece, MIN (n / 2, 5));
          xm_ws_frame_append (out, XM_WS_CONTINUATION, TRUE, m, piece + n / 2, n - n / 2);
        }
      else
        xm_ws_frame_append (out, XM_WS_BINARY, TRUE, m, piece, n);
    }
  return out;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const gsize caps[] = { XM_WS_DEFAULT_MAX_MESSAGE, 64, 1024, 16384 };
  FuzzIn in = { data, size };
  unsigned opt = fuzz_byte (&in), seed = fuzz_byte (&in);
  gsize cap = caps[(opt >> 3) & 3];
  g_autofree char *whole = NULL, *chunked = NULL;

  fuzz_glib_fatal ();
  if (opt & 0x20)
    {
      /* Encode mode: no deflate (the payloads are not compressed). */
      g_autoptr (GPtrArray) sent = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      g_autoptr (GByteArray) stream = encode (opt, &in, sent);

      opt &= ~6u;
      cap = XM_WS_DEFAULT_MAX_MESSAGE;
      whole = run (opt, cap, stream->data, stream->len, 0, got);
      g_assert (strstr (whole, "\nP") == NULL && strncmp (whole, "P", 1) != 0);
      g_assert (got->len == sent->len);
      for (guint i = 0; i < sent->len; i++)
        g_assert (g_bytes_equal (g_ptr_array_index (sent, i), g_ptr_array_index (got, i)));
      chunked = run (opt, cap, stream->data, stream->len, seed * 2654435761u + 1, NULL);
    }
  else
    {
      const guint8 *p;
      gsize len = fuzz_take (&in, in.left, &p);

      whole = run (opt, cap, p, len, 0, NULL);
      chunked = run (opt, cap, p, len, seed * 2654435761u + 1, NULL);
    }
  g_assert (strcmp (whole, chunked) == 0);
  return 0;
}
