/* replay-cli.c: xmitm replay's command line (options, credentials, the
 * password kept off the command line) and its JUnit report. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib-unix.h>

#include "files.h"
#include "net.h"
#include "password.h"
#include "privdrop.h"
#include "replay.h"
#include "replay-private.h"
#include "peer-index.h"



/* ---- --junit ---- */

static void
xml_text (GString *out, const char *s)
{
  g_autofree char *e = g_markup_escape_text (s, -1);
  g_string_append (out, e);
}

/* Writes the report to fd, opened (and truncated) at the start: with
 * --user, before the privilege drop. */
gboolean
xm_replay_write_junit (Replay *r, int fd, const char *path, double seconds, GError **error)
{
  GString *x = g_string_new ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  guint tests = 0, failures = 0, errors = 0;
  gboolean ok = TRUE;
  int err;

  /* --serve's HTTP connections carry BOSH sessions' requests: the
   * sessions are the test cases (closed carriers are freed early) */
  for (guint k = 0; k < r->conns->len; k++)
    {
      Conn *c = r->conns->pdata[k];
      if (c->bosh_carrier)
        continue;
      tests++;
      if (c->error)
        errors++;
      else if (c->differences)
        failures++;
    }
  g_string_append_printf (x, "<testsuites name=\"xmitm replay\" tests=\"%u\" "
                          "failures=\"%u\" errors=\"%u\" time=\"%.3f\">\n",
                          tests, failures, errors, seconds);
  g_string_append (x, "  <testsuite name=\"");
  xml_text (x, r->script->path);
  g_string_append_printf (x, "\" tests=\"%u\" failures=\"%u\" errors=\"%u\" "
                          "time=\"%.3f\">\n", tests, failures, errors, seconds);
  for (guint k = 0; k < r->conns->len; k++)
    {
      Conn *c = r->conns->pdata[k];
      if (c->bosh_carrier)
        continue;
      g_string_append (x, "    <testcase classname=\"xmitm.replay\" name=\"");
      xml_text (x, c->label);
      g_string_append (x, "\">\n");
      if (c->error)
        {
          g_string_append (x, "      <error type=\"error\" message=\"");
          xml_text (x, c->error);
          g_string_append (x, "\"/>\n");
        }
      else if (c->differences)
        {
          g_string_append_printf (x, "      <failure type=\"difference\" "
                                  "message=\"%u difference%s from the recording\">",
                                  c->differences, c->differences == 1 ? "" : "s");
          xml_text (x, c->report->str);
          g_string_append (x, "</failure>\n");
        }
      g_string_append (x, "    </testcase>\n");
    }
  g_string_append (x, "  </testsuite>\n</testsuites>\n");
  err = xm_write_all (fd, x->str, x->len);
  if (err)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err),
                   "cannot write %s: %s", path, g_strerror (err));
      ok = FALSE;
    }
  g_string_free (x, TRUE);
  return ok;
}

/* ---- command line ---- */

static G_GNUC_PRINTF (1, 2) int
usage_error (const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_printerr ("xmitm: replay: %s\n", msg);
  return XM_REPLAY_ERROR;
}

/* One "JID PASSWORD" per line; '#' starts a comment line. */
static GHashTable *
load_credentials (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  GHashTable *t;

  if (!g_file_get_contents (path, &text, NULL, error))
    return NULL;
  t = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      char *l = g_strchomp (lines[i]);
      char *sp;

      while (*l == ' ' || *l == '\t')
        l++;
      if (*l == '\0' || *l == '#')
        continue;
      sp = strpbrk (l, " \t");
      if (sp == NULL)
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                       "%s line %u: say 'JID PASSWORD'", path, i + 1);
          g_hash_table_unref (t);
          return NULL;
        }
      *sp++ = '\0';
      while (*sp == ' ' || *sp == '\t')
        sp++;
      g_hash_table_replace (t, g_strdup (l), g_strdup (sp));
    }
  return t;
}

