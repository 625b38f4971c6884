/* session.c: one client/upstream pair: two legs (leg.h) and the observer
 * that decodes a copy of what goes between them.
 *
 * Byte path per direction: a leg hands up the plaintext it read; the
 * connection's observer (observer.h: a framer per direction, SASL, the
 * negotiation steps) decodes it (it only reads it), then the same bytes go
 * to the other leg. Where the observer says the stream changes layer
 * (<proceed/>), the session pushes TLS onto both legs at that byte. Only
 * what the other leg cannot take right now is copied, into that leg's
 * bounded queue; while it holds more than OUT_HIGH the source leg is not
 * read (back-pressure), so memory per session is bounded whatever the
 * peers do. */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "session-private.h"
#include "net.h"

static void decode_sent (gpointer src, const guint8 *data, gsize len);
static const XmLegEvents leg_events;

XmSession *
xm_session_ref (XmSession *s)
{
  s->ref_count++;
  return s;
}

void
xm_session_unref (XmSession *s)
{
  if (--s->ref_count > 0)
    return;
  g_clear_pointer (&s->obs, xm_observer_free);
  for (int i = 0; i < 2; i++)
    g_clear_pointer (&s->side[i].leg, xm_leg_free);
  g_clear_pointer (&s->connect, xm_connect_free);
  g_free (s->client_name);
  g_free (s->upstream_name);
  g_free (s->dest_host);
  g_free (s->own_endpoint);
  g_free (s->last_connect_error);
  g_free (s->client_to);
  g_free (s->client_from);
  g_free (s->client_cert_name);
  g_free (s->client_ns);
  g_free (s->tls_name);
  if (s->held_back)
    g_byte_array_unref (s->held_back);
  g_clear_pointer (&s->replace, g_bytes_unref);
  g_free (s);
}

/* ---- events ---- */

void
xm_session_emit (XmSession *s, XmEvent *ev)
{
  ev->conn = s->id;
  if (ev->time_us == 0)
    ev->time_us = s->now ? s->now : g_get_real_time ();
  xm_proxy_emit (s->proxy, ev);
}

void
xm_session_note (XmSession *s, XmDir dir, XmNoteLevel level, const char *fmt, ...)
{
  g_autofree char *text = NULL;
  XmEvent ev = { .kind = XM_EVENT_NOTE, .dir = dir, .level = level };
  va_list ap;

  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  ev.text = text;
  xm_session_emit (s, &ev);
}

void
xm_session_layer (XmSession *s, XmDir dir, const char *text, const XmLayerInfo *info)
{
  XmEvent ev = { .kind = XM_EVENT_LAYER, .dir = dir, .text = text, .layer = info };
  xm_session_emit (s, &ev);
}

void
xm_session_simple_layer (XmSession *s, XmDir dir, const char *what, const char *text)
{
  XmLayerInfo info = { .layer = what };
  xm_session_layer (s, dir, text, &info);
}

/* ---- closing ---- */

static gboolean
free_later (gpointer data)
{
  xm_session_unref (data);
  return G_SOURCE_REMOVE;
}

void
xm_session_end (XmSession *s, const char *reason, gboolean abort)
{
  XmEvent ev = { .kind = XM_EVENT_CONN_CLOSE, .dir = XM_DIR_NONE };

  if (closed (s))
    return;
  /* what this read gathered goes out first, as it would have, and all it
   * read is decoded before the end is reported */
  xm_round_forget (s->round, s);
  if (closed (s)) /* by the flush */
    return;
  xm_s2s_auth_end (s);
  s->phase = PHASE_CLOSED;
  xm_round_busy_end (s->round, &s->busy);
  g_clear_pointer (&s->connect, xm_connect_free);
  g_clear_handle_id (&s->fail_timer, g_source_remove);
  g_clear_handle_id (&s->tls_timer, g_source_remove);
  xm_proxy_silence_stop (s->proxy, &s->silence);
  xm_leg_close (s->side[CLIENT].leg, abort);
  xm_leg_close (s->side[SERVER].leg, abort);
  xm_upstream_forget_endpoint (s);

  ev.text = reason;
  ev.bytes[XM_DIR_C2S] = s->bytes[XM_DIR_C2S];
  ev.bytes[XM_DIR_S2C] = s->bytes[XM_DIR_S2C];
  s->now = 0;
  xm_session_emit (s, &ev);

  xm_proxy_session_closed (s->proxy, s);
  /* Callbacks of this session may still be on the stack. */
  g_idle_add_full (G_PRIORITY_HIGH, free_later, s, NULL);
}

