/* fuzz-sasl.c: the SASL decoders (decoders/sasl*.c) of every mechanism
 * family, over RFC 6120 SASL, XEP-0388 SASL2 and XEP-0078, fed an exchange
 * in both directions.
 *
 * Input: a mechanism byte (an index into the table below: PLAIN, the SCRAM
 * family, DIGEST-MD5, the OAuth ones, EXTERNAL, ANONYMOUS, and names no
 * decoder knows), then messages, each a header byte, a length (one byte,
 * or two when the header says so) and the payload. The header's low four
 * bits pick the element (table below), bit 4 the direction (client to
 * server), bit 5 whether the payload goes into the element as text instead
 * of base64. The elements are written as XML and framed, so the decoder
 * sees the trees a session gives it. Each decode is formatted with and
 * without secrets; the line must be printable UTF-8. */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "sasl.h"
#include "xml-framer.h"

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_SASL2 "urn:xmpp:sasl:2"

static const char *const mechanisms[] = {
  "PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512", "SCRAM-SHA-1-PLUS",
  "SCRAM-SHA-256-PLUS", "SCRAM-SHA3-512", "SCRAM-SHA-224", "SCRAM-SHA-384",
  "DIGEST-MD5", "CRAM-MD5", "OAUTHBEARER", "X-OAUTH2", "X-GOOGLE-TOKEN",
  "X-YANDEX-OAUTH", "EXTERNAL", "ANONYMOUS", "GSSAPI", "HT-SHA-256-NONE",
  "scram-sha-1", "SCRAM-", "X-\xe2\x80\xae", NULL, /* no mechanism attribute */
};

/* $M: the mechanism attribute (with its leading space, or empty), $P:
 * the payload. */
static const char *const elements[16] = {
  "<auth xmlns='" NS_SASL "'$M>$P</auth>",
  "<challenge xmlns='" NS_SASL "'>$P</challenge>",
  "<response xmlns='" NS_SASL "'>$P</response>",
  "<success xmlns='" NS_SASL "'>$P</success>",
  "<failure xmlns='" NS_SASL "'><not-authorized/><text xml:lang='en'>$P"
  "</text></failure>",
  "<abort xmlns='" NS_SASL "'/>",
  "<authenticate xmlns='" NS_SASL2 "'$M><initial-response>$P"
  "</initial-response><user-agent id='d4565fa7'><software>x</software>"
  "</user-agent></authenticate>",
  "<challenge xmlns='" NS_SASL2 "'>$P</challenge>",
  "<response xmlns='" NS_SASL2 "'>$P</response>",
  "<success xmlns='" NS_SASL2 "'><additional-data>$P</additional-data>"
  "<authorization-identifier>juliet@example.com/r</authorization-identifier>"
  "<token xmlns='urn:xmpp:fast:0' expiry='2030-01-01T00:00:00Z' "
  "token='WXYZ'/></success>",
  "<continue xmlns='" NS_SASL2 "'><additional-data>$P</additional-data>"
  "<tasks><task>HT-SHA-256-NONE</task></tasks><text>$P</text></continue>",
  "<failure xmlns='" NS_SASL2 "'><aborted xmlns='" NS_SASL "'/>"
  "<optional-application-specific xmlns='urn:something:else'/>"
  "<text>$P</text></failure>",
  "<iq type='set' id='auth2'><query xmlns='jabber:iq:auth'><username>$P"
  "</username><password>$P</password><digest>$P</digest><resource>r"
  "</resource></query></iq>",
  "<iq type='result' id='auth2'/>",
  "<iq type='error' id='auth2'><error code='401' type='auth'><not-authorized "
  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
  "<iq type='result' id='auth1'><query xmlns='jabber:iq:auth'><username>"
  "$P</username><password/><digest/><resource/></query></iq>",
};

#define HEADER "<stream:stream xmlns='jabber:client' " \
  "xmlns:stream='http://etherx.jabber.org/streams'>"

