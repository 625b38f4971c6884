/* sasl.h: decodes authentication exchanges into named fields.
 *
 * Covers RFC 6120 SASL (<auth>, <challenge>, <response>, <success>,
 * <failure>, <abort>), XEP-0388 SASL2 (<authenticate>, <initial-response>,
 * <challenge>, <response>, <success> with <additional-data> and
 * <authorization-identifier>, <failure>, <continue>) and XEP-0078
 * (jabber:iq:auth username/password/digest/resource).
 *
 * Pure: no printing. Fields that carry a secret (passwords, tokens) are
 * flagged; the sink decides whether to show them. Bad input (invalid base64,
 * whitespace inside base64, a PLAIN payload without its NULs, a truncated
 * SCRAM message) is a note on the decode, never a failure. */
#pragma once

#include <glib.h>
#include "stanza.h"

G_BEGIN_DECLS

typedef struct {
  char *name;        /* e.g. "authcid", "password", "r", "nonce" */
  char *value;       /* printable UTF-8; binary values are shown as hex */
  gsize raw_len;     /* length of the value in bytes before escaping */
  gboolean secret;   /* password, token, and whatever a client sends under
                      * a mechanism not decoded here: hide unless asked */
  gboolean binary;   /* value is raw_len bytes as lowercase hex; otherwise
                      * it is text with control characters, backslashes and
                      * bytes that are not UTF-8 escaped C-style (\n, \\,
                      * \x00, \u202E) */
} XmSaslField;

typedef struct {
  const char *protocol; /* static: "SASL" (RFC 6120), "SASL2" (XEP-0388) or
                         * "XEP-0078" */
  char *element;     /* local name of the decoded element ("auth",
                      * "success", ...); NULL for XEP-0078's <iq/> */
  char *mechanism;   /* "SCRAM-SHA-1", "PLAIN", ... or NULL if unknown */
  char *step;        /* "auth", "challenge", "response", "success", "failure",
                      * "abort", "iq-auth", ... and SCRAM's "client-first",
                      * "server-first", "client-final", "server-final" */
  GPtrArray *fields; /* XmSaslField*, in message order */
  GPtrArray *notes;  /* char*: problems met while decoding (bad base64 ...)
                      * and explanations (e.g. why a login failed) */
} XmSaslDecode;

/* An empty decode to fill in (a recording read back): protocol must be a
 * static string; fields and notes own what is added (XmSaslField from
 * g_new0 with g_malloc'd strings; g_malloc'd notes). */
XmSaslDecode *xm_sasl_decode_new (const char *protocol);
void xm_sasl_decode_free (XmSaslDecode *decode);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmSaslDecode, xm_sasl_decode_free)

/* One per session: remembers the mechanism the client picked (and its
 * SCRAM step, with the GS2 header and nonces later SCRAM messages must
 * repeat, and a pending XEP-0078 request) so later challenges, responses
 * and outcomes decode correctly, for both directions of the session. */
typedef struct _XmSasl XmSasl;

XmSasl *xm_sasl_new (void);
void xm_sasl_free (XmSasl *sasl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (XmSasl, xm_sasl_free)

/* Decodes a top-level element (a stanza as framed) if it belongs to an
 * authentication exchange; NULL otherwise, after a look at the element's
 * name and namespace (an <iq/> is authentication if it holds a
 * jabber:iq:auth query or answers a pending one). from_client tells the
 * direction. The element is only read during the call. Returns a new
 * decode. */
XmSaslDecode *xm_sasl_decode (XmSasl *sasl, const XmNode *element,
                              gboolean from_client) G_GNUC_WARN_UNUSED_RESULT;

/* Formats a decode as one line, e.g.
 * "SASL PLAIN auth: authzid='' authcid='juliet' password=<redacted, 12 bytes>"
 * or "SASL2 SCRAM-SHA-256 success (server-final): v='...' ..." (the step
 * follows the element in parentheses when they differ). Text values are in
 * single quotes (a quote inside is \'), binary ones are bare hex; notes
 * follow as " [note: ...]". The line holds no control character. Secrets are
 * shown only when show_secrets. A value longer than max_value bytes (as
 * shown; 0: no limit) is cut there, at a character, escape or hex byte, and
 * followed by "…[+N bytes, --full-text shows all]" (the bytes not shown; of
 * the value itself when it is hex). Returns a new string. */
char *xm_sasl_decode_format (const XmSaslDecode *decode, gboolean show_secrets,
                             gsize max_value) G_GNUC_WARN_UNUSED_RESULT;

/* The mechanism lists of stream features (RFC 6120 <mechanisms/>, XEP-0388
 * <authentication/>) offered: TRUE if name ends in "-PLUS". */
gboolean xm_sasl_is_plus (const char *mechanism);

G_END_DECLS
