/* connect.h: connecting to HOST:PORT without blocking the loop: the name
 * is resolved with GLib's asynchronous resolver (an IP literal is used as
 * it is), then each address is tried in turn with a non-blocking connect,
 * each attempt with its own time limit. Shared by the proxy's upstream
 * legs and replay. */
#pragma once

#include <glib.h>

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
/* Stops it (no callback afterwards) and closes a socket in progress. */
void xm_connect_free (XmConnect *connect);

G_END_DECLS
