/* main.c: command line, main loop, exit codes (0 done, 1 runtime failure,
 * 2 usage error). */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <glib-unix.h>

#include "certs.h"
#include "filter.h"
#include "net.h"
#include "pcap-read.h"
#include "pcap-write.h"
#include "printer.h"
#include "privdrop.h"
#include "proxy.h"
#include "record.h"
#include "replay.h"
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

/* How events are shown: the options proxy and show share. */
typedef struct {
  char *color;
  gboolean utc, full_text, show_secrets, hide_keepalives, json, quiet;
  gint max_text;
  XmFilterArgs filter;
} OutputArgs;

static void
output_args_init (OutputArgs *o)
{
  memset (o, 0, sizeof *o);
  o->max_text = XM_PRINTER_DEFAULT_MAX_TEXT;
}

static void
output_args_clear (OutputArgs *o)
{
  g_clear_pointer (&o->color, g_free);
  xm_filter_args_clear (&o->filter);
}

/* Appends the output options (NULL-terminated) to entries. */
static void
add_output_entries (GArray *entries, OutputArgs *o, gboolean live)
{
  const GOptionEntry e[] = {
    { "color", 0, 0, G_OPTION_ARG_STRING, &o->color,
      "Colour the output: auto (default; off when NO_COLOR is set), always, never",
      "WHEN" },
    { "utc", 0, 0, G_OPTION_ARG_NONE, &o->utc,
      "Print timestamps as ISO 8601 UTC instead of local time", NULL },
    { "max-text", 0, 0, G_OPTION_ARG_INT, &o->max_text,
      "Shorten text and decoded SASL values longer than N bytes (default 256; 0 shows all)", "N" },
    { "full-text", 0, 0, G_OPTION_ARG_NONE, &o->full_text,
      "Show all text, however long (same as --max-text=0)", NULL },
    { "show-secrets", 0, 0, G_OPTION_ARG_NONE, &o->show_secrets,
      "Print SASL payloads and passwords as sent (hidden by default)", NULL },
    { "hide-keepalives", 0, 0, G_OPTION_ARG_NONE, &o->hide_keepalives,
      "Do not print whitespace keepalives", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &o->json,
      "Print events as JSON Lines (the recording format, docs/recording.md) "
      "instead of text", NULL },
  };
  const GOptionEntry quiet =
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet,
      "Print nothing (still frames every stanza)", NULL };

  g_array_append_vals (entries, e, G_N_ELEMENTS (e));
  if (live)
    g_array_append_val (entries, quiet);
}

static void
end_entries (GArray *entries)
{
  const GOptionEntry end = { NULL };

  g_array_append_val (entries, end);
}

/* The sink that shows events on standard output, or NULL for --quiet;
 * -1 on a usage error (printed). */
static int
output_sink (OutputArgs *o, const char *source, XmSink **sink)
{
  XmColorMode color_mode = XM_COLOR_AUTO;
  XmPrinterOptions popts;
  g_autoptr (GError) error = NULL;
  XmFilter *filter;

  *sink = NULL;
  if (o->color && !xm_color_mode_parse (o->color, &color_mode))
    {
      usage_error ("bad --color '%s': use auto, always or never", o->color);
      return -1;
    }
  if (o->max_text < 0)
    {
      usage_error ("--max-text must be 0 or more");
      return -1;
    }
  filter = xm_filter_new (&o->filter, &error);
  if (filter == NULL)
    {
      usage_error ("%s", error->message);
      return -1;
    }
  if (o->quiet)
    {
      xm_filter_free (filter);
      return 0;
    }
  if (o->json)
    *sink = xm_recorder_new (STDOUT_FILENO, FALSE, "standard output", source,
                             o->show_secrets);
  else
    {
      xm_printer_options_init (&popts);
      popts.color = xm_color_mode_resolve (color_mode, stdout);
      popts.utc = o->utc;
      popts.max_text = o->full_text ? 0 : (gsize) o->max_text;
      popts.show_secrets = o->show_secrets;
      popts.hide_keepalives = o->hide_keepalives;
      *sink = xm_printer_new (&popts, stdout);
    }
  /* Filters choose what is shown; recordings and captures keep it all. */
  *sink = xm_filter_sink_new (filter, *sink);
  return 0;
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

/* --mark and --keep-source need CAP_NET_ADMIN: find out now, not at the
 * first connection. */
static gboolean
check_privileges (const XmProxyConfig *cfg)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  gboolean ok = TRUE;

  if (fd < 0)
    return TRUE;
  if (cfg->use_mark && setsockopt (fd, SOL_SOCKET, SO_MARK, &cfg->mark,
                                   sizeof cfg->mark) != 0)
    {
      g_printerr ("xmitm: --mark %s\n", errno == EPERM ? XM_NEED_CAP_NET_ADMIN
                                                      : g_strerror (errno));
      ok = FALSE;
    }
  else if (cfg->keep_source
           && setsockopt (fd, SOL_IP, IP_TRANSPARENT, &one, sizeof one) != 0)
    {
      g_printerr ("xmitm: --keep-source %s\n", errno == EPERM ? XM_NEED_CAP_NET_ADMIN
                                                             : g_strerror (errno));
      ok = FALSE;
    }
  close (fd);
  return ok;
}

