/* record.h: xmitm's recording format, JSON Lines (docs/recording.md).
 *
 * Line 1 is a header object ({"format":"xmitm-recording","format_version":1,
 * ...}); every later line is one event ({"ev":"stanza",...}). The writer is a
 * sink; the reader turns a file back into the same events, so `xmitm show`
 * runs them through the same printer as a live session. */
#pragma once

#include <stdio.h>
#include "sink.h"

G_BEGIN_DECLS

#define XM_RECORD_FORMAT "xmitm-recording"
#define XM_RECORD_VERSION 2

/* Appends the header line (with its '\n'). source says where the events come
 * from ("proxy", "capture FILE", ...); secrets whether they were kept. */
void xm_record_format_header (const char *source, gboolean secrets,
                              gint64 time_us, GString *buf);
/* Appends one event as one line (with its '\n'). Unless secrets, SASL
 * secrets and secret element text (xm_stanza_redact) are overwritten. */
void xm_record_format (const XmEvent *event, gboolean secrets, GString *buf);

/* A sink writing JSON Lines to fd (a file, or standard output for --json),
 * header first. Events are written when the sink is flushed (the proxy does
 * that after each round of socket callbacks) or when 64 KiB are waiting:
 * nothing is held longer than one round. A write error is reported once on
 * stderr, naming name; the recorder then stops and the proxy goes on.
 * own_fd: close fd when the sink is freed. */
XmSink *xm_recorder_new (int fd, gboolean own_fd, const char *name,
                         const char *source, gboolean secrets);
/* Creates path (mode 0600, truncated) and records to it. */
XmSink *xm_recorder_open (const char *path, const char *source,
                          gboolean secrets, GError **error);

/* ---- reading ---- */

typedef struct {
  int format_version;
  gboolean secrets;      /* recorded with secrets */
  char *source;
  char *xmitm_version;
  guint64 events;        /* events read */
  guint64 bad_lines;     /* lines skipped (reported through warn) */
  gboolean truncated;    /* the last line was cut short */
} XmRecordInfo;

void xm_record_info_clear (XmRecordInfo *info);

typedef void (*XmRecordWarnFunc) (const char *message, gpointer user_data);

/* Reads the recording at path and sends its events to sink in order. Fails
 * (FALSE, error) only when the file cannot be read or is not a recording at
 * all (empty, garbage, no header). Damage inside (a line that is not JSON,
 * an unknown event, a last line cut short by a crash) goes to warn, with the
 * line number, and reading goes on. */
gboolean xm_record_read (const char *path, XmSink *sink, XmRecordInfo *info,
                         XmRecordWarnFunc warn, gpointer warn_data,
                         GError **error);

/* The same from an open stream (a file, or memory through fmemopen); path
 * names it in messages. The stream is read to its end, not closed. */
gboolean xm_record_read_stream (FILE *in, const char *path, XmSink *sink,
                                XmRecordInfo *info, XmRecordWarnFunc warn,
                                gpointer warn_data, GError **error);

/* Called for each line that holds an event, just before its event (if it
 * makes one) reaches the sink: offset is where the line starts, counted
 * from where the stream was when reading began, and length its length
 * with its '\n'. An index of a recording (ui/event-index.c) learns each
 * event's place in the file this way, to seek back to it later. */
typedef void (*XmRecordLineFunc) (guint64 offset, guint64 length, gpointer user_data);

/* xm_record_read_stream, telling on_line where each event's line starts. */
gboolean xm_record_read_stream_lines (FILE *in, const char *path, XmSink *sink,
                                      XmRecordInfo *info, XmRecordWarnFunc warn,
                                      gpointer warn_data, XmRecordLineFunc on_line,
                                      gpointer line_data, GError **error);

/* The same reader fed one line at a time, for a file that grows (the
 * web UI's live view) or is read in slices (a large one indexed in the
 * background). info is cleared here and filled as lines come. */
typedef struct _XmRecordReader XmRecordReader;

/* The longest line read; a longer one is skipped. */
#define XM_RECORD_MAX_LINE (64u << 20)

XmRecordReader *xm_record_reader_new (const char *path, XmSink *sink,
                                      XmRecordInfo *info, XmRecordWarnFunc warn,
                                      gpointer warn_data, XmRecordLineFunc on_line,
                                      gpointer line_data);
/* One line of n bytes at offset, with its '\n' unless it is the file's
 * cut-short last one (line is written to). FALSE with error when the
 * first line is no recording header. */
gboolean xm_record_reader_line (XmRecordReader *r, char *line, gsize n,
                                guint64 offset, GError **error);
/* A line longer than any event was skipped: counted and warned about. */
gboolean xm_record_reader_skip_long_line (XmRecordReader *r, guint64 length,
                                          GError **error);
/* Lines read so far. */
guint64 xm_record_reader_lines (const XmRecordReader *r);
/* Flushes the sink. */
void xm_record_reader_free (XmRecordReader *r);

G_END_DECLS
