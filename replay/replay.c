/* replay.c: `xmitm replay`: scheduling the recorded steps across
 * connections (pump), progress, giving up, signals, the report, and one
 * run from start to end. Matching what the peer sends is
 * replay-match.c's, the command line replay-cli.c's, the sockets and
 * negotiation of each connection conn.c's. */
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

#define TICK_MS 50
#define SERVE_FIRST_WAIT_S 60


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

char *
xm_replay_format_time (gint64 time_us)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_local (time_us / G_USEC_PER_SEC);
  g_autofree char *hms = dt ? g_date_time_format (dt, "%H:%M:%S") : NULL;

  if (hms == NULL)
    return g_strdup_printf ("@%" G_GINT64_FORMAT, time_us);
  return g_strdup_printf ("%s.%06d", hms, (int) (time_us % G_USEC_PER_SEC));
}

/* "iq type='result' id='x'", "presence from='a@b/c' type='unavailable'" */
char *
xm_replay_describe (const XmCanon *canon)
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

void
xm_replay_report (Conn *c, const char *headline, const char *body)
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
xm_replay_report_tree (Conn *c, const char *headline, const XmCanon *canon, const char *mark)
{
  GString *body = g_string_new (NULL);
  g_autofree char *indent = g_strconcat ("    ", mark, NULL);

  xm_canon_format (canon, indent, body);
  xm_replay_report (c, headline, body->str);
  g_string_free (body, TRUE);
}

/* ---- values that change between sessions ---- */

const char *
xm_replay_map_live (const char *value, gpointer data)
{
  Replay *r = data;

  return g_hash_table_lookup (r->live2rec, value);
}

void
xm_replay_map_value (Replay *r, const char *rec, const char *live)
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

