/* Unit tests: replay's cross-connection ordering and pacing. */
#include "config.h"

#include "order.h"

#define S XM_ORDER_SEND
#define R XM_ORDER_RECEIVE

/* A two-account conversation as recorded:
 *  0 #1 connect           5 #2 connect
 *  1 #1 C iq roster get   6 #1 R presence from alice
 *  2 #1 R roster result   7 #2 C message to bob
 *  3 #1 C presence        8 #1 R message from alice
 *  4 #1 R own presence    9 #1 C message to alice
 *                        10 #1 C close   */
static XmOrder *
conversation (XmPace pace)
{
  XmOrder *o = xm_order_new (pace);

  xm_order_add (o, 1, S, 0, 1000);
  xm_order_add (o, 1, S, 0, 2000);
  xm_order_add (o, 1, R, XM_ORDER_ANSWER, 3000);
  xm_order_add (o, 1, S, 0, 4000);
  xm_order_add (o, 1, R, 0, 5000);
  xm_order_add (o, 2, S, 0, 6000);
  xm_order_add (o, 1, R, 0, 7000);
  xm_order_add (o, 2, S, 0, 8000);
  xm_order_add (o, 1, R, 0, 9000);
  xm_order_add (o, 1, S, 0, 10000);
  xm_order_add (o, 1, S, XM_ORDER_CLOSE, 11000);
  return o;
}

static void
test_iq_pace (void)
{
  g_autoptr (XmOrder) o = conversation (XM_PACE_IQ);
  g_autoptr (GArray) blockers = g_array_new (FALSE, FALSE, sizeof (guint));

  g_assert_cmpuint (xm_order_len (o), ==, 11);
  g_assert_true (xm_order_ready (o, 0));
  g_assert_false (xm_order_ready (o, 1));     /* #1 is not connected yet */
  xm_order_done (o, 0, 0);
  g_assert_true (xm_order_ready (o, 1));
  xm_order_done (o, 1, 0);
  /* The presence waits for the roster result (an iq answer). */
  g_assert_false (xm_order_ready (o, 3));
  xm_order_blockers (o, 3, blockers);
  g_assert_cmpuint (blockers->len, ==, 1);
  g_assert_cmpuint (g_array_index (blockers, guint, 0), ==, 2);
  xm_order_done (o, 2, 0);
  g_assert_true (xm_order_ready (o, 3));
  xm_order_done (o, 3, 0);
  /* Another connection waits for what #1 received before: its own
   * presence echo. */
  g_assert_false (xm_order_ready (o, 5));
  xm_order_done (o, 4, 0);
  g_assert_true (xm_order_ready (o, 5));
  xm_order_done (o, 5, 0);
  /* alice's message waits for bob to have seen her presence. */
  g_assert_false (xm_order_ready (o, 7));
  xm_order_done (o, 6, 0);
  g_assert_true (xm_order_ready (o, 7));
  xm_order_done (o, 7, 0);
  /* bob's reply does not wait for his own non-iq receive... */
  g_assert_true (xm_order_ready (o, 9));
  xm_order_done (o, 9, 0);
  /* ... but his stream close waits for everything of his connection. */
  g_assert_false (xm_order_ready (o, 10));
  g_assert_false (xm_order_finished (o));
  xm_order_done (o, 8, 0);
  g_assert_true (xm_order_ready (o, 10));
  xm_order_done (o, 10, 0);
  g_assert_true (xm_order_finished (o));
  g_assert_cmpint (xm_order_not_before (o, 5), ==, 0);
}

static void
test_sends_keep_their_order (void)
{
  g_autoptr (XmOrder) o = conversation (XM_PACE_FAST);

  xm_order_done (o, 0, 0);
  xm_order_done (o, 1, 0);
  /* Fast: no waiting for answers, but sends stay in recorded order. */
  g_assert_true (xm_order_ready (o, 3));
  g_assert_false (xm_order_ready (o, 5));
  xm_order_done (o, 3, 0);
  g_assert_true (xm_order_ready (o, 5));
  g_assert_false (xm_order_ready (o, 7));
  xm_order_done (o, 5, 0);
  g_assert_true (xm_order_ready (o, 7));
  xm_order_done (o, 7, 0);
  xm_order_done (o, 9, 0);
  /* A close still waits for its connection's receives. */
  g_assert_false (xm_order_ready (o, 10));
}

static void
test_recorded_pace (void)
{
  g_autoptr (XmOrder) o = conversation (XM_PACE_RECORDED);

  xm_order_done (o, 0, 100000);
  g_assert_true (xm_order_ready (o, 1));
  /* One recorded millisecond after its predecessor was done. */
  g_assert_cmpint (xm_order_not_before (o, 1), ==, 101000);
  xm_order_done (o, 1, 101000);
  xm_order_done (o, 2, 101500);
  xm_order_done (o, 3, 102500);
  /* Every earlier receive counts, on its own connection too. */
  xm_order_done (o, 4, 103000);
  xm_order_done (o, 5, 104000);
  xm_order_done (o, 6, 105000);
  xm_order_done (o, 7, 106000);
  g_assert_false (xm_order_ready (o, 9));
  xm_order_done (o, 8, 107000);
  g_assert_true (xm_order_ready (o, 9));
  g_assert_cmpint (xm_order_not_before (o, 9), ==, 108000);
}

