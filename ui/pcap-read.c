/* pcap-read.c: packets of a capture back into XMPP session events.
 *
 * Per packet: link layer, IPv4/IPv6, TCP; the connection it belongs to is
 * looked up by its address/port pair. Each direction of an XMPP connection
 * has a TCP reassembler (tcp-reasm.h) whose in-order bytes go to the
 * connection's observer (observer.h), which decodes them as a live session
 * does (proxy/session.c): a framer per direction, SASL decoding, and the
 * negotiation steps that change layers. The time of an event is that of
 * the packet whose bytes completed it. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <pcap/pcap.h>
#include <glib/gstdio.h>

#include "pcap-read.h"
#include "observer.h"
#include "bosh.h"
#include "tcp-reasm.h"

/* Notes about single bad packets, per capture, before they are only counted. */
#define MAX_PACKET_NOTES 10
/* TCP header flags */
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

G_DEFINE_QUARK (xm-capture-error-quark, xm_capture_error)

/* A connection's address/port pair, endpoint 0 the lower one. */
typedef struct {
  guint8 family;       /* 4 or 6 */
  guint8 pad;
  guint16 port[2];
  guint8 addr[2][16];
} Key;

typedef struct {
  guint8 family;
  const guint8 *src, *dst; /* 4 or 16 bytes */
  guint16 sport, dport;
  guint32 seq, ack;
  guint8 flags;            /* TH_* */
  const guint8 *payload;
  gsize len;               /* payload bytes captured */
  gsize wire_len;          /* payload bytes the packet carried */
} Packet;

typedef enum {
  CONN_NEW,       /* not known to be XMPP yet */
  CONN_XMPP,
  CONN_IGNORED,   /* not XMPP */
  CONN_CLOSED,
} ConnState;

typedef struct _Reader Reader;
typedef struct _Conn Conn;

typedef struct {
  Conn *c;
  XmDir dir;
  XmTcpReasm *reasm;
  gboolean syn;        /* its SYN is in the capture: offset 0 is the start */
  gboolean over_cap;   /* said once that the total bound stopped its wait */
} Flow;

struct _Conn {
  Reader *rd;
  Key key;
  ConnState state;
  guint id;
  int client;          /* endpoint of the client (0, 1), -1 if not known */
  gboolean syn[2];     /* by endpoint: its SYN was seen */
  guint32 isn[2];
  gboolean seen_payload;
  Flow flow[2];        /* by XmDir */
  XmObserver *obs;     /* while the connection is open XMPP */
  gboolean cut_noted;
  GList lru;           /* in Reader.lru while open XMPP */
  guint64 last_packet; /* its newest packet */
};

struct _Reader {
  XmSink *sink;
  GHashTable *conns;   /* Key* -> the newest Conn with that pair */
  GPtrArray *all;      /* Conn*, owned */
  GPtrArray *open;     /* Conn* of open XMPP connections, by number */
  guint next_id;
  gint64 now;
  guint64 packet_no;
  int linktype;
  guint packet_notes;
  gboolean frag_noted;
  GQueue lru;          /* open XMPP Conn, the most recently active first */
  gsize buffered;      /* bytes all reassemblers hold for later segments */
  XmBosh *bosh;        /* BOSH sessions across the capture's connections */
};

/* Memory bounds (issue 25): an open XMPP connection costs about 13 KiB (a
 * decoder per direction) whatever the capture holds of it, so a capture
 * of many unfinished connections would cost far more than its size. Past
 * MAX_OPEN_CONNS open at once, the one idle longest is closed, with a
 * note; its later packets are not decoded. Reassembly buffers (4 MiB per
 * direction at most) are bounded in total by MAX_BUFFERED: past it, the
 * direction that grew stops waiting for missing segments (a gap). */
#define MAX_OPEN_CONNS 4096
#define MAX_BUFFERED (64u << 20)

/* ---- events ---- */