void
xm_session_close (XmSession *s, const char *reason)
{
  xm_session_end (s, reason, FALSE);
}

const char *
xm_session_side_name (int side)
{
  return side == CLIENT ? "client" : "server";
}

static void
check_done (XmSession *s)
{
  XmLeg *c = s->side[CLIENT].leg, *u = s->side[SERVER].leg;

  if (closed (s))
    return;
  if (failing (s))
    {
      if (xm_leg_eof (c) && xm_leg_queued (c) == 0)
        xm_session_end (s, "client closed after the stream error", FALSE);
      return;
    }
  if (xm_leg_eof (c) && xm_leg_eof (u) && xm_leg_queued (c) == 0 && xm_leg_queued (u) == 0)
    xm_session_end (s, "both sides closed", FALSE);
}

void
xm_session_shutdown_write (Side *to)
{
  xm_round_flush_leg (to->s->round, to->leg);
  xm_leg_shutdown (to->leg);
}

/* Reading follows what the other leg can take (back-pressure). */
void
xm_session_update_reading (XmSession *s)
{
  for (int i = 0; i < 2; i++)
    xm_leg_set_reading (s->side[i].leg, xm_leg_queued (s->side[1 - i].leg) < OUT_HIGH);
}

/* ---- decoding: what the proxy adds to the observer's ---- */

/* The server's <stream:features>: strip what cannot or should not reach
 * the client (rewrite.h), and say so. (Out of line, as explain_sasl: the
 * hook that calls them runs for every stanza.) */
static G_GNUC_NO_INLINE void
rewrite_features (XmSession *s, const XmStanza *st)
{
  g_autofree char *removed = NULL;
  GBytes *out;

  if (xm_node_child (st->root, NS_BIND, "bind"))
    s->rewrite_last = TRUE;
  if (st->raw == NULL)
    return;
  out = xm_rewrite_features (st->raw, st->raw_len, s->rewrite_flags, &removed);
  if (out == NULL)
    return;
  g_clear_pointer (&s->replace, g_bytes_unref);
  s->replace = out;
  if (strstr (removed, "-PLUS"))
    s->stripped_plus = TRUE;
  s->replace_start = st->offset;
  s->replace_end = st->offset + st->raw_len;
  xm_session_note (s, XM_DIR_S2C, XM_NOTE_WARNING,
        "xmitm removed %s from these features before passing them on (%s)",
        removed,
        (s->rewrite_flags & XM_REWRITE_STRIP_PLUS) && strstr (removed, "PLUS")
          ? "channel binding cannot work through a man in the middle; "
            "--keep-channel-binding keeps it"
          : "--no-compression");
}

/* The client's stream header (its event first): what a stream error for
 * it answers to. */
static G_GNUC_NO_INLINE void
client_header (XmSession *s, XmEvent *ev)
{
  const XmNode *h = ev->stanza->root;

  xm_session_emit (s, ev);
  if (h == NULL)
    return;
  g_free (s->client_to);
  s->client_to = g_strdup (xm_node_attr (h, "to"));
  g_free (s->client_from);
  s->client_from = g_strdup (xm_node_attr (h, "from"));
  g_clear_pointer (&s->client_ns, g_free);
  for (guint i = 0; i < h->n_ns_decls; i++)
    if (h->ns_decls[i].prefix == NULL)
      s->client_ns = g_strdup (h->ns_decls[i].uri);
  s->client_header_seen = TRUE;
  if (failing (s))
    xm_upstream_error_reply (s);
}

/* Every event the observer decodes. */
static void
on_observed (XmEvent *ev, gpointer user_data)
{
  XmSession *s = user_data;

  if (ev->kind == XM_EVENT_STREAM_OPEN && ev->dir == XM_DIR_C2S)
    client_header (s, ev);
  else
    xm_session_emit (s, ev);
}

