/* net.c: see net.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "net.h"

G_DEFINE_QUARK (xm-net-error-quark, xm_net_error)

gboolean
xm_parse_hostport (const char *s, char **host, guint16 *port, GError **error)
{
  const char *colon;
  g_autofree char *h = NULL;
  guint64 p;
  char *end;

  if (s == NULL || *s == '\0')
    {
      g_set_error (error, XM_NET_ERROR, XM_NET_ERROR_ADDRESS, "empty address");
      return FALSE;
    }
  if (s[0] == '[')
    {
      const char *close = strchr (s, ']');
      if (close == NULL || close[1] != ':')
        {
          g_set_error (error, XM_NET_ERROR, XM_NET_ERROR_ADDRESS,
                       "'%s' is not [IPv6]:PORT", s);
          return FALSE;
        }
      h = g_strndup (s + 1, close - s - 1);
      colon = close + 1;
    }
  else
    {
      colon = strrchr (s, ':');
      if (colon == NULL)
        {
          g_set_error (error, XM_NET_ERROR, XM_NET_ERROR_ADDRESS,
                       "'%s' has no port: use HOST:PORT", s);
          return FALSE;
        }
      if (memchr (s, ':', colon - s))
        {
          g_set_error (error, XM_NET_ERROR, XM_NET_ERROR_ADDRESS,
                       "'%s': write IPv6 addresses in brackets, [ADDR]:PORT", s);
          return FALSE;
        }
      h = g_strndup (s, colon - s);
    }
  if (*h == '\0')
    {
      g_set_error (error, XM_NET_ERROR, XM_NET_ERROR_ADDRESS,
                   "'%s' has no host", s);
      return FALSE;
    }
  errno = 0;
  p = g_ascii_strtoull (colon + 1, &end, 10);
  if (colon[1] == '\0' || *end != '\0' || errno || p == 0 || p > 65535)
    {
      g_set_error (error, XM_NET_ERROR, XM_NET_ERROR_ADDRESS,
                   "'%s': the port must be a number from 1 to 65535", s);
      return FALSE;
    }
  *host = g_steal_pointer (&h);
  *port = (guint16) p;
  return TRUE;
}

/* Letters, digits and '-' in labels of 1 to 63 (RFC 1035 §2.3.1). */
static gboolean
is_dns_name (const char *name)
{
  gsize label = 0;

  for (const char *p = name;; p++)
    {
      if (*p == '.' || *p == '\0')
        {
          if (label == 0 || label > 63)
            return FALSE;
          if (*p == '\0')
            return TRUE;
          label = 0;
        }
      else if (g_ascii_isalnum (*p) || *p == '-')
        label++;
      else
        return FALSE;
    }
}

gboolean
xm_parse_server (const char *s, char **host, guint16 *port, GError **error)
{
  g_autofree char *ascii = NULL;

  if (s == NULL || *s == '\0' || strchr (s, ':') || s[0] == '[')
    return xm_parse_hostport (s, host, port, error);
  if (g_hostname_is_ip_address (s))
    {
      g_set_error (error, XM_NET_ERROR, XM_NET_ERROR_ADDRESS,
                   "'%s' has no port: an address needs ADDR:PORT (a domain "
                   "alone is found through its SRV records)", s);
      return FALSE;
    }
  ascii = g_hostname_to_ascii (s);
  if (ascii && *ascii && ascii[strlen (ascii) - 1] == '.')
    ascii[strlen (ascii) - 1] = '\0'; /* the root's dot: the same domain */
  if (ascii && !is_dns_name (ascii))
    g_clear_pointer (&ascii, g_free);
  if (ascii == NULL)
    {
      g_set_error (error, XM_NET_ERROR, XM_NET_ERROR_ADDRESS,
                   "'%s' is neither HOST:PORT nor a domain name", s);
      return FALSE;
    }
  *host = g_steal_pointer (&ascii);
  *port = 0;
  return TRUE;
}

char *
xm_hostport_to_string (const char *host, guint16 port)
{
  if (strchr (host, ':'))
    return g_strdup_printf ("[%s]:%u", host, port);
  return g_strdup_printf ("%s:%u", host, port);
}

char *
xm_sockaddr_to_string (const struct sockaddr *sa)
{
  char buf[INET6_ADDRSTRLEN];

  if (sa->sa_family == AF_INET)
    {
      const struct sockaddr_in *in = (const struct sockaddr_in *) sa;
      inet_ntop (AF_INET, &in->sin_addr, buf, sizeof buf);
      return g_strdup_printf ("%s:%u", buf, ntohs (in->sin_port));
    }
  if (sa->sa_family == AF_INET6)
    {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;
      inet_ntop (AF_INET6, &in6->sin6_addr, buf, sizeof buf);
      return g_strdup_printf ("[%s]:%u", buf, ntohs (in6->sin6_port));
    }
  return g_strdup ("(unknown address family)");
}

guint64
xm_raise_fd_limit (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) != 0)
    return 0;
  if (rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      if (setrlimit (RLIMIT_NOFILE, &rl) != 0)
        getrlimit (RLIMIT_NOFILE, &rl);
    }
  return rl.rlim_cur == RLIM_INFINITY ? G_MAXUINT64 : (guint64) rl.rlim_cur;
}

