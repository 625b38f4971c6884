/* sasl-private.h: what sasl.c, sasl-fields.c, sasl-mech.c and sasl-scram.c
 * share.
 *
 * sasl.c knows the XML (RFC 6120 §6, XEP-0388, XEP-0078) and takes the
 * base64 off payloads with sasl-fields.c; sasl-mech.c turns a decoded
 * payload into fields per mechanism and hands SCRAM to sasl-scram.c. Payloads are byte ranges, never
 * NUL-terminated strings: a NUL is data in PLAIN and in hostile input. */
#pragma once

#include "sasl.h"

G_BEGIN_DECLS

#define XM_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define XM_NS_SASL2 "urn:xmpp:sasl:2"
#define XM_NS_IQ_AUTH "jabber:iq:auth"

/* RFC 5802 §5: where the current SCRAM exchange stands. */
typedef enum {
  XM_SCRAM_NONE,
  XM_SCRAM_CLIENT_FIRST,
  XM_SCRAM_SERVER_FIRST,
  XM_SCRAM_CLIENT_FINAL,
  XM_SCRAM_SERVER_FINAL,
} XmScramStage;

struct _XmSasl {
  char *mechanism;       /* as the client named it in <auth/>/<authenticate/> */
  /* SCRAM: what later messages must repeat (RFC 5802 §5.1) */
  XmScramStage scram_stage;
  char *gs2_header;      /* client-first GS2 header, echoed in c= */
  char *client_nonce;    /* client-first r=, prefix of the server's r= */
  char *nonce;           /* server-first r=, repeated in client-final */
  /* XEP-0078: id of the client's pending <iq type='set'/> */
  char *iq_auth_id;
};

/* XML whitespace (XML 1.0 §2.3 S), the only kind around base64 payloads. */
static inline gboolean
xm_sasl_is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* sasl-fields.c */

/* Text bytes to printable UTF-8 (see XmSaslField.value). */
#define XM_SASL_ESC_BACKSLASH (1u << 0) /* "\" becomes "\\" */
#define XM_SASL_ESC_QUOTE (1u << 1)     /* "'" becomes "\'" */
void xm_sasl_escape (GString *out, const char *data, gsize len, guint flags);
/* Escaped, at most max bytes of input (then "..."), for notes. */
char *xm_sasl_excerpt (const char *data, gsize len, gsize max)
  G_GNUC_WARN_UNUSED_RESULT;

void xm_sasl_note (XmSaslDecode *d, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* Appends a text field (escaped) and returns it. */
XmSaslField *xm_sasl_field (XmSaslDecode *d, const char *name,
                            const char *data, gsize len, gboolean secret);
XmSaslField *xm_sasl_field_str (XmSaslDecode *d, const char *name,
                                const char *str, gboolean secret);
XmSaslField *xm_sasl_field_hex (XmSaslDecode *d, const char *name,
                                const guint8 *data, gsize len, gboolean secret);
/* Text if data is printable UTF-8 (tabs and line breaks allowed), else hex. */
XmSaslField *xm_sasl_field_data (XmSaslDecode *d, const char *name,
                                 const guint8 *data, gsize len, gboolean secret);

/* RFC 4648 §4 base64 as RFC 6120 §6.3.5 wants it. Notes every kind of
 * problem (prefixed with what), then decodes leniently: whitespace, invalid
 * characters and padding are skipped. Returns a new array, maybe empty. */
GByteArray *xm_sasl_base64_decode (XmSaslDecode *d, const char *what,
                                   const char *text, gsize len)
  G_GNUC_WARN_UNUSED_RESULT;

/* sasl.c: TRUE if mechanism is name, in any case (RFC 4422 §3.1 names
 * are upper case, peers are not always). */
gboolean xm_sasl_mech_is (const char *mechanism, const char *name);
/* 40 hex digits (a SHA-1: XEP-0078's digest, lower case only, and
 * XEP-0114's handshake, either case). */
gboolean xm_sasl_is_sha1_hex (const char *s, gboolean any_case);

/* sasl-mech.c: one SASL message of the session's mechanism. */
void xm_sasl_decode_payload (XmSasl *sasl, XmSaslDecode *d,
                             const guint8 *data, gsize len, gboolean from_client);
/* Called with an empty message or none: explains it where it means
 * something (e.g. the client's empty response after a SCRAM server-final). */
void xm_sasl_decode_no_payload (XmSasl *sasl, XmSaslDecode *d, gboolean from_client);

/* sasl-scram.c */
gboolean xm_sasl_is_scram (const char *mechanism);
void xm_sasl_scram_decode (XmSasl *sasl, XmSaslDecode *d,
                           const char *msg, gsize len, gboolean from_client);
void xm_sasl_scram_reset (XmSasl *sasl);
/* RFC 5801 §4 GS2 header ("n,," / "y,a=bob," / "p=tls-exporter,,") at the
 * start of msg: adds its fields and notes; returns its length including the
 * second comma, or 0 (with a note) when it is malformed. */
gsize xm_sasl_gs2_header (XmSaslDecode *d, const char *mechanism,
                          const char *msg, gsize len, gboolean allow_binding);

G_END_DECLS