static const char *
sasl_field (const XmSaslDecode *d, const char *name)
{
  for (guint i = 0; i < d->fields->len; i++)
    {
      const XmSaslField *f = g_ptr_array_index (d->fields, i);
      if (strcmp (f->name, name) == 0)
        return f->value;
    }
  return NULL;
}

/* RFC 5802 §6, XEP-0474: once xmitm removed -PLUS, a client that supports
 * channel binding says so ('y'), and a server that supports it must refuse
 * the login; name that cause instead of leaving a bare <failure/>. */
static G_GNUC_NO_INLINE void
explain_sasl (XmSession *s, XmDir dir, const XmSaslDecode *d)
{
  const char *flag = sasl_field (d, "gs2-cbind-flag");

  if (dir == XM_DIR_C2S && flag && strcmp (flag, "y") == 0 && s->stripped_plus)
    s->cb_downgrade = TRUE;
  if (dir == XM_DIR_S2C && d->step && strcmp (d->step, "failure") == 0
      && s->cb_downgrade)
    xm_session_note (s, XM_DIR_S2C, XM_NOTE_ERROR,
          "this login failed because of channel binding: the client supports "
          "it and, seeing no -PLUS (xmitm removed them), said so with GS2 "
          "flag 'y', which a server that supports channel binding must "
          "refuse (RFC 5802 §6); through a man in the middle use PLAIN or a "
          "client setting that turns channel binding off");
  else if (dir == XM_DIR_S2C && s->stripped_plus && sasl_field (d, "d"))
    xm_session_note (s, XM_DIR_S2C, XM_NOTE_WARNING,
          "the server protects its mechanism list (XEP-0474 d=): a client "
          "that checks it will see that xmitm removed -PLUS and abort");
}

/* RFC 6120 §5.4.3.3: the client sent <starttls/> and TLS has not started:
 * what it sends now is pipelined plaintext. */
static gboolean
pipelining (const XmSession *s)
{
  return s->intercept == INTERCEPT_STARTTLS_ASKED;
}

/* The notes only the proxy can give about an element, and the rewrite of
 * the server's features. */
static G_GNUC_NO_INLINE void
proxy_element (XmSession *s, XmDir dir, const XmStanza *st, const XmSaslDecode *sasl)
{
  const XmNode *root = st->root;

  if (sasl)
    explain_sasl (s, dir, sasl);
  if (root == NULL)
    return;
  xm_s2s_auth_element (s, dir, root, sasl);
  if (dir == XM_DIR_C2S)
    {
      if (!st->shallow && xm_node_is (root, NS_TLS, "starttls"))
        {
          if (s->intercept == INTERCEPT_NONE)
            s->intercept = INTERCEPT_STARTTLS_ASKED;
        }
      else if (pipelining (s))
        xm_session_note (s, XM_DIR_C2S, XM_NOTE_WARNING,
              "the client sent <%s/> after <starttls/> before the server's "
              "answer: pipelined plaintext (RFC 6120 §5.4.3.3); it is "
              "forwarded as plaintext and kept out of TLS", root->name);
    }
  else if (s->rewrite_flags && !st->shallow && xm_node_is (root, NS_STREAM, "features"))
    rewrite_features (s, st);
}

/* After the events of every top-level element (before it is forwarded, and
 * before the observer negotiates on it). Most are a message or presence
 * (shallow, so without a SASL decode), which matters here only as
 * pipelined plaintext: this runs for every stanza. */
static void
on_element (XmDir dir, const XmStanza *st, const XmSaslDecode *sasl, gpointer user_data)
{
  XmSession *s = user_data;

  if (st->shallow && !(dir == XM_DIR_C2S && pipelining (s)))
    return;
  proxy_element (s, dir, st, sasl);
}

/* ---- the byte path ---- */

/* Plaintext for a leg, through its layers. */
void
xm_session_send (Side *to, const guint8 *data, gsize len)
{
  xm_round_flush_leg (to->s->round, to->leg); /* bytes keep their order */
  xm_leg_send (to->leg, data, len);
}

/* Whether plaintext for to can wait for the end of this read. (Not while
 * a late decode reads the gathered bytes: nothing there sends, but an
 * append could move them.) */
