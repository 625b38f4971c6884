/* tcp-reasm.h: TCP stream reassembly for one direction of one connection,
 * as seen in a packet capture.
 *
 * Segments are fed in capture order (sequence number, flags, payload); the
 * bytes of the stream come out in order, each exactly once, through the
 * data callback. Stream offset 0 is the byte after the SYN, or, when the
 * capture starts in the middle of the connection, the first byte seen.
 * Sequence numbers wrap (32 bits); offsets do not.
 *
 * Segments ahead of the stream wait in a bounded buffer. Retransmitted
 * bytes are trimmed; where a copy differs from the bytes first seen (still
 * buffered, or among the last delivered ones) the first copy wins and a
 * problem is reported. When the stream has to move past bytes that never
 * came (the peer acknowledged past them, xm_tcp_reasm_flush(), or the
 * buffer cap), a GAP problem says how many are missing and where, and the
 * data after it follows.
 *
 * No libpcap here: the caller parses packets. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Flags of a segment (xm_tcp_reasm_feed). */
#define XM_TCP_FIN (1u << 0)
#define XM_TCP_SYN (1u << 1)
#define XM_TCP_RST (1u << 2)

#define XM_TCP_REASM_DEFAULT_MAX_BUFFER (4 * 1024 * 1024)
/* Delivered bytes kept to compare retransmissions against. */
#define XM_TCP_REASM_HISTORY (64 * 1024)

typedef enum {
  XM_TCP_REASM_GAP,      /* len bytes at offset never came: skipped */
  XM_TCP_REASM_CONFLICT, /* a retransmission differs from the first copy at
                          * offset (len: bytes compared); first copy kept */
} XmTcpReasmProblem;

typedef struct {
  /* len in-order bytes at stream offset offset (borrowed). */
  void (*data) (const guint8 *data, gsize len, guint64 offset,
                gpointer user_data);
  /* message is a sentence such as "120 bytes missing at offset 4000". */
  void (*problem) (XmTcpReasmProblem kind, guint64 offset, guint64 len,
                   const char *message, gpointer user_data);
} XmTcpReasmEvents;

typedef struct _XmTcpReasm XmTcpReasm;

XmTcpReasm *xm_tcp_reasm_new (const XmTcpReasmEvents *events, gpointer user_data);
void xm_tcp_reasm_free (XmTcpReasm *reasm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmTcpReasm, xm_tcp_reasm_free)

/* Bytes held for segments ahead of the stream (plus a small overhead per
 * segment) before the stream skips to the first of them. */
void xm_tcp_reasm_set_max_buffer (XmTcpReasm *reasm, gsize max_bytes);

/* One segment. The payload of a RST is not stream data and is ignored; a
 * one-byte segment just below the next expected byte (a keepalive probe) is
 * ignored too. Payload past a FIN is dropped. Callbacks may not call into
 * the same reassembler. */
void xm_tcp_reasm_feed (XmTcpReasm *reasm, guint32 seq, guint flags,
                        const guint8 *payload, gsize len);

/* The other direction acknowledged every byte before ack. A hole that ends
 * below it, with data buffered after it, will not be filled: the receiver
 * got those bytes and the capture missed them. The stream moves past it now
 * (a GAP) instead of waiting for a flush or the cap. Ignored before the
 * first segment. */
void xm_tcp_reasm_ack (XmTcpReasm *reasm, guint32 ack);

/* The stream goes no further (RST, the connection closed, end of capture):
 * moves past whatever is missing, reporting each gap, delivers everything
 * buffered, and reports the bytes missing before a FIN seen. */
void xm_tcp_reasm_flush (XmTcpReasm *reasm);

/* Next stream offset to deliver: bytes delivered plus bytes skipped. */
guint64 xm_tcp_reasm_offset (const XmTcpReasm *reasm);
/* Bytes delivered through the data callback. */
guint64 xm_tcp_reasm_delivered (const XmTcpReasm *reasm);
/* Bytes waiting in the buffer. */
gsize xm_tcp_reasm_buffered (const XmTcpReasm *reasm);
/* TRUE once a FIN was seen and every byte before it was delivered or
 * skipped. */
gboolean xm_tcp_reasm_finished (const XmTcpReasm *reasm);

G_END_DECLS
