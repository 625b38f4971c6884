/* test-files.c: private output files and their write-behind. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <glib/gstdio.h>

#include "files.h"

#define MIB (1u << 20)

/* A scratch directory on the file system of the build tree: /tmp may be a
 * tmpfs, whose pages never leave memory. */
static char *
scratch_dir (void)
{
  const char *top = g_getenv ("G_TEST_BUILDDIR");
  g_autofree char *tmpl = g_build_filename (top ? top : ".", "files-XXXXXX", NULL);
  char *dir = g_mkdtemp (g_steal_pointer (&tmpl));

  g_assert_nonnull (dir);
  return dir;
}

static void
remove_dir (char *dir, const char *file)
{
  g_autofree char *path = g_build_filename (dir, file, NULL);

  g_unlink (path);
  g_rmdir (dir);
  g_free (dir);
}

static void
test_private_mode (void)
{
  char *dir = scratch_dir ();
  g_autofree char *path = g_build_filename (dir, "rec.jsonl", NULL);
  g_autoptr (GError) error = NULL;
  struct stat st;
  int fd;

  /* an existing file readable by others is replaced by a private one */
  g_assert_true (g_file_set_contents (path, "old", -1, NULL));
  g_assert_cmpint (chmod (path, 0644), ==, 0);
  fd = xm_create_private (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fstat (fd, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (st.st_size, ==, 0);
  g_assert_cmpint (xm_write_all (fd, "hello\n", 6), ==, 0);
  close (fd);
  remove_dir (dir, "rec.jsonl");
}

static char *
slurp (const char *path)
{
  char *data = NULL;

  g_assert_true (g_file_get_contents (path, &data, NULL, NULL));
  return data;
}

static int
mode_of (const char *path)
{
  struct stat st;

  g_assert_cmpint (lstat (path, &st), ==, 0);
  return st.st_mode & 07777;
}

/* A symbolic link (planted where a recording, capture, report or key log
 * will go) to someone else's file: refused, in both modes, and the file it
 * points to keeps its content and its mode. A link to a device is written. */
static void
test_symlink_refused (void)
{
  char *dir = scratch_dir ();
  g_autofree char *victim = g_build_filename (dir, "victim", NULL);
  g_autofree char *link = g_build_filename (dir, "rec.jsonl", NULL);
  g_autofree char *content = NULL;
  g_autofree char *target = g_canonicalize_filename (victim, NULL);

  g_assert_true (g_file_set_contents (victim, "precious\n", -1, NULL));
  g_assert_cmpint (chmod (victim, 0644), ==, 0);
  g_assert_cmpint (symlink (target, link), ==, 0);
  for (int append = 0; append < 2; append++)
    {
      g_autoptr (GError) error = NULL;
      int fd = append ? xm_append_private (link, &error)
                      : xm_create_private (link, &error);

      g_assert_cmpint (fd, ==, -1);
      g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST);
      g_assert_nonnull (strstr (error->message, "is a symbolic link"));
    }
  content = slurp (victim);
  g_assert_cmpstr (content, ==, "precious\n");
  g_assert_cmpint (mode_of (victim), ==, 0644);
  g_unlink (link);

  /* a link to a device (what /dev/stdout is) is still written */
  g_assert_cmpint (symlink ("/dev/null", link), ==, 0);
  for (int append = 0; append < 2; append++)
    {
      g_autoptr (GError) error = NULL;
      int fd = append ? xm_append_private (link, &error)
                      : xm_create_private (link, &error);

      g_assert_no_error (error);
      g_assert_cmpint (xm_write_all (fd, "x", 1), ==, 0);
      close (fd);
    }
  g_assert_cmpint (mode_of ("/dev/null") & 0666, ==, 0666);
  g_unlink (link);
  remove_dir (dir, "victim");
}

/* A hard link to someone else's file: the recording replaces the name, the
 * file behind the link keeps its content and mode. */
static void
test_hard_link_left_alone (void)
{
  char *dir = scratch_dir ();
  g_autofree char *victim = g_build_filename (dir, "victim", NULL);
  g_autofree char *path = g_build_filename (dir, "rec.jsonl", NULL);
  g_autofree char *content = NULL, *ours = NULL;
  g_autoptr (GError) error = NULL;
  int fd;

  g_assert_true (g_file_set_contents (victim, "precious\n", -1, NULL));
  g_assert_cmpint (chmod (victim, 0644), ==, 0);
  g_assert_cmpint (link (victim, path), ==, 0);
  fd = xm_create_private (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (xm_write_all (fd, "mine\n", 5), ==, 0);
  close (fd);
  content = slurp (victim);
  g_assert_cmpstr (content, ==, "precious\n");
  g_assert_cmpint (mode_of (victim), ==, 0644);
  ours = slurp (path);
  g_assert_cmpstr (ours, ==, "mine\n");
  g_assert_cmpint (mode_of (path), ==, 0600);
  g_unlink (path);
  remove_dir (dir, "victim");
}

/* Appending (the key log): an existing file others can read is refused and
 * keeps its mode; a private one of ours is appended to. */
static void
test_append_existing (void)
{
  char *dir = scratch_dir ();
  g_autofree char *path = g_build_filename (dir, "keys.log", NULL);
  g_autofree char *content = NULL;
  g_autoptr (GError) error = NULL;
  int fd;

  g_assert_true (g_file_set_contents (path, "old\n", -1, NULL));
  g_assert_cmpint (chmod (path, 0644), ==, 0);
  fd = xm_append_private (path, &error);
  g_assert_cmpint (fd, ==, -1);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM);
  g_assert_nonnull (strstr (error->message, "(mode 0644)"));
  g_assert_cmpint (mode_of (path), ==, 0644);
  g_clear_error (&error);

  g_assert_cmpint (chmod (path, 0600), ==, 0);
  fd = xm_append_private (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (xm_write_all (fd, "new\n", 4), ==, 0);
  close (fd);
  content = slurp (path);
  g_assert_cmpstr (content, ==, "old\nnew\n");
  remove_dir (dir, "keys.log");
}

/* Pages of the file now in the page cache. */
static gsize
resident_pages (int fd, gsize len)
{
  gsize page = (gsize) sysconf (_SC_PAGESIZE), n = (len + page - 1) / page, count = 0;
  g_autofree unsigned char *vec = g_malloc (n);
  void *map = mmap (NULL, len, PROT_READ, MAP_SHARED, fd, 0);

  g_assert_true (map != MAP_FAILED);
  g_assert_cmpint (mincore (map, len, vec), ==, 0);
  for (gsize i = 0; i < n; i++)
    count += vec[i] & 1;
  munmap (map, len);
  return count;
}

static void
fill (guint8 *buf, gsize len, guint seed)
{
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) (i * 31 + seed);
}

/* A recording written MiB by MiB, each MiB on disk before the next (a disk
 * that keeps up): what was written back leaves the cache, and the file
 * reads back whole. Without the write-behind all 32 MiB stay cached. */
static void
test_write_behind_drops (void)
{
  char *dir = scratch_dir ();
  g_autofree char *path = g_build_filename (dir, "big.jsonl", NULL);
  g_autofree guint8 *buf = g_malloc (MIB);
  g_autofree guint8 *back = g_malloc (MIB);
  gsize page = (gsize) sysconf (_SC_PAGESIZE);
  XmWriteBehind wb;
  struct statfs fs;
  int fd;

  g_assert_cmpint (statfs (dir, &fs), ==, 0);
  if (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC)
    {
      g_test_skip ("the build tree is on a tmpfs, whose pages stay in memory");
      remove_dir (dir, "big.jsonl");
      return;
    }
  fd = open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  g_assert_cmpint (fd, >=, 0);
  xm_write_behind_init (&wb, fd);
  g_assert_cmpint (wb.fd, ==, fd);
  for (guint i = 0; i < 32; i++)
    {
      fill (buf, MIB, i);
      g_assert_cmpint (xm_write_all (fd, buf, MIB), ==, 0);
      g_assert_cmpint (fdatasync (fd), ==, 0);
      xm_write_behind (&wb, MIB);
    }
  g_assert_cmpint (wb.fd, ==, fd);
  /* the last step came at 32 MiB: what is left is the last two MiB at
   * most (written back, but in the cache until the next step) */
  g_assert_cmpuint (resident_pages (fd, 32 * MIB), <=, 2 * MIB / page);

  g_assert_cmpint (lseek (fd, 0, SEEK_SET), ==, 0);
  for (guint i = 0; i < 32; i++)
    {
      fill (buf, MIB, i);
      g_assert_cmpint (read (fd, back, MIB), ==, (int) MIB);
      g_assert_true (memcmp (buf, back, MIB) == 0);
    }
  close (fd);
  remove_dir (dir, "big.jsonl");
}

/* Bytes written before ours (a recording appended to standard output)
 * count: the step acts on the file position. */
static void
test_write_behind_position (void)
{
  char *dir = scratch_dir ();
  g_autofree char *path = g_build_filename (dir, "pos.jsonl", NULL);
  g_autofree guint8 *buf = g_malloc0 (MIB);
  gsize page = (gsize) sysconf (_SC_PAGESIZE);
  XmWriteBehind wb;
  int fd = open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  g_assert_cmpint (fd, >=, 0);
  for (guint i = 0; i < 20; i++)
    g_assert_cmpint (xm_write_all (fd, buf, MIB), ==, 0);
  g_assert_cmpint (fdatasync (fd), ==, 0);
  xm_write_behind_init (&wb, fd);
  for (guint i = 0; i < 2; i++)
    {
      g_assert_cmpint (xm_write_all (fd, buf, MIB), ==, 0);
      g_assert_cmpint (fdatasync (fd), ==, 0);
      xm_write_behind (&wb, MIB);
    }
  /* the step covered [14 MiB, 22 MiB): the 14 MiB before it stay */
  g_assert_cmpuint (resident_pages (fd, 14 * MIB), ==, 14 * MIB / page);
  g_assert_cmpuint (resident_pages (fd, 22 * MIB), ==, 14 * MIB / page);
  close (fd);
  remove_dir (dir, "pos.jsonl");
}

/* A pipe (or a terminal, or /dev/null) is not a file to act on. */
static void
test_write_behind_pipe (void)
{
  int p[2];
  XmWriteBehind wb;

  g_assert_cmpint (pipe (p), ==, 0);
  xm_write_behind_init (&wb, p[1]);
  g_assert_cmpint (wb.fd, ==, -1);
  xm_write_behind (&wb, 64 * MIB);
  g_assert_cmpint (wb.fd, ==, -1);
  close (p[0]);
  close (p[1]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/files/private-mode", test_private_mode);
  g_test_add_func ("/files/symlink-refused", test_symlink_refused);
  g_test_add_func ("/files/hard-link-left-alone", test_hard_link_left_alone);
  g_test_add_func ("/files/append-existing", test_append_existing);
  g_test_add_func ("/files/write-behind/drops", test_write_behind_drops);
  g_test_add_func ("/files/write-behind/position", test_write_behind_position);
  g_test_add_func ("/files/write-behind/pipe", test_write_behind_pipe);
  return g_test_run ();
}
