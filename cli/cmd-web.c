/* cmd-web.c: xmitm web FILE...: recordings and captures in a browser.
 *
 * A libsoup server on loopback serves the page (cli/web/, compiled in with
 * GResource) and the JSON API (web-api.c). What it serves are private
 * conversations, so every request must carry the random token of the URL
 * xmitm prints (then the cookie the first answer sets); the Host and
 * Origin headers must name this server, so that a page elsewhere that
 * resolves its own name to 127.0.0.1 (DNS rebinding) gets nothing; and the
 * page runs under a Content-Security-Policy that allows only its own
 * script, never inline code. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <glib-unix.h>
#include <libsoup/soup.h>

#include "cli.h"
#include "net.h"
#include "printer.h"
#include "web-api.h"

#define DEFAULT_LISTEN "127.0.0.1:8080"
#define RESOURCE_PREFIX "/org/xmitm/web"

static const char *const csp =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

typedef struct {
  XmWebData data;
  char *token;
  char *cookie_name;     /* per port: cookies do not tell ports apart */
  GPtrArray *hosts;      /* char *: the Host values that name this server */
  GMainLoop *loop;
} Web;

/* 128 random bits, hex. */
static char *
new_token (void)
{
  guint8 raw[16];
  GString *hex = g_string_new (NULL);

  if (getrandom (raw, sizeof raw, 0) != sizeof raw)
    g_error ("getrandom failed: no random token for the web UI");
  for (gsize i = 0; i < sizeof raw; i++)
    g_string_append_printf (hex, "%02x", raw[i]);
  return g_string_free (hex, FALSE);
}

/* Compares the whole length whatever the first difference, so that the
 * time an answer takes says nothing about the token. */
static gboolean
token_equal (const char *a, const char *b)
{
  gsize la = strlen (a), lb = strlen (b);
  guint8 diff = la != lb;

  for (gsize i = 0; i < la; i++)
    diff |= (guint8) a[i] ^ (guint8) b[i % (lb ? lb : 1)];
  return diff == 0;
}

static void
respond (SoupServerMessage *msg, guint status, const char *type,
         const char *body, gsize len, gboolean take)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, type, take ? SOUP_MEMORY_TAKE : SOUP_MEMORY_COPY,
                                    body, len);
}

static void
respond_text (SoupServerMessage *msg, guint status, const char *text)
{
  respond (msg, status, "text/plain; charset=utf-8", text, strlen (text), FALSE);
}

/* The query's parameters in order, repeats kept (GHashTable would keep
 * one value per name; a filter may be given twice). */
static guint
split_query (const char *query, char ***names, char ***values)
{
  g_auto (GStrv) parts = g_strsplit (query ? query : "", "&", -1);
  GPtrArray *n = g_ptr_array_new (), *v = g_ptr_array_new ();

  for (guint i = 0; parts[i]; i++)
    {
      char *eq = strchr (parts[i], '=');
      char *name, *value;

      if (parts[i][0] == '\0')
        continue;
      if (eq)
        *eq = '\0';
      g_strdelimit (parts[i], "+", ' ');
      if (eq)
        g_strdelimit (eq + 1, "+", ' ');
      name = g_uri_unescape_string (parts[i], NULL);
      value = g_uri_unescape_string (eq ? eq + 1 : "", NULL);
      if (name == NULL || value == NULL)
        {
          g_free (name);
          g_free (value);
          continue;
        }
      g_ptr_array_add (n, name);
      g_ptr_array_add (v, value);
    }
  g_ptr_array_add (n, NULL);
  g_ptr_array_add (v, NULL);
  *names = (char **) g_ptr_array_free (n, FALSE);
  *values = (char **) g_ptr_array_free (v, FALSE);
  return g_strv_length (*names);
}

static gboolean
host_allowed (Web *w, const char *host)
{
  for (guint i = 0; host && i < w->hosts->len; i++)
    if (g_ascii_strcasecmp (host, w->hosts->pdata[i]) == 0)
      return TRUE;
  return FALSE;
}

