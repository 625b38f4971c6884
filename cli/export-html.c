/* export-html.c: xmitm export --html OUT FILE: one HTML file with the
 * views of xmitm web (sessions, stanzas, detail, iq pairing, sequence
 * diagram), for a bug report.
 *
 * The file holds everything: the page's own CSS and scripts (the same
 * files xmitm web serves, from GResource) and the events as JSON, each
 * printed by the printer with secrets redacted as xmitm web redacts them.
 * It opens from file:// with no network: a Content-Security-Policy meta
 * allows exactly its own inline scripts and style, by their SHA-256, and
 * nothing else (no connection, no frame, no form). offline.js answers the
 * page's API calls from the JSON; its filter runs over fields the C code
 * worked out from ui/filter.c's own notions (web-api.c). */
#include "config.h"

#include <glib/gstdio.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <gio/gio.h>

#include "cli.h"
#include "event-index.h"
#include "files.h"
#include "web-api.h"

#define RESOURCE_PREFIX "/org/xmitm/web"

/* A browser holds the whole file in memory, DOM and JSON: past this many
 * events the file would not open well. */
#define MAX_HTML_EVENTS 100000
/* ... and from a file of at most this size: each event's printed text and
 * XML go in, as JSON, and the page is built in memory (about three times
 * the recording), so a few large stanzas must not make it gigabytes. */
#define MAX_HTML_INPUT (128u << 20)

/* The scripts, in the order index.html loads them; offline.js first. */
static const char *const scripts[] = {
  "offline.js", "xmlview.js", "diagram.js", "list.js", "app.js",
};

static GBytes *
resource (const char *name)
{
  g_autofree char *path = g_strconcat (RESOURCE_PREFIX "/", name, NULL);
  GBytes *b = g_resources_lookup_data (path, 0, NULL);

  if (b == NULL)
    g_error ("resource %s missing from the binary", path);
  return b;
}

/* 'sha256-BASE64' of data, for the CSP. */
static char *
csp_hash (const char *data, gsize len)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize dlen = sizeof digest;
  g_autofree char *b64 = NULL;

  g_checksum_update (sum, (const guchar *) data, len);
  g_checksum_get_digest (sum, digest, &dlen);
  b64 = g_base64_encode (digest, dlen);
  return g_strdup_printf ("'sha256-%s'", b64);
}

/* JSON put inside <script type="application/json">: no '<' at all, so no
 * "</script>" or "<!--" in a stanza can end the element. JSON has '<'
 * only inside strings, where \u003c means the same. */
static void
append_json_for_script (GString *html, const char *json, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if (json[i] == '<')
      g_string_append (html, "\\u003c");
    else
      g_string_append_c (html, json[i]);
}

