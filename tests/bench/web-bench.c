/* web-bench: what each transport costs per stanza in the observer, as the
 * proxy decodes a copy (xm_observer_decode, live), without sockets or TLS.
 *
 * The same 256-byte <message/> stanzas (-s to change), client to server,
 * carried three ways, fed in 64 KiB reads:
 *   tcp        one XMPP stream (RFC 6120)
 *   websocket  one masked text frame per stanza (RFC 7395), after the
 *              HTTP upgrade
 *   bosh-1     one HTTP POST per stanza, each a <body/> (XEP-0206), as an
 *              interactive client sends them
 *   bosh-10    ten stanzas per body, as a client sends a burst
 * Each with lazy framing (--quiet, --record) and with plain trees (what
 * the printer and filters get). Numbers only, nothing is asserted;
 * tests/bench/run.sh prints them beside the decode-bench rows. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bosh.h"
#include "observer.h"
#include "ws-frame.h"

static guint64 stanzas;

static void
on_event (XmEvent *ev, gpointer user_data)
{
  if (ev->kind == XM_EVENT_STANZA)
    stanzas++;
}

static char *
message (guint i, guint size)
{
  GString *s = g_string_new (NULL);

  g_string_append_printf (s, "<message xmlns='jabber:client' to='echo@bench.local' "
                          "from='bench@bench.local/bench' type='chat' id='%010u'><body>", i);
  while (s->len + 17 < size)
    g_string_append_c (s, "lorem ipsum dolor sit amet "[s->len % 27]);
  g_string_append (s, "</body></message>");
  return g_string_free (s, FALSE);
}

static GByteArray *
make_tcp (guint n, guint size)
{
  GByteArray *b = g_byte_array_new ();
  static const char hdr[] = "<?xml version='1.0'?><stream:stream to='bench.local' "
    "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

  g_byte_array_append (b, (const guint8 *) hdr, strlen (hdr));
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *m = message (i, size);
      g_byte_array_append (b, (const guint8 *) m, strlen (m));
    }
  return b;
}

static const char upgrade[] =
  "GET /xmpp-websocket HTTP/1.1\r\nHost: bench.local\r\nUpgrade: websocket\r\n"
  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
  "Sec-WebSocket-Protocol: xmpp\r\nSec-WebSocket-Version: 13\r\n\r\n";
static const char upgraded[] =
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n";

static GByteArray *
make_ws (guint n, guint size)
{
  static const char open[] = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' "
                             "to='bench.local' version='1.0'/>";
  GByteArray *b = g_byte_array_new ();
  guint8 mask[4] = { 0x37, 0xfa, 0x21, 0x3d };

  g_byte_array_append (b, (const guint8 *) upgrade, strlen (upgrade));
  xm_ws_frame_append (b, XM_WS_TEXT, TRUE, mask, (const guint8 *) open, strlen (open));
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *m = message (i, size);
      mask[0] = (guint8) i;
      xm_ws_frame_append (b, XM_WS_TEXT, TRUE, mask, (const guint8 *) m, strlen (m));
    }
  return b;
}

static void
post (GByteArray *b, const char *body)
{
  g_autofree char *head = g_strdup_printf (
    "POST /http-bind HTTP/1.1\r\nHost: bench.local\r\nContent-Type: text/xml; "
    "charset=utf-8\r\nContent-Length: %zu\r\n\r\n", strlen (body));
  g_byte_array_append (b, (const guint8 *) head, strlen (head));
  g_byte_array_append (b, (const guint8 *) body, strlen (body));
}

static GByteArray *
make_bosh (guint n, guint size, guint per_body)
{
  GByteArray *b = g_byte_array_new ();
  guint64 rid = 1000;

  post (b, "<body xmlns='http://jabber.org/protocol/httpbind' rid='999' to='bench.local' "
        "ver='1.6' wait='60' hold='1'/>");
  for (guint i = 0; i < n;)
    {
      GString *body = g_string_new (NULL);

      g_string_append_printf (body, "<body xmlns='http://jabber.org/protocol/httpbind' "
                              "rid='%" G_GUINT64_FORMAT "' sid='bench'>", rid++);
      for (guint k = 0; k < per_body && i < n; k++, i++)
        {
          g_autofree char *m = message (i, size);
          g_string_append (body, m);
        }
      g_string_append (body, "</body>");
      post (b, body->str);
      g_string_free (body, TRUE);
    }
  return b;
}

static void
feed (XmObserver *obs, XmDir dir, const guint8 *data, gsize len)
{
  gsize off = 0;

  while (off < len)
    {
      XmSwitch sw;
      gsize chunk = MIN (len - off, (gsize) 64 * 1024);
      off += xm_observer_decode (obs, dir, data + off, chunk, &sw);
    }
}

static double
run (const GByteArray *c2s, guint n, gboolean lazy, gboolean bosh, guint reps)
{
  double best = 0;

  for (guint r = 0; r < reps; r++)
    {
      XmObserverLive live = { .max_stanza = 1 << 20, .lazy = lazy,
                              .max_inflate = 1 << 20, .max_inflate_ratio = 200 };
      XmObserver *obs = xm_observer_new_live (&live, on_event, NULL);
      g_autoptr (XmBosh) sessions = xm_bosh_new ();
      gint64 t0;
      double ns;

      xm_observer_set_bosh (obs, sessions, 1);
      stanzas = 0;
      t0 = g_get_monotonic_time ();
      if (bosh)
        {
          /* the creation's response first: it names the session; then each
           * request, whose responses are not measured */
          static const char created[] = "HTTP/1.1 200 OK\r\nContent-Length: 82\r\n\r\n"
            "<body xmlns='http://jabber.org/protocol/httpbind' sid='bench' requests='2'/>      ";
          const guint8 *p = c2s->data;
          const guint8 *end = c2s->data + c2s->len;
          const guint8 *first = (const guint8 *) strstr ((const char *) p, "/>") + 2;

          feed (obs, XM_DIR_C2S, p, first - p);
          feed (obs, XM_DIR_S2C, (const guint8 *) created, strlen (created));
          feed (obs, XM_DIR_C2S, first, end - first);
        }
      else if (memcmp (c2s->data, "GET", 3) == 0)
        {
          gsize up = strlen (upgrade);
          feed (obs, XM_DIR_C2S, c2s->data, up);
          feed (obs, XM_DIR_S2C, (const guint8 *) upgraded, strlen (upgraded));
          feed (obs, XM_DIR_C2S, c2s->data + up, c2s->len - up);
        }
      else
        feed (obs, XM_DIR_C2S, c2s->data, c2s->len);
      ns = (g_get_monotonic_time () - t0) * 1000.0 / n;
      xm_observer_free (obs);
      if (stanzas != n)
        {
          fprintf (stderr, "web-bench: decoded %" G_GUINT64_FORMAT " of %u stanzas\n",
                   stanzas, n);
          exit (1);
        }
      if (r == 0 || ns < best)
        best = ns;
    }
  return best;
}

