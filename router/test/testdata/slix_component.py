#!/usr/bin/python3
"""An XEP-0114 component written with slixmpp, for the router's
interoperability tests (router/test/interop_test.go).

It echoes every chat or normal message back to its sender, the body
prefixed with "echo: " and the end-to-end payload copied over (a body
starting with "no-from:" is echoed without 'from' and payload), and, once
its session starts, sends what a typical slixmpp component sends on its
own: a whitespace keepalive, a presence, a disco#info query and a ping to
the peer component, and a ping to a domain nobody serves. It reports on
stdout, one line each, for the test to wait on:

    ready                          the router accepted the handshake
    disco <category>/<type> <name> the peer answered disco#info
    pong                           the peer answered the ping
    bounce <condition>             the router's error for the lost ping
    stream-error <condition>       the router closed the stream
    disconnected                   the connection ended

The exit status is 0 when the session had started, 2 otherwise.

Usage: slix_component.py HOST:PORT NAME SECRET PEER
"""

import asyncio
import copy
import logging
import sys

from slixmpp import ComponentXMPP
from slixmpp.exceptions import IqError, IqTimeout

E2E = '{urn:ietf:params:xml:ns:xmpp-e2e}e2e'
STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
# A message whose body starts with this is echoed without 'from'.
NO_FROM = 'no-from:'

# Bounds each query, below the test's own timeouts.
QUERY_TIMEOUT = 8


def say(line):
    print(line, flush=True)


class EchoComponent(ComponentXMPP):
    def __init__(self, name, secret, host, port, peer):
        super().__init__(name, secret, host, port)
        self.peer = peer
        self.started = False
        self.register_plugin('xep_0030')  # answers disco#info about itself
        self.register_plugin('xep_0199')  # answers pings
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('message', self.on_message)
        self.add_event_handler('stream_error', self.on_stream_error)
        self.add_event_handler('disconnected', self.on_disconnected)

    def on_session_start(self, _):
        self.started = True
        say('ready')
        # What a live component sends unasked: whitespace between stanzas
        # (slixmpp's own keepalive, sent now instead of every 300s)...
        self.send_raw(' ')
        # ...its presence to a user of the peer...
        self.send_presence(pfrom=self.boundjid, pto='watcher@' + self.peer,
                           pstatus='echo service', ppriority=5)
        # ...and queries.
        asyncio.ensure_future(self.probe())

    async def probe(self):
        try:
            info = await self.plugin['xep_0030'].get_info(
                jid=self.peer, ifrom=self.boundjid, timeout=QUERY_TIMEOUT)
            for category, typ, _, name in info['disco_info']['identities']:
                say('disco %s/%s %s' % (category, typ, name))
            await self.plugin['xep_0199'].ping(
                jid=self.peer, ifrom=self.boundjid, timeout=QUERY_TIMEOUT)
            say('pong')
        except (IqError, IqTimeout) as e:
            say('query failed: %r' % e)
            return
        try:
            await self.plugin['xep_0199'].ping(
                jid='nowhere.example', ifrom=self.boundjid, timeout=QUERY_TIMEOUT)
            say('bounce none: the ping was answered')
        except IqError as e:
            say('bounce %s' % self.error_condition(e.iq))
        except IqTimeout:
            say('bounce none: timed out')

    def error_condition(self, stanza):
        """Returns the condition of a stanza error as it came.

        slixmpp's Error plugin looks for <error/> in jabber:client only
        (SleekXMPP issue #35), so on a component stream, where it is in
        jabber:component:accept, stanza['error']['condition'] gives the
        plugin's default, feature-not-implemented. Read the XML instead.
        """
        error = stanza.xml.find('{%s}error' % self.default_ns)
        if error is None:
            return 'none'
        for child in error:
            if child.tag.startswith('{%s}' % STANZAS) and child.tag != '{%s}text' % STANZAS:
                return child.tag.split('}', 1)[1]
        return 'none'

    def on_message(self, msg):
        if msg['type'] not in ('chat', 'normal') or not msg['body']:
            return
        if msg['body'].startswith(NO_FROM):
            # What a component written without mfrom sends: slixmpp
            # stamps no 'from' on a message.
            self.make_message(mto=msg['from'], mbody='echo: ' + msg['body'],
                              mtype=msg['type']).send()
            return
        reply = self.make_message(mto=msg['from'], mfrom=msg['to'],
                                  mbody='echo: ' + msg['body'], mtype=msg['type'])
        reply['id'] = msg['id']
        # slixmpp keeps payloads it has no plugin for in the stanza's
        # element tree, so the encrypted one can be copied to the answer.
        e2e = msg.xml.find(E2E)
        if e2e is not None:
            reply.xml.append(copy.deepcopy(e2e))
        reply.send()

    def on_stream_error(self, error):
        say('stream-error %s' % error['condition'])

    def on_disconnected(self, _):
        say('disconnected')
        self.loop.stop()


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    address, name, secret, peer = sys.argv[1:]
    host, _, port = address.rpartition(':')
    # The stanzas sent and received, on stderr, end up in the test log.
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                        format='%(levelname)s %(name)s: %(message)s')
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    component = EchoComponent(name, secret, host, int(port), peer)
    component.connect()
    loop.run_forever()
    # slixmpp leaves tasks behind on disconnect; end them quietly.
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
    sys.exit(0 if component.started else 2)


if __name__ == '__main__':
    main()