static int
cmd_proxy (int argc, char **argv)
{
  g_autofree char *listen = NULL, *upstream = NULL;
  g_autofree char *max_stanza = NULL, *upstream_tls = NULL;
  g_autofree char *ca_cert = NULL, *ca_key = NULL, *upstream_ca = NULL, *keylog = NULL;
  g_autofree char *record = NULL, *pcap_out = NULL, *user = NULL;
  g_autofree char *dropped = NULL;
  gboolean upstream_insecure = FALSE, keep_cb = FALSE, no_compression = FALSE;
  gboolean record_secrets = FALSE;
  gboolean transparent = FALSE, tproxy = FALSE, keep_source = FALSE;
  gint64 mark = -1;
  g_autofree char *max_inflate = NULL;
  gint max_inflate_ratio = 200;
  gint tls_timeout = 10;
  gint connect_timeout = 10;
  OutputArgs out;
  g_autofree char *description = NULL;
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
    { "transparent", 't', 0, G_OPTION_ARG_NONE, &transparent,
      "Serve connections that a firewall NAT rule redirected to --listen "
      "(iptables REDIRECT/DNAT, nftables redirect/dnat): each goes to its "
      "original destination; no --upstream (see docs/transparent.md)", NULL },
    { "tproxy", 0, 0, G_OPTION_ARG_NONE, &tproxy,
      "Transparent mode with TPROXY rules instead of NAT (needs CAP_NET_ADMIN)",
      NULL },
    { "keep-source", 0, 0, G_OPTION_ARG_NONE, &keep_source,
      "With --tproxy: connect to the server from the client's own address "
      "(needs CAP_NET_ADMIN and a route for the replies)", NULL },
    { "mark", 0, 0, G_OPTION_ARG_INT64, &mark,
      "Set SO_MARK N on upstream connections, so a firewall rule can leave "
      "them alone (needs CAP_NET_ADMIN)", "N" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &user,
      "Started as root: once the listener is bound and the files are open, "
      "run as USER, keeping only CAP_NET_ADMIN for --mark and --keep-source "
      "and no other capability", "USER" },
    { "record", 'w', 0, G_OPTION_ARG_FILENAME, &record,
      "Record every event of every connection to FILE (JSON Lines, mode 0600; "
      "see docs/recording.md); show it with xmitm show FILE", "FILE" },
    { "record-secrets", 0, 0, G_OPTION_ARG_NONE, &record_secrets,
      "Keep passwords and SASL payloads in the recording (redacted by default; "
      "replay can then reuse PLAIN and token logins)", NULL },
    { "pcap", 0, 0, G_OPTION_ARG_FILENAME, &pcap_out,
      "Also write the decrypted, inflated XML streams to FILE as a packet "
      "capture for Wireshark (one TCP connection to port 5222 per plaintext phase)",
      "FILE" },
  };
  g_autoptr (GArray) all = g_array_new (FALSE, FALSE, sizeof (GOptionEntry));
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- relay XMPP and print every stanza");
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) sinks = g_ptr_array_new_with_free_func ((GDestroyNotify) xm_sink_free);
  XmProxyConfig cfg = { 0 };
  XmSink *shown = NULL;
  g_autofree char *lhost = NULL, *uhost = NULL;
  g_autoptr (XmCa) ca = NULL;
  Running r = { 0 };
  guint sigint, sigterm;
  int rc = 0;

  /* A SIGINT or SIGTERM during start-up waits until the handlers are in
   * place (below, after the privilege drop), then stops xmitm the usual
   * way. */
  xm_stop_signals_hold ();

  output_args_init (&out);
  g_array_append_vals (all, entries, G_N_ELEMENTS (entries));
  add_output_entries (all, &out, TRUE);
  end_entries (all);
  g_option_context_add_main_entries (ctx, (GOptionEntry *) all->data, NULL);
  xm_filter_add_options (ctx, &out.filter);
  g_option_context_set_summary (ctx,
    "Sits between an XMPP client and its server: every byte is forwarded\n"
    "unchanged, and a copy of each direction is decoded and printed, one\n"
    "timestamped stanza at a time.");
  description = g_strconcat (
    "Examples:\n"
    "  xmitm proxy --upstream localhost:5222 --listen 127.0.0.1:5223\n"
    "      point the client at 127.0.0.1:5223\n"
    "  xmitm proxy -u [::1]:5222 -l [::1]:5223 --utc --color=never > session.log\n"
    "  xmitm proxy -u xmpp.example.net:5222 --upstream-tls xmpp.example.net:5223\n"
    "      STARTTLS and direct-TLS clients on one port; trust `xmitm ca export`\n"
    "  xmitm proxy -u localhost:5222 -l 127.0.0.1:5223 --record session.jsonl -q\n"
    "      record silently; later: xmitm show session.jsonl\n"
    "  xmitm proxy --transparent --listen 0.0.0.0:15222 --mark 7\n"
    "      with iptables -t nat -A OUTPUT -p tcp --dport 5222 -m mark ! --mark 7\n"
    "      -j REDIRECT --to-ports 15222 (more rules: docs/transparent.md)\n"
    "\n"
    "\n", xm_filter_help (),
    "Filters choose what is printed; --record and --pcap keep every event.\n"
    "\n"
    "Exit status: 0 when stopped by SIGINT/SIGTERM, 1 on a runtime failure,\n"
    "2 on a usage error (bad option or address, listen address in use).\n", NULL);
  g_option_context_set_description (ctx, description);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      rc = usage_error ("%s (see xmitm proxy --help)", error->message);
      goto out;
    }
  if (argc > 1)
    {
      rc = usage_error ("unexpected argument '%s' (see xmitm proxy --help)", argv[1]);
      goto out;
    }
  rc = EXIT_USAGE;
  transparent = transparent || tproxy;
  if (transparent && (upstream || upstream_tls))
    {
      usage_error ("--transparent connects each client to its original "
                   "destination: leave out --upstream and --upstream-tls");
      goto out;
    }
  if (keep_source && !tproxy)
    {
      usage_error ("--keep-source goes with --tproxy");
      goto out;
    }
  if (mark != -1 && (mark < 0 || mark > G_MAXUINT32))
    {
      usage_error ("--mark must be between 0 and 4294967295");
      goto out;
    }
  if (upstream == NULL && !transparent)
    {
      usage_error ("--upstream HOST:PORT is required (see xmitm proxy --help)");
      goto out;
    }
  if (upstream && !xm_parse_hostport (upstream, &uhost, &cfg.upstream_port, &error))
    {
      usage_error ("bad --upstream: %s", error->message);
      goto out;
    }
  if (!xm_parse_hostport (listen ? listen : "127.0.0.1:5222", &lhost,
                          &cfg.listen_port, &error))
    {
      usage_error ("bad --listen: %s", error->message);
      goto out;
    }
  if (upstream_tls
      && !xm_parse_hostport (upstream_tls, &cfg.upstream_tls_host,
                             &cfg.upstream_tls_port, &error))
    {
      usage_error ("bad --upstream-tls: %s", error->message);
      goto out;
    }
  if (connect_timeout <= 0 || tls_timeout <= 0)
    {
      usage_error ("timeouts must be a positive number of seconds");
      goto out;
    }
  cfg.max_stanza = 1024 * 1024;
  if (max_stanza && !parse_size (max_stanza, &cfg.max_stanza))
    {
      usage_error ("bad --max-stanza '%s': a size like 65536, 64k or 1M", max_stanza);
      goto out;
    }
  cfg.max_inflate = 8 * 1024 * 1024;
  if (max_inflate && !parse_size (max_inflate, &cfg.max_inflate))
    {
      usage_error ("bad --max-inflate '%s': a size like 65536, 64k or 8M", max_inflate);
      goto out;
    }
  if (max_inflate_ratio < 2)
    {
      usage_error ("--max-inflate-ratio must be 2 or more");
      goto out;
    }
  if (output_sink (&out, "proxy", &shown) < 0)
    goto out;
  if (shown)
    g_ptr_array_add (sinks, shown);
  rc = 1;
  if (user && !xm_privdrop_check (user, &error))
    {
      g_printerr ("xmitm: %s\n", error->message);
      goto out;
    }
  if (record)
    {
      XmSink *rec = xm_recorder_open (record, "proxy", record_secrets, &error);
      if (rec == NULL)
        {
          g_printerr ("xmitm: --record: %s\n", error->message);
          goto out;
        }
      g_ptr_array_add (sinks, rec);
    }
  if (pcap_out)
    {
      XmSink *pw = xm_pcap_writer_open (pcap_out, record_secrets, &error);
      if (pw == NULL)
        {
          g_printerr ("xmitm: --pcap: %s\n", error->message);
          goto out;
        }
      g_ptr_array_add (sinks, pw);
    }
  cfg.transparent = transparent;
  cfg.tproxy = tproxy;
  cfg.keep_source = keep_source;
  cfg.use_mark = mark != -1;
  cfg.mark = (guint32) mark;
  if (!check_privileges (&cfg))
    goto out;
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
        goto out;
      }
  }
  ca = open_ca (ca_cert, ca_key);
  if (ca == NULL)
    goto out;
  cfg.ca = ca;
  cfg.sinks = sinks;

  r.proxy = xm_proxy_new (&cfg, &error);
  if (r.proxy == NULL)
    {
      if (g_error_matches (error, XM_NET_ERROR, XM_NET_ERROR_PRIVILEGE))
        g_printerr ("xmitm: %s\n", error->message);
      else
        rc = usage_error ("%s (see --listen)", error->message);
      goto out;
    }
  if (user)
    {
      /* Bound and open: from here on xmitm needs no more than this. */
      dropped = xm_privdrop (user, cfg.use_mark || cfg.keep_source, &error);
      if (dropped == NULL)
        {
          g_printerr ("xmitm: %s\n", error->message);
          xm_proxy_free (r.proxy);
          goto out;
        }
    }
  g_printerr ("xmitm: listening on %s, relaying to %s%s%s\n",
              listen ? listen : "127.0.0.1:5222",
              upstream ? upstream
                       : tproxy ? "each connection's original destination (TPROXY)"
                       : "each connection's original destination (NAT redirect)",
              record ? ", recording to " : "", record ? record : "");
  if (dropped)
    g_printerr ("xmitm: %s\n", dropped);

  r.loop = g_main_loop_new (NULL, FALSE);
  sigint = g_unix_signal_add (SIGINT, on_signal, &r);
  sigterm = g_unix_signal_add (SIGTERM, on_signal, &r);
  xm_stop_signals_release ();
  g_main_loop_run (r.loop);

  /* Let closed sessions finish freeing themselves. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_source_remove (sigint);
  g_source_remove (sigterm);
  xm_proxy_free (r.proxy);
  g_main_loop_unref (r.loop);
  rc = 0;
out:
  /* Freeing the sinks flushes and closes the recording. */
  g_clear_pointer (&sinks, g_ptr_array_unref);
  g_free (cfg.upstream_tls_host);
  xm_tls_cleanup ();
  output_args_clear (&out);
  return rc;
}

