/* observer.c: see observer.h. What ui/pcap-read.c does with a connection's
 * bytes once TCP reassembly has put them in order, and what proxy/session.c
 * does with a copy of the plaintext it forwards. */
#include "config.h"

#include <string.h>

#include "observer-private.h"
#include "dialback.h"
#include "ws-frame.h"
#include "s2s-features.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_COMPRESS "http://jabber.org/protocol/compress"

static void decode (Flow *f, const guint8 *data, gsize len);

/* ---- events ---- */

void
xm_observer_emit (XmObserver *obs, XmEvent *ev)
{
  obs->emit (ev, obs->user_data);
}

void
xm_observer_note (XmObserver *obs, XmDir dir, XmNoteLevel level, const char *fmt, ...)
{
  g_autofree char *text = NULL;
  XmEvent ev = { .kind = XM_EVENT_NOTE, .dir = dir, .level = level };
  va_list ap;

  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  ev.text = text;
  xm_observer_emit (obs, &ev);
}

static void
layer (XmObserver *obs, XmDir dir, const char *what, const char *text)
{
  XmLayerInfo info = { .layer = what };
  XmEvent ev = { .kind = XM_EVENT_LAYER, .dir = dir, .text = text, .layer = &info };

  xm_observer_emit (obs, &ev);
}

/* How a note that decoding of a direction stops ends: the proxy still
 * forwards the bytes. */
const char *
xm_observer_still_forwarded (const XmObserver *obs)
{
  return obs->live ? "; the bytes are still forwarded" : "";
}

/* ---- negotiation ---- */

/* RFC 6120 §5.4.3.3: after <proceed/> TLS starts at the next byte; §6.4.6:
 * after SASL <success/> both streams restart; XEP-0138 §6: after
 * <compressed/> both directions are zlib streams. Only the server's
 * elements change layers (a shallow stanza is a message or presence: it
 * negotiates nothing). XEP-0388 (SASL2) has no stream restart. */
/* Over HTTP the proxy forwards the server's features as they came (in a
 * WebSocket frame or a BOSH body), so a channel-binding mechanism stays on
 * offer, and a client that picks it fails behind xmitm's TLS. */
static void
note_plus_over_http (XmObserver *obs, const XmNode *features)
{
  const XmNode *mechs = xm_node_child (features, NS_SASL, "mechanisms");
  g_autoptr (GString) plus = g_string_new (NULL);

  if (!obs->live || mechs == NULL)
    return;
  for (const XmNode *m = mechs->children; m; m = m->next)
    {
      g_autofree char *name = xm_node_is (m, NS_SASL, "mechanism") ? xm_node_text (m) : NULL;
      if (name && g_str_has_suffix (name, "-PLUS"))
        g_string_append_printf (plus, "%s%s", plus->len ? ", " : "", name);
    }
  if (plus->len)
    xm_observer_note (obs, XM_DIR_S2C, XM_NOTE_WARNING, "the server offers %s "
                      "over HTTP, where xmitm forwards its features as they came "
                      "(it removes them only from TCP streams): channel binding "
                      "cannot work through xmitm, so a client that picks it fails",
                      plus->str);
}

