/* web-push.c: the page's WebSocket: "there is something new".
 *
 * Each message is the whole state (counts), so any number of changes
 * between two messages make one, and a message lost to a closed socket
 * loses nothing the next one does not say. A client is sent a message
 * only when it has acknowledged the one before (it answers each with
 * "ack"), and rounds of messages go out at most every PERIOD_MS: libsoup queues what it sends without a
 * bound, so the acknowledgement is what keeps a browser that stopped
 * reading (a stalled tab, a debugger at a breakpoint) from piling up
 * messages on the server. */
#include "config.h"

#include <string.h>

#include "web-push.h"

#define PERIOD_MS 200
/* Browsers with the page open at once; more are refused (1008). */
#define MAX_CLIENTS 16
/* An acknowledgement is three bytes: nothing larger is read. */
#define MAX_INCOMING 256

typedef struct {
  XmWebPush *push;
  SoupWebsocketConnection *conn;
  gboolean awaiting_ack;  /* a message was sent and not acknowledged */
  gboolean dirty;         /* something changed since the last message */
} Client;

struct _XmWebPush {
  XmWebPushStateFunc state;
  gpointer data;
  GPtrArray *clients;     /* Client * */
  GSource *timer;         /* PERIOD_MS after the last round, while needed */
  gint64 last_round;      /* monotonic µs of the last round of messages */
  guint64 skipped;
};

static void client_free (gpointer p);

static void
send_state (XmWebPush *push)
{
  g_autofree char *json = NULL;

  for (guint i = 0; i < push->clients->len; i++)
    {
      Client *c = push->clients->pdata[i];

      if (!c->dirty)
        continue;
      if (c->awaiting_ack)
        {
          push->skipped++;
          continue;
        }
      if (soup_websocket_connection_get_state (c->conn) != SOUP_WEBSOCKET_STATE_OPEN)
        continue;
      if (json == NULL)
        json = push->state (push->data);
      soup_websocket_connection_send_text (c->conn, json);
      c->awaiting_ack = TRUE;
      c->dirty = FALSE;
    }
}

static gboolean
on_timer (gpointer data)
{
  XmWebPush *push = data;

  push->last_round = g_get_monotonic_time ();
  send_state (push);
  g_clear_pointer (&push->timer, g_source_unref);
  return G_SOURCE_REMOVE;
}

static void
schedule (XmWebPush *push)
{
  gint64 since = (g_get_monotonic_time () - push->last_round) / 1000;

  if (push->timer)
    return;
  /* the first change after a quiet spell goes out at once, the next
   * ones PERIOD_MS apart */
  push->timer = g_timeout_source_new (since >= PERIOD_MS ? 0 : (guint) (PERIOD_MS - since));
  g_source_set_callback (push->timer, on_timer, push, NULL);
  g_source_attach (push->timer, g_main_context_get_thread_default ());
}

static void
on_message (SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer data)
{
  Client *c = data;
  gsize len;
  const char *text = g_bytes_get_data (message, &len);

  if (type == SOUP_WEBSOCKET_DATA_TEXT && len == 3 && memcmp (text, "ack", 3) == 0)
    {
      c->awaiting_ack = FALSE;
      if (c->dirty)
        schedule (c->push);
    }
}

static void
on_closed (SoupWebsocketConnection *conn, gpointer data)
{
  Client *c = data;

  g_ptr_array_remove (c->push->clients, c);
}

static void
client_free (gpointer p)
{
  Client *c = p;

  g_signal_handlers_disconnect_by_data (c->conn, c);
  if (soup_websocket_connection_get_state (c->conn) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (c->conn, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
  g_object_unref (c->conn);
  g_free (c);
}

static void
on_open (SoupServer *server, SoupServerMessage *msg, const char *path,
         SoupWebsocketConnection *conn, gpointer data)
{
  XmWebPush *push = data;
  Client *c;

  if (push->clients->len >= MAX_CLIENTS)
    {
      soup_websocket_connection_close (conn, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                                       "too many pages open");
      return;
    }
  soup_websocket_connection_set_max_incoming_payload_size (conn, MAX_INCOMING);
  c = g_new0 (Client, 1);
  c->push = push;
  c->conn = g_object_ref (conn);
  c->dirty = TRUE;  /* the state now, at once */
  g_signal_connect (conn, "message", G_CALLBACK (on_message), c);
  g_signal_connect (conn, "closed", G_CALLBACK (on_closed), c);
  g_ptr_array_add (push->clients, c);
  send_state (push);
}

XmWebPush *
xm_web_push_new (XmWebServer *ws, const char *path, XmWebPushStateFunc state,
                 gpointer data)
{
  XmWebPush *push = g_new0 (XmWebPush, 1);

  push->state = state;
  push->data = data;
  push->clients = g_ptr_array_new_with_free_func (client_free);
  xm_web_server_add_websocket (ws, path, on_open, push);
  return push;
}

void
xm_web_push_changed (XmWebPush *push)
{
  for (guint i = 0; i < push->clients->len; i++)
    ((Client *) push->clients->pdata[i])->dirty = TRUE;
  if (push->clients->len > 0)
    schedule (push);
}

guint
xm_web_push_clients (const XmWebPush *push)
{
  return push->clients->len;
}

guint64
xm_web_push_skipped (const XmWebPush *push)
{
  return push->skipped;
}

void
xm_web_push_free (XmWebPush *push)
{
  if (push == NULL)
    return;
  if (push->timer)
    {
      g_source_destroy (push->timer);
      g_source_unref (push->timer);
    }
  g_ptr_array_unref (push->clients);
  g_free (push);
}
