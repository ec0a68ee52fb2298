package core

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/store"
)

// Config names what this sm instance serves.
type Config struct {
	// Network is the network domain N users see.
	Network string
	// Host is this host's domain H.
	Host string
	// Instance is this instance's component name (sm-1.H).
	Instance string
	// Started is when the process started (the domain's last activity).
	Started time.Time
}

// Service JIDs' localparts: the Kontalk services clients address at N.
const (
	ServiceProbe     = "probe"
	ServiceNetwork   = "network"
	ServicePush      = "push"
	ServiceMulticast = "multicast"
)

// IsService reports whether local names a service JID.
func IsService(local string) bool {
	switch local {
	case ServiceProbe, ServiceNetwork, ServicePush, ServiceMulticast:
		return true
	}
	return false
}

// Session is a client session: the user's localpart and resource with
// the stored record.
type Session struct {
	User, Resource string
	store.Session
}

// Sender sends what sm produces.
type Sender interface {
	// Route sends a stanza to the router, which delivers it by its 'to'.
	Route(ctx context.Context, raw []byte) error
	// Deliver sends a stanza, already addressed to the session's full
	// JID, to the client through its c2s. rid names the stanza's inbox
	// entry (empty when it has none).
	Deliver(ctx context.Context, s *Session, rid string, raw []byte) error
	// Envelope sends a session protocol envelope to a c2s or sm
	// instance; its From is set by the Sender.
	Envelope(ctx context.Context, e *envelope.Envelope) error
}

// Env is what features share.
type Env struct {
	Config
	Store *store.Store
	Out   Sender
	Log   *zap.Logger
}

// UserJID returns the bare network JID of the user u.
func (e *Env) UserJID(u string) string { return u + "@" + e.Network }

// FullJID returns the network JID of a session.
func (e *Env) FullJID(s *Session) string { return s.User + "@" + e.Network + "/" + s.Resource }
