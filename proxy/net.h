/* net.h: addresses and non-blocking sockets. */
#pragma once

#include <gio/gio.h>
#include <sys/socket.h>

G_BEGIN_DECLS

#define XM_NET_ERROR (xm_net_error_quark ())
GQuark xm_net_error_quark (void);

typedef enum {
  XM_NET_ERROR_ADDRESS, /* unparsable HOST:PORT */
  XM_NET_ERROR_LISTEN,
} XmNetError;

/* "host:port", "[v6]:port" or "v4:port"; host may be a name. */
gboolean xm_parse_hostport (const char *s, char **host, guint16 *port,
                            GError **error);
/* Formats host and port back, bracketing IPv6 literals. */
char *xm_hostport_to_string (const char *host, guint16 port) G_GNUC_WARN_UNUSED_RESULT;
char *xm_sockaddr_to_string (const struct sockaddr *sa) G_GNUC_WARN_UNUSED_RESULT;

/* A non-blocking listening socket on host:port (host numeric or a name that
 * resolves locally). Returns the fd, or -1 with error set. */
int xm_listen (const char *host, guint16 port, GError **error);

/* Marks fd non-blocking, close-on-exec, TCP_NODELAY. */
void xm_socket_setup (int fd);

G_END_DECLS
