#!/usr/bin/python3
"""A scripted XMPP client (slixmpp) for xmitm's integration tests.

Logs in as JID/PASSWORD at HOST:PORT (plaintext by default; --tls for
mandatory STARTTLS verified against --ca, --direct-tls for XEP-0368),
fetches the roster, sends initial presence, then optionally:

  --expect-contact JID    fail unless JID is in the roster
  --expect-presence JID   wait for available presence from JID (bare)
  --send-to JID --body T  send a chat message
  --expect-body T         wait for a message with exactly this body

and disconnects cleanly (</stream:stream> and the server's reply).
Prints READY on stdout once the session is up (roster fetched, presence
sent), RECEIVED ... when the expected message arrives, OK at the end.
Exit status 0 on success, 1 with the reason on stderr otherwise
(2 for usage errors).

As a module: ``run_client(...)`` (coroutine) returns None on success or
the failure reason; ``run(...)`` is the blocking wrapper.

Must run under Debian's /usr/bin/python3 (python3-slixmpp).
"""

import argparse
import asyncio
import logging
import sys
from pathlib import Path

try:
    import slixmpp
except ImportError:  # pragma: no cover
    sys.stderr.write("slixmpp missing: apt-get install python3-slixmpp, and "
                     "run this with /usr/bin/python3\n")
    raise


class _Client(slixmpp.ClientXMPP):
    """ClientXMPP that connects exactly to (host, port): no DNS at all."""

    def __init__(self, jid, password, host, port, tls_name):
        super().__init__(jid, password)
        self._target = (host, port)
        self._tls_name = tls_name

    async def get_dns_records(self, domain, port=None):
        return [(self._tls_name, self._target[0], self._target[1])]


