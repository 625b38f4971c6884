/* test-tcp-reasm.c: TCP reassembly of one direction: order, duplicates,
 * overlaps, gaps, sequence wraparound and captures that start mid-stream. */
#include "config.h"

#include <string.h>

#include "tcp-reasm.h"

typedef struct {
  XmTcpReasmProblem kind;
  guint64 offset, len;
} Problem;

typedef struct {
  GString *data;
  guint64 expect_off;  /* where the next delivery must start */
  GArray *problems;    /* Problem */
  gboolean count_only; /* do not keep the data */
} Collect;

static void
on_data (const guint8 *data, gsize len, guint64 offset, gpointer user_data)
{
  Collect *k = user_data;

  g_assert_cmpuint (len, >, 0);
  g_assert_cmpuint (offset, ==, k->expect_off);
  k->expect_off += len;
  if (!k->count_only)
    g_string_append_len (k->data, (const char *) data, len);
}

static void
on_problem (XmTcpReasmProblem kind, guint64 offset, guint64 len,
            const char *message, gpointer user_data)
{
  Collect *k = user_data;
  Problem p = { kind, offset, len };

  g_assert_nonnull (message);
  g_test_message ("problem: %s", message);
  if (kind == XM_TCP_REASM_GAP)
    {
      g_assert_cmpuint (offset, ==, k->expect_off);
      k->expect_off += len;
    }
  g_array_append_val (k->problems, p);
}

static const XmTcpReasmEvents events = { on_data, on_problem };

static void
collect_init (Collect *k)
{
  k->data = g_string_new (NULL);
  k->expect_off = 0;
  k->problems = g_array_new (FALSE, TRUE, sizeof (Problem));
  k->count_only = FALSE;
}

static void
collect_clear (Collect *k)
{
  g_string_free (k->data, TRUE);
  g_array_unref (k->problems);
}

static const Problem *
problem (Collect *k, guint i)
{
  g_assert_cmpuint (i, <, k->problems->len);
  return &g_array_index (k->problems, Problem, i);
}

/* len bytes that do not repeat within a short window. */
static char *
make_stream (gsize len)
{
  char *s = g_malloc (len + 1);

  for (gsize i = 0; i < len; i++)
    s[i] = 'A' + (char) ((i * 7 + i / 26) % 26);
  s[len] = 0;
  return s;
}

/* Stream bytes [a, b) as a segment. */
static void
seg (XmTcpReasm *r, guint32 isn, const char *s, gsize a, gsize b, guint flags)
{
  xm_tcp_reasm_feed (r, isn + 1 + (guint32) a, flags, (const guint8 *) s + a, b - a);
}

static void
test_in_order (void)
{
  g_autofree char *s = make_stream (4000);
  g_autoptr (XmTcpReasm) r = NULL;
  Collect k;
  guint32 isn = 123456;

  collect_init (&k);
  r = xm_tcp_reasm_new (&events, &k);
  xm_tcp_reasm_feed (r, isn, XM_TCP_SYN, NULL, 0);
  for (gsize a = 0; a < 4000; a += 1000)
    seg (r, isn, s, a, a + 1000, 0);
  g_assert_false (xm_tcp_reasm_finished (r));
  xm_tcp_reasm_feed (r, isn + 4001, XM_TCP_FIN, NULL, 0);
  g_assert_true (xm_tcp_reasm_finished (r));
  xm_tcp_reasm_flush (r);
  g_assert_cmpstr (k.data->str, ==, s);
  g_assert_cmpuint (k.problems->len, ==, 0);
  g_assert_cmpuint (xm_tcp_reasm_offset (r), ==, 4000);
  g_assert_cmpuint (xm_tcp_reasm_delivered (r), ==, 4000);
  g_assert_cmpuint (xm_tcp_reasm_buffered (r), ==, 0);
  collect_clear (&k);
}

