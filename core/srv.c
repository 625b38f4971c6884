/* srv.c: see srv.h. */
#include "config.h"

#include <string.h>
#include <gio/gio.h>

#include "srv.h"
#include "net.h"

#define FALLBACK_PORT 5222 /* RFC 6120 §3.2.1 step 3 */

static const char *const service[2] = { "_xmpp-client._tcp", "_xmpps-client._tcp" };

void
xm_srv_target_free (XmSrvTarget *t)
{
  if (t == NULL)
    return;
  g_free (t->host);
  g_free (t->via);
  g_free (t);
}

char *
xm_srv_name (const char *domain, gboolean direct_tls)
{
  return g_strconcat (service[direct_tls ? 1 : 0], ".", domain, NULL);
}

/* The root name: dn_expand() writes it as "." (some resolvers as ""). */
static gboolean
is_root (const char *target)
{
  return target[0] == '\0' || strcmp (target, ".") == 0;
}

void
xm_srv_answer_from (XmSrvAnswer *a, GList *records, const GError *error)
{
  memset (a, 0, sizeof *a);
  if (records == NULL)
    {
      /* NXDOMAIN and an empty NOERROR both come as NOT_FOUND: nothing is
       * published, which is what lets a client fall back to the domain. */
      if (error == NULL || g_error_matches (error, G_RESOLVER_ERROR,
                                            G_RESOLVER_ERROR_NOT_FOUND))
        a->kind = XM_SRV_ANSWER_NONE;
      else
        {
          a->kind = XM_SRV_ANSWER_FAILED;
          a->why = error->message;
        }
      return;
    }
  a->records = records;
  a->kind = XM_SRV_ANSWER_RECORDS;
  if (records->next == NULL)
    {
      const char *target = NULL;

      g_variant_get ((GVariant *) records->data, "(qqq&s)", NULL, NULL, NULL, &target);
      if (is_root (target))
        a->kind = XM_SRV_ANSWER_UNAVAILABLE;
    }
}

static XmSrvTarget *
target_new (const char *host, guint16 port, gboolean direct, char *via)
{
  XmSrvTarget *t = g_new0 (XmSrvTarget, 1);

  t->host = g_strdup (host);
  t->port = port;
  t->direct_tls = direct;
  t->via = via;
  return t;
}

/* Both services' records in one list, sorted as RFC 2782 says (by
 * priority, weighted random within one); which service each came from is
 * remembered by the GSrvTarget, which the sort does not copy. */
static GPtrArray *
sorted_targets (const char *domain, XmSrvWant want, const XmSrvAnswer answers[2])
{
  g_autoptr (GHashTable) direct = g_hash_table_new (NULL, NULL);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) xm_srv_target_free);
  GList *list = NULL;

  for (int i = 0; i < 2; i++)
    {
      if (!(want & (i ? XM_SRV_DIRECT : XM_SRV_STARTTLS))
          || answers[i].kind != XM_SRV_ANSWER_RECORDS)
        continue;
      for (GList *l = answers[i].records; l; l = l->next)
        {
          guint16 prio, weight, port;
          const char *host;
          GSrvTarget *t;

          g_variant_get ((GVariant *) l->data, "(qqq&s)", &prio, &weight, &port, &host);
          /* A "." among other records says nothing; port 0 reaches nothing. */
          if (is_root (host) || port == 0)
            continue;
          t = g_srv_target_new (host, port, prio, weight);
          list = g_list_prepend (list, t);
          if (i)
            g_hash_table_add (direct, t);
        }
    }
  list = g_srv_target_list_sort (g_list_reverse (list));
  for (GList *l = list; l && out->len < XM_SRV_MAX_TARGETS; l = l->next)
    {
      GSrvTarget *t = l->data;
      gboolean d = g_hash_table_contains (direct, t);
      g_autofree char *hp = xm_hostport_to_string (g_srv_target_get_hostname (t),
                                                    g_srv_target_get_port (t));

      g_ptr_array_add (out, target_new (g_srv_target_get_hostname (t),
                                        g_srv_target_get_port (t), d,
                                        g_strdup_printf ("%s.%s SRV -> %s (%s)",
                                                         service[d], domain, hp,
                                                         d ? "direct TLS" : "STARTTLS")));
    }
  g_list_free_full (list, (GDestroyNotify) g_srv_target_free);
  return out;
}

GPtrArray *
xm_srv_plan (const char *domain, XmSrvWant want, const XmSrvAnswer answers[2],
             char **why)
{
  g_autoptr (GPtrArray) out = sorted_targets (domain, want, answers);
  gboolean starttls = (want & XM_SRV_STARTTLS) != 0;

  if (out->len > 0)
    return g_steal_pointer (&out);
  /* No usable record. A failed lookup may hide records: falling back to the
   * domain could reach a server the domain does not use. */
  for (int i = 0; i < 2; i++)
    if ((want & (i ? XM_SRV_DIRECT : XM_SRV_STARTTLS))
        && answers[i].kind == XM_SRV_ANSWER_FAILED)
      {
        *why = g_strdup_printf ("the DNS lookup of %s.%s failed: %s (not falling "
                                "back to %s:%u: the records may exist)", service[i],
                                domain, answers[i].why, domain, FALLBACK_PORT);
        return NULL;
      }
  /* RFC 6120 §3.2.1: no _xmpp-client records at all: the domain on 5222. */
  if (starttls && answers[0].kind == XM_SRV_ANSWER_NONE)
    {
      g_ptr_array_add (out, target_new (domain, FALLBACK_PORT, FALSE,
                                        g_strdup_printf ("A/AAAA %s:%u (no SRV records)",
                                                         domain, FALLBACK_PORT)));
      return g_steal_pointer (&out);
    }
  if (starttls && answers[0].kind == XM_SRV_ANSWER_UNAVAILABLE)
    *why = g_strdup_printf ("%s.%s has the target \".\": %s offers no XMPP "
                            "client service (RFC 2782: decidedly not available)",
                            service[0], domain, domain);
  else if ((starttls && answers[0].kind == XM_SRV_ANSWER_RECORDS)
           || ((want & XM_SRV_DIRECT) && answers[1].kind == XM_SRV_ANSWER_RECORDS))
    *why = g_strdup_printf ("the SRV records of %s name no target to connect to "
                            "(each is \".\" or port 0)", domain);
  else if (answers[1].kind == XM_SRV_ANSWER_UNAVAILABLE)
    *why = g_strdup_printf ("%s.%s has the target \".\": %s offers no direct "
                            "TLS (XEP-0368)", service[1], domain, domain);
  else
    *why = g_strdup_printf ("%s has no %s.%s SRV record: it offers no direct TLS "
                            "(XEP-0368), so a client that opens with TLS has "
                            "nowhere to go", domain, service[1], domain);
  return NULL;
}
