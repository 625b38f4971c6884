/* fuzz-layer-bosh.c: the client's side of BOSH (stream/layer-bosh.c),
 * which replay speaks with --transport bosh: a connection manager's
 * answers written by the fuzzer onto the HTTP connections the layer opens
 * (on loopback, to a listener here), with an owner above that sends a
 * stream header, then stanzas, restarts and its close when the input says.
 *
 * Input: records: a header byte (bits 0-1: which of the layer's
 * connections, in the order they came, the bytes go to; bit 2: the owner
 * sends a stanza first; bit 3: a stream header, i.e. a restart, first;
 * bit 4: the owner's </stream:stream> first), a two-byte length, then the
 * bytes (HTTP responses, whole, cut or several at once). The owner's
 * first stream header (the session's creation) goes before any record.
 *
 * Invariants: no crash, leak or GLib warning; the owner's leg fails, if
 * it does, with one sentence (the layer's, or a connection's). Between
 * records the main loop runs until nothing is ready. The layer runs
 * without pacing (no_pacing): its waits (10 ms after an unanswered
 * request, a server's 'polling') would hold a request past the input's
 * end; they are the unit test's (test-layer-bosh). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "fuzz.h"
#include "layer-bosh.h"
#include "leg.h"

#define HEADER "<stream:stream xmlns='jabber:client' " \
  "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
#define STANZA "<message to='bob@localhost'><body>hi</body></message>"
#define CLOSE "</stream:stream>"
/* the layer opens two at once, and more when the server closes some */
#define MAX_SERVER_SIDE 4

typedef struct {
  XmLeg *leg;
  gboolean failed;
  gboolean eof;
} Owner;

static gsize
on_data (XmLeg *leg, const guint8 *data, gsize len, gpointer user_data)
{
  return len;
}

static void
on_eof (XmLeg *leg, XmLayer *layer, gpointer user_data)
{
  ((Owner *) user_data)->eof = TRUE;
}

static void
on_failed (XmLeg *leg, XmLayer *layer, const GError *error, gpointer user_data)
{
  Owner *o = user_data;

  g_assert (error->message[0] != '\0');
  g_assert (strchr (error->message, '\n') == NULL);
  o->failed = TRUE;
}

static const XmLegEvents owner_events = {
  .data = on_data, .eof = on_eof, .failed = on_failed,
};

static int listen_fd = -1;
static guint16 listen_port;

static void
listen_once (void)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof a;

  if (listen_fd >= 0)
    return;
  listen_fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0 || bind (listen_fd, (struct sockaddr *) &a, sizeof a) != 0
      || listen (listen_fd, 16) != 0
      || getsockname (listen_fd, (struct sockaddr *) &a, &len) != 0)
    abort ();
  listen_port = ntohs (a.sin_port);
}

typedef struct {
  int fd[MAX_SERVER_SIDE];
  guint n;
} ServerSide;

/* Accepts what the layer connected, and reads (and drops) its requests;
 * TRUE if anything happened. */
static gboolean
serve_step (ServerSide *s)
{
  gboolean moved = FALSE;
  int fd;
  guint8 buf[65536];

  while ((fd = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
    {
      moved = TRUE;
      if (s->n < MAX_SERVER_SIDE)
        s->fd[s->n++] = fd;
      else
        close (fd);
    }
  for (guint i = 0; i < s->n; i++)
    while (s->fd[i] >= 0)
      {
        ssize_t n = read (s->fd[i], buf, sizeof buf);

        if (n > 0)
          {
            moved = TRUE;
            continue;
          }
        if (n == 0)
          {
            close (s->fd[i]);
            s->fd[i] = -1;
          }
        break;
      }
  return moved;
}

/* Runs the main loop and the server side until neither has anything to
 * do (bounded: a layer that kept both busy for ever would be a finding
 * of its own, a hang). */
static void
settle (ServerSide *s)
{
  guint quiet = 0;

  for (guint round = 0; round < 10000 && quiet < 3; round++)
    {
      gboolean moved = g_main_context_iteration (NULL, FALSE);

      moved |= serve_step (s);
      quiet = moved ? 0 : quiet + 1;
    }
}

static void
owner_send (Owner *o, ServerSide *s, const char *what)
{
  if (xm_leg_alive (o->leg) && !o->failed)
    {
      xm_leg_send (o->leg, (const guint8 *) what, strlen (what));
      settle (s);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Owner o = { NULL };
  ServerSide s = { { -1, -1, -1, -1 }, 0 };
  XmLayerBoshConfig config = { .host = "127.0.0.1", .domain = "localhost",
                               .path = "/bind", .connect_timeout_s = 5,
                               .no_pacing = TRUE };
  gsize at = 0;

  fuzz_glib_fatal ();
  listen_once ();
  config.port = listen_port;
  o.leg = xm_leg_new ("server", &owner_events, &o);
  xm_leg_push (o.leg, xm_layer_bosh_new (&config));
  owner_send (&o, &s, HEADER);
  while (at + 3 <= size && xm_leg_alive (o.leg) && !o.failed)
    {
      guint8 h = data[at];
      gsize len = MIN ((gsize) (data[at + 1] | data[at + 2] << 8), size - at - 3);
      int fd;

      if (h & 4)
        owner_send (&o, &s, STANZA);
      if (h & 8)
        owner_send (&o, &s, HEADER);
      if (h & 16)
        owner_send (&o, &s, CLOSE);
      fd = (h & 3) < s.n ? s.fd[h & 3] : -1;
      if (fd >= 0 && len > 0 && !o.failed)
        {
          /* loopback takes 8 KiB at once (the input is at most that); a
           * connection the layer closed is gone, not a finding */
          if (send (fd, data + at + 3, len, MSG_NOSIGNAL) < 0 && errno != EAGAIN
              && errno != EPIPE && errno != ECONNRESET)
            abort ();
          settle (&s);
        }
      at += 3 + len;
    }
  xm_leg_free (o.leg);
  for (guint i = 0; i < s.n; i++)
    if (s.fd[i] >= 0)
      {
        close (s.fd[i]);
        s.fd[i] = -1;
      }
  /* take any connection still in the listener's queue, and what the
   * freed legs' closes leave to run */
  settle (&s);
  for (guint i = 0; i < s.n; i++)
    if (s.fd[i] >= 0)
      close (s.fd[i]);
  return 0;
}
