/* srv.h: where an XMPP client connects for a domain (RFC 6120 §3.2.1,
 * XEP-0368): the _xmpps-client._tcp (direct TLS) and _xmpp-client._tcp
 * (STARTTLS) SRV records in RFC 2782 order, or the domain itself on 5222
 * when there are none. The plan is a pure function of the DNS answers, so
 * it is unit-tested without DNS; connect.c looks the records up with
 * GLib's asynchronous resolver and walks the plan. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Which services to look up: a client that opens with TLS can only use
 * direct-TLS records, one that opens in the clear only STARTTLS ones; a
 * client free to do either (replay) takes both, merged. */
typedef enum {
  XM_SRV_STARTTLS = 1 << 0,   /* _xmpp-client._tcp, then A/AAAA on 5222 */
  XM_SRV_DIRECT = 1 << 1,     /* _xmpps-client._tcp */
} XmSrvWant;

/* At most this many targets are tried, the first in order: each may cost
 * --connect-timeout, and an answer of hundreds of records (a hostile or
 * broken zone) would otherwise keep a client waiting for hours. */
#define XM_SRV_MAX_TARGETS 16

typedef enum {
  XM_SRV_ANSWER_NONE,        /* NXDOMAIN or no SRV record: not published */
  XM_SRV_ANSWER_RECORDS,
  XM_SRV_ANSWER_UNAVAILABLE, /* one record, target ".": RFC 2782 "decidedly
                              * not available at this domain" */
  XM_SRV_ANSWER_FAILED,      /* the lookup itself failed (SERVFAIL, timeout) */
} XmSrvAnswerKind;

typedef struct {
  XmSrvAnswerKind kind;
  GList *records;  /* RECORDS: GVariant (qqqs) priority, weight, port, target, as
                    * g_resolver_lookup_records() gives them; not owned */
  const char *why; /* FAILED: the resolver's message */
} XmSrvAnswer;

typedef struct {
  char *host;
  guint16 port;
  gboolean direct_tls;
  char *via;       /* for the output: "_xmpps-client._tcp.example.net SRV ->
                    * xmpp.example.net:5223 (direct TLS)", or "A/AAAA
                    * example.net:5222 (no SRV records)" */
} XmSrvTarget;

void xm_srv_target_free (XmSrvTarget *t);

/* The SRV name of a service for domain (ASCII). */
char *xm_srv_name (const char *domain, gboolean direct_tls) G_GNUC_WARN_UNUSED_RESULT;

/* Folds a resolver result (records or error) into an answer; the records
 * stay the caller's. */
void xm_srv_answer_from (XmSrvAnswer *answer, GList *records, const GError *error);

/* The targets to try, in order (XmSrvTarget, owned), or NULL with a
 * sentence in *why: the service is not available (the "." target), the
 * lookup failed, or a client that opens with TLS finds no direct-TLS
 * record. answers[0] is _xmpp-client's, answers[1] _xmpps-client's (the
 * one not wanted is ignored). Within one priority the order is RFC 2782's
 * weighted random one (g_srv_target_list_sort()); both services' records
 * are merged by priority (XEP-0368 §3). */
GPtrArray *xm_srv_plan (const char *domain, XmSrvWant want,
                        const XmSrvAnswer answers[2], char **why);

G_END_DECLS
