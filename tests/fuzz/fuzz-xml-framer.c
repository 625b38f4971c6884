/* fuzz-xml-framer.c: the XML stream framer (decoders/xml-framer.c) fed one
 * direction of a stream in chunks, with stream restarts.
 *
 * Input: one option byte, then the stream's bytes. The option byte seeds
 * the chunk sizes (1 byte up to the whole input), chooses a small stanza
 * cap (oversized stanzas) and whether the caller also resets the framer
 * every few chunks (the other direction's <success/> does that). The
 * negotiation elements that restart a stream (<proceed/>, SASL <success/>,
 * <compressed/>) restart it, as a session does: the feed stops there and
 * the rest of the chunk is fed again. Every stanza is looked at through the
 * public helpers (attributes, children, text, redaction). */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "xml-framer.h"

typedef struct {
  XmFramer *framer;
  guint64 last_close;
  gsize stanzas;
} State;

static void
walk (const XmNode *n, int depth)
{
  for (const XmNode *c = n->children; c; c = c->next)
    {
      if (c->type == XM_NODE_TEXT)
        {
          g_assert (strlen (c->text) <= c->text_len);
          continue;
        }
      g_assert (c->parent == n);
      g_assert (c->name != NULL);
      g_assert (c->tag_start <= c->content_start);
      g_assert (c->content_start <= c->content_end);
      for (guint i = 0; i < c->n_attrs; i++)
        {
          (void) xm_node_attr (c, c->attrs[i].name);
          (void) xm_attr_is_secret (c, &c->attrs[i]);
        }
      (void) xm_node_is_secret (c);
      if (depth < 64)
        walk (c, depth + 1);
    }
}

static void
look_at (XmStanza *st)
{
  GString *out;
  char *text;

  g_assert (st->oversized == (st->root == NULL));
  if (st->root == NULL)
    return;
  g_assert (st->raw != NULL);
  g_assert (st->root->content_end <= st->raw_len);
  walk (st->root, 0);
  text = xm_node_text (st->root);
  g_free (text);
  (void) xm_node_first_element (st->root);
  out = g_string_new (NULL);
  if (xm_stanza_redact (st, out) > 0)
    g_assert (out->len == st->raw_len);
  g_string_free (out, TRUE);
}

static void
on_stream_open (XmStanza *header, gpointer user_data)
{
  g_assert (header->root != NULL);
  look_at (header);
}

static void
on_stanza (XmStanza *st, gpointer user_data)
{
  State *s = user_data;
  const XmNode *r = st->root;

  s->stanzas++;
  look_at (st);
  /* Keep one reference past the callback now and then. */
  if (s->stanzas % 3 == 0)
    xm_stanza_unref (xm_stanza_ref (st));
  if (r && (xm_node_is (r, "urn:ietf:params:xml:ns:xmpp-tls", "proceed")
            || xm_node_is (r, "urn:ietf:params:xml:ns:xmpp-sasl", "success")
            || xm_node_is (r, "http://jabber.org/protocol/compress", "compressed")))
    xm_framer_restart_after (s->framer);
}

static void
on_keepalive (gsize n, gpointer user_data)
{
  g_assert (n > 0);
}

static void
on_stream_close (guint64 offset, gpointer user_data)
{
  State *s = user_data;

  s->last_close = offset;
}

static void
on_problem (XmFramerProblem kind, guint64 offset, const char *message,
            gpointer user_data)
{
  g_assert (message != NULL);
  g_assert (kind <= XM_FRAMER_BAD_HEADER);
}

static const XmFramerEvents events = {
  on_stream_open, on_stanza, on_keepalive, on_stream_close, on_problem,
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  State s = { 0 };
  FuzzIn in = { data, size };
  unsigned opt = fuzz_byte (&in);
  guint32 rng = opt * 2654435761u + 1;
  guint64 total = 0;
  guint chunk_no = 0;

  fuzz_glib_fatal ();
  s.framer = xm_framer_new (&events, &s);
  if (opt & 0x40)
    xm_framer_set_max_stanza (s.framer, 64 + (opt & 0x0f) * 16);

  while (in.left > 0)
    {
      const uint8_t *chunk;
      gsize want, len, done = 0;

      /* Chunk sizes: mostly small, now and then the whole rest. */
      rng ^= rng << 13;
      rng ^= rng >> 17;
      rng ^= rng << 5;
      want = (opt & 0x80) ? in.left : (rng % 8 == 0 ? in.left : 1 + rng % 64);
      len = fuzz_take (&in, want, &chunk);
      while (done < len)
        {
          gsize n = xm_framer_feed (s.framer, chunk + done, len - done);
          g_assert (n <= len - done);
          /* Only a restart stops a feed early; it always consumes a stanza. */
          g_assert (n > 0 || len - done == 0);
          done += n;
          total += n;
          g_assert (xm_framer_offset (s.framer) == total);
          g_assert (xm_framer_pending_offset (s.framer) <= total);
          (void) xm_framer_pending_element (s.framer);
        }
      if ((opt & 0x20) && ++chunk_no % 5 == 0)
        xm_framer_reset (s.framer);
    }
  (void) xm_framer_is_stalled (s.framer);
  xm_framer_free (s.framer);
  return 0;
}