/* Segments of random sizes in random order; the FIN among them. */
static void
test_out_of_order (void)
{
  g_autofree char *s = make_stream (4000);

  for (int round = 0; round < 50; round++)
    {
      g_autoptr (XmTcpReasm) r = NULL;
      g_autoptr (GArray) cuts = g_array_new (FALSE, FALSE, sizeof (gsize));
      Collect k;
      guint32 isn = g_test_rand_int ();
      gsize a = 0;

      collect_init (&k);
      r = xm_tcp_reasm_new (&events, &k);
      xm_tcp_reasm_feed (r, isn, XM_TCP_SYN, NULL, 0);
      while (a < 4000)
        {
          g_array_append_val (cuts, a);
          a = MIN (4000, a + g_test_rand_int_range (1, 600));
        }
      for (guint i = cuts->len; i > 1; i--)
        {
          guint j = g_test_rand_int_range (0, i);
          gsize t = g_array_index (cuts, gsize, i - 1);
          g_array_index (cuts, gsize, i - 1) = g_array_index (cuts, gsize, j);
          g_array_index (cuts, gsize, j) = t;
        }
      for (guint i = 0; i < cuts->len; i++)
        {
          gsize from = g_array_index (cuts, gsize, i), to = 4000;
          for (guint j = 0; j < cuts->len; j++)
            if (g_array_index (cuts, gsize, j) > from)
              to = MIN (to, g_array_index (cuts, gsize, j));
          seg (r, isn, s, from, to, to == 4000 ? XM_TCP_FIN : 0);
        }
      g_assert_true (xm_tcp_reasm_finished (r));
      g_assert_cmpstr (k.data->str, ==, s);
      g_assert_cmpuint (k.problems->len, ==, 0);
      g_assert_cmpuint (xm_tcp_reasm_buffered (r), ==, 0);
      collect_clear (&k);
    }
}

static void
test_duplicates (void)
{
  g_autofree char *s = make_stream (3000);
  g_autoptr (XmTcpReasm) r = NULL;
  Collect k;
  guint32 isn = 77;

  collect_init (&k);
  r = xm_tcp_reasm_new (&events, &k);
  xm_tcp_reasm_feed (r, isn, XM_TCP_SYN, NULL, 0);
  xm_tcp_reasm_feed (r, isn, XM_TCP_SYN, NULL, 0);
  /* A retransmission of a delivered segment, and of a buffered one. */
  seg (r, isn, s, 0, 1000, 0);
  seg (r, isn, s, 0, 1000, 0);
  seg (r, isn, s, 2000, 3000, 0);
  seg (r, isn, s, 2000, 3000, 0);
  seg (r, isn, s, 1000, 2000, 0);
  seg (r, isn, s, 1000, 2000, 0);
  seg (r, isn, s, 0, 3000, 0);
  g_assert_cmpstr (k.data->str, ==, s);
  g_assert_cmpuint (k.problems->len, ==, 0);
  collect_clear (&k);
}

/* Retransmissions cut differently from the first copies (same bytes). */
static void
test_overlap_same (void)
{
  g_autofree char *s = make_stream (3000);
  g_autoptr (XmTcpReasm) r = NULL;
  Collect k;
  guint32 isn = 5;

  collect_init (&k);
  r = xm_tcp_reasm_new (&events, &k);
  xm_tcp_reasm_feed (r, isn, XM_TCP_SYN, NULL, 0);
  seg (r, isn, s, 0, 500, 0);
  seg (r, isn, s, 1500, 2000, 0);
  seg (r, isn, s, 2500, 2600, 0);
  g_assert_cmpuint (k.data->len, ==, 500);
  /* Covers delivered, missing, buffered, missing, buffered and new bytes. */
  seg (r, isn, s, 400, 2800, 0);
  g_assert_cmpuint (k.data->len, ==, 2800);
  seg (r, isn, s, 2700, 3000, 0);
  g_assert_cmpstr (k.data->str, ==, s);
  g_assert_cmpuint (k.problems->len, ==, 0);
  collect_clear (&k);
}

