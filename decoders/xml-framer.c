/* xml-framer.c: XMPP stream framing on top of expat.
 *
 * Offsets: expat counts bytes from the start of the current document
 * (XML_GetCurrentByteIndex); the framer adds doc_base to get an offset in
 * the direction's whole byte stream, which never restarts.
 *
 * Exact bytes without copies: an element that starts and ends inside one
 * fed chunk is handed out as a pointer into that chunk. Only the incomplete
 * tail of a chunk (from "mark", the start of the pending top-level item, to
 * the chunk's end) is copied into "carry", and only while it is pending.
 *
 * Lazy mode: between stanzas, the scanner (xml-scan.h) finds where the next
 * element ends. Plain message and presence stanzas are handed out with a
 * shallow root and expat never sees them; other complete elements are fed
 * to expat exactly, so expat is always between stanzas when the scanner
 * takes over again. What the scanner gives up on (a comment, stray text, a
 * stream restart, broken XML) goes to expat with the rest of the chunk, as
 * without lazy mode; the scanner takes over at a later feed that starts
 * with expat between stanzas again. */
#include "config.h"

#include <string.h>

#include "xml-framer-private.h"
#include "plain-tree.h"

/* Idle lazy framers give their expat parser (about 10 KiB) back to this
 * pool; a framer that needs one again takes it, resets it and feeds it the
 * stream header again (a microsecond or two), so that idle connections
 * hold no parser and busy ones allocate none. One pool per thread: the
 * web UI of proxy --web reads recordings on a thread of its own. */
#define PARSER_POOL_MAX 64
static _Thread_local XML_Parser parser_pool[PARSER_POOL_MAX];
static _Thread_local guint parser_pool_len;

static void start_document (XmFramer *f, guint64 offset);

void
xm_framer_problem (XmFramer *f, XmFramerProblem kind, guint64 offset, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);

void
xm_framer_problem (XmFramer *f, XmFramerProblem kind, guint64 offset, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  if (f->ev->problem == NULL || f->replaying)
    return;
  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  f->in_callback = TRUE;
  f->ev->problem (kind, offset, msg, f->user_data);
  f->in_callback = FALSE;
}

void
xm_framer_stop_parser (XmFramer *f, StopKind kind, guint64 offset)
{
  if (f->stop != STOP_NONE)
    return;
  f->stop = kind;
  f->stop_offset = offset;
  if (f->parser)
    XML_StopParser (f->parser, XML_FALSE);
}

/* Move the start of the pending item forward, dropping carried bytes. */
void
xm_framer_set_mark (XmFramer *f, guint64 offset)
{
  if (offset <= f->mark)
    return;
  if (offset >= f->piece_base)
    g_byte_array_set_size (f->carry, 0);
  else
    g_byte_array_remove_range (f->carry, 0,
                               MIN ((guint) (offset - f->mark), f->carry->len));
  f->mark = offset;
}

void
xm_framer_flush_ws (XmFramer *f)
{
  gsize n = f->ws_pending;

  if (n == 0)
    return;
  f->ws_pending = 0;
  if (f->ev->keepalive)
    {
      f->in_callback = TRUE;
      f->ev->keepalive (n, f->user_data);
      f->in_callback = FALSE;
    }
}

void
xm_framer_flush_text (XmFramer *f)
{
  XmNode *t;

  if (f->text->len == 0 || f->cur == NULL)
    {
      g_string_truncate (f->text, 0);
      return;
    }
  t = xm_stanza_alloc (f->stanza, sizeof (XmNode));
  t->type = XM_NODE_TEXT;
  t->text = xm_stanza_strndup (f->stanza, f->text->str, f->text->len);
  t->text_len = f->text->len;
  t->parent = f->cur;
  if (f->cur->last_child)
    f->cur->last_child->next = t;
  else
    f->cur->children = t;
  f->cur->last_child = t;
  g_string_truncate (f->text, 0);
}

