/* web-server.c: the web UI's HTTP server (xmitm web, xmitm proxy --web).
 *
 * A libsoup server on loopback serves the page (cli/web/, compiled in with
 * GResource) and hands everything else to the caller's route. What it
 * serves are private conversations, so every request must carry the
 * random token of the URL xmitm prints (then the cookie the first answer
 * sets); the Host and Origin headers must name this server, so that a page
 * elsewhere that resolves its own name to 127.0.0.1 (DNS rebinding) gets
 * nothing; and the page runs under a Content-Security-Policy that allows
 * only its own script, never inline code. A WebSocket is opened only
 * after the same checks. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "cli.h"
#include "net.h"
#include "web-server.h"

#define RESOURCE_PREFIX "/org/xmitm/web"

static const char *const csp =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct _XmWebServer {
  SoupServer *server;
  XmWebRouteFunc route;
  gpointer route_data;
  char *token;
  char *cookie_name;     /* per port: cookies do not tell ports apart */
  GPtrArray *hosts;      /* char *: the Host values that name this server */
  GPtrArray *ws_paths;   /* char *: paths with a WebSocket */
  char *url;
};

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

void
xm_web_respond (SoupServerMessage *msg, guint status, const char *type,
                const char *body, gsize len, gboolean take)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, type, take ? SOUP_MEMORY_TAKE : SOUP_MEMORY_COPY,
                                    body, len);
}

void
xm_web_respond_text (SoupServerMessage *msg, guint status, const char *text)
{
  xm_web_respond (msg, status, "text/plain; charset=utf-8", text, strlen (text), FALSE);
}

guint
xm_web_split_query (const char *query, char ***names, char ***values)
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
host_allowed (XmWebServer *w, const char *host)
{
  for (guint i = 0; host && i < w->hosts->len; i++)
    if (g_ascii_strcasecmp (host, w->hosts->pdata[i]) == 0)
      return TRUE;
  return FALSE;
}

/* Why the request is refused, or NULL. *set_cookie: the token came in
 * the query and the answer should hand it over as a cookie. */
static const char *
refusal (XmWebServer *w, SoupServerMessage *msg, GHashTable *query, gboolean *set_cookie)
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
  return "forbidden: open the URL xmitm printed (with its ?token=...)\n";
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
      xm_web_respond_text (msg, SOUP_STATUS_NOT_FOUND, "not found\n");
      return;
    }
  data = g_bytes_get_data (bytes, &len);
  xm_web_respond (msg, SOUP_STATUS_OK, type, data, len, FALSE);
}

/* The page's own files: their content type, or NULL. Each script is a
 * file of cli/web/ (a name not there: 404). */
static const char *
resource_type (const char *path)
{
  if (g_str_has_suffix (path, ".js") && strchr (path + 1, '/') == NULL)
    return "text/javascript; charset=utf-8";
  if (strcmp (path, "/app.css") == 0)
    return "text/css; charset=utf-8";
  if (strcmp (path, "/favicon.svg") == 0)
    return "image/svg+xml";
  return NULL;
}

gboolean
xm_web_serve_api (XmWebData *wd, SoupServerMessage *msg, const char *path)
{
  GUri *uri = soup_server_message_get_uri (msg);
  g_auto (GStrv) names = NULL;
  g_auto (GStrv) values = NULL;
  guint n = xm_web_split_query (g_uri_get_query (uri), &names, &values);
  XmWebAnswer a;

  if (!g_str_has_prefix (path, "/api/")
      || !xm_web_api_dispatch (wd, path, names, values, n, &a))
    return FALSE;
  xm_web_respond (msg, a.status, a.type, a.body, a.len, TRUE);
  return TRUE;
}

static gboolean
is_ws_path (XmWebServer *w, const char *path)
{
  for (guint i = 0; i < w->ws_paths->len; i++)
    if (strcmp (path, w->ws_paths->pdata[i]) == 0)
      return TRUE;
  return FALSE;
}

static void
handle (SoupServer *server, SoupServerMessage *msg, const char *path,
        GHashTable *query, gpointer data)
{
  XmWebServer *w = data;
  SoupMessageHeaders *out = soup_server_message_get_response_headers (msg);
  const char *method = soup_server_message_get_method (msg);
  const char *why, *type;
  gboolean set_cookie;

  soup_message_headers_replace (out, "Content-Security-Policy", csp);
  soup_message_headers_replace (out, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (out, "Referrer-Policy", "no-referrer");
  soup_message_headers_replace (out, "Cache-Control", "no-store");
  if ((why = refusal (w, msg, query, &set_cookie)))
    {
      xm_web_respond_text (msg, SOUP_STATUS_FORBIDDEN, why);
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
      xm_web_respond_text (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "only GET\n");
      return;
    }
  if (is_ws_path (w, path))
    {
      /* No status set: libsoup goes on to the WebSocket handshake, and
       * answers 400 itself when the request is not one. */
      return;
    }
  if (strcmp (path, "/") == 0)
    serve_resource (msg, "/index.html", "text/html; charset=utf-8");
  else if (strcmp (path, "/favicon.ico") == 0)
    serve_resource (msg, "/favicon.svg", "image/svg+xml");
  else if ((type = resource_type (path)))
    serve_resource (msg, path, type);
  else if (!w->route (msg, path, query, w->route_data))
    xm_web_respond_text (msg, SOUP_STATUS_NOT_FOUND, "not found\n");
}

/* Each request's body is read past, not kept: every request this server
 * answers is a GET, and libsoup reads a body whole before any handler
 * runs, also for a request about to be refused; a page elsewhere may POST
 * to 127.0.0.1 without a token, and a gigabyte body would otherwise be
 * held in memory. */
static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer data)
{
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
}