/* Where copies disagree the first one wins, delivered or still buffered. */
static void
test_overlap_different (void)
{
  g_autofree char *s = make_stream (3000);
  g_autofree char *other = g_strdup (s);
  g_autoptr (XmTcpReasm) r = NULL;
  Collect k;
  guint32 isn = 9;

  memset (other + 300, '#', 20);    /* delivered bytes */
  memset (other + 1600, '#', 20);   /* buffered bytes */
  collect_init (&k);
  r = xm_tcp_reasm_new (&events, &k);
  xm_tcp_reasm_feed (r, isn, XM_TCP_SYN, NULL, 0);
  seg (r, isn, s, 0, 1000, 0);
  seg (r, isn, s, 1500, 2000, 0);
  seg (r, isn, other, 200, 1100, 0);
  g_assert_cmpuint (k.problems->len, ==, 1);
  g_assert_cmpint (problem (&k, 0)->kind, ==, XM_TCP_REASM_CONFLICT);
  g_assert_cmpuint (problem (&k, 0)->offset, ==, 200);
  seg (r, isn, other, 1100, 1700, 0);
  g_assert_cmpuint (k.problems->len, ==, 2);
  g_assert_cmpint (problem (&k, 1)->kind, ==, XM_TCP_REASM_CONFLICT);
  g_assert_cmpuint (problem (&k, 1)->offset, ==, 1500);
  seg (r, isn, s, 2000, 3000, 0);
  g_assert_cmpstr (k.data->str, ==, s);
  g_assert_cmpuint (k.problems->len, ==, 2);
  collect_clear (&k);
}

/* Bytes that never came before the FIN: reported at the flush, the data
 * after them still comes out. */
static void
test_gap_at_fin (void)
{
  g_autofree char *s = make_stream (3000);
  g_autoptr (XmTcpReasm) r = NULL;
  g_autoptr (GString) want = g_string_new (NULL);
  Collect k;
  guint32 isn = 1000;

  collect_init (&k);
  r = xm_tcp_reasm_new (&events, &k);
  xm_tcp_reasm_feed (r, isn, XM_TCP_SYN, NULL, 0);
  seg (r, isn, s, 0, 1000, 0);
  seg (r, isn, s, 1200, 2000, 0);
  /* FIN alone at 3000: 2000..3000 missing as well. */
  xm_tcp_reasm_feed (r, isn + 1 + 3000, XM_TCP_FIN, NULL, 0);
  g_assert_false (xm_tcp_reasm_finished (r));
  g_assert_cmpuint (k.data->len, ==, 1000);
  xm_tcp_reasm_flush (r);
  g_assert_true (xm_tcp_reasm_finished (r));
  g_string_append_len (want, s, 1000);
  g_string_append_len (want, s + 1200, 800);
  g_assert_cmpstr (k.data->str, ==, want->str);
  g_assert_cmpuint (k.problems->len, ==, 2);
  g_assert_cmpint (problem (&k, 0)->kind, ==, XM_TCP_REASM_GAP);
  g_assert_cmpuint (problem (&k, 0)->offset, ==, 1000);
  g_assert_cmpuint (problem (&k, 0)->len, ==, 200);
  g_assert_cmpint (problem (&k, 1)->kind, ==, XM_TCP_REASM_GAP);
  g_assert_cmpuint (problem (&k, 1)->offset, ==, 2000);
  g_assert_cmpuint (problem (&k, 1)->len, ==, 1000);
  g_assert_cmpuint (xm_tcp_reasm_offset (r), ==, 3000);
  g_assert_cmpuint (xm_tcp_reasm_delivered (r), ==, 1800);
  /* Late data past the FIN is not stream data. */
  seg (r, isn, s, 3000, 3100, 0);
  g_assert_cmpuint (k.data->len, ==, 1800);
  collect_clear (&k);
}