static void
drop_pending (XmFramer *f)
{
  g_byte_array_set_size (f->carry, 0);
  xm_stanza_clear (f->stanza);
  f->cur = NULL;
  g_string_truncate (f->text, 0);
  g_array_set_size (f->pending_ns, 0);
}

static void
go_oversized (XmFramer *f)
{
  f->oversized = TRUE;
  drop_pending (f);
  xm_framer_problem (f, XM_FRAMER_OVERSIZED, f->item_start,
           "stanza larger than %" G_GSIZE_FORMAT " bytes: not decoded, "
           "still forwarded", f->max_stanza);
}

void
xm_framer_check_size (XmFramer *f, guint64 upto)
{
  if (f->in_stanza && !f->oversized && upto - f->item_start > f->max_stanza)
    go_oversized (f);
}

/* Hand out the item that ends at stream offset end. */
void
xm_framer_emit_item (XmFramer *f, guint64 end, gboolean header)
{
  XmStanza *st = f->stanza;
  guint64 start = header ? f->mark : f->item_start;

  st->offset = start;
  st->raw_len = end - start;
  st->oversized = f->oversized;
  if (f->oversized)
    {
      st->raw = NULL;
      st->root = NULL;
    }
  else if (start >= f->piece_base)
    st->raw = f->piece + (start - f->piece_base);
  else
    {
      g_byte_array_append (f->carry, f->piece, end - f->piece_base);
      g_assert (f->carry->len == end - start);
      st->raw = f->carry->data;
    }

  if (header && f->fast)
    g_byte_array_append (f->header, st->raw, st->raw_len);
  f->in_callback = TRUE;
  if (header || (f->framing && xm_node_is (st->root, XM_FRAMER_NS_FRAMING, "open")))
    {
      if (f->ev->stream_open)
        f->ev->stream_open (st, f->user_data);
    }
  else if (f->ev->stanza)
    f->ev->stanza (st, f->user_data);
  f->in_callback = FALSE;

  if (g_atomic_int_get (&st->ref_count) > 1)
    {
      /* Kept by a consumer: give it its own bytes, take a fresh stanza. */
      if (st->raw && st->raw == f->carry->data)
        {
          st->raw_copy = f->carry;
          f->carry = g_byte_array_new ();
        }
      else if (st->raw)
        {
          if (st->raw_copy == NULL)
            st->raw_copy = g_byte_array_sized_new (st->raw_len);
          g_byte_array_append (st->raw_copy, st->raw, st->raw_len);
          st->raw = st->raw_copy->data;
        }
      xm_stanza_unref (st);
      f->stanza = xm_stanza_new ();
    }
  else
    xm_stanza_clear (st);

  g_byte_array_set_size (f->carry, 0);
  f->mark = end;
  f->cur = NULL;
  f->oversized = FALSE;
}

static unsigned long
hash_salt (void)
{
  static _Thread_local unsigned long salt;

  if (G_UNLIKELY (salt == 0))
    {
      guint64 r = ((guint64) g_random_int () << 32) | g_random_int ();
      salt = (unsigned long) (r | 1);
    }
  return salt;
}

/* {http://etherx.jabber.org/streams}stream, as expat names it. */
static void
setup_parser (XmFramer *f)
{
  if (f->parser == NULL && parser_pool_len)
    f->parser = parser_pool[--parser_pool_len];
  else if (f->parser == NULL)
    f->parser = XML_ParserCreateNS ("UTF-8", NS_SEP);
  if (f->parser == NULL)
    g_error ("xmitm: out of memory creating an XML parser");
  XML_ParserReset (f->parser, "UTF-8");
  /* expat salts its name hash tables against flooding with fresh entropy
   * for every document it starts: a getrandom() system call each time a
   * stream restarts, which a WebSocket or BOSH connection does for every
   * message. One secret salt per process, drawn once, protects the same. */
  XML_SetHashSalt (f->parser, hash_salt ());

  XML_SetUserData (f->parser, f);
  XML_SetReturnNSTriplet (f->parser, XML_TRUE);
  xm_framer_set_handlers (f->parser);
  XML_SetParamEntityParsing (f->parser, XML_PARAM_ENTITY_PARSING_NEVER);
#ifdef HAVE_XML_SETREPARSEDEFERRALENABLED
  /* A live proxy must report a stanza as soon as its last byte arrives;
   * the quadratic-reparse risk deferral guards against is bounded by the
   * stanza cap (a token longer than the cap stalls decoding). */
  XML_SetReparseDeferralEnabled (f->parser, XML_FALSE);
#endif
}

