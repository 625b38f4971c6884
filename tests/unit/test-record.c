/* test-record.c: the recording format: redaction, and write -> read -> the
 * same events (same JSON, same printed text). */
#include "config.h"

#include <string.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "printer.h"
#include "record.h"
#include "xml-framer.h"

#define T0 G_GINT64_CONSTANT (1795000000123456)

/* ---- redaction ---- */

typedef struct {
  GString *out;
  gsize hidden;
  int count;
} RedactCtx;

static void
redact_stanza (XmStanza *st, gpointer ud)
{
  RedactCtx *c = ud;

  g_string_truncate (c->out, 0);
  c->hidden = xm_stanza_redact (st, c->out);
  if (c->hidden)
    g_assert_cmpuint (c->out->len, ==, st->raw_len);
  c->count++;
}

static const XmFramerEvents redact_events = { .stanza = redact_stanza };

/* Frames header + stanza, returns the redacted text ("" if none hidden). */
static char *
redact_lazy (const char *stanza, gsize *hidden, gboolean lazy);

static char *
redact (const char *stanza, gsize *hidden)
{
  return redact_lazy (stanza, hidden, FALSE);
}

/* lazy: as the recorder of a proxy that prints nothing frames them
 * (xm_framer_set_lazy). */
static char *
redact_lazy (const char *stanza, gsize *hidden, gboolean lazy)
{
  static const char header[] = "<stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='example.net' version='1.0'>";
  RedactCtx c = { g_string_new (NULL), 0, 0 };
  g_autoptr (XmFramer) f = xm_framer_new (&redact_events, &c);

  xm_framer_set_lazy (f, lazy);
  /* Split the stanza in two feeds: offsets must not depend on reads. */
  xm_framer_feed (f, (const guint8 *) header, strlen (header));
  xm_framer_feed (f, (const guint8 *) stanza, strlen (stanza) / 2);
  xm_framer_feed (f, (const guint8 *) stanza + strlen (stanza) / 2,
                  strlen (stanza) - strlen (stanza) / 2);
  g_assert_cmpint (c.count, ==, 1);
  *hidden = c.hidden;
  return g_string_free (c.out, FALSE);
}

