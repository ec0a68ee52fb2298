package systest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xmppclient"
)

// befriend makes a and b subscribe to each other's presence, through
// the server as clients do.
func befriend(t *testing.T, a *xmppclient.Client, aJID string, b *xmppclient.Client, bJID string) {
	t.Helper()
	for _, p := range []struct {
		from, to       *xmppclient.Client
		fromJID, toJID string
	}{{a, b, aJID, bJID}, {b, a, bJID, aJID}} {
		send(t, p.from, fmt.Sprintf("<presence type='subscribe' to='%s'/>", p.toJID))
		expect(t, p.to, "type='subscribe'", "from='"+p.fromJID+"'")
		send(t, p.to, fmt.Sprintf("<presence type='subscribed' to='%s'/>", p.fromJID))
		expect(t, p.from, "type='subscribed'", "from='"+p.toJID+"'")
	}
}

// gone checks that the user's account is gone as a contact sees it:
// roster match does not find it, and its last activity is item-not-found.
func gone(t *testing.T, c *xmppclient.Client, jid string) {
	t.Helper()
	match, se := iq(t, c, "get", "probe@"+network, "<query xmlns='http://kontalk.org/extensions/roster'><item jid='"+jid+"'/></query>")
	if se != nil || strings.Contains(match.String(), jid) {
		t.Fatalf("roster match after deletion: %v %v", match, se)
	}
	_, se = iq(t, c, "get", jid, "<query xmlns='jabber:iq:last'/>")
	if se == nil || se.Condition != stanza.ItemNotFound {
		t.Fatalf("last activity of a deleted user: %v", se)
	}
}

// An operator deletes a user with kontalkctl: the user's stream is
// closed, the contacts get the cancellations, the account is gone.
func TestOperatorDeletesUser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctl, err := testkit.Build(ctx, "../kontalkctl", t.TempDir(), "kontalkctl")
	if err != nil {
		t.Fatal(err)
	}
	h := startRegHost(t)
	alice, bob := h.register(t, randomPhone(t)), h.register(t, randomPhone(t))
	a, b := h.login(t, alice, "phone"), h.login(t, bob, "phone")
	send(t, a, "<presence/>")
	send(t, b, "<presence/>")
	befriend(t, a, alice.JID, b, bob.JID)

	cmd := exec.CommandContext(ctx, ctl, "user", "delete", "-router", h.routerAddr, "-host", h.name, "-user", alice.Localpart)
	cmd.Env = append(cmd.Environ(), "KONTALK_SECRET="+secret)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "deleted\t"+alice.JID) {
		t.Fatalf("kontalkctl user delete: %v\n%s", err, out.String())
	}
	waitClosed(t, a, stream.NotAuthorized)
	expect(t, b, "type='unsubscribe'", "from='"+alice.JID+"'")
	expect(t, b, "type='unsubscribed'", "from='"+alice.JID+"'")
	gone(t, b, alice.JID)

	cmd = exec.CommandContext(ctx, ctl, "user", "delete", "-router", h.routerAddr, "-host", h.name, "-user", alice.Localpart)
	cmd.Env = append(cmd.Environ(), "KONTALK_SECRET="+secret)
	if msg, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(msg), "item-not-found") {
		t.Fatalf("deleting again: %v %s", err, msg)
	}
}

// waitClosed reads until the stream ends with a stream error of the
// condition.
func waitClosed(t *testing.T, c *xmppclient.Client, cond stream.Condition) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		_, err := c.Next(ctx)
		if err == nil {
			continue
		}
		var se *stream.Error
		if !errors.As(err, &se) || se.Condition != cond {
			t.Fatalf("stream of %s ended with %v, want %s", c.JID(), err, cond)
		}
		return
	}
}

// Users inactive for longer than -purge-inactive are deleted, and their
// contacts told; users online are kept.
func TestPurgeInactive(t *testing.T) {
	h := startRegHost(t, "-purge-inactive", "2s", "-purge-every", "250ms")
	carol, dave := h.register(t, randomPhone(t)), h.register(t, randomPhone(t))
	c, d := h.login(t, carol, "phone"), h.login(t, dave, "phone")
	send(t, c, "<presence/>")
	send(t, d, "<presence/>")
	befriend(t, c, carol.JID, d, dave.JID)
	closeClean(t, c)
	expect(t, d, "type='unavailable'", "from='"+carol.JID+"/phone'")
	expect(t, d, "type='unsubscribed'", "from='"+carol.JID+"'")
	gone(t, d, carol.JID)
	// Dave, online all along, is still there.
	if _, se := iq(t, d, "get", "", "<query xmlns='jabber:iq:roster'/>"); se != nil {
		t.Fatalf("dave: %v", se)
	}
}
