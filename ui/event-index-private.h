/* event-index-private.h: what event-index.c (indexing a recording as it
 * is read, or as it grows) and event-index-read.c (reading pages of
 * events again from the file) share. */
#pragma once

#include "event-index.h"
#include "filter.h"
#include "iq-pairing.h"
#include "record.h"

G_BEGIN_DECLS

/* Events read again per round: a page is a few dozen, a filtered scan
 * goes on round after round. */
#define BATCH 512

/* 32 bytes an event. kind, dir, class and the digest let a filtered scan
 * skip an event unread (xm_filter_may_match); pair and rtt_us are the iq
 * pairing, filled in when the answer is indexed. */
typedef struct {
  guint64 offset; /* where its line starts in the file */
  guint32 conn;
  guint8 kind;    /* XmEventKind */
  guint8 dir;     /* XmDir */
  guint8 klass;   /* xm_filter_event_class */
  guint8 iq;      /* XM_IQ_* */
  guint32 pair;   /* ids between a request and its answer; 0: none */
  guint32 rtt_us; /* the answer's time minus the request's, capped */
  XmFilterDigest digest; /* what --ns and --jid look at */
} Entry;

G_STATIC_ASSERT (sizeof (Entry) == 32);


struct _XmEventIndex {
  XmSink sink;           /* indexing: gets every event once */
  char *path;
  int fd;
  GString *header_line;  /* the recording's first line, '\n' included */
  guint64 end;           /* the file's size when it was indexed */
  GArray *entries;       /* Entry, by event id */
  GPtrArray *sessions;   /* XmIndexedSession *, in order of appearance */
  GHashTable *session_by_conn;  /* conn -> XmIndexedSession * */
  /* conn * 2 + dir -> GArray of the ids of its STREAM_OPEN events */
  GHashTable *stream_opens;
  /* id -> guint64 *: where the line of event id ends, for the few events
   * whose line is not followed by the next event's (damaged or unknown
   * lines between them, never read again) */
  GHashTable *gaps;
  XmIqPairing *pairing;  /* which iq answers which, as events come */
  XmFilterDigester *digester;
  guint64 line_offset;   /* indexing: where the line being read starts */
  guint64 line_length;
  guint64 last_end;      /* indexing: where the last event's line ends */
  /* Growing: the reader keeps its framers between slices, so a file is
   * indexed in as many slices as it takes (appended to live, or large). */
  XmRecordReader *reader;
  XmRecordInfo info;
  void (*warn) (const char *message, gpointer data);
  gpointer warn_data;
  GString *pending;      /* read, not yet a whole line */
  guint64 read_pos;      /* where pending starts in the file */
  guint64 skipping;      /* > 0: inside a line too long to keep, so far */
  gboolean finished;     /* read to the end for good (not a growing file) */
  char *failed;          /* growing stopped for good: why (the header was
                          * no recording's, a read failed) */
};

/* Reads len bytes at offset of fd onto buf. */
gboolean xm_event_index_read_range (int fd, guint64 offset, gsize len, GString *buf,
                                    GError **error);

G_END_DECLS