int
main (int argc, char **argv)
{
  guint n = 100000, size = 256, reps = 5;
  g_autofree char *only = NULL;
  GOptionEntry entries[] = {
    { "transport", 't', 0, G_OPTION_ARG_STRING, &only, "Only this transport", "NAME" },
    { "stanzas", 'n', 0, G_OPTION_ARG_INT, &n, "Stanzas per run (100000)", "N" },
    { "size", 's', 0, G_OPTION_ARG_INT, &size, "Stanza size in bytes (256)", "BYTES" },
    { "reps", 'r', 0, G_OPTION_ARG_INT, &reps, "Runs; the best is shown (5)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- cost per stanza of each transport");
  g_autoptr (GError) error = NULL;
  struct { const char *name; GByteArray *bytes; gboolean bosh; } t[4];

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || n == 0 || reps == 0
      || size < 120)
    {
      fprintf (stderr, "web-bench: %s\n", error ? error->message
               : "-n and -r must be positive, -s at least 120");
      return 2;
    }
  t[0].name = "tcp", t[0].bytes = make_tcp (n, size), t[0].bosh = FALSE;
  t[1].name = "websocket", t[1].bytes = make_ws (n, size), t[1].bosh = FALSE;
  t[2].name = "bosh-1", t[2].bytes = make_bosh (n, size, 1), t[2].bosh = TRUE;
  t[3].name = "bosh-10", t[3].bytes = make_bosh (n, size, 10), t[3].bosh = TRUE;
  printf ("%u stanzas of %u B, client to server, 64 KiB reads, best of %u\n", n, size, reps);
  printf ("%-10s %12s %12s\n", "transport", "lazy ns", "plain ns");
  for (guint i = 0; i < G_N_ELEMENTS (t); i++)
    {
      if (only && strcmp (only, t[i].name) != 0)
        continue;
      double lazy = run (t[i].bytes, n, TRUE, t[i].bosh, reps);
      double plain = run (t[i].bytes, n, FALSE, t[i].bosh, reps);
      printf ("%-10s %12.1f %12.1f\n", t[i].name, lazy, plain);
      g_byte_array_unref (t[i].bytes);
    }
  return 0;
}
