/* main.c: command line, main loop, exit codes (0 done, 1 runtime failure,
 * 2 usage error). */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <glib-unix.h>

#include "certs.h"
#include "net.h"
#include "printer.h"
#include "proxy.h"
#include "tls.h"

#define EXIT_USAGE 2

typedef struct {
  GMainLoop *loop;
  XmProxy *proxy;
  int signals;
} Running;

static G_GNUC_PRINTF (1, 2) int
usage_error (const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_printerr ("xmitm: %s\n", msg);
  return EXIT_USAGE;
}

static gboolean
on_signal (gpointer data)
{
  Running *r = data;

  if (r->signals++ == 0)
    {
      /* Stop accepting, close every session (each prints its close), flush. */
      xm_proxy_shutdown (r->proxy, "xmitm is stopping (signal)");
      g_main_loop_quit (r->loop);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
parse_size (const char *s, gsize *out)
{
  guint64 v;
  char *end;

  errno = 0;
  v = g_ascii_strtoull (s, &end, 10);
  if (s == end || errno)
    return FALSE;
  if (g_ascii_strcasecmp (end, "k") == 0 || g_ascii_strcasecmp (end, "kib") == 0)
    v *= 1024;
  else if (g_ascii_strcasecmp (end, "m") == 0 || g_ascii_strcasecmp (end, "mib") == 0)
    v *= 1024 * 1024;
  else if (*end)
    return FALSE;
  if (v == 0 || v > G_MAXSIZE / 2)
    return FALSE;
  *out = (gsize) v;
  return TRUE;
}

/* The CA named on the command line, or the default one (made on first
 * use). Returns NULL after printing why. */
static XmCa *
open_ca (const char *cert, const char *key)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL, *dcert = NULL, *dkey = NULL;
  XmCa *ca;

  if ((cert == NULL) != (key == NULL))
    {
      g_printerr ("xmitm: --ca-cert and --ca-key go together\n");
      return NULL;
    }
  if (cert == NULL)
    {
      dir = xm_ca_default_dir ();
      dcert = g_build_filename (dir, "ca.pem", NULL);
      dkey = g_build_filename (dir, "ca-key.pem", NULL);
    }
  ca = xm_ca_open (cert ? cert : dcert, key ? key : dkey, cert == NULL, &error);
  if (ca == NULL)
    g_printerr ("xmitm: cannot use the CA: %s\n", error->message);
  return ca;
}

static int
cmd_ca (int argc, char **argv)
{
  g_autofree char *ca_cert = NULL, *ca_key = NULL;
  GOptionEntry entries[] = {
    { "ca-cert", 0, 0, G_OPTION_ARG_FILENAME, &ca_cert,
      "Use this CA certificate instead of xmitm's own", "FILE" },
    { "ca-key", 0, 0, G_OPTION_ARG_FILENAME, &ca_key,
      "The key of --ca-cert", "FILE" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("path|export");
  g_autoptr (GError) error = NULL;
  g_autoptr (XmCa) ca = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_summary (ctx,
    "xmitm shows clients certificates signed by its own CA. The client must\n"
    "trust that CA:\n"
    "  path     print where the CA certificate is\n"
    "  export   print the CA certificate (PEM) to standard output\n"
    "Both create the CA first if there is none (in $XDG_DATA_HOME/xmitm,\n"
    "the key readable only by you).");
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return usage_error ("%s (see xmitm ca --help)", error->message);
  if (argc != 2 || (strcmp (argv[1], "path") != 0 && strcmp (argv[1], "export") != 0))
    return usage_error ("say 'xmitm ca path' or 'xmitm ca export' (see xmitm ca --help)");
  ca = open_ca (ca_cert, ca_key);
  if (ca == NULL)
    return 1;
  if (strcmp (argv[1], "path") == 0)
    printf ("%s\n", xm_ca_cert_path (ca));
  else
    {
      g_autofree char *pem = xm_ca_cert_pem (ca);
      fputs (pem, stdout);
    }
  return fflush (stdout) == 0 ? 0 : 1;
}

static int
cmd_proxy (int argc, char **argv)
{
  g_autofree char *listen = NULL, *upstream = NULL, *color = NULL;
  g_autofree char *max_stanza = NULL, *upstream_tls = NULL;
  g_autofree char *ca_cert = NULL, *ca_key = NULL, *upstream_ca = NULL, *keylog = NULL;
  gboolean upstream_insecure = FALSE, keep_cb = FALSE, no_compression = FALSE;
  g_autofree char *max_inflate = NULL;
  gint max_inflate_ratio = 200;
  gint tls_timeout = 10;
  gboolean utc = FALSE, full_text = FALSE, show_secrets = FALSE;
  gboolean hide_keepalives = FALSE, quiet = FALSE;
  gint max_text = XM_PRINTER_DEFAULT_MAX_TEXT, connect_timeout = 10;
  GOptionEntry entries[] = {
    { "listen", 'l', 0, G_OPTION_ARG_STRING, &listen,
      "Accept clients on ADDR:PORT (default 127.0.0.1:5222; IPv6 as [::1]:5222)",
      "ADDR:PORT" },
    { "upstream", 'u', 0, G_OPTION_ARG_STRING, &upstream,
      "Connect each client to the XMPP server at HOST:PORT (required)", "HOST:PORT" },
    { "upstream-tls", 0, 0, G_OPTION_ARG_STRING, &upstream_tls,
      "Relay clients that open with TLS (XEP-0368 direct TLS) to this direct-TLS "
      "port of the server (default: --upstream, with direct TLS)", "HOST:PORT" },
    { "upstream-ca", 0, 0, G_OPTION_ARG_FILENAME, &upstream_ca,
      "Also trust this CA (PEM) when verifying the server's certificate", "FILE" },
    { "upstream-insecure", 0, 0, G_OPTION_ARG_NONE, &upstream_insecure,
      "Do not verify the server's certificate", NULL },
    { "ca-cert", 0, 0, G_OPTION_ARG_FILENAME, &ca_cert,
      "Sign forged certificates with this CA instead of xmitm's own "
      "(see xmitm ca --help)", "FILE" },
    { "ca-key", 0, 0, G_OPTION_ARG_FILENAME, &ca_key, "The key of --ca-cert", "FILE" },
    { "keylog", 0, 0, G_OPTION_ARG_FILENAME, &keylog,
      "Append TLS secrets of both legs to FILE (NSS key log format, for "
      "Wireshark); default $SSLKEYLOGFILE", "FILE" },
    { "tls-timeout", 0, 0, G_OPTION_ARG_INT, &tls_timeout,
      "Give up on a TLS handshake after N seconds (default 10)", "N" },
    { "connect-timeout", 0, 0, G_OPTION_ARG_INT, &connect_timeout,
      "Give up connecting to the upstream after N seconds (default 10)", "N" },
    { "max-stanza", 0, 0, G_OPTION_ARG_STRING, &max_stanza,
      "Do not decode stanzas larger than SIZE (default 1M); they are still forwarded",
      "SIZE" },
    { "keep-channel-binding", 0, 0, G_OPTION_ARG_NONE, &keep_cb,
      "Pass SCRAM-*-PLUS and XEP-0440 on to the client (by default xmitm removes "
      "them: channel binding cannot work through a man in the middle)", NULL },
    { "no-compression", 0, 0, G_OPTION_ARG_NONE, &no_compression,
      "Remove XEP-0138 compression from the server's features, so the session "
      "stays uncompressed", NULL },
    { "max-inflate", 0, 0, G_OPTION_ARG_STRING, &max_inflate,
      "Stop inflating a direction after SIZE bytes without a complete stanza "
      "(default 8M)", "SIZE" },
    { "max-inflate-ratio", 0, 0, G_OPTION_ARG_INT, &max_inflate_ratio,
      "Stop inflating a direction that expands more than N:1 (default 200)", "N" },
    { "color", 0, 0, G_OPTION_ARG_STRING, &color,
      "Colour the output: auto (default; off when NO_COLOR is set), always, never",
      "WHEN" },
    { "utc", 0, 0, G_OPTION_ARG_NONE, &utc,
      "Print timestamps as ISO 8601 UTC instead of local time", NULL },
    { "max-text", 0, 0, G_OPTION_ARG_INT, &max_text,
      "Shorten text longer than N bytes (default 256; 0 shows all)", "N" },
    { "full-text", 0, 0, G_OPTION_ARG_NONE, &full_text,
      "Show all text, however long (same as --max-text=0)", NULL },
    { "show-secrets", 0, 0, G_OPTION_ARG_NONE, &show_secrets,
      "Print SASL payloads and passwords as sent (hidden by default)", NULL },
    { "hide-keepalives", 0, 0, G_OPTION_ARG_NONE, &hide_keepalives,
      "Do not print whitespace keepalives", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet,
      "Print nothing (still frames every stanza)", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- relay XMPP and print every stanza");
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) sinks = g_ptr_array_new_with_free_func ((GDestroyNotify) xm_sink_free);
  XmProxyConfig cfg = { 0 };
  XmPrinterOptions popts;
  XmColorMode color_mode = XM_COLOR_AUTO;
  g_autofree char *lhost = NULL, *uhost = NULL;
  g_autoptr (XmCa) ca = NULL;
  Running r = { 0 };
  guint sigint, sigterm;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_summary (ctx,
    "Sits between an XMPP client and its server: every byte is forwarded\n"
    "unchanged, and a copy of each direction is decoded and printed, one\n"
    "timestamped stanza at a time.");
  g_option_context_set_description (ctx,
    "Examples:\n"
    "  xmitm proxy --upstream localhost:5222 --listen 127.0.0.1:5223\n"
    "      point the client at 127.0.0.1:5223\n"
    "  xmitm proxy -u [::1]:5222 -l [::1]:5223 --utc --color=never > session.log\n"
    "  xmitm proxy -u xmpp.example.net:5222 --upstream-tls xmpp.example.net:5223\n"
    "      STARTTLS and direct-TLS clients on one port; trust `xmitm ca export`\n"
    "\n"
    "Exit status: 0 when stopped by SIGINT/SIGTERM, 1 on a runtime failure,\n"
    "2 on a usage error (bad option or address, listen address in use).\n");
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return usage_error ("%s (see xmitm proxy --help)", error->message);
  if (argc > 1)
    return usage_error ("unexpected argument '%s' (see xmitm proxy --help)", argv[1]);
  if (upstream == NULL)
    return usage_error ("--upstream HOST:PORT is required (see xmitm proxy --help)");
  if (!xm_parse_hostport (upstream, &uhost, &cfg.upstream_port, &error))
    return usage_error ("bad --upstream: %s", error->message);
  if (!xm_parse_hostport (listen ? listen : "127.0.0.1:5222", &lhost,
                          &cfg.listen_port, &error))
    return usage_error ("bad --listen: %s", error->message);
  if (color && !xm_color_mode_parse (color, &color_mode))
    return usage_error ("bad --color '%s': use auto, always or never", color);
  if (upstream_tls
      && !xm_parse_hostport (upstream_tls, &cfg.upstream_tls_host,
                             &cfg.upstream_tls_port, &error))
    return usage_error ("bad --upstream-tls: %s", error->message);
  if (connect_timeout <= 0 || tls_timeout <= 0)
    return usage_error ("timeouts must be a positive number of seconds");
  if (max_text < 0)
    return usage_error ("--max-text must be 0 or more");
  cfg.max_stanza = 1024 * 1024;
  if (max_stanza && !parse_size (max_stanza, &cfg.max_stanza))
    return usage_error ("bad --max-stanza '%s': a size like 65536, 64k or 1M",
                        max_stanza);
  cfg.max_inflate = 8 * 1024 * 1024;
  if (max_inflate && !parse_size (max_inflate, &cfg.max_inflate))
    return usage_error ("bad --max-inflate '%s': a size like 65536, 64k or 8M",
                        max_inflate);
  if (max_inflate_ratio < 2)
    return usage_error ("--max-inflate-ratio must be 2 or more");
  cfg.max_inflate_ratio = max_inflate_ratio;
  cfg.keep_channel_binding = keep_cb;
  cfg.no_compression = no_compression;
  cfg.upstream_host = uhost;
  cfg.listen_host = lhost;
  cfg.connect_timeout_s = connect_timeout;
  cfg.tls_timeout_s = tls_timeout;
  cfg.upstream_insecure = upstream_insecure;

  {
    XmTlsConfig tcfg = { .insecure = upstream_insecure, .upstream_ca = upstream_ca,
                         .keylog = keylog ? keylog : g_getenv ("SSLKEYLOGFILE") };
    if (tcfg.keylog && *tcfg.keylog == '\0')
      tcfg.keylog = NULL;
    if (!xm_tls_init (&tcfg, &error))
      {
        g_printerr ("xmitm: %s\n", error->message);
        return 1;
      }
  }
  ca = open_ca (ca_cert, ca_key);
  if (ca == NULL)
    return 1;
  cfg.ca = ca;

  xm_printer_options_init (&popts);
  popts.color = xm_color_mode_resolve (color_mode, stdout);
  popts.utc = utc;
  popts.max_text = full_text ? 0 : (gsize) max_text;
  popts.show_secrets = show_secrets;
  popts.hide_keepalives = hide_keepalives;
  if (!quiet)
    g_ptr_array_add (sinks, xm_printer_new (&popts, stdout));
  cfg.sinks = sinks;

  r.proxy = xm_proxy_new (&cfg, &error);
  if (r.proxy == NULL)
    return usage_error ("%s (see --listen)", error->message);
  g_printerr ("xmitm: listening on %s, relaying to %s\n", listen ? listen : "127.0.0.1:5222",
              upstream);

  r.loop = g_main_loop_new (NULL, FALSE);
  sigint = g_unix_signal_add (SIGINT, on_signal, &r);
  sigterm = g_unix_signal_add (SIGTERM, on_signal, &r);
  g_main_loop_run (r.loop);

  /* Let closed sessions finish freeing themselves. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_source_remove (sigint);
  g_source_remove (sigterm);
  xm_proxy_free (r.proxy);
  g_main_loop_unref (r.loop);
  for (guint i = 0; i < sinks->len; i++)
    xm_sink_flush (g_ptr_array_index (sinks, i));
  g_free (cfg.upstream_tls_host);
  xm_tls_cleanup ();
  return 0;
}

static void
print_usage (FILE *out)
{
  fprintf (out,
    "Usage: xmitm COMMAND [OPTION...]\n"
    "\n"
    "A man-in-the-middle debugging proxy for XMPP.\n"
    "\n"
    "Commands:\n"
    "  proxy     relay XMPP between clients and a server, printing every stanza\n"
    "  ca        where xmitm's CA is, and its certificate to trust in clients\n"
    "  version   print the version\n"
    "\n"
    "Run 'xmitm COMMAND --help' for the options of a command.\n");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  signal (SIGPIPE, SIG_IGN);

  if (argc < 2)
    {
      print_usage (stderr);
      return EXIT_USAGE;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0
      || strcmp (argv[1], "help") == 0)
    {
      print_usage (stdout);
      return 0;
    }
  if (strcmp (argv[1], "version") == 0 || strcmp (argv[1], "--version") == 0)
    {
      printf ("xmitm %s\n", XMITM_VERSION);
      return 0;
    }
  if (strcmp (argv[1], "proxy") == 0)
    return cmd_proxy (argc - 1, argv + 1);
  if (strcmp (argv[1], "ca") == 0)
    return cmd_ca (argc - 1, argv + 1);
  return usage_error ("unknown command '%s' (see xmitm --help)", argv[1]);
}