/* The port the server got (listen may have asked for port 0). */
static guint16
bound_port (SoupServer *server)
{
  GSList *listeners = soup_server_get_listeners (server);
  guint16 port = 0;

  for (GSList *l = listeners; l && port == 0; l = l->next)
    {
      g_autoptr (GSocketAddress) a = g_socket_get_local_address (l->data, NULL);
      if (a && G_IS_INET_SOCKET_ADDRESS (a))
        port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (a));
    }
  g_slist_free (listeners);
  return port;
}

XmWebServer *
xm_web_server_new (const char *option, const char *listen, XmWebRouteFunc route,
                   gpointer route_data)
{
  g_autofree char *host = NULL, *shown = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) ip = NULL;
  g_autoptr (GSocketAddress) addr = NULL;
  XmWebServer *w;
  guint16 port = 0;

  /* Port 0 (any free port, which the URL then names) is allowed here,
   * where the bound port is printed; the parser takes 1 to 65535. */
  if (g_str_has_suffix (listen, ":0"))
    {
      g_autofree char *any = g_strconcat (listen, "1", NULL);  /* ":01" */
      if (xm_parse_hostport (any, &host, &port, NULL))
        port = 0;
      else
        g_clear_pointer (&host, g_free);
    }
  if (host == NULL && !xm_parse_hostport (listen, &host, &port, &error))
    {
      xm_cli_usage_error ("bad %s '%s': %s", option, listen, error->message);
      return NULL;
    }
  ip = g_inet_address_new_from_string (strcmp (host, "localhost") == 0 ? "127.0.0.1" : host);
  if (ip == NULL)
    {
      xm_cli_usage_error ("bad %s '%s': give an IP address, such as "
                          "127.0.0.1:8080 or [::1]:8080", option, listen);
      return NULL;
    }
  if (g_inet_address_get_is_any (ip))
    {
      /* every request's Host must name this server: a wildcard names none */
      xm_cli_usage_error ("bad %s '%s': give the address the browser "
                          "will use (the Host header is checked), not a "
                          "wildcard", option, listen);
      return NULL;
    }
  w = g_new0 (XmWebServer, 1);
  w->route = route;
  w->route_data = route_data;
  w->hosts = g_ptr_array_new_with_free_func (g_free);
  w->ws_paths = g_ptr_array_new_with_free_func (g_free);
  w->token = new_token ();
  w->server = soup_server_new ("server-header", "xmitm-web", NULL);
  g_signal_connect (w->server, "request-started", G_CALLBACK (on_request_started), w);
  addr = g_inet_socket_address_new (ip, port);
  if (!soup_server_listen (w->server, addr, 0, &error))
    {
      xm_cli_usage_error ("%s: cannot listen on %s: %s", option, listen, error->message);
      xm_web_server_free (w);
      return NULL;
    }
  /* The Host header names the port the browser connects to: the bound
   * one, also when port 0 asked for any. */
  port = bound_port (w->server);
  g_clear_pointer (&host, g_free);
  host = g_inet_address_to_string (ip);
  shown = xm_hostport_to_string (host, port);
  g_ptr_array_add (w->hosts, g_strdup (shown));
  if (g_inet_address_get_is_loopback (ip))
    g_ptr_array_add (w->hosts, g_strdup_printf ("localhost:%u", port));
  else
    g_printerr ("xmitm: warning: listening on %s, not loopback: anyone who can "
                "reach it and learns the token sees these sessions\n", shown);
  w->cookie_name = g_strdup_printf ("xmitm_token_%u", port);
  w->url = g_strdup_printf ("http://%s/?token=%s", shown, w->token);
  soup_server_add_handler (w->server, NULL, handle, w, NULL);
  return w;
}

void
xm_web_server_add_websocket (XmWebServer *w, const char *path,
                             SoupServerWebsocketCallback opened, gpointer data)
{
  g_ptr_array_add (w->ws_paths, g_strdup (path));
  /* The regular handler runs first at this path and refuses what fails
   * the checks; the WebSocket handler's own Origin check is not used
   * (localhost and 127.0.0.1 both name this server). */
  soup_server_add_handler (w->server, path, handle, w, NULL);
  soup_server_add_websocket_handler (w->server, path, NULL, NULL, opened, data, NULL);
}

const char *
xm_web_server_url (const XmWebServer *w)
{
  return w->url;
}

void
xm_web_server_free (XmWebServer *w)
{
  if (w == NULL)
    return;
  if (w->server)
    {
      soup_server_disconnect (w->server);
      g_object_unref (w->server);
    }
  g_ptr_array_unref (w->hosts);
  g_ptr_array_unref (w->ws_paths);
  g_free (w->token);
  g_free (w->cookie_name);
  g_free (w->url);
  g_free (w);
}