static void
emit (Reader *rd, Conn *c, XmEvent *ev)
{
  ev->conn = c ? c->id : 0;
  ev->time_us = rd->now;
  xm_sink_event (rd->sink, ev);
}

static void
note (Conn *c, XmDir dir, XmNoteLevel level, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);

static void
note (Conn *c, XmDir dir, XmNoteLevel level, const char *fmt, ...)
{
  g_autofree char *text = NULL;
  XmEvent ev = { .kind = XM_EVENT_NOTE, .dir = dir, .level = level };
  va_list ap;

  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  ev.text = text;
  emit (c->rd, c, &ev);
}

/* A note about the capture as a whole (connection 0). */
static void
capture_note (Reader *rd, XmNoteLevel level, const char *fmt, ...)
  G_GNUC_PRINTF (3, 4);

static void
capture_note (Reader *rd, XmNoteLevel level, const char *fmt, ...)
{
  g_autofree char *text = NULL;
  XmEvent ev = { .kind = XM_EVENT_NOTE, .dir = XM_DIR_NONE, .level = level };
  va_list ap;

  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  ev.text = text;
  emit (rd, NULL, &ev);
}

/* A packet that cannot be decoded; only the first few are reported. */
static void
packet_note (Reader *rd, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static void
packet_note (Reader *rd, const char *fmt, ...)
{
  g_autofree char *what = NULL;
  va_list ap;

  if (rd->packet_notes >= MAX_PACKET_NOTES)
    return;
  va_start (ap, fmt);
  what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  rd->packet_notes++;
  capture_note (rd, XM_NOTE_WARNING, "packet %" G_GUINT64_FORMAT ": %s, skipped%s",
                rd->packet_no, what,
                rd->packet_notes == MAX_PACKET_NOTES
                  ? " (further packets that cannot be decoded are not reported)" : "");
}

/* ---- reassembler and observer callbacks ---- */

static void
on_tcp_data (const guint8 *data, gsize len, guint64 offset, gpointer user_data)
{
  Flow *f = user_data;
  Conn *c = f->c;

  if (c->obs == NULL)
    return;
  if (f->syn)
    xm_observer_from_start (c->obs, f->dir);
  xm_observer_feed (c->obs, f->dir, data, len);
}

static void
on_tcp_problem (XmTcpReasmProblem kind, guint64 offset, guint64 len,
                const char *message, gpointer user_data)
{
  Flow *f = user_data;
  Conn *c = f->c;

  if (kind == XM_TCP_REASM_CONFLICT)
    note (c, f->dir, XM_NOTE_WARNING, "TCP: %s (this direction)", message);
  else if (c->obs)
    xm_observer_gap (c->obs, f->dir, message);
}

static const XmTcpReasmEvents reasm_events = { on_tcp_data, on_tcp_problem };

static void
on_observed (XmEvent *ev, gpointer user_data)
{
  Conn *c = user_data;

  emit (c->rd, c, ev);
}

/* ---- connections ---- */

static guint
key_hash (gconstpointer p)
{
  const guint8 *b = p;
  guint32 h = 2166136261u;

  for (gsize i = 0; i < sizeof (Key); i++)
    h = (h ^ b[i]) * 16777619u;
  return h;
}

static gboolean
key_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, sizeof (Key)) == 0;
}

/* The pair of pkt, and which endpoint of it sent pkt. */
static int
make_key (const Packet *pkt, Key *key)
{
  gsize alen = pkt->family == 4 ? 4 : 16;
  int cmp;

  memset (key, 0, sizeof *key);
  key->family = pkt->family;
  cmp = memcmp (pkt->src, pkt->dst, alen);
  if (cmp == 0)
    cmp = pkt->sport < pkt->dport ? -1 : pkt->sport > pkt->dport ? 1 : 0;
  if (cmp <= 0)
    {
      memcpy (key->addr[0], pkt->src, alen);
      memcpy (key->addr[1], pkt->dst, alen);
      key->port[0] = pkt->sport;
      key->port[1] = pkt->dport;
      return 0;
    }
  memcpy (key->addr[0], pkt->dst, alen);
  memcpy (key->addr[1], pkt->src, alen);
  key->port[0] = pkt->dport;
  key->port[1] = pkt->sport;
  return 1;
}

