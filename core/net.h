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
  XM_NET_ERROR_PRIVILEGE,      /* a capability is missing */
  XM_NET_ERROR_NOT_REDIRECTED, /* transparent mode: no original destination */
} XmNetError;

/* "host:port", "[v6]:port" or "v4:port"; host may be a name. */
gboolean xm_parse_hostport (const char *s, char **host, guint16 *port,
                            GError **error);
/* The server of --upstream or replay's --server: HOST:PORT as above, or an
 * XMPP domain alone (port 0), which is found through DNS SRV (srv.h); an
 * internationalised domain comes back as A-labels. An address literal
 * without a port is an error. */
gboolean xm_parse_server (const char *s, char **host, guint16 *port, GError **error);
/* Formats host and port back, bracketing IPv6 literals. */
char *xm_hostport_to_string (const char *host, guint16 port) G_GNUC_WARN_UNUSED_RESULT;
char *xm_sockaddr_to_string (const struct sockaddr *sa) G_GNUC_WARN_UNUSED_RESULT;

/* The numeric host (no brackets) and port of an IPv4/IPv6 address. */
void xm_sockaddr_host_port (const struct sockaddr *sa, char **host, guint16 *port);
/* Same address and port (IPv4, IPv6; a v4-mapped v6 equals its v4). */
gboolean xm_sockaddr_equal (const struct sockaddr *a, const struct sockaddr *b);

/* A non-blocking listening socket on host:port (host numeric or a name that
 * resolves locally). ip_transparent: IP_TRANSPARENT, for TPROXY (needs
 * CAP_NET_ADMIN). Returns the fd, or -1 with error set. */
int xm_listen (const char *host, guint16 port, gboolean ip_transparent,
               GError **error);

/* Transparent mode: where the accepted connection fd was going before
 * netfilter redirected it. NAT (tproxy FALSE): SO_ORIGINAL_DST or
 * IP6T_SO_ORIGINAL_DST; TPROXY: the socket's local address. FALSE with a
 * sentence in error when it was not redirected. */
gboolean xm_original_destination (int fd, gboolean tproxy,
                                  struct sockaddr_storage *dest, GError **error);

/* The sentence for a missing capability, e.g. from --mark. */
#define XM_NEED_CAP_NET_ADMIN "needs the CAP_NET_ADMIN capability (run it as " \
  "root, or give the binary the capability: setcap cap_net_admin+ep xmitm)"

/* Raises the soft limit on open descriptors to the hard limit (each
 * session holds two sockets; the usual soft limit of 1024 would stop xmitm
 * at about 500 connections). Returns the soft limit now in force. */
guint64 xm_raise_fd_limit (void);

/* Marks fd non-blocking, close-on-exec, TCP_NODELAY. */
void xm_socket_setup (int fd);

G_END_DECLS
