/* test-pcap-read.c: captures written with libpcap from crafted TCP segments
 * carrying a real XMPP exchange (tests/data/seeds/004-*.xml), read back into
 * events: exact stanza bytes in order whatever the segmentation, order,
 * retransmissions and link layer; lost segments, STARTTLS, SASL restarts,
 * XEP-0138 zlib, truncated and broken files. */
#include "config.h"

#include <string.h>
#include <zlib.h>
#include <pcap/pcap.h>
#include <glib/gstdio.h>

#include "pcap-read.h"
#include "xml-framer.h"

#define T0 G_GINT64_CONSTANT (1795000000000000)

/* ---- a sink that keeps what it gets ---- */

typedef struct {
  XmEventKind kind;
  guint conn;
  XmDir dir;
  guint flags;
  gint64 time_us;
  XmNoteLevel level;
  char *text;
  char *raw;         /* STREAM_OPEN, STANZA */
  char *name;        /* STANZA: local name of the root */
  char *layer;       /* LAYER: info->layer */
  char *addr[2];
  guint64 bytes[2];
  guint64 wire_len;
  gsize count;
  char *sasl_step;
} Rec;

typedef struct {
  XmSink sink;
  GPtrArray *recs;
  gboolean flushed;
} Collector;

static void
rec_free (gpointer p)
{
  Rec *r = p;

  g_free (r->text);
  g_free (r->raw);
  g_free (r->name);
  g_free (r->layer);
  g_free (r->addr[0]);
  g_free (r->addr[1]);
  g_free (r->sasl_step);
  g_free (r);
}

static void
collect_event (XmSink *sink, const XmEvent *ev)
{
  Collector *k = (Collector *) sink;
  Rec *r = g_new0 (Rec, 1);

  r->kind = ev->kind;
  r->conn = ev->conn;
  r->dir = ev->dir;
  r->flags = ev->flags;
  r->time_us = ev->time_us;
  r->level = ev->level;
  r->text = g_strdup (ev->text);
  if (ev->stanza)
    {
      g_assert_nonnull (ev->stanza->raw);
      r->raw = g_strndup ((const char *) ev->stanza->raw, ev->stanza->raw_len);
      if (ev->kind == XM_EVENT_STANZA)
        r->name = g_strdup (ev->stanza->root->name);
    }
  if (ev->kind == XM_EVENT_LAYER)
    {
      g_assert_nonnull (ev->layer);
      r->layer = g_strdup (ev->layer->layer);
    }
  r->addr[0] = g_strdup (ev->addr[0]);
  r->addr[1] = g_strdup (ev->addr[1]);
  r->bytes[0] = ev->bytes[0];
  r->bytes[1] = ev->bytes[1];
  r->wire_len = ev->wire_len;
  r->count = ev->count;
  if (ev->sasl)
    r->sasl_step = g_strdup (ev->sasl->step);
  if (g_test_verbose ())
    g_test_message ("#%u %d %s %s%s", ev->conn, ev->kind, xm_dir_arrow (ev->dir),
                    ev->text ? ev->text : "", r->raw ? r->raw : "");
  g_ptr_array_add (k->recs, r);
}

static void
collect_flush (XmSink *sink)
{
  ((Collector *) sink)->flushed = TRUE;
}

static void
collect_free (XmSink *sink)
{
  Collector *k = (Collector *) sink;

  g_ptr_array_unref (k->recs);
  g_free (k);
}

static const XmSinkVTable collector_vtable = {
  collect_event, collect_flush, collect_free,
};

static Collector *
collector_new (void)
{
  Collector *k = g_new0 (Collector, 1);

  k->sink.vtable = &collector_vtable;
  k->recs = g_ptr_array_new_with_free_func (rec_free);
  return k;
}

static Rec *
rec (Collector *k, guint i)
{
  return g_ptr_array_index (k->recs, i);
}

static guint
count_kind (Collector *k, XmEventKind kind)
{
  guint n = 0;

  for (guint i = 0; i < k->recs->len; i++)
    n += rec (k, i)->kind == kind;
  return n;
}

/* The first event of kind whose text contains needle (NULL: any), or NULL. */
static Rec *
find (Collector *k, XmEventKind kind, const char *needle)
{
  for (guint i = 0; i < k->recs->len; i++)
    {
      Rec *r = rec (k, i);
      if (r->kind == kind && (needle == NULL || (r->text && strstr (r->text, needle))))
        return r;
    }
  return NULL;
}

/* Stream headers and stanzas of one direction, "raw\n---\n" each. */
static char *
items (Collector *k, guint conn, XmDir dir)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < k->recs->len; i++)
    {
      Rec *r = rec (k, i);
      if (r->conn == conn && r->dir == dir
          && (r->kind == XM_EVENT_STREAM_OPEN || r->kind == XM_EVENT_STANZA))
        g_string_append_printf (s, "%s\n---\n", r->raw);
    }
  return g_string_free (s, FALSE);
}

/* Every event but its time, one line each: two reads compared. */
static char *
signature (Collector *k)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < k->recs->len; i++)
    {
      Rec *r = rec (k, i);
      g_string_append_printf (s, "#%u %d %d %x %d [%s] [%s] [%s] %" G_GUINT64_FORMAT
                              " %" G_GUINT64_FORMAT " %" G_GSIZE_FORMAT " %s\n",
                              r->conn, r->kind, r->dir, r->flags, r->level,
                              r->text ? r->text : "", r->raw ? r->raw : "",
                              r->layer ? r->layer : "", r->bytes[0], r->bytes[1],
                              r->count, r->sasl_step ? r->sasl_step : "");
    }
  return g_string_free (s, FALSE);
}

static void
assert_no_notes (Collector *k)
{
  Rec *r = find (k, XM_EVENT_NOTE, NULL);

  if (r)
    g_error ("unexpected note: %s", r->text);
}

/* ---- the exchange: pieces of the seed transcripts ---- */

typedef struct {
  GArray *starts; /* gsize: where each item starts */
  GArray *ends;   /* gsize: where it ends */
} Items;

static void
on_item_open (XmStanza *h, gpointer ud)
{
  Items *it = ud;
  gsize a = h->offset, b = h->offset + h->raw_len;

  g_array_append_val (it->starts, a);
  g_array_append_val (it->ends, b);
}

static void
on_item (XmStanza *st, gpointer ud)
{
  on_item_open (st, ud);
}

static void
on_item_ws (gsize n, gpointer ud)
{
}

static void
on_item_close (guint64 off, gpointer ud)
{
}

static void
on_item_problem (XmFramerProblem kind, guint64 off, const char *msg, gpointer ud)
{
  g_error ("seed file does not frame: %s", msg);
}

static const XmFramerEvents item_events = {
  on_item_open, on_item, on_item_ws, on_item_close, on_item_problem,
};

typedef struct {
  char *data;
  gsize len;
  Items items;
} Seed;

static Seed seeds[8];
static const char *const seed_names[] = {
  "004-c2s-1.xml", "004-s2c-1.xml", "004-c2s-2.xml", "004-s2c-2.xml",
  "000-c2s-1.xml", "000-s2c-1.xml",
};
enum { C1, S1, C2, S2, TLS_C, TLS_S };

static void
load_seeds (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (seed_names); i++)
    {
      g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", "seeds",
                                                     seed_names[i], NULL);
      g_autoptr (GError) error = NULL;
      g_autoptr (XmFramer) fr = NULL;
      Seed *s = &seeds[i];

      g_file_get_contents (path, &s->data, &s->len, &error);
      g_assert_no_error (error);
      s->items.starts = g_array_new (FALSE, FALSE, sizeof (gsize));
      s->items.ends = g_array_new (FALSE, FALSE, sizeof (gsize));
      fr = xm_framer_new (&item_events, &s->items);
      xm_framer_feed (fr, (const guint8 *) s->data, s->len);
    }
}

/* Item i of a seed with the whitespace after it; the file's last item
 * without (what follows the stream restart must start the new stream). */
static GBytes *
piece (guint seed, guint i)
{
  Seed *s = &seeds[seed];
  gsize a = g_array_index (s->items.starts, gsize, i);
  gsize b = i + 1 < s->items.starts->len
    ? g_array_index (s->items.starts, gsize, i + 1)
    : g_array_index (s->items.ends, gsize, i);

  return g_bytes_new (s->data + a, b - a);
}

/* Item i exactly. */
static const char *
item (guint seed, guint i, gsize *len)
{
  Seed *s = &seeds[seed];
  gsize a = g_array_index (s->items.starts, gsize, i);

  *len = g_array_index (s->items.ends, gsize, i) - a;
  return s->data + a;
}

static guint
n_items (guint seed)
{
  return seeds[seed].items.starts->len;
}

/* The 004 exchange in the order it happened: DIGEST-MD5, <success/>, then
 * the restarted streams with bind and session. */
typedef struct {
  int from;   /* 0 client, 1 server */
  guint seed, item;
} Step;

static const Step exchange[] = {
  { 0, C1, 0 }, { 1, S1, 0 }, { 1, S1, 1 }, { 0, C1, 1 }, { 1, S1, 2 },
  { 0, C1, 2 }, { 1, S1, 3 }, { 0, C1, 3 }, { 1, S1, 4 },
  { 0, C2, 0 }, { 1, S2, 0 }, { 1, S2, 1 }, { 0, C2, 1 }, { 1, S2, 2 },
  { 0, C2, 2 }, { 1, S2, 3 },
};

