/* gloox_client: a scripted XMPP client (gloox 1.0) for xmitm's integration
 * tests. gloox is the one packaged client library that negotiates XEP-0138
 * stream compression, so it is what drives xmitm's zlib decoding.
 *
 *   gloox_client --host H --port P --jid JID --password PW
 *                [--tls --ca FILE] [--compress] [--require-compression]
 *                [--mech DIGEST-MD5|PLAIN|SCRAM-SHA-1|SCRAM-SHA-1-PLUS]
 *                [--send-to JID --body TEXT] [--expect-body TEXT]
 *                [--timeout SECONDS] [-v]
 *
 * Connects to H:P (no DNS), logs in as JID (the stream goes to the JID's
 * domain). --tls makes STARTTLS mandatory and verifies the server's
 * certificate against --ca (the TLS object is built by hand after init():
 * that is the only way gloox 1.0.24 honours a CA file) for the JID's domain.
 * --compress asks for XEP-0138 zlib; --require-compression also fails the
 * run unless the server answered <compressed/>. --mech restricts SASL to one
 * mechanism (ClientBase::setSASLMechanisms).
 *
 * Prints on stdout, one line each: TLS <protocol> <cipher> after the
 * handshake, AUTH <mechanism> when it sends <auth/>, COMPRESSED when the
 * server accepts compression, READY <jid> once the session is up (bound,
 * roster fetched, presence sent), RECEIVED from <jid>: <body> when the
 * expected message arrives, OK at the end. The client then closes its
 * stream and waits (up to 5 s) for the server to close its own before it
 * closes the connection. Exit status 0 on success, 1 with
 * "FAILED: reason" on stderr, 2 on a usage error. -v logs gloox's debug
 * output (every stanza) on stderr.
 */

#include <gloox/client.h>
#include <gloox/connectionlistener.h>
#include <gloox/loghandler.h>
#include <gloox/message.h>
#include <gloox/messagehandler.h>
#include <gloox/tlsdefault.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

using namespace gloox;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 5222;
  std::string jid, password, ca, mech, send_to, body, expect_body;
  bool has_body = false, has_expect = false;
  bool tls = false, compress = false, require_compression = false;
  bool verbose = false;
  double timeout = 20.0;
};

const char *
conn_error_name (ConnectionError e)
{
  switch (e)
    {
    case ConnNoError: return "no error";
    case ConnStreamError: return "stream error";
    case ConnStreamVersionError: return "stream version error";
    case ConnStreamClosed: return "stream closed by the server";
    case ConnProxyAuthRequired: return "proxy auth required";
    case ConnProxyAuthFailed: return "proxy auth failed";
    case ConnProxyNoSupportedAuth: return "no supported proxy auth";
    case ConnIoError: return "I/O error";
    case ConnParseError: return "XML parse error";
    case ConnConnectionRefused: return "connection refused";
    case ConnDnsError: return "DNS error";
    case ConnOutOfMemory: return "out of memory";
    case ConnNoSupportedAuth: return "no supported SASL mechanism";
    case ConnTlsFailed: return "TLS failed";
    case ConnTlsNotAvailable: return "TLS not available";
    case ConnCompressionFailed: return "compression failed";
    case ConnAuthenticationFailed: return "authentication failed";
    case ConnUserDisconnected: return "user disconnected";
    case ConnNotConnected: return "not connected";
    }
  return "unknown connection error";
}

int
mech_flag (const std::string &m)
{
  if (m == "DIGEST-MD5") return SaslMechDigestMd5;
  if (m == "PLAIN") return SaslMechPlain;
  if (m == "SCRAM-SHA-1") return SaslMechScramSha1;
  if (m == "SCRAM-SHA-1-PLUS") return SaslMechScramSha1Plus;
  if (m == "ANONYMOUS") return SaslMechAnonymous;
  return 0;
}

std::string
attr (const std::string &xml, const std::string &name)
{
  for (const char *q : { "='", "=\"" })
    {
      std::string key = name + q;
      size_t at = xml.find (key);
      if (at != std::string::npos)
        {
          size_t start = at + key.size ();
          size_t end = xml.find (q[1], start);
          if (end != std::string::npos)
            return xml.substr (start, end - start);
        }
    }
  return "";
}

/* Client with the raw send that ClientBase keeps protected: the stream
 * close is sent by hand so that the client can wait for the server's
 * (gloox's own disconnect() closes the socket at once, so whatever the
 * server still sends would meet a closed socket). */