static void
negotiate (XmObserver *obs, Flow *f, const XmStanza *st)
{
  const XmNode *root = st->root;

  if (root == NULL || st->shallow || f->dir != XM_DIR_S2C)
    return;
  if ((f->web || f->bosh) && xm_node_is (root, "http://etherx.jabber.org/streams", "features"))
    note_plus_over_http (obs, root);
  if (f->bosh)
    {
      /* XEP-0206 §5: the client restarts the stream with a body of its
       * own (xmpp:restart); nothing else changes layers over BOSH. */
      if (xm_node_is (root, NS_SASL, "success"))
        layer (obs, XM_DIR_S2C, "stream-restart", "SASL success: the client "
               "restarts the stream (XEP-0206 §5: xmpp:restart)");
      return;
    }
  if (f->web)
    {
      /* RFC 7395 §3.6: TLS is the WebSocket connection's (wss:), never
       * negotiated inside it; nor is compression (permessage-deflate is
       * the WebSocket's). */
      const XmNode *tls = xm_node_child (root, NS_TLS, "starttls");
      if (tls && xm_node_is (root, "http://etherx.jabber.org/streams", "features"))
        xm_observer_note (obs, XM_DIR_S2C, XM_NOTE_WARNING, "RFC 7395 §3.6: the "
                          "server offers STARTTLS inside a WebSocket connection "
                          "(TLS belongs to the WebSocket connection: wss:)");
      else if (xm_node_is (root, NS_TLS, "proceed"))
        xm_observer_note (obs, XM_DIR_S2C, XM_NOTE_WARNING, "RFC 7395 §3.6: "
                          "<proceed/> inside a WebSocket connection: no TLS "
                          "can start here; the stream is still decoded as it is");
    }
  if (f->web && !xm_node_is (root, NS_SASL, "success"))
    return;
  if (xm_node_is (root, NS_TLS, "proceed") && !obs->tls && !f->zlib)
    {
      xm_framer_restart_after (f->framer);
      obs->pending = XM_SWITCH_STARTTLS;
    }
  else if (xm_node_is (root, NS_SASL, "success"))
    {
      xm_framer_restart_after (f->framer);
      xm_framer_reset (obs->flow[XM_DIR_C2S].framer);
      layer (obs, XM_DIR_S2C, "stream-restart", "SASL success: both streams restart");
    }
  else if (xm_node_is (root, NS_COMPRESS, "compressed") && !f->zlib)
    {
      xm_framer_restart_after (f->framer);
      obs->pending = XM_SWITCH_ZLIB;
    }
  else if (xm_node_is (root, NS_COMPRESS, "failure"))
    {
      const XmNode *why = xm_node_first_element (root);
      xm_observer_note (obs, XM_DIR_S2C, XM_NOTE_INFO,
            "the server refused compression (%s): the stream stays uncompressed",
            why ? why->name : "no reason given");
    }
}

static void
apply_starttls (XmObserver *obs)
{
  obs->tls = TRUE;
  if (obs->live)
    {
      layer (obs, XM_DIR_S2C, "starttls", "STARTTLS: the server sent <proceed/>; "
             "xmitm now runs TLS with the server, then with the client");
      return;
    }
  obs->encrypted = TRUE;
  layer (obs, XM_DIR_S2C, "starttls", "STARTTLS: the server sent <proceed/>; TLS "
         "starts at the next byte");
  xm_observer_note (obs, XM_DIR_NONE, XM_NOTE_WARNING,
        "the rest of this connection is TLS, which a capture cannot decrypt: "
        "decoding of this connection stops (run the session through xmitm to "
        "see it)");
}

static void
apply_zlib (XmObserver *obs)
{
  for (int i = 0; i < 2; i++)
    {
      Flow *f = &obs->flow[i];

      f->zlib = TRUE;
      f->flags |= XM_EVENT_FLAG_ZLIB;
      g_clear_pointer (&f->inflate, xm_inflate_free);
      f->inflate = xm_inflate_new (obs->max_inflate_ratio);
      xm_framer_reset (f->framer);
    }
  layer (obs, XM_DIR_S2C, "zlib", obs->live
         ? "XEP-0138: both directions are zlib streams from the next byte; xmitm "
           "forwards them as they are and inflates a copy"
         : "XEP-0138: both directions are zlib streams from the next byte; xmitm "
           "inflates them");
}

void
xm_observer_switch (XmObserver *obs)
{
  XmSwitch sw = obs->pending;

  obs->pending = XM_SWITCH_NONE;
  if (sw == XM_SWITCH_STARTTLS)
    apply_starttls (obs);
  else if (sw == XM_SWITCH_ZLIB)
    apply_zlib (obs);
}

/* ---- framer callbacks ---- */

