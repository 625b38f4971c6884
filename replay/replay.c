/* replay.c: `xmitm replay`: scheduling the recorded steps across
 * connections, matching what the server sends with what it sent then, and
 * reporting. The sockets and negotiation of each connection are conn.c's. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib-unix.h>

#include "files.h"
#include "net.h"
#include "privdrop.h"
#include "replay.h"
#include "replay-private.h"
#include "peer-index.h"

#define NS_SM "urn:xmpp:sm:3"
#define TICK_MS 50
#define SERVE_FIRST_WAIT_S 60

static void drain (Conn *c);
static void pump (gpointer data);

/* ---- output ---- */

void
xm_replay_say (Replay *r, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  printf ("%s\n", msg);
  fflush (stdout);
}

void
xm_replay_fatal (Replay *r, Conn *c, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  if (r->stopping)
    return;
  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  fflush (stdout);
  g_printerr ("xmitm: replay: %s%s%s\n", c ? c->label : "", c ? ": " : "", msg);
  if (c && c->error == NULL)
    c->error = g_strdup (msg);
  r->status = XM_REPLAY_ERROR;
  r->stopping = TRUE;
  if (r->loop)
    g_main_loop_quit (r->loop);
}

void
xm_replay_show (Replay *r, Conn *c, gboolean sent, const char *data, gsize len)
{
  XmDir dir = sent == c->serving ? XM_DIR_S2C : XM_DIR_C2S;

  if (!r->opts->verbose)
    return;
  printf ("%s %s %.*s\n", c->label, xm_dir_arrow (dir), (int) len, data);
}

static char *
format_time (gint64 time_us)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_local (time_us / G_USEC_PER_SEC);
  g_autofree char *hms = dt ? g_date_time_format (dt, "%H:%M:%S") : NULL;

  if (hms == NULL)
    return g_strdup_printf ("@%" G_GINT64_FORMAT, time_us);
  return g_strdup_printf ("%s.%06d", hms, (int) (time_us % G_USEC_PER_SEC));
}

/* "iq type='result' id='x'", "presence from='a@b/c' type='unavailable'" */
static char *
describe (const XmCanon *canon)
{
  GString *out = g_string_new (NULL);
  static const char *const names[] = { "type", "from" };

  if (canon->prefix && strcmp (canon->ns, "http://etherx.jabber.org/streams") == 0)
    g_string_append_printf (out, "%s:", canon->prefix);
  g_string_append (out, canon->name);
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    for (guint k = 0; k < canon->attrs->len; k++)
      {
        XmCanonAttr *a = canon->attrs->pdata[k];
        if (a->ns == NULL && strcmp (a->name, names[i]) == 0)
          g_string_append_printf (out, " %s='%s'", a->name, a->value);
      }
  if (canon->id)
    g_string_append_printf (out, " id='%s'", canon->id);
  return g_string_free (out, FALSE);
}

static void
report (Conn *c, const char *headline, const char *body)
{
  GString *text = g_string_new (NULL);

  g_string_append_printf (text, "%s: %s\n", c->label, headline);
  if (body)
    g_string_append (text, body);
  fputs (text->str, stdout);
  fflush (stdout);
  g_string_append (c->report, text->str);
  g_string_free (text, TRUE);
  c->differences++;
}

void
xm_replay_report (Conn *c, const char *headline, const char *body)
{
  report (c, headline, body);
}

static void
report_tree (Conn *c, const char *headline, const XmCanon *canon, const char *mark)
{
  GString *body = g_string_new (NULL);
  g_autofree char *indent = g_strconcat ("    ", mark, NULL);

  xm_canon_format (canon, indent, body);
  report (c, headline, body->str);
  g_string_free (body, TRUE);
}

/* ---- values that change between sessions ---- */

const char *
xm_replay_map_live (const char *value, gpointer data)
{
  Replay *r = data;

  return g_hash_table_lookup (r->live2rec, value);
}

static void
map_value (Replay *r, const char *rec, const char *live)
{
  g_hash_table_replace (r->rec2live, g_strdup (rec), g_strdup (live));
  g_hash_table_replace (r->live2rec, g_strdup (live), g_strdup (rec));
}

const char *
xm_replay_password (Replay *r, Conn *c)
{
  const char *p = NULL;

  if (r->opts->credentials && c->account)
    p = g_hash_table_lookup (r->opts->credentials, c->account);
  return p ? p : r->opts->password;
}

static XmCanon *
expected_canon (Replay *r, XmStep *step)
{
  if (step->data == NULL && step->stanza && step->stanza->root)
    {
      XmCanon *canon = xm_canon_new (step->stanza->root, NULL, NULL);
      xm_canon_normalise (canon, r->opts->ignore);
      step->data = canon;
      step->data_free = (GDestroyNotify) xm_canon_free;
    }
  return step->data;
}

/* ---- progress ---- */

void
xm_replay_progress (Replay *r)
{
  r->last_progress = g_get_monotonic_time ();
}

static void
done (Replay *r, XmStep *step)
{
  xm_order_done (r->script->order, step->order, g_get_monotonic_time ());
  xm_replay_progress (r);
}

static gboolean
step_done (Replay *r, XmStep *step)
{
  return xm_order_is_done (r->script->order, step->order);
}

/* What replay does (client: connect, send, close; serve: the server's
 * stanzas and close), as opposed to what it waits for from its peer. */
gboolean
xm_replay_is_send (Replay *r, const XmStep *step)
{
  if (r->opts->serve)
    return step->kind == XM_STEP_EXPECT || step->kind == XM_STEP_EXPECT_CLOSE;
  return step->kind == XM_STEP_CONNECT || step->kind == XM_STEP_SEND
         || step->kind == XM_STEP_CLOSE;
}

/* The direction replay compares: what the peer sends. */
static const char *
peer_arrow (Replay *r)
{
  return r->opts->serve ? "C->S" : "S->C";
}

static gboolean
is_peer_close (Replay *r, const XmStep *step)
{
  return step->kind == (r->opts->serve ? XM_STEP_CLOSE : XM_STEP_EXPECT_CLOSE);
}

static gboolean
is_peer_stanza (Replay *r, const XmStep *step)
{
  return step->kind == (r->opts->serve ? XM_STEP_SEND : XM_STEP_EXPECT);
}

static void
missing (Replay *r, Conn *c, XmStep *step)
{
  g_autofree char *when = format_time (step->time_us);

  if (is_peer_close (r, step))
    {
      g_autofree char *h = g_strdup_printf ("%s the %s did not close its "
                                            "stream (recorded at %s)", peer_arrow (r),
                                            r->opts->serve ? "client" : "server", when);
      report (c, h, NULL);
    }
  else
    {
      XmCanon *e = expected_canon (r, step);
      g_autofree char *d = describe (e);
      g_autofree char *h = g_strdup_printf ("%s %s did not arrive (recorded at %s):",
                                            peer_arrow (r), d, when);
      report_tree (c, h, e, "- ");
    }
  r->missing++;
  r->compared++;
  if (is_peer_stanza (r, step))
    c->missed++;
  done (r, step);
}