static void
release_parser (XmFramer *f)
{
  if (f->parser == NULL)
    return;
  if (parser_pool_len < PARSER_POOL_MAX)
    parser_pool[parser_pool_len++] = f->parser;
  else
    XML_ParserFree (f->parser);
  f->parser = NULL;
}

void
xm_framer_pool_clear (void)
{
  while (parser_pool_len)
    XML_ParserFree (parser_pool[--parser_pool_len]);
  xm_stanza_pool_clear ();
}

static void
start_document (XmFramer *f, guint64 offset)
{
  setup_parser (f);
  f->released = FALSE;
  g_byte_array_set_size (f->header, 0);
  f->doc_base = offset;
  f->expat_fed = 0;
  f->mark = offset;
  f->last_progress = offset;
  g_byte_array_set_size (f->carry, 0);
  f->depth = 0;
  f->in_stanza = FALSE;
  f->oversized = FALSE;
  f->pending_oversized = FALSE;
  f->stop = STOP_NONE;
  f->need_reset = FALSE;
  f->stalled = FALSE;
  f->ws_pending = 0;
  f->stray_reported = FALSE;
  f->in_stray = FALSE;
  f->in_cdata = FALSE;
  g_byte_array_set_size (f->held, 0);
  xm_scan_clear (&f->scan);
  g_clear_pointer (&f->default_ns, g_free);
  xm_stanza_clear (f->stanza);
  f->cur = NULL;
  g_string_truncate (f->text, 0);
  g_array_set_size (f->pending_ns, 0);
  if (f->framing)
    {
      /* RFC 7395 has no stream document: expat reads the elements as the
       * children of a root nobody sent, replayed into each parser like a
       * stream header, declaring nothing (every element must be
       * namespace-complete, §3.3.3) and counted in no offset. */
      static const char root[] = "<xmitm-rfc7395-framing>";
      g_byte_array_append (f->header, (const guint8 *) root, sizeof root - 1);
      release_parser (f);
      f->released = TRUE;
      f->depth = 1;
    }
}

static void
stall (XmFramer *f)
{
  f->stalled = TRUE;
  drop_pending (f);
}

/* After a piece was parsed without error: keep its pending tail, report
 * whitespace, and bound what expat and we hold for one item. */
static void
finish_piece (XmFramer *f)
{
  guint64 end = f->piece_base + f->piece_len;

  if (!(f->in_stanza && f->oversized))
    {
      guint64 from = MAX (f->mark, f->piece_base);
      g_byte_array_append (f->carry, f->piece + (from - f->piece_base),
                           end - from);
    }
  else
    f->mark = end;
  xm_framer_flush_ws (f);

  if (f->in_stanza)
    xm_framer_check_size (f, end);
  else if (f->carry->len > f->max_stanza)
    {
      if (f->depth == 0)
        {
          xm_framer_problem (f, XM_FRAMER_OVERSIZED, f->mark,
                   "stream header larger than %" G_GSIZE_FORMAT " bytes: "
                   "decoding of this direction stops until the stream restarts",
                   f->max_stanza);
          stall (f);
          return;
        }
      /* A start tag that alone exceeds the cap, still incomplete: the
       * stanza will be skipped exactly as if it had arrived in one piece. */
      if (!f->pending_oversized)
        {
          f->item_start = f->mark;
          xm_framer_problem (f, XM_FRAMER_OVERSIZED, f->mark,
                   "stanza larger than %" G_GSIZE_FORMAT " bytes: not decoded, "
                   "still forwarded", f->max_stanza);
        }
      f->pending_oversized = TRUE;
      g_byte_array_set_size (f->carry, 0);
      g_array_set_size (f->pending_ns, 0);
      f->mark = end;
    }
  if (end - f->last_progress > f->max_stanza + 65536)
    {
      /* One token (a tag, say) longer than the cap: expat would buffer all
       * of it, so stop decoding instead of growing without bound. */
      xm_framer_problem (f, XM_FRAMER_OVERSIZED, f->last_progress,
               "XML token larger than %" G_GSIZE_FORMAT " bytes: decoding of "
               "this direction stops until the stream restarts",
               f->max_stanza);
      stall (f);
    }
}

