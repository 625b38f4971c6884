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

/* Write-behind for a file written once from start to end (a recording, a
 * capture). Every couple of MiB, the kernel is asked to start writing the
 * newest part to disk and to drop from its cache what it has written back
 * already: a long recording neither fills the page cache (pushing out what
 * the server under test and everything else on the machine had there) nor
 * piles up dirty pages that go to disk in one burst later. Pages are only
 * dropped once they are on disk, so no data is at risk. Nothing happens
 * for devices, pipes or terminals. */
typedef struct {
  int fd;        /* -1: not a regular file */
  gsize pending; /* bytes written since the last step */
} XmWriteBehind;

void xm_write_behind_init (XmWriteBehind *wb, int fd);
/* n more bytes went to the file with write(). */
void xm_write_behind (XmWriteBehind *wb, gsize n);

G_END_DECLS
