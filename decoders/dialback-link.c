/* dialback-link.c: see dialback-link.h. XEP-0220 §2.1.2: the id of
 * <db:verify/> is the stream id of the connection being verified. */
#include "config.h"

#include <string.h>

#include "dialback-link.h"
#include "sasl-private.h"

/* Longer stream ids are not tracked (RFC 6120 §4.7.3 wants them unique,
 * not long). */
#define MAX_ID 256
/* The longest domain quoted in a note. */
#define DOMAIN_SHOWN 128

typedef struct {
  guint conn;
  char *id;      /* the server's latest stream id, or NULL */
  char *domains; /* "a.test -> b.test" from the client's header, or NULL */
} Conn;

struct _XmDialbackLinks {
  GHashTable *conns; /* conn number -> Conn* */
  GHashTable *ids;   /* stream id (owned by its Conn) -> Conn* */
};

static void
conn_free (gpointer p)
{
  Conn *c = p;

  g_free (c->id);
  g_free (c->domains);
  g_free (c);
}

XmDialbackLinks *
xm_dialback_links_new (void)
{
  XmDialbackLinks *l = g_new0 (XmDialbackLinks, 1);

  l->conns = g_hash_table_new_full (NULL, NULL, NULL, conn_free);
  l->ids = g_hash_table_new (g_str_hash, g_str_equal);
  return l;
}

void
xm_dialback_links_free (XmDialbackLinks *l)
{
  if (l == NULL)
    return;
  g_hash_table_unref (l->ids);
  g_hash_table_unref (l->conns);
  g_free (l);
}

static Conn *
conn_get (XmDialbackLinks *l, guint n)
{
  Conn *c = g_hash_table_lookup (l->conns, GUINT_TO_POINTER (n));

  if (c == NULL)
    {
      c = g_new0 (Conn, 1);
      c->conn = n;
      g_hash_table_insert (l->conns, GUINT_TO_POINTER (n), c);
    }
  return c;
}

static void
forget_id (XmDialbackLinks *l, Conn *c)
{
  if (c->id && g_hash_table_lookup (l->ids, c->id) == c)
    g_hash_table_remove (l->ids, c->id);
  g_clear_pointer (&c->id, g_free);
}

static void
stream_open (XmDialbackLinks *l, const XmEvent *ev)
{
  const XmNode *h = ev->stanza ? ev->stanza->root : NULL;
  Conn *c;

  if (h == NULL)
    return;
  c = conn_get (l, ev->conn);
  if (ev->dir == XM_DIR_C2S)
    {
      const char *from = xm_node_attr (h, "from"), *to = xm_node_attr (h, "to");

      g_clear_pointer (&c->domains, g_free);
      if (from && to)
        {
          g_autofree char *f = xm_sasl_excerpt (from, strlen (from), DOMAIN_SHOWN);
          g_autofree char *t = xm_sasl_excerpt (to, strlen (to), DOMAIN_SHOWN);
          c->domains = g_strdup_printf ("%s -> %s", f, t);
        }
      return;
    }
  {
    const char *id = xm_node_attr (h, "id");

    forget_id (l, c);
    if (id == NULL || *id == '\0' || strlen (id) > MAX_ID)
      return;
    c->id = g_strdup (id);
    /* A later stream with the same id (a server that repeats ids) wins. */
    g_hash_table_replace (l->ids, c->id, c);
  }
}

static const char *
field (const XmSaslDecode *d, const char *name)
{
  for (guint i = 0; i < d->fields->len; i++)
    {
      const XmSaslField *f = d->fields->pdata[i];
      if (strcmp (f->name, name) == 0 && !f->secret)
        return f->value;
    }
  return NULL;
}

char *
xm_dialback_links_event (XmDialbackLinks *l, const XmEvent *ev)
{
  const XmSaslDecode *d;
  const char *id;
  Conn *target;
  g_autofree char *shown = NULL;

  g_return_val_if_fail (l != NULL && ev != NULL, NULL);
  switch (ev->kind)
    {
    case XM_EVENT_STREAM_OPEN:
      stream_open (l, ev);
      return NULL;
    case XM_EVENT_CONN_CLOSE:
      {
        Conn *c = g_hash_table_lookup (l->conns, GUINT_TO_POINTER (ev->conn));
        if (c)
          {
            forget_id (l, c);
            g_hash_table_remove (l->conns, GUINT_TO_POINTER (ev->conn));
          }
      }
      return NULL;
    case XM_EVENT_SASL:
      break;
    default:
      return NULL;
    }
  d = ev->sasl;
  if (d == NULL || g_strcmp0 (d->protocol, "XEP-0220") != 0
      || g_strcmp0 (d->element, "db:verify") != 0)
    return NULL;
  id = field (d, "id");
  target = id ? g_hash_table_lookup (l->ids, id) : NULL;
  if (target == NULL || target->conn == ev->conn)
    return NULL;
  shown = xm_sasl_excerpt (id, strlen (id), MAX_ID);
  if (g_strcmp0 (d->step, "request") == 0)
    return g_strdup_printf ("XEP-0220: this db:verify checks the dialback key sent "
                            "on #%u (%s%sstream %s)", target->conn,
                            target->domains ? target->domains : "",
                            target->domains ? ", " : "", shown);
  return g_strdup_printf ("XEP-0220: the authoritative server's answer (%s) about "
                          "the dialback key sent on #%u (%s%sstream %s)",
                          d->step ? d->step : "?", target->conn,
                          target->domains ? target->domains : "",
                          target->domains ? ", " : "", shown);
}
