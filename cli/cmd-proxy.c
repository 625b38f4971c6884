/* cmd-proxy.c: xmitm proxy: options, the main loop, signals, privileges. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <glib-unix.h>

#include "cli.h"
#include "net.h"
#include "pcap-write.h"
#include "printer.h"
#include "privdrop.h"
#include "proxy.h"
#include "record.h"
#include "tls.h"
#include "web-live.h"
#include "web-server.h"

typedef struct {
  GMainLoop *loop;
  XmProxy *proxy;
  int signals;
} Running;

/* --web takes an optional ADDR:PORT (GOption's optional argument: only
 * as --web=ADDR:PORT, so that a following option is not taken for it). */
static char *web_listen;

static gboolean
on_web_option (const char *name, const char *value, gpointer data, GError **error)
{
  g_free (web_listen);
  web_listen = g_strdup (value && *value ? value : XM_WEB_DEFAULT_LISTEN);
  return TRUE;
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

int
xm_cli_cmd_proxy (int argc, char **argv)
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
  XmOutputArgs out;
  g_autofree char *description = NULL;
  GOptionEntry entries[] = {
    { "listen", 'l', 0, G_OPTION_ARG_STRING, &listen,
      "Accept clients on ADDR:PORT (default 127.0.0.1:5222; IPv6 as [::1]:5222)",
      "ADDR:PORT" },
    { "upstream", 'u', 0, G_OPTION_ARG_STRING, &upstream,
      "Connect each client to the XMPP server at HOST:PORT, or find DOMAIN's "
      "server as a client would: its _xmpps-client._tcp SRV records for clients "
      "that open with TLS, its _xmpp-client._tcp ones (else DOMAIN:5222) for the "
      "others (required)", "HOST:PORT|DOMAIN" },
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
      "Give up on a TLS handshake, or on a client that has sent nothing, after "
      "N seconds (default 10)", "N" },
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
    { "web", 0, G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK, on_web_option,
      "Also serve the sessions live to a browser on ADDR:PORT (default "
      XM_WEB_DEFAULT_LISTEN "; port 0 for any free one): open the URL xmitm "
      "prints (see xmitm web --help)", "ADDR:PORT" },
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
  XmWebLive *live = NULL;
  guint sigint, sigterm, sighup;
  int rc = 0;

  /* A SIGINT, SIGTERM or SIGHUP during start-up waits until the handlers
   * are in place (below, after the privilege drop), then stops xmitm the
   * usual way. */
  xm_stop_signals_hold ();

  xm_cli_output_args_init (&out);
  g_array_append_vals (all, entries, G_N_ELEMENTS (entries));
  xm_cli_add_output_entries (all, &out, TRUE);
  xm_cli_end_entries (all);
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
    "  xmitm proxy -u example.net\n"
    "      the server example.net's SRV records name (RFC 6120 §3.2.1, XEP-0368)\n"
    "  xmitm proxy -u localhost:5222 -l 127.0.0.1:5223 --record session.jsonl -q\n"
    "      record silently; later: xmitm show session.jsonl\n"
    "  xmitm proxy --transparent --listen 0.0.0.0:15222 --mark 7\n"
    "      with iptables -t nat -A OUTPUT -p tcp --dport 5222 -m mark ! --mark 7\n"
    "      -j REDIRECT --to-ports 15222 (more rules: docs/transparent.md)\n"
    "\n"
    "\n", xm_filter_help (),
    "Filters choose what is printed; --record and --pcap keep every event.\n"
    "\n"
    "Exit status: 0 when stopped by SIGINT, SIGTERM or SIGHUP (SIGUSR1 and\n"
    "SIGUSR2 are ignored), 1 on a runtime failure, 2 on a usage error (bad\n"
    "option or address, listen address in use).\n", NULL);
  g_option_context_set_description (ctx, description);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      rc = xm_cli_usage_error ("%s (see xmitm proxy --help)", error->message);
      goto out;
    }
  if (argc > 1)
    {
      rc = xm_cli_usage_error ("unexpected argument '%s' (see xmitm proxy --help)", argv[1]);
      goto out;
    }
  rc = XM_EXIT_USAGE;
  transparent = transparent || tproxy;
  if (transparent && (upstream || upstream_tls))
    {
      xm_cli_usage_error ("--transparent connects each client to its original "
                   "destination: leave out --upstream and --upstream-tls");
      goto out;
    }
  if (keep_source && !tproxy)
    {
      xm_cli_usage_error ("--keep-source goes with --tproxy");
      goto out;
    }
  if (mark != -1 && (mark < 0 || mark > G_MAXUINT32))
    {
      xm_cli_usage_error ("--mark must be between 0 and 4294967295");
      goto out;
    }
  if (upstream == NULL && !transparent)
    {
      xm_cli_usage_error ("--upstream HOST:PORT is required (or a DOMAIN: see xmitm proxy --help)");
      goto out;
    }
  if (upstream && !xm_parse_server (upstream, &uhost, &cfg.upstream_port, &error))
    {
      xm_cli_usage_error ("bad --upstream: %s", error->message);
      goto out;
    }
  if (!xm_parse_hostport (listen ? listen : "127.0.0.1:5222", &lhost,
                          &cfg.listen_port, &error))
    {
      xm_cli_usage_error ("bad --listen: %s", error->message);
      goto out;
    }
  if (upstream_tls
      && !xm_parse_hostport (upstream_tls, &cfg.upstream_tls_host,
                             &cfg.upstream_tls_port, &error))
    {
      xm_cli_usage_error ("bad --upstream-tls: %s", error->message);
      goto out;
    }
  if (connect_timeout <= 0 || tls_timeout <= 0)
    {
      xm_cli_usage_error ("timeouts must be a positive number of seconds");
      goto out;
    }
  cfg.max_stanza = 1024 * 1024;
  if (max_stanza && !xm_cli_parse_size (max_stanza, &cfg.max_stanza))
    {
      xm_cli_usage_error ("bad --max-stanza '%s': a size like 65536, 64k or 1M", max_stanza);
      goto out;
    }
  cfg.max_inflate = 8 * 1024 * 1024;
  if (max_inflate && !xm_cli_parse_size (max_inflate, &cfg.max_inflate))
    {
      xm_cli_usage_error ("bad --max-inflate '%s': a size like 65536, 64k or 8M", max_inflate);
      goto out;
    }
  if (max_inflate_ratio < 2)
    {
      xm_cli_usage_error ("--max-inflate-ratio must be 2 or more");
      goto out;
    }
  if (xm_cli_output_sink (&out, "proxy", &shown) < 0)
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
  ca = xm_cli_open_ca (ca_cert, ca_key);
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
        rc = xm_cli_usage_error ("%s (see --listen)", error->message);
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
  g_printerr ("xmitm: listening on %s, relaying to %s%s%s%s\n",
              listen ? listen : "127.0.0.1:5222",
              upstream ? upstream
                       : tproxy ? "each connection's original destination (TPROXY)"
                       : "each connection's original destination (NAT redirect)",
              upstream && cfg.upstream_port == 0 ? " (found through its SRV records)" : "",
              record ? ", recording to " : "", record ? record : "");
  if (dropped)
    g_printerr ("xmitm: %s\n", dropped);
  if (web_listen)
    {
      /* After the privilege drop: the web thread starts with no more
       * than the proxy keeps. */
      XmPrinterOptions popts;

      xm_printer_options_init (&popts);
      popts.utc = out.utc;
      popts.max_text = out.full_text ? 0 : (gsize) MAX (out.max_text, 0);
      live = xm_web_live_start (web_listen, &popts, out.show_secrets);
      if (live == NULL)
        {
          xm_proxy_free (r.proxy);
          rc = XM_EXIT_USAGE;
          goto out;
        }
      /* the proxy's list (cfg.sinks), before any session reads it */
      g_ptr_array_add (sinks, xm_web_live_sink (live));
      g_printerr ("xmitm: web view on %s\n", xm_web_live_url (live));
    }

  r.loop = g_main_loop_new (NULL, FALSE);
  sigint = g_unix_signal_add (SIGINT, on_signal, &r);
  sigterm = g_unix_signal_add (SIGTERM, on_signal, &r);
  /* The terminal went away (or a service manager's "reload"): stop the
   * same orderly way, so the recording keeps every session's last lines. */
  sighup = g_unix_signal_add (SIGHUP, on_signal, &r);
  xm_stop_signals_release ();
  g_main_loop_run (r.loop);

  /* Let closed sessions finish freeing themselves. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_source_remove (sigint);
  g_source_remove (sigterm);
  g_source_remove (sighup);
  xm_proxy_free (r.proxy);
  g_main_loop_unref (r.loop);
  rc = 0;
out:
  /* Freeing the sinks flushes and closes the recording. */
  g_clear_pointer (&sinks, g_ptr_array_unref);
  xm_web_live_stop (live);
  g_clear_pointer (&web_listen, g_free);
  g_free (cfg.upstream_tls_host);
  xm_tls_cleanup ();
  xm_cli_output_args_clear (&out);
  return rc;
}

