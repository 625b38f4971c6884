/* sasl.c: the XML side of authentication (RFC 6120 §6 SASL, XEP-0388 SASL2,
 * XEP-0078 jabber:iq:auth), the session state and the one-line format.
 *
 * Fields, notes and base64 are in sasl-fields.c; what a payload means per
 * mechanism is in sasl-mech.c and sasl-scram.c. */
#include "config.h"

#include <string.h>

#include "sasl-private.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_FAST "urn:xmpp:fast:0"

/* ------------------------------------------------------------------------ */
/* Decodes                                                                   */
/* ------------------------------------------------------------------------ */

static void
field_free (gpointer p)
{
  XmSaslField *f = p;

  g_free (f->name);
  g_free (f->value);
  g_free (f);
}

static XmSaslDecode *
decode_new (const char *protocol, const char *element, const char *mechanism,
            const char *step)
{
  XmSaslDecode *d = g_new0 (XmSaslDecode, 1);

  /* XML names may hold format characters (XML 1.0 §2.3 NameChar): keep
   * them escaped like everything else that notes quote. */
  d->protocol = protocol;
  d->element = element ? xm_sasl_excerpt (element, strlen (element), 64) : NULL;
  d->mechanism = g_strdup (mechanism);
  d->step = step ? xm_sasl_excerpt (step, strlen (step), 64) : NULL;
  d->fields = g_ptr_array_new_with_free_func (field_free);
  d->notes = g_ptr_array_new_with_free_func (g_free);
  return d;
}

XmSaslDecode *
xm_sasl_decode_new (const char *protocol)
{
  return decode_new (protocol, NULL, NULL, NULL);
}

void
xm_sasl_decode_free (XmSaslDecode *decode)
{
  if (decode == NULL)
    return;
  g_free (decode->element);
  g_free (decode->mechanism);
  g_free (decode->step);
  g_ptr_array_unref (decode->fields);
  g_ptr_array_unref (decode->notes);
  g_free (decode);
}

gboolean
xm_sasl_mech_is (const char *mechanism, const char *name)
{
  return mechanism != NULL && g_ascii_strcasecmp (mechanism, name) == 0;
}

gboolean
xm_sasl_is_plus (const char *mechanism)
{
  gsize len;

  if (mechanism == NULL)
    return FALSE;
  len = strlen (mechanism);
  return len > 5 && g_ascii_strcasecmp (mechanism + len - 5, "-PLUS") == 0;
}

/* ------------------------------------------------------------------------ */
/* RFC 6120 §6 and XEP-0388                                                  */
/* ------------------------------------------------------------------------ */

XmSasl *
xm_sasl_new (void)
{
  return g_new0 (XmSasl, 1);
}

void
xm_sasl_free (XmSasl *sasl)
{
  if (sasl == NULL)
    return;
  g_free (sasl->mechanism);
  xm_sasl_scram_reset (sasl);
  g_free (sasl->iq_auth_id);
  g_free (sasl);
}

/* A new <auth/> or <authenticate/> starts a new exchange (RFC 6120 §6.4.2:
 * the client may retry after a failure). Mechanism names are [A-Z0-9-_]
 * (RFC 4422 §3.1); anything else is kept escaped, so that notes quoting
 * the name stay printable. Returns the name as kept. */
static const char *
start_exchange (XmSasl *sasl, const char *mechanism)
{
  g_free (sasl->mechanism);
  sasl->mechanism = mechanism ? xm_sasl_excerpt (mechanism, strlen (mechanism),
                                                 G_MAXSIZE)
                              : NULL;
  xm_sasl_scram_reset (sasl);
  return sasl->mechanism;
}

static void
check_direction (XmSaslDecode *d, const char *where, gboolean from_client,
                 gboolean want_client)
{
  if (from_client != want_client)
    xm_sasl_note (d, "<%s/> came from the %s, but %s has only the %s send it",
                  d->element, from_client ? "client" : "server", where,
                  want_client ? "client" : "server");
}

/* RFC 6120 §6.4.2 (and XEP-0388, which follows it): no character data means
 * no data; a single "=" means data of zero length. */