static gboolean
can_gather (const Side *to)
{
  return to->s->in_read && tls_up (to) && xm_leg_is_open (to->leg)
         && !xm_leg_shut (to->leg) && !xm_round_decoding (to->s->round);
}

/* send_plain(), or later in this read. */
static void
queue_plain (Side *to, const guint8 *data, gsize len)
{
  if (!can_gather (to))
    xm_session_send (to, data, len);
  else
    xm_round_add (to->s->round, to->s, to->leg, data, len, NULL, NULL);
}

static gboolean
looks_like_tls (const guint8 *data, gsize len)
{
  /* A TLS handshake record (RFC 8446 §5.1): type 22, version 3.x. */
  return len >= 3 && data[0] == 0x16 && data[1] == 0x03 && data[2] <= 0x04;
}

/* ---- forwarding the server's bytes while features may be rewritten ---- */

/* Sends stream bytes [a, b) of the server direction: those before seg_base
 * come from what is held back, the rest from seg. */
static void
send_range (XmSession *s, guint64 a, guint64 b, const guint8 *seg, guint64 seg_base)
{
  Side *c = &s->side[CLIENT];

  if (a < seg_base)
    {
      guint64 hb = MIN (b, seg_base);
      xm_session_send (c, s->held_back->data + (a - s->fwd_offset), hb - a);
      a = hb;
    }
  if (a < b && !closed (s))
    xm_session_send (c, seg + (a - seg_base), b - a);
}

/* seg holds stream bytes [seg_base, seg_base + len), all read by the
 * framer; forward what belongs to complete items, rewritten where asked,
 * and hold back the incomplete rest. */
static void
forward_held (XmSession *s, const guint8 *seg, gsize len, guint64 seg_base,
              guint64 upto)
{
  guint64 a = s->fwd_offset, end = seg_base + len;

  if (s->replace && s->replace_start >= a && s->replace_end <= upto)
    {
      send_range (s, a, s->replace_start, seg, seg_base);
      xm_session_send (&s->side[CLIENT], g_bytes_get_data (s->replace, NULL),
                  g_bytes_get_size (s->replace));
      a = s->replace_end;
    }
  g_clear_pointer (&s->replace, g_bytes_unref);
  if (closed (s))
    return;
  send_range (s, a, upto, seg, seg_base);
  /* Keep [upto, end) for later. */
  {
    g_autoptr (GByteArray) rest = g_byte_array_new ();
    if (upto < seg_base)
      g_byte_array_append (rest, s->held_back->data + (upto - s->fwd_offset),
                           seg_base - upto);
    g_byte_array_append (rest, seg + (MAX (upto, seg_base) - seg_base),
                         end - MAX (upto, seg_base));
    if (s->held_back)
      g_byte_array_unref (s->held_back);
    s->held_back = rest->len ? g_steal_pointer (&rest) : NULL;
  }
  s->fwd_offset = upto;
}

/* Everything held back goes out as it is (the server closed, or rewriting
 * is over). */
static void
release_held_back (XmSession *s)
{
  if (s->held_back && !failing (s))
    xm_session_send (&s->side[CLIENT], s->held_back->data, s->held_back->len);
  g_clear_pointer (&s->held_back, g_byte_array_unref);
  s->rewrite_flags = 0;
}

/* XEP-0138: what is held back goes out uncompressed as it came, and
 * rewriting ends; the observer inflates both directions from the next
 * byte. */
static void
apply_zlib (XmSession *s)
{
  release_held_back (s);
  xm_observer_switch (s->obs);
}

/* Sends on bytes [base, base + len) of direction dir (already decoded).
 * While the server's features may still be rewritten, hold back only what
 * may be a <stream:features/>: an element whose start tag is incomplete, or
 * features itself. (Rewriting ends before a zlib stream: apply_zlib.) */
