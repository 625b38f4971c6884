/* ws-frame.c: see ws-frame.h. RFC 6455 §5 framing, RFC 7692 inflation. */
#include "config.h"

#include <string.h>
#include <zlib.h>

#include "ws-frame.h"

/* Like inflate.c: past a grace, more than this many inflated bytes per
 * compressed byte is a bomb, not a message. */
#define WS_INFLATE_MAX_RATIO 200
#define WS_INFLATE_GRACE (64 * 1024)
#define WS_OUT_CHUNK (16 * 1024)

typedef enum { ST_HEADER, ST_PAYLOAD, ST_STOPPED } State;

/* What a frame's payload is for. */
typedef enum {
  KEEP_DATA,    /* appended to the message being assembled */
  KEEP_CONTROL, /* into the control buffer */
  SKIP,         /* read past, not kept */
} Keep;

struct _XmWsReader {
  XmWsRole role;
  XmWsEvents ev;
  gpointer user_data;
  gsize max_message;
  gboolean deflate;
  gboolean no_takeover;

  State state;
  guint64 offset;          /* bytes fed */

  /* The frame being read. */
  guint8 hdr[14];
  gsize hdr_have;
  XmWsFrame frame;
  guint64 left;            /* payload bytes still to come */
  guint64 done;            /* payload bytes read (mask position) */
  Keep keep;

  /* The data message being assembled (opcode 0: none). */
  guint8 msg_opcode;
  gboolean msg_compressed;
  gboolean msg_skipping;   /* over the cap: its frames are read past */
  guint64 msg_offset;
  guint msg_frames;
  GByteArray *msg;

  guint8 ctl[XM_WS_MAX_CONTROL];
  gsize ctl_len;

  gboolean closed;         /* a close frame was read */
  gboolean after_close_told;

  z_stream z;
  gboolean z_ready;
  gboolean z_lost;         /* an earlier error or skip lost the context */
  GByteArray *inflated;
};

XmWsReader *
xm_ws_reader_new (XmWsRole role, const XmWsEvents *events, gpointer user_data)
{
  XmWsReader *r = g_new0 (XmWsReader, 1);

  r->role = role;
  r->ev = *events;
  r->user_data = user_data;
  r->max_message = XM_WS_DEFAULT_MAX_MESSAGE;
  r->msg = g_byte_array_new ();
  return r;
}

void
xm_ws_reader_free (XmWsReader *r)
{
  if (r == NULL)
    return;
  if (r->z_ready)
    inflateEnd (&r->z);
  g_byte_array_unref (r->msg);
  if (r->inflated)
    g_byte_array_unref (r->inflated);
  g_free (r);
}

void
xm_ws_reader_set_max_message (XmWsReader *r, gsize max)
{
  r->max_message = MAX (max, 1);
}

void
xm_ws_reader_set_deflate (XmWsReader *r, gboolean on)
{
  r->deflate = on;
}

void
xm_ws_reader_set_no_context_takeover (XmWsReader *r, gboolean on)
{
  r->no_takeover = on;
}

guint64
xm_ws_reader_offset (const XmWsReader *r)
{
  return r->offset;
}

gboolean
xm_ws_reader_stopped (const XmWsReader *r)
{
  return r->state == ST_STOPPED;
}

static void G_GNUC_PRINTF (4, 5)
problem (XmWsReader *r, guint64 offset, gboolean fatal, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (fatal)
    r->state = ST_STOPPED;
  if (r->ev.problem)
    r->ev.problem (offset, fatal, msg, r->user_data);
}

static const char *
opcode_name (guint8 op)
{
  switch (op)
    {
    case XM_WS_CONTINUATION: return "continuation";
    case XM_WS_TEXT: return "text";
    case XM_WS_BINARY: return "binary";
    case XM_WS_CLOSE: return "close";
    case XM_WS_PING: return "ping";
    case XM_WS_PONG: return "pong";
    default: return "reserved";
    }
}

