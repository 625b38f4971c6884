/* Unit tests: a recording read into replay steps. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "script.h"

#define HDR "{\"format\":\"xmitm-recording\",\"format_version\":1,\"secrets\":\"%s\"}\n"
#define EV(t, conn, dir, ev, xml) \
  "{\"t\":" #t ",\"conn\":" #conn ",\"ev\":\"" ev "\",\"dir\":\"" dir "\",\"xml\":\"" xml "\"}\n"
#define STANZA(t, conn, dir, xml) EV (t, conn, dir, "stanza", xml)
#define C_OPEN "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='x' version='1.0'>"
#define S_OPEN(id) "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='x' id='" id "' version='1.0'>"
#define FEATURES_SASL "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" \
  "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
#define FEATURES_BIND "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"

/* One connection: PLAIN in the clear (payload "\0bob\0pw"), bind, a
 * roster get, a server ping and its answer, XEP-0198 acks, a roster push
 * the client answers, a message, the closes. */
static const char session[] =
  "{\"t\":1,\"conn\":1,\"ev\":\"open\",\"client\":\"127.0.0.1:1\",\"text\":\"c\"}\n"
  EV (2, 1, "c2s", "stream-open", C_OPEN)
  EV (3, 1, "s2c", "stream-open", S_OPEN ("s1"))
  STANZA (4, 1, "s2c", FEATURES_SASL)
  STANZA (5, 1, "c2s", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGJvYgBwdw==</auth>")
  "{\"t\":5,\"conn\":1,\"ev\":\"sasl\",\"dir\":\"c2s\",\"protocol\":\"SASL\",\"element\":\"auth\","
  "\"mechanism\":\"PLAIN\",\"step\":\"auth\",\"fields\":[{\"name\":\"authcid\",\"value\":\"bob\",\"len\":3},"
  "{\"name\":\"password\",\"value\":\"pw\",\"len\":2,\"secret\":true}]}\n"
  STANZA (6, 1, "s2c", "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
  EV (7, 1, "c2s", "stream-open", C_OPEN)
  EV (8, 1, "s2c", "stream-open", S_OPEN ("s2"))
  STANZA (9, 1, "s2c", FEATURES_BIND)
  STANZA (10, 1, "c2s", "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
  STANZA (11, 1, "s2c", "<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>bob@x/r1</jid></bind></iq>")
  STANZA (12, 1, "c2s", "<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>")
  STANZA (13, 1, "s2c", "<iq type='get' id='ping1' from='x'><ping xmlns='urn:xmpp:ping'/></iq>")
  STANZA (14, 1, "c2s", "<iq type='result' id='ping1' to='x'/>")
  STANZA (15, 1, "s2c", "<r xmlns='urn:xmpp:sm:3'/>")
  STANZA (16, 1, "c2s", "<a xmlns='urn:xmpp:sm:3' h='3'/>")
  STANZA (17, 1, "s2c", "<iq type='result' id='g1'><query xmlns='jabber:iq:roster'/></iq>")
  STANZA (18, 1, "s2c", "<iq type='set' id='push1'><query xmlns='jabber:iq:roster'><item jid='c@x'/></query></iq>")
  STANZA (19, 1, "c2s", "<iq type='result' id='push1'/>")
  STANZA (20, 1, "c2s", "<message to='c@x' id='m1'><body>hi</body></message>")
  "{\"t\":21,\"conn\":1,\"ev\":\"stream-close\",\"dir\":\"c2s\"}\n"
  "{\"t\":22,\"conn\":1,\"ev\":\"stream-close\",\"dir\":\"s2c\"}\n"
  "{\"t\":23,\"conn\":1,\"ev\":\"close\",\"text\":\"done\",\"c2s_bytes\":1,\"s2c_bytes\":1}\n";

static char *
write_recording (const char *secrets, const char *body)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("xmitm-script-XXXXXX", &error);
  char *path;
  g_autofree char *text = NULL;

  g_assert_no_error (error);
  path = g_build_filename (dir, "r.jsonl", NULL);
  text = g_strdup_printf (HDR "%s", secrets, body);
  g_assert_true (g_file_set_contents (path, text, -1, &error));
  return path;
}

static void
remove_recording (const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);

  g_unlink (path);
  g_rmdir (dir);
}

static void
test_steps (void)
{
  g_autofree char *path = write_recording ("recorded", session);
  g_autoptr (GError) error = NULL;
  g_autoptr (XmScript) s = xm_script_load (path, XM_PACE_IQ, FALSE, NULL, NULL, &error);
  static const XmStepKind kinds[] = {
    XM_STEP_CONNECT, XM_STEP_SEND, XM_STEP_EXPECT, XM_STEP_SEND, XM_STEP_EXPECT,
    XM_STEP_EXPECT, XM_STEP_SEND, XM_STEP_SEND, XM_STEP_CLOSE, XM_STEP_EXPECT_CLOSE,
  };
  XmScriptConn *c;
  g_autofree char *account = NULL;
  gsize len;

  g_assert_no_error (error);
  g_assert_true (s->secrets);
  g_assert_cmpuint (s->conns->len, ==, 1);
  c = s->conns->pdata[0];
  g_assert_cmpuint (c->conn, ==, 1);
  g_assert_cmpstr (c->domain, ==, "x");
  g_assert_false (c->starttls);
  g_assert_cmpstr (c->mechanism, ==, "PLAIN");
  g_assert_cmpstr (c->authcid, ==, "bob");
  g_assert_cmpstr (c->jid, ==, "bob@x/r1");
  account = xm_script_conn_account (c);
  g_assert_cmpstr (account, ==, "bob@x");
  g_assert_nonnull (c->initial_response);
  g_assert_cmpmem (g_bytes_get_data (c->initial_response, &len), len, "\0bob\0pw", 7);
  g_assert_cmpuint (c->headers->len, ==, 2);
  g_assert_cmpuint (c->stream_ids->len, ==, 2);
  g_assert_cmpstr (c->stream_ids->pdata[1], ==, "s2");
  g_assert_nonnull (c->features[XM_FEATURES_INITIAL]);
  g_assert_null (c->features[XM_FEATURES_TLS]);
  g_assert_nonnull (c->features[XM_FEATURES_AUTH]);

  /* The ping, its answer and the XEP-0198 acks are answered live. */
  g_assert_cmpuint (s->skipped, ==, 4);
  g_assert_cmpuint (s->steps->len, ==, G_N_ELEMENTS (kinds));
  for (guint i = 0; i < s->steps->len; i++)
    {
      XmStep *step = s->steps->pdata[i];
      g_assert_cmpint (step->kind, ==, kinds[i]);
      g_assert_cmpuint (step->order, ==, i);
      g_assert_true (step->conn == c);
    }
  /* Ordering: the bind answer and the roster result answer iqs, the push
   * is a request the client answers; the client's answer waits for it. */
  {
    g_autoptr (XmOrder) o = g_steal_pointer (&s->order);
    s->order = xm_order_new (XM_PACE_IQ);
    xm_order_done (o, 0, 0);
    xm_order_done (o, 1, 0);
    g_assert_false (xm_order_ready (o, 3));  /* roster get waits for bind */
    xm_order_done (o, 2, 0);
    xm_order_done (o, 3, 0);
    g_assert_false (xm_order_ready (o, 6));  /* push answer waits for push */
    xm_order_done (o, 5, 0);
    g_assert_false (xm_order_ready (o, 6));  /* ... and the roster result */
    xm_order_done (o, 4, 0);
    g_assert_true (xm_order_ready (o, 6));
  }
  remove_recording (path);
}

static void
test_redacted_payload_not_reused (void)
{
  g_autofree char *body = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (XmScript) s = NULL;
  XmScriptConn *c;
  GString *g = g_string_new (session);

  g_string_replace (g, "AGJvYgBwdw==", "************", 0);
  body = g_string_free (g, FALSE);
  path = write_recording ("redacted", body);
  s = xm_script_load (path, XM_PACE_IQ, FALSE, NULL, NULL, &error);
  g_assert_no_error (error);
  c = s->conns->pdata[0];
  g_assert_false (s->secrets);
  g_assert_null (c->initial_response);
  g_assert_cmpstr (c->authcid, ==, "bob");
  remove_recording (path);
}

static void
test_nothing_to_replay (void)
{
  g_autofree char *path = write_recording ("redacted",
    "{\"t\":1,\"conn\":1,\"ev\":\"open\",\"client\":\"127.0.0.1:1\",\"text\":\"c\"}\n"
    EV (2, 1, "c2s", "stream-open", C_OPEN)
    EV (3, 1, "s2c", "stream-open", S_OPEN ("s1"))
    STANZA (4, 1, "s2c", FEATURES_SASL));
  g_autoptr (GError) error = NULL;
  g_autoptr (XmScript) s = xm_script_load (path, XM_PACE_IQ, FALSE, NULL, NULL, &error);

  g_assert_null (s);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  g_assert_nonnull (strstr (error->message, "no client session to replay"));
  remove_recording (path);
  g_clear_error (&error);
  g_assert_null (xm_script_load ("/nonexistent/r.jsonl", XM_PACE_IQ, FALSE, NULL, NULL, &error));
  g_assert_nonnull (strstr (error->message, "cannot open"));
}

#define FEATURES_ZLIB "<stream:features><compression xmlns='http://jabber.org/features/compress'>" \
  "<method>zlib</method></compression><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
#define COMPRESS "<compress xmlns='http://jabber.org/protocol/compress'><method>zlib</method></compress>"

/* XEP-0138 after SASL: accepted (compressed), or refused (failure). */
static char *
compressed_session (gboolean accepted)
{
  return g_strconcat (
    "{\"t\":1,\"conn\":1,\"ev\":\"open\",\"client\":\"127.0.0.1:1\",\"text\":\"c\"}\n"
    EV (2, 1, "c2s", "stream-open", C_OPEN)
    EV (3, 1, "s2c", "stream-open", S_OPEN ("s1"))
    STANZA (4, 1, "s2c", FEATURES_SASL)
    STANZA (5, 1, "c2s", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGJvYgBwdw==</auth>")
    STANZA (6, 1, "s2c", "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    EV (7, 1, "c2s", "stream-open", C_OPEN)
    EV (8, 1, "s2c", "stream-open", S_OPEN ("s2"))
    STANZA (9, 1, "s2c", FEATURES_ZLIB)
    STANZA (10, 1, "c2s", COMPRESS),
    accepted
    ? STANZA (11, 1, "s2c", "<compressed xmlns='http://jabber.org/protocol/compress'/>")
      "{\"t\":11,\"conn\":1,\"ev\":\"layer\",\"dir\":\"s2c\",\"layer\":\"zlib\",\"text\":\"z\"}\n"
      EV (12, 1, "c2s", "stream-open", C_OPEN)
      EV (13, 1, "s2c", "stream-open", S_OPEN ("s3"))
      STANZA (14, 1, "s2c", FEATURES_BIND)
    : STANZA (11, 1, "s2c", "<failure xmlns='http://jabber.org/protocol/compress'><setup-failed/></failure>"),
    STANZA (15, 1, "c2s", "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
    STANZA (16, 1, "s2c", "<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>bob@x/r1</jid></bind></iq>")
    "{\"t\":17,\"conn\":1,\"ev\":\"stream-close\",\"dir\":\"c2s\"}\n", (char *) NULL);
}

static void
test_compression (void)
{
  for (int accepted = 1; accepted >= 0; accepted--)
    {
      g_autofree char *body = compressed_session (accepted);
      g_autofree char *path = write_recording ("recorded", body);
      g_autoptr (GError) error = NULL;
      g_autoptr (XmScript) s = xm_script_load (path, XM_PACE_IQ, FALSE, NULL, NULL, &error);
      static const XmStepKind kinds[] = {
        XM_STEP_CONNECT, XM_STEP_SEND, XM_STEP_EXPECT, XM_STEP_CLOSE,
      };
      XmScriptConn *c;

      g_assert_no_error (error);
      c = s->conns->pdata[0];
      g_assert_true (c->compression == accepted);
      g_assert_true (xm_features_offer_zlib (c->features[XM_FEATURES_AUTH]->root));
      g_assert_false (xm_features_offer_zlib (c->features[XM_FEATURES_INITIAL]->root));
      if (accepted)
        {
          /* The negotiation ends at the features after <compressed/>. */
          g_assert_cmpint (c->compress_stage, ==, XM_FEATURES_AUTH);
          g_assert_nonnull (c->features[XM_FEATURES_COMPRESSED]);
          g_assert_false (xm_features_offer_zlib (c->features[XM_FEATURES_COMPRESSED]->root));
          g_assert_cmpuint (c->headers->len, ==, 3);
          g_assert_cmpuint (c->stream_ids->len, ==, 3);
        }
      else
        g_assert_null (c->features[XM_FEATURES_COMPRESSED]);
      /* Neither <compress/> nor its answer is a step. */
      g_assert_cmpuint (s->steps->len, ==, G_N_ELEMENTS (kinds));
      for (guint i = 0; i < s->steps->len; i++)
        g_assert_cmpint (((XmStep *) s->steps->pdata[i])->kind, ==, kinds[i]);
      g_assert_cmpstr (c->jid, ==, "bob@x/r1");
      remove_recording (path);
    }
}

/* XEP-0078: the get, its fields, the set and its result are the
 * negotiation; the JID is username@domain/resource; no restart. */
static void
test_iq_auth (void)
{
  g_autofree char *path = write_recording ("redacted",
    EV (2, 1, "c2s", "stream-open", C_OPEN)
    EV (3, 1, "s2c", "stream-open", S_OPEN ("s1"))
    STANZA (4, 1, "s2c", FEATURES_SASL)
    STANZA (5, 1, "c2s", "<iq type='get' id='a1'><query xmlns='jabber:iq:auth'><username>bob</username></query></iq>")
    STANZA (6, 1, "s2c", "<iq type='result' id='a1'><query xmlns='jabber:iq:auth'><username/><password/><digest/><resource/></query></iq>")
    STANZA (7, 1, "c2s", "<iq type='set' id='a2'><query xmlns='jabber:iq:auth'><username>bob</username><digest>0123</digest><resource>r</resource></query></iq>")
    STANZA (8, 1, "s2c", "<iq type='result' id='a2'/>")
    STANZA (9, 1, "c2s", "<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>")
    STANZA (10, 1, "s2c", "<iq type='result' id='g1'><query xmlns='jabber:iq:roster'/></iq>"));
  g_autoptr (GError) error = NULL;
  g_autoptr (XmScript) s = xm_script_load (path, XM_PACE_IQ, FALSE, NULL, NULL, &error);
  XmScriptConn *c;

  g_assert_no_error (error);
  c = s->conns->pdata[0];
  g_assert_true (c->iq_auth);
  g_assert_null (c->mechanism);
  g_assert_cmpstr (xm_node_attr (c->iq_auth_get->root, "id"), ==, "a1");
  g_assert_cmpstr (xm_node_attr (c->iq_auth_fields->root, "id"), ==, "a1");
  g_assert_cmpstr (xm_node_attr (c->iq_auth_set->root, "id"), ==, "a2");
  g_assert_cmpstr (c->jid, ==, "bob@x/r");
  /* CONNECT, the roster get and its result. */
  g_assert_cmpuint (s->steps->len, ==, 3);
  remove_recording (path);
}

/* XEP-0388: <authenticate/> (its initial response when recorded with
 * secrets) and <success/> end the negotiation; the authorization
 * identifier is the bound JID. */
static void
test_sasl2 (void)
{
  g_autofree char *path = write_recording ("recorded",
    EV (2, 1, "c2s", "stream-open", C_OPEN)
    EV (3, 1, "s2c", "stream-open", S_OPEN ("s1"))
    STANZA (4, 1, "s2c", "<stream:features><authentication xmlns='urn:xmpp:sasl:2'><mechanism>HT-SHA-256-NONE</mechanism></authentication></stream:features>")
    STANZA (5, 1, "c2s", "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>Ym9iAGg=</initial-response><bind xmlns='urn:xmpp:bind:0'/></authenticate>")
    STANZA (6, 1, "s2c", "<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>bob@x/r9</authorization-identifier><bound xmlns='urn:xmpp:bind:0'/></success>")
    STANZA (7, 1, "c2s", "<presence/>"));
  g_autoptr (GError) error = NULL;
  g_autoptr (XmScript) s = xm_script_load (path, XM_PACE_IQ, FALSE, NULL, NULL, &error);
  XmScriptConn *c;
  gsize len;

  g_assert_no_error (error);
  c = s->conns->pdata[0];
  g_assert_true (c->sasl2);
  g_assert_cmpstr (c->mechanism, ==, "HT-SHA-256-NONE");
  g_assert_cmpmem (g_bytes_get_data (c->initial_response, &len), len, "bob\0h", 5);
  g_assert_nonnull (c->sasl2_authenticate);
  g_assert_nonnull (c->sasl2_success);
  g_assert_cmpstr (c->jid, ==, "bob@x/r9");
  g_assert_cmpuint (s->steps->len, ==, 2);
  remove_recording (path);
}

/* XEP-0114: a component's stream has no features; its <handshake/> and
 * the server's empty one are the negotiation, the domain is the account;
 * a connection refused (wrong secret) has nothing to replay. */
#define COMP_C_OPEN "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='comp.x'>"
#define COMP_S_OPEN(id) "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id='" id "' from='comp.x'>"

static void
test_component (void)
{
  g_autofree char *path = write_recording ("redacted",
    EV (2, 1, "c2s", "stream-open", COMP_C_OPEN)
    EV (3, 1, "s2c", "stream-open", COMP_S_OPEN ("s1"))
    STANZA (4, 1, "c2s", "<handshake>****************************************</handshake>")
    STANZA (5, 1, "s2c", "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
    EV (6, 2, "c2s", "stream-open", COMP_C_OPEN)
    EV (7, 2, "s2c", "stream-open", COMP_S_OPEN ("s2"))
    STANZA (8, 2, "c2s", "<handshake>****************************************</handshake>")
    STANZA (9, 2, "s2c", "<handshake/>")
    STANZA (10, 2, "c2s", "<iq type='get' id='d1' from='comp.x' to='x'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    STANZA (11, 2, "s2c", "<iq type='result' id='d1' from='x' to='comp.x'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    "{\"t\":12,\"conn\":2,\"ev\":\"stream-close\",\"dir\":\"c2s\"}\n");
  g_autoptr (GError) error = NULL;
  g_autoptr (XmScript) s = xm_script_load (path, XM_PACE_IQ, FALSE, NULL, NULL, &error);
  XmScriptConn *refused, *c;
  g_autofree char *account = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (s->conns->len, ==, 2);
  refused = s->conns->pdata[0];
  c = s->conns->pdata[1];
  g_assert_true (refused->component);
  g_assert_cmpuint (refused->steps->len, ==, 0);
  g_assert_true (c->component);
  g_assert_null (c->mechanism);
  g_assert_cmpstr (c->domain, ==, "comp.x");
  account = xm_script_conn_account (c);
  g_assert_cmpstr (account, ==, "comp.x");
  g_assert_cmpuint (c->stream_ids->len, ==, 1);
  g_assert_cmpstr (c->stream_ids->pdata[0], ==, "s2");
  /* CONNECT, the disco#info get, its result, the close. */
  g_assert_cmpuint (s->steps->len, ==, 4);
  g_assert_cmpint (((XmStep *) s->steps->pdata[0])->kind, ==, XM_STEP_CONNECT);
  g_assert_cmpint (((XmStep *) s->steps->pdata[1])->kind, ==, XM_STEP_SEND);
  g_assert_cmpint (((XmStep *) s->steps->pdata[2])->kind, ==, XM_STEP_EXPECT);
  g_assert_cmpint (((XmStep *) s->steps->pdata[3])->kind, ==, XM_STEP_CLOSE);
  remove_recording (path);
}

/* The endpoint's path comes from a recorded request line and goes into
 * the one replay writes: a path with a CR, LF or space (a recording
 * edited by anyone) is not taken, a plain one is. */
#define TRANSPORT(t, text) \
  "{\"t\":" #t ",\"conn\":1,\"ev\":\"transport\",\"dir\":\"c2s\"," \
  "\"transport\":\"http-request\",\"text\":\"" text "\"}\n"

static void
test_recorded_paths (void)
{
  static const struct {
    const char *lines;
    const char *ws, *bosh;
  } cases[] = {
    { TRANSPORT (1, "GET /x\\r\\nX-Evil: 1 HTTP/1.1 (Upgrade: websocket)")
      TRANSPORT (1, "POST /b\\r\\nX-Evil: 1 HTTP/1.1 (Host: x)"), NULL, NULL },
    { TRANSPORT (1, "GET /a b HTTP/1.1 (Upgrade: websocket)")
      TRANSPORT (1, "POST /a\\tb HTTP/1.1 (Host: x)")
      TRANSPORT (1, "POST http-bind HTTP/1.1 (Host: x)"), NULL, NULL },
    { TRANSPORT (1, "GET /xmpp-websocket?v=1 HTTP/1.1 (Upgrade: websocket)")
      TRANSPORT (1, "POST /b\\nX: 1 HTTP/1.1 (Host: x)")
      TRANSPORT (1, "POST /http-bind HTTP/1.1 (Host: x)"), "/xmpp-websocket?v=1", "/http-bind" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *body = g_strconcat (cases[i].lines, session, NULL);
      g_autofree char *path = write_recording ("recorded", body);
      g_autoptr (GError) error = NULL;
      g_autoptr (XmScript) s = xm_script_load (path, XM_PACE_IQ, FALSE, NULL, NULL, &error);
      XmScriptConn *c;

      g_assert_no_error (error);
      c = s->conns->pdata[0];
      g_assert_cmpstr (c->ws_path, ==, cases[i].ws);
      g_assert_cmpstr (c->bosh_path, ==, cases[i].bosh);
      remove_recording (path);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/replay-script/steps", test_steps);
  g_test_add_func ("/replay-script/redacted-payload-not-reused", test_redacted_payload_not_reused);
  g_test_add_func ("/replay-script/nothing-to-replay", test_nothing_to_replay);
  g_test_add_func ("/replay-script/compression", test_compression);
  g_test_add_func ("/replay-script/iq-auth", test_iq_auth);
  g_test_add_func ("/replay-script/sasl2", test_sasl2);
  g_test_add_func ("/replay-script/component", test_component);
  g_test_add_func ("/replay-script/recorded-paths", test_recorded_paths);
  return g_test_run ();
}
