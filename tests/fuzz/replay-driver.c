/* replay-driver.c: runs a fuzz target's LLVMFuzzerTestOneInput on files, so
 * that a build without libFuzzer (gcc, the normal build) replays each corpus
 * as a test. Arguments are files or directories (every regular file in them,
 * in name order). A directory with no file fails: a corpus that went missing
 * must not pass as an empty one. A crash, a sanitizer report or a GLib
 * critical aborts, and names the input on stderr first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "fuzz.h"

static gboolean
run_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  gsize len;

  if (!g_file_get_contents (path, &data, &len, &error))
    {
      fprintf (stderr, "replay: %s\n", error->message);
      return FALSE;
    }
  fprintf (stderr, "replay: %s (%" G_GSIZE_FORMAT " bytes)\n", path, len);
  /* A copy of exactly len bytes, so that ASan sees reads past the end. */
  {
    uint8_t *copy = g_memdup2 (data, len);
    LLVMFuzzerTestOneInput (copy, len);
    g_free (copy);
  }
  return TRUE;
}

static int
cmp_str (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
main (int argc, char **argv)
{
  guint runs = 0;

  if (argc < 2)
    {
      fprintf (stderr, "usage: %s FILE|DIR...\n", argv[0]);
      return 2;
    }
  for (int i = 1; i < argc; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) files = NULL;
      GDir *dir;
      const char *name;

      if (!g_file_test (argv[i], G_FILE_TEST_IS_DIR))
        {
          if (!run_file (argv[i]))
            return 1;
          runs++;
          continue;
        }
      dir = g_dir_open (argv[i], 0, &error);
      if (dir == NULL)
        {
          fprintf (stderr, "replay: %s\n", error->message);
          return 1;
        }
      files = g_ptr_array_new_with_free_func (g_free);
      while ((name = g_dir_read_name (dir)))
        {
          char *path = g_build_filename (argv[i], name, NULL);
          if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
            g_ptr_array_add (files, path);
          else
            g_free (path);
        }
      g_dir_close (dir);
      if (files->len == 0)
        {
          fprintf (stderr, "replay: %s holds no file\n", argv[i]);
          return 1;
        }
      g_ptr_array_sort (files, cmp_str);
      for (guint k = 0; k < files->len; k++)
        {
          if (!run_file (g_ptr_array_index (files, k)))
            return 1;
          runs++;
        }
    }
  printf ("replay: %u inputs ran\n", runs);
  return 0;
}