static void
test_redact (void)
{
  static const struct {
    const char *in, *out;
    gsize hidden;
  } cases[] = {
    { "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
      "AGFsaWNlAHNlY3JldA==</auth>",
      "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
      "********************</auth>", 20 },
    { "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>Yz1iaXdz</response>",
      "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>********</response>", 8 },
    /* SASL2: only the initial response, not the user agent. */
    { "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'>"
      "<initial-response>AGEAYg==</initial-response><user-agent id='x'>"
      "<software>t</software></user-agent></authenticate>",
      "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'>"
      "<initial-response>********</initial-response><user-agent id='x'>"
      "<software>t</software></user-agent></authenticate>", 8 },
    /* XEP-0078: the raw bytes of the password, entity included. */
    { "<iq type='set' id='a'><query xmlns='jabber:iq:auth'><username>u</username>"
      "<password>p&amp;w</password><resource>r</resource></query></iq>",
      "<iq type='set' id='a'><query xmlns='jabber:iq:auth'><username>u</username>"
      "<password>*******</password><resource>r</resource></query></iq>", 7 },
    /* XEP-0484 FAST token attribute, either quote. */
    { "<success xmlns='urn:xmpp:sasl:2'><additional-data>dj1h</additional-data>"
      "<token xmlns='urn:xmpp:fast:0' expiry='2026-12-01T00:00:00Z' token=\"WXZz\"/>"
      "</success>",
      "<success xmlns='urn:xmpp:sasl:2'><additional-data>dj1h</additional-data>"
      "<token xmlns='urn:xmpp:fast:0' expiry='2026-12-01T00:00:00Z' token=\"****\"/>"
      "</success>", 4 },
    /* Whitespace stays (the printer shows a blank payload as an empty
     * element, live and from the recording alike). */
    { "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
      "AGFs aWNl\nAHNlY3JldA==</auth>",
      "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
      "**** ****\n************</auth>", 20 },
    { "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
      "  \n\t </auth>", "", 0 },
    /* Nothing secret, or nothing to hide. */
    { "<message to='a@b'><body>AGFsaWNlAHNlY3JldA==</body></message>", "", 0 },
    { "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'/>", "", 0 },
    { "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X'></auth>", "", 0 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gsize hidden;
      g_autofree char *got = redact (cases[i].in, &hidden);
      g_assert_cmpstr (got, ==, cases[i].out);
      g_assert_cmpuint (hidden, ==, cases[i].hidden);
    }
}

/* issue 25 defect 5: the secrets of XEP-0077, XEP-0045, XEP-0004
 * text-private fields, XEP-0114 and XEP-0220, framed as the printer's
 * framer does and as a lazy one does (where a message or presence could
 * otherwise pass without its tree). */
static void
test_redact_other_secrets (void)
{
  static const struct {
    const char *in, *out;
    gsize hidden;
  } cases[] = {
    { "<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>u"
      "</username><password>s3cret</password></query></iq>",
      "<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>u"
      "</username><password>******</password></query></iq>", 6 },
    { "<presence to='r@muc/n'><x xmlns='http://jabber.org/protocol/muc'>"
      "<password>cauldron</password></x></presence>",
      "<presence to='r@muc/n'><x xmlns='http://jabber.org/protocol/muc'>"
      "<password>********</password></x></presence>", 8 },
    { "<message to='r@muc'><x xmlns='http://jabber.org/protocol/muc#user'>"
      "<invite to='h@x'/><password>cauldron</password></x></message>",
      "<message to='r@muc'><x xmlns='http://jabber.org/protocol/muc#user'>"
      "<invite to='h@x'/><password>********</password></x></message>", 8 },
    { "<iq type='set' id='o'><query xmlns='http://jabber.org/protocol/muc#owner'>"
      "<x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_roomsecret'>"
      "<value>roomPw</value></field><field var='x' type='text-private'><value>ab"
      "</value><value>c</value></field><field var='muc#roomconfig_roomname'>"
      "<value>name</value></field></x></query></iq>",
      "<iq type='set' id='o'><query xmlns='http://jabber.org/protocol/muc#owner'>"
      "<x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_roomsecret'>"
      "<value>******</value></field><field var='x' type='text-private'><value>**"
      "</value><value>*</value></field><field var='muc#roomconfig_roomname'>"
      "<value>name</value></field></x></query></iq>", 9 },
    { "<message to='a@b'><x xmlns='jabber:x:data' type='form'><field var='pin' "
      "type='text-private'><value>1234</value></field></x></message>",
      "<message to='a@b'><x xmlns='jabber:x:data' type='form'><field var='pin' "
      "type='text-private'><value>****</value></field></x></message>", 4 },
    { "<handshake xmlns='jabber:component:accept'>"
      "aaee83c26aeeafcbabeabfcbcd50df997e0a2a1e</handshake>",
      "<handshake xmlns='jabber:component:accept'>"
      "****************************************</handshake>", 40 },
    { "<db:result xmlns:db='jabber:server:dialback' from='a.test' to='b.test'>"
      "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3"
      "</db:result>",
      "<db:result xmlns:db='jabber:server:dialback' from='a.test' to='b.test'>"
      "****************************************************************"
      "</db:result>", 64 },
    { "<db:verify xmlns:db='jabber:server:dialback' from='a' to='b' id='i'>k3y"
      "</db:verify>",
      "<db:verify xmlns:db='jabber:server:dialback' from='a' to='b' id='i'>***"
      "</db:verify>", 3 },
    /* not secrets: a plain field, a <password/> elsewhere, the answers */
    { "<message to='a@b'><x xmlns='jabber:x:data'><field var='n' type='text-single'>"
      "<value>1</value></field></x><password>in no namespace of a secret"
      "</password></message>", "", 0 },
    { "<db:result xmlns:db='jabber:server:dialback' from='b' to='a' type='valid'/>",
      "", 0 },
  };

  for (int lazy = 0; lazy < 2; lazy++)
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        gsize hidden;
        g_autofree char *got = redact_lazy (cases[i].in, &hidden, lazy);
        g_assert_cmpstr (got, ==, cases[i].out);
        g_assert_cmpuint (hidden, ==, cases[i].hidden);
      }
}

/* ---- round trip ---- */

typedef struct {
  GString *json;      /* the events as recorded */
  GString *text;      /* as printed */
  XmPrinterOptions popts;
  gboolean secrets;
  XmDir dir;
  gint64 time;
  XmSasl *sasl;
} Ctx;

static void
take (Ctx *c, XmEvent *ev)
{
  ev->conn = 3;
  ev->time_us = c->time;
  c->time += 1001;
  xm_record_format (ev, c->secrets, c->json);
  xm_printer_format (&c->popts, ev, c->text);
}