/* Parses one piece; returns how many of its bytes were consumed and sets
 * *to_caller when feed must return now (restart_after). */
static gsize
parse_piece (XmFramer *f, const guint8 *data, gsize len, guint64 base,
             gboolean *to_caller)
{
  enum XML_Status st;
  enum XML_Error code;
  guint64 off;

  f->piece = data;
  f->piece_len = len;
  if (f->released)
    {
      /* A parser again, between stanzas as before: feed it the header. */
      setup_parser (f);
      f->released = FALSE;
      f->replaying = TRUE;
      f->depth = 0;
      XML_Parse (f->parser, (const char *) f->header->data, (int) f->header->len,
                 XML_FALSE);
      f->replaying = FALSE;
      f->depth = 1;
      f->expat_fed = f->header->len;
    }
  f->piece_base = base;
  f->doc_base = base - f->expat_fed;
  f->expat_fed += len;
  st = XML_Parse (f->parser, (const char *) data, (int) len, XML_FALSE);
  if (st != XML_STATUS_ERROR)
    {
      finish_piece (f);
      return len;
    }

  code = XML_GetErrorCode (f->parser);
  if (code == XML_ERROR_ABORTED)
    {
      StopKind kind = f->stop;
      guint64 at = f->stop_offset;

      switch (kind)
        {
        case STOP_RESTART_AFTER:
          *to_caller = TRUE;
          /* fall through */
        case STOP_CLOSE:
          f->need_reset = TRUE;
          return (gsize) (MAX (at, base) - base);
        case STOP_IMPLICIT:
          if (at >= base)
            {
              start_document (f, at);
              return (gsize) (at - base);
            }
          else
            {
              /* The new header began in an earlier chunk: re-feed it. */
              gsize keep = (gsize) (base - at);
              g_autofree guint8 *tmp = NULL;
              gboolean dummy = FALSE;

              if (keep > f->carry->len)
                {
                  /* Not carried (cannot happen: see on_start). */
                  stall (f);
                  return len;
                }
              tmp = g_memdup2 (f->carry->data + (f->carry->len - keep), keep);
              start_document (f, at);
              parse_piece (f, tmp, keep, at, &dummy);
              return 0;
            }
        case STOP_HANDOVER:
          /* Between stanzas: expat is done with this document until it is
           * needed again, when it replays the header (parse_piece). */
          f->stop = STOP_NONE;
          release_parser (f);
          f->released = TRUE;
          return (gsize) (at - base);
        case STOP_FATAL:
        case STOP_NONE:
        default:
          stall (f);
          return len;
        }
    }

  off = f->doc_base + (guint64) XML_GetCurrentByteIndex (f->parser);
  if (code == XML_ERROR_MISPLACED_XML_PI && !f->framing && !f->in_stanza && off > f->doc_base
      && off >= f->mark)
    {
      /* "<?xml" after the stream began: the peer restarted the stream. */
      xm_framer_flush_ws (f);
      if (off >= base)
        {
          start_document (f, off);
          return (gsize) (off - base);
        }
      else
        {
          gsize keep = (gsize) (base - off);
          g_autofree guint8 *tmp = NULL;
          gboolean dummy = FALSE;

          keep = MIN (keep, f->carry->len);
          tmp = g_memdup2 (f->carry->data + (f->carry->len - keep), keep);
          start_document (f, off);
          parse_piece (f, tmp, keep, off, &dummy);
          return 0;
        }
    }

  xm_framer_flush_ws (f); /* keepalives that came before it did come */
  xm_framer_problem (f, XM_FRAMER_MALFORMED, off,
           "not well-formed XML (%s): decoding of this direction stops "
           "until the stream restarts; bytes are still forwarded",
           XML_ErrorString (code));
  stall (f);
  return len;
}

