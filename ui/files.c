/* files.c: private output files (recordings, captures), written whole. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"

static int
open_private (const char *path, int flags, GError **error)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0600);
  struct stat st;

  if (fd < 0)
    {
      int err = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                   "cannot create %s: %s", path, g_strerror (err));
      return -1;
    }
  if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && (st.st_mode & 0077)
      && fchmod (fd, 0600) != 0)
    {
      int err = errno;
      close (fd);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                   "cannot make %s private (mode 0600): %s", path, g_strerror (err));
      return -1;
    }
  return fd;
}

int
xm_create_private (const char *path, GError **error)
{
  return open_private (path, O_TRUNC, error);
}

int
xm_append_private (const char *path, GError **error)
{
  return open_private (path, O_APPEND, error);
}

int
xm_write_all (int fd, const void *data, gsize len)
{
  const char *p = data;

  while (len > 0)
    {
      ssize_t n = write (fd, p, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n < 0 ? errno : EIO;
      p += n;
      len -= (gsize) n;
    }
  return 0;
}

/* Step and reach of the write-behind: at each step, the newest WB_REACH
 * bytes before the file position are covered, so the newest step starts on
 * its way to disk and the steps before it, written back since, leave the
 * cache. A disk further behind than that leaves pages cached, as if
 * nothing were done. */
#define WB_STEP (2u << 20)
#define WB_REACH (4u * WB_STEP)

void
xm_write_behind_init (XmWriteBehind *wb, int fd)
{
  struct stat st;

  wb->fd = fstat (fd, &st) == 0 && S_ISREG (st.st_mode) ? fd : -1;
  wb->pending = 0;
}

void
xm_write_behind (XmWriteBehind *wb, gsize n)
{
  off_t pos, from;

  wb->pending += n;
  if (wb->fd < 0 || wb->pending < WB_STEP)
    return;
  wb->pending = 0;
  /* the position, not a count: the file may have had bytes before ours */
  pos = lseek (wb->fd, 0, SEEK_CUR);
  from = pos > (off_t) WB_REACH ? pos - (off_t) WB_REACH : 0;
  /* POSIX_FADV_DONTNEED starts write-back of the dirty pages in the range
   * and drops the clean ones. A file system that refuses is left alone. */
  if (pos < 0 || posix_fadvise (wb->fd, from, pos - from, POSIX_FADV_DONTNEED) != 0)
    wb->fd = -1;
}
