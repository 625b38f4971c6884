/* session.h: one client connection paired with its upstream connection.
 * Each direction forwards the original bytes untouched and feeds a copy to
 * its framer; stream negotiation seen by the framers switches layers. */
#pragma once

#include <sys/socket.h>
#include "proxy.h"

G_BEGIN_DECLS

/* Takes ownership of client_fd; the session frees itself once closed.
 * dest: where a redirected connection was going (transparent mode), with
 * how that was learnt ("NAT redirect", "TPROXY"); NULL for the configured
 * upstream. NULL if the session closed at once (its close was emitted). */
XmSession *xm_session_start (XmProxy *proxy, guint id, int client_fd,
                             const struct sockaddr *client_addr,
                             const struct sockaddr *dest, const char *how);
/* Closes both legs now (emits the close event once). */
void xm_session_close (XmSession *session, const char *reason);

/* Called by the proxy: the client has sent nothing within --tls-timeout. */
void xm_session_silence_expired (XmSession *session);

/* Called by the session when it has closed, for the proxy's bookkeeping. */
void xm_proxy_session_closed (XmProxy *proxy, XmSession *session);

G_END_DECLS
