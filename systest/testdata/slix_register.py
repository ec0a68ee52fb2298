#!/usr/bin/python3
"""Kontalk registration with slixmpp, stanza for stanza as the Android
client does it (client-protocol §1.0, §1.1, §1.3), for
systest/slixmpp_test.go.

Step 1, an anonymous TLS connection: the instructions form, then the
phone number form (FORM_TYPE jabber:iq:register, phone, accept-terms,
challenge pin). Step 2, a new TLS connection presenting the bridge
certificate, no SASL: the code form (FORM_TYPE ...register#code, code).
It reports on stdout, one line each:

    instructions FIELD,FIELD,...    the fields of the instructions form
    terms URL                       the service terms shown
    sent-to FROM CHALLENGE          the answer to the phone number
    publickey BASE64                the key the server certified
    error STEP CONDITION TEXT       an error answer
    disconnected                    a connection ended

The exit status is 0 when the server returned a certified key.

Usage: slix_register.py HOST:PORT DOMAIN PHONE CAFILE CODE CERTFILE KEYFILE
"""

import asyncio
import logging
import sys

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins.xep_0077 import Register, RegisterFeature
from slixmpp.stanza import Iq, StreamFeatures
from slixmpp.xmlstream import register_stanza_plugin

TIMEOUT = 30
NS_CODE = 'http://kontalk.org/protocol/register#code'


def say(line):
    print(line, flush=True)


def first(value):
    """The value of a single-valued field, which slixmpp may give as a list."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


class Registration(ClientXMPP):
    """One registration connection; step is 'phone' or 'code'."""

    def __init__(self, domain, step, phone, code):
        super().__init__(domain, password=None)
        self.step, self.phone, self.code = step, phone, code
        self.result = None
        self.register_plugin('xep_0004')
        register_stanza_plugin(StreamFeatures, RegisterFeature)
        register_stanza_plugin(Iq, Register)
        register_stanza_plugin(Register, self['xep_0004'].stanza.Form)
        # The registration runs when the server offers it, before SASL,
        # which this connection never does.
        self.register_feature('register', self.on_register_feature, restart=False, order=10)
        self.add_event_handler('disconnected', self.on_disconnected)
        # slixmpp holds stanzas back until a session starts; registration
        # IQs go before authentication.
        self._always_send_everything = True

    def form(self, form_type, **fields):
        form = self['xep_0004'].make_form(ftype='submit')
        form.add_field(var='FORM_TYPE', ftype='hidden', value=form_type)
        for var, (ftype, value) in fields.items():
            form.add_field(var=var.replace('_', '-'), ftype=ftype, value=value)
        iq = self.make_iq_set(ito=self.boundjid.domain)
        query = iq['register']
        query.append(form)
        return iq

    async def on_register_feature(self, _features):
        try:
            if self.step == 'phone':
                await self.request_code()
            else:
                await self.send_code()
        except IqError as e:
            say('error %s %s %s' % (self.step, e.iq['error']['condition'], e.iq['error']['text']))
        except IqTimeout:
            say('error %s timeout' % self.step)
        self.disconnect()
        return True

    async def request_code(self):
        iq = self.make_iq_get(ito=None)
        iq.enable('register')
        instructions = await iq.send()
        fields = instructions['register']['form'].get_fields()
        say('instructions ' + ','.join(sorted(fields)))
        if 'terms' in fields:
            say('terms ' + first(fields['terms'].get_value()))
        answer = await self.form('jabber:iq:register',
                                 phone=('text-single', self.phone),
                                 accept_terms=('boolean', True),
                                 challenge=('text-single', 'pin')).send()
        values = answer['register']['form'].get_values()
        say('sent-to %s %s' % (first(values.get('from')), first(values.get('challenge'))))
        self.result = first(values.get('from'))

    async def send_code(self):
        answer = await self.form(NS_CODE, code=('text-single', self.code)).send()
        key = first(answer['register']['form'].get_values().get('publickey'))
        say('publickey %s' % key)
        self.result = key

    def on_disconnected(self, _):
        say('disconnected')
        self.loop.stop()


def run(loop, client, address, cafile, certfile=None, keyfile=None):
    host, _, port = address.rpartition(':')
    client.ca_certs = cafile
    if certfile:
        client.certfile, client.keyfile = certfile, keyfile
    client.connect((host, int(port)))
    timer = loop.call_later(TIMEOUT, loop.stop)
    loop.run_forever()
    timer.cancel()
    return client.result


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    address, domain, phone, cafile, code, certfile, keyfile = sys.argv[1:]
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                        format='%(levelname)s %(name)s: %(message)s')
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    sender = run(loop, Registration(domain, 'phone', phone, code), address, cafile)
    key = None
    if sender:
        key = run(loop, Registration(domain, 'code', phone, code), address, cafile, certfile, keyfile)
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
    sys.exit(0 if key else 2)


if __name__ == '__main__':
    main()