static void
msg_reset (XmWsReader *r)
{
  r->msg_opcode = 0;
  r->msg_compressed = FALSE;
  r->msg_skipping = FALSE;
  r->msg_frames = 0;
  /* Give a large buffer back rather than keep the peak per connection. */
  if (r->msg->len > 64 * 1024)
    {
      g_byte_array_unref (r->msg);
      r->msg = g_byte_array_new ();
    }
  else
    g_byte_array_set_size (r->msg, 0);
}

/* Printable text of a close reason or any peer text: valid UTF-8 is kept
 * but for control characters, everything else is \xNN. */
static char *
printable (const guint8 *p, gsize len)
{
  GString *s = g_string_sized_new (len + 1);
  const char *c = (const char *) p, *end = c + len;

  while (c < end)
    {
      gunichar u = g_utf8_get_char_validated (c, end - c);

      if (u == (gunichar) -1 || u == (gunichar) -2 || u < 0x20 || u == 0x7f
          || (u >= 0x80 && u < 0xa0))
        {
          g_string_append_printf (s, "\\x%02x", (guint8) *c);
          c++;
          continue;
        }
      {
        const char *next = g_utf8_next_char (c);
        g_string_append_len (s, c, next - c);
        c = next;
      }
    }
  return g_string_free (s, FALSE);
}

static gboolean
close_code_valid (guint code)
{
  /* RFC 6455 §7.4.1-2: 1000-1003, 1007-1014 defined or IANA-registered
   * (1012-1014 by the registry), 3000-4999 for libraries and private use;
   * 1004, 1005, 1006, 1015 must not be sent; 1016-2999 are reserved. */
  if (code < 1000 || code >= 5000)
    return FALSE;
  if (code == 1004 || code == 1005 || code == 1006 || code == 1015)
    return FALSE;
  if (code >= 1016 && code < 3000)
    return FALSE;
  return TRUE;
}

static void
control_done (XmWsReader *r)
{
  const XmWsFrame *f = &r->frame;
  guint64 end = f->offset + f->header_len + f->payload_len;

  if (r->ev.message)
    r->ev.message (f->opcode, r->ctl, r->ctl_len, f->offset, end, 1, r->user_data);
  if (f->opcode == XM_WS_CLOSE)
    {
      guint code = 0;
      g_autofree char *reason = NULL;

      if (r->ctl_len == 1)
        problem (r, f->offset, FALSE, "RFC 6455 §5.5.1: a close frame's body "
                 "starts with a two-byte status code; this one has one byte");
      if (r->ctl_len >= 2)
        {
          code = (guint) r->ctl[0] << 8 | r->ctl[1];
          if (!close_code_valid (code))
            problem (r, f->offset, FALSE, "RFC 6455 §7.4.1: close code %u may "
                     "not be sent in a close frame", code);
          if (!g_utf8_validate_len ((const char *) r->ctl + 2, r->ctl_len - 2, NULL))
            problem (r, f->offset, FALSE, "RFC 6455 §5.5.1: the close reason is "
                     "not valid UTF-8");
          reason = printable (r->ctl + 2, r->ctl_len - 2);
        }
      else
        reason = g_strdup ("");
      if (r->ev.close)
        r->ev.close (code, reason, f->offset, r->user_data);
      r->closed = TRUE;
    }
  r->ctl_len = 0;
}

/* Keeps inflated bytes up to the message cap; past it, inflation goes on
 * (the next message needs the context) but nothing is kept. */
static void
z_out (XmWsReader *r, gsize produced, const guint8 *buf, gboolean *over)
{
  if (*over)
    return;
  if (r->inflated->len + produced > r->max_message)
    {
      *over = TRUE;
      g_byte_array_set_size (r->inflated, 0);
      return;
    }
  g_byte_array_append (r->inflated, buf, produced);
}

/* Inflates the whole compressed message in r->msg into r->inflated (RFC
 * 7692 §7.2.2: append 00 00 ff ff, inflate). Returns FALSE, having told
 * why, when there is nothing to deliver. */
