/* privdrop.c: see privdrop.h. Capabilities through libcap, the maintained
 * interface to the kernel's capability sets. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "privdrop.h"

G_DEFINE_QUARK (xm-privdrop-error-quark, xm_privdrop_error)

static gboolean
fail (GError **error, const char *what)
{
  int err = errno;

  g_set_error (error, XM_PRIVDROP_ERROR, 0, "--user: %s: %s", what,
               g_strerror (err));
  return FALSE;
}

gboolean
xm_privdrop_check (const char *user, GError **error)
{
  if (geteuid () != 0)
    {
      g_set_error (error, XM_PRIVDROP_ERROR, 0, "--user drops root's "
                   "privileges, but xmitm is not running as root (uid %u); "
                   "start it as root, or leave out --user", (guint) geteuid ());
      return FALSE;
    }
  errno = 0;
  if (getpwnam (user) == NULL)
    {
      if (errno)
        return fail (error, "cannot look up the user");
      g_set_error (error, XM_PRIVDROP_ERROR, 0, "--user: there is no user "
                   "'%s' on this system", user);
      return FALSE;
    }
  return TRUE;
}

/* Threads of this process: capabilities are per thread, so a drop made
 * with more than one would leave the others privileged. */
static guint
thread_count (void)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  guint n = 0;

  if (dir == NULL)
    return 1;
  while (g_dir_read_name (dir))
    n++;
  return n;
}

char *
xm_privdrop (const char *user, gboolean keep_net_admin, GError **error)
{
  static const cap_value_t net_admin[] = { CAP_NET_ADMIN };
  struct passwd *pw;
  g_autofree char *name = NULL;
  uid_t uid;
  gid_t gid;
  cap_t caps;
  char *text;
  g_autofree char *have = NULL;
  const char *want = keep_net_admin ? "cap_net_admin=ep" : "=";
  guint threads = thread_count ();

  if (threads != 1)
    {
      g_set_error (error, XM_PRIVDROP_ERROR, 0, "--user: xmitm already runs "
                   "%u threads; capabilities would stay with the others",
                   threads);
      return NULL;
    }
  if (!xm_privdrop_check (user, error))
    return NULL;
  pw = getpwnam (user);
  name = g_strdup (pw->pw_name);
  uid = pw->pw_uid;
  gid = pw->pw_gid;

  /* The bounding set first, while CAP_SETPCAP is still effective: nothing
   * beyond what is kept can come back, not even through an exec. */
  for (cap_value_t c = 0; c < (cap_value_t) cap_max_bits (); c++)
    if (!(keep_net_admin && c == CAP_NET_ADMIN) && CAP_IS_SUPPORTED (c)
        && cap_drop_bound (c) != 0)
      {
        fail (error, "cannot drop capabilities from the bounding set");
        return NULL;
      }
  /* Keep the permitted set across setuid only if something is kept. */
  if (prctl (PR_SET_KEEPCAPS, keep_net_admin ? 1L : 0L, 0L, 0L, 0L) != 0)
    {
      fail (error, "prctl(PR_SET_KEEPCAPS)");
      return NULL;
    }
  if (initgroups (name, gid) != 0)
    {
      fail (error, "cannot take the user's groups");
      return NULL;
    }
  if (setresgid (gid, gid, gid) != 0)
    {
      fail (error, "cannot change the group id");
      return NULL;
    }
  if (setresuid (uid, uid, uid) != 0)
    {
      fail (error, "cannot change the user id");
      return NULL;
    }
  prctl (PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);

  /* Exactly what is kept: effective and permitted, nothing inheritable,
   * no ambient capability, and no way to gain any through an exec. */
  caps = cap_init ();
  if (caps == NULL)
    {
      fail (error, "cap_init");
      return NULL;
    }
  if (keep_net_admin
      && (cap_set_flag (caps, CAP_PERMITTED, 1, net_admin, CAP_SET) != 0
          || cap_set_flag (caps, CAP_EFFECTIVE, 1, net_admin, CAP_SET) != 0))
    {
      cap_free (caps);
      fail (error, "cap_set_flag");
      return NULL;
    }
  if (cap_set_proc (caps) != 0)
    {
      cap_free (caps);
      fail (error, "cannot set the capabilities");
      return NULL;
    }
  cap_free (caps);
  if (CAP_AMBIENT_SUPPORTED () && cap_reset_ambient () != 0)
    {
      fail (error, "cannot clear the ambient capabilities");
      return NULL;
    }
  if (prctl (PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0)
    {
      fail (error, "prctl(PR_SET_NO_NEW_PRIVS)");
      return NULL;
    }

  /* Check it: root cannot come back, and only what is kept is there. */
  if (setuid (0) == 0 || seteuid (0) == 0 || setgid (0) == 0
      || getuid () != uid || geteuid () != uid
      || getgid () != gid || getegid () != gid)
    {
      g_set_error (error, XM_PRIVDROP_ERROR, 0, "--user: the drop to %s did "
                   "not hold (root could be regained)", name);
      return NULL;
    }
  caps = cap_get_proc ();
  text = caps ? cap_to_text (caps, NULL) : NULL;
  have = g_strdup (text ? text : "?");
  cap_free (text);
  cap_free (caps);
  if (strcmp (have, want) != 0)
    {
      g_set_error (error, XM_PRIVDROP_ERROR, 0, "--user: capabilities after "
                   "the drop are '%s', not '%s'", have, want);
      return NULL;
    }
  return g_strdup_printf ("running as user %s (uid %u, gid %u); capabilities "
                          "kept: %s", name, (guint) uid, (guint) gid,
                          keep_net_admin
                            ? "CAP_NET_ADMIN (for --mark and --keep-source)"
                            : "none");
}

static void
stop_signals_mask (int how)
{
  sigset_t set;

  sigemptyset (&set);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGHUP);
  pthread_sigmask (how, &set, NULL);
}

void
xm_stop_signals_hold (void)
{
  stop_signals_mask (SIG_BLOCK);
}

void
xm_stop_signals_release (void)
{
  stop_signals_mask (SIG_UNBLOCK);
}