static void
on_stream_open (XmStanza *header, gpointer user_data)
{
  Flow *f = user_data;
  XmEvent ev = { .kind = XM_EVENT_STREAM_OPEN, .dir = f->dir, .flags = f->flags,
                 .stanza = header };

  f->items++;
  if (f->bosh)
    {
      xm_bosh_body_open (f, header);
      return;
    }
  xm_observer_emit (f->obs, &ev);
  xm_component_stream_open (f->obs->component, header->root, f->dir == XM_DIR_C2S);
  if (f->dir == XM_DIR_C2S)
    f->obs->s2s = xm_s2s_header_is_s2s (header->root);
}

static void
on_stanza (XmStanza *stanza, gpointer user_data)
{
  Flow *f = user_data;
  XmObserver *obs = f->obs;
  XmEvent ev = { .kind = XM_EVENT_STANZA, .dir = f->dir, .flags = f->flags,
                 .stanza = stanza, .wire_len = f->wire_pending };
  g_autoptr (XmSaslDecode) sasl = NULL;

  f->items++;
  f->wire_pending = 0;
  f->inflated_pending = 0;
  if (f->web && xm_node_is (stanza->root, XM_FRAMER_NS_FRAMING, "close"))
    {
      const char *uri = xm_node_attr (stanza->root, "see-other-uri");

      ev.kind = XM_EVENT_STREAM_CLOSE;
      xm_observer_emit (obs, &ev);
      if (uri)
        xm_observer_note (obs, f->dir, XM_NOTE_INFO, "RFC 7395 §3.6.1: the "
                          "server sends the client to another endpoint: "
                          "see-other-uri='%s'", uri);
      return;
    }
  xm_observer_emit (obs, &ev);
  if (stanza->root && !stanza->shallow)
    sasl = xm_sasl_decode (obs->sasl, stanza->root, f->dir == XM_DIR_C2S);
  if (sasl == NULL && stanza->root && !stanza->shallow)
    sasl = xm_component_decode (obs->component, stanza->root, f->dir == XM_DIR_C2S);
  if (sasl == NULL && stanza->root && !stanza->shallow)
    sasl = xm_dialback_decode (stanza->root);
  if (sasl)
    {
      XmEvent dev = { .kind = XM_EVENT_SASL, .dir = f->dir, .flags = f->flags,
                      .sasl = sasl };
      xm_observer_emit (obs, &dev);
    }
  if (obs->s2s && stanza->root && !stanza->shallow)
    {
      const char *s2s_note = xm_s2s_feature_note (stanza->root, f->dir);
      if (s2s_note)
        xm_observer_note (obs, f->dir, XM_NOTE_INFO, "%s", s2s_note);
    }
  if (obs->element)
    obs->element (f->dir, stanza, sasl, obs->user_data);
  negotiate (obs, f, stanza);
}

static void
on_keepalive (gsize n, gpointer user_data)
{
  Flow *f = user_data;
  XmEvent ev = { .kind = XM_EVENT_KEEPALIVE, .dir = f->dir, .flags = f->flags,
                 .count = n };

  xm_observer_emit (f->obs, &ev);
}

static void
on_stream_close (guint64 offset, gpointer user_data)
{
  Flow *f = user_data;
  XmEvent ev = { .kind = XM_EVENT_STREAM_CLOSE, .dir = f->dir, .flags = f->flags };

  if (f->bosh)
    {
      xm_bosh_body_close (f);
      return;
    }
  xm_observer_emit (f->obs, &ev);
}

static void
on_problem (XmFramerProblem kind, guint64 offset, const char *message,
            gpointer user_data)
{
  Flow *f = user_data;

  xm_observer_note (f->obs, f->dir, kind == XM_FRAMER_MALFORMED ? XM_NOTE_ERROR : XM_NOTE_WARNING,
        "%s (at byte %" G_GUINT64_FORMAT " of this direction)", message, offset);
}

static const XmFramerEvents framer_events = {
  on_stream_open, on_stanza, on_keepalive, on_stream_close, on_problem,
};

/* ---- decoding a direction ---- */