static gboolean
inflate_message (XmWsReader *r)
{
  static const guint8 tail[4] = { 0x00, 0x00, 0xff, 0xff };
  guint8 buf[WS_OUT_CHUNK];
  gboolean over = FALSE, ended = FALSE;
  guint64 in_total = r->msg->len + sizeof tail, out_total = 0;

  if (r->z_lost)
    {
      problem (r, r->msg_offset, FALSE, "RFC 7692 §7.2.2: this compressed "
               "message is not inflated: the compression context was lost at "
               "an earlier message");
      return FALSE;
    }
  if (!r->z_ready)
    {
      /* Raw deflate (RFC 7692 §7.2.2), the largest window: a smaller
       * negotiated window inflates the same. */
      if (inflateInit2 (&r->z, -15) != Z_OK)
        g_error ("xmitm: out of memory for an inflater");
      r->z_ready = TRUE;
    }
  if (r->inflated == NULL)
    r->inflated = g_byte_array_new ();
  g_byte_array_set_size (r->inflated, 0);

  for (int part = 0; part < 2; part++)
    {
      /* A message whose block stream ended with it needs no tail: fed to
       * the fresh inflater, it would begin a stored block that the next
       * message's bytes then break. */
      if (part == 1 && ended)
        break;
      r->z.next_in = part == 0 ? r->msg->data : (Bytef *) tail;
      r->z.avail_in = part == 0 ? r->msg->len : sizeof tail;
      do
        {
          int rc;
          gsize produced;

          r->z.next_out = buf;
          r->z.avail_out = sizeof buf;
          rc = inflate (&r->z, Z_SYNC_FLUSH);
          produced = sizeof buf - r->z.avail_out;
          out_total += produced;
          if (rc == Z_STREAM_END)
            {
              /* BFINAL set: legal (RFC 7692 §7.2.3.3 lets a sender end a
               * block stream); the next message starts a new one. */
              z_out (r, produced, buf, &over);
              inflateReset (&r->z);
              ended = r->z.avail_in == 0;
              if (r->z.avail_in == 0)
                break;
              continue;
            }
          if (rc != Z_OK && rc != Z_BUF_ERROR)
            {
              problem (r, r->msg_offset, FALSE, "RFC 7692 §7.2.2: a compressed "
                       "message is not valid deflate data (%s); %s",
                       r->z.msg ? r->z.msg : zError (rc),
                       r->no_takeover ? "it is not shown"
                                      : "later compressed messages cannot be inflated");
              r->z_lost = !r->no_takeover;
              inflateReset (&r->z);
              return FALSE;
            }
          z_out (r, produced, buf, &over);
          if (out_total > WS_INFLATE_GRACE
              && out_total / MAX (in_total, 1) > WS_INFLATE_MAX_RATIO)
            {
              problem (r, r->msg_offset, FALSE, "RFC 7692: a compressed message "
                       "inflates more than %u:1 (%" G_GUINT64_FORMAT " bytes so "
                       "far): a decompression bomb? Not inflated further%s",
                       WS_INFLATE_MAX_RATIO, out_total,
                       r->no_takeover ? "" : "; later compressed messages cannot be inflated");
              r->z_lost = !r->no_takeover;
              inflateReset (&r->z);
              return FALSE;
            }
          if (rc == Z_BUF_ERROR && r->z.avail_out != 0)
            break;
        }
      while (r->z.avail_in > 0 || r->z.avail_out == 0);
    }
  if (r->no_takeover)
    inflateReset (&r->z);
  if (over)
    {
      problem (r, r->msg_offset, FALSE, "RFC 7692: a compressed message inflates "
               "to more than %" G_GSIZE_FORMAT " bytes: not decoded",
               r->max_message);
      return FALSE;
    }
  return TRUE;
}

