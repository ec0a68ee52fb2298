package component

import (
	"strconv"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/xml"
)

// NS is the namespace of the router extension.
const NS = "http://kontalk.org/protocol/router"

// Bind asks the router for a route.
type Bind struct {
	// Name is the domain routed to this connection.
	Name string
	// Multi lets several connections share Name; the router picks one by
	// a stable hash of the bare 'to' JID.
	Multi bool
	// Default makes this connection the default route: stanzas for
	// domains nobody bound come here (s2s).
	Default bool
}

// AppendBindRequest appends <bind/> for b with the correlation id.
func AppendBindRequest(dst []byte, b Bind, id string) []byte {
	dst = append(dst, "<bind xmlns='"+NS+"' name='"...)
	dst = xml.AppendEscapedAttr(dst, b.Name, '\'')
	dst = append(dst, "' id='"...)
	dst = xml.AppendEscapedAttr(dst, id, '\'')
	dst = append(dst, '\'')
	if b.Multi {
		dst = append(dst, " multi='true'"...)
	}
	if b.Default {
		dst = append(dst, " default='true'"...)
	}
	return append(dst, "/>"...)
}

// AppendUnbindRequest appends <unbind/> for name.
func AppendUnbindRequest(dst []byte, name, id string) []byte {
	dst = append(dst, "<unbind xmlns='"+NS+"' name='"...)
	dst = xml.AppendEscapedAttr(dst, name, '\'')
	dst = append(dst, "' id='"...)
	dst = xml.AppendEscapedAttr(dst, id, '\'')
	return append(dst, "'/>"...)
}

// AppendReply appends the router's answer to a bind or unbind request
// (op is "bind" or "unbind"): empty on success, with the error otherwise.
func AppendReply(dst []byte, op, name, id string, e *stanza.Error) []byte {
	dst = append(dst, '<')
	dst = append(dst, op...)
	dst = append(dst, " xmlns='"+NS+"' name='"...)
	dst = xml.AppendEscapedAttr(dst, name, '\'')
	dst = append(dst, "' id='"...)
	dst = xml.AppendEscapedAttr(dst, id, '\'')
	if e == nil {
		return append(dst, "'/>"...)
	}
	dst = append(dst, "' type='error'>"...)
	dst = e.AppendXML(dst)
	dst = append(dst, "</"...)
	dst = append(dst, op...)
	return append(dst, '>')
}

// IsExtension reports whether top is a nonza of the router extension.
func IsExtension(top *xml.Top) bool {
	ns, _ := top.Attr("xmlns")
	return string(ns) == NS && (top.Is("bind") || top.Is("unbind"))
}

// ParseBind reads a <bind/> request's fields.
func ParseBind(top *xml.Top) (b Bind, id string) {
	b.Name = top.Value("name")
	b.Multi = isTrue(top.Value("multi"))
	b.Default = isTrue(top.Value("default"))
	return b, top.Value("id")
}

func isTrue(s string) bool {
	v, err := strconv.ParseBool(s)
	return err == nil && v
}

// AppendRoutePresence appends the presence the router sends a component
// when the route name appears (up) or disappears.
func AppendRoutePresence(dst []byte, name, to string, up bool) []byte {
	dst = append(dst, "<presence from='"...)
	dst = xml.AppendEscapedAttr(dst, name, '\'')
	dst = append(dst, "' to='"...)
	dst = xml.AppendEscapedAttr(dst, to, '\'')
	dst = append(dst, '\'')
	if !up {
		dst = append(dst, " type='unavailable'"...)
	}
	return append(dst, "><route xmlns='"+NS+"'/></presence>"...)
}

// ParseRoutePresence reports whether the stanza top is a route presence
// from the router and, if so, the route name and whether it is up. Its
// payload is read only for presences from a bare domain, which users'
// presences never are.
func ParseRoutePresence(top *xml.Top) (name string, up, ok bool) {
	if !top.Is("presence") {
		return "", false, false
	}
	from, _ := top.Attr("from")
	for _, c := range from {
		if c == '@' || c == '/' {
			return "", false, false
		}
	}
	inner, err := xml.Parse(top.Inner(), xml.Scope{Default: "jabber:component:accept"})
	if err != nil || inner.Local() != "route" || inner.Space != NS {
		return "", false, false
	}
	typ := top.Value("type")
	return string(from), typ != "unavailable", typ == "" || typ == "unavailable"
}