static void
forward (XmSession *s, XmDir dir, const guint8 *data, gsize len, guint64 base)
{
  const XmFramer *framer;
  const XmNode *el;
  guint64 upto;

  if (dir == XM_DIR_C2S || !s->rewrite_flags)
    {
      queue_plain (&s->side[dir == XM_DIR_C2S ? SERVER : CLIENT], data, len);
      return;
    }
  framer = xm_observer_framer (s->obs, XM_DIR_S2C);
  el = xm_framer_pending_element (framer);
  upto = MIN (xm_framer_pending_offset (framer), base + len);
  if (el && !xm_node_is (el, NS_STREAM, "features"))
    upto = base + len;
  forward_held (s, data, len, base, MAX (upto, s->fwd_offset));
  if (s->rewrite_last)
    release_held_back (s);
}

/* Decodes a copy of plaintext that arrived on side and, unless it went
 * out already, forwards the original. A negotiation element can end
 * mid-chunk; what follows it belongs to the next layer: returns how many
 * bytes belong to the layers as they were. */
static gsize
decode (Side *side, const guint8 *data, gsize len, gboolean forwarded)
{
  XmSession *s = side->s;
  XmDir dir = side->side == CLIENT ? XM_DIR_C2S : XM_DIR_S2C;
  gsize pos = 0;

  while (pos < len && !closed (s))
    {
      guint64 base = xm_framer_offset (xm_observer_framer (s->obs, dir));
      XmSwitch sw;
      gsize take = xm_observer_decode (s->obs, dir, data + pos, len - pos, &sw);

      s->bytes[dir] += take;
      if (G_UNLIKELY (s->rewrite_flags && xm_observer_web (s->obs)))
        {
          /* Over HTTP the server's features travel in WebSocket frames or
           * BOSH bodies, forwarded as they come: nothing is rewritten. */
          release_held_back (s);
        }
      if (!forwarded && !failing (s) && !closed (s))
        forward (s, dir, data + pos, take, base);
      pos += take;
      if (closed (s))
        return len;
      if (sw == XM_SWITCH_STARTTLS)
        {
          /* Not when forwarded: TLS is up, and the observer takes
           * <proceed/> only before it. */
          if (forwarded)
            return len;
          xm_intercept_starttls (s);
          return closed (s) ? len : pos;
        }
      if (sw == XM_SWITCH_ZLIB)
        apply_zlib (s); /* zlib bytes are forwarded as they come anyway */
    }
  return len;
}

/* Bytes that went out before they were decoded (round.h). */
static void
decode_sent (gpointer src, const guint8 *data, gsize len)
{
  decode (src, data, len, TRUE);
}

/* Past negotiation: no layer can change under the forwarded bytes (TLS is
 * up on both legs; a zlib switch changes only what the observer inflates)
 * and the features are no longer rewritten, so side's plaintext may go out
 * before it is decoded. */
static gboolean
steady (const Side *side)
{
  const XmSession *s = side->s;

  return !s->rewrite_flags && !failing (s) && tls_up (side)
         && can_gather (&s->side[1 - side->side]);
}

static gsize
deliver (Side *side, const guint8 *data, gsize len)
{
  XmSession *s = side->s;

  if (steady (side))
    {
      xm_round_note_busy (s->round, &s->busy, s->now);
      xm_round_add (s->round, s, s->side[1 - side->side].leg, data, len,
                    decode_sent, side);
      return len;
    }
  /* What side sent before is decoded, and forwarded, first. */
  xm_round_settle (s->round, side);
  return decode (side, data, len, FALSE);
}

/* ---- leg events ---- */

static void
on_received (XmLeg *leg, gsize n, gpointer user_data)
{
  Side *side = user_data;

  side->s->now = g_get_real_time ();
  side->s->in_read = TRUE;
  if (G_UNLIKELY (side->s->silence.link.data != NULL) && side->side == CLIENT && n > 0)
    xm_proxy_silence_stop (side->s->proxy, &side->s->silence);
}