static void
test_requests_answered_later (void)
{
  g_autoptr (XmOrder) o = xm_order_new (XM_PACE_IQ);

  /* A roster push (server request) that the client answers. */
  xm_order_add (o, 1, S, 0, 0);
  xm_order_add (o, 1, R, XM_ORDER_REQUEST, 0);
  xm_order_add (o, 1, S, 0, 0);
  xm_order_done (o, 0, 0);
  g_assert_false (xm_order_ready (o, 2));
  xm_order_done (o, 1, 0);
  g_assert_true (xm_order_ready (o, 2));
  g_assert_true (xm_pace_parse ("iq", &(XmPace) { 0 }));
  {
    /* Even fast: the answer needs the request's live id. */
    g_autoptr (XmOrder) f = xm_order_new (XM_PACE_FAST);
    xm_order_add (f, 1, S, 0, 0);
    xm_order_add (f, 1, R, XM_ORDER_REQUEST, 0);
    xm_order_add (f, 1, R, XM_ORDER_ANSWER, 0);
    xm_order_add (f, 1, S, 0, 0);
    xm_order_done (f, 0, 0);
    g_assert_false (xm_order_ready (f, 3));
    xm_order_done (f, 1, 0);
    g_assert_true (xm_order_ready (f, 3));
  }
  {
    XmPace p;
    g_assert_true (xm_pace_parse ("fast", &p));
    g_assert_cmpint (p, ==, XM_PACE_FAST);
    g_assert_true (xm_pace_parse ("recorded", &p));
    g_assert_cmpint (p, ==, XM_PACE_RECORDED);
    g_assert_false (xm_pace_parse ("slow", &p));
  }
}

/* What arrives on bob's connection, as recorded:
 *  0 iq roster result
 *  1 presence: his own        3 presence from carol
 *  2 presence from alice      4 message from alice
 *  5 presence from alice      6 message from carol
 *  7 iq disco result */
#define P TRUE
#define O FALSE
static const gboolean bob_presence[] = { O, P, P, P, O, P, O, O };

static void
arrive (XmArrival *rec, guint j)
{
  g_assert_cmpint (xm_arrival_overtakes (rec, G_N_ELEMENTS (bob_presence), j), ==, -1);
  rec[j].arrived = TRUE;
}

static void
bob_arrivals (XmArrival *rec)
{
  for (guint i = 0; i < G_N_ELEMENTS (bob_presence); i++)
    rec[i] = (XmArrival) { .presence = bob_presence[i] };
}

static void
test_arrivals_in_order (void)
{
  XmArrival rec[G_N_ELEMENTS (bob_presence)];

  bob_arrivals (rec);
  for (guint j = 0; j < G_N_ELEMENTS (rec); j++)
    arrive (rec, j);
}

static void
test_presence_run_in_any_order (void)
{
  XmArrival rec[G_N_ELEMENTS (bob_presence)];
  const guint n = G_N_ELEMENTS (rec);

  bob_arrivals (rec);
  /* Nothing overtakes the roster result, presence neither. */
  g_assert_cmpint (xm_arrival_overtakes (rec, n, 1), ==, 0);
  g_assert_cmpint (xm_arrival_overtakes (rec, n, 4), ==, 0);
  arrive (rec, 0);
  /* The presences between the roster result and the message: any order. */
  arrive (rec, 3);
  arrive (rec, 1);
  /* Not past the message, though: neither the message nor the presence
   * recorded after it goes before alice's first presence. */
  g_assert_cmpint (xm_arrival_overtakes (rec, n, 4), ==, 2);
  g_assert_cmpint (xm_arrival_overtakes (rec, n, 5), ==, 2);
  arrive (rec, 2);
  /* A run of one presence, between two messages. */
  g_assert_cmpint (xm_arrival_overtakes (rec, n, 5), ==, 4);
  arrive (rec, 4);
  g_assert_cmpint (xm_arrival_overtakes (rec, n, 6), ==, 5);
  arrive (rec, 5);
  arrive (rec, 6);
  arrive (rec, 7);
}

static void
test_messages_and_iqs_in_order (void)
{
  XmArrival rec[G_N_ELEMENTS (bob_presence)];
  const guint n = G_N_ELEMENTS (rec);

  bob_arrivals (rec);
  arrive (rec, 0);
  arrive (rec, 1);
  arrive (rec, 2);
  arrive (rec, 3);
  arrive (rec, 4);
  /* carol's message and the disco result do not trade places... */
  g_assert_cmpint (xm_arrival_overtakes (rec, n, 7), ==, 5);
  arrive (rec, 5);
  g_assert_cmpint (xm_arrival_overtakes (rec, n, 7), ==, 6);
  /* ... and once one came early (replay reports it and marks it arrived),
   * the one it overtook is in order again. */
  rec[7].arrived = TRUE;
  arrive (rec, 6);
  /* What was given up on (missing) opens the window as well. */
  bob_arrivals (rec);
  g_assert_cmpint (xm_arrival_overtakes (rec, n, 4), ==, 0);
  for (guint j = 0; j < 4; j++)
    rec[j].arrived = TRUE;
  arrive (rec, 4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/replay-order/iq-pace", test_iq_pace);
  g_test_add_func ("/replay-order/sends-keep-their-order", test_sends_keep_their_order);
  g_test_add_func ("/replay-order/recorded-pace", test_recorded_pace);
  g_test_add_func ("/replay-order/requests-answered-later", test_requests_answered_later);
  g_test_add_func ("/replay-order/arrivals-in-order", test_arrivals_in_order);
  g_test_add_func ("/replay-order/presence-run-in-any-order", test_presence_run_in_any_order);
  g_test_add_func ("/replay-order/messages-and-iqs-in-order", test_messages_and_iqs_in_order);
  return g_test_run ();
}
