/* privdrop.h: xmitm proxy --user NAME: started as root (to bind a low port,
 * or for transparent mode), it runs as NAME once the listener is bound and
 * its files are open, keeping only the capabilities it needs per connection
 * (CAP_NET_ADMIN for --mark and --keep-source, none otherwise). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define XM_PRIVDROP_ERROR (xm_privdrop_error_quark ())
GQuark xm_privdrop_error_quark (void);

/* Before anything is opened: xmitm runs as root and NAME is a user.
 * FALSE with a sentence in error otherwise. */
gboolean xm_privdrop_check (const char *user, GError **error);

/* Becomes user (its groups, its gid, its uid), keeping CAP_NET_ADMIN if
 * keep_net_admin and no other capability (effective, permitted, inheritable,
 * ambient and bounding sets), with no_new_privs set; then checks that root
 * cannot be regained. Call while xmitm has one thread. Returns the line to
 * print ("running as user ... capabilities kept: ..."), or NULL with error:
 * xmitm must not go on then. */
char *xm_privdrop (const char *user, gboolean keep_net_admin, GError **error)
  G_GNUC_WARN_UNUSED_RESULT;

/* SIGINT, SIGTERM and SIGHUP are held (blocked) from
 * xm_stop_signals_hold(), called first thing, until
 * xm_stop_signals_release(), called once GLib's handlers for them are
 * added: GLib's signal handling starts a worker thread, so it comes after
 * the drop, and a signal before it must not kill xmitm with the default
 * action. Threads started in between inherit the block. */
void xm_stop_signals_hold (void);
void xm_stop_signals_release (void);

G_END_DECLS