static gboolean
on_inflated (const guint8 *data, gsize len, gpointer user_data)
{
  Flow *f = user_data;

  f->inflated_pending += len;
  if (f->inflated_pending > f->obs->max_inflate)
    {
      xm_observer_note (f->obs, f->dir, XM_NOTE_WARNING,
            "zlib: more than %" G_GSIZE_FORMAT " inflated bytes without a complete "
            "stanza%s: decoding of this direction stops%s", f->obs->max_inflate,
            f->obs->live ? " (see --max-inflate)" : "", xm_observer_still_forwarded (f->obs));
      f->stopped = TRUE;
      return FALSE;
    }
  while (len > 0)
    {
      gsize n = xm_framer_feed (f->framer, data, len);
      data += n;
      len -= n;
    }
  return TRUE;
}

static void
inflate_copy (Flow *f, const guint8 *data, gsize len)
{
  g_autofree char *msg = NULL;

  f->wire_pending += len;
  switch (xm_inflate_feed (f->inflate, data, len, on_inflated, f, &msg))
    {
    case XM_INFLATE_ERROR:
      xm_observer_note (f->obs, f->dir, XM_NOTE_ERROR, "zlib: %s: decoding of this direction "
            "stops%s", msg, xm_observer_still_forwarded (f->obs));
      f->stopped = TRUE;
      break;
    case XM_INFLATE_LIMIT:
      if (msg)
        xm_observer_note (f->obs, f->dir, XM_NOTE_WARNING, "zlib: %s: decoding of this "
              "direction stops%s", msg, f->obs->live
              ? "; the bytes are still forwarded (see --max-inflate-ratio)" : "");
      f->stopped = TRUE;
      break;
    case XM_INFLATE_OK:
    case XM_INFLATE_STALLED:
      break;
    }
}

/* What the framer, or in a zlib stream the inflater, takes of the bytes:
 * all of them, or up to a negotiation element that switches layers. */
gsize
xm_observer_decode_xml (Flow *f, const guint8 *data, gsize len)
{
  if (!f->zlib)
    return xm_framer_feed (f->framer, data, len);
  inflate_copy (f, data, len);
  return len;
}

/* The client's first bytes say whether the connection is an XMPP stream
 * or HTTP (WebSocket, BOSH); HTTP takes every byte (nothing in it switches
 * the proxy's layers). */
static gsize
decode_step (Flow *f, const guint8 *data, gsize len)
{
  XmObserver *obs = f->obs;

  if (!obs->transport_known && f->dir == XM_DIR_C2S && len > 0)
    {
      obs->transport_known = TRUE;
      if (xm_web_looks_like_http (data, len))
        xm_web_start (obs);
    }
  if (f->web)
    {
      xm_web_feed (f, data, len);
      return len;
    }
  return xm_observer_decode_xml (f, data, len);
}

XmOpens
xm_observer_opens_stream (const guint8 *data, gsize len)
{
  gsize i = 0;

  if (len >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    i = 3;
  while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r'
                     || data[i] == '\n'))
    i++;
  if (i == len)
    return XM_OPENS_MAYBE;
  for (guint k = 0; k < G_N_ELEMENTS (stream_starts); k++)
    {
      gsize n = MIN (len - i, strlen (stream_starts[k]));
      if (memcmp (data + i, stream_starts[k], n) == 0)
        return XM_OPENS_YES;
    }
  return XM_OPENS_NO;
}

static gboolean
looks_like_tls (const guint8 *data, gsize len)
{
  /* A TLS handshake record (RFC 8446 §5.1): type 22, version 3.x. */
  return len >= 1 && data[0] == 0x16 && (len == 1 || data[1] == 0x03);
}

/* While resyncing: finds the first stream opening in the carry followed by
 * data. TRUE with *carry_at (where it starts in the carry, or carry_len if
 * it starts in data) and *data_at (where it starts in data, 0 if in the
 * carry). FALSE: none; the tail of the bytes is kept in the carry. */
