/* pcap-write.c: synthetic TCP connections carrying the decoded streams. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <pcap/pcap.h>

#include "files.h"
#include "pcap-write.h"

#define SERVER_PORT 5222
#define MSS 16000            /* bytes of payload per packet */
#define SNAPLEN 65535
#define ETH_LEN 14
#define IP4_LEN 20
#define IP6_LEN 40
#define TCP_LEN 20

enum { TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_PSH = 0x08, TCP_ACK = 0x10 };
enum { CLI = 0, SRV = 1 };

typedef struct {
  gboolean v6;
  guint8 addr[2][16];     /* client, server */
  guint16 client_port;    /* as recorded, for the first phase */
  gboolean open;          /* a phase is open */
  guint phases;
  guint flags;            /* XmEvent flags of the open phase */
  guint16 port[2];        /* of the open phase */
  guint32 seq[2];         /* next sequence number of each side */
} Conn;

typedef struct {
  XmSink sink;
  pcap_t *dead;
  pcap_dumper_t *dumper;
  XmWriteBehind wb;
  char *path;
  gboolean secrets;
  gboolean failed;
  GHashTable *conns;      /* conn number -> Conn */
  guint16 next_port;
  gint64 last_us;
  guint8 *pkt;
  GString *scratch;
} Writer;

/* "1.2.3.4:5" or "[::1]:5" into addr; FALSE if not an address literal. */
static gboolean
parse_endpoint (const char *s, gboolean *v6, guint8 *addr, guint16 *port)
{
  g_autofree char *host = NULL;
  const char *colon;

  if (s == NULL)
    return FALSE;
  if (s[0] == '[')
    {
      const char *end = strchr (s, ']');
      if (end == NULL || end[1] != ':')
        return FALSE;
      host = g_strndup (s + 1, end - s - 1);
      colon = end + 1;
    }
  else
    {
      colon = strrchr (s, ':');
      if (colon == NULL)
        return FALSE;
      host = g_strndup (s, colon - s);
    }
  if (port)
    *port = (guint16) g_ascii_strtoull (colon + 1, NULL, 10);
  if (inet_pton (AF_INET, host, addr) == 1)
    {
      *v6 = FALSE;
      return TRUE;
    }
  if (inet_pton (AF_INET6, host, addr) == 1)
    {
      *v6 = TRUE;
      return TRUE;
    }
  return FALSE;
}

static guint32
sum16 (const guint8 *p, gsize len, guint32 sum)
{
  for (gsize i = 0; i + 1 < len; i += 2)
    sum += (guint32) (p[i] << 8 | p[i + 1]);
  if (len & 1)
    sum += (guint32) (p[len - 1] << 8);
  return sum;
}

static guint16
fold (guint32 sum)
{
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (guint16) ~sum;
}

