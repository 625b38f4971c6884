/* dialback-link.h: ties an XEP-0220 verification to the connection whose
 * key it checks.
 *
 * The receiving server checks the key an initiating server sent on one
 * connection (#1) by asking the authoritative server, usually over a
 * connection of its own (#3): <db:verify id='...'/> names the stream id
 * the receiving server gave #1 in its stream header. Fed every event of
 * every connection (in order), this says so on #3 in one line.
 *
 * Pure: events in, text out. Memory: the latest server stream id of each
 * open connection (at most MAX_ID bytes each), nothing of a closed one. */
#pragma once

#include <glib.h>
#include "event.h"

G_BEGIN_DECLS

typedef struct _XmDialbackLinks XmDialbackLinks;

XmDialbackLinks *xm_dialback_links_new (void);
void xm_dialback_links_free (XmDialbackLinks *links);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmDialbackLinks, xm_dialback_links_free)

/* Looks at an event (after it went to the sinks). For the XEP-0220 decode
 * of a <db:verify/> whose id is the server stream id of another open
 * connection, returns a note for the event's connection (a new string),
 * e.g. "XEP-0220: this db:verify checks the dialback key sent on #1
 * (a.test -> b.test, stream s1)"; NULL otherwise. */
char *xm_dialback_links_event (XmDialbackLinks *links, const XmEvent *event)
  G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