XmFramer *
xm_framer_new (const XmFramerEvents *events, gpointer user_data)
{
  XmFramer *f = g_new0 (XmFramer, 1);

  f->ev = events;
  f->user_data = user_data;
  f->max_stanza = XM_FRAMER_DEFAULT_MAX_STANZA;
  f->carry = g_byte_array_new ();
  f->stanza = xm_stanza_new ();
  f->text = g_string_new (NULL);
  f->pending_ns = g_array_new (FALSE, FALSE, sizeof (XmNsDecl));
  f->held = g_byte_array_new ();
  f->header = g_byte_array_new ();
  xm_scan_init (&f->scan);
  f->need_reset = TRUE;
  return f;
}

void
xm_framer_free (XmFramer *f)
{
  if (f == NULL)
    return;
  g_return_if_fail (!f->in_callback);
  if (f->parser)
    XML_ParserFree (f->parser);
  g_byte_array_unref (f->carry);
  xm_stanza_unref (f->stanza);
  g_string_free (f->text, TRUE);
  g_array_unref (f->pending_ns);
  g_byte_array_unref (f->held);
  g_byte_array_unref (f->header);
  xm_scan_clear (&f->scan);
  g_free (f->default_ns);
  g_free (f);
}

void
xm_framer_set_max_stanza (XmFramer *f, gsize max_bytes)
{
  g_return_if_fail (max_bytes > 0);
  f->max_stanza = max_bytes;
}

/* ---- lazy mode ---- */

void
xm_framer_set_lazy (XmFramer *f, gboolean lazy)
{
  f->lazy = lazy;
  f->fast = f->lazy || f->plain_trees;
}

void
xm_framer_set_plain_trees (XmFramer *f, gboolean on)
{
  f->plain_trees = on;
  f->fast = f->lazy || f->plain_trees;
}

void
xm_framer_set_framing (XmFramer *f, gboolean on)
{
  g_return_if_fail (!f->in_callback);
  f->framing = on;
  f->need_reset = TRUE;
  f->stalled = FALSE;
}

gboolean
xm_framer_framing (const XmFramer *f)
{
  return f->framing;
}

/* expat is between stanzas and holds no bytes: the scanner may take over. */
static gboolean
fast_ready (XmFramer *f)
{
  return f->fast && (f->parser || f->released) && !f->need_reset && !f->stalled && f->depth == 1
         && !f->in_stanza && f->stop == STOP_NONE && f->carry->len == 0
         && !f->pending_oversized && !f->oversized && !f->in_stray && !f->in_cdata;
}

/* Lazy framing gives messages and presences in the stream's namespace a
 * shallow root: nothing else is that common, and a peer may look inside
 * anything else (negotiation, SASL, XEP-0078's iq). Not one that may hold
 * a secret the recorder must redact (xm_node_is_secret: a MUC join's or
 * invitation's <password/>, a form's text-private field): the scanner
 * notes those as it reads the element (XmScan.secret), and they get their
 * tree. */
