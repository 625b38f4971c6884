/* cmd-ca.c: xmitm ca path|export. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

int
xm_cli_cmd_ca (int argc, char **argv)
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
    return xm_cli_usage_error ("%s (see xmitm ca --help)", error->message);
  if (argc != 2 || (strcmp (argv[1], "path") != 0 && strcmp (argv[1], "export") != 0))
    return xm_cli_usage_error ("say 'xmitm ca path' or 'xmitm ca export' (see xmitm ca --help)");
  ca = xm_cli_open_ca (ca_cert, ca_key);
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

