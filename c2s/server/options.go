package server

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/keyring"
)

// Options configure a Server. Zero values take the defaults below, except
// where a field says otherwise.
type Options struct {
	// Name is this instance's component name at the router (c2s-1.H),
	// unique in the network; sm addresses its answers to it.
	Name string
	// Host is the host domain H: envelopes about user u go to u@H.
	Host string
	// Network is the network domain N clients open their streams to.
	Network string
	// Router is the router's address; Secret its component secret.
	Router, Secret string

	// Listen is the STARTTLS listener (default ":5222"); ListenTLS the
	// direct TLS listener of XEP-0368 (default ":5223"). "-" disables one.
	Listen, ListenTLS string
	// CertFile and KeyFile hold the server's TLS certificate chain and
	// key, PEM.
	CertFile, KeyFile string
	// Trust holds the server keys whose certifications log users in.
	Trust *keyring.Trust

	// PreAuthTimeout bounds the time from accept to authentication
	// (default 30s); answering a registration request restarts it.
	PreAuthTimeout time.Duration
	// MaxPreAuthStanza bounds an element before authentication
	// (default 8 KiB); MaxStanza after it (default 256 KiB).
	MaxPreAuthStanza, MaxStanza int
	// MaxDepth bounds element nesting after authentication (default 64;
	// 16 before).
	MaxDepth int
	// MaxConnsPerIP bounds the open connections from one address
	// (default 100).
	MaxConnsPerIP int
	// Rate and Burst shape what one connection may send, in bytes per
	// second and bytes (defaults 64 KiB/s and 512 KiB): past them the
	// connection is not read until the bucket refills.
	Rate, Burst int
	// MaxAuthFailures is how many failed authentications a connection
	// may make before it is closed (default 3).
	MaxAuthFailures int
	// MaxRegister bounds the registration requests of one connection
	// (default 10).
	MaxRegister int

	// SMTimeout bounds the wait for sm's answer to auth, start and
	// register (default 10s).
	SMTimeout time.Duration
	// MaxUnconfirmed is how many client stanzas of a session may wait
	// for sm's confirmation before c2s stops reading the client
	// (default 64).
	MaxUnconfirmed int
	// ResendInterval is how long a client stanza may stay unconfirmed
	// before it is sent to sm again (default 30s).
	ResendInterval time.Duration
	// ResumeTimeout is how long an XEP-0198 session that asked for
	// resumption survives its connection. Zero disables resumption.
	ResumeTimeout time.Duration

	// PingInterval is how long a connection may stay silent before the
	// server checks it (an XEP-0198 request, or an XEP-0199 ping without
	// stream management) (default 4m); PingTimeout how long the answer
	// may take before the connection is closed (default 60s).
	PingInterval, PingTimeout time.Duration
	// Keepalive is how long the server stays silent before writing a
	// whitespace keepalive (default 90s).
	Keepalive time.Duration
	// WriteTimeout bounds one write to a client (default 30s).
	WriteTimeout time.Duration
	// MaxQueue bounds the bytes waiting to be written to one client, and
	// what a detached resumable session buffers (default 1 MiB); past it
	// the client is disconnected, and what it did not acknowledge stays
	// in its inbox.
	MaxQueue int
	// ShutdownTimeout bounds the drain on shutdown (default 5s).
	ShutdownTimeout time.Duration
}

func (o *Options) setDefaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defDur := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	if o.Listen == "" {
		o.Listen = ":5222"
	}
	if o.ListenTLS == "" {
		o.ListenTLS = ":5223"
	}
	defDur(&o.PreAuthTimeout, 30*time.Second)
	def(&o.MaxPreAuthStanza, 8<<10)
	def(&o.MaxStanza, 256<<10)
	def(&o.MaxDepth, 64)
	def(&o.MaxConnsPerIP, 100)
	def(&o.Rate, 64<<10)
	def(&o.Burst, 512<<10)
	def(&o.MaxAuthFailures, 3)
	def(&o.MaxRegister, 10)
	defDur(&o.SMTimeout, 10*time.Second)
	def(&o.MaxUnconfirmed, 64)
	defDur(&o.ResendInterval, 30*time.Second)
	defDur(&o.PingInterval, 4*time.Minute)
	defDur(&o.PingTimeout, time.Minute)
	defDur(&o.Keepalive, 90*time.Second)
	defDur(&o.WriteTimeout, 30*time.Second)
	def(&o.MaxQueue, 1<<20)
	defDur(&o.ShutdownTimeout, 5*time.Second)
	if o.MaxQueue < o.MaxStanza {
		o.MaxQueue = o.MaxStanza
	}
}

func (o *Options) validate() error {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"name", o.Name}, {"host", o.Host}, {"network", o.Network}, {"router", o.Router},
		{"secret", o.Secret}, {"tls-cert", o.CertFile}, {"tls-key", o.KeyFile},
	} {
		if f.value == "" {
			missing = append(missing, "-"+f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("c2s: missing %s", strings.Join(missing, ", "))
	}
	if o.Trust == nil {
		return errors.New("c2s: no trusted server key (-server-key)")
	}
	for _, d := range []struct{ flag, value string }{{"name", o.Name}, {"host", o.Host}, {"network", o.Network}} {
		canon, ok := jid.AppendDomain(nil, []byte(d.value))
		if !ok || string(canon) != d.value {
			return fmt.Errorf("c2s: -%s %q is not a domain in canonical (lower-case) form", d.flag, d.value)
		}
	}
	if o.Listen == "-" && o.ListenTLS == "-" {
		return errors.New("c2s: both listeners disabled")
	}
	return nil
}