static void
print_read_warning (const char *message, gpointer data)
{
  g_printerr ("xmitm: %s: %s\n", (const char *) data, message);
}

/* Sends the events of a recording (or a packet capture) to sink. */
static gboolean
read_events (const char *path, XmSink *sink, XmRecordInfo *info, GError **error)
{
  guint8 head[256];
  gsize n = 0;
  FILE *f = fopen (path, "rb");

  memset (info, 0, sizeof *info);
  if (f == NULL)
    {
      int err = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                   "cannot open %s: %s", path, g_strerror (err));
      return FALSE;
    }
  n = fread (head, 1, sizeof head, f);
  fclose (f);
  if (n == 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s is empty: not an xmitm recording or a packet capture", path);
      return FALSE;
    }
  if (xm_capture_sniff (head, n))
    return xm_capture_read (path, sink, error);
  return xm_record_read (path, sink, info, print_read_warning, (gpointer) path, error);
}

static int
cmd_show (int argc, char **argv)
{
  OutputArgs out;
  g_autoptr (GArray) all = g_array_new (FALSE, FALSE, sizeof (GOptionEntry));
  g_autoptr (GOptionContext) ctx = g_option_context_new ("FILE - print a recording or a capture");
  g_autoptr (GError) error = NULL;
  XmSink *sink = NULL;
  XmRecordInfo info;
  g_autofree char *description = NULL;
  int rc = EXIT_USAGE;

  output_args_init (&out);
  add_output_entries (all, &out, FALSE);
  end_entries (all);
  g_option_context_add_main_entries (ctx, (GOptionEntry *) all->data, NULL);
  xm_filter_add_options (ctx, &out.filter);
  g_option_context_set_summary (ctx,
    "Prints a recording (xmitm proxy --record FILE) exactly as xmitm proxy\n"
    "printed it live, with the same options; or a packet capture (pcap or\n"
    "pcapng, from tcpdump or tshark) of cleartext XMPP, its TCP streams\n"
    "reassembled and decoded the same way.");
  description = g_strconcat (
    "Examples:\n"
    "  xmitm show session.jsonl\n"
    "  xmitm show session.jsonl --utc --color=never > session.txt\n"
    "  xmitm show session.jsonl --json | jq -c 'select(.ev == \"stanza\")'\n"
    "  xmitm show session.jsonl --conn 2 --kind iq --ns jabber:iq:roster\n"
    "  tcpdump -i lo -w c.pcap tcp port 5222; xmitm show c.pcap\n"
    "\n", xm_filter_help (), "\n"
    "Exit status: 0 when the file was read (damage inside, such as a last\n"
    "line cut short by a crash, is reported on standard error), 1 when it\n"
    "cannot be read or is neither a recording nor a capture, 2 on a usage\n"
    "error.\n", NULL);
  g_option_context_set_description (ctx, description);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      usage_error ("%s (see xmitm show --help)", error->message);
      goto out;
    }
  if (argc != 2)
    {
      usage_error (argc < 2 ? "say which file to show (see xmitm show --help)"
                            : "show takes one file (see xmitm show --help)");
      goto out;
    }
  if (output_sink (&out, argv[1], &sink) < 0)
    goto out;
  rc = 0;
  if (!read_events (argv[1], sink, &info, &error))
    {
      g_printerr ("xmitm: %s\n", error->message);
      rc = 1;
    }
  else if (out.show_secrets && !info.secrets && info.format_version)
    g_printerr ("xmitm: %s was recorded without --record-secrets: its secrets "
                "were never written, --show-secrets cannot show them\n", argv[1]);
  xm_record_info_clear (&info);
  xm_sink_free (sink);
  if (fflush (stdout) != 0 && rc == 0)
    rc = 1;
