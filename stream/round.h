/* round.h: what the proxy's sessions share within one main-loop round,
 * kept in one object the proxy owns (never in file-scope globals):
 *
 * - Gathering: plaintext bound for a TLS leg while one read is handled is
 *   gathered and sent at the end of the read as a few large records, one
 *   send instead of a record and a send per incoming record (a client that
 *   writes a record per stanza would cost one per stanza). One leg at a
 *   time: the process handles one read at a time.
 * - Late decode: past negotiation a session forwards first and decodes the
 *   copy it sent from right after the send, off the round trip's path: the
 *   gathered bytes from some offset on are still to be decoded.
 * - Busy legs: OpenSSL's release-buffers mode frees a leg's record buffers
 *   (about 17 KiB each way) whenever they drain: cheap for idle sessions, a
 *   malloc and free per record for busy ones. A session that reads
 *   XM_ROUND_HOT_STREAK times in a row, each within 10 ms of the last,
 *   keeps its buffers until it has been quiet for a second. */
#pragma once

#include "leg.h"

G_BEGIN_DECLS

typedef struct _XmRound XmRound;

/* Decodes bytes that src (a session's side) sent and that went out. */
typedef void (*XmRoundDecode) (gpointer src, const guint8 *data, gsize len);

XmRound *xm_round_new (void);
void xm_round_free (XmRound *round);

/* Appends plaintext for to (of owner); src and decode are set when the
 * bytes are still to be decoded. Sends at once past XM_LEG_READ_CHUNK. */
void xm_round_add (XmRound *round, gpointer owner, XmLeg *to,
                   const guint8 *data, gsize len, XmRoundDecode decode,
                   gpointer src);
/* Sends what was gathered, then decodes what is still to be decoded. */
void xm_round_flush (XmRound *round);
/* The same if what was gathered is for to (bytes keep their order), */
void xm_round_flush_leg (XmRound *round, XmLeg *to);
/* ... came from src (it is decoded before anything else about src), */
void xm_round_settle (XmRound *round, gpointer src);
/* ... or belongs to owner (it is closing). */
void xm_round_forget (XmRound *round, gpointer owner);
/* A late decode runs: nothing may be appended (it reads the buffer). */
gboolean xm_round_decoding (XmRound *round);

#define XM_ROUND_HOT_STREAK 32

typedef struct {
  XmLeg *legs[2];
  gboolean hot;
  guint streak;
  gint64 last_busy;
  GList link;
} XmRoundBusy;

/* A read of steady plaintext at now (µs). */
void xm_round_note_busy (XmRound *round, XmRoundBusy *busy, gint64 now);
/* The session closes: it leaves the busy list. */
void xm_round_busy_end (XmRound *round, XmRoundBusy *busy);

G_END_DECLS