/* Sequence numbers cross 2^32, in and out of order. */
static void
test_wraparound (void)
{
  g_autofree char *s = make_stream (4000);
  guint32 isns[] = { 0xFFFFFFFFu, 0xFFFFFC00u, 0xFFFFF830u };

  for (guint i = 0; i < G_N_ELEMENTS (isns); i++)
    {
      g_autoptr (XmTcpReasm) r = NULL;
      Collect k;
      guint32 isn = isns[i];

      collect_init (&k);
      r = xm_tcp_reasm_new (&events, &k);
      xm_tcp_reasm_feed (r, isn, XM_TCP_SYN, NULL, 0);
      seg (r, isn, s, 0, 700, 0);
      seg (r, isn, s, 2100, 4000, XM_TCP_FIN);
      seg (r, isn, s, 1400, 2100, 0);
      seg (r, isn, s, 700, 1400, 0);
      seg (r, isn, s, 500, 1500, 0);
      g_assert_true (xm_tcp_reasm_finished (r));
      g_assert_cmpstr (k.data->str, ==, s);
      g_assert_cmpuint (k.problems->len, ==, 0);
      collect_clear (&k);
    }
}

/* More than 4 GiB of stream: offsets keep counting past 2^32. */
static void
test_long_stream (void)
{
  g_autofree guint8 *buf = g_malloc0 (1 << 20);
  g_autoptr (XmTcpReasm) r = NULL;
  Collect k;
  guint32 seq = 0xFFFF0000u;
  guint64 total = (G_GUINT64_CONSTANT (1) << 32) + (3 << 20);

  collect_init (&k);
  k.count_only = TRUE;
  r = xm_tcp_reasm_new (&events, &k);
  xm_tcp_reasm_feed (r, seq - 1, XM_TCP_SYN, NULL, 0);
  for (guint64 done = 0; done < total; done += 1 << 20)
    {
      xm_tcp_reasm_feed (r, seq, 0, buf, 1 << 20);
      seq += 1 << 20;
    }
  g_assert_cmpuint (xm_tcp_reasm_offset (r), ==, total);
  g_assert_cmpuint (k.expect_off, ==, total);
  g_assert_cmpuint (k.problems->len, ==, 0);
  collect_clear (&k);
}

/* No SYN: the first byte seen is offset 0; older bytes are trimmed. */
static void
test_mid_connection (void)
{
  g_autofree char *s = make_stream (3000);
  g_autoptr (XmTcpReasm) r = NULL;
  Collect k;
  guint32 base = 0x80000000u;

  collect_init (&k);
  r = xm_tcp_reasm_new (&events, &k);
  xm_tcp_reasm_feed (r, base + 1000, 0, (const guint8 *) s + 1000, 500);
  g_assert_cmpuint (k.data->len, ==, 500);
  /* Out of order after the first segment, and a retransmission starting
   * before it. */
  xm_tcp_reasm_feed (r, base + 2000, 0, (const guint8 *) s + 2000, 1000);
  xm_tcp_reasm_feed (r, base + 900, 0, (const guint8 *) s + 900, 1100);
  g_assert_cmpstr (k.data->str, ==, s + 1000);
  g_assert_cmpuint (k.problems->len, ==, 0);
  g_assert_cmpuint (xm_tcp_reasm_offset (r), ==, 2000);
  collect_clear (&k);
}

/* A hole that is never filled: the buffer cap moves the stream on. */
static void
test_buffer_cap (void)
{
  g_autofree char *s = make_stream (4000);
  g_autoptr (XmTcpReasm) r = NULL;
  Collect k;
  guint32 isn = 42;

  collect_init (&k);
  r = xm_tcp_reasm_new (&events, &k);
  xm_tcp_reasm_set_max_buffer (r, 1000);
  xm_tcp_reasm_feed (r, isn, XM_TCP_SYN, NULL, 0);
  seg (r, isn, s, 0, 100, 0);
  for (gsize a = 200; a < 4000; a += 100)
    seg (r, isn, s, a, a + 100, 0);
  g_assert_cmpuint (k.problems->len, ==, 1);
  g_assert_cmpint (problem (&k, 0)->kind, ==, XM_TCP_REASM_GAP);
  g_assert_cmpuint (problem (&k, 0)->offset, ==, 100);
  g_assert_cmpuint (problem (&k, 0)->len, ==, 100);
  g_assert_cmpuint (xm_tcp_reasm_buffered (r), <=, 1000);
  /* Everything after the hole came out. */
  g_assert_cmpuint (k.data->len, ==, 3900);
  g_assert_cmpstr (k.data->str + 100, ==, s + 200);
  /* The missing bytes come late: already passed, dropped. */
  seg (r, isn, s, 100, 200, 0);
  g_assert_cmpuint (k.data->len, ==, 3900);
  collect_clear (&k);
}