static gboolean
shallow_ok (const XmFramer *f, const guint8 *el)
{
  const char *ns = f->default_ns;

  if (f->framing)
    {
      /* RFC 7395: no stream declares a namespace for them; a stanza that
       * declares jabber:client itself is as plain as one in a stream. */
      if (f->scan.root_xmlns == 0)
        return FALSE;
      ns = "jabber:client";
    }
  return (xm_scan_root_is (&f->scan, el, "message", 7, ns)
          || xm_scan_root_is (&f->scan, el, "presence", 8, ns))
         && !(f->lazy && f->scan.secret);
}

/* Hands out the complete element el[0..len) at stream offset base: shallow
 * when it may be, else parsed by expat (exactly these bytes). */
static void
fast_element (XmFramer *f, const guint8 *el, gsize len, guint64 base,
              gboolean plain, gboolean *to_caller)
{
  xm_framer_flush_ws (f);
  if (plain && len <= f->max_stanza && shallow_ok (f, el))
    {
      if (f->lazy)
        {
          f->stanza->root = xm_scan_build_root (&f->scan, f->stanza, el, len, f->default_ns);
          f->stanza->shallow = TRUE;
        }
      else
        f->stanza->root = xm_plain_tree_build (f->stanza, el, len, f->default_ns);
      f->item_start = base;
      f->piece = el;
      f->piece_len = len;
      f->piece_base = base;
      xm_framer_emit_item (f, base + len, FALSE);
      f->last_progress = base + len;
      if (f->stop == STOP_RESTART_AFTER)
        {
          f->stop = STOP_NONE;
          f->need_reset = TRUE;
          *to_caller = TRUE;
        }
      return;
    }
  parse_piece (f, el, len, base, to_caller);
}

/* expat alone, from stream offset base to the end of data. */
static gsize
expat_feed (XmFramer *f, const guint8 *data, gsize len, guint64 base,
            gboolean *to_caller)
{
  gsize pos = 0;

  while (pos < len && !*to_caller)
    {
      if (f->need_reset)
        start_document (f, base + pos);
      if (f->stalled)
        return len;
      pos += parse_piece (f, data + pos, MIN (len - pos, (gsize) G_MAXINT / 2),
                          base + pos, to_caller);
    }
  return pos;
}

/* The scanner frames what it can of data (stream offset base). Returns how
 * many bytes it consumed: all of them, or fewer when *to_caller is set, the
 * framer is no longer fast_ready(), or expat must read on from there. */
static gsize
fast_feed (XmFramer *f, const guint8 *data, gsize len, guint64 base,
           gboolean *to_caller)
{
  gsize pos = 0, end;

  if (f->held->len)
    {
      gsize old = f->held->len;

      g_byte_array_append (f->held, data, len);
      switch (xm_scan_element (&f->scan, f->held->data, f->held->len, &end))
        {
        case XM_SCAN_MORE:
          if (f->held->len <= f->max_stanza && xm_scan_is_plain (&f->scan))
            return len;
          /* expat deals with an oversized stanza, and reports what may be
           * an error as soon as it would without lazy mode */
          xm_scan_clear (&f->scan);
          G_GNUC_FALLTHROUGH;
        case XM_SCAN_GIVE_UP:
          {
            g_autoptr (GByteArray) held = f->held;
            guint64 at = f->held_base;

            f->held = g_byte_array_new ();
            at += expat_feed (f, held->data, held->len, at, to_caller);
            return (gsize) (MAX (at, base) - base);
          }
        case XM_SCAN_DONE:
          fast_element (f, f->held->data, end, f->held_base,
                        xm_scan_is_plain (&f->scan), to_caller);
          g_byte_array_set_size (f->held, 0);
          pos = end - old;
          if (*to_caller || !fast_ready (f))
            return pos;
          break;
        }
    }

  while (pos < len)
    {
      guint8 c = data[pos];

      if (is_ws (c))
        {
          gsize start = pos;
          while (pos < len && is_ws (data[pos]))
            pos++;
          if (pos < len && data[pos] != '<')
            return start; /* stray text, whitespace and all: expat's */
          if (pos == len && data[len - 1] == '\r')
            pos--; /* expat holds back a last CR (CRLF?): so does this */
          if (pos == len - 1 && data[pos] == '\r')
            {
              f->ws_pending += pos - start;
              f->mark = base + pos;
              return pos;
            }
          f->ws_pending += pos - start;
          f->mark = base + pos;
          continue;
        }
      if (c != '<')
        return pos; /* stray text: expat reports it */
      switch (xm_scan_element (&f->scan, data + pos, len - pos, &end))
        {
        case XM_SCAN_MORE:
          if (len - pos > f->max_stanza || !xm_scan_is_plain (&f->scan))
            {
              xm_scan_clear (&f->scan);
              return pos;
            }
          xm_framer_flush_ws (f);
          g_byte_array_append (f->held, data + pos, len - pos);
          f->held_base = base + pos;
          f->mark = base + pos;
          return len;
        case XM_SCAN_DONE:
          fast_element (f, data + pos, end, base + pos,
                        xm_scan_is_plain (&f->scan), to_caller);
          pos += end;
          if (*to_caller || !fast_ready (f))
            return pos;
          break;
        case XM_SCAN_GIVE_UP:
          return pos;
        }
    }
  xm_framer_flush_ws (f);
  return pos;
}

