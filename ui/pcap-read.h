/* pcap-read.h: XMPP from a packet capture (pcap or pcapng, as written by
 * tcpdump, tshark or Wireshark), as the events a live session produces.
 *
 * TCP connections that look like XMPP (port 5222, 5269, 5223 or 5270 on
 * either side, or a first payload that opens an XML stream) are
 * reassembled and decoded like a session: stream headers, stanzas,
 * keepalives, SASL, stream restarts and XEP-0138 compression. Connections
 * are numbered from 1 in the order they are recognized (the first packet
 * of one on an XMPP port, the first payload of another). TLS cannot be
 * decrypted: after <proceed/>, or on a connection that starts with a TLS
 * record, a note says so and that connection's data is skipped. Notes about
 * the capture as a whole carry connection number 0. */
#pragma once

#include <stdio.h>
#include "sink.h"

G_BEGIN_DECLS

#define XM_CAPTURE_ERROR (xm_capture_error_quark ())
GQuark xm_capture_error_quark (void);

typedef enum {
  XM_CAPTURE_ERROR_IO,        /* the file cannot be opened or read */
  XM_CAPTURE_ERROR_FORMAT,    /* not a pcap or pcapng file, or a broken header */
  XM_CAPTURE_ERROR_LINK_TYPE, /* a link layer not decoded here */
} XmCaptureError;

/* TRUE if head (the first bytes of a file) is a pcap (either byte order, µs
 * or ns) or pcapng file. */
gboolean xm_capture_sniff (const guint8 *head, gsize len);

/* Reads a capture of cleartext XMPP and sends its events to sink in capture
 * order (the sink is flushed, not freed). FALSE with error if the file
 * cannot be read at all (not a capture, unsupported link type, I/O error);
 * problems inside (bad packets, truncated last packet, gaps) are NOTE
 * events and the read goes on.
 *
 * Link types: Ethernet (with 802.1Q/802.1ad tags), Linux cooked (SLL, SLL2),
 * raw IPv4/IPv6, BSD loopback (NULL, LOOP). */
gboolean xm_capture_read (const char *path, XmSink *sink, GError **error);

/* The same from an open stream (a file, or memory through fmemopen), which
 * is closed in any case; path names it in messages. */
gboolean xm_capture_read_stream (FILE *fp, const char *path, XmSink *sink,
                                 GError **error);

G_END_DECLS
