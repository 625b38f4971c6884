/* fuzz-pcap-read.c: the capture reader (ui/pcap-read.c): a pcap or pcapng
 * file read from memory through libpcap, then link, IP and TCP headers,
 * connection tracking, TCP reassembly (decoders/tcp-reasm.c) and the
 * observer of each XMPP connection; each event is checked and formatted by
 * the printer and the recorder. Input: the file. */
#include "config.h"

#include "fuzz.h"
#include "fuzz-common-sink.h"
#include "pcap-read.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FuzzSink sink;
  GError *error = NULL;
  gboolean ok;

  fuzz_glib_fatal ();
  fuzz_sink_init (&sink, size % 2 == 0);
  (void) xm_capture_sniff (data, size);
  ok = xm_capture_read_stream (fuzz_memopen (data, size), "fuzz.pcap",
                               &sink.sink, &error);
  g_assert (ok == (error == NULL));
  g_clear_error (&error);
  fuzz_sink_clear (&sink);
  return 0;
}