/* The peer acknowledged past a hole: the capture lost those bytes. */
static void
test_ack_past_hole (void)
{
  g_autofree char *s = make_stream (3000);
  g_autoptr (XmTcpReasm) r = NULL;
  Collect k;
  guint32 isn = 0xFFFFFF00u;

  collect_init (&k);
  r = xm_tcp_reasm_new (&events, &k);
  xm_tcp_reasm_ack (r, 5);
  xm_tcp_reasm_feed (r, isn, XM_TCP_SYN, NULL, 0);
  seg (r, isn, s, 0, 1000, 0);
  seg (r, isn, s, 1500, 2000, 0);
  seg (r, isn, s, 2500, 3000, 0);
  /* Acks that do not reach past the hole change nothing. */
  xm_tcp_reasm_ack (r, isn + 1 + 1000);
  xm_tcp_reasm_ack (r, isn + 1 + 1499);
  g_assert_cmpuint (k.problems->len, ==, 0);
  g_assert_cmpuint (k.data->len, ==, 1000);
  /* Past the first hole, into the second. */
  xm_tcp_reasm_ack (r, isn + 1 + 2100);
  g_assert_cmpuint (k.problems->len, ==, 1);
  g_assert_cmpuint (problem (&k, 0)->offset, ==, 1000);
  g_assert_cmpuint (problem (&k, 0)->len, ==, 500);
  g_assert_cmpuint (k.data->len, ==, 1500);
  /* Past everything. */
  xm_tcp_reasm_ack (r, isn + 1 + 3000);
  g_assert_cmpuint (k.problems->len, ==, 2);
  g_assert_cmpuint (problem (&k, 1)->offset, ==, 2000);
  g_assert_cmpuint (problem (&k, 1)->len, ==, 500);
  g_assert_cmpstr (k.data->str + 1500, ==, s + 2500);
  g_assert_cmpuint (xm_tcp_reasm_buffered (r), ==, 0);
  collect_clear (&k);
}

/* The payload of a RST and a keepalive probe are not stream data. */
static void
test_rst_and_keepalive (void)
{
  g_autoptr (XmTcpReasm) r = NULL;
  Collect k;

  collect_init (&k);
  r = xm_tcp_reasm_new (&events, &k);
  xm_tcp_reasm_feed (r, 10, XM_TCP_SYN, NULL, 0);
  xm_tcp_reasm_feed (r, 11, 0, (const guint8 *) "<presence/>", 11);
  xm_tcp_reasm_feed (r, 21, 0, (const guint8 *) "\0", 1);
  xm_tcp_reasm_feed (r, 22, XM_TCP_RST, (const guint8 *) "reset", 5);
  xm_tcp_reasm_flush (r);
  g_assert_cmpstr (k.data->str, ==, "<presence/>");
  g_assert_cmpuint (k.problems->len, ==, 0);
  collect_clear (&k);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tcp-reasm/in-order", test_in_order);
  g_test_add_func ("/tcp-reasm/out-of-order", test_out_of_order);
  g_test_add_func ("/tcp-reasm/duplicates", test_duplicates);
  g_test_add_func ("/tcp-reasm/overlap-same", test_overlap_same);
  g_test_add_func ("/tcp-reasm/overlap-different", test_overlap_different);
  g_test_add_func ("/tcp-reasm/gap-at-fin", test_gap_at_fin);
  g_test_add_func ("/tcp-reasm/wraparound", test_wraparound);
  g_test_add_func ("/tcp-reasm/long-stream", test_long_stream);
  g_test_add_func ("/tcp-reasm/mid-connection", test_mid_connection);
  g_test_add_func ("/tcp-reasm/buffer-cap", test_buffer_cap);
  g_test_add_func ("/tcp-reasm/ack-past-hole", test_ack_past_hole);
  g_test_add_func ("/tcp-reasm/rst-and-keepalive", test_rst_and_keepalive);
  return g_test_run ();
}
