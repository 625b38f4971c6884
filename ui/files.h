/* files.h: files xmitm writes that hold private conversations. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Creates or truncates path for writing, mode 0600; an existing regular
 * file is made 0600 too (O_TRUNC keeps its old mode). Returns the fd, or -1
 * with error set. Devices and pipes (/dev/stdout, a FIFO) are left as
 * they are. */
int xm_create_private (const char *path, GError **error);

/* Opens path for appending (created if need be), mode 0600; an existing
 * regular file readable by others is made 0600 too. Returns the fd, or -1
 * with error set. */
int xm_append_private (const char *path, GError **error);

/* Writes all of data to fd, again after EINTR and short writes. Returns 0,
 * or the errno of the failure (EIO when write() took nothing). */
int xm_write_all (int fd, const void *data, gsize len);

G_END_DECLS
