/* fuzz-common-sink.h: a sink for the reader targets that checks each event
 * and formats it as the printer and the recorder would (their output is
 * thrown away). */
#pragma once

#include <string.h>

#include "printer.h"
#include "record.h"

typedef struct {
  XmSink sink;
  XmPrinterOptions popts;
  GString *buf;
  guint64 events;
} FuzzSink;

static void
fuzz_sink_event (XmSink *sink, const XmEvent *ev)
{
  FuzzSink *s = (FuzzSink *) sink;

  s->events++;
  switch (ev->kind)
    {
    case XM_EVENT_STREAM_OPEN:
    case XM_EVENT_STANZA:
      g_assert (ev->stanza != NULL);
      break;
    case XM_EVENT_SASL:
      g_assert (ev->sasl != NULL);
      break;
    default:
      break;
    }
  g_string_truncate (s->buf, 0);
  xm_printer_format (&s->popts, ev, s->buf);
  g_string_truncate (s->buf, 0);
  xm_record_format (ev, s->events % 2 == 0, s->buf);
  /* One event, one line. */
  g_assert (s->buf->len > 0 && s->buf->str[s->buf->len - 1] == '\n');
  g_assert (memchr (s->buf->str, '\n', s->buf->len) == s->buf->str + s->buf->len - 1);
}

static const XmSinkVTable fuzz_sink_vtable = { fuzz_sink_event, NULL, NULL };

static inline void
fuzz_sink_init (FuzzSink *s, gboolean show_secrets)
{
  memset (s, 0, sizeof *s);
  s->sink.vtable = &fuzz_sink_vtable;
  xm_printer_options_init (&s->popts);
  s->popts.utc = TRUE;
  s->popts.show_secrets = show_secrets;
  s->buf = g_string_new (NULL);
}

static inline void
fuzz_sink_clear (FuzzSink *s)
{
  g_string_free (s->buf, TRUE);
}

/* The input as a read-only stream ("/dev/null" when empty: fmemopen wants
 * at least a byte). */
static inline FILE *
fuzz_memopen (const uint8_t *data, size_t size)
{
  FILE *fp = size ? fmemopen ((void *) data, size, "r") : fopen ("/dev/null", "r");

  g_assert (fp != NULL);
  return fp;
}