static void
on_open (XmStanza *h, gpointer ud)
{
  Ctx *c = ud;
  XmEvent ev = { .kind = XM_EVENT_STREAM_OPEN, .dir = c->dir, .stanza = h,
                 .flags = XM_EVENT_FLAG_TLS };
  take (c, &ev);
}

static void
on_stanza (XmStanza *st, gpointer ud)
{
  Ctx *c = ud;
  XmEvent ev = { .kind = XM_EVENT_STANZA, .dir = c->dir, .stanza = st,
                 .flags = XM_EVENT_FLAG_TLS | XM_EVENT_FLAG_ZLIB, .wire_len = 17 };
  g_autoptr (XmSaslDecode) d = NULL;

  take (c, &ev);
  d = st->root ? xm_sasl_decode (c->sasl, st->root, c->dir == XM_DIR_C2S) : NULL;
  if (d)
    {
      XmEvent dev = { .kind = XM_EVENT_SASL, .dir = c->dir, .sasl = d };
      take (c, &dev);
    }
}

static void
on_keepalive (gsize n, gpointer ud)
{
  Ctx *c = ud;
  XmEvent ev = { .kind = XM_EVENT_KEEPALIVE, .dir = c->dir, .count = n };
  take (c, &ev);
}

static void
on_close (guint64 off, gpointer ud)
{
  Ctx *c = ud;
  XmEvent ev = { .kind = XM_EVENT_STREAM_CLOSE, .dir = c->dir };
  take (c, &ev);
}

static void
on_problem (XmFramerProblem kind, guint64 off, const char *msg, gpointer ud)
{
  Ctx *c = ud;
  XmEvent ev = { .kind = XM_EVENT_NOTE, .dir = c->dir, .level = XM_NOTE_WARNING,
                 .text = msg };
  take (c, &ev);
}

static const XmFramerEvents events = {
  on_open, on_stanza, on_keepalive, on_close, on_problem,
};

/* A sink that records and prints what the reader gives back. */
typedef struct {
  XmSink sink;
  Ctx *c;
  GString *json, *text;
} Collect;

static void
collect_event (XmSink *sink, const XmEvent *ev)
{
  Collect *k = (Collect *) sink;
  xm_record_format (ev, TRUE, k->json);
  xm_printer_format (&k->c->popts, ev, k->text);
}

static void
collect_free (XmSink *sink)
{
}

static const XmSinkVTable collect_vtable = { collect_event, NULL, collect_free };

static const char *const c2s[] = {
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
  "xmlns:stream='http://etherx.jabber.org/streams' to='example.net' version='1.0'>",
  "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
  "AGp1bGlldAByMG0zMG15cjBtMzA=</auth>",
  " \n ",
  "<message to='romeo@example.net' type='chat' xml:lang='en'><body>Wherefore "
  "&lt;art&gt; thou \xe2\x98\x83 \"quoted\" \\ back</body>"
  "<x:y xmlns:x='urn:example:x' x:a='1'>t</x:y></message>",
  "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
  "<oversized>0123456789012345678901234567890123456789"
  "0123456789012345678901234567890123456789012345678901234567890123456789"
  "0123456789012345678901234567890123456789012345678901234567890123456789"
  "0123456789012345678901234567890123456789012345678901234567890123456789"
  "</oversized>",
  "</stream:stream>",
};

/* Each line is exactly what json-glib writes for the same members (the
 * recorder writes stanzas and keepalives by hand). */
static void
assert_json_glib_text (const char *lines)
{
  g_auto (GStrv) v = g_strsplit (lines, "\n", -1);

  for (guint i = 0; v[i] && *v[i]; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (JsonNode) node = json_from_string (v[i], &error);
      g_autofree char *again = NULL;

      g_assert_no_error (error);
      again = json_to_string (node, FALSE);
      g_assert_cmpstr (again, ==, v[i]);
    }
}

/* Bytes no framer hands out (control characters, NUL, invalid UTF-8) and
 * every flag, formatted by hand, read back by json-glib. */