class ScriptClient : public Client {
public:
  ScriptClient (const JID &jid, const std::string &password, int port)
    : Client (jid, password, port) {}
  void send_raw (const std::string &xml) { ClientBase::send (xml); }
};

class Session : public ConnectionListener, public MessageHandler, public LogHandler {
public:
  Session (ScriptClient &c, const Options &o) : client (c), opt (o) {}

  ScriptClient &client;
  const Options &opt;
  bool ready = false, received = false, compressed = false, done = false;
  bool closing = false, server_closed = false;
  std::string failure;

  void fail (const std::string &why)
  {
    if (failure.empty ())
      failure = why;
    done = true;
  }

  void onConnect () override
  {
    if (opt.require_compression && !compressed)
      {
        fail ("the session is up but compression was not negotiated");
        return;
      }
    ready = true;
    say ("READY " + opt.jid);
    if (!opt.send_to.empty ())
      {
        Message m (Message::Chat, JID (opt.send_to), opt.body);
        client.send (m);
      }
    if (!opt.has_expect)
      done = true;
  }

  void onDisconnect (ConnectionError e) override
  {
    if (closing)
      {
        server_closed = true;
        return;
      }
    if (done && failure.empty ())
      return;
    std::string why = std::string ("disconnected: ") + conn_error_name (e);
    if (e == ConnAuthenticationFailed)
      why += " (SASL error " + std::to_string (client.authError ()) + ")";
    if (e == ConnStreamError)
      why += " (stream error " + std::to_string (client.streamError ()) + ": "
             + client.streamErrorText () + ")";
    fail (why);
  }

  bool onTLSConnect (const CertInfo &info) override
  {
    if (info.status != CertOk)
      {
        std::string why = "the server's certificate does not verify (status";
        if (info.status & CertInvalid) why += " invalid";
        if (info.status & CertSignerUnknown) why += " signer-unknown";
        if (info.status & CertRevoked) why += " revoked";
        if (info.status & CertExpired) why += " expired";
        if (info.status & CertNotActive) why += " not-active";
        if (info.status & CertWrongPeer) why += " wrong-peer";
        if (info.status & CertSignerNotCa) why += " signer-not-ca";
        why += ", issuer '" + info.issuer + "', server '" + info.server + "')";
        fail (why);
        return false;
      }
    say ("TLS " + info.protocol + " " + info.cipher);
    return true;
  }

  void handleMessage (const Message &msg, MessageSession *) override
  {
    if (msg.subtype () != Message::Chat && msg.subtype () != Message::Normal)
      return;
    if (opt.has_expect && !received && msg.body () == opt.expect_body)
      {
        received = true;
        say ("RECEIVED from " + msg.from ().full () + ": " + msg.body ());
        done = true;
      }
  }

  void handleLog (LogLevel level, LogArea area, const std::string &message) override
  {
    if (area == LogAreaXmlIncoming
        && message.find ("<compressed") != std::string::npos
        && message.find ("http://jabber.org/protocol/compress") != std::string::npos)
      {
        compressed = true;
        say ("COMPRESSED");
      }
    if (area == LogAreaXmlOutgoing && message.rfind ("<auth", 0) == 0)
      say ("AUTH " + attr (message, "mechanism"));
    if (opt.verbose)
      std::cerr << "gloox[" << level << "," << std::hex << area << std::dec
                << "] " << message << std::endl;
  }

  static void say (const std::string &line)
  {
    std::cout << line << std::endl;
  }
};

[[noreturn]] void
usage (const char *why)
{
  std::cerr << "gloox_client: " << why << "\n"
    "usage: gloox_client --jid JID --password PW [--host H] [--port P]\n"
    "         [--tls --ca FILE] [--compress] [--require-compression]\n"
    "         [--mech DIGEST-MD5|PLAIN|SCRAM-SHA-1|SCRAM-SHA-1-PLUS]\n"
    "         [--send-to JID --body TEXT] [--expect-body TEXT]\n"
    "         [--timeout SECONDS] [-v]\n";
  std::exit (2);
}