static void
decode_text_payload (XmSasl *sasl, XmSaslDecode *d, const XmNode *el,
                     gboolean from_client)
{
  g_autofree char *text = xm_node_text (el);
  g_autoptr (GByteArray) bytes = NULL;
  gsize len = strlen (text), start = 0, end = len;

  while (start < end && xm_sasl_is_space (text[start]))
    start++;
  while (end > start && xm_sasl_is_space (text[end - 1]))
    end--;
  if (start == end)
    {
      if (len > 0)
        xm_sasl_note (d, "payload is only whitespace, taken as no data "
                      "(RFC 6120 §6.3.5)");
      xm_sasl_decode_no_payload (sasl, d, from_client);
      return;
    }
  if (end - start == 1 && text[start] == '=')
    {
      if (len > 1)
        xm_sasl_note (d, "base64: whitespace around the base64 data "
                      "(RFC 6120 §6.3.5 forbids whitespace); ignored");
      xm_sasl_decode_payload (sasl, d, (const guint8 *) "", 0, from_client);
      return;
    }
  bytes = xm_sasl_base64_decode (d, "base64", text, len);
  xm_sasl_decode_payload (sasl, d, bytes->data, bytes->len, from_client);
}

/* RFC 6120 §6.5 defined conditions, with what they usually mean. */
static const struct {
  const char *name;
  const char *section;
  const char *meaning;
} conditions[] = {
  { "aborted", "6.5.1", "the server confirms the client's <abort/>" },
  { "account-disabled", "6.5.2", "the account is disabled" },
  { "credentials-expired", "6.5.3", "the credentials have expired" },
  { "encryption-required", "6.5.4",
    "the mechanism is allowed only over an encrypted stream" },
  { "incorrect-encoding", "6.5.5", "the server could not decode the base64" },
  { "invalid-authzid", "6.5.6",
    "the authorization identity is malformed or not allowed for this user" },
  { "invalid-mechanism", "6.5.7",
    "the server does not support the mechanism the client picked" },
  { "malformed-request", "6.5.8",
    "the request broke the protocol (e.g. <auth/> without mechanism)" },
  { "mechanism-too-weak", "6.5.9",
    "the server's policy wants a stronger mechanism for this account" },
  { "not-authorized", "6.5.10",
    "the credentials were rejected (wrong username or password)" },
  { "temporary-auth-failure", "6.5.11",
    "a temporary error on the server; retrying later may work" },
};

static void
explain_condition (XmSasl *sasl, XmSaslDecode *d, const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (conditions); i++)
    if (strcmp (conditions[i].name, name) == 0)
      {
        if (strcmp (name, "not-authorized") == 0
            && xm_sasl_mech_is (sasl->mechanism, "EXTERNAL"))
          /* No username, no password: a certificate (RFC 6120 §6.4.2,
           * XEP-0178), which on s2s is the whole login. */
          xm_sasl_note (d, "not-authorized: the server did not accept the "
                        "certificate presented during TLS for this identity "
                        "(none was presented, the server does not trust its "
                        "issuer, or it is not for the identity asked) "
                        "(RFC 6120 §%s, XEP-0178)", conditions[i].section);
        else if (strcmp (name, "not-authorized") == 0
            && xm_sasl_is_plus (sasl->mechanism))
          xm_sasl_note (d, "not-authorized: %s, or, with %s, a channel "
                        "binding mismatch such as TLS interception causes "
                        "(RFC 6120 §%s)", conditions[i].meaning,
                        sasl->mechanism, conditions[i].section);
        else
          xm_sasl_note (d, "%s: %s (RFC 6120 §%s)", name,
                        conditions[i].meaning, conditions[i].section);
        return;
      }
  {
    g_autofree char *shown = xm_sasl_excerpt (name, strlen (name), 64);
    xm_sasl_note (d, "condition '%s' is not one of RFC 6120 §6.5", shown);
  }
}

static void
add_text_child (XmSaslDecode *d, const char *name, const XmNode *el,
                gboolean secret)
{
  g_autofree char *text = xm_node_text (el);

  xm_sasl_field_str (d, name, text, secret);
}

/* RFC 6120 §6.4.5 / XEP-0388: a condition in the RFC 6120 SASL namespace,
 * an optional <text/>, and in SASL2 an optional application condition. */
