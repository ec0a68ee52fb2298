package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/kontalk/xmppd/pkg/jid"
)

// Options configure a Server. Zero values take the defaults below.
type Options struct {
	// Listen is the component listener address (default ":5347").
	Listen string
	// Secret authenticates the server's own components. They are
	// trusted: they may bind any name, take the default route and send
	// stanzas from any address, since they act for users and for
	// federated servers.
	Secret string
	// Components maps third-party component names to their secrets.
	// Such a component may bind only its name and names under it, and
	// send only from domains it bound. A name listed here cannot be
	// taken with Secret.
	Components map[string]string
	// MaxStanza bounds a stanza read from a component (default 1 MiB,
	// above the 512 KiB of s2s stanzas plus envelopes).
	MaxStanza int
	// QueueBytes bounds what waits to be written to one component
	// (default 8 MiB).
	QueueBytes int
	// Stall is how long a sender waits for room in a full queue before
	// its target is disconnected as a slow consumer (default 250ms).
	Stall time.Duration
	// HandshakeTimeout bounds the time from accept to a successful
	// handshake (default 10s).
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one write to a component (default 10s).
	WriteTimeout time.Duration
	// Keepalive is how often an idle connection gets a whitespace
	// keepalive, which also detects dead peers (default 30s).
	Keepalive time.Duration
	// ShutdownTimeout bounds the drain on shutdown (default 5s).
	ShutdownTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.Listen == "" {
		o.Listen = ":5347"
	}
	if o.MaxStanza <= 0 {
		o.MaxStanza = 1 << 20
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 8 << 20
	}
	if o.QueueBytes < o.MaxStanza {
		o.QueueBytes = o.MaxStanza
	}
	if o.Stall <= 0 {
		o.Stall = 250 * time.Millisecond
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Keepalive <= 0 {
		o.Keepalive = 30 * time.Second
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 5 * time.Second
	}
}

func (o *Options) validate() error {
	if o.Secret == "" && len(o.Components) == 0 {
		return errors.New("router: no secret configured: set -secret (KONTALK_SECRET) or -component")
	}
	for name, secret := range o.Components {
		if secret == "" {
			return fmt.Errorf("router: component %s has an empty secret", name)
		}
		if _, ok := jid.AppendDomain(nil, []byte(name)); !ok {
			return fmt.Errorf("router: component name %q is not a valid domain", name)
		}
	}
	return nil
}
