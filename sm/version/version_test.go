package version_test

import (
	"strings"
	"testing"

	"github.com/kontalk/xmppd/sm/core"
	"github.com/kontalk/xmppd/sm/core/coretest"
	"github.com/kontalk/xmppd/sm/version"
)

func TestVersionAndPing(t *testing.T) {
	ctx := coretest.Context(t)
	el, err := version.New().HandleIQ(ctx, coretest.IQ(t, "<iq type='get' id='v'><query xmlns='jabber:iq:version'/></iq>", core.TargetDomain, ""))
	if err != nil || !strings.Contains(el.String(), "<name>Kontalk</name>") {
		t.Fatalf("version %v %v", el, err)
	}
	if el, err := (version.Ping{}).HandleIQ(ctx, coretest.IQ(t, "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>", core.TargetDomain, "")); el != nil || err != nil {
		t.Fatalf("ping %v %v", el, err)
	}
	if _, err := (version.Ping{}).HandleIQ(ctx, coretest.IQ(t, "<iq type='set' id='p'><ping xmlns='urn:xmpp:ping'/></iq>", core.TargetDomain, "")); err == nil {
		t.Fatal("ping set accepted")
	}
}