static gsize
on_data (XmLeg *leg, const guint8 *data, gsize len, gpointer user_data)
{
  Side *side = user_data;
  XmSession *s = side->s;

  if (side->side == CLIENT && tls_layer (side) == NULL)
    {
      if (s->bytes[XM_DIR_C2S] == 0 && looks_like_tls (data, len))
        {
          xm_intercept_direct (s);
          return 0; /* all of it is the new layer's */
        }
      if (s->upstream == UPSTREAM_NONE && s->dest_port == 0
          && xm_web_looks_like_http (data, len))
        {
          /* A domain's SRV records name XMPP's TCP service, not the
           * server's HTTP port: refused once the observer has seen the
           * request, so the client gets an HTTP answer. */
          gsize n;

          s->upstream = UPSTREAM_FAILED;
          n = deliver (side, data, len);
          if (!closed (s))
            xm_upstream_refuse (s, "a WebSocket or BOSH client: a domain's "
                                "SRV records name XMPP's TCP service; give "
                                "--upstream HOST:PORT, the server's HTTP port");
          return n;
        }
      if (s->upstream == UPSTREAM_NONE)
        xm_upstream_connect (s, s->dest_host, s->dest_port);
    }
  return deliver (side, data, len);
}

/* The client finished its TLS handshake with xmitm, then closed or reset
 * the connection before sending a byte over it. Clients that check the
 * certificate only after the handshake (mcabber, psi, NSS-based ones,
 * gloox) do just that when they do not trust it, without an alert: say
 * what is known, and the likely cause. */
static gboolean
rejected_after_handshake (XmSession *s, const char *how, gboolean reset)
{
  g_autofree char *why = NULL;

  /* (TLS can be up before client_tls_up: a reset can fail the send of
   * OpenSSL's last handshake records, its tickets, in between.) */
  if (failing (s) || !tls_up (&s->side[CLIENT])
      || (s->client_tls_up && s->bytes[XM_DIR_C2S] != s->c2s_at_tls_up))
    return FALSE;
  xm_round_settle (s->round, &s->side[CLIENT]);
  if (closed (s) || (s->client_tls_up && s->bytes[XM_DIR_C2S] != s->c2s_at_tls_up))
    return closed (s);
  why = g_strdup_printf ("the TLS handshake with the client finished, then the "
                         "client %s before sending anything over it: this "
                         "usually means it does not trust xmitm's CA (some "
                         "clients check the certificate only after the "
                         "handshake, and close without an alert); export it "
                         "with `xmitm ca export` (it is %s) and add it to the "
                         "client's trust store", how,
                         xm_ca_cert_path (xm_proxy_config (s->proxy)->ca));
  xm_session_note (s, XM_DIR_NONE, XM_NOTE_ERROR, "%s", why);
  xm_session_end (s, why, reset);
  return TRUE;
}

/* The peer closed its sending side: FIN (layer NULL) or TLS close_notify. */
static void
on_eof (XmLeg *leg, XmLayer *layer, gpointer user_data)
{
  Side *side = user_data;
  XmSession *s = side->s;
  XmDir dir = side->side == CLIENT ? XM_DIR_C2S : XM_DIR_S2C;

  if (side->side == CLIENT
      && rejected_after_handshake (s, layer ? "closed TLS (close_notify)"
                                            : "closed the connection", FALSE))
    return;
  if (layer)
    {
      xm_round_settle (s->round, side);
      if (closed (s))
        return;
      xm_session_note (s, dir, XM_NOTE_INFO, "the %s closed TLS (close_notify)",
            xm_session_side_name (side->side));
    }
  else if (tls_pending (side) && !failing (s))
    {
      g_autofree char *why = NULL;

      if (side->side == CLIENT && xm_tls_certificate_sent (tls_of (side)))
        /* Clients that reject a certificate often just hang up (Python's
         * asyncio, for one, sends no alert). */
        why = g_strdup_printf ("the client closed the connection after "
                               "receiving xmitm's certificate: most likely "
                               "the client does not trust xmitm's CA; export "
                               "it with `xmitm ca export` (it is %s) and add "
                               "it to the client's trust store",
                               xm_ca_cert_path (xm_proxy_config (s->proxy)->ca));
      else
        why = g_strdup_printf ("the %s closed the connection during the TLS "
                               "handshake", xm_session_side_name (side->side));
      xm_session_note (s, XM_DIR_NONE, XM_NOTE_ERROR, "%s", why);
      xm_session_end (s, why, FALSE);
      return;
    }
  else if (side->side == CLIENT && s->upstream == UPSTREAM_NONE && !failing (s))
    {
      /* With --upstream-tls the first bytes say where to connect: none
       * came, and no upstream will ever close this. */
      xm_session_end (s, "the client closed the connection without sending "
                      "anything", FALSE);
      return;
    }
  else if (!failing (s))
    {
      XmTls *tls = tls_of (side);
      if (tls && xm_tls_input_incomplete (tls))
        xm_session_note (s, dir, XM_NOTE_WARNING, "the %s closed the connection in "
              "the middle of a TLS record: what it held cannot be "
              "decrypted and was not forwarded", xm_session_side_name (side->side));
      xm_session_note (s, dir, XM_NOTE_INFO, "the %s closed its sending side",
            xm_session_side_name (side->side));
    }
  else
    return;
  if (side->side == SERVER)
    release_held_back (s);
  xm_session_shutdown_write (&s->side[1 - side->side]);
}