void
xm_socket_setup (int fd)
{
  int one = 1;
  int fl = fcntl (fd, F_GETFL);

  fcntl (fd, F_SETFL, fl | O_NONBLOCK);
  fcntl (fd, F_SETFD, FD_CLOEXEC);
  /* Forward each chunk at once: xmitm must not add latency. */
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void
xm_sockaddr_host_port (const struct sockaddr *sa, char **host, guint16 *port)
{
  char buf[INET6_ADDRSTRLEN] = "";

  if (sa->sa_family == AF_INET6)
    {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;
      inet_ntop (AF_INET6, &in6->sin6_addr, buf, sizeof buf);
      *port = ntohs (in6->sin6_port);
    }
  else
    {
      const struct sockaddr_in *in = (const struct sockaddr_in *) sa;
      inet_ntop (AF_INET, &in->sin_addr, buf, sizeof buf);
      *port = ntohs (in->sin_port);
    }
  *host = g_strdup (buf);
}

/* IPv4 address and port of sa, unmapping ::ffff:a.b.c.d. */
static gboolean
as_v4 (const struct sockaddr *sa, guint32 *addr, guint16 *port)
{
  if (sa->sa_family == AF_INET)
    {
      const struct sockaddr_in *in = (const struct sockaddr_in *) sa;
      *addr = in->sin_addr.s_addr;
      *port = in->sin_port;
      return TRUE;
    }
  if (sa->sa_family == AF_INET6
      && IN6_IS_ADDR_V4MAPPED (&((const struct sockaddr_in6 *) sa)->sin6_addr))
    {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;
      memcpy (addr, in6->sin6_addr.s6_addr + 12, 4);
      *port = in6->sin6_port;
      return TRUE;
    }
  return FALSE;
}

gboolean
xm_sockaddr_equal (const struct sockaddr *a, const struct sockaddr *b)
{
  guint32 a4, b4;
  guint16 ap, bp;

  if (as_v4 (a, &a4, &ap) && as_v4 (b, &b4, &bp))
    return a4 == b4 && ap == bp;
  if (a->sa_family == AF_INET6 && b->sa_family == AF_INET6)
    {
      const struct sockaddr_in6 *x = (const struct sockaddr_in6 *) a;
      const struct sockaddr_in6 *y = (const struct sockaddr_in6 *) b;
      return x->sin6_port == y->sin6_port
             && memcmp (&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
  return FALSE;
}

/* From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>,
 * which do not mix with the libc headers. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

gboolean
xm_original_destination (int fd, gboolean tproxy, struct sockaddr_storage *dest,
                         GError **error)
{
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  int err = 0;

  if (getsockname (fd, (struct sockaddr *) &local, &len) != 0)
    {
      g_set_error (error, XM_NET_ERROR, XM_NET_ERROR_NOT_REDIRECTED,
                   "cannot read the connection's local address: %s", g_strerror (errno));
      return FALSE;
    }
  if (tproxy)
    {
      /* TPROXY delivers the connection with its destination intact. */
      *dest = local;
      return TRUE;
    }
  len = sizeof *dest;
  memset (dest, 0, sizeof *dest);
  if (local.ss_family == AF_INET6
      && !IN6_IS_ADDR_V4MAPPED (&((struct sockaddr_in6 *) &local)->sin6_addr))
    {
      if (getsockopt (fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, dest, &len) != 0)
        {
          err = errno;
          goto none;
        }
    }
  else
    {
      struct sockaddr_in *in = (struct sockaddr_in *) dest;
      len = sizeof *in;
      if (getsockopt (fd, SOL_IP, SO_ORIGINAL_DST, in, &len) != 0)
        {
          err = errno;
          goto none;
        }
    }
  /* A conntrack entry without NAT gives back the address it came to. */
  if (xm_sockaddr_equal ((struct sockaddr *) dest, (struct sockaddr *) &local))
    goto none;
  return TRUE;

none:
  g_set_error (error, XM_NET_ERROR, XM_NET_ERROR_NOT_REDIRECTED,
               "not redirected: the connection came straight to xmitm's "
               "listener, so it has no original destination (--transparent "
               "serves connections that a NAT rule redirected%s%s)",
               err && err != ENOENT ? "; " : "",
               err && err != ENOENT ? g_strerror (err) : "");
  return FALSE;
}

int
xm_listen (const char *host, guint16 port, gboolean ip_transparent, GError **error)
{
  struct addrinfo hints = { 0 }, *res = NULL;
  char service[8];
  int rc, fd = -1, saved = 0;
  g_autofree char *where = xm_hostport_to_string (host, port);

  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  g_snprintf (service, sizeof service, "%u", port);
  rc = getaddrinfo (host, service, &hints, &res);
  if (rc != 0)
    {
      g_set_error (error, XM_NET_ERROR, XM_NET_ERROR_LISTEN,
                   "cannot listen on %s: %s", where, gai_strerror (rc));
      return -1;
    }
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
    {
      int one = 1;

      fd = socket (ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   ai->ai_protocol);
      if (fd < 0)
        {
          saved = errno;
          continue;
        }
      setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (ai->ai_family == AF_INET6)
        setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      if (ip_transparent
          && setsockopt (fd, ai->ai_family == AF_INET6 ? SOL_IPV6 : SOL_IP,
                         ai->ai_family == AF_INET6 ? IPV6_TRANSPARENT : IP_TRANSPARENT,
                         &one, sizeof one) != 0)
        {
          saved = errno;
          close (fd);
          fd = -1;
          if (saved == EPERM)
            {
              freeaddrinfo (res);
              g_set_error (error, XM_NET_ERROR, XM_NET_ERROR_PRIVILEGE,
                           "--tproxy " XM_NEED_CAP_NET_ADMIN);
              return -1;
            }
          continue;
        }
      if (bind (fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen (fd, 1024) == 0)
        break;
      saved = errno;
      close (fd);
      fd = -1;
    }
  freeaddrinfo (res);
  if (fd < 0)
    g_set_error (error, XM_NET_ERROR, XM_NET_ERROR_LISTEN,
                 "cannot listen on %s: %s", where, g_strerror (saved));
  return fd;
}