static char *
endpoint_string (const Key *key, int i)
{
  char buf[INET6_ADDRSTRLEN];

  if (key->family == 4)
    {
      inet_ntop (AF_INET, key->addr[i], buf, sizeof buf);
      return g_strdup_printf ("%s:%u", buf, key->port[i]);
    }
  inet_ntop (AF_INET6, key->addr[i], buf, sizeof buf);
  return g_strdup_printf ("[%s]:%u", buf, key->port[i]);
}

static gboolean
xmpp_port (guint16 port)
{
  return port == 5222 || port == 5269 || port == 5223 || port == 5270;
}

static void
flow_clear (Flow *f)
{
  g_clear_pointer (&f->reasm, xm_tcp_reasm_free);
}

static void
conn_free (gpointer p)
{
  Conn *c = p;

  for (int i = 0; i < 2; i++)
    flow_clear (&c->flow[i]);
  g_clear_pointer (&c->obs, xm_observer_free);
  g_free (c);
}

static Conn *
conn_new (Reader *rd, const Key *key)
{
  Conn *c = g_new0 (Conn, 1);

  c->rd = rd;
  c->key = *key;
  c->client = -1;
  g_ptr_array_add (rd->all, c);
  g_hash_table_replace (rd->conns, &c->key, c);
  return c;
}

/* The endpoint that sends flow dir. */
static int
flow_side (const Conn *c, XmDir dir)
{
  return dir == XM_DIR_C2S ? c->client : 1 - c->client;
}

static void close_conn (Conn *c, const char *reason);

/* Room for one more open connection: past MAX_OPEN_CONNS, the idle
 * longest are closed. */
static void
bound_open (Reader *rd)
{
  while (rd->lru.length >= MAX_OPEN_CONNS)
    {
      Conn *old = rd->lru.tail->data;
      g_autofree char *reason = g_strdup_printf (
        "closed by xmitm at packet %" G_GUINT64_FORMAT " of the capture: more "
        "than %u of its connections were open at once, and this one had been "
        "idle longest (its last packet was %" G_GUINT64_FORMAT "); later "
        "packets of it are not decoded", rd->packet_no, MAX_OPEN_CONNS,
        old->last_packet);

      close_conn (old, reason);
    }
}

/* c is XMPP, with client the endpoint of the client: number it, say so. */
static void
recognize (Conn *c, int client)
{
  Reader *rd = c->rd;
  g_autofree char *caddr = endpoint_string (&c->key, client);
  g_autofree char *saddr = endpoint_string (&c->key, 1 - client);
  g_autofree char *text = g_strdup_printf ("client %s, server %s (capture)", caddr, saddr);
  XmEvent ev = { .kind = XM_EVENT_CONN_OPEN, .dir = XM_DIR_NONE, .text = text };

  bound_open (rd);
  c->state = CONN_XMPP;
  c->client = client;
  c->id = ++rd->next_id;
  c->obs = xm_observer_new (on_observed, c);
  xm_observer_set_bosh (c->obs, rd->bosh, c->id);
  xm_observer_set_client (c->obs, caddr);
  g_ptr_array_add (rd->open, c);
  c->lru.data = c;
  c->last_packet = rd->packet_no;
  g_queue_push_head_link (&rd->lru, &c->lru);
  for (int i = 0; i < 2; i++)
    {
      Flow *f = &c->flow[i];
      int side = flow_side (c, i);

      f->c = c;
      f->dir = i;
      f->reasm = xm_tcp_reasm_new (&reasm_events, f);
      if (c->syn[side])
        {
          f->syn = TRUE;
          xm_tcp_reasm_feed (f->reasm, c->isn[side], XM_TCP_SYN, NULL, 0);
        }
    }
  ev.addr[0] = caddr;
  ev.addr[1] = saddr;
  emit (rd, c, &ev);
}