static void
test_format_by_hand (void)
{
  static const struct { const char *raw; gsize len; const char *member; } cases[] = {
    /* (not 0x1f: json-glib 1.6 writes it unescaped, which JSON forbids) */
    { "<a>\x01\x1e\"\\\b\f\n\r\t/\xc3\xa9\x7f</a>", 0, "xml" },
    { "<a>\0</a>", 8, "xml_base64" },
    { "<a>\xff</a>", 0, "xml_base64" },
  };
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      XmStanza *st = xm_stanza_new ();
      XmEvent ev = { .kind = XM_EVENT_STANZA, .dir = XM_DIR_S2C, .conn = 7,
                     .time_us = T0, .stanza = st, .wire_len = 99,
                     .flags = XM_EVENT_FLAG_TLS | XM_EVENT_FLAG_ZLIB };
      XmEvent ka = { .kind = XM_EVENT_KEEPALIVE, .dir = XM_DIR_C2S, .conn = 7,
                     .time_us = T0, .count = 3 };
      g_autoptr (JsonNode) node = NULL;
      g_autoptr (GError) error = NULL;
      JsonObject *o;
      gsize len = cases[i].len ? cases[i].len : strlen (cases[i].raw);

      st->raw = (const guint8 *) cases[i].raw;
      st->raw_len = len;
      g_string_truncate (out, 0);
      xm_record_format (&ev, TRUE, out);
      xm_record_format (&ka, TRUE, out);
      assert_json_glib_text (out->str);
      *strchr (out->str, '\n') = '\0';
      node = json_from_string (out->str, &error);
      g_assert_no_error (error);
      o = json_node_get_object (node);
      g_assert_cmpint (json_object_get_int_member (o, "len"), ==, len);
      g_assert_cmpint (json_object_get_int_member (o, "wire"), ==, 99);
      g_assert_true (json_object_get_boolean_member (o, "tls"));
      g_assert_true (json_object_get_boolean_member (o, "zlib"));
      g_assert_cmpstr (json_object_get_string_member (o, "dir"), ==, "s2c");
      if (strcmp (cases[i].member, "xml") == 0)
        g_assert_cmpstr (json_object_get_string_member (o, "xml"), ==, cases[i].raw);
      else
        {
          gsize n;
          g_autofree guchar *d =
            g_base64_decode (json_object_get_string_member (o, "xml_base64"), &n);
          g_assert_cmpmem (d, n, cases[i].raw, len);
        }
      xm_stanza_unref (st);
    }
  {
    XmStanza *st = xm_stanza_new ();
    XmEvent ev = { .kind = XM_EVENT_STANZA, .dir = XM_DIR_S2C, .stanza = st };

    st->raw = (const guint8 *) "\x1f";
    st->raw_len = 1;
    g_string_truncate (out, 0);
    xm_record_format (&ev, TRUE, out);
    g_assert_nonnull (strstr (out->str, "\"xml\":\"\\u001f\""));
    xm_stanza_unref (st);
  }
  g_string_free (out, TRUE);
}

