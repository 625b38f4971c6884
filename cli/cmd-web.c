/* cmd-web.c: xmitm web FILE...: recordings and captures in a browser.
 *
 * The server (web-server.c: token, Host and Origin checks, the page) hands
 * the API's requests to route, which answers from the files' indexes
 * through web-api.c. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <glib-unix.h>
#include <libsoup/soup.h>

#include "cli.h"
#include "printer.h"
#include "web-api.h"
#include "web-push.h"
#include "web-server.h"

/* Indexed per main-loop round while files are still being read: a
 * request waits for at most one slice. */
#define INDEX_SLICE (2u << 20)

typedef struct {
  XmWebData data;
  GMainLoop *loop;
  XmWebPush *push;
  guint indexing;        /* the idle source indexing the files, or 0 */
} Web;

/* The JSON API (web-server.c has checked the request). */
static gboolean
route (SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
  return xm_web_serve_api (&((Web *) data)->data, msg, path);
}

/* What the page's WebSocket says: events so far, and how far indexing
 * is (null once every file is read). */
static char *
state_json (gpointer data)
{
  Web *w = data;
  guint64 events = 0, read = 0, size = 0;
  gboolean indexing = FALSE;

  for (guint i = 0; i < w->data.indexes->len; i++)
    {
      XmEventIndex *idx = w->data.indexes->pdata[i];
      guint64 r, sz;

      events += xm_event_index_count (idx);
      xm_event_index_progress (idx, &r, &sz);
      read += r;
      size += sz;
      indexing = indexing || !xm_event_index_finished (idx);
    }
  if (!indexing)
    return g_strdup_printf ("{\"live\":false,\"events\":%" G_GUINT64_FORMAT
                            ",\"indexing\":null}", events);
  return g_strdup_printf ("{\"live\":false,\"events\":%" G_GUINT64_FORMAT
                          ",\"indexing\":{\"read\":%" G_GUINT64_FORMAT
                          ",\"size\":%" G_GUINT64_FORMAT "}}", events, read, size);
}

/* One slice of the first file not read to its end. The files are indexed
 * in the background: the first pages are served at once, and the page
 * hears of more through its WebSocket. */
static gboolean
index_step (gpointer data)
{
  Web *w = data;
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < w->data.indexes->len; i++)
    {
      XmEventIndex *idx = w->data.indexes->pdata[i];
      gboolean done;

      if (xm_event_index_finished (idx))
        continue;
      if (!xm_event_index_step (idx, INDEX_SLICE, &done, &error))
        {
          /* it stops there; what was indexed stays browsable */
          g_printerr ("xmitm: %s\n", error->message);
        }
      xm_web_push_changed (w->push);
      return G_SOURCE_CONTINUE;
    }
  w->indexing = 0;
  xm_web_push_changed (w->push);
  return G_SOURCE_REMOVE;
}

static gboolean
on_stop_signal (gpointer data)
{
  g_main_loop_quit (((Web *) data)->loop);
  return G_SOURCE_CONTINUE;
}

static void
print_warning (const char *message, gpointer data)
{
  g_printerr ("xmitm: %s: %s\n", (const char *) data, message);
}

static void
serve (Web *w, XmWebServer *server)
{
  printf ("xmitm web: %u file(s) on %s\n", w->data.indexes->len,
          xm_web_server_url (server));
  fflush (stdout);
  w->loop = g_main_loop_new (NULL, FALSE);
  w->push = xm_web_push_new (server, "/api/live", state_json, w);
  w->indexing = g_idle_add (index_step, w);
  g_unix_signal_add (SIGINT, on_stop_signal, w);
  g_unix_signal_add (SIGTERM, on_stop_signal, w);
  g_unix_signal_add (SIGHUP, on_stop_signal, w);
  g_main_loop_run (w->loop);
  if (w->indexing)
    g_source_remove (w->indexing);
  xm_web_push_free (w->push);
  g_main_loop_unref (w->loop);
}

int
xm_cli_cmd_web (int argc, char **argv)
{
  g_autofree char *listen = NULL;
  gboolean show_secrets = FALSE, full_text = FALSE, utc = FALSE;
  gint max_text = XM_PRINTER_DEFAULT_MAX_TEXT;
  GOptionEntry entries[] = {
    { "listen", 'l', 0, G_OPTION_ARG_STRING, &listen,
      "Serve on ADDR:PORT (default " XM_WEB_DEFAULT_LISTEN ")",
      "ADDR:PORT" },
    { "show-secrets", 0, 0, G_OPTION_ARG_NONE, &show_secrets,
      "Show SASL payloads and passwords a recording kept (hidden by default)", NULL },
    { "max-text", 0, 0, G_OPTION_ARG_INT, &max_text,
      "Shorten text longer than N bytes in the printed stanzas (default 256; 0 shows all)", "N" },
    { "full-text", 0, 0, G_OPTION_ARG_NONE, &full_text,
      "Show all text, however long (same as --max-text=0)", NULL },
    { "utc", 0, 0, G_OPTION_ARG_NONE, &utc,
      "Print timestamps in the stanza text as ISO 8601 UTC", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("FILE... - browse recordings and captures");
  g_autoptr (GError) error = NULL;
  Web w = { 0 };
  XmWebServer *server = NULL;
  int rc;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_summary (ctx,
    "Serves recordings (xmitm proxy --record FILE) and packet captures of\n"
    "cleartext XMPP to a browser: the connections, the events page by page,\n"
    "each stanza printed as xmitm show prints it, and the filters of the\n"
    "command line. Open the URL it prints: its token is required.");
  g_option_context_set_description (ctx,
    "Example:\n"
    "  xmitm web session.jsonl\n"
    "  xmitm web --listen 127.0.0.1:9000 monday.jsonl capture.pcap\n"
    "\n"
    "API (JSON, same token): /api/sessions, /api/events?file=0&from=0&count=100\n"
    "with kind, dir, conn, ns, jid and grep as in xmitm show --help.\n");
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return xm_cli_usage_error ("%s (see xmitm web --help)", error->message);
  if (argc < 2)
    return xm_cli_usage_error ("say which recordings to serve (see xmitm web --help)");
  if (max_text < 0)
    return xm_cli_usage_error ("--max-text must be 0 or more");

  xm_printer_options_init (&w.data.printer);
  w.data.printer.color = FALSE;
  w.data.printer.utc = utc;
  w.data.printer.show_secrets = show_secrets;
  w.data.printer.max_text = full_text ? 0 : (gsize) max_text;
  w.data.indexes = g_ptr_array_new_with_free_func ((GDestroyNotify) xm_event_index_free);
  /* Listening comes before the files are read: a busy port or a bad
   * address is said at once, not after indexing a large recording. */
  server = xm_web_server_new ("--listen", listen ? listen : XM_WEB_DEFAULT_LISTEN, route, &w);
  rc = server ? 0 : XM_EXIT_USAGE;
  for (int i = 1; i < argc && rc == 0; i++)
    {
      XmEventIndex *idx = xm_event_index_open_lazy (argv[i], print_warning, argv[i], &error);
      if (idx == NULL)
        {
          g_printerr ("xmitm: %s\n", error->message);
          rc = 1;
        }
      else
        {
          if (show_secrets && !xm_event_index_has_secrets (idx))
            g_printerr ("xmitm: %s was recorded without --record-secrets: its "
                        "secrets were never written, --show-secrets cannot show "
                        "them\n", argv[i]);
          g_ptr_array_add (w.data.indexes, idx);
        }
    }
  if (rc == 0)
    serve (&w, server);
  xm_web_server_free (server);
  g_ptr_array_unref (w.data.indexes);
  return rc;
}