static gboolean
find_stream_start (Flow *f, const guint8 *data, gsize len, gsize *carry_at,
                   gsize *data_at)
{
  guint8 win[2 * CARRY_MAX];
  gsize head = MIN (len, CARRY_MAX), wn = f->carry_len + head;
  gsize best = G_MAXSIZE;

  memcpy (win, f->carry, f->carry_len);
  memcpy (win + f->carry_len, data, head);
  for (gsize i = 0; i < f->carry_len; i++)
    for (guint k = 0; k < G_N_ELEMENTS (stream_starts); k++)
      {
        gsize n = strlen (stream_starts[k]);
        if (i + n <= wn && memcmp (win + i, stream_starts[k], n) == 0)
          {
            *carry_at = i;
            *data_at = 0;
            return TRUE;
          }
      }
  for (guint k = 0; k < G_N_ELEMENTS (stream_starts); k++)
    {
      const guint8 *p = memmem (data, len, stream_starts[k], strlen (stream_starts[k]));
      if (p)
        best = MIN (best, (gsize) (p - data));
    }
  if (best != G_MAXSIZE)
    {
      *carry_at = f->carry_len;
      *data_at = best;
      return TRUE;
    }
  /* Keep the last CARRY_MAX bytes of carry + data. */
  if (len >= CARRY_MAX)
    {
      memcpy (f->carry, data + len - CARRY_MAX, CARRY_MAX);
      f->carry_len = CARRY_MAX;
    }
  else
    {
      gsize keep = MIN (wn, CARRY_MAX);
      memmove (f->carry, win + wn - keep, keep);
      f->carry_len = keep;
    }
  return FALSE;
}

static gboolean
decoding (const Flow *f)
{
  return !f->stopped && !f->obs->encrypted && !f->obs->finished;
}

/* In-order bytes of a direction, through the framer (and inflater). A
 * negotiation element can end mid-chunk; what follows it belongs to the
 * next layer. */
static void
decode (Flow *f, const guint8 *data, gsize len)
{
  XmObserver *obs = f->obs;

  while (len > 0 && decoding (f))
    {
      gsize take;

      if (f->resync)
        {
          gsize carry_at, data_at;

          if (!find_stream_start (f, data, len, &carry_at, &data_at))
            return;
          f->resync = FALSE;
          xm_framer_reset (f->framer);
          xm_observer_note (obs, f->dir, XM_NOTE_INFO, "a stream header: decoding of this "
                "direction resumes");
          if (carry_at < f->carry_len)
            {
              guint8 tmp[CARRY_MAX];
              gsize n = f->carry_len - carry_at;

              memcpy (tmp, f->carry + carry_at, n);
              f->carry_len = 0;
              decode (f, tmp, n);
              continue;
            }
          f->carry_len = 0;
          data += data_at;
          len -= data_at;
          continue;
        }
      take = decode_step (f, data, len);
      data += take;
      len -= take;
      xm_observer_switch (obs); /* after STARTTLS nothing more is decoded */
    }
}

/* ---- the connection ---- */

XmObserver *
xm_observer_new (XmObserverEmit emit_func, gpointer user_data)
{
  XmObserver *obs = g_new0 (XmObserver, 1);

  obs->emit = emit_func;
  obs->user_data = user_data;
  obs->max_inflate = MAX_INFLATE;
  obs->max_inflate_ratio = XM_INFLATE_DEFAULT_MAX_RATIO;
  obs->sasl = xm_sasl_new ();
  obs->component = xm_component_new ();
  for (int i = 0; i < 2; i++)
    {
      Flow *f = &obs->flow[i];

      f->obs = obs;
      f->dir = i;
      f->framer = xm_framer_new (&framer_events, f);
    }
  obs->max_message = XM_WS_DEFAULT_MAX_MESSAGE;
  return obs;
}

XmObserver *
xm_observer_new_live (const XmObserverLive *live, XmObserverEmit emit_func,
                      gpointer user_data)
{
  XmObserver *obs = xm_observer_new (emit_func, user_data);

  obs->live = TRUE;
  obs->element = live->element;
  obs->max_inflate = live->max_inflate;
  obs->max_inflate_ratio = live->max_inflate_ratio;
  if (live->max_stanza)
    obs->max_message = live->max_stanza;
  for (int i = 0; i < 2; i++)
    {
      Flow *f = &obs->flow[i];

      f->from_start = TRUE;
      f->started = TRUE;
      xm_framer_set_max_stanza (f->framer, live->max_stanza);
      xm_framer_set_lazy (f->framer, live->lazy);
      /* Sinks that look inside stanzas get the full trees of plain
       * messages and presences without expat (plain-tree.h). */
      xm_framer_set_plain_trees (f->framer, TRUE);
    }
  return obs;
}

