/* replay-match.c: matching what the peer sends against what was recorded:
 * the peer index (peer-index.h) finds the expected stanza by canonical key
 * or name, server-chosen ids and bound JIDs are learnt as they come, iq
 * requests nobody recorded are answered live (serve), and what was
 * received is matched in slices of a main-loop round. */
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
#include "password.h"
#include "privdrop.h"
#include "replay.h"
#include "replay-private.h"
#include "peer-index.h"

#define NS_SM "urn:xmpp:sm:3"


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

      if (step->kind != XM_STEP_EXPECT || xm_replay_step_done (r, step)
          || g_strcmp0 (xm_node_attr (step->stanza->root, "id"), id) != 0)
        continue;
      rec = xm_stanza_bind_jid (step->stanza->root);
      if (rec)
        {
          xm_replay_map_value (r, rec, live);
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
  GString *s = g_string_new (c->ws || c->bosh ? "<iq xmlns='jabber:client'" : "<iq");

  g_string_append (s, error ? " type='error'" : " type='result'");

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
  return xm_replay_step_done (((PeerSteps *) data)->r, step);
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

      if (!xm_replay_is_peer_stanza (ps->r, step))
        continue;
      e = xm_replay_expected_canon (ps->r, step);
      xm_peer_index_add (x, step, e ? e->key : "", e ? e->ns : "", e ? e->name : "",
                         strcmp (step->stanza->root->name, "presence") == 0);
      return TRUE;
    }
  return FALSE;
}

/* A step that arrived is never looked at again (the index skips it), so its
 * canonical form goes: what replay holds stays the size of what is still
 * expected, not of what has been played. */
static void
forget_canon (XmStep *step)
{
  if (step->data && step->data_free)
    step->data_free (step->data);
  step->data = NULL;
  step->data_free = NULL;
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
    if (id_ok (r, c, xm_replay_expected_canon (r, xm_peer_index_item (x, j))->id, actual->id))
      equal = (gint) j;
  xm_peer_iter_clear (&it);
  if (equal >= 0)
    {
      XmStep *step = xm_peer_index_item (x, equal);
      XmCanon *e = xm_replay_expected_canon (r, step);

      overtaken = xm_peer_index_overtakes (x, equal);
      commit_id (c, e->id, actual->id);
      r->compared++;
      xm_replay_done (r, step);
      if (overtaken < 0)
        {
          r->same++;
          forget_canon (step);
          return;
        }
      {
        XmStep *first = xm_peer_index_item (x, overtaken);
        g_autofree char *d = xm_replay_describe (e);
        g_autofree char *fd = xm_replay_describe (xm_replay_expected_canon (r, first));
        g_autofree char *when = xm_replay_format_time (step->time_us);
        g_autofree char *fwhen = xm_replay_format_time (first->time_us);
        g_autofree char *h = g_strdup_printf ("%s %s came before %s, which the "
                                              "recording has first (recorded at %s, "
                                              "this one at %s):", xm_replay_peer_arrow (r), d,
                                              fd, fwhen, when);
        xm_replay_report_tree (c, h, actual, "  ");
        r->reordered++;
      }
      forget_canon (step);
      return;
    }
  /* No equal one: the first counterpart within the window, else the
   * first counterpart. */
  xm_peer_index_by_name (x, actual->ns, actual->name, &it);
  while (paired_within == NULL && xm_peer_iter_next (&it, &j))
    {
      XmStep *step = xm_peer_index_item (x, j);

      if (!pairs_with (r, c, xm_replay_expected_canon (r, step), actual))
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
      XmCanon *e = xm_replay_expected_canon (r, paired);
      g_autofree char *d = xm_replay_describe (e);
      g_autofree char *when = xm_replay_format_time (paired->time_us);
      g_autofree char *h = g_strdup_printf ("%s %s differs from the recording "
                                            "(recorded at %s):", xm_replay_peer_arrow (r), d, when);
      g_autofree char *diff = xm_canon_diff (e, actual, "    ");

      if (diff == NULL)
        diff = g_strdup_printf ("    id: recorded '%s', now '%s'\n",
                                e->id ? e->id : "", actual->id ? actual->id : "");
      commit_id (c, e->id, actual->id);
      xm_replay_report (c, h, diff);
      r->compared++;
      r->differ++;
      xm_replay_done (r, paired);
      forget_canon (paired);
      return;
    }
  {
    g_autofree char *d = xm_replay_describe (actual);
    g_autofree char *h = g_strdup_printf ("%s %s is not in the recording:",
                                          xm_replay_peer_arrow (r), d);
    xm_replay_report_tree (c, h, actual, "+ ");
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

void
xm_replay_drain (Conn *c)
{
  drain_until (c, 0);
}

/* What a main-loop round matches at most: the rest waits for the next
 * round, so that a long recording never keeps signals (SIGINT, SIGTERM)
 * waiting. */
#define DRAIN_SLICE_US (50 * 1000)

static gboolean
drain_again (gpointer data)
{
  Replay *r = data;

  r->drain_more = 0;
  xm_replay_pump (r);
  return G_SOURCE_REMOVE;
}

void
xm_replay_drain_slice (Replay *r)
{
  gint64 deadline = g_get_monotonic_time () + DRAIN_SLICE_US;
  gboolean all = TRUE;

  for (guint k = 0; k < r->conns->len; k++)
    all = drain_until (r->conns->pdata[k], deadline) && all;
  if (!all && r->drain_more == 0)
    r->drain_more = g_idle_add (drain_again, r);
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
  /* --transport chose otherwise: features are the transport's too (no
   * STARTTLS inside WebSocket, RFC 7395 §3.6). */
  if (xm_conn_transport_differs (c))
    {
      if (stage == XM_FEATURES_AUTH)
        xm_replay_say (r, "%s: stream features not compared (--transport differs "
                       "from the recording)", c->label);
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
    xm_replay_report (c, h, diff);
    r->differ++;
  }
}

void
xm_replay_peer_close (Conn *c)
{
  Replay *r = c->r;

  xm_replay_drain (c);
  if (r->opts->serve && !c->claimed)
    {
      xm_conn_close (c);
      return;
    }
  for (guint i = 0; i < c->sc->steps->len; i++)
    {
      XmStep *step = c->sc->steps->pdata[i];
      if (xm_replay_is_peer_close (r, step) && !xm_replay_step_done (r, step))
        {
          r->compared++;
          r->same++;
          xm_replay_done (r, step);
          break;
        }
    }
  if (r->opts->serve)
    return; /* the recorded close goes out in its turn (xm_replay_pump) */
  /* RFC 6120 §4.4: answer a close with a close. */
  if (!c->sent_close)
    {
      c->sent_close = TRUE;
      xm_conn_send (c, xm_conn_close_tag (c), strlen (xm_conn_close_tag (c)));
    }
  xm_replay_lost (c, "the server closed the stream");
}

