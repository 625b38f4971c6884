/* poller.h: one GSource wrapping an epoll set, for every socket of the
 * process. GLib's own fd sources cost O(sources) per loop iteration; with
 * thousands of idle sessions that dominates, so sockets are watched here
 * and the GLib main loop sees a single fd. Level-triggered. */
#pragma once

#include <glib.h>
#include <sys/epoll.h>

G_BEGIN_DECLS

typedef struct _XmWatch XmWatch;

/* revents are EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP/EPOLLRDHUP bits. */
typedef void (*XmWatchFunc) (XmWatch *watch, guint32 revents, gpointer user_data);

/* Registers fd (not owned) for events; FALSE with errno set on failure. */
XmWatch *xm_watch_add (int fd, guint32 events, XmWatchFunc func, gpointer user_data);
void xm_watch_set_events (XmWatch *watch, guint32 events);
guint32 xm_watch_get_events (const XmWatch *watch);
/* Safe from inside any callback; no callback for watch runs afterwards. */
void xm_watch_remove (XmWatch *watch);

/* fn runs once after each round of socket callbacks: where sinks flush
 * what a round produced. One hook for the process. */
void xm_poller_set_after_dispatch (void (*fn) (gpointer), gpointer data);
/* TRUE while socket callbacks run (the hook will run afterwards). */
gboolean xm_poller_dispatching (void);

G_END_DECLS