static gsize
conn_buffered (const Conn *c)
{
  return xm_tcp_reasm_buffered (c->flow[0].reasm)
         + xm_tcp_reasm_buffered (c->flow[1].reasm);
}

static void
close_conn (Conn *c, const char *reason)
{
  Reader *rd = c->rd;
  XmEvent ev = { .kind = XM_EVENT_CONN_CLOSE, .dir = XM_DIR_NONE, .text = reason };

  rd->buffered -= conn_buffered (c);
  g_queue_unlink (&rd->lru, &c->lru);
  for (int i = 0; i < 2; i++)
    xm_tcp_reasm_flush (c->flow[i].reasm);
  xm_observer_finish (c->obs);
  for (int i = 0; i < 2; i++)
    ev.bytes[i] = xm_tcp_reasm_delivered (c->flow[i].reasm);
  c->state = CONN_CLOSED;
  emit (rd, c, &ev);
  g_ptr_array_remove (rd->open, c);
  for (int i = 0; i < 2; i++)
    flow_clear (&c->flow[i]);
  g_clear_pointer (&c->obs, xm_observer_free);
}

static gboolean
fin_both_ways (const Conn *c)
{
  return xm_tcp_reasm_finished (c->flow[0].reasm)
         && xm_tcp_reasm_finished (c->flow[1].reasm);
}

/* A packet of a connection known to be XMPP. */
static void
conn_packet (Conn *c, const Packet *pkt, int side)
{
  XmDir dir = side == c->client ? XM_DIR_C2S : XM_DIR_S2C;
  Flow *f = &c->flow[dir];
  guint flags = 0;

  if (pkt->flags & TH_SYN)
    {
      flags |= XM_TCP_SYN;
      f->syn = TRUE;
    }
  if (pkt->flags & TH_FIN)
    flags |= XM_TCP_FIN;
  if (pkt->flags & TH_RST)
    flags |= XM_TCP_RST;
  if (pkt->len < pkt->wire_len && !c->cut_noted)
    {
      c->cut_noted = TRUE;
      note (c, dir, XM_NOTE_WARNING, "packet %" G_GUINT64_FORMAT " was cut by the "
            "capture's snap length (%" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
            " payload bytes captured): this connection's streams have holes",
            c->rd->packet_no, pkt->len, pkt->wire_len);
    }
  c->last_packet = c->rd->packet_no;
  if (c->rd->lru.head != &c->lru)
    {
      g_queue_unlink (&c->rd->lru, &c->lru);
      g_queue_push_head_link (&c->rd->lru, &c->lru);
    }
  c->rd->buffered -= conn_buffered (c);
  xm_tcp_reasm_feed (f->reasm, pkt->seq, flags, pkt->payload, pkt->len);
  /* What the other side will not retransmit: the capture missed it. */
  if ((pkt->flags & TH_ACK) && !(pkt->flags & TH_RST))
    xm_tcp_reasm_ack (c->flow[1 - dir].reasm, pkt->ack);
  if (c->rd->buffered + conn_buffered (c) > MAX_BUFFERED)
    {
      if (!f->over_cap)
        note (c, dir, XM_NOTE_WARNING, "TCP: more than %u MiB held for segments "
              "that came before the ones they follow, in all connections: this "
              "direction stops waiting for its missing segments",
              MAX_BUFFERED >> 20);
      f->over_cap = TRUE;
      xm_tcp_reasm_flush (f->reasm);
    }
  c->rd->buffered += conn_buffered (c);
  if (pkt->flags & TH_RST)
    close_conn (c, dir == XM_DIR_C2S ? "reset (RST from client)"
                                     : "reset (RST from server)");
  else if (fin_both_ways (c))
    close_conn (c, "closed (FIN both ways)");
}