/* What the reader must report for a direction: every item of its files. */
static char *
expected_items (int from)
{
  GString *s = g_string_new (NULL);
  guint files[2][2] = { { C1, C2 }, { S1, S2 } };

  for (guint f = 0; f < 2; f++)
    for (guint i = 0; i < n_items (files[from][f]); i++)
      {
        gsize len;
        const char *p = item (files[from][f], i, &len);
        g_string_append_len (s, p, len);
        g_string_append (s, "\n---\n");
      }
  return g_string_free (s, FALSE);
}

/* ---- writing captures ---- */

typedef struct {
  int family;
  guint8 addr[16];
  guint16 port;
} Ep;

typedef struct {
  int linktype;
  guint vlan;          /* EN10MB: an 802.1Q tag when set */
  gboolean ip_extra;   /* IPv4 options, or an IPv6 hop-by-hop header */
  guint32 null_af6;    /* NULL/LOOP: the AF_INET6 value written */
  GPtrArray *frames;   /* GBytes */
} Cap;

typedef struct {
  int from;
  guint32 seq, ack;
  guint8 flags;
  GBytes *data;
  gboolean frag;       /* written as an IPv4 fragment */
} Seg;

typedef struct {
  Ep ep[2];            /* client, server */
  guint32 isn[2];
  guint64 sent[2];     /* sequence space used (data, SYN, FIN) */
  gsize mss;
  GPtrArray *segs;     /* Seg* */
} Conv;

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

static void
put16 (GByteArray *b, guint16 v)
{
  guint8 x[2] = { v >> 8, v & 0xff };
  g_byte_array_append (b, x, 2);
}

static void
put32 (GByteArray *b, guint32 v)
{
  guint8 x[4] = { v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff };
  g_byte_array_append (b, x, 4);
}

static void
put32le (GByteArray *b, guint32 v)
{
  guint8 x[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
  g_byte_array_append (b, x, 4);
}

static Ep
ep4 (const char *a, guint16 port)
{
  Ep e = { .family = 4, .port = port };
  g_assert_cmpint (inet_pton (AF_INET, a, e.addr), ==, 1);
  return e;
}

static Ep
ep6 (const char *a, guint16 port)
{
  Ep e = { .family = 6, .port = port };
  g_assert_cmpint (inet_pton (AF_INET6, a, e.addr), ==, 1);
  return e;
}

static GBytes *
frame (const Cap *cap, const Ep *src, const Ep *dst, const Seg *s)
{
  GByteArray *f = g_byte_array_new ();
  GByteArray *tcp = g_byte_array_new ();
  gsize plen = s->data ? g_bytes_get_size (s->data) : 0;
  guint16 ethertype = src->family == 4 ? 0x0800 : 0x86DD;
  static const guint8 mac[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };

  /* TCP */
  put16 (tcp, src->port);
  put16 (tcp, dst->port);
  put32 (tcp, s->seq);
  put32 (tcp, (s->flags & F_ACK) ? s->ack : 0);
  put16 (tcp, 5 << 12 | s->flags);
  put16 (tcp, 65535);
  put32 (tcp, 0); /* checksum, urgent pointer: not checked */
  if (plen)
    g_byte_array_append (tcp, g_bytes_get_data (s->data, NULL), plen);

  /* link */
  switch (cap->linktype)
    {
    case DLT_EN10MB:
      g_byte_array_append (f, mac, 12);
      if (cap->vlan)
        {
          put16 (f, 0x8100);
          put16 (f, cap->vlan);
        }
      put16 (f, ethertype);
      break;
    case DLT_LINUX_SLL:
      put16 (f, 0);     /* to us */
      put16 (f, 1);     /* ARPHRD_ETHER */
      put16 (f, 6);
      g_byte_array_append (f, mac, 6);
      put16 (f, 0);
      put16 (f, ethertype);
      break;
    case DLT_LINUX_SLL2:
      put16 (f, ethertype);
      put16 (f, 0);
      put32 (f, 2);     /* interface index */
      put16 (f, 1);     /* ARPHRD_ETHER */
      {
        guint8 x[2] = { 4, 6 }; /* outgoing, address length */
        g_byte_array_append (f, x, 2);
      }
      g_byte_array_append (f, mac, 6);
      put16 (f, 0);
      break;
    case DLT_NULL:
      put32le (f, src->family == 4 ? 2 : cap->null_af6);
      break;
    case DLT_LOOP:
      put32 (f, src->family == 4 ? 2 : cap->null_af6);
      break;
    default:
      break;
    }

  /* IP */
  if (src->family == 4)
    {
      guint ihl = cap->ip_extra ? 24 : 20;
      static const guint8 opts[4] = { 1, 1, 1, 0 }; /* NOP NOP NOP EOL */
      guint8 x[4] = { 0x40 | (ihl / 4), 0, 0, 0 };

      g_byte_array_append (f, x, 2);
      put16 (f, ihl + tcp->len);
      put16 (f, 0x1234);
      put16 (f, s->frag ? 0x2000 : 0x4000); /* MF, or DF */
      x[0] = 64;
      x[1] = 6;
      g_byte_array_append (f, x, 2);
      put16 (f, 0);
      g_byte_array_append (f, src->addr, 4);
      g_byte_array_append (f, dst->addr, 4);
      if (cap->ip_extra)
        g_byte_array_append (f, opts, 4);
    }
  else
    {
      static const guint8 hbh[8] = { 6, 0, 1, 4, 0, 0, 0, 0 }; /* PadN */
      guint8 x[2];

      put32 (f, 0x60000000);
      put16 (f, tcp->len + (cap->ip_extra ? 8 : 0));
      x[0] = cap->ip_extra ? 0 : 6;
      x[1] = 64;
      g_byte_array_append (f, x, 2);
      g_byte_array_append (f, src->addr, 16);
      g_byte_array_append (f, dst->addr, 16);
      if (cap->ip_extra)
        g_byte_array_append (f, hbh, 8);
    }
  g_byte_array_append (f, tcp->data, tcp->len);
  /* Ethernet pads short frames: the IP length tells the real end. */
  if (cap->linktype == DLT_EN10MB)
    while (f->len < 60)
      {
        guint8 z = 0xEE;
        g_byte_array_append (f, &z, 1);
      }
  g_byte_array_unref (tcp);
  return g_byte_array_free_to_bytes (f);
}

static Conv *
conv_new (Ep client, Ep server, gsize mss)
{
  Conv *c = g_new0 (Conv, 1);

  c->ep[0] = client;
  c->ep[1] = server;
  c->isn[0] = 0xFFFFFF00u; /* the client's sequence numbers wrap */
  c->isn[1] = 1000000;
  c->mss = mss;
  c->segs = g_ptr_array_new ();
  return c;
}

static void
seg_free (gpointer p)
{
  Seg *s = p;

  if (s->data)
    g_bytes_unref (s->data);
  g_free (s);
}

static void
conv_free (Conv *c)
{
  for (guint i = 0; i < c->segs->len; i++)
    seg_free (g_ptr_array_index (c->segs, i));
  g_ptr_array_unref (c->segs);
  g_free (c);
}

static Seg *
conv_seg (Conv *c, int from, guint8 flags, const void *data, gsize len)
{
  Seg *s = g_new0 (Seg, 1);

  s->from = from;
  s->seq = c->isn[from] + (guint32) c->sent[from];
  s->ack = c->isn[1 - from] + (guint32) c->sent[1 - from];
  s->flags = flags;
  if (len)
    s->data = g_bytes_new (data, len);
  c->sent[from] += len + ((flags & (F_SYN | F_FIN)) ? 1 : 0);
  g_ptr_array_add (c->segs, s);
  return s;
}

static void
conv_handshake (Conv *c)
{
  conv_seg (c, 0, F_SYN, NULL, 0);
  conv_seg (c, 1, F_SYN | F_ACK, NULL, 0);
  conv_seg (c, 0, F_ACK, NULL, 0);
}

static void
conv_send (Conv *c, int from, const void *data, gsize len)
{
  for (gsize a = 0; a < len; a += c->mss)
    conv_seg (c, from, F_ACK | F_PSH, (const guint8 *) data + a, MIN (c->mss, len - a));
}

static void
conv_send_bytes (Conv *c, int from, GBytes *b)
{
  conv_send (c, from, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
}

static void
conv_close (Conv *c)
{
  conv_seg (c, 0, F_FIN | F_ACK, NULL, 0);
  conv_seg (c, 1, F_FIN | F_ACK, NULL, 0);
  conv_seg (c, 0, F_ACK, NULL, 0);
}

/* The whole 004 exchange, closed with </stream:stream> both ways. */
static void
conv_exchange (Conv *c)
{
  for (guint i = 0; i < G_N_ELEMENTS (exchange); i++)
    {
      g_autoptr (GBytes) b = piece (exchange[i].seed, exchange[i].item);
      conv_send_bytes (c, exchange[i].from, b);
    }
  conv_send (c, 0, "</stream:stream>", 16);
  conv_send (c, 1, "</stream:stream>", 16);
}

static void
cap_add (Cap *cap, Conv *c)
{
  for (guint i = 0; i < c->segs->len; i++)
    {
      Seg *s = g_ptr_array_index (c->segs, i);
      g_ptr_array_add (cap->frames, frame (cap, &c->ep[s->from], &c->ep[1 - s->from], s));
    }
}

static Cap *
cap_new (int linktype)
{
  Cap *cap = g_new0 (Cap, 1);

  cap->linktype = linktype;
  cap->null_af6 = 30;
  cap->frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  return cap;
}

static void
cap_free (Cap *cap)
{
  g_ptr_array_unref (cap->frames);
  g_free (cap);
}

static gint64
frame_time (guint i)
{
  return T0 + (gint64) i * 1000;
}

static char *tmpdir;

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmpdir, name, NULL);
}

