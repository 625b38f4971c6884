/* main.c: the command table (tmux's cmd_table[] is the model): each
 * command is a file of its own, found here by name. */
#include "config.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "net.h"
#include "replay.h"

typedef struct {
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv);
} XmCommand;

static int
cmd_version (int argc, char **argv)
{
  printf ("xmitm %s\n", XMITM_VERSION);
  return 0;
}

static const XmCommand commands[] = {
  { "proxy", "relay XMPP between clients and a server, printing every stanza",
    xm_cli_cmd_proxy },
  { "show", "print a recording or a packet capture like a live session",
    xm_cli_cmd_show },
  { "web", "browse recordings and captures in a web browser",
    xm_cli_cmd_web },
  { "export", "write a recording as a packet capture, or as one HTML file",
    xm_cli_cmd_export },
  { "replay", "replay a recording against a server, as a regression test",
    xm_replay_main },
  { "ca", "where xmitm's CA is, and its certificate to trust in clients",
    xm_cli_cmd_ca },
  { "version", "print the version", cmd_version },
};

static void
print_usage (FILE *out)
{
  fprintf (out,
    "Usage: xmitm COMMAND [OPTION...]\n"
    "\n"
    "A man-in-the-middle debugging proxy for XMPP.\n"
    "\n"
    "Commands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-9s %s\n", commands[i].name, commands[i].summary);
  fprintf (out,
    "\n"
    "Run 'xmitm COMMAND --help' for the options of a command.\n");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  signal (SIGPIPE, SIG_IGN);
  /* Sent by mistake or by a tool probing for a reload, these would end
   * xmitm without its orderly close (sessions, recording): they mean
   * nothing to it. SIGHUP stops the proxy like SIGTERM (cmd-proxy.c). */
  signal (SIGUSR1, SIG_IGN);
  signal (SIGUSR2, SIG_IGN);
  /* proxy and replay hold two sockets per connection. */
  xm_raise_fd_limit ();

  if (argc < 2)
    {
      print_usage (stderr);
      return XM_EXIT_USAGE;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0
      || strcmp (argv[1], "help") == 0)
    {
      print_usage (stdout);
      return 0;
    }
  if (strcmp (argv[1], "--version") == 0)
    return cmd_version (argc - 1, argv + 1);
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  return xm_cli_usage_error ("unknown command '%s' (see xmitm --help)", argv[1]);
}