void
xm_replay_established (Conn *c)
{
  Replay *r = c->r;
  XmStep *step = c->sc->steps->pdata[0];

  g_assert (step->kind == XM_STEP_CONNECT);
  const char *how = c->login == XM_LOGIN_SASL2 ? " (XEP-0388 SASL2)" : "";

  if (r->opts->serve)
    xm_replay_say (r, "%s: client %s connected%s, authenticated with %s%s%s", c->label,
                   c->peer, c->tls ? " over TLS" : "",
                   c->mechanism ? c->mechanism : "nothing", how,
                   c->deflate ? ", compressed with zlib (XEP-0138)" : "");
  else
    xm_replay_say (r, "%s: connected%s, authenticated with %s%s%s", c->label,
                   c->tls ? " over TLS" : "", c->mechanism ? c->mechanism : "nothing",
                   how, c->deflate ? ", compressed with zlib (XEP-0138)" : "");
  if (r->played)
    g_hash_table_add (r->played, c->sc);
  done (r, step);
}

void
xm_replay_bound (Conn *c, const char *rec, const char *live)
{
  if (c->live_jid)
    return;
  c->live_jid = g_strdup (live);
  map_value (c->r, rec, live);
  if (strcmp (rec, live) != 0)
    xm_replay_say (c->r, "%s: bound %s (recorded: %s)", c->label, live, rec);
}

void
xm_replay_claimed (Conn *c)
{
  xm_replay_progress (c->r);
}

/* The server went away: whatever the connection still had to do or
 * expect will not happen. */
void
xm_replay_lost (Conn *c, const char *why)
{
  Replay *r = c->r;
  guint unsent = 0, absent = 0;

  if (c->state == NEG_CLOSED || r->stopping)
    return;
  drain (c);
  if (c->state != NEG_ESTABLISHED && c->serving)
    {
      if (r->opts->verbose || c->claimed)
        xm_replay_say (r, "%s: the client left during negotiation (%s)", c->label, why);
      xm_serve_release (c);
      xm_conn_close (c);
      return;
    }
  if (c->state != NEG_ESTABLISHED)
    {
      xm_replay_fatal (r, c, "connection lost during negotiation: %s", why);
      return;
    }
  xm_conn_close (c);
  for (guint i = 0; i < c->sc->steps->len; i++)
    {
      XmStep *step = c->sc->steps->pdata[i];
      if (step_done (r, step))
        continue;
      if (xm_replay_is_send (r, step))
        {
          /* Our close after the peer's is no loss. */
          if (!(c->got_close && (step->kind == XM_STEP_CLOSE
                                 || step->kind == XM_STEP_EXPECT_CLOSE)))
            unsent++;
          done (r, step);
        }
      else
        {
          absent++;
          missing (r, c, step);
        }
    }
  if (unsent || (absent && !c->got_close))
    {
      g_autofree char *h = g_strdup_printf ("the connection ended early (%s): %u "
                                            "recorded %s stanzas not sent", why, unsent,
                                            r->opts->serve ? "server" : "client");
      report (c, h, NULL);
      r->not_sent += unsent;
    }
}

/* ---- matching server stanzas ---- */

static gboolean
id_ok (Replay *r, Conn *c, const char *rec, const char *live)
{
  const char *m;

  if (rec == NULL || live == NULL)
    return rec == live;
  if (strcmp (rec, live) == 0)
    return TRUE;
  m = g_hash_table_lookup (c->id_rec2live, rec);
  if (m)
    return strcmp (m, live) == 0;
  /* An id a recorded client chose is sent again as it was. */
  if (g_hash_table_contains (r->client_ids, rec))
    return FALSE;
  return !g_hash_table_contains (c->id_live2rec, live);
}

static void
commit_id (Conn *c, const char *rec, const char *live)
{
  if (rec && live && strcmp (rec, live) != 0
      && !g_hash_table_contains (c->id_rec2live, rec))
    {
      g_hash_table_insert (c->id_rec2live, g_strdup (rec), g_strdup (live));
      g_hash_table_insert (c->id_live2rec, g_strdup (live), g_strdup (rec));
      if (c->r->ids_rec2live)
        g_hash_table_replace (c->r->ids_rec2live, g_strdup (rec), g_strdup (live));
    }
}

static const char *
attr (const XmCanon *c, const char *name)
{
  for (guint i = 0; i < c->attrs->len; i++)
    {
      XmCanonAttr *a = c->attrs->pdata[i];
      if (a->ns == NULL && strcmp (a->name, name) == 0)
        return a->value;
    }
  return NULL;
}

/* Is a the live counterpart of e, if not an equal one? */
static gboolean
pairs_with (Replay *r, Conn *c, const XmCanon *e, const XmCanon *a)
{
  if (strcmp (e->name, a->name) != 0 || strcmp (e->ns, a->ns) != 0)
    return FALSE;
  if (strcmp (e->name, "iq") == 0)
    return e->id && a->id && id_ok (r, c, e->id, a->id);
  if (strcmp (e->name, "message") == 0 || strcmp (e->name, "presence") == 0)
    {
      if (e->id && a->id)
        return id_ok (r, c, e->id, a->id);
      return g_strcmp0 (attr (e, "from"), attr (a, "from")) == 0
             && g_strcmp0 (attr (e, "type"), attr (a, "type")) == 0;
    }
  return TRUE;
}

static void
learn_bind (Replay *r, Conn *c, const XmNode *el)
{
  g_autofree char *live = xm_stanza_bind_jid (el);
  const char *id = xm_node_attr (el, "id");

  if (live == NULL || c->live_jid)
    return;
  c->live_jid = g_strdup (live);
  for (guint i = 0; i < c->sc->steps->len; i++)
    {
      XmStep *step = c->sc->steps->pdata[i];
      g_autofree char *rec = NULL;

      if (step->kind != XM_STEP_EXPECT || step_done (r, step)
          || g_strcmp0 (xm_node_attr (step->stanza->root, "id"), id) != 0)
        continue;
      rec = xm_stanza_bind_jid (step->stanza->root);
      if (rec)
        {
          map_value (r, rec, live);
          if (strcmp (rec, live) != 0)
            xm_replay_say (r, "%s: bound %s (recorded: %s)", c->label, live, rec);
          return;
        }
    }
}

