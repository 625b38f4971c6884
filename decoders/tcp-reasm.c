/* tcp-reasm.c: one direction of a TCP connection back into a byte stream.
 *
 * Segments ahead of the next expected byte are copied, one allocation per
 * segment, into a tree ordered by offset whose pieces never overlap; a
 * segment that starts at the next expected byte is delivered straight from
 * the caller's buffer. The last delivered bytes are kept (bounded) so a
 * retransmission can be compared with what came first. */
#include "config.h"

#include <string.h>

#include "tcp-reasm.h"

/* What a buffered piece costs besides its bytes (tree node, header): counted
 * against the cap so a flood of tiny segments hits it too. */
#define CHUNK_OVERHEAD 64

typedef struct {
  guint64 off; /* the tree's key */
  gsize len;
  guint8 data[];
} Chunk;

struct _XmTcpReasm {
  const XmTcpReasmEvents *ev;
  gpointer user_data;
  gboolean started;
  guint32 base_seq;    /* sequence number of offset 0 */
  guint64 next;        /* next offset to deliver */
  guint64 delivered;
  GTree *chunks;       /* Chunk*, keyed by &off; all start after next */
  gsize buffered;      /* bytes of the chunks plus overhead */
  gsize max_buffer;
  gboolean fin_seen;
  guint64 fin_off;     /* offset of the FIN: no data at or after it */
  GByteArray *history; /* the bytes just before next */
};

static gint
cmp_off (gconstpointer a, gconstpointer b, gpointer user_data)
{
  guint64 x = *(const guint64 *) a, y = *(const guint64 *) b;

  return x < y ? -1 : x > y ? 1 : 0;
}

XmTcpReasm *
xm_tcp_reasm_new (const XmTcpReasmEvents *events, gpointer user_data)
{
  XmTcpReasm *r = g_new0 (XmTcpReasm, 1);

  r->ev = events;
  r->user_data = user_data;
  r->chunks = g_tree_new_full (cmp_off, NULL, NULL, g_free);
  r->max_buffer = XM_TCP_REASM_DEFAULT_MAX_BUFFER;
  r->history = g_byte_array_new ();
  return r;
}

void
xm_tcp_reasm_free (XmTcpReasm *r)
{
  if (r == NULL)
    return;
  g_tree_destroy (r->chunks);
  g_byte_array_unref (r->history);
  g_free (r);
}

void
xm_tcp_reasm_set_max_buffer (XmTcpReasm *r, gsize max_bytes)
{
  r->max_buffer = max_bytes;
}

guint64
xm_tcp_reasm_offset (const XmTcpReasm *r)
{
  return r->next;
}

guint64
xm_tcp_reasm_delivered (const XmTcpReasm *r)
{
  return r->delivered;
}

gsize
xm_tcp_reasm_buffered (const XmTcpReasm *r)
{
  return r->buffered;
}

gboolean
xm_tcp_reasm_finished (const XmTcpReasm *r)
{
  return r->fin_seen && r->next >= r->fin_off;
}

/* The offset whose low 32 bits are seq - base_seq, nearest to next. */
static gint64
to_offset (const XmTcpReasm *r, guint32 seq)
{
  guint32 rel = seq - r->base_seq;
  gint32 d = (gint32) (rel - (guint32) r->next);

  return (gint64) r->next + d;
}

static void
remember (XmTcpReasm *r, const guint8 *data, gsize len)
{
  GByteArray *h = r->history;

  if (len >= XM_TCP_REASM_HISTORY)
    {
      g_byte_array_set_size (h, 0);
      g_byte_array_append (h, data + len - XM_TCP_REASM_HISTORY, XM_TCP_REASM_HISTORY);
      return;
    }
  g_byte_array_append (h, data, len);
  if (h->len > 2 * XM_TCP_REASM_HISTORY)
    g_byte_array_remove_range (h, 0, h->len - XM_TCP_REASM_HISTORY);
}

static void
deliver (XmTcpReasm *r, const guint8 *data, gsize len)
{
  guint64 off = r->next;

  remember (r, data, len);
  r->next += len;
  r->delivered += len;
  r->ev->data (data, len, off, r->user_data);
}

static Chunk *
first_chunk (XmTcpReasm *r)
{
  GTreeNode *n = g_tree_node_first (r->chunks);

  return n ? g_tree_node_value (n) : NULL;
}

/* Delivers the buffered chunks that continue the stream. */
static void
drain (XmTcpReasm *r)
{
  Chunk *c;

  while ((c = first_chunk (r)) && c->off == r->next)
    {
      /* Out of the tree first (it would free the chunk), then deliver. */
      g_tree_steal (r->chunks, &c->off);
      r->buffered -= c->len + CHUNK_OVERHEAD;
      deliver (r, c->data, c->len);
      g_free (c);
    }
}

/* The bytes up to target never came: say so and go on after them. */
static void
skip_to (XmTcpReasm *r, guint64 target)
{
  guint64 missing = target - r->next;
  g_autofree char *msg = g_strdup_printf ("%" G_GUINT64_FORMAT " byte%s missing at offset %"
                                          G_GUINT64_FORMAT, missing,
                                          missing == 1 ? "" : "s", r->next);
  guint64 at = r->next;

  r->next = target;
  g_byte_array_set_size (r->history, 0);
  r->ev->problem (XM_TCP_REASM_GAP, at, missing, msg, r->user_data);
  drain (r);
}