static void
decode_failure (XmSasl *sasl, XmSaslDecode *d, const XmNode *el)
{
  gboolean have_condition = FALSE;

  for (const XmNode *c = el->children; c; c = c->next)
    {
      if (c->type != XM_NODE_ELEMENT)
        continue;
      if (xm_node_is (c, el->ns, "text"))
        add_text_child (d, "text", c, FALSE);
      else if (!have_condition && g_strcmp0 (c->ns, XM_NS_SASL) == 0)
        {
          have_condition = TRUE;
          xm_sasl_field_str (d, "condition", c->name, FALSE);
          explain_condition (sasl, d, c->name);
        }
      else
        xm_sasl_field_str (d, "application-condition", c->name, FALSE);
    }
  if (!have_condition)
    xm_sasl_note (d, "no defined condition in <failure/> (RFC 6120 §6.4.5 "
                  "requires one)");
}

/* RFC 5802 §5: without the server-final message the client cannot check the
 * server, and a careful client gives up. */
static void
check_scram_complete (XmSasl *sasl, XmSaslDecode *d)
{
  if (xm_sasl_is_scram (sasl->mechanism)
      && sasl->scram_stage != XM_SCRAM_SERVER_FINAL)
    xm_sasl_note (d, "success without a SCRAM server-final message (v=): "
                  "the client cannot verify the server (RFC 5802 §5)");
}

static XmSaslDecode *
decode_sasl (XmSasl *sasl, const XmNode *el, gboolean from_client)
{
  const char *name = el->name;
  XmSaslDecode *d;

  if (strcmp (name, "auth") == 0)
    {
      const char *mechanism = xm_node_attr (el, "mechanism");

      d = decode_new ("SASL", name, start_exchange (sasl, mechanism), name);
      check_direction (d, "RFC 6120 §6.4.2", from_client, TRUE);
      if (mechanism == NULL)
        xm_sasl_note (d, "<auth/> without mechanism attribute (RFC 6120 "
                      "§6.4.2 requires one)");
      decode_text_payload (sasl, d, el, from_client);
      return d;
    }

  d = decode_new ("SASL", name, sasl->mechanism, name);
  if (strcmp (name, "challenge") == 0 || strcmp (name, "response") == 0)
    {
      check_direction (d, "RFC 6120 §6.4.3", from_client, name[0] == 'r');
      decode_text_payload (sasl, d, el, from_client);
    }
  else if (strcmp (name, "success") == 0)
    {
      /* §6.3.10: the final server data may ride on <success/>. */
      check_direction (d, "RFC 6120 §6.4.6", from_client, FALSE);
      decode_text_payload (sasl, d, el, from_client);
      check_scram_complete (sasl, d);
    }
  else if (strcmp (name, "failure") == 0)
    {
      check_direction (d, "RFC 6120 §6.4.5", from_client, FALSE);
      decode_failure (sasl, d, el);
    }
  else if (strcmp (name, "abort") == 0)
    check_direction (d, "RFC 6120 §6.4.4", from_client, TRUE);
  else
    xm_sasl_note (d, "<%s/> is not an RFC 6120 §6.4 SASL element",
                  d->element);
  return d;
}

static void
append_name (GString *s, const XmNode *el)
{
  if (s->len > 0)
    g_string_append_c (s, ' ');
  g_string_append (s, el->name);
}

/* XEP-0388 <authenticate/>: the mechanism, an optional initial response,
 * the client's <user-agent/> and inline requests of other protocols
 * (bind2, FAST, ...), listed by name. */
static void
decode_authenticate (XmSasl *sasl, XmSaslDecode *d, const XmNode *el,
                     gboolean from_client)
{
  g_autoptr (GString) inline_names = g_string_new (NULL);

  for (const XmNode *c = el->children; c; c = c->next)
    {
      if (c->type != XM_NODE_ELEMENT)
        continue;
      if (xm_node_is (c, XM_NS_SASL2, "initial-response"))
        decode_text_payload (sasl, d, c, from_client);
      else if (xm_node_is (c, XM_NS_SASL2, "user-agent"))
        {
          const char *id = xm_node_attr (c, "id");
          XmNode *software = xm_node_child (c, XM_NS_SASL2, "software");
          XmNode *device = xm_node_child (c, XM_NS_SASL2, "device");

          if (id)
            xm_sasl_field_str (d, "user-agent", id, FALSE);
          if (software)
            add_text_child (d, "software", software, FALSE);
          if (device)
            add_text_child (d, "device", device, FALSE);
        }
      else
        append_name (inline_names, c);
    }
  if (inline_names->len > 0)
    xm_sasl_field_str (d, "inline", inline_names->str, FALSE);
}

