/* files.h: files xmitm writes that hold private conversations. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Creates path for writing, mode 0600, with O_EXCL | O_NOFOLLOW. An existing
 * regular file is replaced by a new one (unlinked first: never truncated
 * or chmod-ed, so a hard link to someone else's file is left alone). A
 * symbolic link is refused, unless it leads to a device, a pipe or a
 * terminal, or the path is under /dev/ or /proc/ (/dev/stdout). Devices
 * and pipes (/dev/null, a FIFO) are written as they are. Returns the fd,
 * or -1 with error set. */
int xm_create_private (const char *path, GError **error);

/* Opens path for appending: created as above if it does not exist; an
 * existing regular file must belong to xmitm's user and be private
 * already (mode 0600 or less), else it is refused (its mode is never
 * changed). Symbolic links as above. Returns the fd, or -1 with error set. */
int xm_append_private (const char *path, GError **error);

/* TRUE when both paths exist and name the same file (the same device and
 * inode, through any link): an output that is the input would destroy it. */
gboolean xm_same_file (const char *a, const char *b);

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
