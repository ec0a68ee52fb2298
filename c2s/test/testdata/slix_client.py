#!/usr/bin/python3
"""A client written with slixmpp, for c2s's interoperability test
(c2s/test/slixmpp_test.go).

It connects with STARTTLS presenting a TLS client certificate, logs in
with SASL EXTERNAL, binds, enables stream management (XEP-0198), sends a
chat message to PEER and asks for its acknowledgement, then waits for a
message back. It reports on stdout, one line each, for the test to wait
on:

    session-start JID        bound
    sm-enabled               XEP-0198 is on
    acked ID                 the server acknowledged the message ID
    message FROM BODY        a message arrived
    failed-auth CONDITION    SASL failed
    disconnected             the connection ended

The exit status is 0 when the message was acknowledged and an answer
arrived, 2 otherwise.

Usage: slix_client.py HOST:PORT JID CERTFILE KEYFILE CAFILE PEER
"""

import asyncio
import logging
import sys

from slixmpp import ClientXMPP

TIMEOUT = 20


def say(line):
    print(line, flush=True)


class Client(ClientXMPP):
    def __init__(self, jid, peer):
        super().__init__(jid, password=None)
        self.peer = peer
        self.acked = False
        self.answered = False
        self.register_plugin('xep_0198')
        self.register_plugin('xep_0199')
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('sm_enabled', self.on_sm_enabled)
        self.add_event_handler('stanza_acked', self.on_acked)
        self.add_event_handler('message', self.on_message)
        self.add_event_handler('failed_auth', lambda s: say('failed-auth %s' % s['condition']))
        self.add_event_handler('disconnected', self.on_disconnected)

    def on_session_start(self, _):
        say('session-start %s' % self.boundjid.full)

    def on_sm_enabled(self, _):
        # slixmpp starts the session before it enables stream management:
        # the message goes once its acknowledgement can be tracked.
        say('sm-enabled')
        msg = self.make_message(mto=self.peer, mbody='hello from slixmpp', mtype='chat')
        msg['id'] = 'slix-1'
        msg.send()
        # slixmpp writes its <r/> ahead of queued stanzas: ask until the
        # message is covered.
        self.ask_for_ack()

    def ask_for_ack(self):
        if not self.acked:
            self['xep_0198'].request_ack()
            self.loop.call_later(0.2, self.ask_for_ack)

    def on_acked(self, stanza):
        if stanza.name == 'message':
            say('acked %s' % stanza['id'])
            self.acked = True
            self.maybe_done()

    def on_message(self, msg):
        say('message %s %s' % (msg['from'], msg['body']))
        self.answered = True
        self.maybe_done()

    def maybe_done(self):
        if self.acked and self.answered:
            self.disconnect()

    def on_disconnected(self, _):
        say('disconnected')
        self.loop.stop()


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    address, jid, certfile, keyfile, cafile, peer = sys.argv[1:]
    host, _, port = address.rpartition(':')
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                        format='%(levelname)s %(name)s: %(message)s')
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    client = Client(jid, peer)
    client.certfile = certfile
    client.keyfile = keyfile
    client.ca_certs = cafile
    client.connect((host, int(port)))
    loop.call_later(TIMEOUT, loop.stop)
    loop.run_forever()
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
    sys.exit(0 if client.acked and client.answered else 2)


if __name__ == '__main__':
    main()