static void
data_message_done (XmWsReader *r, guint64 end)
{
  const guint8 *data = r->msg->data;
  gsize len = r->msg->len;

  if (r->msg_skipping)
    {
      msg_reset (r);
      return;
    }
  if (r->msg_compressed)
    {
      if (!inflate_message (r))
        {
          msg_reset (r);
          return;
        }
      data = r->inflated->data;
      len = r->inflated->len;
    }
  if (r->msg_opcode == XM_WS_TEXT
      && !g_utf8_validate_len ((const char *) data, len, NULL))
    problem (r, r->msg_offset, FALSE, "RFC 6455 §8.1: a text message is not "
             "valid UTF-8");
  if (r->ev.message)
    r->ev.message (r->msg_opcode, data ? data : (const guint8 *) "", len,
                   r->msg_offset, end, r->msg_frames, r->user_data);
  if (r->inflated && r->inflated->len > 64 * 1024)
    {
      g_byte_array_unref (r->inflated);
      r->inflated = NULL;
    }
  msg_reset (r);
}

static void
frame_done (XmWsReader *r)
{
  const XmWsFrame *f = &r->frame;
  guint64 end = f->offset + f->header_len + f->payload_len;

  switch (r->keep)
    {
    case KEEP_CONTROL:
      control_done (r);
      break;
    case KEEP_DATA:
      if (f->fin)
        data_message_done (r, end);
      break;
    case SKIP:
      /* A skipped frame of an oversized message still ends it. */
      if (r->msg_skipping && f->fin && f->opcode <= XM_WS_BINARY)
        msg_reset (r);
      break;
    }
  r->state = ST_HEADER;
  r->hdr_have = 0;
}

