/* iq-pairing.h: which iq answers which (RFC 6120 §8.2.3), worked out one
 * event at a time as a recording is indexed (ui/event-index.c), so that it
 * works as well on a file that grows. */
#pragma once

#include "event.h"

G_BEGIN_DECLS

/* An iq's part in its exchange. */
#define XM_IQ_REQUEST (1u << 0)    /* a get or set */
#define XM_IQ_ANSWER (1u << 1)     /* a result or error */
#define XM_IQ_UNANSWERED (1u << 2) /* a request never answered: its
                                    * connection closed, the file ended, or
                                    * the same id was asked again first */
#define XM_IQ_UNTRACKED (1u << 3)  /* a request not paired: its connection
                                    * had XM_IQ_MAX_PENDING waiting, or all
                                    * had XM_IQ_MAX_PENDING_TOTAL */
#define XM_IQ_MAX_PENDING 4096
#define XM_IQ_MAX_PENDING_TOTAL 65536

typedef struct _XmIqPairing XmIqPairing;

/* Told that the request id never got its answer. */
typedef void (*XmIqUnansweredFunc) (guint64 id, gpointer data);

XmIqPairing *xm_iq_pairing_new (XmIqUnansweredFunc unanswered, gpointer data);
void xm_iq_pairing_free (XmIqPairing *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmIqPairing, xm_iq_pairing_free)

/* Event id, in order. Returns its XM_IQ_* (0 for anything but an iq with a
 * type and an id, 1 to a connection); for an answer to a waiting request,
 * sets *request to its id and *rtt_us to the time between them (else
 * leaves them). A connection's close tells unanswered of the requests it
 * left waiting. */
guint xm_iq_pairing_event (XmIqPairing *p, guint64 id, const XmEvent *ev,
                           guint64 *request, gint64 *rtt_us);

/* The events are all there are: tells unanswered of every request still
 * waiting. */
void xm_iq_pairing_finish (XmIqPairing *p);

G_END_DECLS
