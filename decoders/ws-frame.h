/* ws-frame.h: one direction of a WebSocket connection (RFC 6455 frames),
 * decoded incrementally from a copy of the bytes, for XMPP over WebSocket
 * (RFC 7395).
 *
 * The reader is fed arbitrary chunks (one byte at a time gives the same
 * events as everything at once) and reports whole messages: a text or binary
 * message reassembled from its frames and unmasked, or a control frame's
 * payload. Rule breaks are problems, never aborts; only a lost framing (a
 * length the reader cannot trust) stops decoding of the direction. Memory is
 * bounded by the message cap (+ 125 bytes for a control frame in the middle
 * of a fragmented message; twice the cap with permessage-deflate, the
 * compressed message and what it inflates to), never by the length a peer
 * claims.
 *
 * The encoder half (xm_ws_frame_append, xm_ws_accept_key) is for replay and
 * --serve, which speak WebSocket themselves. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Who sends this direction: clients must mask, servers must not (§5.1). */
typedef enum { XM_WS_FROM_CLIENT, XM_WS_FROM_SERVER } XmWsRole;

enum {
  XM_WS_CONTINUATION = 0,
  XM_WS_TEXT = 1,
  XM_WS_BINARY = 2,
  XM_WS_CLOSE = 8,
  XM_WS_PING = 9,
  XM_WS_PONG = 10,
};

/* One frame's header, as read. */
typedef struct {
  guint64 offset;      /* of the frame's first byte in this direction's byte
                        * stream (counted from the first byte fed) */
  gsize header_len;    /* 2..14 */
  gboolean fin;
  guint8 rsv;          /* the three RSV bits, >> 4 (0..7) */
  guint8 opcode;       /* 0 continuation, 1 text, 2 binary, 8 close, 9 ping,
                        * 10 pong */
  gboolean masked;
  guint64 payload_len;
} XmWsFrame;

typedef struct {
  /* A whole message: a text or binary message reassembled from its frames
   * (unmasked, inflated when permessage-deflate applies), or a control
   * frame's payload (ping 9, pong 10, close 8 too, before close()). data is
   * borrowed for the call. offset = first frame's offset; end = stream
   * offset just past its last frame; n_frames. */
  void (*message) (guint8 opcode, const guint8 *data, gsize len,
                   guint64 offset, guint64 end, guint n_frames,
                   gpointer user_data);
  /* A close frame: code 0 when absent; reason borrowed, NUL-terminated,
   * made printable (invalid UTF-8 escaped). */
  void (*close) (guint code, const char *reason, guint64 offset,
                 gpointer user_data);
  /* A rule break or decoding problem, one sentence citing the RFC section,
   * e.g. "RFC 6455 §5.1: a server must not mask its frames; this frame is
   * masked". fatal: decoding of this direction stops (bytes are still
   * forwarded by the caller). */
  void (*problem) (guint64 offset, gboolean fatal, const char *message,
                   gpointer user_data);
  /* Optional (may be NULL): every frame header as it is read. */
  void (*frame) (const XmWsFrame *frame, gpointer user_data);
} XmWsEvents;

#define XM_WS_DEFAULT_MAX_MESSAGE (1024 * 1024)
/* RFC 6455 §5.5: control frames carry at most 125 bytes. */
#define XM_WS_MAX_CONTROL 125

typedef struct _XmWsReader XmWsReader;

XmWsReader *xm_ws_reader_new (XmWsRole role, const XmWsEvents *events,
                              gpointer user_data);
void xm_ws_reader_free (XmWsReader *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmWsReader, xm_ws_reader_free)

/* Default 1 MiB. A larger message (its frames' lengths, or its inflated
 * size): a problem, its payload skipped (not kept), decoding goes on with
 * the next message. */
void xm_ws_reader_set_max_message (XmWsReader *r, gsize max);

/* permessage-deflate was negotiated (RFC 7692): messages with RSV1 are
 * inflated (raw deflate, 00 00 ff ff appended), with the context kept
 * between messages unless xm_ws_reader_set_no_context_takeover(), and with
 * an expansion cap like inflate.c's (ratio and the message cap). */
void xm_ws_reader_set_deflate (XmWsReader *r, gboolean on);
/* This direction's sender resets its compression context after each
 * message ({client,server}_no_context_takeover, RFC 7692 §7.1.1). */
void xm_ws_reader_set_no_context_takeover (XmWsReader *r, gboolean on);

/* Callbacks may not feed or free the same reader. */
void xm_ws_reader_feed (XmWsReader *r, const guint8 *data, gsize len);

/* Bytes fed so far. */
guint64 xm_ws_reader_offset (const XmWsReader *r);
/* TRUE after a fatal problem: later input is counted, not decoded. */
gboolean xm_ws_reader_stopped (const XmWsReader *r);

/* Encoder, for replay and --serve: appends one frame (minimal length
 * encoding). mask NULL = unmasked (a server's frame); otherwise the 4-byte
 * masking key of a client's frame. */
void xm_ws_frame_append (GByteArray *out, guint8 opcode, gboolean fin,
                         const guint8 *mask, const guint8 *payload, gsize len);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2):
 * base64(SHA-1(key + GUID)); newly allocated. */
char *xm_ws_accept_key (const char *key);

G_END_DECLS