out:
  output_args_clear (&out);
  return rc;
}

static int
cmd_export (int argc, char **argv)
{
  g_autofree char *pcap_out = NULL;
  gboolean secrets = FALSE;
  GOptionEntry entries[] = {
    { "pcap", 0, 0, G_OPTION_ARG_FILENAME, &pcap_out,
      "Write a packet capture for Wireshark to OUT (required)", "OUT" },
    { "secrets", 0, 0, G_OPTION_ARG_NONE, &secrets,
      "Keep the secrets a recording made with --record-secrets holds "
      "(redacted by default)", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("--pcap OUT FILE - export a recording");
  g_autoptr (GError) error = NULL;
  XmRecordInfo info;
  XmSink *sink;
  gboolean ok;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_summary (ctx,
    "Writes the XML streams of a recording (or a capture) as a packet\n"
    "capture that Wireshark's XMPP dissector reads: each connection becomes\n"
    "synthetic TCP connections to port 5222, one per plaintext phase (before\n"
    "and after STARTTLS, before and after compression).");
  g_option_context_set_description (ctx,
    "Example:\n"
    "  xmitm export --pcap session.pcap session.jsonl\n"
    "  tshark -r session.pcap -Y xmpp\n");
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return usage_error ("%s (see xmitm export --help)", error->message);
  if (pcap_out == NULL)
    return usage_error ("--pcap OUT is required (see xmitm export --help)");
  if (argc != 2)
    return usage_error ("say which recording to export (see xmitm export --help)");
  sink = xm_pcap_writer_open (pcap_out, secrets, &error);
  if (sink == NULL)
    {
      g_printerr ("xmitm: %s\n", error->message);
      return 1;
    }
  ok = read_events (argv[1], sink, &info, &error);
  xm_sink_free (sink);
  xm_record_info_clear (&info);
  if (!ok)
    {
      g_printerr ("xmitm: %s\n", error->message);
      unlink (pcap_out);
      return 1;
    }
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
    "  show      print a recording or a packet capture like a live session\n"
    "  export    write a recording as a packet capture for Wireshark\n"
    "  replay    replay a recording against a server, as a regression test\n"
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
  /* proxy and replay hold two sockets per connection. */
  xm_raise_fd_limit ();

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
  if (strcmp (argv[1], "show") == 0)
    return cmd_show (argc - 1, argv + 1);
  if (strcmp (argv[1], "export") == 0)
    return cmd_export (argc - 1, argv + 1);
  if (strcmp (argv[1], "ca") == 0)
    return cmd_ca (argc - 1, argv + 1);
  if (strcmp (argv[1], "replay") == 0)
    return xm_replay_main (argc - 1, argv + 1);
  return usage_error ("unknown command '%s' (see xmitm --help)", argv[1]);
}