static gsize
feed_internal (XmFramer *f, const guint8 *data, gsize len, guint64 base,
               gboolean *to_caller)
{
  gsize pos = 0;

  while (pos < len)
    {
      gsize chunk;

      if (f->need_reset)
        start_document (f, base + pos);
      if (f->stalled)
        return len;
      if (f->held->len || fast_ready (f))
        {
          pos += fast_feed (f, data + pos, len - pos, base + pos, to_caller);
          f->last_progress = MAX (f->last_progress, f->mark);
          if (*to_caller || pos == len)
            break;
          if (!fast_ready (f))
            continue;
          /* the scanner gave up at pos: expat reads the rest of the chunk */
        }
      /* expat takes an int length */
      chunk = MIN (len - pos, (gsize) G_MAXINT / 2);
      pos += parse_piece (f, data + pos, chunk, base + pos, to_caller);
      if (*to_caller)
        break;
    }
  return pos;
}

gsize
xm_framer_feed (XmFramer *f, const guint8 *data, gsize len)
{
  gboolean to_caller = FALSE;
  gsize pos;

  g_return_val_if_fail (!f->in_callback, 0);
  pos = feed_internal (f, data, len, f->consumed, &to_caller);
  f->consumed += pos;
  /* Not in framing mode: a WebSocket connection feeds one element at a
   * time, and a parser rebuilt for each (reset, root replayed) would cost
   * more than the element. */
  if (f->parser && f->header->len && fast_ready (f) && !f->framing)
    {
      release_parser (f);
      f->released = TRUE;
    }
  return pos;
}

void
xm_framer_restart_after (XmFramer *f)
{
  g_return_if_fail (f->in_callback && f->depth == 1 && !f->in_stanza);
  /* Called while emit_item hands out f->stanza. */
  xm_framer_stop_parser (f, STOP_RESTART_AFTER, f->stanza->offset + f->stanza->raw_len);
}

void
xm_framer_reset (XmFramer *f)
{
  g_return_if_fail (!f->in_callback);
  f->need_reset = TRUE;
  f->stalled = FALSE;
}

guint64
xm_framer_offset (const XmFramer *f)
{
  return f->consumed;
}

guint64
xm_framer_pending_offset (const XmFramer *f)
{
  if (f->need_reset || f->stalled || (f->parser == NULL && !f->released)
      || (f->in_stanza && f->oversized) || f->pending_oversized)
    return f->consumed;
  return MIN (f->mark, f->consumed);
}

const XmNode *
xm_framer_pending_element (const XmFramer *f)
{
  if (f->need_reset || f->stalled || !f->in_stanza || f->oversized)
    return NULL;
  return f->stanza->root;
}

gboolean
xm_framer_is_stalled (const XmFramer *f)
{
  return f->stalled;
}