static void
tcp_packet (Reader *rd, const Packet *pkt)
{
  Key key;
  int side = make_key (pkt, &key);
  Conn *c = g_hash_table_lookup (rd->conns, &key);
  gboolean syn_only = (pkt->flags & (TH_SYN | TH_ACK)) == TH_SYN;

  if (c && syn_only && !(c->syn[side] && c->isn[side] == pkt->seq)
      && (c->state != CONN_NEW || c->seen_payload))
    {
      /* A new connection on the same pair of ports. */
      if (c->state == CONN_XMPP)
        close_conn (c, fin_both_ways (c) ? "closed (FIN both ways)"
                                         : "ended: its ports were reused by a "
                                           "new connection");
      c = NULL;
    }
  if (c == NULL)
    c = conn_new (rd, &key);
  if (pkt->flags & TH_SYN)
    {
      if (!c->syn[side] || syn_only)
        {
          c->syn[side] = TRUE;
          c->isn[side] = pkt->seq;
        }
      if (syn_only)
        c->client = side;
      else if (c->client < 0)
        c->client = 1 - side; /* SYN-ACK: the other side is the client */
    }

  switch (c->state)
    {
    case CONN_NEW:
      if (pkt->len == 0 && !(pkt->flags & TH_SYN))
        {
          /* A pure ACK, FIN or RST of a connection seen from the middle. */
          if (pkt->wire_len > 0)
            c->seen_payload = TRUE;
          return;
        }
      if (xmpp_port (key.port[0]) || xmpp_port (key.port[1]))
        {
          int client = c->client;
          if (client < 0 && xmpp_port (pkt->dport) && !xmpp_port (pkt->sport))
            client = side;
          else if (client < 0 && xmpp_port (pkt->sport) && !xmpp_port (pkt->dport))
            client = 1 - side;
          else if (client < 0)
            client = side; /* both on XMPP ports: the first to send */
          recognize (c, client);
        }
      else if (pkt->len > 0)
        {
          XmOpens t = xm_observer_opens_stream (pkt->payload, pkt->len);

          c->seen_payload = TRUE;
          if (t == XM_OPENS_NO && (c->client < 0 || c->client == side)
              && xm_observer_http_for_xmpp (pkt->payload, pkt->len))
            {
              /* XMPP over WebSocket or BOSH: the observer reads HTTP */
              recognize (c, side);
              conn_packet (c, pkt, side);
              return;
            }
          if (t == XM_OPENS_NO)
            {
              c->state = CONN_IGNORED;
              return;
            }
          if (t == XM_OPENS_MAYBE)
            return;
          recognize (c, c->client >= 0 ? c->client : side);
        }
      else
        return;
      conn_packet (c, pkt, side);
      return;
    case CONN_XMPP:
      conn_packet (c, pkt, side);
      return;
    case CONN_IGNORED:
    case CONN_CLOSED:
      return;
    }
}

/* ---- packet parsing ---- */

static guint16
be16 (const guint8 *p)
{
  return (guint16) (p[0] << 8 | p[1]);
}

