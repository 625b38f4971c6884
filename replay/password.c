/* password.c: replay's --password-file. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "password.h"

#define PASSWORD_FILE_MAX (64u << 10)

char *
xm_password_read (const char *path, GError **error)
{
  gboolean std_in = strcmp (path, "-") == 0;
  const char *name = std_in ? "standard input" : path;
  g_autofree char *data = g_malloc (PASSWORD_FILE_MAX + 1);
  FILE *f = std_in ? stdin : fopen (path, "rbe");
  gsize n, len;
  char *nl;

  if (f == NULL)
    {
      int err = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                   "cannot open %s: %s", path, g_strerror (err));
      return NULL;
    }
  n = fread (data, 1, PASSWORD_FILE_MAX + 1, f);
  if (ferror (f))
    {
      int err = errno;
      if (!std_in)
        fclose (f);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                   "cannot read %s: %s", name, g_strerror (err));
      return NULL;
    }
  if (!std_in)
    fclose (f);
  if (n > PASSWORD_FILE_MAX)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s is over %u KiB: not a password file", name,
                   PASSWORD_FILE_MAX >> 10);
      return NULL;
    }
  nl = memchr (data, '\n', n);
  len = nl ? (gsize) (nl - data) : n;
  if (len > 0 && data[len - 1] == '\r')
    len--;
  if (memchr (data, '\0', len))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "the first line of %s holds a NUL byte: not a password", name);
      return NULL;
    }
  if (len == 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s holds no password (its first line is empty)", name);
      return NULL;
    }
  return g_strndup (data, len);
}
