package version

import (
	"context"
	"runtime"
	"runtime/debug"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
)

// Namespaces.
const (
	NSVersion = "jabber:iq:version"
	NSPing    = "urn:xmpp:ping"
)

// Version answers jabber:iq:version for the domain.
type Version struct {
	name, version string
}

// New returns the version feature, reporting the module's version from
// the build information.
func New() *Version {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return &Version{name: "Kontalk", version: v}
}

// HandleIQ answers a version get to the domain.
func (v *Version) HandleIQ(_ context.Context, iq *core.IQ) (*xml.Element, error) {
	if iq.Type != "get" || iq.Target != core.TargetDomain {
		return nil, stanza.Errorf(stanza.ServiceUnavailable, "")
	}
	q := xml.New("query", NSVersion)
	q.Append(xml.New("name", "").AppendText(v.name))
	q.Append(xml.New("version", "").AppendText(v.version))
	q.Append(xml.New("os", "").AppendText(runtime.GOOS))
	return q, nil
}

// Ping answers pings with an empty result.
type Ping struct{}

// HandleIQ answers a ping.
func (Ping) HandleIQ(_ context.Context, iq *core.IQ) (*xml.Element, error) {
	if iq.Type != "get" {
		return nil, stanza.Errorf(stanza.BadRequest, "a ping is a get")
	}
	return nil, nil
}