/* Frame i at T0 + i ms. snaplen: cut frames to it (0: keep whole). nano:
 * a pcap with nanosecond timestamps. */
static char *
cap_write_full (Cap *cap, const char *name, guint snaplen, gboolean nano)
{
  char *path = tmp_path (name);
  pcap_t *dead = pcap_open_dead_with_tstamp_precision (cap->linktype,
                                                       snaplen ? (int) snaplen : 262144,
                                                       nano ? PCAP_TSTAMP_PRECISION_NANO
                                                            : PCAP_TSTAMP_PRECISION_MICRO);
  pcap_dumper_t *d = pcap_dump_open (dead, path);

  g_assert_nonnull (d);
  for (guint i = 0; i < cap->frames->len; i++)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (g_ptr_array_index (cap->frames, i), &len);
      struct pcap_pkthdr h = { 0 };
      gint64 t = frame_time (i);

      h.ts.tv_sec = t / G_USEC_PER_SEC;
      h.ts.tv_usec = (t % G_USEC_PER_SEC) * (nano ? 1000 : 1);
      h.len = len;
      h.caplen = snaplen ? MIN (len, snaplen) : len;
      pcap_dump ((u_char *) d, &h, data);
    }
  pcap_dump_close (d);
  pcap_close (dead);
  return path;
}

static char *
cap_write (Cap *cap, const char *name, guint snaplen)
{
  return cap_write_full (cap, name, snaplen, FALSE);
}

static Collector *
read_capture (const char *path)
{
  Collector *k = collector_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (xm_capture_read (path, &k->sink, &error));
  g_assert_no_error (error);
  g_assert_true (k->flushed);
  return k;
}

/* The 004 exchange arrived complete on connection conn. */
static void
check_exchange (Collector *k, guint conn)
{
  g_autofree char *c2s = items (k, conn, XM_DIR_C2S);
  g_autofree char *s2c = items (k, conn, XM_DIR_S2C);
  g_autofree char *want_c2s = expected_items (0);
  g_autofree char *want_s2c = expected_items (1);
  guint restarts = 0, sasl = 0, closes = 0;

  g_assert_cmpstr (c2s, ==, want_c2s);
  g_assert_cmpstr (s2c, ==, want_s2c);
  for (guint i = 0; i < k->recs->len; i++)
    {
      Rec *r = rec (k, i);
      if (r->conn != conn)
        continue;
      if (r->kind == XM_EVENT_LAYER)
        {
          g_assert_cmpstr (r->layer, ==, "stream-restart");
          /* Right after the SASL decode of <success/>. */
          g_assert_cmpint (rec (k, i - 1)->kind, ==, XM_EVENT_SASL);
          g_assert_cmpstr (rec (k, i - 1)->sasl_step, ==, "success");
          g_assert_cmpstr (rec (k, i - 2)->name, ==, "success");
          restarts++;
        }
      if (r->kind == XM_EVENT_SASL)
        {
          /* Right after its stanza, same direction. */
          g_assert_cmpint (rec (k, i - 1)->kind, ==, XM_EVENT_STANZA);
          g_assert_cmpint (rec (k, i - 1)->dir, ==, r->dir);
          sasl++;
        }
      closes += r->kind == XM_EVENT_STREAM_CLOSE;
    }
  g_assert_cmpuint (restarts, ==, 1);
  g_assert_cmpuint (sasl, ==, 6); /* auth, 2 challenges, 2 responses, success */
  g_assert_cmpuint (closes, ==, 2);
}

static gsize
exchange_bytes (int from)
{
  gsize n = 16; /* </stream:stream> */

  for (guint i = 0; i < G_N_ELEMENTS (exchange); i++)
    if (exchange[i].from == from)
      {
        g_autoptr (GBytes) b = piece (exchange[i].seed, exchange[i].item);
        n += g_bytes_get_size (b);
      }
  return n;
}

/* ---- tests ---- */

static void
test_ethernet_ipv4 (void)
{
  Cap *cap = cap_new (DLT_EN10MB);
  Conv *c = conv_new (ep4 ("10.0.0.1", 40000), ep4 ("10.0.0.2", 5222), 1460);
  g_autofree char *path = NULL;
  Collector *k;
  Rec *open, *close;

  conv_handshake (c);
  conv_exchange (c);
  conv_close (c);
  cap_add (cap, c);
  path = cap_write (cap, "ethernet.pcap", 0);
  k = read_capture (path);

  assert_no_notes (k);
  open = rec (k, 0);
  g_assert_cmpint (open->kind, ==, XM_EVENT_CONN_OPEN);
  g_assert_cmpuint (open->conn, ==, 1);
  g_assert_cmpstr (open->text, ==, "client 10.0.0.1:40000, server 10.0.0.2:5222 (capture)");
  g_assert_cmpstr (open->addr[0], ==, "10.0.0.1:40000");
  g_assert_cmpstr (open->addr[1], ==, "10.0.0.2:5222");
  g_assert_cmpint (open->time_us, ==, frame_time (0));
  check_exchange (k, 1);
  close = rec (k, k->recs->len - 1);
  g_assert_cmpint (close->kind, ==, XM_EVENT_CONN_CLOSE);
  g_assert_cmpstr (close->text, ==, "closed (FIN both ways)");
  g_assert_cmpuint (close->bytes[0], ==, exchange_bytes (0));
  g_assert_cmpuint (close->bytes[1], ==, exchange_bytes (1));
  /* The close comes with the last FIN (the frame before the final ACK). */
  g_assert_cmpint (close->time_us, ==, frame_time (cap->frames->len - 2));
  /* The first stanza: frame 3 is the client's header, 4 the server's. */
  g_assert_cmpint (find (k, XM_EVENT_STREAM_OPEN, NULL)->time_us, ==, frame_time (3));

  xm_sink_free (&k->sink);
  conv_free (c);
  cap_free (cap);
}

/* tcpdump -i any: Linux cooked v2, IPv6 with a hop-by-hop header, small
 * segments so items span several packets. */
static void
test_sll2_ipv6 (void)
{
  Cap *cap = cap_new (DLT_LINUX_SLL2);
  Conv *c = conv_new (ep6 ("2001:db8::1", 50000), ep6 ("2001:db8::2", 5222), 37);
  g_autofree char *path = NULL;
  Collector *k;
  Rec *r;

  cap->ip_extra = TRUE;
  conv_handshake (c);
  conv_exchange (c);
  conv_close (c);
  cap_add (cap, c);
  path = cap_write (cap, "sll2.pcap", 0);
  k = read_capture (path);

  assert_no_notes (k);
  g_assert_cmpstr (rec (k, 0)->text, ==,
                   "client [2001:db8::1]:50000, server [2001:db8::2]:5222 (capture)");
  g_assert_cmpstr (rec (k, 0)->addr[0], ==, "[2001:db8::1]:50000");
  g_assert_cmpstr (rec (k, 0)->addr[1], ==, "[2001:db8::2]:5222");
  check_exchange (k, 1);
  /* An item's time is that of the packet that completed it: the client's
   * header spans several 37-byte segments after the 3 of the handshake. */
  r = find (k, XM_EVENT_STREAM_OPEN, NULL);
  g_assert_cmpint (r->time_us, ==,
                   frame_time (3 + (g_array_index (seeds[C1].items.ends, gsize, 0) - 1) / 37));
  xm_sink_free (&k->sink);
  conv_free (c);
  cap_free (cap);
}

