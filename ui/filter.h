/* filter.h: which events reach the output (xmitm proxy, xmitm show FILE).
 *
 * A filter is built from command-line options. Different options must all
 * match (AND); the values of one option, given by repeating it (or, for
 * --conn, --dir and --kind, as a comma list), match if any of them does (OR).
 *
 *   --conn N      connection numbers: 3, 3,5 or a range 3-7
 *   --dir DIR     c2s (or client: what the client sent), s2c (or server)
 *   --kind KIND   message, presence, iq, or stream: everything that is not
 *                 a message/presence/iq stanza (stream headers, features,
 *                 TLS/SASL/compression negotiation, stream errors, XEP-0198,
 *                 keepalives, stream close, and the connection events
 *                 CONN_OPEN/CLOSE, LAYER, NOTE)
 *   --ns URI      the namespace of a child element of the stanza (the
 *                 payload of an <iq/>, any extension of a <message/>); a
 *                 top-level element that is no stanza (<auth/>, <r/>,
 *                 <stream:features/>) also matches its own namespace
 *   --jid JID     the stanza's or stream header's from or to; a bare JID
 *                 matches all its resources, a full JID only itself
 *   --grep REGEX  a GRegex (PCRE, case-sensitive unless (?i)) over the raw
 *                 XML of a stanza or stream header, or the text of a
 *                 connection event, note or layer change
 *
 * --conn and --dir apply to every event; events of the connection as a
 * whole (dir XM_DIR_NONE) pass any --dir. The content filters (--kind other
 * than stream, --ns, --jid, --grep) drop what they cannot match: events
 * without an element, stanzas too large to decode (no tree, no bytes).
 * A SASL event passes exactly when the STANZA event it decodes (the last
 * one of its connection) did. */
#pragma once

#include "sink.h"

G_BEGIN_DECLS

/* The option values as GOption collects them (G_OPTION_ARG_STRING_ARRAY):
 * NULL when an option was not given. Start from { 0 }. */
typedef struct {
  char **conn;
  char **dir;
  char **kind;
  char **ns;
  char **jid;
  char **grep;
} XmFilterArgs;

/* Frees the arrays and sets them to NULL. */
void xm_filter_args_clear (XmFilterArgs *args);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (XmFilterArgs, xm_filter_args_clear)

/* Adds --conn, --dir, --kind, --ns, --jid and --grep, bound to args, to the
 * main entries of ctx, so that a command's --help lists them with its own
 * (a GOptionGroup would hide them behind --help-all). args must outlive the
 * parse. */
void xm_filter_add_options (GOptionContext *ctx, XmFilterArgs *args);

/* A paragraph for a command's --help description: how the filters compose,
 * with examples. Ends with a newline. */
const char *xm_filter_help (void);

typedef struct _XmFilter XmFilter;

/* Checks and compiles args (NULL: no filter). On bad input returns NULL
 * and sets error (G_OPTION_ERROR_BAD_VALUE) to a message naming the option
 * and the value, e.g. "bad --dir 'up': use c2s (or client) or s2c (or
 * server)". Without any option the filter matches everything (see
 * xm_filter_is_empty). */
XmFilter *xm_filter_new (const XmFilterArgs *args, GError **error);
void xm_filter_free (XmFilter *filter);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmFilter, xm_filter_free)

/* TRUE if the filter has no option, so it matches every event. */
gboolean xm_filter_is_empty (const XmFilter *filter);

/* Whether event passes. Not const: the filter remembers each connection's
 * last STANZA verdict for the SASL event that follows it, so give it the
 * events of a session in order, each once. */
gboolean xm_filter_match (XmFilter *filter, const XmEvent *event);

/* What an event is to --kind (xm_filter_event_class). */
enum {
  XM_EVENT_CLASS_MESSAGE = 1u << 0,
  XM_EVENT_CLASS_PRESENCE = 1u << 1,
  XM_EVENT_CLASS_IQ = 1u << 2,
  XM_EVENT_CLASS_STREAM = 1u << 3,
};

/* What an event is to --kind (one XM_EVENT_CLASS_*, 0 when unknown: a
 * stanza too large to decode, a SASL event), for an index
 * to keep per event and give back to xm_filter_may_match. */
guint xm_filter_event_class (const XmEvent *event);

/* What --ns and --jid look at in an event, in two words for an index to
 * keep: each namespace (of the element's children, and of the element
 * itself when it is no stanza) sets two bits of ns; each JID of its from
 * and to, folded as --jid compares it, two bits of jid for the bare JID
 * and two more for the full one. A --ns or --jid value whose bits are not
 * all set cannot match. All 0 for an event without an element. */
typedef struct {
  guint32 ns;
  guint32 jid;
} XmFilterDigest;

/* Computes digests; remembers the JIDs it folded (at most 4,096). */
typedef struct _XmFilterDigester XmFilterDigester;
XmFilterDigester *xm_filter_digester_new (void);
void xm_filter_digester_free (XmFilterDigester *digester);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmFilterDigester, xm_filter_digester_free)
void xm_filter_event_digest (XmFilterDigester *digester, const XmEvent *event,
                             XmFilterDigest *out);

/* For a scan that knows an event only by its connection, direction, kind,
 * class and digest (an index; digest may be NULL: unknown): FALSE when the
 * event cannot pass whatever its content, so it may be skipped unread;
 * TRUE when it must be read and given to xm_filter_match. The tests are
 * those of xm_filter_match. */
gboolean xm_filter_may_match (const XmFilter *filter, guint conn, XmDir dir,
                              XmEventKind kind, guint event_class,
                              const XmFilterDigest *digest);

/* For a scan that has an event's line of a recording (JSON) before
 * parsing it: FALSE when the line cannot hold a match of --grep (each
 * regex's required text is absent: xm_grep_literals; or, for regexes
 * without such text, none matches the line's "xml" or "text" member,
 * which is what xm_filter_match searches; never for a line holding \u
 * escapes or base64), so it may be skipped unparsed (then call
 * xm_filter_skipped). Thread-safe. */
gboolean xm_filter_line_may_match (const XmFilter *filter, XmEventKind kind,
                                   const char *line, gsize len);

/* An event xm_filter_may_match ruled out, skipped: call it in the event's
 * place in the order, so the filter keeps what xm_filter_match would have
 * (the verdict a SASL event follows). */
void xm_filter_skipped (XmFilter *filter, guint conn, XmEventKind kind);

/* A sink that hands the events filter matches on to inner (flushes go
 * through). Owns both. An empty filter is freed and inner itself
 * returned. */
XmSink *xm_filter_sink_new (XmFilter *filter, XmSink *inner);

G_END_DECLS