/* XEP-0388 <success/> and <continue/>: server data of the mechanism in
 * <additional-data/>, plus the identity granted or the tasks left. */
static void
decode_sasl2_outcome (XmSasl *sasl, XmSaslDecode *d, const XmNode *el)
{
  gboolean have_authzid = FALSE;
  g_autoptr (GString) inline_names = g_string_new (NULL);

  for (const XmNode *c = el->children; c; c = c->next)
    {
      if (c->type != XM_NODE_ELEMENT)
        continue;
      if (xm_node_is (c, XM_NS_SASL2, "additional-data"))
        decode_text_payload (sasl, d, c, FALSE);
      else if (xm_node_is (c, XM_NS_SASL2, "authorization-identifier"))
        {
          have_authzid = TRUE;
          add_text_child (d, "authorization-identifier", c, FALSE);
        }
      else if (xm_node_is (c, XM_NS_SASL2, "tasks"))
        {
          for (const XmNode *t = c->children; t; t = t->next)
            if (xm_node_is (t, XM_NS_SASL2, "task"))
              add_text_child (d, "task", t, FALSE);
        }
      else if (xm_node_is (c, XM_NS_SASL2, "text"))
        add_text_child (d, "text", c, FALSE);
      else if (xm_node_is (c, NS_FAST, "token"))
        {
          /* XEP-0484: a FAST token logs in like a password. */
          const char *token = xm_node_attr (c, "token");
          const char *expiry = xm_node_attr (c, "expiry");

          if (token)
            xm_sasl_field_str (d, "fast-token", token, TRUE);
          if (expiry)
            xm_sasl_field_str (d, "fast-expiry", expiry, FALSE);
        }
      else
        append_name (inline_names, c);
    }
  if (inline_names->len > 0)
    xm_sasl_field_str (d, "inline", inline_names->str, FALSE);
  if (strcmp (el->name, "success") == 0)
    {
      if (!have_authzid)
        xm_sasl_note (d, "<success/> without <authorization-identifier/> "
                      "(XEP-0388 requires it)");
      check_scram_complete (sasl, d);
    }
}

static XmSaslDecode *
decode_sasl2 (XmSasl *sasl, const XmNode *el, gboolean from_client)
{
  const char *name = el->name;
  XmSaslDecode *d;

  if (strcmp (name, "authenticate") == 0)
    {
      const char *mechanism = xm_node_attr (el, "mechanism");

      d = decode_new ("SASL2", name, start_exchange (sasl, mechanism), name);
      check_direction (d, "XEP-0388", from_client, TRUE);
      if (mechanism == NULL)
        xm_sasl_note (d, "<authenticate/> without mechanism attribute "
                      "(XEP-0388 requires one)");
      decode_authenticate (sasl, d, el, from_client);
      return d;
    }

  d = decode_new ("SASL2", name, sasl->mechanism, name);
  if (strcmp (name, "challenge") == 0 || strcmp (name, "response") == 0)
    {
      check_direction (d, "XEP-0388", from_client, name[0] == 'r');
      decode_text_payload (sasl, d, el, from_client);
    }
  else if (strcmp (name, "success") == 0 || strcmp (name, "continue") == 0)
    {
      check_direction (d, "XEP-0388", from_client, FALSE);
      decode_sasl2_outcome (sasl, d, el);
    }
  else if (strcmp (name, "failure") == 0)
    {
      check_direction (d, "XEP-0388", from_client, FALSE);
      decode_failure (sasl, d, el);
    }
  else if (strcmp (name, "next") == 0)
    {
      const char *task = xm_node_attr (el, "task");

      check_direction (d, "XEP-0388", from_client, TRUE);
      if (task)
        xm_sasl_field_str (d, "task", task, FALSE);
    }
  else if (strcmp (name, "abort") == 0)
    check_direction (d, "XEP-0388", from_client, TRUE);
  /* <task-data/> speaks the task's own protocol, maybe with a one-time
   * code in it: not shown. */
  else if (strcmp (name, "task-data") != 0)
    xm_sasl_note (d, "<%s/> is not a XEP-0388 element", d->element);
  return d;
}