XmCanon *
xm_replay_expected_canon (Replay *r, XmStep *step)
{
  if (step->data == NULL && step->stanza && step->stanza->root)
    {
      g_autoptr (XmStanza) full = xm_script_stanza_full (step->stanza);
      XmCanon *canon = xm_canon_new (full->root, NULL, NULL);
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

void
xm_replay_done (Replay *r, XmStep *step)
{
  xm_order_done (r->script->order, step->order, g_get_monotonic_time ());
  xm_replay_progress (r);
}

gboolean
xm_replay_step_done (Replay *r, XmStep *step)
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
const char *
xm_replay_peer_arrow (Replay *r)
{
  return r->opts->serve ? "C->S" : "S->C";
}

gboolean
xm_replay_is_peer_close (Replay *r, const XmStep *step)
{
  return step->kind == (r->opts->serve ? XM_STEP_CLOSE : XM_STEP_EXPECT_CLOSE);
}

gboolean
xm_replay_is_peer_stanza (Replay *r, const XmStep *step)
{
  return step->kind == (r->opts->serve ? XM_STEP_SEND : XM_STEP_EXPECT);
}

static void
missing (Replay *r, Conn *c, XmStep *step)
{
  g_autofree char *when = xm_replay_format_time (step->time_us);

  if (xm_replay_is_peer_close (r, step))
    {
      g_autofree char *h = g_strdup_printf ("%s the %s did not close its "
                                            "stream (recorded at %s)", xm_replay_peer_arrow (r),
                                            r->opts->serve ? "client" : "server", when);
      xm_replay_report (c, h, NULL);
    }
  else
    {
      XmCanon *e = xm_replay_expected_canon (r, step);
      g_autofree char *d = xm_replay_describe (e);
      g_autofree char *h = g_strdup_printf ("%s %s did not arrive (recorded at %s):",
                                            xm_replay_peer_arrow (r), d, when);
      xm_replay_report_tree (c, h, e, "- ");
    }
  r->missing++;
  r->compared++;
  if (xm_replay_is_peer_stanza (r, step))
    c->missed++;
  xm_replay_done (r, step);
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
                   c->peer, xm_conn_tls (c) ? " over TLS" : "",
                   c->mechanism ? c->mechanism : "nothing", how,
                   xm_conn_compressed (c) ? ", compressed with zlib (XEP-0138)" : "");
  else
    xm_replay_say (r, "%s: connected%s, authenticated with %s%s%s", c->label,
                   xm_conn_tls (c) ? " over TLS" : "", c->mechanism ? c->mechanism : "nothing",
                   how, xm_conn_compressed (c) ? ", compressed with zlib (XEP-0138)" : "");
  if (r->played)
    g_hash_table_add (r->played, c->sc);
  xm_replay_done (r, step);
}

void
xm_replay_bound (Conn *c, const char *rec, const char *live)
{
  if (c->live_jid)
    return;
  c->live_jid = g_strdup (live);
  xm_replay_map_value (c->r, rec, live);
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
  xm_replay_drain (c);
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
      if (xm_replay_step_done (r, step))
        continue;
      if (xm_replay_is_send (r, step))
        {
          /* Our close after the peer's is no loss. */
          if (!(c->got_close && (step->kind == XM_STEP_CLOSE
                                 || step->kind == XM_STEP_EXPECT_CLOSE)))
            unsent++;
          xm_replay_done (r, step);
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
      xm_replay_report (c, h, NULL);
      r->not_sent += unsent;
    }
}

/* ---- scheduling ---- */

static void
do_step (Replay *r, Conn *c, XmStep *step)
{
  switch (step->kind)
    {
    case XM_STEP_CONNECT:
      xm_conn_start (c);
      return; /* done once authenticated */
    case XM_STEP_CLOSE:
    case XM_STEP_EXPECT_CLOSE: /* serve: the server's close */
      c->sent_close = TRUE;
      xm_conn_send (c, xm_conn_close_tag (c), strlen (xm_conn_close_tag (c)));
      break;
    case XM_STEP_SEND:
    case XM_STEP_EXPECT: /* serve: a server stanza */
      if (xm_conn_rewrite_needless (c, step->stanza))
        {
          /* A plain message or presence (never a bind request) with no
           * recorded value to replace: its bytes, no tree needed. */
          xm_conn_send (c, (const char *) step->stanza->raw, step->stanza->raw_len);
          break;
        }
      {
        g_autoptr (XmStanza) full = xm_script_stanza_full (step->stanza);
        const XmNode *el = full->root;
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
  xm_replay_done (r, step);
}

/* The connection has nothing left to do or expect. */
static gboolean
conn_finished (Replay *r, Conn *c)
{
  /* From the last: steps are done in about recorded order, so one not done
   * is found at once (pump asks every round). */
  for (guint i = c->sc->steps->len; i-- > 0;)
    if (!xm_replay_step_done (r, c->sc->steps->pdata[i]))
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
          && c->bind_result && !xm_replay_step_done (r, c->bind_result))
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
          || xm_replay_step_done (r, c->bind_result) || c->state == NEG_CLOSED)
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

/* names_unbound() for a stanza to send, whose tree is built only when a
 * connection is binding (seldom: the script keeps most stanzas without
 * their children). */
static gboolean
send_names_unbound (Replay *r, XmStep *step)
{
  gboolean any = FALSE;

  for (guint k = 0; k < r->conns->len && !any; k++)
    {
      Conn *c = r->conns->pdata[k];

      any = !(c->sc->jid == NULL || c->live_jid || c->bind_result == NULL
              || xm_replay_step_done (r, c->bind_result) || c->state == NEG_CLOSED);
    }
  if (any)
    {
      g_autoptr (XmStanza) full = xm_script_stanza_full (step->stanza);
      return names_unbound (r, full->root);
    }
  return FALSE;
}

/* Bytes queued for a socket above which no more stanzas are sent to it. */
#define SEND_WINDOW (256 * 1024)

void
xm_replay_pump (gpointer data)
{
  Replay *r = data;
  gboolean again = TRUE;
  gint64 now = g_get_monotonic_time ();
  gboolean all_closed = TRUE;

  if (!binding (r))
    xm_replay_drain_slice (r);
  /* The stanzas of this round go out together, below (xm_conn_flush). */
  r->gathering = TRUE;
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
                     || xm_replay_step_done (r, steps->pdata[c->cursor])))
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
          if (step->kind != XM_STEP_CONNECT && xm_conn_queued (c) > SEND_WINDOW)
            continue;
          if (!xm_order_ready (r->script->order, step->order)
              || (!r->opts->serve && now < xm_order_not_before (r->script->order, step->order))
              || (step->kind == XM_STEP_SEND && send_names_unbound (r, step)))
            continue;
          do_step (r, c, step);
          if (step->kind == XM_STEP_CONNECT)
            c->cursor++;
          again = TRUE;
        }
    }
  r->gathering = FALSE;
  for (guint k = 0; k < r->conns->len; k++)
    xm_conn_flush (r->conns->pdata[k]);
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
              c->sent_close = TRUE;
              xm_conn_send (c, xm_conn_close_tag (c), strlen (xm_conn_close_tag (c)));
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
          if (!xm_replay_step_done (r, step))
            {
              n += xm_replay_is_peer_stanza (r, step);
              xm_replay_done (r, step);
            }
        }
      {
        const char *who = c->account ? c->account : "?";
        g_autofree char *h = g_hash_table_contains (r->logged_in, sc)
          ? g_strdup_printf ("a client logged in as %s but did not start its "
                             "session: its %u recorded client stanzas never came", who, n)
          : g_strdup_printf ("no client logged in as %s: its %u recorded client "
                             "stanzas never came", who, n);
        xm_replay_report (c, h, NULL);
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
      if (xm_replay_is_send (r, step) && !xm_replay_step_done (r, step))
        {
          first_send = i;
          break;
        }
    }
  for (guint i = 0; i < first_send; i++)
    {
      XmStep *step = steps->pdata[i];
      Conn *c;

      if (xm_replay_is_send (r, step) || xm_replay_step_done (r, step))
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
  xm_replay_pump (r);
  return G_SOURCE_CONTINUE;
}

