/* event-index.h: a recording (or a packet capture) opened for browsing.
 *
 * The file is read once, through the same reader as `xmitm show`, to learn
 * where each event's line starts and what each connection was (addresses,
 * layers, bytes, bound JID). Nothing else is kept in memory: a page of
 * events is read again from the file, from the offset of its first event,
 * so a recording of millions of stanzas costs 32 bytes per event. A
 * capture is first decoded into a private temporary recording (unlinked at
 * once) and browsed the same way. */
#pragma once

#include "filter.h"
#include "iq-pairing.h"
#include "sink.h"

G_BEGIN_DECLS

typedef struct {
  guint conn;
  char *client;          /* address, NULL if not recorded */
  char *server;
  char *jid;             /* bound by the server (resource binding), or NULL */
  char *to;              /* the domain of the client's first stream header */
  guint flags;           /* XM_EVENT_FLAG_* of all its events */
  GPtrArray *layers;     /* char *: each layer change's text, in order */
  gint64 first_us, last_us;
  guint64 bytes[2];      /* client to server, server to client */
  gboolean closed;
  char *close_reason;
  guint64 events, stanzas;
  guint64 first_event;   /* the id of its first event */
  guint64 iq_untracked;  /* iq requests not paired: too many were waiting
                          * (XM_IQ_UNTRACKED) */
} XmIndexedSession;


/* What the index keeps of one event. */
typedef struct {
  guint conn;
  XmEventKind kind;
  XmDir dir;
  guint event_class;  /* xm_filter_event_class */
  XmFilterDigest digest; /* xm_filter_event_digest */
  guint iq;           /* XM_IQ_* */
  gint64 pair;        /* the id of its request or answer, or -1 */
  gint64 rtt_us;      /* from the request to the answer, or -1 */
} XmIndexedEvent;

typedef struct _XmEventIndex XmEventIndex;

/* Reads path (a recording, or a pcap/pcapng capture) and indexes it.
 * Damage inside the file goes to warn (as for xm_record_read); FALSE with
 * error when it cannot be read at all. */
XmEventIndex *xm_event_index_open (const char *path,
                                   void (*warn) (const char *message, gpointer data),
                                   gpointer warn_data, GError **error);
/* The same, reading only the header line now: the caller goes on with
 * xm_event_index_step (xmitm web indexes a large file in slices from its
 * main loop, and serves the first pages meanwhile). */
XmEventIndex *xm_event_index_open_lazy (const char *path,
                                        void (*warn) (const char *message, gpointer data),
                                        gpointer warn_data, GError **error);
/* A recording that is being written (fd, taken), read as it grows with
 * xm_event_index_grow; name names it in messages. */
XmEventIndex *xm_event_index_new_growing (int fd, const char *name,
                                          void (*warn) (const char *message, gpointer data),
                                          gpointer warn_data);
/* Indexes up to max_bytes (0: all) of what was appended since last time,
 * whole lines only (the rest waits for its end). *at_end (may be NULL):
 * nothing more to read for now. FALSE with error on a read failure or a
 * first line that is no recording header, and from then on (the index
 * keeps what it had). */
gboolean xm_event_index_grow (XmEventIndex *idx, gsize max_bytes,
                              gboolean *at_end, GError **error);
/* A file that does not grow: indexes up to max_bytes more; at its end
 * reads the last line even if cut short and sets *done. On a failure
 * (FALSE with error) it stops there, done, with what it indexed. */
gboolean xm_event_index_step (XmEventIndex *idx, gsize max_bytes,
                              gboolean *done, GError **error);
/* TRUE once xm_event_index_step reached the end. */
gboolean xm_event_index_finished (const XmEventIndex *idx);
/* Bytes of the file indexed so far, and its size now. */
void xm_event_index_progress (const XmEventIndex *idx, guint64 *read, guint64 *size);
void xm_event_index_free (XmEventIndex *idx);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmEventIndex, xm_event_index_free)

const char *xm_event_index_path (const XmEventIndex *idx);
/* Events are numbered from 0 in file order. */
guint64 xm_event_index_count (const XmEventIndex *idx);
/* TRUE if the file keeps secrets (recorded with --record-secrets, or a
 * capture, which holds every byte). */
gboolean xm_event_index_has_secrets (const XmEventIndex *idx);
/* The connections, by number. */
guint xm_event_index_n_sessions (const XmEventIndex *idx);
const XmIndexedSession *xm_event_index_session (const XmEventIndex *idx, guint i);

/* FALSE if there is no event id. */
gboolean xm_event_index_get (const XmEventIndex *idx, guint64 id,
                             XmIndexedEvent *out);

/* Marks the iq requests still waiting as unanswered (the file is
 * complete). Opening a file does this at its end. */
void xm_event_index_finish (XmEventIndex *idx);

/* Gets each event from id from on, in order; return FALSE to stop. */
typedef gboolean (*XmIndexEventFunc) (guint64 id, const XmEvent *event,
                                      gpointer data);

/* Reads the events from id from on again from the file and hands them to
 * fn until it returns FALSE or the events end. FALSE with error on a read
 * failure. */
gboolean xm_event_index_read (XmEventIndex *idx, guint64 from,
                              XmIndexEventFunc fn, gpointer data,
                              GError **error);

typedef enum {
  XM_INDEX_SKIP,  /* not this event: go on unread */
  XM_INDEX_READ,  /* read it and hand it on */
  XM_INDEX_STOP,  /* stop before it */
} XmIndexWant;

/* Decides, from what the index keeps (xm_event_index_get), which events
 * are read again. Called for each id in order. */
typedef XmIndexWant (*XmIndexWantFunc) (const XmEventIndex *idx, guint64 id,
                                        gpointer data);

/* Told of each id want skipped, in its place among the events handed on
 * (after those before it, before those after it). */
typedef void (*XmIndexSkipFunc) (const XmEventIndex *idx, guint64 id,
                                 gpointer data);

/* As xm_event_index_read, but only the events want asks for are read
 * (NULL: all), so a scan over a large file skips what it can; skip (may
 * be NULL) is told of the others in order. want runs ahead of the reading
 * (a round at a time): it must not depend on what fn has seen. */
gboolean xm_event_index_scan (XmEventIndex *idx, guint64 from,
                              XmIndexWantFunc want, XmIndexSkipFunc skip,
                              gpointer want_data, XmIndexEventFunc fn,
                              gpointer data, GError **error);

/* Asked of each line want asked to read, before it is parsed: FALSE
 * skips it. */
typedef gboolean (*XmIndexLineFunc) (const XmEventIndex *idx, guint64 id,
                                     const char *line, gsize len,
                                     gpointer data);

/* As xm_event_index_scan, and line_want (may be NULL; given want_data)
 * may turn a line down after it was read and before it is parsed. */
gboolean xm_event_index_scan_lines (XmEventIndex *idx, guint64 from,
                                    XmIndexWantFunc want,
                                    XmIndexLineFunc line_want,
                                    XmIndexSkipFunc skip, gpointer want_data,
                                    XmIndexEventFunc fn, gpointer data,
                                    GError **error);

G_END_DECLS
