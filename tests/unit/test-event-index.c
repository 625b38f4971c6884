/* test-event-index.c: an index grown slice by slice (a live recording,
 * a large file indexed in the background) equals one built in one go. */
#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "event-index.h"

static char *
corpus (const char *name)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "fuzz", "corpus",
                                                 "record-read", name, NULL);
  char *text = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  return text;
}

static gboolean
collect (guint64 id, const XmEvent *ev, gpointer data)
{
  GString *out = data;

  g_string_append_printf (out, "%" G_GUINT64_FORMAT " %u %d %d ", id, ev->conn,
                          ev->kind, ev->dir);
  if (ev->stanza && ev->stanza->raw)
    g_string_append_len (out, (const char *) ev->stanza->raw, ev->stanza->raw_len);
  g_string_append_c (out, '\n');
  return TRUE;
}

/* Everything the index says, as text to compare. */
static char *
describe (XmEventIndex *idx, guint64 from)
{
  GString *out = g_string_new (NULL);
  g_autoptr (GError) error = NULL;

  g_string_append_printf (out, "events %" G_GUINT64_FORMAT " secrets %d\n",
                          xm_event_index_count (idx), xm_event_index_has_secrets (idx));
  for (guint i = 0; i < xm_event_index_n_sessions (idx); i++)
    {
      const XmIndexedSession *s = xm_event_index_session (idx, i);
      g_string_append_printf (out, "#%u %s %s jid=%s to=%s layers=%u c2s=%"
                              G_GUINT64_FORMAT " s2c=%" G_GUINT64_FORMAT
                              " closed=%d events=%" G_GUINT64_FORMAT "\n",
                              s->conn, s->client, s->server, s->jid, s->to,
                              s->layers->len, s->bytes[0], s->bytes[1], s->closed,
                              s->events);
    }
  g_assert_true (xm_event_index_read (idx, from, collect, out, &error));
  g_assert_no_error (error);
  return g_string_free (out, FALSE);
}

static void
append (int fd, const char *bytes, gsize len)
{
  g_assert_cmpint (write (fd, bytes, len), ==, (gssize) len);
}

/* The file written in slices of every size from 1 byte up, cut anywhere
 * (inside a line, inside a UTF-8 sequence), indexed after each. */
static void
test_grow_in_slices (void)
{
  g_autofree char *text = corpus ("session-tls.jsonl");
  gsize len = strlen (text);
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("xmitm-index-XXXXXX", &error);
  g_autofree char *whole_path = g_build_filename (dir, "whole.jsonl", NULL);
  g_autofree char *grown_path = g_build_filename (dir, "grown.jsonl", NULL);
  g_autoptr (XmEventIndex) whole = NULL;
  g_autofree char *expected = NULL;
  gsize slices[] = { 1, 7, 100, 4096, 1 << 20 };

  g_assert_true (g_file_set_contents (whole_path, text, len, &error));
  whole = xm_event_index_open (whole_path, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (xm_event_index_count (whole), >, 20);
  expected = describe (whole, 0);

  for (gsize k = 0; k < G_N_ELEMENTS (slices); k++)
    {
      int wfd = open (grown_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      int rfd = open (grown_path, O_RDONLY | O_CLOEXEC);
      g_autoptr (XmEventIndex) grown = xm_event_index_new_growing (rfd, "grown", NULL, NULL);
      g_autofree char *got = NULL;
      guint64 before = 0;

      for (gsize at = 0; at < len; at += slices[k])
        {
          gboolean at_end = FALSE;

          append (wfd, text + at, MIN (slices[k], len - at));
          /* a small budget: several calls per slice for the large ones */
          while (!at_end)
            g_assert_true (xm_event_index_grow (grown, 999, &at_end, &error));
          g_assert_no_error (error);
          /* never fewer than before, and a page read mid-way works */
          g_assert_cmpuint (xm_event_index_count (grown), >=, before);
          before = xm_event_index_count (grown);
          if (before > 0 && slices[k] >= 100)
            g_free (describe (grown, before - 1));
        }
      close (wfd);
      got = describe (grown, 0);
      g_assert_cmpstr (got, ==, expected);
    }
  g_unlink (whole_path);
  g_unlink (grown_path);
  g_rmdir (dir);
}

/* xmitm web indexes a file in small steps: the same index, the first
 * pages readable before the end. */
static void
test_lazy_steps (void)
{
  g_autofree char *text = corpus ("session-plain.jsonl");
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("xmitm-index-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "r.jsonl", NULL);
  g_autoptr (XmEventIndex) whole = NULL, lazy = NULL;
  g_autofree char *expected = NULL, *got = NULL;
  gboolean done = FALSE;
  guint steps = 0;
  guint64 read, size;

  /* a last line cut short (xmitm killed): read at the end of the steps */
  g_assert_true (g_file_set_contents (path, text, strlen (text) - 5, &error));
  whole = xm_event_index_open (path, NULL, NULL, &error);
  g_assert_no_error (error);
  expected = describe (whole, 0);
  lazy = xm_event_index_open_lazy (path, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (xm_event_index_count (lazy), <, xm_event_index_count (whole));
  while (!done)
    {
      g_assert_true (xm_event_index_step (lazy, 512, &done, &error));
      xm_event_index_progress (lazy, &read, &size);
      g_assert_cmpuint (read, <=, size);
      steps++;
    }
  g_assert_cmpuint (steps, >, 10);
  g_assert_true (xm_event_index_finished (lazy));
  got = describe (lazy, 0);
  g_assert_cmpstr (got, ==, expected);
  g_unlink (path);
  g_rmdir (dir);
}

/* Not a recording: refused at once, lazily too. */
static void
test_lazy_refuses_garbage (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("xmitm-index-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "g.jsonl", NULL);
  XmEventIndex *idx;

  g_assert_true (g_file_set_contents (path, "hello\nworld\n", -1, &error));
  idx = xm_event_index_open_lazy (path, NULL, NULL, &error);
  g_assert_null (idx);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (path, "", 0, &error));
  idx = xm_event_index_open_lazy (path, NULL, NULL, &error);
  g_assert_null (idx);
  g_assert_nonnull (strstr (error->message, "empty"));
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/event-index/grow-in-slices", test_grow_in_slices);
  g_test_add_func ("/event-index/lazy-steps", test_lazy_steps);
  g_test_add_func ("/event-index/lazy-refuses-garbage", test_lazy_refuses_garbage);
  return g_test_run ();
}