static void
put16 (guint8 *p, guint16 v)
{
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

static void
put32 (guint8 *p, guint32 v)
{
  p[0] = v >> 24;
  p[1] = (v >> 16) & 0xff;
  p[2] = (v >> 8) & 0xff;
  p[3] = v & 0xff;
}

/* One Ethernet/IP/TCP packet from side from, carrying data. */
static void
write_packet (Writer *w, Conn *c, int from, guint8 tcp_flags,
              const guint8 *data, gsize len, gint64 time_us)
{
  struct pcap_pkthdr h;
  guint8 *p = w->pkt, *ip = p + ETH_LEN;
  gsize ip_len = c->v6 ? IP6_LEN : IP4_LEN;
  guint8 *tcp = ip + ip_len;
  gsize tcp_total = TCP_LEN + len;
  guint32 sum;
  int to = 1 - from;

  if (w->failed)
    return;
  memset (p, 0, ETH_LEN + ip_len + TCP_LEN);
  /* Locally administered MACs: 02:00:00:00:00:01 client, :02 server. */
  p[0] = 0x02, p[5] = (guint8) (to + 1);
  p[6] = 0x02, p[11] = (guint8) (from + 1);
  put16 (p + 12, c->v6 ? 0x86dd : 0x0800);

  if (c->v6)
    {
      ip[0] = 0x60;
      put16 (ip + 4, (guint16) tcp_total);
      ip[6] = 6;   /* TCP */
      ip[7] = 64;
      memcpy (ip + 8, c->addr[from], 16);
      memcpy (ip + 24, c->addr[to], 16);
    }
  else
    {
      ip[0] = 0x45;
      put16 (ip + 2, (guint16) (IP4_LEN + tcp_total));
      put16 (ip + 6, 0x4000); /* DF */
      ip[8] = 64;
      ip[9] = 6;
      memcpy (ip + 12, c->addr[from], 4);
      memcpy (ip + 16, c->addr[to], 4);
      put16 (ip + 10, fold (sum16 (ip, IP4_LEN, 0)));
    }

  put16 (tcp, c->port[from]);
  put16 (tcp + 2, c->port[to]);
  put32 (tcp + 4, c->seq[from]);
  put32 (tcp + 8, (tcp_flags & TCP_ACK) ? c->seq[to] : 0);
  tcp[12] = (TCP_LEN / 4) << 4;
  tcp[13] = tcp_flags;
  put16 (tcp + 14, 65535);
  if (len)
    memcpy (tcp + TCP_LEN, data, len);

  /* Pseudo-header, then the segment. */
  sum = sum16 (ip + (c->v6 ? 8 : 12), c->v6 ? 32 : 8, 0);
  sum += 6 + (guint32) tcp_total;
  put16 (tcp + 16, fold (sum16 (tcp, tcp_total, sum)));

  h.ts.tv_sec = time_us / G_USEC_PER_SEC;
  h.ts.tv_usec = time_us % G_USEC_PER_SEC;
  h.caplen = h.len = (bpf_u_int32) (ETH_LEN + ip_len + tcp_total);
  pcap_dump ((u_char *) w->dumper, &h, p);
  xm_write_behind (&w->wb, 16 + h.caplen); /* record header and packet */

  c->seq[from] += (guint32) len + ((tcp_flags & (TCP_SYN | TCP_FIN)) ? 1 : 0);
}

static void
open_phase (Writer *w, Conn *c, guint flags, gint64 t)
{
  c->open = TRUE;
  c->flags = flags;
  c->port[SRV] = SERVER_PORT;
  if (c->phases++ == 0 && c->client_port)
    c->port[CLI] = c->client_port;
  else
    {
      c->port[CLI] = w->next_port;
      w->next_port = w->next_port >= 60999 ? 20000 : w->next_port + 1;
    }
  c->seq[CLI] = 0x10000000u * (c->phases % 8) + 1000;
  c->seq[SRV] = 0x80000000u + 0x1000000u * (c->phases % 8) + 5000;
  write_packet (w, c, CLI, TCP_SYN, NULL, 0, t);
  write_packet (w, c, SRV, TCP_SYN | TCP_ACK, NULL, 0, t);
  write_packet (w, c, CLI, TCP_ACK, NULL, 0, t);
}

static void
close_phase (Writer *w, Conn *c, gint64 t)
{
  if (!c->open)
    return;
  write_packet (w, c, CLI, TCP_FIN | TCP_ACK, NULL, 0, t);
  write_packet (w, c, SRV, TCP_FIN | TCP_ACK, NULL, 0, t);
  write_packet (w, c, CLI, TCP_ACK, NULL, 0, t);
  c->open = FALSE;
}

static void
send_data (Writer *w, Conn *c, const XmEvent *ev, const guint8 *data, gsize len)
{
  int from = ev->dir == XM_DIR_C2S ? CLI : SRV;
  guint flags = ev->flags & (XM_EVENT_FLAG_TLS | XM_EVENT_FLAG_ZLIB | XM_EVENT_FLAG_WS
                             | XM_EVENT_FLAG_BOSH);

  if (c->open && c->flags != flags)
    close_phase (w, c, ev->time_us);
  if (!c->open)
    open_phase (w, c, flags, ev->time_us);
  while (len)
    {
      gsize n = MIN (len, MSS);
      write_packet (w, c, from, TCP_PSH | TCP_ACK, data, n, ev->time_us);
      data += n;
      len -= n;
    }
}

static Conn *
conn_get (Writer *w, guint id)
{
  Conn *c = g_hash_table_lookup (w->conns, GUINT_TO_POINTER (id));

  if (c == NULL)
    {
      /* Events of a connection whose open we did not see. */
      c = g_new0 (Conn, 1);
      c->addr[CLI][0] = 192, c->addr[CLI][1] = 0, c->addr[CLI][2] = 2;
      c->addr[CLI][3] = 100;
      c->addr[SRV][0] = 192, c->addr[SRV][2] = 2, c->addr[SRV][3] = 1;
      g_hash_table_insert (w->conns, GUINT_TO_POINTER (id), c);
    }
  return c;
}

static void
conn_open (Writer *w, const XmEvent *ev)
{
  Conn *c = g_new0 (Conn, 1);
  gboolean sv6 = FALSE;
  guint8 saddr[16];

  if (!parse_endpoint (ev->addr[0], &c->v6, c->addr[CLI], &c->client_port))
    {
      c->v6 = FALSE;
      c->addr[CLI][0] = 192, c->addr[CLI][2] = 2, c->addr[CLI][3] = 100;
    }
  if (parse_endpoint (ev->addr[1], &sv6, saddr, NULL) && sv6 == c->v6)
    memcpy (c->addr[SRV], saddr, 16);
  else if (c->v6)
    {
      /* 2001:db8::1 */
      c->addr[SRV][0] = 0x20, c->addr[SRV][1] = 0x01, c->addr[SRV][2] = 0x0d;
      c->addr[SRV][3] = 0xb8, c->addr[SRV][15] = 1;
    }
  else
    c->addr[SRV][0] = 192, c->addr[SRV][2] = 2, c->addr[SRV][3] = 1;
  if (memcmp (c->addr[CLI], c->addr[SRV], 16) == 0 && c->client_port == SERVER_PORT)
    c->client_port = 0;
  g_hash_table_replace (w->conns, GUINT_TO_POINTER (ev->conn), c);
}

/* RFC 7395's <open/> and a BOSH session's opening <body/> carry what a
 * stream header would: Wireshark's XMPP dissector gets that header, with
 * the stream prefix declared (BOSH bodies declare it for their children). */
static void
synthetic_header (const XmEvent *ev, GString *out)
{
  static const char *const names[] = { "to", "from", "id", "version", "xml:lang" };
  const XmNode *el = ev->stanza->root;

  g_string_append (out, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                   "xmlns:stream='http://etherx.jabber.org/streams'");
  for (guint i = 0; el && i < G_N_ELEMENTS (names); i++)
    {
      const char *v = i == 4 ? xm_node_attr_ns (el, "http://www.w3.org/XML/1998/namespace", "lang")
                      : xm_node_attr (el, names[i]);
      if (v == NULL && i == 2)
        v = xm_node_attr (el, "sid"); /* BOSH: the session is the stream */
      if (v)
        {
          g_autofree char *esc = g_markup_escape_text (v, -1);
          g_string_append_printf (out, " %s='%s'", names[i], esc);
        }
    }
  g_string_append_c (out, '>');
}

static void
writer_event (XmSink *sink, const XmEvent *ev)
{
  Writer *w = (Writer *) sink;
  Conn *c;

  guint id = ev->session ? ev->session : ev->conn; /* a BOSH session: one stream */

  if (w->failed)
    return;
  w->last_us = ev->time_us;
  switch (ev->kind)
    {
    case XM_EVENT_CONN_OPEN:
      conn_open (w, ev);
      break;
    case XM_EVENT_CONN_CLOSE:
      c = g_hash_table_lookup (w->conns, GUINT_TO_POINTER (ev->conn));
      if (c)
        {
          close_phase (w, c, ev->time_us);
          g_hash_table_remove (w->conns, GUINT_TO_POINTER (ev->conn));
        }
      break;
    case XM_EVENT_STREAM_OPEN:
    case XM_EVENT_STANZA:
      if (ev->stanza->raw == NULL || ev->dir == XM_DIR_NONE)
        break; /* too large to have been kept */
      c = conn_get (w, id);
      g_string_truncate (w->scratch, 0);
      if (ev->kind == XM_EVENT_STREAM_OPEN
          && (ev->flags & (XM_EVENT_FLAG_WS | XM_EVENT_FLAG_BOSH)))
        {
          synthetic_header (ev, w->scratch);
          send_data (w, c, ev, (const guint8 *) w->scratch->str, w->scratch->len);
        }
      else if (!w->secrets && xm_stanza_redact (ev->stanza, w->scratch))
        send_data (w, c, ev, (const guint8 *) w->scratch->str, w->scratch->len);
      else
        send_data (w, c, ev, ev->stanza->raw, ev->stanza->raw_len);
      break;
    case XM_EVENT_KEEPALIVE:
      if (ev->dir == XM_DIR_NONE)
        break;
      g_string_truncate (w->scratch, 0);
      for (gsize i = 0; i < MIN (ev->count, (gsize) MSS); i++)
        g_string_append_c (w->scratch, ' ');
      send_data (w, conn_get (w, id), ev, (const guint8 *) w->scratch->str,
                 w->scratch->len);
      break;
    case XM_EVENT_STREAM_CLOSE:
      if (ev->dir != XM_DIR_NONE)
        send_data (w, conn_get (w, id), ev,
                   (const guint8 *) "</stream:stream>", 16);
      break;
    case XM_EVENT_NOTE:
    case XM_EVENT_LAYER:
    case XM_EVENT_SASL:
    case XM_EVENT_TRANSPORT:
      break;
    }
}

static void
writer_flush (XmSink *sink)
{
  Writer *w = (Writer *) sink;

  if (w->failed)
    return;
  if (pcap_dump_flush (w->dumper) != 0)
    {
      g_printerr ("xmitm: writing %s failed: %s; the capture stops here, "
                  "the proxy goes on\n", w->path, g_strerror (errno));
      w->failed = TRUE;
    }
}

static void
writer_free (XmSink *sink)
{
  Writer *w = (Writer *) sink;
  GHashTableIter it;
  gpointer value;

  g_hash_table_iter_init (&it, w->conns);
  while (g_hash_table_iter_next (&it, NULL, &value))
    close_phase (w, value, w->last_us);
  writer_flush (sink);
  pcap_dump_close (w->dumper);
  pcap_close (w->dead);
  g_hash_table_unref (w->conns);
  g_string_free (w->scratch, TRUE);
  g_free (w->pkt);
  g_free (w->path);
  g_free (w);
}

static const XmSinkVTable writer_vtable = {
  writer_event, writer_flush, writer_free,
};

XmSink *
xm_pcap_writer_open (const char *path, gboolean secrets, GError **error)
{
  Writer *w;
  FILE *f;
  int fd = xm_create_private (path, error);

  if (fd < 0)
    return NULL;
  f = fdopen (fd, "wb");
  if (f == NULL)
    {
      int err = errno;
      close (fd);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                   "cannot write %s: %s", path, g_strerror (err));
      return NULL;
    }
  w = g_new0 (Writer, 1);
  w->dead = pcap_open_dead (DLT_EN10MB, SNAPLEN);
  w->dumper = pcap_dump_fopen (w->dead, f);
  xm_write_behind_init (&w->wb, fd);
  if (w->dumper == NULL)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                   "cannot write %s: %s", path, pcap_geterr (w->dead));
      fclose (f);
      pcap_close (w->dead);
      g_free (w);
      return NULL;
    }
  w->sink.vtable = &writer_vtable;
  w->path = g_strdup (path);
  w->secrets = secrets;
  w->conns = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  w->next_port = 20000;
  w->pkt = g_malloc (ETH_LEN + IP6_LEN + TCP_LEN + MSS);
  w->scratch = g_string_new (NULL);
  writer_flush (&w->sink);
  return &w->sink;
}
