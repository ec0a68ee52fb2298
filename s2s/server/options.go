package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/kontalk/xmppd/pkg/jid"
)

// SRVResolver looks up DNS SRV records; *net.Resolver is one. Tests
// inject their own.
type SRVResolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// Options configure a Server. Zero values take the defaults below; the
// certificates and keys are loaded by the caller (LoadFederationCert,
// LoadRoots, LoadHostIdentity), so New does no I/O.
type Options struct {
	// Listen is the address of the inbound listener (default ":5269").
	Listen string
	// Router is the router's component address (default "127.0.0.1:5347").
	Router string
	// Secret is the router secret of the server's own components.
	Secret string
	// Name is this component's name at the router (default "s2s.<Host>").
	Name string
	// Network is the network domain N users live in.
	Network string
	// Host is this host's domain H.
	Host string

	// FederationCert is presented to federated peers, as a server and as
	// a client (SASL EXTERNAL). Without it federated streams are not
	// encrypted by this side, which AllowPlaintext must then permit.
	FederationCert *tls.Certificate
	// Roots are the CAs federated peers' certificates must chain to for
	// SASL EXTERNAL (nil: the system's).
	Roots *x509.CertPool
	// HostIdentity is the certificate made from this host's OpenPGP
	// server key, which authenticates it to the other hosts of the
	// network. Without it no link to another host can be made.
	HostIdentity *HostIdentity
	// DialbackSecret derives dialback keys (XEP-0185). Every host of the
	// network must use the same one, since a federated server may check a
	// key with any of them. Empty: a random one, fit for a single host.
	DialbackSecret string
	// AllowPlaintext lets federated streams go without TLS; by default a
	// federated peer must use STARTTLS (or direct TLS) before it
	// authenticates, and an outbound link fails when the peer offers
	// none. Links between hosts of the network always use TLS.
	AllowPlaintext bool

	// Peers maps a domain to the host:port its server listens on,
	// overriding the directory and DNS (tests on loopback, private peers).
	Peers map[string]string
	// Resolver looks up SRV records (default net.DefaultResolver), and
	// HostResolver the addresses of the targets (default: the system's).
	Resolver     SRVResolver
	HostResolver *net.Resolver
	// RedisURL is the network directory (docs/data.md, hosts and leases).
	// Empty: no other host of the network is known.
	RedisURL string
	// HostsRefresh is how often the directory is read (default 1s).
	HostsRefresh time.Duration

	// MaxStanza bounds a stanza on an authenticated stream (default
	// 512 KiB, ARCHITECTURE.md §7).
	MaxStanza int
	// PreAuthStanza bounds an element read before the peer authenticated
	// (default 8 KiB), and PreAuthBytes all it may send before then
	// (default 64 KiB): negotiation and dialback need little.
	PreAuthStanza, PreAuthBytes int
	// Rate is the sustained inbound rate of one federated stream in bytes
	// per second (default 64 KiB/s); RateBurst what it may read at once
	// (default MaxStanza). A stream over its rate is not read from until
	// it is back under it. Links between hosts of the network are not
	// limited: they carry the whole network's traffic.
	Rate, RateBurst int
	// QueueBytes bounds the stanzas waiting for one outbound link while
	// it connects (default 1 MiB); beyond, stanzas are bounced.
	QueueBytes int

	// ConnectTimeout bounds setting up an outbound link: DNS, connect,
	// TLS and authentication (default 30s). Stanzas waiting for a link
	// that takes longer are bounced with remote-server-timeout.
	ConnectTimeout time.Duration
	// HandshakeTimeout bounds the time an inbound peer has from connect
	// to authentication, TLS included (default 60s).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a stream that carried no stanza for this long
	// (default 10m).
	IdleTimeout time.Duration
	// WriteTimeout bounds one write to a peer (default 10s).
	WriteTimeout time.Duration
	// ShutdownTimeout bounds the drain on shutdown (default 5s).
	ShutdownTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.Listen == "" {
		o.Listen = ":5269"
	}
	if o.Router == "" {
		o.Router = "127.0.0.1:5347"
	}
	if o.Name == "" && o.Host != "" {
		o.Name = "s2s." + o.Host
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.HostsRefresh <= 0 {
		o.HostsRefresh = time.Second
	}
	if o.MaxStanza <= 0 {
		o.MaxStanza = 512 << 10
	}
	if o.PreAuthStanza <= 0 {
		o.PreAuthStanza = 8 << 10
	}
	if o.PreAuthBytes <= 0 {
		o.PreAuthBytes = 64 << 10
	}
	if o.Rate <= 0 {
		o.Rate = 64 << 10
	}
	if o.RateBurst <= 0 {
		o.RateBurst = o.MaxStanza
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 1 << 20
	}
	if o.QueueBytes < o.MaxStanza {
		o.QueueBytes = o.MaxStanza
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 30 * time.Second
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 60 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 10 * time.Minute
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 5 * time.Second
	}
}

// validate checks the options and puts the domains in canonical form.
func (o *Options) validate() error {
	var errs []error
	if o.Secret == "" {
		errs = append(errs, errors.New("no router secret: set -secret (KONTALK_SECRET)"))
	}
	for _, d := range []struct {
		name string
		p    *string
	}{{"network", &o.Network}, {"host", &o.Host}, {"name", &o.Name}} {
		canon, err := canonicalDomain(*d.p)
		if err != nil {
			errs = append(errs, fmt.Errorf("-%s: %w", d.name, err))
			continue
		}
		*d.p = canon
	}
	if o.Network != "" && o.Network == o.Host {
		errs = append(errs, errors.New("the network domain and the host domain must differ"))
	}
	if !o.AllowPlaintext && o.FederationCert == nil {
		errs = append(errs, errors.New("TLS is required for federation but no certificate is configured: set -tls-cert and -tls-key, or -require-tls=false"))
	}
	peers := make(map[string]string, len(o.Peers))
	for domain, addr := range o.Peers {
		canon, err := canonicalDomain(domain)
		if err != nil {
			errs = append(errs, fmt.Errorf("-peer %s: %w", domain, err))
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("-peer %s=%s: want host:port: %w", domain, addr, err))
			continue
		}
		peers[canon] = addr
	}
	o.Peers = peers
	if len(errs) > 0 {
		return fmt.Errorf("s2s: %w", errors.Join(errs...))
	}
	return nil
}

// canonicalDomain validates a domain and returns its canonical form.
func canonicalDomain(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty domain")
	}
	if strings.ContainsAny(s, "@/") {
		return "", fmt.Errorf("%q is an address, not a domain", s)
	}
	canon, ok := jid.AppendDomain(nil, []byte(s))
	if !ok {
		return "", fmt.Errorf("%q is not a valid domain", s)
	}
	return string(canon), nil
}
