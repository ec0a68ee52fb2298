#!/usr/bin/python3
"""An XMPP client written with slixmpp, driven by a Go test
(s2s/test/federation_test.go) as the user of another server.

It logs in, fetches its roster and sends its initial presence, then:
- connects to the test's control address and sends, as they are, the
  stanzas the test writes there, one per line;
- prints every stanza it receives on stdout, one line each:

    ready                     the session started
    recv <stanza>             a stanza arrived (newlines replaced by spaces)
    disconnected              the connection ended

Subscriptions are neither approved nor requested automatically: the test
sends what the user would.

Usage: slix_client.py JID PASSWORD HOST:PORT CONTROL_HOST:PORT
"""

import asyncio
import logging
import sys

from slixmpp import ClientXMPP


def say(line):
    print(line.replace('\n', ' '), flush=True)


class Driven(ClientXMPP):
    def __init__(self, jid, password, control):
        super().__init__(jid, password)
        self.control = control
        self.roster.auto_authorize = None  # neither approve nor refuse
        self.roster.auto_subscribe = False
        self['feature_mechanisms'].unencrypted_plain = True
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('message', self.on_stanza)
        self.add_event_handler('presence', self.on_stanza)
        self.add_event_handler('disconnected', self.on_disconnected)

    async def on_session_start(self, _):
        await self.get_roster()
        self.send_presence(pstatus='on the other server')
        host, port = self.control.rsplit(':', 1)
        reader, _ = await asyncio.open_connection(host, int(port))
        say('ready')
        while True:
            line = await reader.readline()
            if not line:
                break
            self.send_raw(line.decode().strip())

    def on_stanza(self, stanza):
        say('recv ' + str(stanza))

    def on_disconnected(self, _):
        say('disconnected')
        self.loop.stop()


def main():
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    jid, password, server, control = sys.argv[1:5]
    host, port = server.rsplit(':', 1)
    xmpp = Driven(jid, password, control)
    xmpp.connect(address=(host, int(port)), disable_starttls=True)
    xmpp.loop.run_forever()


if __name__ == '__main__':
    main()