static void
round_trip (gboolean secrets)
{
  Ctx c = { .json = g_string_new (NULL), .text = g_string_new (NULL),
            .secrets = secrets, .dir = XM_DIR_C2S, .time = T0,
            .sasl = xm_sasl_new () };
  Collect k = { { &collect_vtable }, &c, g_string_new (NULL), g_string_new (NULL) };
  g_autoptr (XmFramer) f = xm_framer_new (&events, &c);
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("xmitm-record-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "r.jsonl", NULL);
  GString *file = g_string_new (NULL);
  XmRecordInfo info;
  XmLayerInfo layer = { .layer = "tls", .leg = "server", .tls_version = "TLSv1.3",
                        .cipher = "TLS_AES_128_GCM_SHA256", .sni = "example.net",
                        .cert_subject = "CN=example.net", .cert_issuer = "CN=CA",
                        .cert_sha256 = "AB:CD", .verified = "example.net", .ms = 2.5 };
  XmEvent open = { .kind = XM_EVENT_CONN_OPEN, .dir = XM_DIR_NONE,
                   .text = "client [::1]:4000",
                   .addr = { "[::1]:4000", "example.net:5222" } };
  XmEvent lev = { .kind = XM_EVENT_LAYER, .dir = XM_DIR_NONE, .layer = &layer,
                  .text = "TLS with the server up" };
  XmEvent close = { .kind = XM_EVENT_CONN_CLOSE, .dir = XM_DIR_NONE,
                    .text = "both sides closed", .bytes = { 1234, 5678 } };

  g_assert_no_error (error);
  xm_printer_options_init (&c.popts);
  xm_framer_set_max_stanza (f, 200);
  take (&c, &open);
  take (&c, &lev);
  for (guint i = 0; i < G_N_ELEMENTS (c2s); i++)
    xm_framer_feed (f, (const guint8 *) c2s[i], strlen (c2s[i]));
  take (&c, &close);

  xm_record_format_header ("test", secrets, T0, file);
  g_string_append (file, c.json->str);
  g_assert_true (g_file_set_contents (path, file->str, file->len, &error));
  g_assert_true (xm_record_read (path, &k.sink, &info, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (info.format_version, ==, XM_RECORD_VERSION);
  g_assert_cmpint (info.secrets, ==, secrets);
  g_assert_cmpstr (info.source, ==, "test");
  g_assert_false (info.truncated);
  g_assert_cmpuint (info.bad_lines, ==, 0);

  assert_json_glib_text (c.json->str);

  /* The same events: as JSON (written again with secrets: what was
   * redacted stays redacted) and as printed text. */
  if (secrets)
    g_assert_cmpstr (k.json->str, ==, c.json->str);
  g_assert_cmpstr (k.text->str, ==, c.text->str);
  g_assert_nonnull (strstr (c.text->str, "stanza too large to decode, 273 bytes"));
  g_assert_nonnull (strstr (c.text->str, "Wherefore &lt;art&gt; thou"));
  g_assert_nonnull (strstr (c.text->str, "decoded: SASL PLAIN auth"));
  if (!secrets)
    {
      g_assert_null (strstr (c.json->str, "AGp1bGlldAByMG0zMG15cjBtMzA="));
      g_assert_null (strstr (c.json->str, "r0m30myr0m30"));
      g_assert_nonnull (strstr (c.json->str, "\"redacted\":28"));
    }
  else
    g_assert_nonnull (strstr (c.json->str, "AGp1bGlldAByMG0zMG15cjBtMzA="));

  xm_record_info_clear (&info);
  g_unlink (path);
  g_rmdir (dir);
  g_string_free (file, TRUE);
  g_string_free (c.json, TRUE);
  g_string_free (c.text, TRUE);
  g_string_free (k.json, TRUE);
  g_string_free (k.text, TRUE);
  xm_sasl_free (c.sasl);
}

static void
test_round_trip_secrets (void)
{
  round_trip (TRUE);
}

static void
test_round_trip_redacted (void)
{
  round_trip (FALSE);
}

/* Numbers a JSON parser reads as doubles that fit no integer (1e999 is
 * inf): clamped, not cast (undefined behaviour, found by fuzz-record-read).
 * Read from memory through xm_record_read_stream. */
typedef struct {
  XmSink sink;
  XmEvent last;
  guint n;
} Last;

static void
last_event (XmSink *sink, const XmEvent *ev)
{
  Last *l = (Last *) sink;

  l->last = *ev;
  l->n++;
}

static const XmSinkVTable last_vtable = { last_event, NULL, NULL };

/* Reads the recording rec from memory into l; it must read without error. */
static void
read_mem (const char *rec, Last *l)
{
  g_autoptr (GError) error = NULL;
  XmRecordInfo info;
  FILE *in = fmemopen ((void *) rec, strlen (rec), "r");

  g_assert_nonnull (in);
  g_assert_true (xm_record_read_stream (in, "mem", &l->sink, &info, NULL, NULL,
                                        &error));
  g_assert_no_error (error);
  fclose (in);
  xm_record_info_clear (&info);
}

static void
test_read_huge_numbers (void)
{
  static const char rec[] =
    "{\"format\":\"xmitm-recording\",\"format_version\":1,\"source\":\"test\"}\n"
    "{\"t\":-1e999,\"conn\":1,\"ev\":\"close\",\"text\":\"x\","
    "\"c2s_bytes\":1e999,\"s2c_bytes\":9.3e18}\n";
  Last l = { { &last_vtable } };

  read_mem (rec, &l);
  g_assert_cmpuint (l.n, ==, 1);
  g_assert_cmpint (l.last.kind, ==, XM_EVENT_CONN_CLOSE);
  g_assert_cmpint (l.last.time_us, ==, G_MININT64);
  g_assert_cmpuint (l.last.bytes[XM_DIR_C2S], ==, G_MAXINT64);
  g_assert_cmpuint (l.last.bytes[XM_DIR_S2C], ==, G_MAXINT64);
}

/* Members of the wrong kind (an object where an array goes, a string for
 * the certificate, numbers among the notes) are skipped quietly: no GLib
 * critical (fatal in the tests), found by fuzz-record-read. */
static void
test_read_wrong_kinds (void)
{
  static const char rec[] =
    "{\"format\":\"xmitm-recording\",\"format_version\":1,\"source\":\"test\"}\n"
    "{\"t\":1,\"conn\":1,\"ev\":\"layer\",\"dir\":\"s2c\",\"text\":\"x\","
    "\"layer\":\"tls\",\"cert\":\"CN=x\"}\n"
    "{\"t\":2,\"conn\":1,\"ev\":\"sasl\",\"dir\":\"c2s\",\"protocol\":\"SASL\","
    "\"fields\":{\"name\":\"n\"},\"notes\":\"no\"}\n"
    "{\"t\":3,\"conn\":1,\"ev\":\"sasl\",\"dir\":\"c2s\",\"protocol\":\"SASL\","
    "\"fields\":[1,\"x\",[],{\"name\":\"n\",\"value\":\"v\"}],"
    "\"notes\":[1,{},[],null,\"kept\"]}\n";
  Last l = { { &last_vtable } };

  read_mem (rec, &l);
  g_assert_cmpuint (l.n, ==, 3);
}

/* A recording that starts mid-stream (no header for the connection), and
 * one whose header line is not a header (empty) or ends its stream: the
 * stanza lines after them are read as the stanzas they are, framed in a
 * client stream, never their root taken for a new stream's header and a
 * child for the stanza. */
static void
test_read_without_header (void)
{
  static const char *const headers[] = {
    NULL, "", "<?xml version='1.0'?>", "<message/>",
    "<stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams'/>",
  };

  for (guint h = 0; h < G_N_ELEMENTS (headers); h++)
    {
      Ctx c = { .json = g_string_new (NULL), .text = g_string_new (NULL) };
      Collect k = { { &collect_vtable }, &c, g_string_new (NULL), g_string_new (NULL) };
      g_autoptr (GError) error = NULL;
      g_autofree char *dir = g_dir_make_tmp ("xmitm-record-XXXXXX", &error);
      g_autofree char *path = g_build_filename (dir, "r.jsonl", NULL);
      GString *file = g_string_new (NULL);
      XmRecordInfo info;

      xm_printer_options_init (&c.popts);
      xm_record_format_header ("test", FALSE, T0, file);
      if (headers[h])
        g_string_append_printf (file, "{\"t\":1,\"conn\":1,\"ev\":\"stream-open\",\"dir\":"
                                "\"c2s\",\"len\":1,\"name\":\"stream:stream\",\"xml\":\"%s\"}\n",
                                headers[h]);
      for (guint i = 0; i < 2; i++)
        g_string_append (file, "{\"t\":1,\"conn\":1,\"ev\":\"stanza\",\"dir\":\"c2s\","
                         "\"len\":1,\"name\":\"message\",\"xml\":\"<message to='a@b'>"
                         "<body>hi</body></message>\"}\n");
      g_assert_true (g_file_set_contents (path, file->str, file->len, &error));
      g_assert_true (xm_record_read (path, &k.sink, &info, NULL, NULL, &error));
      g_assert_no_error (error);
      if (strstr (k.text->str, "C->S body") || !strstr (k.text->str, "C->S message"))
        g_printerr ("header %u:\n%s", h, k.text->str);
      g_assert_null (strstr (k.text->str, "C->S body"));
      /* both stanzas, each a message with its body */
      g_assert_nonnull (strstr (strstr (k.text->str, "C->S message, ") + 1, "C->S message, "));
      g_assert_nonnull (strstr (k.text->str, "<body>hi</body>"));
      xm_record_info_clear (&info);
      g_unlink (path);
      g_rmdir (dir);
      g_string_free (file, TRUE);
      g_string_free (k.json, TRUE);
      g_string_free (k.text, TRUE);
      g_string_free (c.json, TRUE);
      g_string_free (c.text, TRUE);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/record/redact", test_redact);
  g_test_add_func ("/record/redact/other-secrets", test_redact_other_secrets);
  g_test_add_func ("/record/format-by-hand", test_format_by_hand);
  g_test_add_func ("/record/round-trip/secrets", test_round_trip_secrets);
  g_test_add_func ("/record/round-trip/redacted", test_round_trip_redacted);
  g_test_add_func ("/record/read/huge-numbers", test_read_huge_numbers);
  g_test_add_func ("/record/read/wrong-kinds", test_read_wrong_kinds);
  g_test_add_func ("/record/read/without-header", test_read_without_header);
  return g_test_run ();
}