void
xm_observer_free (XmObserver *obs)
{
  if (obs == NULL)
    return;
  for (int i = 0; i < 2; i++)
    {
      xm_framer_free (obs->flow[i].framer);
      g_clear_pointer (&obs->flow[i].inflate, xm_inflate_free);
      g_clear_pointer (&obs->flow[i].web, xm_web_flow_free);
    }
  if (obs->own_bosh)
    xm_bosh_free (obs->bosh);
  g_free (obs->client);
  xm_sasl_free (obs->sasl);
  xm_component_free (obs->component);
  g_free (obs);
}

void
xm_observer_from_start (XmObserver *obs, XmDir dir)
{
  g_return_if_fail (dir == XM_DIR_C2S || dir == XM_DIR_S2C);
  obs->flow[dir].from_start = TRUE;
}

gboolean
xm_observer_decoding (const XmObserver *obs, XmDir dir)
{
  g_return_val_if_fail (dir == XM_DIR_C2S || dir == XM_DIR_S2C, FALSE);
  return decoding (&obs->flow[dir]);
}

void
xm_observer_feed (XmObserver *obs, XmDir dir, const guint8 *data, gsize len)
{
  Flow *f;

  g_return_if_fail (dir == XM_DIR_C2S || dir == XM_DIR_S2C);
  f = &obs->flow[dir];
  if (!decoding (f) || len == 0)
    return;
  if (!f->started)
    {
      f->started = TRUE;
      if (looks_like_tls (data, len))
        {
          obs->encrypted = TRUE;
          xm_observer_note (obs, f->dir, XM_NOTE_WARNING,
                "this connection is encrypted (it starts with a TLS record: "
                "direct TLS, XEP-0368): a capture cannot be decrypted, its data "
                "is skipped");
          return;
        }
      if (!f->from_start && dir == XM_DIR_C2S && xm_web_looks_like_http (data, len))
        {
          /* HTTP seen from the middle of a kept-alive connection: a
           * request's first byte is a good place to start. */
          f->from_start = TRUE;
          obs->flow[XM_DIR_S2C].from_start = TRUE;
          obs->flow[XM_DIR_S2C].resync = FALSE;
        }
      if (!f->from_start && !f->resync
          && xm_observer_opens_stream (data, len) != XM_OPENS_YES)
        {
          f->resync = TRUE;
          xm_observer_note (obs, f->dir, XM_NOTE_INFO,
                "the capture starts in the middle of this direction's stream: "
                "decoding waits for a stream header");
        }
    }
  decode (f, data, len);
}

void
xm_observer_gap (XmObserver *obs, XmDir dir, const char *message)
{
  Flow *f;

  g_return_if_fail (dir == XM_DIR_C2S || dir == XM_DIR_S2C);
  f = &obs->flow[dir];
  if (!decoding (f))
    xm_observer_note (obs, f->dir, XM_NOTE_WARNING, "TCP: %s of this direction (not in the "
          "capture)", message);
  else if (f->zlib)
    {
      xm_observer_note (obs, f->dir, XM_NOTE_WARNING, "TCP: %s of this direction (not in the "
            "capture): a zlib stream cannot go on past missing bytes, decoding "
            "of this direction stops", message);
      f->stopped = TRUE;
    }
  else
    {
      xm_observer_note (obs, f->dir, XM_NOTE_WARNING, "TCP: %s of this direction (not in the "
            "capture): decoding of this direction waits for a new stream header",
            message);
      f->resync = TRUE;
      f->carry_len = 0;
    }
}