/* Why the request is refused, or NULL. *set_cookie: the token came in
 * the query and the answer should hand it over as a cookie. */
static const char *
refusal (Web *w, SoupServerMessage *msg, GHashTable *query, gboolean *set_cookie)
{
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  const char *origin = soup_message_headers_get_one (h, "Origin");
  const char *token = query ? g_hash_table_lookup (query, "token") : NULL;
  const char *cookies = soup_message_headers_get_list (h, "Cookie");

  *set_cookie = FALSE;
  if (!host_allowed (w, soup_message_headers_get_one (h, "Host")))
    return "forbidden: the Host header does not name this server\n";
  if (origin && !(g_str_has_prefix (origin, "http://")
                  && host_allowed (w, origin + strlen ("http://"))))
    return "forbidden: a request from another origin\n";
  if (token)
    {
      *set_cookie = token_equal (token, w->token);
      return *set_cookie ? NULL : "forbidden: wrong token\n";
    }
  if (cookies)
    {
      g_autoptr (GHashTable) jar = soup_header_parse_semi_param_list (cookies);
      const char *value = g_hash_table_lookup (jar, w->cookie_name);
      if (value && token_equal (value, w->token))
        return NULL;
    }
  return "forbidden: open the URL xmitm web printed (with its ?token=...)\n";
}

static void
serve_resource (SoupServerMessage *msg, const char *name, const char *type)
{
  g_autofree char *path = g_strconcat (RESOURCE_PREFIX, name, NULL);
  g_autoptr (GBytes) bytes = g_resources_lookup_data (path, 0, NULL);
  gsize len;
  const char *data;

  if (bytes == NULL)
    {
      respond_text (msg, SOUP_STATUS_NOT_FOUND, "not found\n");
      return;
    }
  data = g_bytes_get_data (bytes, &len);
  respond (msg, SOUP_STATUS_OK, type, data, len, FALSE);
}

static void
serve_api (Web *w, SoupServerMessage *msg, const char *path)
{
  GUri *uri = soup_server_message_get_uri (msg);
  g_auto (GStrv) names = NULL;
  g_auto (GStrv) values = NULL;
  guint n = split_query (g_uri_get_query (uri), &names, &values);
  XmWebAnswer a;

  if (!xm_web_api_dispatch (&w->data, path, names, values, n, &a))
    respond_text (msg, SOUP_STATUS_NOT_FOUND, "not found\n");
  else
    respond (msg, a.status, a.type, a.body, a.len, TRUE);
}