typedef struct {
  XmSasl *sasl;
  gboolean from_client;
} State;

static void
check_line (const char *line)
{
  g_assert (g_utf8_validate (line, -1, NULL));
  for (const char *p = line; *p; p++)
    g_assert ((guchar) *p >= 0x20 && *p != 0x7f);
}

static void
on_stanza (XmStanza *st, gpointer user_data)
{
  State *s = user_data;
  XmSaslDecode *d;
  char *line;

  if (st->root == NULL)
    return;
  d = xm_sasl_decode (s->sasl, st->root, s->from_client);
  if (d == NULL)
    return;
  for (guint i = 0; i < d->fields->len; i++)
    {
      const XmSaslField *f = g_ptr_array_index (d->fields, i);
      g_assert (f->name != NULL && f->value != NULL);
      g_assert (g_utf8_validate (f->value, -1, NULL));
    }
  line = xm_sasl_decode_format (d, TRUE, 0);
  check_line (line);
  g_free (line);
  line = xm_sasl_decode_format (d, FALSE, 0);
  check_line (line);
  g_free (line);
  line = xm_sasl_decode_format (d, TRUE, 1 + st->raw_len % 16); /* cut values */
  check_line (line);
  g_free (line);
  xm_sasl_decode_free (d);
}

static const XmFramerEvents events = { NULL, on_stanza, NULL, NULL, NULL };

/* The payload as element text: base64, or the bytes themselves made into
 * valid XML character data. */
static char *
payload_text (const uint8_t *p, size_t len, gboolean raw)
{
  GString *out = g_string_new (NULL);

  if (!raw)
    {
      char *b64 = g_base64_encode (p, len);
      g_string_append (out, b64);
      g_free (b64);
    }
  else
    {
      /* XML 1.0 Char: no C0 controls but tab, LF, CR; no U+FFFE, U+FFFF. */
      char *valid = g_utf8_make_valid ((const char *) p, len);
      GString *chars = g_string_new (NULL);

      for (const char *c = valid; *c; c = g_utf8_next_char (c))
        {
          gunichar u = g_utf8_get_char (c);

          if ((u < 0x20 && u != '\t' && u != '\n' && u != '\r')
              || u == 0xfffe || u == 0xffff)
            u = '?';
          g_string_append_unichar (chars, u);
        }
      xm_xml_escape (out, chars->str, chars->len, FALSE);
      g_string_free (chars, TRUE);
      g_free (valid);
    }
  return g_string_free (out, FALSE);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FuzzIn in = { data, size };
  State s = { 0 };
  const char *mech = mechanisms[fuzz_byte (&in) % G_N_ELEMENTS (mechanisms)];
  char *mech_attr;
  XmFramer *framer;

  fuzz_glib_fatal ();
  s.sasl = xm_sasl_new ();
  framer = xm_framer_new (&events, &s);
  xm_framer_feed (framer, (const guint8 *) HEADER, strlen (HEADER));
  mech_attr = mech ? g_strdup_printf (" mechanism='%s'", mech) : g_strdup ("");

  while (in.left > 0)
    {
      unsigned h = fuzz_byte (&in);
      size_t want = (h & 0x40) ? fuzz_u16 (&in) : fuzz_byte (&in);
      const uint8_t *p;
      size_t len = fuzz_take (&in, want, &p);
      char *text = payload_text (p, len, (h & 0x20) != 0);
      GString *xml = g_string_new (elements[h & 0x0f]);

      g_string_replace (xml, "$M", mech_attr, 0);
      g_string_replace (xml, "$P", text, 0);
      s.from_client = (h & 0x10) != 0;
      xm_framer_feed (framer, (const guint8 *) xml->str, xml->len);
      g_assert (!xm_framer_is_stalled (framer));
      g_string_free (xml, TRUE);
      g_free (text);
    }

  g_free (mech_attr);
  xm_framer_free (framer);
  xm_sasl_free (s.sasl);
  return 0;
}
