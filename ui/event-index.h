/* event-index.h: a recording (or a packet capture) opened for browsing.
 *
 * The file is read once, through the same reader as `xmitm show`, to learn
 * where each event's line starts and what each connection was (addresses,
 * layers, bytes, bound JID). Nothing else is kept in memory: a page of
 * events is read again from the file, from the offset of its first event,
 * so a recording of millions of stanzas costs 16 bytes per event. A
 * capture is first decoded into a private temporary recording (unlinked at
 * once) and browsed the same way. */
#pragma once

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
} XmIndexedSession;

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
 * first line that is no recording header. */
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

/* Gets each event from id from on, in order; return FALSE to stop. */
typedef gboolean (*XmIndexEventFunc) (guint64 id, const XmEvent *event,
                                      gpointer data);

/* Reads the events from id from on again from the file and hands them to
 * fn until it returns FALSE or the events end. FALSE with error on a read
 * failure. */
gboolean xm_event_index_read (XmEventIndex *idx, guint64 from,
                              XmIndexEventFunc fn, gpointer data,
                              GError **error);

G_END_DECLS
