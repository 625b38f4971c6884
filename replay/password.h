/* password.h: replay's password from a file or standard input, so that it
 * never has to be on the command line (where ps shows it to every user). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The first line of path ("-": standard input), without its line end
 * (\n or \r\n). Fails on an unreadable file, an empty first line, a NUL
 * byte, or a file over 64 KiB. Returns a new string, or NULL with error
 * set. */
char *xm_password_read (const char *path, GError **error) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