/* A transport failure ends the session, in one sentence. */
static void
on_failed (XmLeg *leg, XmLayer *layer, const GError *error, gpointer user_data)
{
  Side *side = user_data;
  XmSession *s = side->s;
  const XmProxyConfig *cfg = xm_proxy_config (s->proxy);
  const char *name = xm_session_side_name (side->side);
  g_autofree char *why = NULL;

  if (layer == NULL && side->side == CLIENT)
    {
      g_autofree char *how = g_strdup_printf ("closed the connection (%s)",
                                              error->message);
      if (rejected_after_handshake (s, how, TRUE))
        return;
    }
  if (layer == NULL)
    {
      why = error->code == XM_LEG_ERROR_WRITE
        ? g_strdup_printf ("cannot write to the %s: %s", name, error->message)
        : g_strdup_printf ("%s connection failed: %s", name, error->message);
      xm_session_end (s, why, TRUE);
      return;
    }
  if (error->domain == XM_LEG_ERROR)
    {
      /* TLS records that do not decrypt, or cannot be made */
      if (error->code == XM_LEG_ERROR_READ)
        xm_session_note (s, XM_DIR_NONE, XM_NOTE_ERROR, "%s", error->message);
      xm_session_end (s, error->message, TRUE);
      return;
    }
  if (g_error_matches (error, XM_TLS_ERROR, XM_TLS_ERROR_KEY_UPDATES))
    {
      why = xm_layer_tls_why (error, side->side == SERVER, NULL, NULL);
      xm_session_note (s, side->side == CLIENT ? XM_DIR_C2S : XM_DIR_S2C,
                       XM_NOTE_ERROR, "%s", why);
      xm_session_end (s, why, FALSE);
      return;
    }
  /* a handshake */
  {
    g_autofree char *what = xm_layer_tls_why (error, side->side == SERVER, s->tls_name,
                                              xm_ca_cert_path (cfg->ca));
    if (side->side == SERVER && g_error_matches (error, XM_TLS_ERROR, XM_TLS_ERROR_VERIFY))
      why = g_strdup_printf ("upstream %s: %s", s->upstream_name, what);
    else if (side->side == SERVER)
      why = g_strdup_printf ("TLS handshake with upstream %s failed: %s",
                             s->upstream_name, what);
    else
      why = g_steal_pointer (&what);
  }
  xm_session_note (s, XM_DIR_NONE, XM_NOTE_ERROR, "%s", why);
  xm_session_end (s, why, FALSE);
}

/* After each socket event: what the read gathered goes out, reading
 * follows the queues, and the session ends when both sides are done. */
static void
on_io_done (XmLeg *leg, gpointer user_data)
{
  Side *side = user_data;
  XmSession *s = xm_session_ref (side->s);

  s->in_read = FALSE;
  xm_round_flush (s->round);
  if (!closed (s))
    {
      xm_session_update_reading (s);
      check_done (s);
    }
  xm_session_unref (s);
}

/* A TCP connection that has sent nothing within --tls-timeout is no XMPP
 * client (the client speaks first, RFC 6120 §4.2): it goes, so silent
 * connections cannot pile up. (While the upstream fails, the stream
 * error's own timers end the session.) */
void
xm_session_silence_expired (XmSession *s)
{
  g_autofree char *why = NULL;

  if (closed (s) || failing (s))
    return;
  why = g_strdup_printf ("the client sent nothing within %u s of connecting "
                         "(--tls-timeout)", xm_proxy_config (s->proxy)->tls_timeout_s);
  xm_session_end (s, why, FALSE);
}

