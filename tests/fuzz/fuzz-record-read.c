/* fuzz-record-read.c: the recording reader (ui/record-read.c): a JSON Lines
 * recording, header and events, read from memory; each event is checked
 * and formatted again by the printer and the recorder. Input: the file. */
#include "config.h"

#include "fuzz.h"
#include "fuzz-common-sink.h"

static void
on_warn (const char *message, gpointer user_data)
{
  g_assert (message != NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FuzzSink sink;
  XmRecordInfo info;
  GError *error = NULL;
  FILE *fp;
  gboolean ok;

  fuzz_glib_fatal ();
  fuzz_sink_init (&sink, size % 2 == 0);
  fp = fuzz_memopen (data, size);
  ok = xm_record_read_stream (fp, "fuzz.jsonl", &sink.sink, &info, on_warn,
                              NULL, &error);
  g_assert (ok == (error == NULL));
  g_clear_error (&error);
  fclose (fp);
  xm_record_info_clear (&info);
  fuzz_sink_clear (&sink);
  return 0;
}