static void
conflict (XmTcpReasm *r, guint64 off, gsize len)
{
  g_autofree char *msg = g_strdup_printf ("a retransmission differs from the first "
                                          "copy within the %" G_GSIZE_FORMAT " byte%s at "
                                          "offset %" G_GUINT64_FORMAT ": the first copy "
                                          "is kept", len, len == 1 ? "" : "s", off);

  r->ev->problem (XM_TCP_REASM_CONFLICT, off, len, msg, r->user_data);
}

/* Compares bytes [a, b) of a segment (seg starts at offset base) with the
 * delivered bytes still in the history; TRUE if they differ. */
static gboolean
check_delivered (XmTcpReasm *r, const guint8 *seg, gint64 base, guint64 a, guint64 b)
{
  guint64 hist_start = r->next - r->history->len;

  a = MAX (a, hist_start);
  if (a >= b)
    return FALSE;
  if (memcmp (seg + (gsize) ((gint64) a - base), r->history->data + (a - hist_start),
              b - a) == 0)
    return FALSE;
  conflict (r, a, b - a);
  return TRUE;
}

/* The chunk holding off, or else the first one after it; NULL if none. */
static Chunk *
chunk_at_or_after (XmTcpReasm *r, guint64 off)
{
  GTreeNode *after = g_tree_upper_bound (r->chunks, &off);
  GTreeNode *before = after ? g_tree_node_previous (after) : g_tree_node_last (r->chunks);

  if (before)
    {
      Chunk *c = g_tree_node_value (before);
      if (c->off + c->len > off)
        return c;
    }
  return after ? g_tree_node_value (after) : NULL;
}

static void
buffer (XmTcpReasm *r, const guint8 *data, gsize len, guint64 off)
{
  Chunk *c = g_malloc (sizeof (Chunk) + len);

  c->off = off;
  c->len = len;
  memcpy (c->data, data, len);
  g_tree_insert (r->chunks, &c->off, c);
  r->buffered += len + CHUNK_OVERHEAD;
}

void
xm_tcp_reasm_feed (XmTcpReasm *r, guint32 seq, guint flags,
                   const guint8 *payload, gsize len)
{
  gint64 start, end;
  guint64 pos, b;
  gboolean differs = FALSE;

  if (!r->started)
    {
      r->started = TRUE;
      r->base_seq = (flags & XM_TCP_SYN) ? seq + 1 : seq;
    }
  if (flags & XM_TCP_SYN)
    seq++;
  if (flags & XM_TCP_RST)
    return;
  start = to_offset (r, seq);
  end = start + (gint64) len;
  if ((flags & XM_TCP_FIN) && !r->fin_seen && end >= 0)
    {
      r->fin_seen = TRUE;
      r->fin_off = MAX ((guint64) end, r->next);
    }
  if (r->fin_seen && end > (gint64) r->fin_off)
    end = (gint64) r->fin_off;
  if (end <= 0 || end <= start)
    return;
  /* A keepalive probe: one byte (garbage) just before the next one. */
  if (len == 1 && (guint64) end == r->next)
    return;

  b = (guint64) end;
  pos = start < 0 ? 0 : (guint64) start;
  if (pos < r->next)
    {
      differs = check_delivered (r, payload, start, pos, MIN (b, r->next));
      pos = r->next;
    }
  while (pos < b)
    {
      Chunk *c = chunk_at_or_after (r, pos);

      if (c && c->off <= pos)
        {
          /* Already buffered: the first copy wins. */
          guint64 e = MIN (b, c->off + c->len);
          if (!differs && memcmp (payload + (gsize) ((gint64) pos - start),
                                  c->data + (pos - c->off), e - pos) != 0)
            {
              conflict (r, pos, e - pos);
              differs = TRUE;
            }
          pos = e;
          continue;
        }
      {
        guint64 e = c ? MIN (b, c->off) : b;

        const guint8 *p = payload + (gsize) ((gint64) pos - start);

        if (pos == r->next)
          {
            deliver (r, p, e - pos);
            drain (r);
          }
        else
          buffer (r, p, e - pos, pos);
        pos = e;
        /* drain() may have delivered buffered bytes this segment repeats. */
        if (pos < r->next)
          {
            guint64 d = MIN (b, r->next);
            if (!differs)
              differs = check_delivered (r, payload, start, pos, d);
            pos = d;
          }
      }
    }
  while (r->buffered > r->max_buffer)
    {
      Chunk *c = first_chunk (r);
      if (c == NULL)
        break;
      skip_to (r, c->off);
    }
}

void
xm_tcp_reasm_ack (XmTcpReasm *r, guint32 ack)
{
  gint64 acked;
  Chunk *c;

  if (!r->started)
    return;
  acked = to_offset (r, ack);
  while ((c = first_chunk (r)) && (gint64) c->off <= acked)
    skip_to (r, c->off);
}

void
xm_tcp_reasm_flush (XmTcpReasm *r)
{
  Chunk *c;

  while ((c = first_chunk (r)))
    skip_to (r, c->off);
  if (r->fin_seen && r->next < r->fin_off)
    skip_to (r, r->fin_off);
}