static const XmLegEvents leg_events = {
  .received = on_received,
  .data = on_data,
  .eof = on_eof,
  .failed = on_failed,
  .io_done = on_io_done,
};

XmSession *
xm_session_start (XmProxy *proxy, guint id, int client_fd,
                  const struct sockaddr *client_addr, const struct sockaddr *dest,
                  const char *how)
{
  const XmProxyConfig *cfg = xm_proxy_config (proxy);
  XmSession *s = g_new0 (XmSession, 1);
  XmEvent ev = { .kind = XM_EVENT_CONN_OPEN, .dir = XM_DIR_NONE };
  g_autofree char *text = NULL, *upstream = NULL;
  g_autoptr (GError) error = NULL;
  XmObserverLive live = { .max_stanza = cfg->max_stanza, .lazy = TRUE,
                          .max_inflate = cfg->max_inflate,
                          .max_inflate_ratio = cfg->max_inflate_ratio,
                          .element = on_element };

  s->ref_count = 1;
  s->proxy = proxy;
  s->round = xm_proxy_round (proxy);
  s->id = id;
  s->client_name = xm_sockaddr_to_string (client_addr);
  memcpy (&s->client_addr, client_addr,
          client_addr->sa_family == AF_INET6 ? sizeof (struct sockaddr_in6)
                                             : sizeof (struct sockaddr_in));
  s->rewrite_flags = (cfg->keep_channel_binding ? 0 : XM_REWRITE_STRIP_PLUS)
                     | (cfg->no_compression ? XM_REWRITE_STRIP_COMPRESSION : 0);
  /* nothing looks inside messages and presences: skip their trees */
  for (guint i = 0; cfg->sinks && i < cfg->sinks->len; i++)
    live.lazy = live.lazy && !xm_sink_needs_children (g_ptr_array_index (cfg->sinks, i));
  s->obs = xm_observer_new_live (&live, on_observed, s);
  xm_observer_set_bosh (s->obs, xm_proxy_bosh (s->proxy), id);
  xm_observer_set_client (s->obs, s->client_name);
  for (int i = 0; i < 2; i++)
    {
      s->side[i].s = s;
      s->side[i].side = i;
      s->side[i].leg = xm_leg_new (xm_session_side_name (i), &leg_events, &s->side[i]);
      s->busy.legs[i] = s->side[i].leg;
    }
  if (dest)
    {
      s->transparent = TRUE;
      xm_sockaddr_host_port (dest, &s->dest_host, &s->dest_port);
      upstream = xm_sockaddr_to_string (dest);
      text = g_strdup_printf ("client %s, original destination %s (%s)",
                              s->client_name, upstream, how);
    }
  else
    {
      s->dest_host = g_strdup (cfg->upstream_host);
      s->dest_port = cfg->upstream_port;
      /* port 0: a domain, whose SRV records say where (connect.h) */
      upstream = cfg->upstream_port ? xm_hostport_to_string (cfg->upstream_host,
                                                             cfg->upstream_port)
                                    : g_strdup (cfg->upstream_host);
      text = g_strdup_printf ("client %s", s->client_name);
    }
  ev.text = text;
  ev.addr[0] = s->client_name;
  ev.addr[1] = upstream;
  xm_session_emit (s, &ev);

  xm_socket_setup (client_fd);
  if (!xm_leg_attach (s->side[CLIENT].leg, client_fd, &error))
    {
      close (client_fd);
      xm_session_end (s, error->message, FALSE);
      return NULL; /* closed: it frees itself; the proxy must not keep it */
    }
  xm_proxy_silence_start (proxy, &s->silence, s);
  /* Connect at once, so the upstream's TCP handshake overlaps the client's
   * first bytes; with a separate direct-TLS upstream, or a domain whose
   * SRV records name one, the first bytes say which upstream to use. */
  if ((cfg->upstream_tls_host == NULL && s->dest_port != 0) || s->transparent)
    xm_upstream_connect (s, s->dest_host, s->dest_port);
  if (!closed (s))
    xm_session_update_reading (s);
  return s;
}
