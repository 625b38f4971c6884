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