/* Each link layer and IP version reads the same. */
static void
test_link_types (void)
{
  struct {
    int linktype;
    int family;
    guint vlan;
    gboolean extra;
    guint32 af6;
  } cases[] = {
    { DLT_EN10MB, 4, 100, TRUE, 0 },
    { DLT_EN10MB, 6, 7, FALSE, 0 },
    { DLT_LINUX_SLL, 4, 0, FALSE, 0 },
    { DLT_LINUX_SLL, 6, 0, TRUE, 0 },
    { DLT_LINUX_SLL2, 4, 0, TRUE, 0 },
    { DLT_RAW, 4, 0, FALSE, 0 },
    { DLT_RAW, 6, 0, FALSE, 0 },
    { DLT_IPV4, 4, 0, TRUE, 0 },
    { DLT_IPV6, 6, 0, TRUE, 0 },
    { DLT_NULL, 4, 0, FALSE, 30 },
    { DLT_NULL, 6, 0, FALSE, 30 },
    { DLT_NULL, 6, 0, FALSE, 24 },
    { DLT_LOOP, 4, 0, FALSE, 28 },
    { DLT_LOOP, 6, 0, FALSE, 28 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      Cap *cap = cap_new (cases[i].linktype);
      Conv *c = cases[i].family == 4
        ? conv_new (ep4 ("192.0.2.10", 33333), ep4 ("192.0.2.20", 5222), 200)
        : conv_new (ep6 ("fe80::1", 33333), ep6 ("fe80::2", 5222), 200);
      g_autofree char *name = g_strdup_printf ("link-%u.pcap", i);
      g_autofree char *path = NULL;
      Collector *k;

      g_test_message ("link type %d, IPv%d", cases[i].linktype, cases[i].family);
      cap->vlan = cases[i].vlan;
      cap->ip_extra = cases[i].extra;
      cap->null_af6 = cases[i].af6;
      conv_handshake (c);
      conv_exchange (c);
      conv_close (c);
      cap_add (cap, c);
      path = cap_write (cap, name, 0);
      k = read_capture (path);
      assert_no_notes (k);
      check_exchange (k, 1);
      g_assert_cmpstr (rec (k, k->recs->len - 1)->text, ==, "closed (FIN both ways)");
      xm_sink_free (&k->sink);
      conv_free (c);
      cap_free (cap);
    }
}

/* Swaps, duplicates and re-cuts segments within each step of the exchange;
 * the events must be those of the clean capture, word for word. */
static void
test_reordered (void)
{
  g_autofree char *clean_path = NULL, *path = NULL;
  g_autofree char *want = NULL, *got = NULL;
  Cap *cap = cap_new (DLT_EN10MB);
  Cap *mixed = cap_new (DLT_EN10MB);
  Conv *c = conv_new (ep4 ("10.1.0.1", 41000), ep4 ("10.1.0.2", 5222), 29);
  GPtrArray *order = g_ptr_array_new ();  /* borrowed segments */
  GPtrArray *extra = g_ptr_array_new_with_free_func (seg_free);
  GPtrArray *orig;
  Collector *k;

  conv_handshake (c);
  conv_exchange (c);
  conv_close (c);
  cap_add (cap, c);
  clean_path = cap_write (cap, "clean.pcap", 0);
  k = read_capture (clean_path);
  want = signature (k);
  xm_sink_free (&k->sink);

  /* Runs of data segments from one side: reverse each run of 3, send the
   * first twice, and add a retransmission overlapping two segments. */
  for (guint i = 0; i < c->segs->len;)
    {
      Seg *s = g_ptr_array_index (c->segs, i);
      guint j = i;

      if (s->data == NULL)
        {
          g_ptr_array_add (order, s);
          i++;
          continue;
        }
      while (j < c->segs->len && j - i < 3)
        {
          Seg *t = g_ptr_array_index (c->segs, j);
          if (t->data == NULL || t->from != s->from)
            break;
          j++;
        }
      for (guint m = j; m > i; m--)
        g_ptr_array_add (order, g_ptr_array_index (c->segs, m - 1));
      g_ptr_array_add (order, s);
      if (j - i >= 2)
        {
          Seg *a = g_ptr_array_index (c->segs, i), *b = g_ptr_array_index (c->segs, i + 1);
          gsize la = g_bytes_get_size (a->data), lb = g_bytes_get_size (b->data);
          g_autoptr (GByteArray) both = g_byte_array_new ();
          Seg *o = g_new0 (Seg, 1);

          g_byte_array_append (both, g_bytes_get_data (a->data, NULL), la);
          g_byte_array_append (both, g_bytes_get_data (b->data, NULL), lb);
          *o = *a;
          o->seq = a->seq + la / 2;
          o->data = g_bytes_new (both->data + la / 2, (la + lb) - la / 2 - lb / 2);
          g_ptr_array_add (extra, o);
          g_ptr_array_add (order, o);
        }
      i = j;
    }
  orig = c->segs;
  c->segs = order;
  cap_add (mixed, c);
  c->segs = orig;
  g_assert_cmpuint (mixed->frames->len, >, cap->frames->len);
  path = cap_write (mixed, "mixed.pcap", 0);
  k = read_capture (path);
  got = signature (k);
  g_assert_cmpstr (got, ==, want);
  xm_sink_free (&k->sink);

  g_ptr_array_unref (order);
  g_ptr_array_unref (extra);
  cap_free (mixed);
  cap_free (cap);
  conv_free (c);
}

/* A client segment inside <auth/> never made it into the capture: a note
 * with the count as soon as the server acknowledges past it, and the
 * client's direction resumes at its next stream header. */
static void
test_missing_segment (void)
{
  Cap *cap = cap_new (DLT_EN10MB);
  Conv *c = conv_new (ep4 ("10.2.0.1", 42000), ep4 ("10.2.0.2", 5222), 29);
  g_autofree char *path = NULL, *c2s = NULL, *s2c = NULL, *want_s2c = NULL;
  g_autofree char *gap = NULL;
  g_autoptr (GString) want_c2s = g_string_new (NULL);
  gsize auth = g_array_index (seeds[C1].items.starts, gsize, 1), len;
  guint64 off = 0, dropped = 0;
  Collector *k;
  Rec *note;

  conv_handshake (c);
  conv_exchange (c);
  conv_close (c);
  for (guint i = 0; i < c->segs->len; i++)
    {
      Seg *s = g_ptr_array_index (c->segs, i);
      gsize n = s->data ? g_bytes_get_size (s->data) : 0;

      if (s->from == 0 && n && off <= auth + 10 && auth + 10 < off + n)
        {
          dropped = off;
          seg_free (g_ptr_array_steal_index (c->segs, i));
          break;
        }
      if (s->from == 0)
        off += n;
    }
  g_assert_cmpuint (dropped, >, 0);
  cap_add (cap, c);
  path = cap_write (cap, "missing.pcap", 0);
  k = read_capture (path);

  gap = g_strdup_printf ("29 bytes missing at offset %" G_GUINT64_FORMAT, dropped);
  note = find (k, XM_EVENT_NOTE, gap);
  g_assert_nonnull (note);
  g_assert_cmpint (note->dir, ==, XM_DIR_C2S);
  g_assert_cmpint (note->level, ==, XM_NOTE_WARNING);
  g_assert_nonnull (find (k, XM_EVENT_NOTE, "resumes"));
  /* The client's header before the hole, then its restarted stream. */
  {
    const char *p = item (C1, 0, &len);
    g_string_append_len (want_c2s, p, len);
    g_string_append (want_c2s, "\n---\n");
  }
  for (guint i = 0; i < n_items (C2); i++)
    {
      const char *p = item (C2, i, &len);
      g_string_append_len (want_c2s, p, len);
      g_string_append (want_c2s, "\n---\n");
    }
  c2s = items (k, 1, XM_DIR_C2S);
  s2c = items (k, 1, XM_DIR_S2C);
  want_s2c = expected_items (1);
  g_assert_cmpstr (c2s, ==, want_c2s->str);
  g_assert_cmpstr (s2c, ==, want_s2c);
  g_assert_nonnull (find (k, XM_EVENT_LAYER, "SASL success"));
  g_assert_cmpstr (rec (k, k->recs->len - 1)->text, ==, "closed (FIN both ways)");
  g_assert_cmpuint (rec (k, k->recs->len - 1)->bytes[0], ==, exchange_bytes (0) - 29);

  xm_sink_free (&k->sink);
  conv_free (c);
  cap_free (cap);
}

/* RFC 6120 STARTTLS (seed 000): after <proceed/> a layer event and a note,
 * then nothing of the TLS bytes is decoded. */
static void
test_starttls (void)
{
  static const guint8 client_hello[] = { 0x16, 0x03, 0x01, 0x00, 0x04, 1, 0, 0, 0 };
  static const guint8 server_hello[] = { 0x16, 0x03, 0x03, 0x00, 0x04, 2, 0, 0, 0 };
  Cap *cap = cap_new (DLT_EN10MB);
  Conv *c = conv_new (ep4 ("10.3.0.1", 43000), ep4 ("10.3.0.2", 5222), 1000);
  g_autofree char *path = NULL, *c2s = NULL, *s2c = NULL;
  Collector *k;
  gsize len;
  guint proceed = 0;

  conv_handshake (c);
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr (GBytes) b = piece (TLS_C, i);
      g_autoptr (GBytes) h = piece (TLS_S, i);
      conv_send_bytes (c, 0, b);
      conv_send_bytes (c, 1, h);
    }
  {
    g_autoptr (GBytes) b = piece (TLS_S, 2);
    conv_send_bytes (c, 1, b);
  }
  conv_send (c, 0, client_hello, sizeof client_hello);
  conv_send (c, 1, server_hello, sizeof server_hello);
  conv_send (c, 0, "<not decoded/>", 14);
  conv_close (c);
  cap_add (cap, c);
  path = cap_write (cap, "starttls.pcap", 0);
  k = read_capture (path);

  c2s = items (k, 1, XM_DIR_C2S);
  s2c = items (k, 1, XM_DIR_S2C);
  g_assert_true (g_str_has_suffix (c2s, "<starttls xmlns=\"urn:ietf:params:xml:ns:xmpp-tls\"/>"
                                   "\n---\n"));
  g_assert_true (g_str_has_suffix (s2c, "<proceed xmlns=\"urn:ietf:params:xml:ns:xmpp-tls\"/>"
                                   "\n---\n"));
  g_assert_cmpuint (count_kind (k, XM_EVENT_STREAM_OPEN), ==, 2);
  g_assert_cmpuint (count_kind (k, XM_EVENT_STANZA), ==, 3);
  for (guint i = 0; i < k->recs->len; i++)
    if (rec (k, i)->kind == XM_EVENT_STANZA && g_strcmp0 (rec (k, i)->name, "proceed") == 0)
      proceed = i;
  g_assert_cmpint (rec (k, proceed + 1)->kind, ==, XM_EVENT_LAYER);
  g_assert_cmpstr (rec (k, proceed + 1)->layer, ==, "starttls");
  g_assert_cmpint (rec (k, proceed + 2)->kind, ==, XM_EVENT_NOTE);
  g_assert_nonnull (strstr (rec (k, proceed + 2)->text, "cannot decrypt"));
  /* Nothing more but the close. */
  g_assert_cmpuint (k->recs->len, ==, proceed + 4);
  g_assert_cmpint (rec (k, proceed + 3)->kind, ==, XM_EVENT_CONN_CLOSE);
  g_assert_cmpstr (rec (k, proceed + 3)->text, ==, "closed (FIN both ways)");
  len = 0;
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr (GBytes) b = piece (TLS_C, i);
      len += g_bytes_get_size (b);
    }
  g_assert_cmpuint (rec (k, proceed + 3)->bytes[0], ==, len + sizeof client_hello + 14);

  xm_sink_free (&k->sink);
  conv_free (c);
  cap_free (cap);
}