/* ------------------------------------------------------------------------ */
/* XEP-0078 jabber:iq:auth                                                   */
/* ------------------------------------------------------------------------ */

gboolean
xm_sasl_is_sha1_hex (const char *s, gboolean any_case)
{
  gsize n = 0;

  for (; s[n]; n++)
    if (!g_ascii_isxdigit (s[n]) || (!any_case && g_ascii_isupper (s[n])))
      return FALSE;
  return n == 40;
}

/* XEP-0078 §3 error codes, as the spec's examples use them. */
static void
decode_iq_auth_error (XmSaslDecode *d, const XmNode *iq)
{
  XmNode *error = xm_node_child (iq, NULL, "error");
  const char *code = xm_node_attr (error, "code");
  const XmNode *cond = xm_node_condition (error, NS_STANZAS);
  const char *condition = cond ? cond->name : NULL;

  if (condition)
    xm_sasl_field_str (d, "condition", condition, FALSE);
  if (code)
    xm_sasl_field_str (d, "code", code, FALSE);
  if (g_strcmp0 (condition, "not-authorized") == 0 || g_strcmp0 (code, "401") == 0)
    xm_sasl_note (d, "legacy authentication failed: wrong username, password "
                  "or digest (XEP-0078 §3)");
  else if (g_strcmp0 (condition, "not-acceptable") == 0 || g_strcmp0 (code, "406") == 0)
    xm_sasl_note (d, "a required field is missing (XEP-0078 §3)");
  else if (g_strcmp0 (condition, "conflict") == 0 || g_strcmp0 (code, "409") == 0)
    xm_sasl_note (d, "the resource is already in use (XEP-0078 §3)");
}

static XmSaslDecode *
decode_iq_auth (XmSasl *sasl, const XmNode *iq, gboolean from_client)
{
  XmNode *query = xm_node_child (iq, XM_NS_IQ_AUTH, "query");
  const char *type = xm_node_attr (iq, "type");
  const char *id = xm_node_attr (iq, "id");
  gboolean outcome;
  XmSaslDecode *d;

  /* The server's answer to a pending set carries no query: match its id. */
  outcome = !from_client && sasl->iq_auth_id != NULL
            && g_strcmp0 (id, sasl->iq_auth_id) == 0;
  if (query == NULL && !outcome)
    return NULL;

  d = decode_new ("XEP-0078", NULL, NULL, "iq-auth");
  if (type)
    xm_sasl_field_str (d, "type", type, FALSE);
  if (outcome)
    g_clear_pointer (&sasl->iq_auth_id, g_free);

  if (g_strcmp0 (type, "error") == 0)
    decode_iq_auth_error (d, iq);
  else if (!from_client && g_strcmp0 (type, "result") == 0 && query)
    {
      /* §3: the fields the server accepts, as empty elements. */
      g_autoptr (GString) names = g_string_new (NULL);

      for (const XmNode *c = query->children; c; c = c->next)
        if (c->type == XM_NODE_ELEMENT)
          append_name (names, c);
      xm_sasl_field_str (d, "fields", names->str, FALSE);
    }
  else if (query)
    {
      for (const XmNode *c = query->children; c; c = c->next)
        {
          g_autofree char *text = NULL;

          if (c->type != XM_NODE_ELEMENT)
            continue;
          text = xm_node_text (c);
          xm_sasl_field_str (d, c->name, text,
                             strcmp (c->name, "password") == 0);
          if (strcmp (c->name, "digest") == 0 && !xm_sasl_is_sha1_hex (text, FALSE))
            xm_sasl_note (d, "digest is not 40 lowercase hex digits "
                          "(XEP-0078 §3: hex SHA-1 of stream id + password)");
        }
      if (from_client && g_strcmp0 (type, "set") == 0)
        {
          g_free (sasl->iq_auth_id);
          sasl->iq_auth_id = g_strdup (id);
        }
    }
  else if (g_strcmp0 (type, "result") == 0)
    xm_sasl_note (d, "legacy authentication succeeded (XEP-0078 §3)");
  return d;
}