static char *
build_html (const char *name, const char *json, gsize json_len)
{
  g_autoptr (GBytes) index = resource ("index.html");
  g_autoptr (GBytes) css = resource ("app.css");
  g_autoptr (GString) hashes = g_string_new (NULL);
  g_autoptr (GString) body = g_string_new (NULL);
  g_autofree char *style_hash = NULL;
  g_autofree char *title = g_markup_escape_text (name, -1);
  GBytes *js[G_N_ELEMENTS (scripts)];
  const char *page, *b, *e;
  gsize n;
  GString *html = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (scripts); i++)
    {
      const char *data;
      g_autofree char *h = NULL;

      js[i] = resource (scripts[i]);
      data = g_bytes_get_data (js[i], &n);
      h = csp_hash (data, n);
      g_string_append_printf (hashes, " %s", h);
    }
  {
    const char *data = g_bytes_get_data (css, &n);
    style_hash = csp_hash (data, n);
  }
  /* the same markup as the served page: index.html's body */
  page = g_bytes_get_data (index, &n);
  b = strstr (page, "<body>");
  e = strstr (page, "</body>");
  if (b == NULL || e == NULL || e < b)
    g_error ("index.html has no body");
  g_string_append_len (body, b, e - b);

  g_string_append_printf (html,
    "<!DOCTYPE html>\n"
    "<!-- xmitm export --html: %s. Everything is in this file; it loads\n"
    "     nothing and connects nowhere. -->\n"
    "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
    "script-src%s; style-src %s; img-src data:; base-uri 'none'; form-action 'none'\">\n"
    "<title>xmitm: %s</title>\n<style>",
    title, hashes->str, style_hash, title);
  {
    const char *data = g_bytes_get_data (css, &n);
    g_string_append_len (html, data, n);
  }
  g_string_append (html, "</style>\n<script type=\"application/json\" id=\"xmitm-data\">");
  append_json_for_script (html, json, json_len);
  g_string_append (html, "</script>\n");
  for (guint i = 0; i < G_N_ELEMENTS (scripts); i++)
    {
      const char *data = g_bytes_get_data (js[i], &n);
      g_string_append (html, "<script>");
      g_string_append_len (html, data, n);
      g_string_append (html, "</script>\n");
      g_bytes_unref (js[i]);
    }
  g_string_append (html, "</head>\n");
  g_string_append_len (html, body->str, body->len);
  g_string_append (html, "</body>\n</html>\n");
  return g_string_free (html, FALSE);
}

static void
print_warning (const char *message, gpointer data)
{
  g_printerr ("xmitm: %s: %s\n", (const char *) data, message);
}

int
xm_cli_export_html (const char *out, const char *in, gboolean secrets)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (XmEventIndex) idx = NULL;
  g_autofree char *json = NULL;
  g_autofree char *html = NULL;
  g_autofree char *name = g_path_get_basename (in);
  XmWebData wd = { 0 };
  gsize len = 0;
  GStatBuf st;
  int fd, err;

  if (g_stat (in, &st) == 0 && (guint64) st.st_size > MAX_HTML_INPUT)
    {
      g_printerr ("xmitm: %s is %" G_GUINT64_FORMAT " MiB; export --html reads "
                  "at most %u MiB (a browser holds the whole file): cut it first, "
                  "e.g. xmitm show %s --json --conn N > part.jsonl, or browse it "
                  "with xmitm web\n", in, (guint64) st.st_size >> 20,
                  MAX_HTML_INPUT >> 20, in);
      return 1;
    }
  idx = xm_event_index_open (in, print_warning, (gpointer) in, &error);
  if (idx == NULL)
    {
      g_printerr ("xmitm: %s\n", error->message);
      return 1;
    }
  if (xm_event_index_count (idx) > MAX_HTML_EVENTS)
    {
      g_printerr ("xmitm: %s has %" G_GUINT64_FORMAT " events; export --html "
                  "writes at most %u (a browser holds the whole file): cut it "
                  "first, e.g. xmitm show %s --json --conn N > part.jsonl, or "
                  "browse it with xmitm web\n", in, xm_event_index_count (idx),
                  MAX_HTML_EVENTS, in);
      return 1;
    }
  xm_printer_options_init (&wd.printer);
  wd.printer.color = FALSE;
  wd.printer.show_secrets = secrets;
  wd.indexes = g_ptr_array_new ();
  g_ptr_array_add (wd.indexes, idx);
  json = xm_web_export_json (&wd, &len, &error);
  g_ptr_array_unref (wd.indexes);
  if (json == NULL)
    {
      g_printerr ("xmitm: %s\n", error->message);
      return 1;
    }
  html = build_html (name, json, len);
  if ((fd = xm_create_private (out, &error)) < 0)
    {
      g_printerr ("xmitm: %s\n", error->message);
      return 1;
    }
  err = xm_write_all (fd, html, strlen (html));
  if (close (fd) != 0 && err == 0)
    err = EIO;
  if (err)
    {
      g_printerr ("xmitm: writing %s failed: %s\n", out, g_strerror (err));
      unlink (out);
      return 1;
    }
  return 0;
}