/* Deflates items into one zlib stream, each flushed: one GBytes each. */
static GPtrArray *
deflate_items (const char *const *its, guint n)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  z_stream z = { 0 };

  g_assert_cmpint (deflateInit (&z, Z_DEFAULT_COMPRESSION), ==, Z_OK);
  for (guint i = 0; i < n; i++)
    {
      GByteArray *b = g_byte_array_new ();
      guint8 buf[4096];

      z.next_in = (Bytef *) its[i];
      z.avail_in = strlen (its[i]);
      do
        {
          z.next_out = buf;
          z.avail_out = sizeof buf;
          g_assert_cmpint (deflate (&z, Z_SYNC_FLUSH), !=, Z_STREAM_ERROR);
          g_byte_array_append (b, buf, sizeof buf - z.avail_out);
        }
      while (z.avail_out == 0);
      g_ptr_array_add (out, g_byte_array_free_to_bytes (b));
    }
  deflateEnd (&z);
  return out;
}

/* XEP-0138: after <compressed/> both directions are inflated. */
static void
test_zlib (void)
{
  static const char *const client_z[] = {
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "to='ya.ru' version='1.0'>",
    "<iq type='get' id='ping1'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<message to='a@ya.ru' type='chat'><body>сжатый текст, compressed text</body>"
    "</message>",
  };
  static const char *const server_z[] = {
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "from='ya.ru' id='z1' version='1.0'>",
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
    "<mechanism>PLAIN</mechanism></mechanisms></stream:features>",
    "<iq type='result' id='ping1'/>",
  };
  static const char compress[] =
    "<compress xmlns='http://jabber.org/protocol/compress'><method>zlib</method></compress>";
  static const char compressed[] = "<compressed xmlns='http://jabber.org/protocol/compress'/>";
  Cap *cap = cap_new (DLT_LINUX_SLL2);
  Conv *c = conv_new (ep4 ("10.4.0.1", 44000), ep4 ("10.4.0.2", 5222), 40);
  g_autoptr (GPtrArray) cz = deflate_items (client_z, G_N_ELEMENTS (client_z));
  g_autoptr (GPtrArray) sz = deflate_items (server_z, G_N_ELEMENTS (server_z));
  g_autofree char *path = NULL;
  g_autoptr (GString) want_c = g_string_new (NULL);
  g_autoptr (GString) want_s = g_string_new (NULL);
  g_autofree char *got_c = NULL, *got_s = NULL;
  Collector *k;
  Rec *lay;
  guint zlib_stanzas = 0;
  guint64 wire[2] = { 0, 0 }, zwire[2] = { 0, 0 };

  conv_handshake (c);
  {
    g_autoptr (GBytes) h = piece (TLS_C, 0);
    g_autoptr (GBytes) sh = piece (TLS_S, 0);
    g_autoptr (GBytes) sf = piece (TLS_S, 1);
    gsize len;
    const char *p;

    conv_send_bytes (c, 0, h);
    conv_send_bytes (c, 1, sh);
    conv_send_bytes (c, 1, sf);
    for (guint i = 0; i < 1; i++)
      {
        p = item (TLS_C, i, &len);
        g_string_append_len (want_c, p, len);
        g_string_append (want_c, "\n---\n");
      }
    for (guint i = 0; i < 2; i++)
      {
        p = item (TLS_S, i, &len);
        g_string_append_len (want_s, p, len);
        g_string_append (want_s, "\n---\n");
      }
  }
  conv_send (c, 0, compress, strlen (compress));
  conv_send (c, 1, compressed, strlen (compressed));
  g_string_append_printf (want_c, "%s\n---\n", compress);
  g_string_append_printf (want_s, "%s\n---\n", compressed);
  for (guint i = 0; i < 3; i++)
    {
      conv_send_bytes (c, 0, g_ptr_array_index (cz, i));
      conv_send_bytes (c, 1, g_ptr_array_index (sz, i));
      g_string_append_printf (want_c, "%s\n---\n", client_z[i]);
      g_string_append_printf (want_s, "%s\n---\n", server_z[i]);
    }
  conv_close (c);
  cap_add (cap, c);
  path = cap_write (cap, "zlib.pcap", 0);
  k = read_capture (path);

  assert_no_notes (k);
  got_c = items (k, 1, XM_DIR_C2S);
  got_s = items (k, 1, XM_DIR_S2C);
  g_assert_cmpstr (got_c, ==, want_c->str);
  g_assert_cmpstr (got_s, ==, want_s->str);
  lay = find (k, XM_EVENT_LAYER, NULL);
  g_assert_nonnull (lay);
  g_assert_cmpstr (lay->layer, ==, "zlib");
  for (guint i = 0; i < k->recs->len; i++)
    {
      Rec *r = rec (k, i);
      gboolean after = r->time_us > lay->time_us;

      if (r->kind != XM_EVENT_STANZA && r->kind != XM_EVENT_STREAM_OPEN)
        continue;
      g_assert_cmpuint (!!(r->flags & XM_EVENT_FLAG_ZLIB), ==, after);
      if (after && r->kind == XM_EVENT_STANZA)
        {
          g_assert_cmpuint (r->wire_len, >, 0);
          wire[r->dir] += r->wire_len;
          zlib_stanzas++;
        }
    }
  g_assert_cmpuint (zlib_stanzas, ==, 4);
  /* Compressed bytes are counted with the stanza they led to; only the end
   * of the last flush, in a segment of its own, may come after the last
   * stanza. */
  for (guint i = 0; i < 3; i++)
    {
      zwire[0] += g_bytes_get_size (g_ptr_array_index (cz, i));
      zwire[1] += g_bytes_get_size (g_ptr_array_index (sz, i));
    }
  for (guint i = 0; i < 2; i++)
    {
      g_assert_cmpuint (wire[i], <=, zwire[i]);
      g_assert_cmpuint (wire[i] + 6, >=, zwire[i]);
    }

  xm_sink_free (&k->sink);
  conv_free (c);
  cap_free (cap);
}

/* Byte offset in a pcap file where frame i's record starts. */
static gsize
record_offset (Cap *cap, guint i)
{
  gsize off = 24;

  for (guint j = 0; j < i; j++)
    off += 16 + g_bytes_get_size (g_ptr_array_index (cap->frames, j));
  return off;
}

/* The file ends in the middle of a packet: the events before it, a note,
 * and the connection ends with the capture. */
static void
test_truncated_file (void)
{
  Cap *cap = cap_new (DLT_EN10MB);
  Conv *c = conv_new (ep4 ("10.5.0.1", 45000), ep4 ("10.5.0.2", 5222), 100);
  g_autofree char *path = NULL, *cut_path = NULL, *data = NULL;
  g_autoptr (GError) error = NULL;
  gsize len, cut;
  guint at;
  Collector *full, *k;
  guint n = 0;
  Rec *last;

  conv_handshake (c);
  conv_exchange (c);
  conv_close (c);
  cap_add (cap, c);
  path = cap_write (cap, "whole.pcap", 0);
  full = read_capture (path);

  at = cap->frames->len / 2;
  cut = record_offset (cap, at) + 16
        + g_bytes_get_size (g_ptr_array_index (cap->frames, at)) / 2;
  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  cut_path = tmp_path ("cut.pcap");
  g_file_set_contents (cut_path, data, cut, &error);
  g_assert_no_error (error);
  k = read_capture (cut_path);

  /* Same events as the whole file up to the cut. */
  while (n < full->recs->len && rec (full, n)->time_us < frame_time (at))
    {
      g_autofree char *a = NULL, *b = NULL;
      Rec *x = rec (full, n), *y = rec (k, n);

      g_assert_cmpint (x->kind, ==, y->kind);
      g_assert_cmpint (x->time_us, ==, y->time_us);
      g_assert_cmpstr (x->raw, ==, y->raw);
      g_assert_cmpstr (x->text, ==, y->text);
      n++;
    }
  g_assert_cmpuint (count_kind (k, XM_EVENT_STANZA), >, 3);
  g_assert_cmpint (rec (k, n)->kind, ==, XM_EVENT_NOTE);
  g_assert_cmpuint (rec (k, n)->conn, ==, 0);
  g_assert_cmpint (rec (k, n)->level, ==, XM_NOTE_ERROR);
  g_assert_nonnull (strstr (rec (k, n)->text, "cannot be read past packet"));
  last = rec (k, k->recs->len - 1);
  g_assert_cmpint (last->kind, ==, XM_EVENT_CONN_CLOSE);
  g_assert_cmpstr (last->text, ==, "capture ended");

  xm_sink_free (&full->sink);
  xm_sink_free (&k->sink);
  conv_free (c);
  cap_free (cap);
}

