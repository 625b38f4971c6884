/* sink.h: a consumer of session events (printer, recorder, ...). */
#pragma once

#include "event.h"

G_BEGIN_DECLS

typedef struct _XmSink XmSink;

typedef struct {
  void (*event) (XmSink *sink, const XmEvent *event);
  void (*flush) (XmSink *sink);
  void (*free) (XmSink *sink);
  /* TRUE if the sink looks inside stanzas (attributes, child elements,
   * text). Sinks that use only a stanza's bytes and root name leave it
   * FALSE, so that a proxy feeding only such sinks frames lazily
   * (xm_framer_set_lazy): message and presence stanzas then come with a
   * shallow root. */
  gboolean needs_children;
} XmSinkVTable;

struct _XmSink {
  const XmSinkVTable *vtable;
};

static inline void
xm_sink_event (XmSink *sink, const XmEvent *event)
{
  sink->vtable->event (sink, event);
}

static inline void
xm_sink_flush (XmSink *sink)
{
  if (sink->vtable->flush)
    sink->vtable->flush (sink);
}

static inline gboolean
xm_sink_needs_children (const XmSink *sink)
{
  return sink->vtable->needs_children;
}

static inline void
xm_sink_free (XmSink *sink)
{
  if (sink)
    sink->vtable->free (sink);
}

G_END_DECLS