/* SIGINT, SIGTERM or SIGHUP (a closed terminal): stop now. The comparison so far is printed, the
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

static gboolean
on_sighup (gpointer data)
{
  interrupt (data, "SIGHUP");
  return G_SOURCE_CONTINUE;
}

/* ---- running ---- */

static void
print_warning (const char *message, gpointer data)
{
  g_printerr ("xmitm: replay: %s: %s\n", (const char *) data, message);
}

int
xm_replay_run (const char *path, XmReplayOptions *opts)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *where = opts->serve
    ? xm_hostport_to_string (opts->listen_host, opts->listen_port)
    : opts->port ? xm_hostport_to_string (opts->host, opts->port)
    : g_strdup_printf ("%s (found through its SRV records)", opts->host);
  Replay r = { .opts = opts, .listen_fd = -1 };
  int junit_fd = -1;
  g_autofree char *dropped = NULL;
  guint sigint, sigterm, sighup;
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
  if (opts->junit && xm_same_file (opts->junit, path))
    {
      g_printerr ("xmitm: replay: --junit %s is %s itself: writing it would "
                  "destroy the recording (name another file)\n", opts->junit, path);
      xm_script_free (r.script);
      return XM_REPLAY_ERROR;
    }
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
              xm_replay_done (&r, step);
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
  sighup = g_unix_signal_add (SIGHUP, on_sighup, &r);
  xm_stop_signals_release ();
  xm_poller_set_after_dispatch (xm_replay_pump, &r);
  r.tick = g_timeout_add (TICK_MS, on_tick, &r);
  xm_replay_progress (&r);
  xm_replay_pump (&r);
  if (!r.stopping)
    g_main_loop_run (r.loop);
  xm_poller_set_after_dispatch (NULL, NULL);
  g_clear_handle_id (&r.drain_more, g_source_remove);
  g_source_remove (r.tick);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  g_source_remove (sighup);
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
            total += xm_replay_is_peer_stanza (&r, c->sc->steps->pdata[i]);
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
      gboolean ok = xm_replay_write_junit (&r, junit_fd, opts->junit,
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
  if (r.reap_carriers)
    g_source_remove (r.reap_carriers);
  g_ptr_array_unref (r.conns);
  g_hash_table_unref (r.rec2live);
  g_hash_table_unref (r.live2rec);
  g_hash_table_unref (r.client_ids);
  g_clear_pointer (&r.claimed, g_hash_table_unref);
  g_clear_pointer (&r.bosh_sessions, g_hash_table_unref);
  g_clear_pointer (&r.logged_in, g_hash_table_unref);
  g_clear_pointer (&r.played, g_hash_table_unref);
  g_clear_pointer (&r.ids_rec2live, g_hash_table_unref);
  g_main_loop_unref (r.loop);
  xm_script_free (r.script);
  return r.status;
}