static void
answer_live (Conn *c, const XmNode *el, gboolean error)
{
  const char *id = xm_node_attr (el, "id");
  const char *from = xm_node_attr (el, "from");
  g_autofree char *xml = NULL;
  GString *s = g_string_new (error ? "<iq type='error'" : "<iq type='result'");

  /* XEP-0199 §4.2: the pong. */
  if (id)
    {
      g_autofree char *e = g_markup_escape_text (id, -1);
      g_string_append_printf (s, " id='%s'", e);
    }
  if (from)
    {
      g_autofree char *e = g_markup_escape_text (from, -1);
      g_string_append_printf (s, " to='%s'", e);
    }
  if (error)
    g_string_append (s, "><error type='cancel'><service-unavailable "
                     "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
  else
    g_string_append (s, "/>");
  xml = g_string_free (s, FALSE);
  xm_conn_send (c, xml, strlen (xml));
}

/* A connection's recorded peer stanzas, indexed (peer-index.h) as far as
 * matching has needed: a canonical form costs microseconds, and a long
 * recording is not made to wait for all of them before its first match. */
typedef struct {
  XmPeerIndex *x;
  Replay *r;
  XmScriptConn *sc;
  guint next;          /* in sc->steps: the first not looked at */
} PeerSteps;

static void
peer_steps_free (gpointer p)
{
  PeerSteps *ps = p;

  xm_peer_index_free (ps->x);
  g_free (ps);
}

static gboolean
peer_done (gpointer step, gpointer data)
{
  return step_done (((PeerSteps *) data)->r, step);
}

/* Adds the connection's next peer stanza to the index. */
static gboolean
peer_more (XmPeerIndex *x, gpointer data)
{
  PeerSteps *ps = data;
  GPtrArray *steps = ps->sc->steps;

  while (ps->next < steps->len)
    {
      XmStep *step = steps->pdata[ps->next++];
      XmCanon *e;

      if (!is_peer_stanza (ps->r, step))
        continue;
      e = expected_canon (ps->r, step);
      xm_peer_index_add (x, step, e ? e->key : "", e ? e->ns : "", e ? e->name : "",
                         strcmp (step->stanza->root->name, "presence") == 0);
      return TRUE;
    }
  return FALSE;
}

static XmPeerIndex *
peer_index (Replay *r, Conn *c)
{
  XmScriptConn *sc = c->sc;

  if (sc->index == NULL)
    {
      PeerSteps *ps = g_new0 (PeerSteps, 1);

      ps->r = r;
      ps->sc = sc;
      ps->x = xm_peer_index_new (peer_done, peer_more, ps);
      sc->index = ps;
      sc->index_free = peer_steps_free;
    }
  return ((PeerSteps *) sc->index)->x;
}

/* Compares one stanza from the peer with the pending recorded ones: an
 * equal one within the window of arrival order (order.h) is as recorded;
 * one beyond it came out of order; else the recorded stanza it is the live
 * counterpart of differs; else it is not in the recording. The first in
 * recorded order wins each time; the index makes finding it cost about
 * the same whatever the recording's length. */
static void
match (Conn *c, XmStanza *st)
{
  Replay *r = c->r;
  const XmNode *el = st->root;
  g_autoptr (XmCanon) actual = NULL;
  XmPeerIndex *x = peer_index (r, c);
  XmPeerIter it;
  XmStep *paired = NULL, *paired_within = NULL;
  gint equal = -1, overtaken = -1;
  guint j;

  actual = xm_canon_new (el, xm_replay_map_live, r);
  xm_canon_normalise (actual, r->opts->ignore);

  xm_peer_index_by_key (x, actual->key, &it);
  while (equal < 0 && xm_peer_iter_next (&it, &j))
    if (id_ok (r, c, expected_canon (r, xm_peer_index_item (x, j))->id, actual->id))
      equal = (gint) j;
  xm_peer_iter_clear (&it);
  if (equal >= 0)
    {
      XmStep *step = xm_peer_index_item (x, equal);
      XmCanon *e = expected_canon (r, step);

      overtaken = xm_peer_index_overtakes (x, equal);
      commit_id (c, e->id, actual->id);
      r->compared++;
      done (r, step);
      if (overtaken < 0)
        {
          r->same++;
          return;
        }
      {
        XmStep *first = xm_peer_index_item (x, overtaken);
        g_autofree char *d = describe (e);
        g_autofree char *fd = describe (expected_canon (r, first));
        g_autofree char *when = format_time (step->time_us);
        g_autofree char *fwhen = format_time (first->time_us);
        g_autofree char *h = g_strdup_printf ("%s %s came before %s, which the "
                                              "recording has first (recorded at %s, "
                                              "this one at %s):", peer_arrow (r), d,
                                              fd, fwhen, when);
        report_tree (c, h, actual, "  ");
        r->reordered++;
      }
      return;
    }
  /* No equal one: the first counterpart within the window, else the
   * first counterpart. */
  xm_peer_index_by_name (x, actual->ns, actual->name, &it);
  while (paired_within == NULL && xm_peer_iter_next (&it, &j))
    {
      XmStep *step = xm_peer_index_item (x, j);

      if (!pairs_with (r, c, expected_canon (r, step), actual))
        continue;
      if (paired == NULL)
        paired = step;
      if (xm_peer_index_overtakes (x, j) < 0)
        paired_within = step;
    }
  xm_peer_iter_clear (&it);
  if (paired_within)
    paired = paired_within;
  if (paired)
    {
      XmCanon *e = expected_canon (r, paired);
      g_autofree char *d = describe (e);
      g_autofree char *when = format_time (paired->time_us);
      g_autofree char *h = g_strdup_printf ("%s %s differs from the recording "
                                            "(recorded at %s):", peer_arrow (r), d, when);
      g_autofree char *diff = xm_canon_diff (e, actual, "    ");

      if (diff == NULL)
        diff = g_strdup_printf ("    id: recorded '%s', now '%s'\n",
                                e->id ? e->id : "", actual->id ? actual->id : "");
      commit_id (c, e->id, actual->id);
      report (c, h, diff);
      r->compared++;
      r->differ++;
      done (r, paired);
      return;
    }
  {
    g_autofree char *d = describe (actual);
    g_autofree char *h = g_strdup_printf ("%s %s is not in the recording:",
                                          peer_arrow (r), d);
    report_tree (c, h, actual, "+ ");
    r->unexpected++;
    /* serve: a request nobody answers would stall the client. */
    if (r->opts->serve && xm_stanza_is_iq (el, "get", "set"))
      answer_live (c, el, !xm_stanza_is_ping (el));
  }
}

/* Matches what the connection received so far; with a deadline (monotonic
 * time, 0 for none) only until then. FALSE if some is left. */
static gboolean
drain_until (Conn *c, gint64 deadline)
{
  XmStanza *st;
  guint n = 0;

  while ((st = g_queue_pop_head (&c->received)))
    {
      if (!c->r->stopping)
        match (c, st);
      xm_stanza_unref (st);
      if (deadline && ++n % 64 == 0 && g_get_monotonic_time () >= deadline)
        return g_queue_is_empty (&c->received);
    }
  return TRUE;
}

static void
drain (Conn *c)
{
  drain_until (c, 0);
}

/* What a main-loop round matches at most: the rest waits for the next
 * round, so that a long recording never keeps signals (SIGINT, SIGTERM)
 * waiting. */
#define DRAIN_SLICE_US (50 * 1000)

static guint drain_more; /* an idle source: pump again, to drain the rest */

static gboolean
drain_again (gpointer data)
{
  drain_more = 0;
  pump (data);
  return G_SOURCE_REMOVE;
}

static void
drain_slice (Replay *r)
{
  gint64 deadline = g_get_monotonic_time () + DRAIN_SLICE_US;
  gboolean all = TRUE;

  for (guint k = 0; k < r->conns->len; k++)
    all = drain_until (r->conns->pdata[k], deadline) && all;
  if (!all && drain_more == 0)
    drain_more = g_idle_add (drain_again, r);
}

void
xm_replay_stanza (Conn *c, XmStanza *st)
{
  Replay *r = c->r;
  const XmNode *el = st->root;

  xm_replay_show (r, c, FALSE, (const char *) st->raw, st->raw_len);
  xm_replay_progress (r);
  if (!r->opts->serve && xm_stanza_is_ping (el))
    {
      answer_live (c, el, FALSE);
      return;
    }
  if (xm_node_is (el, NS_SM, "r"))
    {
      /* XEP-0198 §4: how many stanzas we handled. */
      g_autofree char *a = g_strdup_printf ("<a xmlns='" NS_SM "' h='%u'/>", c->sm_h);
      xm_conn_send (c, a, strlen (a));
      return;
    }
  if (xm_node_is (el, NS_SM, "a"))
    return;
  if ((c->sm_enabled || r->opts->serve)
      && (strcmp (el->name, "iq") == 0 || strcmp (el->name, "message") == 0
          || strcmp (el->name, "presence") == 0))
    c->sm_h++;
  if (xm_node_is (el, NS_SM, "enabled"))
    c->sm_enabled = TRUE;
  if (!r->opts->serve)
    learn_bind (r, c, el);
  g_queue_push_tail (&c->received, xm_stanza_ref (st));
}

void
xm_replay_features (Conn *c, XmStanza *st, XmFeaturesStage stage)
{
  Replay *r = c->r;
  XmStanza *rec = c->sc->features[stage];
  g_autoptr (XmCanon) e = NULL, a = NULL;
  g_autofree char *diff = NULL;
  static const char *const names[] = { "before TLS", "after TLS", "after authentication",
                                        "after compression" };

  xm_replay_show (r, c, FALSE, (const char *) st->raw, st->raw_len);
  if (rec == NULL)
    return;
  /* --tls chose otherwise than the recording: its features do not apply. */
  if ((c->want_tls || c->direct_tls) != (c->sc->starttls || c->sc->direct_tls))
    {
      if (stage == XM_FEATURES_AUTH)
        xm_replay_say (r, "%s: stream features not compared (--tls differs from "
                       "the recording)", c->label);
      return;
    }
  e = xm_canon_new (rec->root, NULL, NULL);
  xm_canon_normalise (e, r->opts->ignore);
  a = xm_canon_new (st->root, xm_replay_map_live, r);
  xm_canon_normalise (a, r->opts->ignore);
  r->compared++;
  diff = xm_canon_diff (e, a, "    ");
  if (diff == NULL)
    {
      r->same++;
      return;
    }
  {
    g_autofree char *h = g_strdup_printf ("S->C stream:features %s differ from the "
                                          "recording:", names[stage]);
    report (c, h, diff);
    r->differ++;
  }
}

void
xm_replay_peer_close (Conn *c)
{
  Replay *r = c->r;

  drain (c);
  if (r->opts->serve && !c->claimed)
    {
      xm_conn_close (c);
      return;
    }
  for (guint i = 0; i < c->sc->steps->len; i++)
    {
      XmStep *step = c->sc->steps->pdata[i];
      if (is_peer_close (r, step) && !step_done (r, step))
        {
          r->compared++;
          r->same++;
          done (r, step);
          break;
        }
    }
  if (r->opts->serve)
    return; /* the recorded close goes out in its turn (pump) */
  /* RFC 6120 §4.4: answer a close with a close. */
  if (!c->sent_close)
    {
      static const char close_tag[] = "</stream:stream>";
      c->sent_close = TRUE;
      xm_conn_send (c, close_tag, strlen (close_tag));
    }
  xm_replay_lost (c, "the server closed the stream");
}

/* ---- scheduling ---- */

static void
do_step (Replay *r, Conn *c, XmStep *step)
{
  static const char close_tag[] = "</stream:stream>";

  switch (step->kind)
    {
    case XM_STEP_CONNECT:
      xm_conn_start (c);
      return; /* done once authenticated */
    case XM_STEP_CLOSE:
    case XM_STEP_EXPECT_CLOSE: /* serve: the server's close */
      c->sent_close = TRUE;
      xm_conn_send (c, close_tag, strlen (close_tag));
      break;
    case XM_STEP_SEND:
    case XM_STEP_EXPECT: /* serve: a server stanza */
      {
        const XmNode *el = step->stanza->root;
        gboolean changed = FALSE;
        g_autofree char *xml = xm_conn_rewrite (c, el, &changed);

        if (xm_stanza_is_iq (el, "set", NULL)
            && xm_node_child (el, "urn:ietf:params:xml:ns:xmpp-bind", "bind"))
          c->bind_sent = TRUE;
        if (changed)
          xm_conn_send (c, xml, strlen (xml));
        else
          xm_conn_send (c, (const char *) step->stanza->raw, step->stanza->raw_len);
      }
      break;
    }
  done (r, step);
}

/* The connection has nothing left to do or expect. */
static gboolean
conn_finished (Replay *r, Conn *c)
{
  /* From the last: steps are done in about recorded order, so one not done
   * is found at once (pump asks every round). */
  for (guint i = c->sc->steps->len; i-- > 0;)
    if (!step_done (r, c->sc->steps->pdata[i]))
      return FALSE;
  return TRUE;
}

static void
finish (Replay *r)
{
  if (r->loop && !r->stopping)
    {
      r->stopping = TRUE;
      g_main_loop_quit (r->loop);
    }
}

/* A connection sent its bind request and does not know its bound JID yet:
 * stanzas others receive may name it already (the server's writes to
 * different connections come in any order), so matching waits. */
static gboolean
binding (Replay *r)
{
  for (guint k = 0; k < r->conns->len; k++)
    {
      Conn *c = r->conns->pdata[k];
      if (c->state == NEG_ESTABLISHED && c->bind_sent && c->live_jid == NULL
          && c->bind_result && !step_done (r, c->bind_result))
        return TRUE;
    }
  return FALSE;
}

/* Does el name a recorded bound JID whose live counterpart is not known
 * yet (its connection is still binding)? Then it cannot be rewritten. */
static gboolean
names_unbound (Replay *r, const XmNode *el)
{
  for (guint k = 0; k < r->conns->len; k++)
    {
      Conn *c = r->conns->pdata[k];
      const char *rec = c->sc->jid;

      if (rec == NULL || c->live_jid || c->bind_result == NULL
          || step_done (r, c->bind_result) || c->state == NEG_CLOSED)
        continue;
      for (guint i = 0; i < el->n_attrs; i++)
        if (strcmp (el->attrs[i].value, rec) == 0)
          return TRUE;
      for (const XmNode *n = el->children; n; n = n->next)
        if (n->type == XM_NODE_TEXT ? strcmp (n->text, rec) == 0
                                    : names_unbound (r, n))
          return TRUE;
    }
  return FALSE;
}

/* Bytes queued for a socket above which no more stanzas are sent to it. */
#define SEND_WINDOW (256 * 1024)

static void
pump (gpointer data)
{
  Replay *r = data;
  gboolean again = TRUE;
  gint64 now = g_get_monotonic_time ();
  gboolean all_closed = TRUE;

  if (!binding (r))
    drain_slice (r);
  while (again && !r->stopping)
    {
      again = FALSE;
      for (guint k = 0; k < r->conns->len && !r->stopping; k++)
        {
          Conn *c = r->conns->pdata[k];
          GPtrArray *steps = c->sc->steps;
          XmStep *step;

          while (c->cursor < steps->len
                 && (!xm_replay_is_send (r, steps->pdata[c->cursor])
                     || step_done (r, steps->pdata[c->cursor])))
            c->cursor++;
          if (c->cursor >= steps->len)
            continue;
          step = steps->pdata[c->cursor];
          if (c->serving ? !c->claimed || c->state != NEG_ESTABLISHED
              : step->kind == XM_STEP_CONNECT ? c->state != NEG_IDLE
              : c->state != NEG_ESTABLISHED)
            continue;
          /* What the socket has not taken yet stays small: the rest goes
           * once it has (a later round), and no round runs long. */
          if (step->kind != XM_STEP_CONNECT && c->out->len > SEND_WINDOW)
            continue;
          if (!xm_order_ready (r->script->order, step->order)
              || (!r->opts->serve && now < xm_order_not_before (r->script->order, step->order))
              || (step->kind == XM_STEP_SEND && names_unbound (r, step->stanza->root)))
            continue;
          do_step (r, c, step);
          if (step->kind == XM_STEP_CONNECT)
            c->cursor++;
          again = TRUE;
        }
    }
  if (r->stopping)
    return;
  for (guint k = 0; k < r->conns->len; k++)
    {
      Conn *c = r->conns->pdata[k];
      if (c->serving && !c->claimed)
        continue;
      if (c->state == NEG_ESTABLISHED && conn_finished (r, c))
        {
          if (!c->sent_close)
            {
              /* The recording ends with the stream open: close it. */
              static const char close_tag[] = "</stream:stream>";
              c->sent_close = TRUE;
              xm_conn_send (c, close_tag, strlen (close_tag));
            }
          xm_conn_close (c);
        }
      if (c->state != NEG_CLOSED)
        all_closed = FALSE;
    }
  if (all_closed && xm_order_finished (r->script->order))
    finish (r);
}

static Conn *
conn_of (Replay *r, XmScriptConn *sc)
{
  for (guint k = 0; k < r->conns->len; k++)
    {
      Conn *c = r->conns->pdata[k];
      if (c->sc == sc && (!c->serving || c->claimed))
        return c;
    }
  return NULL;
}

/* serve: recorded connections no client logged in for. */
static void
give_up_absent (Replay *r)
{
  for (guint i = 0; i < r->script->conns->len; i++)
    {
      XmScriptConn *sc = r->script->conns->pdata[i];
      guint n = 0;
      Conn *c;

      if (sc->steps->len == 0 || conn_of (r, sc))
        continue;
      c = xm_conn_new (r, sc);
      c->state = NEG_CLOSED;
      g_hash_table_add (r->claimed, sc);
      g_ptr_array_add (r->conns, c);
      for (guint k = 0; k < sc->steps->len; k++)
        {
          XmStep *step = sc->steps->pdata[k];
          if (!step_done (r, step))
            {
              n += is_peer_stanza (r, step);
              done (r, step);
            }
        }
      {
        const char *who = c->account ? c->account : "?";
        g_autofree char *h = g_hash_table_contains (r->logged_in, sc)
          ? g_strdup_printf ("a client logged in as %s but did not start its "
                             "session: its %u recorded client stanzas never came", who, n)
          : g_strdup_printf ("no client logged in as %s: its %u recorded client "
                             "stanzas never came", who, n);
        report (c, h, NULL);
      }
      r->unplayed++;
      r->unplayed_stanzas += n;
    }
}

/* Nothing happened for --timeout seconds: what was due and has not come
 * is missing. */
static void
give_up (Replay *r)
{
  GPtrArray *steps = r->script->steps;
  guint first_send = steps->len, gave = 0;

  for (guint i = 0; i < steps->len; i++)
    {
      XmStep *step = steps->pdata[i];
      if (xm_replay_is_send (r, step) && !step_done (r, step))
        {
          first_send = i;
          break;
        }
    }
  for (guint i = 0; i < first_send; i++)
    {
      XmStep *step = steps->pdata[i];
      Conn *c;

      if (xm_replay_is_send (r, step) || step_done (r, step))
        continue;
      c = conn_of (r, step->conn);
      if (c == NULL || (c->serving && c->state != NEG_ESTABLISHED))
        continue; /* serve: that client has not come (yet), or has not
                   * started its session */
      missing (r, c, step);
      gave++;
    }
  if (gave == 0 && r->opts->serve)
    {
      /* A client that logged in and went quiet before its session started
       * (no stream restart, no first stanza): it will not play it. */
      for (guint k = 0; k < r->conns->len; k++)
        {
          Conn *c = r->conns->pdata[k];
          if (c->claimed && c->state != NEG_ESTABLISHED && c->state != NEG_CLOSED)
            {
              xm_replay_say (r, "%s: gave up: the client did not start its session "
                             "within %u s", c->label, r->opts->timeout_s);
              xm_serve_release (c);
              xm_conn_close (c);
            }
        }
      give_up_absent (r);
    }
  xm_replay_progress (r);
}

static gboolean
on_tick (gpointer data)
{
  Replay *r = data;
  gint64 now = g_get_monotonic_time ();
  /* serve: the first client may take a while to be started. */
  gint64 limit = (gint64) (r->opts->serve && !r->any_client ? SERVE_FIRST_WAIT_S
                                                             : r->opts->timeout_s);

  for (guint k = 0; k < r->conns->len && !r->stopping; k++)
    xm_conn_check_timeout (r->conns->pdata[k], now);

  if (!r->stopping && now - r->last_progress > limit * G_USEC_PER_SEC)
    give_up (r);
  pump (r);
  return G_SOURCE_CONTINUE;
}

/* SIGINT or SIGTERM: stop now. The comparison so far is printed, the
 * connections not played to the end are errors in --junit, and the exit
 * status is 2: the replay did not end. */
static void
interrupt (Replay *r, const char *name)
{
  guint before;

  if (r->interrupted || r->stopping)
    return;
  r->interrupted = name;
  xm_replay_say (r, "replay: stopped by %s", name);
  before = r->conns->len;
  if (r->opts->serve)
    give_up_absent (r); /* adds the recorded connections no client took */
  for (guint k = 0; k < r->conns->len; k++)
    {
      Conn *c = r->conns->pdata[k];

      if (c->error == NULL && (k >= before || !conn_finished (r, c)))
        c->error = g_strdup_printf ("stopped by %s before this connection was "
                                    "played to the end", name);
    }
  finish (r);
}

static gboolean
on_sigint (gpointer data)
{
  interrupt (data, "SIGINT");
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sigterm (gpointer data)
{
  interrupt (data, "SIGTERM");
  return G_SOURCE_CONTINUE;
}

/* ---- --junit ---- */

static void
xml_text (GString *out, const char *s)
{
  g_autofree char *e = g_markup_escape_text (s, -1);
  g_string_append (out, e);
}

/* Writes the report to fd, opened (and truncated) at the start: with
 * --user, before the privilege drop. */
static gboolean
write_junit (Replay *r, int fd, const char *path, double seconds, GError **error)
{
  GString *x = g_string_new ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  guint failures = 0, errors = 0;
  gboolean ok = TRUE;
  int err;

  for (guint k = 0; k < r->conns->len; k++)
    {
      Conn *c = r->conns->pdata[k];
      if (c->error)
        errors++;
      else if (c->differences)
        failures++;
    }
  g_string_append_printf (x, "<testsuites name=\"xmitm replay\" tests=\"%u\" "
                          "failures=\"%u\" errors=\"%u\" time=\"%.3f\">\n",
                          r->conns->len, failures, errors, seconds);
  g_string_append (x, "  <testsuite name=\"");
  xml_text (x, r->script->path);
  g_string_append_printf (x, "\" tests=\"%u\" failures=\"%u\" errors=\"%u\" "
                          "time=\"%.3f\">\n", r->conns->len, failures, errors, seconds);
  for (guint k = 0; k < r->conns->len; k++)
    {
      Conn *c = r->conns->pdata[k];
      g_string_append (x, "    <testcase classname=\"xmitm.replay\" name=\"");
      xml_text (x, c->label);
      g_string_append (x, "\">\n");
      if (c->error)
        {
          g_string_append (x, "      <error type=\"error\" message=\"");
          xml_text (x, c->error);
          g_string_append (x, "\"/>\n");
        }
      else if (c->differences)
        {
          g_string_append_printf (x, "      <failure type=\"difference\" "
                                  "message=\"%u difference%s from the recording\">",
                                  c->differences, c->differences == 1 ? "" : "s");
          xml_text (x, c->report->str);
          g_string_append (x, "</failure>\n");
        }
      g_string_append (x, "    </testcase>\n");
    }
  g_string_append (x, "  </testsuite>\n</testsuites>\n");
  err = xm_write_all (fd, x->str, x->len);
  if (err)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                   "cannot write %s: %s", path, g_strerror (err));
      ok = FALSE;
    }
  g_string_free (x, TRUE);
  return ok;
}

