/* pcap-write.h: the decoded XML streams as a packet capture for Wireshark.
 *
 * Each connection becomes synthetic TCP connections to port 5222 (where
 * Wireshark's XMPP dissector listens), one per plaintext phase: a new one
 * starts whenever the layers under the XML change (after STARTTLS, after
 * XEP-0138 compression), so the dissector never hands the part after
 * <proceed/> to its TLS dissector. Each phase has a handshake, consistent
 * sequence and acknowledgement numbers, and FINs. The client keeps its
 * address (and its port in the first phase); a server known only by name
 * gets a documentation address (192.0.2.1, 2001:db8::1). */
#pragma once

#include "sink.h"

G_BEGIN_DECLS

/* Creates path (mode 0600). Unless secrets, secret element text is
 * overwritten (xm_stanza_redact). Packets are flushed to the file with the
 * sink. */
XmSink *xm_pcap_writer_open (const char *path, gboolean secrets, GError **error);

G_END_DECLS