/* The header is complete: check it and decide what its payload is for. */
static void
header_done (XmWsReader *r)
{
  XmWsFrame *f = &r->frame;
  const guint8 *h = r->hdr;
  guint8 op = h[0] & 0x0f;
  gboolean control = op >= 8;

  f->offset = r->offset - r->hdr_have;
  f->header_len = r->hdr_have;
  f->fin = (h[0] & 0x80) != 0;
  f->rsv = (h[0] >> 4) & 7;
  f->opcode = op;
  f->masked = (h[1] & 0x80) != 0;
  f->payload_len = h[1] & 0x7f;
  if (f->payload_len == 126)
    {
      f->payload_len = (guint64) h[2] << 8 | h[3];
      if (f->payload_len < 126)
        problem (r, f->offset, FALSE, "RFC 6455 §5.2: the minimal number of "
                 "bytes must encode the length; %" G_GUINT64_FORMAT " is sent "
                 "in 16 bits", f->payload_len);
    }
  else if (f->payload_len == 127)
    {
      f->payload_len = 0;
      for (int i = 2; i < 10; i++)
        f->payload_len = f->payload_len << 8 | h[i];
      if (f->payload_len >> 63)
        {
          /* Nothing after this can be framed: the length is no length. */
          problem (r, f->offset, TRUE, "RFC 6455 §5.2: the most significant bit "
                   "of a 64-bit payload length must be 0; this frame claims "
                   "%" G_GUINT64_FORMAT " bytes: decoding of this direction "
                   "stops", f->payload_len);
          return;
        }
      if (f->payload_len <= 0xffff)
        problem (r, f->offset, FALSE, "RFC 6455 §5.2: the minimal number of "
                 "bytes must encode the length; %" G_GUINT64_FORMAT " is sent "
                 "in 64 bits", f->payload_len);
    }
  if (r->ev.frame)
    r->ev.frame (f, r->user_data);

  if (r->role == XM_WS_FROM_CLIENT && !f->masked)
    problem (r, f->offset, FALSE, "RFC 6455 §5.1: a client must mask every "
             "frame it sends; this %s frame is not masked", opcode_name (op));
  else if (r->role == XM_WS_FROM_SERVER && f->masked)
    problem (r, f->offset, FALSE, "RFC 6455 §5.1: a server must not mask its "
             "frames; this %s frame is masked", opcode_name (op));

  if (r->closed && !r->after_close_told)
    {
      r->after_close_told = TRUE;
      problem (r, f->offset, FALSE, "RFC 6455 §5.5.1: a %s frame after the "
               "close frame; nothing may follow a close", opcode_name (op));
    }

  /* RSV1 is permessage-deflate's "compressed" bit, on the first frame of a
   * data message only (RFC 7692 §6); RSV2 and RSV3 have no extension. */
  if ((f->rsv & 4) && (!r->deflate || (op != XM_WS_TEXT && op != XM_WS_BINARY)))
    {
      if (!r->deflate)
        problem (r, f->offset, FALSE, "RFC 6455 §5.2: RSV1 is set but no "
                 "extension was negotiated");
      else
        problem (r, f->offset, FALSE, "RFC 7692 §6.1: RSV1 is set on a %s "
                 "frame; only a message's first frame may carry it",
                 opcode_name (op));
    }
  if (f->rsv & 3)
    problem (r, f->offset, FALSE, "RFC 6455 §5.2: RSV%s set but no extension "
             "that defines %s was negotiated",
             (f->rsv & 3) == 3 ? "2 and RSV3 are" : (f->rsv & 2) ? "2 is" : "3 is",
             (f->rsv & 3) == 3 ? "them" : "it");

  r->keep = SKIP;
  if (control)
    {
      gboolean ok = TRUE;

      if (op > XM_WS_PONG)
        {
          problem (r, f->offset, FALSE, "RFC 6455 §5.2: opcode %u is reserved; "
                   "the frame is skipped", op);
          ok = FALSE;
        }
      if (f->payload_len > XM_WS_MAX_CONTROL)
        {
          problem (r, f->offset, FALSE, "RFC 6455 §5.5: a control frame carries "
                   "at most 125 bytes; this %s frame claims %" G_GUINT64_FORMAT
                   ": skipped", opcode_name (op), f->payload_len);
          ok = FALSE;
        }
      if (!f->fin)
        problem (r, f->offset, FALSE, "RFC 6455 §5.5: control frames must not be "
                 "fragmented; this %s frame has FIN clear", opcode_name (op));
      if (ok)
        {
          r->keep = KEEP_CONTROL;
          r->ctl_len = 0;
        }
    }
  else if (op == XM_WS_CONTINUATION)
    {
      if (r->msg_opcode == 0)
        problem (r, f->offset, FALSE, "RFC 6455 §5.4: a continuation frame with "
                 "no fragmented message in progress: skipped");
      else if (!r->msg_skipping)
        r->keep = KEEP_DATA;
    }
  else if (op == XM_WS_TEXT || op == XM_WS_BINARY)
    {
      if (r->msg_opcode != 0)
        {
          problem (r, f->offset, FALSE, "RFC 6455 §5.4: a new %s message began "
                   "before the fragmented %s message in progress ended; that "
                   "one is dropped", opcode_name (op), opcode_name (r->msg_opcode));
          msg_reset (r);
        }
      r->msg_opcode = op;
      r->msg_offset = f->offset;
      r->msg_compressed = r->deflate && (f->rsv & 4);
      r->keep = KEEP_DATA;
    }
  else
    problem (r, f->offset, FALSE, "RFC 6455 §5.2: opcode %u is reserved; the "
             "frame is skipped", op);

  if (r->keep == KEEP_DATA)
    {
      r->msg_frames++;
      if (f->payload_len > r->max_message - r->msg->len)
        {
          problem (r, r->msg_offset, FALSE, "a %s message larger than %"
                   G_GSIZE_FORMAT " bytes: not decoded, still forwarded",
                   opcode_name (r->msg_opcode), r->max_message);
          g_byte_array_set_size (r->msg, 0);
          r->msg_skipping = TRUE;
          r->keep = SKIP;
        }
    }
  else if (r->keep == SKIP && !control && op == XM_WS_CONTINUATION
           && r->msg_skipping)
    r->msg_frames++;

  r->left = f->payload_len;
  r->done = 0;
  r->state = ST_PAYLOAD;
  if (r->left == 0)
    frame_done (r);
}