static void
check_open_error (const char *path, int code, const char *needle)
{
  Collector *k = collector_new ();
  g_autoptr (GError) error = NULL;

  g_assert_false (xm_capture_read (path, &k->sink, &error));
  g_assert_error (error, XM_CAPTURE_ERROR, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
  g_assert_nonnull (strstr (error->message, path));
  g_assert_cmpuint (k->recs->len, ==, 0);
  xm_sink_free (&k->sink);
}

static void
test_bad_files (void)
{
  g_autofree char *empty = tmp_path ("empty.pcap");
  g_autofree char *garbage = tmp_path ("garbage.pcap");
  g_autofree char *header = tmp_path ("header-only.pcap");
  g_autofree char *missing = tmp_path ("no-such-file.pcap");
  g_autofree char *wifi = tmp_path ("wifi.pcap");
  static const guint8 short_header[] = { 0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0 };
  pcap_t *dead;
  pcap_dumper_t *d;

  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  g_assert_true (g_file_set_contents (garbage, "<?xml version='1.0'?><stream:stream>"
                                      "this is not a capture", -1, NULL));
  g_assert_true (g_file_set_contents (header, (const char *) short_header,
                                      sizeof short_header, NULL));
  dead = pcap_open_dead (DLT_IEEE802_11, 65535);
  d = pcap_dump_open (dead, wifi);
  pcap_dump_close (d);
  pcap_close (dead);

  check_open_error (empty, XM_CAPTURE_ERROR_FORMAT, "empty");
  check_open_error (garbage, XM_CAPTURE_ERROR_FORMAT, "not a packet capture");
  check_open_error (header, XM_CAPTURE_ERROR_FORMAT, "cannot read the capture");
  check_open_error (missing, XM_CAPTURE_ERROR_IO, "No such file");
  check_open_error (wifi, XM_CAPTURE_ERROR_LINK_TYPE, "IEEE802_11");
}

static void
test_sniff (void)
{
  static const guint8 us_le[] = { 0xd4, 0xc3, 0xb2, 0xa1 };
  static const guint8 us_be[] = { 0xa1, 0xb2, 0xc3, 0xd4 };
  static const guint8 ns_le[] = { 0x4d, 0x3c, 0xb2, 0xa1 };
  static const guint8 ns_be[] = { 0xa1, 0xb2, 0x3c, 0x4d };
  static const guint8 ng_le[] = { 0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a };
  static const guint8 ng_be[] = { 0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0x1a, 0x2b, 0x3c, 0x4d };
  static const guint8 ng_bad[] = { 0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 1, 2, 3, 4 };

  g_assert_true (xm_capture_sniff (us_le, sizeof us_le));
  g_assert_true (xm_capture_sniff (us_be, sizeof us_be));
  g_assert_true (xm_capture_sniff (ns_le, sizeof ns_le));
  g_assert_true (xm_capture_sniff (ns_be, sizeof ns_be));
  g_assert_true (xm_capture_sniff (ng_le, sizeof ng_le));
  g_assert_true (xm_capture_sniff (ng_be, sizeof ng_be));
  g_assert_false (xm_capture_sniff (ng_bad, sizeof ng_bad));
  g_assert_false (xm_capture_sniff (us_le, 3));
  g_assert_false (xm_capture_sniff ((const guint8 *) "<?xml version", 13));
  g_assert_false (xm_capture_sniff ((const guint8 *) "", 0));
}

static void
put32le_pad (GByteArray *b, const guint8 *data, gsize len)
{
  static const guint8 zero[4] = { 0 };

  g_byte_array_append (b, data, len);
  g_byte_array_append (b, zero, (4 - len % 4) % 4);
}

/* A minimal pcapng by hand: section header, interface, enhanced packets,
 * at frame_time(), or all at time when it is not 0. */
static char *
write_pcapng (Cap *cap, const char *name, guint64 time)
{
  g_autoptr (GByteArray) f = g_byte_array_new ();
  char *path = tmp_path (name);
  g_autoptr (GError) error = NULL;

  put32le (f, 0x0A0D0D0A);
  put32le (f, 28);
  put32le (f, 0x1A2B3C4D);
  put32le (f, 1);          /* version 1.0 */
  put32le (f, 0xFFFFFFFF); /* section length not given */
  put32le (f, 0xFFFFFFFF);
  put32le (f, 28);

  put32le (f, 1);
  put32le (f, 20);
  put32le (f, cap->linktype == DLT_EN10MB ? 1 : 276); /* link type, reserved */
  put32le (f, 262144);
  put32le (f, 20);

  for (guint i = 0; i < cap->frames->len; i++)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (g_ptr_array_index (cap->frames, i), &len);
      guint64 t = time ? time : (guint64) frame_time (i);
      guint32 total = 32 + ((len + 3) & ~(gsize) 3);

      put32le (f, 6);
      put32le (f, total);
      put32le (f, 0);
      put32le (f, t >> 32);
      put32le (f, t & 0xFFFFFFFF);
      put32le (f, len);
      put32le (f, len);
      put32le_pad (f, data, len);
      put32le (f, total);
    }
  g_file_set_contents (path, (const char *) f->data, f->len, &error);
  g_assert_no_error (error);
  return path;
}

static char *
signature_with_times (Collector *k)
{
  g_autofree char *sig = signature (k);
  GString *s = g_string_new (sig);

  for (guint i = 0; i < k->recs->len; i++)
    g_string_append_printf (s, "%" G_GINT64_FORMAT "\n", rec (k, i)->time_us);
  return g_string_free (s, FALSE);
}

/* The same capture as pcapng (by hand, and by editcap when installed) and
 * as a nanosecond pcap reads the same, times included. */
static void
test_pcapng (void)
{
  Cap *cap = cap_new (DLT_EN10MB);
  Conv *c = conv_new (ep4 ("10.6.0.1", 46000), ep4 ("10.6.0.2", 5222), 300);
  g_autofree char *path = NULL, *ng = NULL, *want = NULL, *got = NULL;
  g_autofree char *editcap = g_find_program_in_path ("editcap");
  Collector *k;

  conv_handshake (c);
  conv_exchange (c);
  conv_close (c);
  cap_add (cap, c);
  path = cap_write (cap, "classic.pcap", 0);
  k = read_capture (path);
  want = signature_with_times (k);
  check_exchange (k, 1);
  xm_sink_free (&k->sink);

  ng = write_pcapng (cap, "handmade.pcapng", 0);
  k = read_capture (ng);
  got = signature_with_times (k);
  g_assert_cmpstr (got, ==, want);
  xm_sink_free (&k->sink);

  {
    g_autofree char *nano = cap_write_full (cap, "nano.pcap", 0, TRUE);
    g_autofree char *got_ns = NULL;

    k = read_capture (nano);
    got_ns = signature_with_times (k);
    g_assert_cmpstr (got_ns, ==, want);
    xm_sink_free (&k->sink);
  }

  /* Times beyond what microseconds since the epoch hold in 64 bits. */
  {
    g_autofree char *far = write_pcapng (cap, "far.pcapng", G_MAXUINT64 - 5);

    k = read_capture (far);
    check_exchange (k, 1);
    g_assert_cmpint (rec (k, 0)->time_us, >, T0);
    for (guint i = 1; i < k->recs->len; i++)
      g_assert_cmpint (rec (k, i)->time_us, ==, rec (k, 0)->time_us);
    xm_sink_free (&k->sink);
  }

  if (editcap == NULL && g_file_test ("/usr/bin/editcap", G_FILE_TEST_IS_EXECUTABLE))
    editcap = g_strdup ("/usr/bin/editcap");
  if (editcap)
    {
      g_autofree char *out = tmp_path ("editcap.pcapng");
      g_autoptr (GError) error = NULL;
      g_autofree char *got2 = NULL;
      const char *argv[] = { editcap, "-F", "pcapng", path, out, NULL };
      int status;

      g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL
                                   | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL,
                                   &status, &error));
      g_assert_no_error (error);
      g_assert_true (g_spawn_check_wait_status (status, NULL));
      k = read_capture (out);
      got2 = signature_with_times (k);
      g_assert_cmpstr (got2, ==, want);
      xm_sink_free (&k->sink);
    }
  else
    g_test_message ("editcap not found: only the handmade pcapng was read");

  conv_free (c);
  cap_free (cap);
}

/* IPv4 fragments: said once, skipped; the rest reads as usual. */
static void
test_fragments (void)
{
  Cap *cap = cap_new (DLT_EN10MB);
  Conv *c = conv_new (ep4 ("10.7.0.1", 47000), ep4 ("10.7.0.2", 5222), 1460);
  Conv *f = conv_new (ep4 ("10.7.0.9", 47001), ep4 ("10.7.0.2", 5222), 1460);
  g_autofree char *path = NULL;
  Collector *k;
  guint notes = 0;

  for (int i = 0; i < 3; i++)
    {
      Seg *s = conv_seg (f, 0, F_ACK, "<fragment/>", 11);
      s->frag = TRUE;
    }
  cap_add (cap, f);
  conv_handshake (c);
  conv_exchange (c);
  conv_close (c);
  cap_add (cap, c);
  path = cap_write (cap, "fragments.pcap", 0);
  k = read_capture (path);

  for (guint i = 0; i < k->recs->len; i++)
    if (rec (k, i)->kind == XM_EVENT_NOTE)
      {
        g_assert_nonnull (strstr (rec (k, i)->text, "fragment"));
        g_assert_cmpuint (rec (k, i)->conn, ==, 0);
        notes++;
      }
  g_assert_cmpuint (notes, ==, 1);
  check_exchange (k, 1);

  xm_sink_free (&k->sink);
  conv_free (c);
  conv_free (f);
  cap_free (cap);
}