async def run_client(jid, password, host="127.0.0.1", port=5222, *,
                     send_to=None, body=None, expect_body=None,
                     expect_contacts=(), expect_presence=(), timeout=20.0,
                     tls=False, direct_tls=False, ca=None, tls_name=None,
                     mech=None, on_ready=None, on_received=None,
                     rounds=(), pause=0.0, pad=0, raw_after=(), ignore_iq_ns=None):
    """Run one scripted session; None on success, else the reason (str).

    rounds: after the session starts, for each count in it, send that many
    messages to our own JID at once and wait for all of them to come back,
    with pause seconds between rounds; pad adds that many bytes to each
    of their bodies. raw_after: stanzas (XML text) sent as they are after
    the message, right before disconnecting (an iq sent this way gets no
    answer on this connection if its answer takes longer than the close).
    ignore_iq_ns: iq requests whose payload has this namespace get no
    answer at all (slixmpp would otherwise say feature-not-implemented)."""
    bare = slixmpp.JID(jid)
    tls_name = tls_name or bare.domain
    xmpp = _Client(jid, password, host, port, tls_name)
    xmpp['feature_mechanisms'].unencrypted_plain = True
    if mech:
        xmpp['feature_mechanisms'].use_mech = mech
    if ca:
        xmpp.ca_certs = Path(ca)
    loop = asyncio.get_running_loop()
    failed = loop.create_future()       # set to the reason
    ready = loop.create_future()
    got_message = loop.create_future()
    presences = {slixmpp.JID(j).bare: loop.create_future()
                 for j in expect_presence}
    seen_bodies = []
    state = {"closing": False, "connected": False, "authed": False}
    echo = {"want": set(), "done": None}

    def fail(reason):
        if not failed.done():
            failed.set_result(reason)

    def on_message(msg):
        if msg['type'] not in ('chat', 'normal'):
            return
        b = msg['body']
        seen_bodies.append((str(msg['from']), b))
        echo["want"].discard(b)
        if not echo["want"] and echo["done"] and not echo["done"].done():
            echo["done"].set_result(True)
        if expect_body is not None and b == expect_body \
                and not got_message.done():
            got_message.set_result(str(msg['from']))

    def on_presence(pres):
        f = presences.get(pres['from'].bare)
        if f is not None and not f.done():
            f.set_result(True)

    async def on_session_start(_):
        try:
            await xmpp.get_roster(timeout=timeout)
            roster = set(str(j) for j in xmpp.client_roster.keys())
            missing = [j for j in expect_contacts if j not in roster]
            if missing:
                fail("roster of %s lacks %s (roster: %s)"
                     % (jid, ", ".join(missing), sorted(roster) or "empty"))
                return
            xmpp.send_presence()
            if not ready.done():
                ready.set_result(True)
        except Exception as e:  # IqTimeout, IqError
            fail("roster request failed: %r" % (e,))

    if ignore_iq_ns:
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath
        xmpp.register_handler(Callback(
            'ignore %s' % ignore_iq_ns,
            MatchXPath('{%s}iq/{%s}query' % (xmpp.default_ns, ignore_iq_ns)),
            lambda iq: None))
    xmpp.add_event_handler('session_start', on_session_start)
    xmpp.add_event_handler('connected',
                           lambda *_: state.__setitem__("connected", True))
    xmpp.add_event_handler('auth_success',
                           lambda *_: state.__setitem__("authed", True))
    xmpp.add_event_handler('message', on_message)
    xmpp.add_event_handler('presence_available', on_presence)
    xmpp.add_event_handler('failed_auth',
                           lambda *_: fail("authentication failed for %s"
                                           % jid))
    xmpp.add_event_handler('connection_failed',
                           lambda e: fail("cannot connect to %s:%s: %s"
                                          % (host, port, e)))
    xmpp.add_event_handler('stream_error',
                           lambda e: fail("stream error from server: %s"
                                          % e))
    xmpp.add_event_handler('ssl_invalid_chain',
                           lambda e: fail("TLS certificate rejected: %s"
                                          % e))
    xmpp.add_event_handler('disconnected',
                           lambda *_: None if state["closing"] else
                           fail("connection closed before the script "
                                "finished"))

    async def script():
        await ready
        if on_ready:
            on_ready()
        for j, f in presences.items():
            await f
        sent = 0
        for i, count in enumerate(rounds):
            if i:
                await asyncio.sleep(pause)
            bodies = ["round %d message %d%s" % (i + 1, sent + k + 1, " x" * (pad // 2))
                      for k in range(count)]
            sent += count
            echo["want"] = set(bodies)
            echo["done"] = loop.create_future()
            for b in bodies:
                xmpp.send_message(mto=xmpp.boundjid, mbody=b, mtype='chat')
            await echo["done"]
        if send_to is not None:
            xmpp.send_message(mto=send_to, mbody=body, mtype='chat')
        for raw in raw_after:
            xmpp.send_raw(raw)
        if expect_body is not None:
            sender = await got_message
            if on_received:
                on_received(sender, expect_body)

    if tls or direct_tls:
        xmpp.connect((host, port), use_ssl=direct_tls,
                     force_starttls=not direct_tls, disable_starttls=False)
    else:
        xmpp.connect((host, port), use_ssl=False, force_starttls=False,
                     disable_starttls=True)
    # after connect(): an IP literal leaves the TLS name (SNI and
    # certificate check) empty, so set it to the domain explicitly
    xmpp.default_domain = tls_name

    task = asyncio.ensure_future(script())
    reason = None
    try:
        done, _ = await asyncio.wait([task, failed], timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if failed.done():
            reason = failed.result()
        elif task in done:
            task.result()  # re-raise script errors
        else:
            if not state["connected"]:
                stage = "the TCP connection"
            elif not state["authed"]:
                stage = ("authentication (server requires TLS? no usable "
                         "SASL mechanism? stream stuck?)")
            elif not ready.done():
                stage = "session start (bind, roster, presence)"
            elif any(not f.done() for f in presences.values()):
                stage = "presence from %s" % ", ".join(
                    j for j, f in presences.items() if not f.done())
            else:
                stage = "message with body %r (received: %r)" % (
                    expect_body, seen_bodies)
            reason = "timeout after %.0f s waiting for %s" % (timeout, stage)
    finally:
        task.cancel()
        state["closing"] = True
        if xmpp.transport is not None:
            try:
                await asyncio.wait_for(xmpp.disconnect(wait=5), 10)
            except Exception as e:
                if reason is None:
                    reason = "clean disconnect failed: %r" % (e,)
                xmpp.abort()
    return reason


def run(*args, **kwargs):
    """Blocking wrapper around run_client(): None on success, else reason."""
    return asyncio.run(run_client(*args, **kwargs))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jid", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5222)
    ap.add_argument("--send-to", metavar="JID")
    ap.add_argument("--body", help="body of the message for --send-to")
    ap.add_argument("--expect-body", metavar="TEXT")
    ap.add_argument("--expect-contact", action="append", default=[],
                    metavar="JID")
    ap.add_argument("--expect-presence", action="append", default=[],
                    metavar="JID")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--tls", action="store_true",
                    help="require STARTTLS, verify the server with --ca")
    ap.add_argument("--direct-tls", action="store_true",
                    help="TLS from the first byte (XEP-0368)")
    ap.add_argument("--ca", metavar="FILE", help="CA file for TLS")
    ap.add_argument("--tls-name", help="name for SNI and the certificate "
                    "check (default: the JID's domain)")
    ap.add_argument("--mech", help="force a SASL mechanism, e.g. PLAIN")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="slixmpp debug log on stderr")
    a = ap.parse_args(argv)
    if a.send_to and a.body is None:
        ap.error("--send-to needs --body")
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.CRITICAL,
                        format="%(levelname)s %(name)s: %(message)s")

    def said(line):
        print(line, flush=True)

    reason = run(a.jid, a.password, a.host, a.port, send_to=a.send_to,
                 body=a.body, expect_body=a.expect_body,
                 expect_contacts=a.expect_contact,
                 expect_presence=a.expect_presence, timeout=a.timeout,
                 tls=a.tls, direct_tls=a.direct_tls, ca=a.ca,
                 tls_name=a.tls_name, mech=a.mech,
                 on_ready=lambda: said("READY %s" % a.jid),
                 on_received=lambda frm, b: said("RECEIVED from %s: %s"
                                                 % (frm, b)))
    if reason is not None:
        print("%s: FAILED: %s" % (a.jid, reason), file=sys.stderr)
        return 1
    said("OK %s" % a.jid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