/* How many header bytes this frame has, once the first two are known. */
static gsize
header_size (const guint8 *h)
{
  gsize n = 2;
  guint8 len = h[1] & 0x7f;

  if (len == 126)
    n += 2;
  else if (len == 127)
    n += 8;
  if (h[1] & 0x80)
    n += 4;
  return n;
}

static void
payload (XmWsReader *r, const guint8 *data, gsize n)
{
  const XmWsFrame *f = &r->frame;
  guint8 *dst;

  switch (r->keep)
    {
    case SKIP:
      r->done += n;
      return;
    case KEEP_CONTROL:
      dst = r->ctl + r->ctl_len;
      r->ctl_len += n;
      break;
    case KEEP_DATA:
    default:
      g_byte_array_set_size (r->msg, r->msg->len + n);
      dst = r->msg->data + r->msg->len - n;
      break;
    }
  if (f->masked)
    {
      const guint8 *key = r->hdr + f->header_len - 4;
      for (gsize i = 0; i < n; i++)
        dst[i] = data[i] ^ key[(r->done + i) & 3];
    }
  else
    memcpy (dst, data, n);
  r->done += n;
}

void
xm_ws_reader_feed (XmWsReader *r, const guint8 *data, gsize len)
{
  while (len > 0 && r->state != ST_STOPPED)
    {
      if (r->state == ST_HEADER)
        {
          gsize want = r->hdr_have < 2 ? 2 : header_size (r->hdr);
          gsize n = MIN (len, want - r->hdr_have);

          memcpy (r->hdr + r->hdr_have, data, n);
          r->hdr_have += n;
          r->offset += n;
          data += n;
          len -= n;
          if (r->hdr_have == 2)
            want = header_size (r->hdr);
          if (r->hdr_have == want)
            header_done (r);
        }
      else
        {
          gsize n = (gsize) MIN ((guint64) len, r->left);

          payload (r, data, n);
          r->left -= n;
          r->offset += n;
          data += n;
          len -= n;
          if (r->left == 0)
            frame_done (r);
        }
    }
  /* Stopped: counted, not decoded. */
  r->offset += len;
}

void
xm_ws_frame_append (GByteArray *out, guint8 opcode, gboolean fin,
                    const guint8 *mask, const guint8 *payload_data, gsize len)
{
  guint8 h[14];
  gsize n = 2;
  guint start;

  h[0] = (fin ? 0x80 : 0) | (opcode & 0x0f);
  h[1] = mask ? 0x80 : 0;
  if (len < 126)
    h[1] |= (guint8) len;
  else if (len <= 0xffff)
    {
      h[1] |= 126;
      h[n++] = (guint8) (len >> 8);
      h[n++] = (guint8) len;
    }
  else
    {
      h[1] |= 127;
      for (int i = 7; i >= 0; i--)
        h[n++] = (guint8) ((guint64) len >> (8 * i));
    }
  if (mask)
    {
      memcpy (h + n, mask, 4);
      n += 4;
    }
  g_byte_array_append (out, h, n);
  start = out->len;
  if (len)
    g_byte_array_append (out, payload_data, len);
  if (mask)
    for (gsize i = 0; i < len; i++)
      out->data[start + i] ^= mask[i & 3];
}

char *
xm_ws_accept_key (const char *key)
{
  /* RFC 6455 §1.3: the GUID every server appends to the client's key. */
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  g_autoptr (GChecksum) sha1 = g_checksum_new (G_CHECKSUM_SHA1);
  guint8 digest[20];
  gsize dlen = sizeof digest;

  g_checksum_update (sha1, (const guchar *) key, strlen (key));
  g_checksum_update (sha1, (const guchar *) guid, sizeof guid - 1);
  g_checksum_get_digest (sha1, digest, &dlen);
  return g_base64_encode (digest, dlen);
}
