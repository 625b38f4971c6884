/* connect.h: connecting to HOST:PORT without blocking the loop: the name
 * is resolved with GLib's asynchronous resolver (an IP literal is used as
 * it is), then each address is tried in turn with a non-blocking connect,
 * each attempt with its own time limit; a domain without a port is found
 * through its SRV records first (RFC 6120 §3.2.1, XEP-0368). Shared by the
 * proxy's upstream legs and replay. */
#pragma once

#include <glib.h>

#include "srv.h"

G_BEGIN_DECLS

typedef struct _XmConnect XmConnect;

typedef struct {
  /* Before connect() on a new socket: options (SO_MARK, a source
   * address). FALSE with *why set skips this address. Optional. */
  gboolean (*socket_options) (int fd, int family, char **why, gpointer user_data);
  /* connect() started on fd (its local address is known). Optional. */
  void (*attempt) (int fd, gpointer user_data);
  /* Connected: fd (non-blocking, TCP_NODELAY) is now the caller's; or
   * fd -1 and why the last attempt failed. Called once, last, and never
   * from within xm_connect_start(): the caller may free the XmConnect
   * from it. */
  void (*done) (int fd, const char *error, gpointer user_data);
} XmConnectEvents;

/* timeout_s: per attempt ("no answer within N s (see --connect-timeout)");
 * 0 for none. */
XmConnect *xm_connect_start (const char *host, guint16 port, guint timeout_s,
                             const XmConnectEvents *events, gpointer user_data);
/* An XMPP domain, as a client finds it (srv.h): its SRV targets of the
 * wanted services in order, each resolved and tried as above, or the
 * domain on 5222 when it publishes none. The final error names each
 * target tried and why it failed. */
XmConnect *xm_connect_start_domain (const char *domain, XmSrvWant want, guint timeout_s,
                                    const XmConnectEvents *events, gpointer user_data);
/* In done, after a domain's success: the target that answered (how to
 * talk to it: direct_tls; what to print: via). NULL otherwise. */
const XmSrvTarget *xm_connect_target (XmConnect *connect);
/* ... and the targets that failed before it ("via: why; ..."), or NULL. */
const char *xm_connect_failed_first (XmConnect *connect);

/* Stops it (no callback afterwards) and closes a socket in progress. */
void xm_connect_free (XmConnect *connect);

G_END_DECLS