/* Bytes a direction holds that make no complete item: the end came first. */
static void
note_unfinished (Flow *f)
{
  guint64 pending;

  if (f->web && decoding (f))
    {
      xm_web_finish (f);
      return;
    }
  if (!decoding (f) || f->resync || xm_framer_is_stalled (f->framer))
    return;
  pending = xm_framer_offset (f->framer) - xm_framer_pending_offset (f->framer);
  if (pending)
    xm_observer_note (f->obs, f->dir, XM_NOTE_WARNING, "the last %" G_GUINT64_FORMAT " byte%s "
          "of this direction are an incomplete element (not decoded)",
          pending, pending == 1 ? "" : "s");
}

void
xm_observer_finish (XmObserver *obs)
{
  if (obs->finished)
    return;
  for (int i = 0; i < 2; i++)
    note_unfinished (&obs->flow[i]);
  obs->finished = TRUE;
}

/* ---- inside the connection ---- */

gsize
xm_observer_decode (XmObserver *obs, XmDir dir, const guint8 *data, gsize len,
                    XmSwitch *sw)
{
  gsize take;

  *sw = XM_SWITCH_NONE;
  g_return_val_if_fail (dir == XM_DIR_C2S || dir == XM_DIR_S2C, len);
  g_return_val_if_fail (obs->live && obs->pending == XM_SWITCH_NONE, len);
  /* Every byte goes through: a stalled framer or inflater ignores it. */
  take = decode_step (&obs->flow[dir], data, len);
  *sw = obs->pending;
  return take;
}

void
xm_observer_tls_started (XmObserver *obs)
{
  obs->tls = TRUE;
}

void
xm_observer_tls_up (XmObserver *obs)
{
  /* Direct TLS: what the client says first inside it decides. */
  if (obs->flow[XM_DIR_C2S].web == NULL)
    obs->transport_known = FALSE;
  for (int i = 0; i < 2; i++)
    {
      Flow *f = &obs->flow[i];

      xm_framer_reset (f->framer);
      f->zlib = FALSE;
      g_clear_pointer (&f->inflate, xm_inflate_free);
      f->flags |= XM_EVENT_FLAG_TLS;
    }
}

void
xm_observer_set_bosh (XmObserver *obs, XmBosh *bosh, guint conn)
{
  if (obs->own_bosh)
    xm_bosh_free (obs->bosh);
  obs->bosh = bosh;
  obs->own_bosh = FALSE;
  obs->conn = conn;
}

void
xm_observer_set_client (XmObserver *obs, const char *addr)
{
  const char *colon = addr ? strrchr (addr, ':') : NULL;

  g_free (obs->client);
  obs->client = colon ? g_strndup (addr, colon - addr) : g_strdup (addr);
}

void
xm_observer_bosh_flows (XmObserver *obs, const XmObserver *carrier)
{
  obs->live = carrier->live; /* the proxy's, or a capture's */
  for (int i = 0; i < 2; i++)
    {
      Flow *f = &obs->flow[i];

      f->bosh = TRUE;
      f->from_start = TRUE;
      f->started = TRUE;
    }
  obs->transport_known = TRUE;
}

void
xm_observer_bosh_body (XmObserver *obs, XmDir dir, const guint8 *data, gsize len)
{
  Flow *f = &obs->flow[dir];

  xm_framer_reset (f->framer);
  xm_observer_decode_xml (f, data, len);
  if (!xm_framer_is_stalled (f->framer)
      && xm_framer_pending_offset (f->framer) != xm_framer_offset (f->framer))
    xm_observer_note (obs, dir, XM_NOTE_WARNING, "BOSH: the body ends inside an "
                      "element (XEP-0124 §4: each body is a whole XML document)");
}

gboolean
xm_observer_web (const XmObserver *obs)
{
  return obs->flow[XM_DIR_C2S].web != NULL;
}

const XmFramer *
xm_observer_framer (const XmObserver *obs, XmDir dir)
{
  g_return_val_if_fail (dir == XM_DIR_C2S || dir == XM_DIR_S2C, NULL);
  return obs->flow[dir].framer;
}