Options
parse (int argc, char **argv)
{
  Options o;
  for (int i = 1; i < argc; i++)
    {
      std::string a = argv[i];
      auto value = [&] () -> std::string {
        if (i + 1 >= argc)
          usage ((a + " needs a value").c_str ());
        return argv[++i];
      };
      if (a == "--host") o.host = value ();
      else if (a == "--port") o.port = std::atoi (value ().c_str ());
      else if (a == "--jid") o.jid = value ();
      else if (a == "--password") o.password = value ();
      else if (a == "--ca") o.ca = value ();
      else if (a == "--mech") o.mech = value ();
      else if (a == "--send-to") o.send_to = value ();
      else if (a == "--body") { o.body = value (); o.has_body = true; }
      else if (a == "--expect-body") { o.expect_body = value (); o.has_expect = true; }
      else if (a == "--timeout") o.timeout = std::atof (value ().c_str ());
      else if (a == "--tls") o.tls = true;
      else if (a == "--compress") o.compress = true;
      else if (a == "--require-compression") o.compress = o.require_compression = true;
      else if (a == "-v" || a == "--verbose") o.verbose = true;
      else usage (("unknown option " + a).c_str ());
    }
  if (o.jid.empty () || o.password.empty ())
    usage ("--jid and --password are required");
  if (o.port <= 0 || o.port > 65535)
    usage ("bad --port");
  if (o.tls && o.ca.empty ())
    usage ("--tls needs --ca FILE");
  if (!o.send_to.empty () && !o.has_body)
    usage ("--send-to needs --body");
  if (!o.mech.empty () && mech_flag (o.mech) == 0)
    usage (("unknown --mech " + o.mech).c_str ());
  if (o.timeout <= 0)
    usage ("bad --timeout");
  return o;
}

} // namespace

int
main (int argc, char **argv)
{
  Options opt = parse (argc, argv);
  JID jid (opt.jid);
  if (jid.resource ().empty ())
    jid.setResource ("gloox");
  ScriptClient client (jid, opt.password, opt.port);
  Session s (client, opt);

  client.setServer (opt.host);
  client.setPort (opt.port);
  client.setCompression (opt.compress);
  client.setTls (opt.tls ? TLSRequired : TLSDisabled);
  if (!opt.mech.empty ())
    client.setSASLMechanisms (mech_flag (opt.mech));
  client.registerConnectionListener (&s);
  client.registerMessageHandler (&s);
  client.logInstance ().registerLogHandler (LogLevelDebug, LogAreaAll, &s);

  if (opt.tls)
    {
      /* gloox builds its own TLS object at connect() from setCACerts(), but
       * 1.0.24 ignores the list there; a TLSDefault made here, with the CA
       * set after init(), does use it. The name is the JID's domain. */
      TLSDefault *tls = new TLSDefault (&client, jid.server ());
      if (!tls->init ())
        {
          delete tls;
          std::cerr << opt.jid << ": FAILED: GnuTLS initialisation failed\n";
          return 1;
        }
      tls->setCACerts (StringList { opt.ca });
      client.setEncryptionImpl (tls);
    }

  if (!client.connect (false))
    {
      std::cerr << opt.jid << ": FAILED: cannot connect to " << opt.host << ":"
                << opt.port << "\n";
      return 1;
    }

  auto deadline = std::chrono::steady_clock::now ()
                  + std::chrono::milliseconds ((long long) (opt.timeout * 1000));
  ConnectionError ce = ConnNoError;
  while (!s.done)
    {
      if (std::chrono::steady_clock::now () > deadline)
        {
          std::string stage = !s.ready ? "the session to come up (TLS, SASL, "
                                         "compression, bind, roster)"
                                       : "a message with body '" + opt.expect_body + "'";
          s.fail ("timeout after " + std::to_string ((int) opt.timeout)
                  + " s waiting for " + stage);
          break;
        }
      ce = client.recv (100 * 1000);  /* microseconds */
      if (ce != ConnNoError && !s.done)
        s.onDisconnect (ce);
    }
  s.done = true;
  if (client.state () == StateConnected)
    {
      /* Close our stream, then wait (up to 5 s) until the server has closed
       * its own and the connection. */
      s.closing = true;
      client.send_raw ("</stream:stream>");
      auto close_deadline = std::chrono::steady_clock::now () + std::chrono::seconds (5);
      while (!s.server_closed && std::chrono::steady_clock::now () < close_deadline)
        if (client.recv (100 * 1000) != ConnNoError)
          break;
    }
  s.closing = true;  /* our own disconnect is not a failure */
  client.disconnect ();

  if (!s.failure.empty ())
    {
      std::cerr << opt.jid << ": FAILED: " << s.failure << "\n";
      return 1;
    }
  std::cout << "OK " << opt.jid << std::endl;
  return 0;
}