static void
handle (SoupServer *server, SoupServerMessage *msg, const char *path,
        GHashTable *query, gpointer data)
{
  Web *w = data;
  SoupMessageHeaders *out = soup_server_message_get_response_headers (msg);
  const char *method = soup_server_message_get_method (msg);
  const char *why;
  gboolean set_cookie;

  soup_message_headers_replace (out, "Content-Security-Policy", csp);
  soup_message_headers_replace (out, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (out, "Referrer-Policy", "no-referrer");
  soup_message_headers_replace (out, "Cache-Control", "no-store");
  if ((why = refusal (w, msg, query, &set_cookie)))
    {
      respond_text (msg, SOUP_STATUS_FORBIDDEN, why);
      return;
    }
  if (set_cookie)
    {
      g_autofree char *c = g_strdup_printf ("%s=%s; Path=/; HttpOnly; SameSite=Strict",
                                            w->cookie_name, w->token);
      soup_message_headers_append (out, "Set-Cookie", c);
    }
  if (strcmp (method, "GET") != 0 && strcmp (method, "HEAD") != 0)
    {
      soup_message_headers_replace (out, "Allow", "GET, HEAD");
      respond_text (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "only GET\n");
      return;
    }
  if (strcmp (path, "/") == 0)
    serve_resource (msg, "/index.html", "text/html; charset=utf-8");
  else if (g_str_has_suffix (path, ".js") && strchr (path + 1, '/') == NULL)
    /* the page's scripts, each a file of cli/web/ (a name not there: 404) */
    serve_resource (msg, path, "text/javascript; charset=utf-8");
  else if (strcmp (path, "/app.css") == 0)
    serve_resource (msg, "/app.css", "text/css; charset=utf-8");
  else if (strcmp (path, "/favicon.svg") == 0 || strcmp (path, "/favicon.ico") == 0)
    serve_resource (msg, "/favicon.svg", "image/svg+xml");
  else if (g_str_has_prefix (path, "/api/"))
    serve_api (w, msg, path);
  else
    respond_text (msg, SOUP_STATUS_NOT_FOUND, "not found\n");
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

/* Listens on listen (before the files are read: a busy port or a bad
 * address is said at once, not after indexing a large recording). */
static SoupServer *
start_server (Web *w, const char *listen, char **shown)
{
  g_autofree char *host = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) ip = NULL;
  g_autoptr (GSocketAddress) addr = NULL;
  g_autoptr (SoupServer) server = NULL;
  guint16 port = 0;

  if (!xm_parse_hostport (listen, &host, &port, &error))
    {
      xm_cli_usage_error ("bad --listen '%s': %s", listen, error->message);
      return NULL;
    }
  ip = g_inet_address_new_from_string (strcmp (host, "localhost") == 0 ? "127.0.0.1" : host);
  if (ip == NULL)
    {
      xm_cli_usage_error ("bad --listen '%s': give an IP address, such as "
                          "127.0.0.1:8080 or [::1]:8080", listen);
      return NULL;
    }
  if (g_inet_address_get_is_any (ip))
    {
      /* every request's Host must name this server: a wildcard names none */
      xm_cli_usage_error ("bad --listen '%s': give the address the browser "
                          "will use (the Host header is checked), not a "
                          "wildcard", listen);
      return NULL;
    }
  server = soup_server_new ("server-header", "xmitm-web", NULL);
  addr = g_inet_socket_address_new (ip, port);
  if (!soup_server_listen (server, addr, 0, &error))
    {
      xm_cli_usage_error ("cannot listen on %s: %s", listen, error->message);
      return NULL;
    }
  g_clear_pointer (&host, g_free);
  host = g_inet_address_to_string (ip);
  *shown = xm_hostport_to_string (host, port);
  g_ptr_array_add (w->hosts, g_strdup (*shown));
  if (g_inet_address_get_is_loopback (ip))
    g_ptr_array_add (w->hosts, g_strdup_printf ("localhost:%u", port));
  else
    g_printerr ("xmitm: warning: listening on %s, not loopback: anyone who can "
                "reach it and learns the token sees these sessions\n", *shown);
  w->cookie_name = g_strdup_printf ("xmitm_token_%u", port);
  soup_server_add_handler (server, NULL, handle, w, NULL);
  return g_steal_pointer (&server);
}

static void
serve (Web *w, const char *shown)
{
  printf ("xmitm web: %u file(s) on http://%s/?token=%s\n", w->data.indexes->len,
          shown, w->token);
  fflush (stdout);
  w->loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGINT, on_stop_signal, w);
  g_unix_signal_add (SIGTERM, on_stop_signal, w);
  g_unix_signal_add (SIGHUP, on_stop_signal, w);
  g_main_loop_run (w->loop);
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
      "Serve on ADDR:PORT (default " DEFAULT_LISTEN ")",
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
  g_autoptr (SoupServer) server = NULL;
  g_autofree char *shown = NULL;
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
  w.hosts = g_ptr_array_new_with_free_func (g_free);
  w.token = new_token ();
  server = start_server (&w, listen ? listen : DEFAULT_LISTEN, &shown);
  rc = server ? 0 : XM_EXIT_USAGE;
  for (int i = 1; i < argc && rc == 0; i++)
    {
      XmEventIndex *idx = xm_event_index_open (argv[i], print_warning, argv[i], &error);
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
    serve (&w, shown);
  if (server)
    soup_server_disconnect (server);
  g_ptr_array_unref (w.data.indexes);
  g_ptr_array_unref (w.hosts);
  g_free (w.token);
  g_free (w.cookie_name);
  return rc;
}
