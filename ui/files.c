/* files.c: private output files (recordings, captures), written whole. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"

static int
fail (GError **error, int err, const char *what, const char *path)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err), "%s %s: %s",
               what, path, g_strerror (err));
  return -1;
}

/* A symbolic link the system made (/dev/stdout, /dev/fd/N, /proc/self/fd/N)
 * may be followed; nobody else can plant one there. */
static gboolean
system_link (const char *path)
{
  return g_str_has_prefix (path, "/dev/") || g_str_has_prefix (path, "/proc/");
}

/* Never writes through a symbolic link someone could have planted (a link
 * to another user's file, or to /etc/passwd when run as root), and never
 * changes the mode of a file xmitm did not create: a new file is created
 * with O_EXCL | O_NOFOLLOW, mode 0600. An existing regular file is replaced
 * by a new one when truncating (the old inode, perhaps a hard link to
 * someone else's file, is left as it was), and appended to only when it is
 * xmitm's user's and private already. */
static int
open_private (const char *path, gboolean append, GError **error)
{
  int base = O_WRONLY | O_CLOEXEC | O_NOCTTY | (append ? O_APPEND : 0);

  for (int tries = 0; tries < 4; tries++)
    {
      struct stat st;
      int fd = open (path, base | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);

      if (fd >= 0)
        return fd;
      if (errno != EEXIST)
        return fail (error, errno, "cannot create", path);
      if (lstat (path, &st) != 0)
        {
          if (errno == ENOENT)
            continue;   /* removed meanwhile: create it */
          return fail (error, errno, "cannot create", path);
        }
      if (S_ISLNK (st.st_mode))
        {
          /* Opened without O_CREAT or O_TRUNC, so a link to a regular file
           * is refused before anything was done to it. */
          fd = open (path, base);
          if (fd < 0)
            return fail (error, errno, "cannot open", path);
          if (fstat (fd, &st) == 0 && !S_ISREG (st.st_mode) && !S_ISDIR (st.st_mode))
            return fd;   /* a terminal, a pipe, a device */
          if (system_link (path))
            {
              /* /dev/stdout redirected to a file: written after what is
               * there (empty after the shell's '>'), never over it */
              if (!append && fstat (fd, &st) == 0 && S_ISREG (st.st_mode))
                fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_APPEND);
              return fd;
            }
          close (fd);
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                       "%s is a symbolic link: xmitm does not write through one "
                       "(name the file itself, or remove the link)", path);
          return -1;
        }
      if (!S_ISREG (st.st_mode))
        {
          fd = open (path, base | O_NOFOLLOW);
          if (fd < 0)
            return fail (error, errno, "cannot open", path);
          return fd;     /* /dev/null, /dev/full, a FIFO */
        }
      if (!append)
        {
          if (unlink (path) == 0 || errno == ENOENT)
            continue;    /* and create a file of our own in its place */
          return fail (error, errno, "cannot replace", path);
        }
      fd = open (path, base | O_NOFOLLOW);
      if (fd < 0)
        return fail (error, errno, "cannot open", path);
      if (fstat (fd, &st) != 0)
        {
          int err = errno;
          close (fd);
          return fail (error, err, "cannot open", path);
        }
      if (S_ISREG (st.st_mode) && (st.st_uid != geteuid () || (st.st_mode & 0077)))
        {
          close (fd);
          if (st.st_uid != geteuid ())
            g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                         "%s belongs to another user (uid %u): xmitm does not "
                         "add secrets to it (remove it, or name another file)",
                         path, (unsigned) st.st_uid);
          else
            g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                         "%s can be read or written by others (mode %04o): "
                         "xmitm does not add secrets to it (chmod 600 it, or "
                         "name another file)", path, (unsigned) (st.st_mode & 07777));
          return -1;
        }
      return fd;
    }
  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
               "cannot create %s: it keeps being replaced", path);
  return -1;
}

int
xm_create_private (const char *path, GError **error)
{
  return open_private (path, FALSE, error);
}

int
xm_append_private (const char *path, GError **error)
{
  return open_private (path, TRUE, error);
}

gboolean
xm_same_file (const char *a, const char *b)
{
  struct stat sa, sb;

  return stat (a, &sa) == 0 && stat (b, &sb) == 0
         && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
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