/* XEP-0368 direct TLS: one note, none of its data decoded. */
static void
test_direct_tls (void)
{
  static const guint8 hello[] = { 0x16, 0x03, 0x01, 0x00, 0x10, 1, 0, 0, 0x0c, 3, 3,
                                  '<', '?', 'x', 'm', 'l', ' ', '<', 'a', '/', '>' };
  Cap *cap = cap_new (DLT_EN10MB);
  Conv *c = conv_new (ep4 ("10.8.0.1", 48000), ep4 ("10.8.0.2", 5223), 1460);
  g_autofree char *path = NULL;
  Collector *k;
  Rec *r;

  conv_handshake (c);
  conv_send (c, 0, hello, sizeof hello);
  conv_send (c, 1, hello, sizeof hello);
  conv_send (c, 0, hello, sizeof hello);
  conv_close (c);
  cap_add (cap, c);
  path = cap_write (cap, "direct-tls.pcap", 0);
  k = read_capture (path);

  g_assert_cmpuint (k->recs->len, ==, 3);
  g_assert_cmpint (rec (k, 0)->kind, ==, XM_EVENT_CONN_OPEN);
  g_assert_cmpstr (rec (k, 0)->addr[1], ==, "10.8.0.2:5223");
  r = rec (k, 1);
  g_assert_cmpint (r->kind, ==, XM_EVENT_NOTE);
  g_assert_nonnull (strstr (r->text, "encrypted"));
  r = rec (k, 2);
  g_assert_cmpint (r->kind, ==, XM_EVENT_CONN_CLOSE);
  g_assert_cmpuint (r->bytes[0], ==, 2 * sizeof hello);
  g_assert_cmpuint (r->bytes[1], ==, sizeof hello);

  xm_sink_free (&k->sink);
  conv_free (c);
  cap_free (cap);
}

/* The capture starts inside the SASL exchange: both directions wait for
 * their next stream header and decode from there. */
static void
test_mid_connection (void)
{
  Cap *cap = cap_new (DLT_EN10MB);
  Conv *c = conv_new (ep4 ("10.9.0.1", 49000), ep4 ("10.9.0.2", 5222), 50);
  g_autofree char *path = NULL, *c2s = NULL, *s2c = NULL;
  g_autoptr (GString) want_c = g_string_new (NULL);
  g_autoptr (GString) want_s = g_string_new (NULL);
  gsize skip = g_array_index (seeds[C1].items.starts, gsize, 2), off = 0, len;
  guint first = 0;
  Collector *k;

  conv_handshake (c);
  conv_exchange (c);
  conv_close (c);
  /* Drop everything before the client's segment holding the start of its
   * first <response/>. */
  for (guint i = 0; i < c->segs->len; i++)
    {
      Seg *s = g_ptr_array_index (c->segs, i);
      gsize n = s->data ? g_bytes_get_size (s->data) : 0;

      if (s->from == 0 && n && off + n > skip)
        {
          first = i;
          break;
        }
      if (s->from == 0)
        off += n + ((s->flags & F_SYN) ? 1 : 0) * 0;
    }
  g_assert_cmpuint (first, >, 3);
  for (guint i = 0; i < first; i++)
    seg_free (g_ptr_array_index (c->segs, i));
  g_ptr_array_remove_range (c->segs, 0, first);
  cap_add (cap, c);
  path = cap_write (cap, "mid.pcap", 0);
  k = read_capture (path);

  g_assert_cmpstr (rec (k, 0)->text, ==,
                   "client 10.9.0.1:49000, server 10.9.0.2:5222 (capture)");
  for (guint i = 0; i < n_items (C2); i++)
    {
      const char *p = item (C2, i, &len);
      g_string_append_len (want_c, p, len);
      g_string_append (want_c, "\n---\n");
    }
  for (guint i = 0; i < n_items (S2); i++)
    {
      const char *p = item (S2, i, &len);
      g_string_append_len (want_s, p, len);
      g_string_append (want_s, "\n---\n");
    }
  c2s = items (k, 1, XM_DIR_C2S);
  s2c = items (k, 1, XM_DIR_S2C);
  g_assert_cmpstr (c2s, ==, want_c->str);
  g_assert_cmpstr (s2c, ==, want_s->str);
  g_assert_nonnull (find (k, XM_EVENT_NOTE, "middle"));
  g_assert_cmpint (find (k, XM_EVENT_NOTE, "middle")->dir, ==, XM_DIR_C2S);
  g_assert_cmpstr (rec (k, k->recs->len - 1)->text, ==, "closed (FIN both ways)");

  xm_sink_free (&k->sink);
  conv_free (c);
  cap_free (cap);
}

/* Connections off the XMPP ports count when their first bytes open a
 * stream; others are left alone. Numbers follow recognition. */
static void
test_other_ports (void)
{
  static const char http[] = "GET / HTTP/1.1\r\nHost: example.org\r\n\r\n";
  Cap *cap = cap_new (DLT_EN10MB);
  Conv *web = conv_new (ep4 ("10.10.0.1", 50000), ep4 ("10.10.0.2", 80), 1460);
  Conv *odd = conv_new (ep4 ("10.10.0.1", 50001), ep4 ("10.10.0.3", 15222), 1460);
  Conv *s2s = conv_new (ep6 ("2001:db8::5", 50002), ep6 ("2001:db8::6", 5269), 1460);
  g_autofree char *path = NULL;
  Collector *k;

  conv_handshake (web);
  conv_send (web, 0, http, strlen (http));
  conv_send (web, 1, "<?xml version='1.0'?><html/>", 28);
  conv_close (web);
  conv_handshake (odd);
  conv_exchange (odd);
  conv_close (odd);
  /* Seen from the middle, no SYN: the side talking to 5269 is the client. */
  {
    g_autoptr (GBytes) b = piece (C2, 0);
    g_autoptr (GBytes) h = piece (S2, 0);
    conv_send_bytes (s2s, 1, h);
    conv_send_bytes (s2s, 0, b);
  }
  cap_add (cap, web);
  cap_add (cap, odd);
  cap_add (cap, s2s);
  path = cap_write (cap, "ports.pcap", 0);
  k = read_capture (path);

  for (guint i = 0; i < k->recs->len; i++)
    g_assert_cmpuint (rec (k, i)->conn, >=, 1);
  g_assert_cmpstr (rec (k, 0)->text, ==,
                   "client 10.10.0.1:50001, server 10.10.0.3:15222 (capture)");
  check_exchange (k, 1);
  {
    Rec *r = NULL;
    g_autofree char *c2s = NULL;
    gsize len;
    const char *p = item (C2, 0, &len);
    g_autofree char *want = g_strdup_printf ("%.*s\n---\n", (int) len, p);

    for (guint i = 0; i < k->recs->len; i++)
      if (rec (k, i)->conn == 2 && rec (k, i)->kind == XM_EVENT_CONN_OPEN)
        r = rec (k, i);
    g_assert_nonnull (r);
    g_assert_cmpstr (r->text, ==,
                     "client [2001:db8::5]:50002, server [2001:db8::6]:5269 (capture)");
    c2s = items (k, 2, XM_DIR_C2S);
    g_assert_cmpstr (c2s, ==, want);
    /* The server's header came first: its direction starts at a header. */
    g_assert_null (find (k, XM_EVENT_NOTE, "middle"));
  }
  g_assert_cmpstr (rec (k, k->recs->len - 1)->text, ==, "capture ended");
  g_assert_cmpuint (rec (k, k->recs->len - 1)->conn, ==, 2);

  xm_sink_free (&k->sink);
  conv_free (web);
  conv_free (odd);
  conv_free (s2s);
  cap_free (cap);
}

static void
test_reset (void)
{
  Cap *cap = cap_new (DLT_EN10MB);
  Conv *c = conv_new (ep4 ("10.11.0.1", 51000), ep4 ("10.11.0.2", 5222), 1460);
  g_autofree char *path = NULL;
  Collector *k;
  Rec *last;

  conv_handshake (c);
  for (guint i = 0; i < 4; i++)
    {
      g_autoptr (GBytes) b = piece (exchange[i].seed, exchange[i].item);
      conv_send_bytes (c, exchange[i].from, b);
    }
  conv_seg (c, 1, F_RST, NULL, 0);
  cap_add (cap, c);
  path = cap_write (cap, "reset.pcap", 0);
  k = read_capture (path);

  assert_no_notes (k);
  last = rec (k, k->recs->len - 1);
  g_assert_cmpint (last->kind, ==, XM_EVENT_CONN_CLOSE);
  g_assert_cmpstr (last->text, ==, "reset (RST from server)");
  g_assert_cmpuint (count_kind (k, XM_EVENT_STANZA), ==, 2);

  xm_sink_free (&k->sink);
  conv_free (c);
  cap_free (cap);
}