/* ------------------------------------------------------------------------ */
/* Entry points                                                              */
/* ------------------------------------------------------------------------ */

XmSaslDecode *
xm_sasl_decode (XmSasl *sasl, const XmNode *element, gboolean from_client)
{
  g_return_val_if_fail (sasl != NULL, NULL);

  if (element == NULL || element->type != XM_NODE_ELEMENT)
    return NULL;
  if (strcmp (element->name, "iq") == 0)
    return decode_iq_auth (sasl, element, from_client);
  if (element->ns == NULL)
    return NULL;
  if (strcmp (element->ns, XM_NS_SASL) == 0)
    return decode_sasl (sasl, element, from_client);
  if (strcmp (element->ns, XM_NS_SASL2) == 0)
    return decode_sasl2 (sasl, element, from_client);
  return NULL;
}

/* Escapes again on the way out so that even a hand-built decode prints on
 * one line. */
static void
append_safe (GString *s, const char *str, guint flags)
{
  xm_sasl_escape (s, str, strlen (str), flags);
}

/* Where to cut a field's value to show at most max bytes of it: at a
 * character or escape sequence (\\n, \\x00, \\u202E ...) boundary of the
 * escaped text, at a whole byte of hex. Returns strlen (value) when the
 * value fits or max is 0. */
static gsize
value_cut (const XmSaslField *f, gsize max)
{
  const char *v = f->value;
  gsize len = strlen (v), i = 0;

  if (max == 0 || len <= max)
    return len;
  if (f->binary)
    return max & ~(gsize) 1;
  while (i < len)
    {
      gsize unit;

      if (v[i] == '\\')
        unit = v[i + 1] == 'x' ? 4 : v[i + 1] == 'u' ? 6 : v[i + 1] == 'U' ? 10 : 2;
      else
        unit = g_utf8_skip[(guchar) v[i]];
      if (i + unit > max)
        break;
      i += unit;
    }
  return i;
}

char *
xm_sasl_decode_format (const XmSaslDecode *decode, gboolean show_secrets,
                       gsize max_value)
{
  GString *s;

  g_return_val_if_fail (decode != NULL, NULL);

  s = g_string_new (decode->protocol ? decode->protocol : "SASL");
  if (decode->mechanism)
    {
      g_string_append_c (s, ' ');
      append_safe (s, decode->mechanism, 0);
    }
  if (decode->element)
    {
      g_string_append_c (s, ' ');
      append_safe (s, decode->element, 0);
    }
  if (decode->step && g_strcmp0 (decode->step, decode->element) != 0)
    {
      g_string_append (s, decode->element ? " (" : " ");
      append_safe (s, decode->step, 0);
      if (decode->element)
        g_string_append_c (s, ')');
    }
  for (guint i = 0; i < decode->fields->len; i++)
    {
      const XmSaslField *f = decode->fields->pdata[i];

      g_string_append (s, i == 0 ? ": " : " ");
      append_safe (s, f->name, 0);
      g_string_append_c (s, '=');
      if (f->secret && !show_secrets)
        g_string_append_printf (s, "<redacted, %" G_GSIZE_FORMAT " bytes>",
                                f->raw_len);
      else
        {
          gsize len = strlen (f->value), cut = value_cut (f, max_value);

          if (!f->binary)
            g_string_append_c (s, '\'');
          xm_sasl_escape (s, f->value, cut, f->binary ? 0 : XM_SASL_ESC_QUOTE);
          if (!f->binary)
            g_string_append_c (s, '\'');
          if (cut < len)
            g_string_append_printf (s, "…[+%" G_GSIZE_FORMAT " bytes, --full-text"
                                    " shows all]", f->binary ? (len - cut) / 2 : len - cut);
        }
    }
  for (guint i = 0; i < decode->notes->len; i++)
    {
      g_string_append (s, " [note: ");
      append_safe (s, decode->notes->pdata[i], 0);
      g_string_append_c (s, ']');
    }
  return g_string_free (s, FALSE);
}
