package disco

import (
	"context"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/sm/core"
)

// Namespaces.
const (
	NSInfo  = "http://jabber.org/protocol/disco#info"
	NSItems = "http://jabber.org/protocol/disco#items"
)

// domainFeatures are the features advertised on the domain, implemented
// by the other packages of sm.
func domainFeatures() []string {
	return []string{
		NSInfo, NSItems,
		"jabber:iq:last",
		"jabber:iq:roster",
		"jabber:iq:version",
		"msgoffline",
		"urn:xmpp:blocking",
		"urn:xmpp:ping",
		core.NSPubkey,
		"http://kontalk.org/extensions/roster",
	}
}

func accountFeatures() []string { return []string{NSInfo, "jabber:iq:last", core.NSPubkey} }

// Options say what the domain offers besides what every sm offers.
type Options struct {
	// Components returns the names of the network's components that are
	// connected now and belong in the domain's items.
	Components func() []string
	// Features are more features of the domain (registration, push,
	// multicast).
	Features []string
	// Services are the service JIDs' localparts listed as items of the
	// domain (probe is always there), with the features of each.
	Services map[string][]string
	// Nodes are the domain's items on nodes, by node (the push node).
	Nodes map[string][]*xml.Element
}

// Disco answers discovery requests.
type Disco struct {
	env  *core.Env
	opts Options
}

// New returns the discovery feature.
func New(env *core.Env, opts Options) *Disco {
	return &Disco{env: env, opts: opts}
}

// HandleIQ answers disco#info and disco#items gets.
func (d *Disco) HandleIQ(_ context.Context, iq *core.IQ) (*xml.Element, error) {
	if iq.Type != "get" {
		return nil, stanza.Errorf(stanza.BadRequest, "discovery is only read")
	}
	node, hasNode := iq.Payload.Lookup("node")
	if hasNode && node != "" {
		if iq.Payload.Space == NSItems {
			q := xml.New("query", NSItems, xml.Attr{Name: "node", Value: node})
			if iq.Target == core.TargetDomain {
				for _, it := range d.opts.Nodes[node] {
					q.Append(it.Copy())
				}
			}
			return q, nil
		}
		return nil, stanza.Errorf(stanza.ItemNotFound, "no node %s", node)
	}
	if iq.Payload.Space == NSItems {
		return d.items(iq), nil
	}
	return d.info(iq), nil
}

func identity(category, typ, name string) *xml.Element {
	el := xml.New("identity", "", xml.Attr{Name: "category", Value: category}, xml.Attr{Name: "type", Value: typ})
	if name != "" {
		el.SetAttr("name", name)
	}
	return el
}

func withFeatures(q *xml.Element, features []string) *xml.Element {
	for _, f := range features {
		q.Append(xml.New("feature", "", xml.Attr{Name: "var", Value: f}))
	}
	return q
}

func (d *Disco) info(iq *core.IQ) *xml.Element {
	q := xml.New("query", NSInfo)
	switch iq.Target {
	case core.TargetDomain:
		q.Append(identity("server", "im", "Kontalk"))
		return withFeatures(q, append(domainFeatures(), d.opts.Features...))
	case core.TargetService:
		q.Append(identity("component", "generic", "Kontalk "+iq.Service))
		features := []string{NSInfo}
		if iq.Service == core.ServiceProbe {
			features = append(features, "http://kontalk.org/extensions/roster")
		}
		return withFeatures(q, append(features, d.opts.Services[iq.Service]...))
	default:
		q.Append(identity("account", "registered", ""))
		return withFeatures(q, accountFeatures())
	}
}

func (d *Disco) items(iq *core.IQ) *xml.Element {
	q := xml.New("query", NSItems)
	if iq.Target != core.TargetDomain {
		return q
	}
	q.Append(xml.New("item", "", xml.Attr{Name: "jid", Value: core.ServiceProbe + "@" + d.env.Network}, xml.Attr{Name: "name", Value: "Kontalk probe engine"}))
	for _, svc := range []string{core.ServiceNetwork, core.ServicePush, core.ServiceMulticast} {
		if _, ok := d.opts.Services[svc]; ok {
			q.Append(xml.New("item", "", xml.Attr{Name: "jid", Value: svc + "@" + d.env.Network}, xml.Attr{Name: "name", Value: "Kontalk " + svc}))
		}
	}
	if d.opts.Components != nil {
		for _, c := range d.opts.Components() {
			q.Append(xml.New("item", "", xml.Attr{Name: "jid", Value: c}))
		}
	}
	return q
}