/* A snap length that cuts payloads, then one that cuts headers. */
static void
test_snaplen (void)
{
  Cap *cap = cap_new (DLT_EN10MB);
  Conv *c = conv_new (ep4 ("10.12.0.1", 52000), ep4 ("10.12.0.2", 5222), 200);
  g_autofree char *path = NULL, *path2 = NULL;
  Collector *k;

  conv_handshake (c);
  conv_exchange (c);
  conv_close (c);
  cap_add (cap, c);

  path = cap_write (cap, "snap96.pcap", 96);
  k = read_capture (path);
  g_assert_nonnull (find (k, XM_EVENT_NOTE, "snap length"));
  g_assert_nonnull (find (k, XM_EVENT_NOTE, "bytes missing"));
  g_assert_cmpint (rec (k, k->recs->len - 1)->kind, ==, XM_EVENT_CONN_CLOSE);
  xm_sink_free (&k->sink);

  path2 = cap_write (cap, "snap40.pcap", 40);
  k = read_capture (path2);
  g_assert_nonnull (find (k, XM_EVENT_NOTE, "only 40 of"));
  g_assert_cmpuint (count_kind (k, XM_EVENT_CONN_OPEN), ==, 0);
  xm_sink_free (&k->sink);

  conv_free (c);
  cap_free (cap);
}

/* XEP-0388: a SASL2 <success/> does not restart the stream. */
static void
test_sasl2_no_restart (void)
{
  static const char *const client[] = {
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "to='example.org' version='1.0'>",
    "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>"
    "AGp1bGlldAByMG0zMG15cjBtMzA=</initial-response></authenticate>",
    "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
  };
  static const char *const server[] = {
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "from='example.org' id='s2' version='1.0'>",
    "<stream:features><authentication xmlns='urn:xmpp:sasl:2'><mechanism>PLAIN"
    "</mechanism></authentication></stream:features>",
    "<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>juliet@example.org/r"
    "</authorization-identifier></success>",
    "<iq type='result' id='r1'/>",
  };
  Cap *cap = cap_new (DLT_EN10MB);
  Conv *c = conv_new (ep4 ("10.13.0.1", 53000), ep4 ("10.13.0.2", 5222), 1460);
  g_autofree char *path = NULL;
  Collector *k;

  conv_handshake (c);
  conv_send (c, 0, client[0], strlen (client[0]));
  conv_send (c, 1, server[0], strlen (server[0]));
  conv_send (c, 1, server[1], strlen (server[1]));
  conv_send (c, 0, client[1], strlen (client[1]));
  conv_send (c, 1, server[2], strlen (server[2]));
  conv_send (c, 0, client[2], strlen (client[2]));
  conv_send (c, 1, server[3], strlen (server[3]));
  cap_add (cap, c);
  path = cap_write (cap, "sasl2.pcap", 0);
  k = read_capture (path);

  assert_no_notes (k);
  g_assert_null (find (k, XM_EVENT_LAYER, NULL));
  g_assert_cmpuint (count_kind (k, XM_EVENT_STANZA), ==, 5);
  g_assert_cmpuint (count_kind (k, XM_EVENT_SASL), ==, 2);

  xm_sink_free (&k->sink);
  conv_free (c);
  cap_free (cap);
}

/* issue 25 defect 10: 5,000 connections that open a stream and never
 * finish. At most 4,096 are open at once (each costs a decoder); past
 * that the one idle longest is closed with a reason, so one that keeps
 * talking stays open to the end. */
static void
test_many_unfinished (void)
{
  static const char header[] = "<?xml version='1.0'?><stream:stream to='x' "
    "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "version='1.0'>";
  Cap *cap = cap_new (DLT_EN10MB);
  Conv *first = NULL;
  g_autofree char *path = NULL;
  Collector *k;
  guint open = 0, max_open = 0, capped = 0, ended = 0;

  for (guint i = 0; i < 5000; i++)
    {
      char addr[32];
      Conv *c;

      g_snprintf (addr, sizeof addr, "10.%u.%u.%u", i >> 16, (i >> 8) & 0xff, i & 0xff);
      c = conv_new (ep4 (addr, 40000), ep4 ("10.255.0.1", 5222), 1400);
      conv_handshake (c);
      conv_send (c, 0, header, strlen (header));
      cap_add (cap, c);
      if (i == 0)
        first = c;
      else
        conv_free (c);
      if (i == 3000)
        {
          Seg *s = conv_seg (first, 0, F_ACK | F_PSH, "<presence/>", 11);
          g_ptr_array_add (cap->frames, frame (cap, &first->ep[0], &first->ep[1], s));
        }
    }
  conv_free (first);
  path = cap_write (cap, "many.pcap", 0);
  k = read_capture (path);
  for (guint i = 0; i < k->recs->len; i++)
    {
      Rec *r = rec (k, i);

      if (r->kind == XM_EVENT_CONN_OPEN)
        {
          open++;
          max_open = MAX (max_open, open);
        }
      else if (r->kind == XM_EVENT_CONN_CLOSE)
        {
          open--;
          if (g_str_has_prefix (r->text, "closed by xmitm at packet "))
            {
              g_assert_nonnull (strstr (r->text, ": more than 4096 of its "
                                        "connections were open at once, and this "
                                        "one had been idle longest (its last "
                                        "packet was "));
              g_assert_cmpuint (r->conn, !=, 1);
              capped++;
            }
          else
            {
              g_assert_cmpstr (r->text, ==, "capture ended");
              ended++;
            }
        }
    }
  g_assert_cmpuint (max_open, ==, 4096);
  g_assert_cmpuint (capped, ==, 5000 - 4096);
  g_assert_cmpuint (ended, ==, 4096);
  {
    g_autofree char *c2s = items (k, 1, XM_DIR_C2S);
    g_assert_nonnull (strstr (c2s, "<presence/>"));
  }
  xm_sink_free (&k->sink);
  cap_free (cap);
}

/* issue 25 defect 10: 17 connections each hold almost 4 MiB behind a
 * missing segment (each within its own cap): past 64 MiB in all, the
 * direction that grew stops waiting, with a note, and its bytes flow. */
static void
test_buffered_in_all (void)
{
  static const char header[] = "<?xml version='1.0'?><stream:stream to='x' "
    "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "version='1.0'>";
  const gsize ahead = 4000000;
  Cap *cap = cap_new (DLT_EN10MB);
  g_autofree char *path = NULL;
  g_autofree char *body = g_malloc (ahead);
  Collector *k;
  guint notes = 0, note_conn = 0;

  memset (body, ' ', ahead);   /* whitespace: keepalives once delivered */
  for (guint i = 0; i < 17; i++)
    {
      char addr[32];
      Conv *c;

      g_snprintf (addr, sizeof addr, "10.1.0.%u", i + 1);
      c = conv_new (ep4 (addr, 40000), ep4 ("10.255.0.1", 5222), 1400);
      conv_handshake (c);
      conv_send (c, 0, header, strlen (header));
      c->sent[0] += 100;        /* a segment the capture missed */
      conv_send (c, 0, body, ahead);
      cap_add (cap, c);
      conv_free (c);
    }
  path = cap_write (cap, "buffered.pcap", 0);
  k = read_capture (path);
  for (guint i = 0; i < k->recs->len; i++)
    {
      Rec *r = rec (k, i);

      if (r->kind == XM_EVENT_NOTE && r->text
          && g_str_has_prefix (r->text, "TCP: more than 64 MiB held for segments"))
        {
          notes++;
          note_conn = r->conn;
        }
    }
  g_assert_cmpuint (notes, ==, 1);
  g_assert_cmpuint (note_conn, ==, 17);
  xm_sink_free (&k->sink);
  cap_free (cap);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int rc;

  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("xmitm-pcap-XXXXXX", &error);
  g_assert_no_error (error);
  load_seeds ();

  g_test_add_func ("/pcap-read/sniff", test_sniff);
  g_test_add_func ("/pcap-read/ethernet-ipv4", test_ethernet_ipv4);
  g_test_add_func ("/pcap-read/sll2-ipv6", test_sll2_ipv6);
  g_test_add_func ("/pcap-read/link-types", test_link_types);
  g_test_add_func ("/pcap-read/reordered", test_reordered);
  g_test_add_func ("/pcap-read/missing-segment", test_missing_segment);
  g_test_add_func ("/pcap-read/starttls", test_starttls);
  g_test_add_func ("/pcap-read/zlib", test_zlib);
  g_test_add_func ("/pcap-read/sasl2-no-restart", test_sasl2_no_restart);
  g_test_add_func ("/pcap-read/truncated-file", test_truncated_file);
  g_test_add_func ("/pcap-read/bad-files", test_bad_files);
  g_test_add_func ("/pcap-read/pcapng", test_pcapng);
  g_test_add_func ("/pcap-read/fragments", test_fragments);
  g_test_add_func ("/pcap-read/direct-tls", test_direct_tls);
  g_test_add_func ("/pcap-read/mid-connection", test_mid_connection);
  g_test_add_func ("/pcap-read/other-ports", test_other_ports);
  g_test_add_func ("/pcap-read/reset", test_reset);
  g_test_add_func ("/pcap-read/snaplen", test_snaplen);
  g_test_add_func ("/pcap-read/many-unfinished", test_many_unfinished);
  g_test_add_func ("/pcap-read/buffered-in-all", test_buffered_in_all);
  rc = g_test_run ();

  {
    g_autoptr (GDir) dir = g_dir_open (tmpdir, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name (dir)))
      {
        g_autofree char *p = g_build_filename (tmpdir, name, NULL);
        g_unlink (p);
      }
    g_rmdir (tmpdir);
  }
  for (guint i = 0; i < G_N_ELEMENTS (seed_names); i++)
    {
      g_free (seeds[i].data);
      g_array_unref (seeds[i].items.starts);
      g_array_unref (seeds[i].items.ends);
    }
  g_free (tmpdir);
  return rc;
}