int
xm_replay_main (int argc, char **argv)
{
  g_autofree char *server = NULL, *password = NULL, *credentials = NULL;
  g_autofree char *password_file = NULL;
  g_autofree char *tls = NULL, *upstream_ca = NULL, *pace = NULL, *junit = NULL;
  g_autofree char *transport = NULL, *path = NULL;
  g_auto (GStrv) ignore = NULL;
  gboolean insecure = FALSE, verbose = FALSE, serve = FALSE;
  g_autofree char *listen = NULL, *ca_cert = NULL, *ca_key = NULL, *user = NULL;
  gint timeout = 5;
  GOptionEntry entries[] = {
    { "server", 's', 0, G_OPTION_ARG_STRING, &server,
      "Replay the client side against the XMPP server at HOST:PORT, or DOMAIN's "
      "server as its SRV records name it (_xmpps-client._tcp and _xmpp-client._tcp "
      "merged by priority for a recording that used TLS, else DOMAIN:5222) "
      "(required)", "HOST:PORT|DOMAIN" },
    { "password", 'p', 0, G_OPTION_ARG_STRING, &password,
      "The password of the recorded account(s): SCRAM, DIGEST-MD5 and PLAIN are "
      "computed anew (without it, only a PLAIN or token login recorded with "
      "--record-secrets can be reused). Other users see the command line "
      "(ps): prefer --password-file or XMITM_PASSWORD", "PW" },
    { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file,
      "Read the password from the first line of FILE ('-': standard input)",
      "FILE" },
    { "credentials", 0, 0, G_OPTION_ARG_FILENAME, &credentials,
      "Passwords of several accounts: one 'JID PASSWORD' per line", "FILE" },
    { "tls", 0, 0, G_OPTION_ARG_STRING, &tls,
      "auto (as recorded, default), starttls, direct (XEP-0368) or none", "MODE" },
    { "transport", 0, 0, G_OPTION_ARG_STRING, &transport,
      "auto (as recorded, default), tcp, ws (XMPP over WebSocket, RFC 7395, "
      "to the server's HTTP port; with --tls direct, wss) or bosh (XEP-0206; "
      "with --tls direct, https)", "TRANSPORT" },
    { "path", 0, 0, G_OPTION_ARG_STRING, &path,
      "With ws or bosh: the endpoint's path (default: as recorded, or "
      "/xmpp-websocket and /http-bind)", "PATH" },
    { "upstream-ca", 0, 0, G_OPTION_ARG_FILENAME, &upstream_ca,
      "Also trust this CA (PEM) when verifying the server's certificate", "FILE" },
    { "upstream-insecure", 0, 0, G_OPTION_ARG_NONE, &insecure,
      "Do not verify the server's certificate", NULL },
    { "pace", 0, 0, G_OPTION_ARG_STRING, &pace,
      "iq (default: wait for each iq's answer, and for what other connections "
      "received before), recorded (also keep the recorded gaps) or fast", "PACE" },
    { "ignore", 'i', 0, G_OPTION_ARG_STRING_ARRAY, &ignore,
      "Leave what XPATH selects out of the comparison (repeatable), e.g. "
      "//delay, /message/body, //item/@name, //query[@xmlns='jabber:iq:version']",
      "XPATH" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout,
      "Call a server stanza missing after N seconds without progress; give up "
      "connecting or negotiating after N seconds (default 5)", "N" },
    { "junit", 0, 0, G_OPTION_ARG_FILENAME, &junit,
      "Also write a JUnit XML xm_replay_report (a test case per connection) to FILE "
      "(mode 0600, created at the start)", "FILE" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
      "Print every stanza sent and received", NULL },
    { "serve", 0, 0, G_OPTION_ARG_NONE, &serve,
      "Play the recorded server to clients instead (see below)", NULL },
    { "listen", 'l', 0, G_OPTION_ARG_STRING, &listen,
      "With --serve: accept clients on ADDR:PORT (default 127.0.0.1:5222)",
      "ADDR:PORT" },
    { "ca-cert", 0, 0, G_OPTION_ARG_FILENAME, &ca_cert,
      "With --serve: sign the STARTTLS certificate with this CA instead of "
      "xmitm's own", "FILE" },
    { "ca-key", 0, 0, G_OPTION_ARG_FILENAME, &ca_key, "The key of --ca-cert", "FILE" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &user,
      "With --serve, started as root: once the listener is bound and the "
      "files are open, run as USER with no capability", "USER" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("FILE - replay a recording against a server");
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func ((GDestroyNotify) xm_canon_path_free);
  XmReplayOptions opts = { 0 };
  g_autofree char *host = NULL, *listen_host = NULL;
  int rc;

  xm_stop_signals_hold ();
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_summary (ctx,
    "Replays the client side of a recording (xmitm proxy --record FILE),\n"
    "or of a packet capture of cleartext XMPP (pcap, pcapng),\n"
    "against a server: every recorded connection is opened anew,\n"
    "authenticated again, its client stanzas sent in recorded order, and what\n"
    "the server sends is compared with what it sent then. Stream ids, SASL\n"
    "nonces, ids the server chose, bound resources, delay stamps, XEP-0359\n"
    "and MAM ids, caps hashes do not count; nor do attribute order,\n"
    "namespace prefixes, the order of children, or the order in which\n"
    "presences arrive between two other stanzas (anything else must come\n"
    "in recorded order).");
  g_option_context_set_description (ctx,
    "Examples:\n"
    "  xmitm replay session.jsonl --server localhost:5222 --password secret\n"
    "  xmitm replay session.jsonl --server example.net --password secret\n"
    "      example.net's server, found through DNS as a client finds it\n"
    "  xmitm replay session.jsonl --server xmpp.example.net:5222 \\\n"
    "      --credentials accounts.txt --ignore //item/@name --junit replay.xml\n"
    "\n"
    "The command line, --password included, is visible to every user of the\n"
    "machine (ps, /proc): give the password with --password-file FILE, or\n"
    "--password-file - on standard input, or in the environment variable\n"
    "XMITM_PASSWORD (used when neither option is given).\n"
    "  xmitm replay session.jsonl --server localhost:5222 --password-file pw.txt\n"
    "\n"
    "Server pings (XEP-0199) and XEP-0198 acknowledgement requests are\n"
    "answered live and not compared.\n"
    "\n"
    "--serve plays the recorded server to a client under test (or several):\n"
    "the same stream features (less SCRAM-*-PLUS and XEP-0440: no channel\n"
    "binding), STARTTLS with xmitm's CA (xmitm ca export),\n"
    "its login accepted (SCRAM needs the password: the client checks the\n"
    "server's signature), bind answered with the recorded JID, and each\n"
    "client stanza answered with the server stanzas that followed it in the\n"
    "recording; the client's stanzas are compared the same way. The account\n"
    "a client logs in as picks the recorded connection it plays. It exits\n"
    "once every recorded connection has been played, or nothing happened for\n"
    "--timeout seconds (60 before the first client).\n"
    "  xmitm replay session.jsonl --serve --listen 127.0.0.1:5223 --password secret\n"
    "  xmitm replay /root/s.jsonl --serve --password secret --user nobody \\\n"
    "      --junit /root/serve.xml\n"
    "      as root: listens, reads the recording and the CA, creates the\n"
    "      report, then runs as nobody (no capability) and writes it at the end\n"
    "\n"
    "Exit status: 0 when the server behaved as recorded, 1 on a difference,\n"
    "2 on an error (bad file or option, unreachable server, authentication\n"
    "failed, --user not root or unknown, stopped by SIGINT, SIGTERM or SIGHUP).\n");
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return usage_error ("%s (see xmitm replay --help)", error->message);
  if (argc != 2)
    return usage_error (argc < 2 ? "say which recording to replay (see xmitm replay --help)"
                                 : "replay takes one recording (see xmitm replay --help)");
  if (serve)
    {
      if (server)
        return usage_error ("--serve plays the server: leave out --server");
      if (!xm_parse_hostport (listen ? listen : "127.0.0.1:5222", &listen_host,
                              &opts.listen_port, &error))
        return usage_error ("bad --listen: %s", error->message);
      opts.listen_host = listen_host;
      opts.serve = TRUE;
    }
  else if (listen || ca_cert || ca_key || user)
    return usage_error ("--listen, --ca-cert, --ca-key and --user go with --serve");
  else if (server == NULL)
    return usage_error ("--server HOST:PORT is required (or a DOMAIN: see xmitm replay --help)");
  else if (!xm_parse_server (server, &host, &opts.port, &error))
    return usage_error ("bad --server: %s", error->message);
  opts.host = host ? host : listen_host;
  opts.tls = XM_TLS_MODE_AUTO;
  if (tls)
    {
      static const char *const modes[] = { "auto", "starttls", "direct", "none" };
      int m = -1;
      for (int i = 0; i < 4; i++)
        if (strcmp (tls, modes[i]) == 0)
          m = i;
      if (m < 0)
        return usage_error ("bad --tls '%s': use auto, starttls, direct or none", tls);
      opts.tls = m;
    }
  opts.transport = XM_TRANSPORT_AUTO;
  if (transport)
    {
      if (strcmp (transport, "auto") == 0)
        opts.transport = XM_TRANSPORT_AUTO;
      else if (strcmp (transport, "tcp") == 0)
        opts.transport = XM_TRANSPORT_TCP;
      else if (strcmp (transport, "ws") == 0)
        opts.transport = XM_TRANSPORT_WS;
      else if (strcmp (transport, "bosh") == 0)
        opts.transport = XM_TRANSPORT_BOSH;
      else
        return usage_error ("bad --transport '%s': use auto, tcp, ws or bosh", transport);
    }
  if (path && !xm_http_path_ok (path, strlen (path)))
    return usage_error ("bad --path '%s': a path starting with /, printable "
                        "ASCII without spaces", path);
  opts.path = path;
  opts.pace = XM_PACE_IQ;
  if (pace && !xm_pace_parse (pace, &opts.pace))
    return usage_error ("bad --pace '%s': use iq, recorded or fast", pace);
  if (timeout <= 0)
    return usage_error ("--timeout must be a positive number of seconds");
  opts.timeout_s = timeout;
  for (char **x = ignore; x && *x; x++)
    {
      XmCanonPath *p = xm_canon_path_parse (*x, &error);
      if (p == NULL)
        return usage_error ("%s", error->message);
      g_ptr_array_add (paths, p);
    }
  opts.ignore = paths;
  /* Before anything is opened. */
  if (user && !xm_privdrop_check (user, &error))
    {
      g_printerr ("xmitm: %s\n", error->message);
      return XM_REPLAY_ERROR;
    }
  opts.user = user;
  if (credentials)
    {
      opts.credentials = load_credentials (credentials, &error);
      if (opts.credentials == NULL)
        return usage_error ("--credentials: %s", error->message);
    }
  if (password && password_file)
    {
      g_clear_pointer (&opts.credentials, g_hash_table_unref);
      return usage_error ("give --password or --password-file, not both");
    }
  if (password_file)
    {
      password = xm_password_read (password_file, &error);
      if (password == NULL)
        {
          g_clear_pointer (&opts.credentials, g_hash_table_unref);
          return usage_error ("--password-file: %s", error->message);
        }
    }
  else if (password == NULL && g_getenv ("XMITM_PASSWORD")
           && *g_getenv ("XMITM_PASSWORD"))
    password = g_strdup (g_getenv ("XMITM_PASSWORD"));
  opts.password = password;
  opts.verbose = verbose;
  opts.junit = junit;

  {
    XmTlsConfig tcfg = { .insecure = insecure, .upstream_ca = upstream_ca,
                         .keylog = g_getenv ("SSLKEYLOGFILE") };
    if (tcfg.keylog && *tcfg.keylog == '\0')
      tcfg.keylog = NULL;
    if (!xm_tls_init (&tcfg, &error))
      {
        g_clear_pointer (&opts.credentials, g_hash_table_unref);
        return usage_error ("%s", error->message);
      }
  }
  if (serve)
    {
      g_autofree char *dir = NULL, *dcert = NULL, *dkey = NULL;

      if ((ca_cert == NULL) != (ca_key == NULL))
        {
          xm_tls_cleanup ();
          g_clear_pointer (&opts.credentials, g_hash_table_unref);
          return usage_error ("--ca-cert and --ca-key go together");
        }
      if (ca_cert == NULL)
        {
          dir = xm_ca_default_dir ();
          dcert = g_build_filename (dir, "ca.pem", NULL);
          dkey = g_build_filename (dir, "ca-key.pem", NULL);
        }
      opts.ca = xm_ca_open (ca_cert ? ca_cert : dcert, ca_key ? ca_key : dkey,
                            ca_cert == NULL, &error);
      if (opts.ca == NULL)
        {
          xm_tls_cleanup ();
          g_clear_pointer (&opts.credentials, g_hash_table_unref);
          return usage_error ("cannot use the CA: %s", error->message);
        }
    }
  rc = xm_replay_run (argv[1], &opts);
  g_clear_pointer (&opts.ca, xm_ca_free);
  xm_tls_cleanup ();
  g_clear_pointer (&opts.credentials, g_hash_table_unref);
  return rc;
}