static guint32
be32 (const guint8 *p)
{
  return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

static guint32
le32 (const guint8 *p)
{
  return (guint32) p[3] << 24 | (guint32) p[2] << 16 | (guint32) p[1] << 8 | p[0];
}

static gboolean
supported_link (int linktype)
{
  switch (linktype)
    {
    case DLT_EN10MB:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
    case DLT_NULL:
    case DLT_LOOP:
      return TRUE;
    default:
      return FALSE;
    }
}

static int
ethertype_version (guint16 type)
{
  return type == 0x0800 ? 4 : type == 0x86DD ? 6 : 0;
}

static int
bsd_af_version (guint32 af)
{
  /* AF_INET is 2 everywhere; AF_INET6 is 10 on Linux, 23 on Windows, 24 on
   * NetBSD and OpenBSD, 28 on FreeBSD, 30 on macOS. */
  if (af == 2)
    return 4;
  if (af == 10 || af == 23 || af == 24 || af == 28 || af == 30)
    return 6;
  return 0;
}

/* Where the IP packet starts in p and its version (0: not IP, skip it
 * silently); FALSE if the link header is cut. */
static gboolean
parse_link (int linktype, const guint8 *p, gsize caplen, gsize *off, int *version)
{
  *version = 0;
  switch (linktype)
    {
    case DLT_EN10MB:
      {
        gsize o = 14;
        guint16 type;

        if (caplen < 14)
          return FALSE;
        type = be16 (p + 12);
        /* 802.1Q, 802.1ad and the old QinQ tags, possibly stacked. */
        while (type == 0x8100 || type == 0x88a8 || type == 0x9100)
          {
            if (caplen < o + 4)
              return FALSE;
            type = be16 (p + o + 2);
            o += 4;
          }
        *off = o;
        *version = ethertype_version (type);
        return TRUE;
      }
    case DLT_LINUX_SLL:
      if (caplen < 16)
        return FALSE;
      *off = 16;
      *version = ethertype_version (be16 (p + 14));
      return TRUE;
    case DLT_LINUX_SLL2:
      if (caplen < 20)
        return FALSE;
      *off = 20;
      *version = ethertype_version (be16 (p));
      return TRUE;
    case DLT_NULL:
      {
        guint32 le, be;

        if (caplen < 4)
          return FALSE;
        /* In the byte order of the machine that captured. */
        le = le32 (p);
        be = be32 (p);
        *off = 4;
        *version = bsd_af_version (le < 0x10000 ? le : be);
        return TRUE;
      }
    case DLT_LOOP:
      if (caplen < 4)
        return FALSE;
      *off = 4;
      *version = bsd_af_version (be32 (p));
      return TRUE;
    default: /* DLT_RAW, DLT_IPV4, DLT_IPV6 */
      if (caplen < 1)
        return FALSE;
      *off = 0;
      *version = p[0] >> 4;
      if (*version != 4 && *version != 6)
        *version = 0;
      return TRUE;
    }
}

static void
cut_headers (Reader *rd, const struct pcap_pkthdr *h)
{
  if (h->caplen < h->len)
    packet_note (rd, "only %u of its %u bytes were captured (snap length), "
                 "not all of its headers", h->caplen, h->len);
  else
    packet_note (rd, "its headers are incomplete");
}

static void
fragment (Reader *rd, int version)
{
  if (rd->frag_noted)
    return;
  rd->frag_noted = TRUE;
  capture_note (rd, XM_NOTE_WARNING, "packet %" G_GUINT64_FORMAT " is a fragment "
                "of an IPv%d TCP packet: fragments are not reassembled, they are "
                "skipped (this is said once)", rd->packet_no, version);
}

static void
packet (Reader *rd, const struct pcap_pkthdr *h, const guint8 *p)
{
  gsize caplen = h->caplen, off, ip_end, tcp, thl;
  int version;
  Packet pkt = { 0 };

  if (!parse_link (rd->linktype, p, caplen, &off, &version))
    {
      cut_headers (rd, h);
      return;
    }
  if (version == 0)
    return;
  if (caplen < off + 1 || (p[off] >> 4) != version)
    {
      if (caplen < off + 1)
        cut_headers (rd, h);
      else
        packet_note (rd, "the link layer says IPv%d, the packet is not", version);
      return;
    }

  if (version == 4)
    {
      const guint8 *ip = p + off;
      gsize ihl, total;

      if (caplen < off + 20)
        {
          cut_headers (rd, h);
          return;
        }
      ihl = (ip[0] & 0x0f) * 4u;
      total = be16 (ip + 2);
      if (ihl < 20 || (total && total < ihl))
        {
          packet_note (rd, "bad IPv4 header length");
          return;
        }
      if (ip[9] != 6)
        return;
      if (be16 (ip + 6) & 0x3fff)
        {
          fragment (rd, 4);
          return;
        }
      /* A total length of 0: segmentation offload, take what is there. */
      ip_end = total ? off + total : h->len;
      pkt.family = 4;
      pkt.src = ip + 12;
      pkt.dst = ip + 16;
      tcp = off + ihl;
    }
  else
    {
      const guint8 *ip = p + off;
      gsize plen, pos;
      guint8 nh;

      if (caplen < off + 40)
        {
          cut_headers (rd, h);
          return;
        }
      plen = be16 (ip + 4);
      nh = ip[6];
      pos = off + 40;
      /* A payload length of 0: a jumbogram or offload, take what is there. */
      ip_end = plen ? pos + plen : h->len;
      /* Hop-by-hop, routing, destination options, authentication. */
      while (nh == 0 || nh == 43 || nh == 60 || nh == 51)
        {
          gsize elen;

          if (caplen < pos + 2)
            {
              cut_headers (rd, h);
              return;
            }
          elen = nh == 51 ? (p[pos + 1] + 2u) * 4u : (p[pos + 1] + 1u) * 8u;
          nh = p[pos];
          pos += elen;
        }
      if (nh == 44)
        {
          /* The fragment header names the protocol of the whole packet. */
          if (caplen >= pos + 1 && p[pos] == 6)
            fragment (rd, 6);
          return;
        }
      if (nh != 6)
        return;
      pkt.family = 6;
      pkt.src = ip + 8;
      pkt.dst = ip + 24;
      tcp = pos;
    }
  /* Not past the frame, whatever the IP header says. */
  ip_end = MIN (ip_end, MAX ((gsize) h->len, caplen));
  if (ip_end < tcp + 20)
    {
      packet_note (rd, "IP length too short for a TCP header");
      return;
    }
  if (caplen < tcp + 20)
    {
      cut_headers (rd, h);
      return;
    }
  thl = (p[tcp + 12] >> 4) * 4u;
  if (thl < 20 || ip_end < tcp + thl)
    {
      packet_note (rd, "bad TCP header length");
      return;
    }
  if (caplen < tcp + thl)
    {
      cut_headers (rd, h);
      return;
    }
  pkt.sport = be16 (p + tcp);
  pkt.dport = be16 (p + tcp + 2);
  pkt.seq = be32 (p + tcp + 4);
  pkt.ack = be32 (p + tcp + 8);
  pkt.flags = p[tcp + 13];
  pkt.payload = p + tcp + thl;
  pkt.wire_len = ip_end - (tcp + thl);
  pkt.len = MIN (caplen, ip_end) - (tcp + thl);
  tcp_packet (rd, &pkt);
}

/* ---- the file ---- */

gboolean
xm_capture_sniff (const guint8 *head, gsize len)
{
  static const guint32 pcap_magic[] = {
    0xa1b2c3d4, /* microseconds */
    0xa1b23c4d, /* nanoseconds */
    0xa1b2cd34, /* Kuznetzov's patched tcpdump */
  };
  guint32 be, le;

  if (len < 4)
    return FALSE;
  be = be32 (head);
  le = le32 (head);
  for (guint i = 0; i < G_N_ELEMENTS (pcap_magic); i++)
    if (be == pcap_magic[i] || le == pcap_magic[i])
      return TRUE;
  /* pcapng: a Section Header Block, then its byte-order magic. */
  if (be == 0x0a0d0d0a)
    return len < 12 || be32 (head + 8) == 0x1a2b3c4d || le32 (head + 8) == 0x1a2b3c4d;
  return FALSE;
}

/* Microseconds since the epoch; a pcapng can hold times that do not fit. */
static gint64
packet_time (const struct pcap_pkthdr *h)
{
  const gint64 max_s = G_MAXINT64 / G_USEC_PER_SEC - 10000;
  gint64 s = CLAMP ((gint64) h->ts.tv_sec, -max_s, max_s);
  gint64 us = CLAMP ((gint64) h->ts.tv_usec, 0, (gint64) G_MAXUINT32);

  return s * G_USEC_PER_SEC + us;
}

static void
reader_finish (Reader *rd)
{
  while (rd->open->len > 0)
    {
      Conn *c = g_ptr_array_index (rd->open, 0);
      close_conn (c, fin_both_ways (c) ? "closed (FIN both ways)" : "capture ended");
    }
  xm_sink_flush (rd->sink);
}

gboolean
xm_capture_read (const char *path, XmSink *sink, GError **error)
{
  FILE *fp;

  fp = g_fopen (path, "rb");
  if (fp == NULL)
    {
      int err = errno;
      g_set_error (error, XM_CAPTURE_ERROR, XM_CAPTURE_ERROR_IO,
                   "cannot open %s: %s", path, g_strerror (err));
      return FALSE;
    }
  return xm_capture_read_stream (fp, path, sink, error);
}

gboolean
xm_capture_read_stream (FILE *fp, const char *path, XmSink *sink, GError **error)
{
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  guint8 head[24];
  gsize n;
  pcap_t *pc;
  Reader rd = { 0 };
  struct pcap_pkthdr *h;
  const guint8 *data;
  int rc;

  n = fread (head, 1, sizeof head, fp);
  if (ferror (fp))
    {
      int err = errno;
      g_set_error (error, XM_CAPTURE_ERROR, XM_CAPTURE_ERROR_IO,
                   "cannot read %s: %s", path, g_strerror (err));
      fclose (fp);
      return FALSE;
    }
  if (n == 0 || !xm_capture_sniff (head, n))
    {
      g_set_error (error, XM_CAPTURE_ERROR, XM_CAPTURE_ERROR_FORMAT,
                   n == 0 ? "%s is empty, not a packet capture"
                          : "%s is not a packet capture (pcap or pcapng)", path);
      fclose (fp);
      return FALSE;
    }
  rewind (fp);
  /* pcap_close() closes fp; a failed open leaves it to us. */
  pc = pcap_fopen_offline_with_tstamp_precision (fp, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
  if (pc == NULL)
    {
      g_set_error (error, XM_CAPTURE_ERROR, XM_CAPTURE_ERROR_FORMAT,
                   "cannot read the capture %s: %s", path, errbuf);
      fclose (fp);
      return FALSE;
    }
  rd.linktype = pcap_datalink (pc);
  if (!supported_link (rd.linktype))
    {
      const char *name = pcap_datalink_val_to_name (rd.linktype);
      g_set_error (error, XM_CAPTURE_ERROR, XM_CAPTURE_ERROR_LINK_TYPE,
                   "%s: link type %s (%d) is not supported (Ethernet, Linux "
                   "cooked, raw IP and BSD loopback captures are)", path,
                   name ? name : "unknown", rd.linktype);
      pcap_close (pc);
      return FALSE;
    }

  rd.sink = sink;
  rd.conns = g_hash_table_new (key_hash, key_equal);
  rd.all = g_ptr_array_new_with_free_func (conn_free);
  rd.open = g_ptr_array_new ();
  rd.bosh = xm_bosh_new ();
  g_queue_init (&rd.lru);
  while ((rc = pcap_next_ex (pc, &h, &data)) == 1)
    {
      rd.packet_no++;
      rd.now = packet_time (h);
      packet (&rd, h, data);
    }
  if (rc == PCAP_ERROR)
    capture_note (&rd, XM_NOTE_ERROR, "the capture cannot be read past packet %"
                  G_GUINT64_FORMAT " (%s): the events up to there are shown",
                  rd.packet_no, pcap_geterr (pc));
  reader_finish (&rd);

  g_ptr_array_unref (rd.open);
  xm_bosh_free (rd.bosh);
  g_hash_table_unref (rd.conns);
  g_ptr_array_unref (rd.all);
  pcap_close (pc);
  return TRUE;
}
