/* line-read.c: see line-read.h. */
#include "config.h"

#include <string.h>

#include "line-read.h"

#define CHUNK (256u << 10)

void
xm_line_reader_init (XmLineReader *lr, FILE *in)
{
  memset (lr, 0, sizeof *lr);
  lr->in = in;
  lr->buf = g_malloc (CHUNK);
}

void
xm_line_reader_clear (XmLineReader *lr)
{
  g_clear_pointer (&lr->buf, g_free);
  g_clear_pointer (&lr->line, g_free);
  lr->line_cap = 0;
}

static void
keep (XmLineReader *lr, gsize *len, const char *p, gsize n)
{
  if (*len + n + 1 > lr->line_cap)
    {
      lr->line_cap = MAX (*len + n + 1, lr->line_cap * 2);
      lr->line = g_realloc (lr->line, lr->line_cap);
    }
  memcpy (lr->line + *len, p, n);
  *len += n;
}

gssize
xm_line_read (XmLineReader *lr, gsize max, char **line, guint64 *dropped)
{
  guint64 total = 0;
  gsize len = 0;
  gboolean too_long = FALSE;

  for (;;)
    {
      const char *p, *nl;
      gsize take;

      if (lr->start == lr->end)
        {
          gsize n;

          if (lr->eof)
            break;
          n = fread (lr->buf, 1, CHUNK, lr->in);
          if (n == 0)
            {
              lr->eof = TRUE;
              break;
            }
          lr->start = 0;
          lr->end = n;
        }
      p = lr->buf + lr->start;
      nl = memchr (p, '\n', lr->end - lr->start);
      take = nl ? (gsize) (nl - p) + 1 : lr->end - lr->start;
      total += take;
      lr->start += take;
      if (!too_long && total > max)
        too_long = TRUE;
      if (!too_long)
        keep (lr, &len, p, take);
      if (nl)
        break;
    }
  if (total == 0)
    return 0;
  if (too_long)
    {
      *dropped = total;
      return -1;
    }
  keep (lr, &len, "", 0);
  lr->line[len] = '\0';
  *line = lr->line;
  return (gssize) len;
}