/* ---- running ---- */

static void
print_warning (const char *message, gpointer data)
{
  g_printerr ("xmitm: replay: %s: %s\n", (const char *) data, message);
}

static int
run (const char *path, XmReplayOptions *opts)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *where = opts->serve
    ? xm_hostport_to_string (opts->listen_host, opts->listen_port)
    : xm_hostport_to_string (opts->host, opts->port);
  Replay r = { .opts = opts, .listen_fd = -1 };
  int junit_fd = -1;
  g_autofree char *dropped = NULL;
  guint sigint, sigterm;
  guint sends = 0, expects = 0;
  gint64 start = g_get_monotonic_time ();
  static const char *const pace_names[] = { "iq", "recorded", "fast" };

  r.script = xm_script_load (path, opts->pace, opts->serve, print_warning,
                             (gpointer) path, &error);
  if (r.script == NULL)
    {
      g_printerr ("xmitm: replay: %s\n", error->message);
      return XM_REPLAY_ERROR;
    }
  /* Opened now (a file that cannot be made fails before the replay;
   * --user drops root in between), written at the end. */
  if (opts->junit)
    {
      junit_fd = xm_create_private (opts->junit, &error);
      if (junit_fd < 0)
        {
          g_printerr ("xmitm: replay: --junit: %s\n", error->message);
          xm_script_free (r.script);
          return XM_REPLAY_ERROR;
        }
    }
  r.conns = g_ptr_array_new_with_free_func ((GDestroyNotify) xm_conn_free);
  r.rec2live = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  r.live2rec = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  r.client_ids = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < r.script->steps->len; i++)
    {
      XmStep *step = r.script->steps->pdata[i];
      if (step->kind == XM_STEP_SEND)
        {
          const char *id = xm_node_attr (step->stanza->root, "id");
          if (id && !xm_stanza_is_iq (step->stanza->root, "result", "error"))
            g_hash_table_add (r.client_ids, (gpointer) id);
          sends++;
        }
      if (step->kind == XM_STEP_EXPECT)
        expects++;
    }
  for (guint i = 0; i < r.script->conns->len && !opts->serve; i++)
    {
      XmScriptConn *sc = r.script->conns->pdata[i];
      Conn *c;
      if (sc->steps->len == 0)
        continue;
      c = xm_conn_new (&r, sc);
      for (guint k = 0; k < sc->steps->len && !c->bind_result; k++)
        {
          XmStep *step = sc->steps->pdata[k];
          g_autofree char *jid = step->kind == XM_STEP_EXPECT
                                 ? xm_stanza_bind_jid (step->stanza->root) : NULL;
          if (jid)
            c->bind_result = step;
        }
      g_ptr_array_add (r.conns, c);
    }
  r.loop = g_main_loop_new (NULL, FALSE);
  if (opts->serve)
    {
      guint n = 0;

      /* Clients connect when they like: only what they send is waited for. */
      r.claimed = g_hash_table_new (NULL, NULL);
      r.logged_in = g_hash_table_new (NULL, NULL);
      r.played = g_hash_table_new (NULL, NULL);
      r.ids_rec2live = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      for (guint i = 0; i < r.script->steps->len; i++)
        {
          XmStep *step = r.script->steps->pdata[i];
          if (step->kind == XM_STEP_CONNECT)
            {
              done (&r, step);
              n++;
            }
        }
      g_hash_table_remove_all (r.client_ids);
      if (!xm_serve_listen (&r, &error))
        {
          g_printerr ("xmitm: replay: cannot listen on %s: %s (see --listen)\n",
                      where, error->message);
          r.status = XM_REPLAY_ERROR;
          r.stopping = TRUE;
        }
      /* Listening, the recording and the CA read, --junit open: from
       * here on no privilege is needed. */
      else if (opts->user
               && (dropped = xm_privdrop (opts->user, FALSE, &error)) == NULL)
        {
          g_printerr ("xmitm: %s\n", error->message);
          r.status = XM_REPLAY_ERROR;
          r.stopping = TRUE;
        }
      else
        {
          xm_replay_say (&r, "replay: %s: serving %u recorded connection%s on %s: %u "
                         "server stanzas to send, %u client stanzas to compare", path,
                         n, n == 1 ? "" : "s", where, expects, sends);
          if (dropped)
            g_printerr ("xmitm: %s\n", dropped);
        }
    }
  else
    xm_replay_say (&r, "replay: %s: %u connection%s, %u client stanzas to send, %u "
                   "server stanzas to compare; server %s, pace %s", path,
                   r.conns->len, r.conns->len == 1 ? "" : "s", sends, expects, where,
                   pace_names[opts->pace]);

  /* After the privilege drop: see xm_stop_signals_hold(). */
  sigint = g_unix_signal_add (SIGINT, on_sigint, &r);
  sigterm = g_unix_signal_add (SIGTERM, on_sigterm, &r);
  xm_stop_signals_release ();
  xm_poller_set_after_dispatch (pump, &r);
  r.tick = g_timeout_add (TICK_MS, on_tick, &r);
  xm_replay_progress (&r);
  pump (&r);
  if (!r.stopping)
    g_main_loop_run (r.loop);
  xm_poller_set_after_dispatch (NULL, NULL);
  g_clear_handle_id (&drain_more, g_source_remove);
  g_source_remove (r.tick);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  xm_serve_stop (&r);

  if (r.status != XM_REPLAY_ERROR)
    {
      guint64 diffs = r.differ + r.missing + r.unexpected + r.not_sent + r.reordered
                      + r.unplayed;
      const char *peer = opts->serve ? "client" : "server";

      /* Who went quiet, in numbers. */
      for (guint k = 0; k < r.conns->len; k++)
        {
          Conn *c = r.conns->pdata[k];
          guint total = 0;
          g_autofree char *line = NULL;

          if (c->missed == 0)
            continue;
          for (guint i = 0; i < c->sc->steps->len; i++)
            total += is_peer_stanza (&r, c->sc->steps->pdata[i]);
          line = opts->serve
            ? g_strdup_printf ("%s: %s logged in but sent only %u of %u recorded "
                               "client stanzas", c->label,
                               c->account ? c->account : "the client",
                               total - c->missed, total)
            : g_strdup_printf ("%s: the server sent only %u of %u recorded stanzas",
                               c->label, total - c->missed, total);
          xm_replay_say (&r, "%s", line);
          g_string_append_printf (c->report, "%s\n", line);
        }

      xm_replay_say (&r, "replay: %" G_GUINT64_FORMAT " %s stanzas compared: %"
                     G_GUINT64_FORMAT " as recorded, %" G_GUINT64_FORMAT
                     " different, %" G_GUINT64_FORMAT " missing, %" G_GUINT64_FORMAT
                     " unexpected, %" G_GUINT64_FORMAT " out of order", r.compared,
                     peer, r.same, r.differ, r.missing, r.unexpected, r.reordered);
      if (opts->serve)
        {
          guint total = 0;

          for (guint i = 0; i < r.script->conns->len; i++)
            total += ((XmScriptConn *) r.script->conns->pdata[i])->steps->len > 0;
          xm_replay_say (&r, "replay: %u recorded connection%s: %u played, %"
                         G_GUINT64_FORMAT " not played", total, total == 1 ? "" : "s",
                         g_hash_table_size (r.played), r.unplayed);
          if (r.unplayed_stanzas)
            xm_replay_say (&r, "replay: %" G_GUINT64_FORMAT " client stanzas of "
                           "connections not played were not compared",
                           r.unplayed_stanzas);
        }
      r.status = diffs ? XM_REPLAY_DIFFERENT : XM_REPLAY_SAME;
      if (r.interrupted)
        {
          r.status = XM_REPLAY_ERROR;
          xm_replay_say (&r, "replay: INTERRUPTED: stopped by %s before the replay "
                         "ended; the counts above are what was compared until then",
                         r.interrupted);
        }
      else if (diffs)
        xm_replay_say (&r, "replay: DIFFERENT: the %s did not behave as recorded", peer);
      else
        xm_replay_say (&r, "replay: SAME: the %s behaved as recorded", peer);
    }
  if (junit_fd >= 0)
    {
      g_autoptr (GError) jerr = NULL;
      gboolean ok = write_junit (&r, junit_fd, opts->junit,
                                 (g_get_monotonic_time () - start)
                                 / (double) G_USEC_PER_SEC, &jerr);

      if (close (junit_fd) != 0 && ok)
        {
          int err = errno;
          g_set_error (&jerr, G_FILE_ERROR, g_file_error_from_errno (err),
                       "cannot write %s: %s", opts->junit, g_strerror (err));
          ok = FALSE;
        }
      if (!ok)
        {
          g_printerr ("xmitm: replay: --junit: %s\n", jerr->message);
          r.status = XM_REPLAY_ERROR;
        }
    }
  /* Close what an error left open: no socket callback runs after this. */
  for (guint k = 0; k < r.conns->len; k++)
    xm_conn_close (r.conns->pdata[k]);
  g_ptr_array_unref (r.conns);
  g_hash_table_unref (r.rec2live);
  g_hash_table_unref (r.live2rec);
  g_hash_table_unref (r.client_ids);
  g_clear_pointer (&r.claimed, g_hash_table_unref);
  g_clear_pointer (&r.logged_in, g_hash_table_unref);
  g_clear_pointer (&r.played, g_hash_table_unref);
  g_clear_pointer (&r.ids_rec2live, g_hash_table_unref);
  g_main_loop_unref (r.loop);
  xm_script_free (r.script);
  return r.status;
}

