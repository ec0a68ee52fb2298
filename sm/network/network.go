package network

import (
	"context"
	"fmt"
	"slices"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
)

// Namespaces.
const (
	NSCommands   = "http://jabber.org/protocol/commands"
	NSServerlist = "http://kontalk.org/extensions/serverlist"
)

// CommandServerlist is the command's node.
const CommandServerlist = "serverlist"

// Network answers the serverlist command.
type Network struct {
	env *core.Env
}

// New returns the feature.
func New(env *core.Env) *Network { return &Network{env: env} }

// HandleIQ executes the serverlist command.
func (n *Network) HandleIQ(ctx context.Context, iq *core.IQ) (*xml.Element, error) {
	cmd := iq.Payload
	if iq.Type != "set" || cmd.Local() != "command" {
		return nil, stanza.Errorf(stanza.BadRequest, "an ad-hoc command is a set of <command/>")
	}
	if node := cmd.Attr("node"); node != CommandServerlist {
		return nil, stanza.Errorf(stanza.ItemNotFound, "no command %q", node)
	}
	if a := cmd.Attr("action"); a != "" && a != "execute" && a != "complete" {
		return nil, stanza.Errorf(stanza.BadRequest, "the serverlist command only executes")
	}
	hosts, err := n.env.Store.Hosts.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("serverlist: %w", err)
	}
	names := make([]string, 0, len(hosts))
	for name, h := range hosts {
		if h.Enabled {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	list := xml.New("serverlist", NSServerlist)
	for _, name := range names {
		item := xml.New("item", "", xml.Attr{Name: "node", Value: n.env.Network + "|" + name})
		if fp := hosts[name].Fingerprint; fp != "" {
			item.SetAttr("fingerprint", fp)
		}
		list.Append(item)
	}
	return xml.New("command", NSCommands,
		xml.Attr{Name: "node", Value: CommandServerlist},
		xml.Attr{Name: "sessionid", Value: core.NewID()},
		xml.Attr{Name: "status", Value: "completed"}).Append(list), nil
}
