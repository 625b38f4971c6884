/* line-read.h: lines of a file with a bound on their length, so that one
 * enormous line (a damaged or hostile recording) costs no more memory than
 * the bound: its bytes are read and dropped, and only its length is kept. */
#pragma once

#include <stdio.h>
#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  FILE *in;
  char *buf;        /* what fread() brought, [start, end) not yet returned */
  gsize start, end;
  gboolean eof;
  char *line;       /* the line returned, NUL-terminated */
  gsize line_cap;
} XmLineReader;

void xm_line_reader_init (XmLineReader *lr, FILE *in);
void xm_line_reader_clear (XmLineReader *lr);

/* The next line of the file in *line (borrowed until the next call), with
 * its '\n' if it has one, and a NUL after it, as getline() gives it.
 * Returns its length; 0 at the end of the file or on a read error (see
 * ferror()). A line longer than max bytes is read past and not kept:
 * returns -1 with its length in *dropped. */
gssize xm_line_read (XmLineReader *lr, gsize max, char **line, guint64 *dropped);

G_END_DECLS
