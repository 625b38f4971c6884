/* cmd-show.c: xmitm show and xmitm export: a recording or a packet
 * capture, printed as live or written as a capture for Wireshark. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "files.h"
#include "pcap-read.h"
#include "pcap-write.h"
#include "printer.h"
#include "record.h"

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

int
xm_cli_cmd_show (int argc, char **argv)
{
  XmOutputArgs out;
  g_autoptr (GArray) all = g_array_new (FALSE, FALSE, sizeof (GOptionEntry));
  g_autoptr (GOptionContext) ctx = g_option_context_new ("FILE - print a recording or a capture");
  g_autoptr (GError) error = NULL;
  XmSink *sink = NULL;
  XmRecordInfo info;
  g_autofree char *description = NULL;
  int rc = XM_EXIT_USAGE;

  xm_cli_output_args_init (&out);
  xm_cli_add_output_entries (all, &out, FALSE);
  xm_cli_end_entries (all);
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
      xm_cli_usage_error ("%s (see xmitm show --help)", error->message);
      goto out;
    }
  if (argc != 2)
    {
      xm_cli_usage_error (argc < 2 ? "say which file to show (see xmitm show --help)"
                            : "show takes one file (see xmitm show --help)");
      goto out;
    }
  if (xm_cli_output_sink (&out, argv[1], &sink) < 0)
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
  xm_cli_output_args_clear (&out);
  return rc;
}

int
xm_cli_cmd_export (int argc, char **argv)
{
  g_autofree char *pcap_out = NULL;
  g_autofree char *html_out = NULL;
  gboolean secrets = FALSE;
  GOptionEntry entries[] = {
    { "pcap", 0, 0, G_OPTION_ARG_FILENAME, &pcap_out,
      "Write a packet capture for Wireshark to OUT", "OUT" },
    { "html", 0, 0, G_OPTION_ARG_FILENAME, &html_out,
      "Write one self-contained HTML file with the views of xmitm web to OUT "
      "(opens from file://, loads nothing)", "OUT" },
    { "secrets", 0, 0, G_OPTION_ARG_NONE, &secrets,
      "Keep the secrets a recording made with --record-secrets holds "
      "(redacted by default)", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("--pcap OUT | --html OUT FILE - export a recording");
  g_autoptr (GError) error = NULL;
  XmRecordInfo info;
  XmSink *sink;
  gboolean ok;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_summary (ctx,
    "Writes the XML streams of a recording (or a capture) as a packet\n"
    "capture that Wireshark's XMPP dissector reads: each connection becomes\n"
    "synthetic TCP connections to port 5222, one per plaintext phase (before\n"
    "and after STARTTLS, before and after compression). Or writes one HTML\n"
    "file with the views of xmitm web (sessions, stanzas, iq pairing, the\n"
    "sequence diagram) to send along with a bug report (at most 100,000\n"
    "events).");
  g_option_context_set_description (ctx,
    "Example:\n"
    "  xmitm export --pcap session.pcap session.jsonl\n"
    "  tshark -r session.pcap -Y xmpp\n"
    "  xmitm export --html session.html session.jsonl\n");
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return xm_cli_usage_error ("%s (see xmitm export --help)", error->message);
  if (pcap_out == NULL && html_out == NULL)
    return xm_cli_usage_error ("--pcap OUT or --html OUT is required (see xmitm export --help)");
  if (pcap_out && html_out)
    return xm_cli_usage_error ("--pcap and --html: one at a time (see xmitm export --help)");
  if (argc != 2)
    return xm_cli_usage_error ("say which recording to export (see xmitm export --help)");
  if (xm_same_file (pcap_out ? pcap_out : html_out, argv[1]))
    return xm_cli_usage_error ("--%s %s is %s itself: writing it would destroy "
                               "the recording (name another file)",
                               pcap_out ? "pcap" : "html",
                               pcap_out ? pcap_out : html_out, argv[1]);
  if (html_out)
    return xm_cli_export_html (html_out, argv[1], secrets);
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

