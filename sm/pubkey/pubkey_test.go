package pubkey_test

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/core/coretest"
	"github.com/kontalk/xmppd/sm/pubkey"
)

func TestKeys(t *testing.T) {
	env, _ := coretest.NewEnv(t)
	ctx := coretest.Context(t)
	alice, bob := coretest.User(t, env, "alice"), coretest.User(t, env, "bob")
	p := pubkey.New(env, []byte("server ring"))
	get := func(target core.Target, u, to string) (string, error) {
		el, err := p.HandleIQ(ctx, coretest.IQ(t, "<iq type='get' id='k' from='"+alice+"/r' to='"+to+"'><pubkey xmlns='urn:xmpp:pubkey:2'/></iq>", target, u))
		if err != nil {
			return "", err
		}
		return el.String(), nil
	}
	b64 := base64.StdEncoding.EncodeToString
	for _, c := range []struct {
		target  core.Target
		u, to   string
		content string
	}{
		{core.TargetDomain, "alice", coretest.Network, b64([]byte("server ring"))},
		{core.TargetSelf, "alice", alice, b64([]byte("key of alice"))},
		{core.TargetUser, "bob", bob, b64([]byte("key of bob"))},
	} {
		got, err := get(c.target, c.u, c.to)
		if err != nil || got != "<pubkey xmlns='urn:xmpp:pubkey:2'>"+c.content+"</pubkey>" {
			t.Errorf("key of %s: %s %v", c.to, got, err)
		}
	}
	el, err := p.HandleIQ(ctx, coretest.IQ(t, "<iq type='get' id='k'><pubkey xmlns='urn:xmpp:pubkey:2'/></iq>", core.TargetSelf, "alice"))
	if err != nil || el.Text() != b64([]byte("server ring")) {
		t.Fatalf("no 'to': %v %v", el, err)
	}
	var se *stanza.Error
	if _, err := get(core.TargetUser, "nobody", "nobody@"+coretest.Network); !errors.As(err, &se) || se.Condition != stanza.ItemNotFound {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := pubkey.New(env, nil).HandleIQ(ctx, coretest.IQ(t, "<iq type='get' id='k'><pubkey xmlns='urn:xmpp:pubkey:2'/></iq>", core.TargetDomain, "")); !errors.As(err, &se) {
		t.Fatalf("no server key: %v", err)
	}
}