/* ---- command line ---- */

static G_GNUC_PRINTF (1, 2) int
usage_error (const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_printerr ("xmitm: replay: %s\n", msg);
  return XM_REPLAY_ERROR;
}

/* One "JID PASSWORD" per line; '#' starts a comment line. */
static GHashTable *
load_credentials (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  GHashTable *t;

  if (!g_file_get_contents (path, &text, NULL, error))
    return NULL;
  t = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      char *l = g_strchomp (lines[i]);
      char *sp;

      while (*l == ' ' || *l == '\t')
        l++;
      if (*l == '\0' || *l == '#')
        continue;
      sp = strpbrk (l, " \t");
      if (sp == NULL)
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                       "%s line %u: say 'JID PASSWORD'", path, i + 1);
          g_hash_table_unref (t);
          return NULL;
        }
      *sp++ = '\0';
      while (*sp == ' ' || *sp == '\t')
        sp++;
      g_hash_table_replace (t, g_strdup (l), g_strdup (sp));
    }
  return t;
}

int
xm_replay_main (int argc, char **argv)
{
  g_autofree char *server = NULL, *password = NULL, *credentials = NULL;
  g_autofree char *tls = NULL, *upstream_ca = NULL, *pace = NULL, *junit = NULL;
  g_auto (GStrv) ignore = NULL;
  gboolean insecure = FALSE, verbose = FALSE, serve = FALSE;
  g_autofree char *listen = NULL, *ca_cert = NULL, *ca_key = NULL, *user = NULL;
  gint timeout = 5;
  GOptionEntry entries[] = {
    { "server", 's', 0, G_OPTION_ARG_STRING, &server,
      "Replay the client side against the XMPP server at HOST:PORT (required)",
      "HOST:PORT" },
    { "password", 'p', 0, G_OPTION_ARG_STRING, &password,
      "The password of the recorded account(s): SCRAM, DIGEST-MD5 and PLAIN are "
      "computed anew (without it, only a PLAIN or token login recorded with "
      "--record-secrets can be reused)", "PW" },
    { "credentials", 0, 0, G_OPTION_ARG_FILENAME, &credentials,
      "Passwords of several accounts: one 'JID PASSWORD' per line", "FILE" },
    { "tls", 0, 0, G_OPTION_ARG_STRING, &tls,
      "auto (as recorded, default), starttls, direct (XEP-0368) or none", "MODE" },
    { "upstream-ca", 0, 0, G_OPTION_ARG_FILENAME, &upstream_ca,
      "Also trust this CA (PEM) when verifying the server's certificate", "FILE" },
    { "upstream-insecure", 0, 0, G_OPTION_ARG_NONE, &insecure,
      "Do not verify the server's certificate", NULL },
    { "pace", 0, 0, G_OPTION_ARG_STRING, &pace,
      "iq (default: wait for each iq's answer, and for what other connections "
      "received before), recorded (also keep the recorded gaps) or fast", "PACE" },
    { "ignore", 'i', 0, G_OPTION_ARG_STRING_ARRAY, &ignore,
      "Leave what XPATH selects out of the comparison (repeatable), e.g. "
      "//delay, /message/body, //item/@name, //query[@xmlns='jabber:iq:version']",
      "XPATH" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout,
      "Call a server stanza missing after N seconds without progress; give up "
      "connecting or negotiating after N seconds (default 5)", "N" },
    { "junit", 0, 0, G_OPTION_ARG_FILENAME, &junit,
      "Also write a JUnit XML report (a test case per connection) to FILE "
      "(mode 0600, created at the start)", "FILE" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
      "Print every stanza sent and received", NULL },
    { "serve", 0, 0, G_OPTION_ARG_NONE, &serve,
      "Play the recorded server to clients instead (see below)", NULL },
    { "listen", 'l', 0, G_OPTION_ARG_STRING, &listen,
      "With --serve: accept clients on ADDR:PORT (default 127.0.0.1:5222)",
      "ADDR:PORT" },
    { "ca-cert", 0, 0, G_OPTION_ARG_FILENAME, &ca_cert,
      "With --serve: sign the STARTTLS certificate with this CA instead of "
      "xmitm's own", "FILE" },
    { "ca-key", 0, 0, G_OPTION_ARG_FILENAME, &ca_key, "The key of --ca-cert", "FILE" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &user,
      "With --serve, started as root: once the listener is bound and the "
      "files are open, run as USER with no capability", "USER" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("FILE - replay a recording against a server");
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func ((GDestroyNotify) xm_canon_path_free);
  XmReplayOptions opts = { 0 };
  g_autofree char *host = NULL, *listen_host = NULL;
  int rc;

  xm_stop_signals_hold ();
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_summary (ctx,
    "Replays the client side of a recording (xmitm proxy --record FILE),\n"
    "or of a packet capture of cleartext XMPP (pcap, pcapng),\n"
    "against a server: every recorded connection is opened anew,\n"
    "authenticated again, its client stanzas sent in recorded order, and what\n"
    "the server sends is compared with what it sent then. Stream ids, SASL\n"
    "nonces, ids the server chose, bound resources, delay stamps, XEP-0359\n"
    "and MAM ids, caps hashes do not count; nor do attribute order,\n"
    "namespace prefixes, the order of children, or the order in which\n"
    "presences arrive between two other stanzas (anything else must come\n"
    "in recorded order).");
  g_option_context_set_description (ctx,
    "Examples:\n"
    "  xmitm replay session.jsonl --server localhost:5222 --password secret\n"
    "  xmitm replay session.jsonl --server xmpp.example.net:5222 \\\n"
    "      --credentials accounts.txt --ignore //item/@name --junit replay.xml\n"
    "\n"
    "Server pings (XEP-0199) and XEP-0198 acknowledgement requests are\n"
    "answered live and not compared.\n"
    "\n"
    "--serve plays the recorded server to a client under test (or several):\n"
    "the same stream features (less SCRAM-*-PLUS and XEP-0440: no channel\n"
    "binding), STARTTLS with xmitm's CA (xmitm ca export),\n"
    "its login accepted (SCRAM needs the password: the client checks the\n"
    "server's signature), bind answered with the recorded JID, and each\n"
    "client stanza answered with the server stanzas that followed it in the\n"
    "recording; the client's stanzas are compared the same way. The account\n"
    "a client logs in as picks the recorded connection it plays. It exits\n"
    "once every recorded connection has been played, or nothing happened for\n"
    "--timeout seconds (60 before the first client).\n"
    "  xmitm replay session.jsonl --serve --listen 127.0.0.1:5223 --password secret\n"
    "  xmitm replay /root/s.jsonl --serve --password secret --user nobody \\\n"
    "      --junit /root/serve.xml\n"
    "      as root: listens, reads the recording and the CA, creates the\n"
    "      report, then runs as nobody (no capability) and writes it at the end\n"
    "\n"
    "Exit status: 0 when the server behaved as recorded, 1 on a difference,\n"
    "2 on an error (bad file or option, unreachable server, authentication\n"
    "failed, --user not root or unknown, stopped by SIGINT or SIGTERM).\n");
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return usage_error ("%s (see xmitm replay --help)", error->message);
  if (argc != 2)
    return usage_error (argc < 2 ? "say which recording to replay (see xmitm replay --help)"
                                 : "replay takes one recording (see xmitm replay --help)");
  if (serve)
    {
      if (server)
        return usage_error ("--serve plays the server: leave out --server");
      if (!xm_parse_hostport (listen ? listen : "127.0.0.1:5222", &listen_host,
                              &opts.listen_port, &error))
        return usage_error ("bad --listen: %s", error->message);
      opts.listen_host = listen_host;
      opts.serve = TRUE;
    }
  else if (listen || ca_cert || ca_key || user)
    return usage_error ("--listen, --ca-cert, --ca-key and --user go with --serve");
  else if (server == NULL)
    return usage_error ("--server HOST:PORT is required (see xmitm replay --help)");
  else if (!xm_parse_hostport (server, &host, &opts.port, &error))
    return usage_error ("bad --server: %s", error->message);
  opts.host = host ? host : listen_host;
  opts.tls = XM_TLS_MODE_AUTO;
  if (tls)
    {
      static const char *const modes[] = { "auto", "starttls", "direct", "none" };
      int m = -1;
      for (int i = 0; i < 4; i++)
        if (strcmp (tls, modes[i]) == 0)
          m = i;
      if (m < 0)
        return usage_error ("bad --tls '%s': use auto, starttls, direct or none", tls);
      opts.tls = m;
    }
  opts.pace = XM_PACE_IQ;
  if (pace && !xm_pace_parse (pace, &opts.pace))
    return usage_error ("bad --pace '%s': use iq, recorded or fast", pace);
  if (timeout <= 0)
    return usage_error ("--timeout must be a positive number of seconds");
  opts.timeout_s = timeout;
  for (char **x = ignore; x && *x; x++)
    {
      XmCanonPath *p = xm_canon_path_parse (*x, &error);
      if (p == NULL)
        return usage_error ("%s", error->message);
      g_ptr_array_add (paths, p);
    }
  opts.ignore = paths;
  /* Before anything is opened. */
  if (user && !xm_privdrop_check (user, &error))
    {
      g_printerr ("xmitm: %s\n", error->message);
      return XM_REPLAY_ERROR;
    }
  opts.user = user;
  if (credentials)
    {
      opts.credentials = load_credentials (credentials, &error);
      if (opts.credentials == NULL)
        return usage_error ("--credentials: %s", error->message);
    }
  opts.password = password;
  opts.verbose = verbose;
  opts.junit = junit;

  {
    XmTlsConfig tcfg = { .insecure = insecure, .upstream_ca = upstream_ca,
                         .keylog = g_getenv ("SSLKEYLOGFILE") };
    if (tcfg.keylog && *tcfg.keylog == '\0')
      tcfg.keylog = NULL;
    if (!xm_tls_init (&tcfg, &error))
      {
        g_clear_pointer (&opts.credentials, g_hash_table_unref);
        return usage_error ("%s", error->message);
      }
  }
  if (serve)
    {
      g_autofree char *dir = NULL, *dcert = NULL, *dkey = NULL;

      if ((ca_cert == NULL) != (ca_key == NULL))
        {
          xm_tls_cleanup ();
          g_clear_pointer (&opts.credentials, g_hash_table_unref);
          return usage_error ("--ca-cert and --ca-key go together");
        }
      if (ca_cert == NULL)
        {
          dir = xm_ca_default_dir ();
          dcert = g_build_filename (dir, "ca.pem", NULL);
          dkey = g_build_filename (dir, "ca-key.pem", NULL);
        }
      opts.ca = xm_ca_open (ca_cert ? ca_cert : dcert, ca_key ? ca_key : dkey,
                            ca_cert == NULL, &error);
      if (opts.ca == NULL)
        {
          xm_tls_cleanup ();
          g_clear_pointer (&opts.credentials, g_hash_table_unref);
          return usage_error ("cannot use the CA: %s", error->message);
        }
    }
  rc = run (argv[1], &opts);
  g_clear_pointer (&opts.ca, xm_ca_free);
  xm_tls_cleanup ();
  g_clear_pointer (&opts.credentials, g_hash_table_unref);
  return rc;
}
