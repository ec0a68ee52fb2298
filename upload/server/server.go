// Package server is the file upload service of a Kontalk network: an
// XEP-0114 component (named media.N) that hands out HTTP upload slots
// (XEP-0363, both the urn:xmpp:http:upload v0.2 form Kontalk clients use
// and the current urn:xmpp:http:upload:0 form) and the HTTP server that
// takes the uploads and serves the downloads from files on disk.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/xml"
)

// Options configure the service.
type Options struct {
	// Name is the component's name at the router (media.N).
	Name string
	// Network is the network domain N: only its users get slots.
	Network string
	// Router and Secret reach the router.
	Router, Secret string
	// HTTPListen is the HTTP listener address.
	HTTPListen string
	// PublicURL is the base of the URLs handed to clients
	// (https://media.kontalk.example); it defaults to http:// on the
	// listener's address, for development.
	PublicURL string
	// Dir holds the files.
	Dir string
	// MaxSize bounds one file (default 20 MiB).
	MaxSize int64
	// Types are the content types accepted, "image/*" style patterns
	// allowed (default DefaultTypes).
	Types []string
	// SlotTTL is how long a slot may be used (default 5 minutes).
	SlotTTL time.Duration
	// FileTTL is how long files are kept (default 30 days).
	FileTTL time.Duration
	// Key signs upload URLs (at least 16 bytes).
	Key []byte
}

// DefaultTypes lists the content types accepted by default: images,
// audio, video, vCards, plain text, PDF, and octet streams, which is what
// encrypted media are sent as.
const DefaultTypes = "image/*,audio/*,video/*,text/plain,text/vcard,text/x-vcard,application/pdf,application/octet-stream,application/pgp-encrypted"

func (o *Options) setDefaults() {
	if o.MaxSize <= 0 {
		o.MaxSize = 20 << 20
	}
	if len(o.Types) == 0 {
		o.Types = strings.Split(DefaultTypes, ",")
	}
	if o.SlotTTL <= 0 {
		o.SlotTTL = 5 * time.Minute
	}
	if o.FileTTL <= 0 {
		o.FileTTL = 30 * 24 * time.Hour
	}
	if o.HTTPListen == "" {
		o.HTTPListen = ":8080"
	}
}

func (o *Options) validate() error {
	switch {
	case o.Name == "" || o.Network == "":
		return errors.New("upload: the component name and the network domain are required")
	case o.Router == "" || o.Secret == "":
		return errors.New("upload: the router address and secret are required")
	case o.Dir == "":
		return errors.New("upload: a directory for the files is required")
	case len(o.Key) < 16:
		return errors.New("upload: the URL signing key must have at least 16 bytes")
	}
	if o.PublicURL != "" {
		u, err := url.Parse(o.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("upload: public URL %q is not an http(s) URL", o.PublicURL)
		}
	}
	return nil
}

// Server is the upload service.
type Server struct {
	opts   Options
	log    *zap.Logger
	m      *metrics
	sign   signer
	client *component.Client
	ln     net.Listener
	files  *store
}

// New validates opts and returns the service; it does no I/O besides
// creating the directory.
func New(opts Options, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	s := &Server{opts: opts, log: log, sign: signer{key: opts.Key}, files: &store{dir: opts.Dir}}
	s.m = newMetrics(reg)
	c, err := component.New(component.Config{
		Addr: opts.Router, Name: opts.Name, Secret: opts.Secret,
		OnStanza: s.handleStanza, Log: log,
	})
	if err != nil {
		return nil, err
	}
	s.client = c
	return s, nil
}

// Listen binds the HTTP listener.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.opts.HTTPListen)
	if err != nil {
		return fmt.Errorf("upload: listen: %w", err)
	}
	s.ln = ln
	if s.opts.PublicURL == "" {
		s.opts.PublicURL = "http://" + ln.Addr().String()
	}
	s.opts.PublicURL = strings.TrimRight(s.opts.PublicURL, "/")
	return nil
}

// HTTPAddr returns the address of the HTTP listener.
func (s *Server) HTTPAddr() net.Addr { return s.ln.Addr() }

// Connected reports whether the router link is up (readiness).
func (s *Server) Connected() bool { return s.client.Connected() }

// Run serves HTTP, keeps the router link and sweeps expired files until
// ctx ends, then shuts everything down.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	hs := &http.Server{
		Handler:           s.httpHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- hs.Serve(s.ln) }()
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		s.client.Run(ctx)
	}()
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		s.sweepLoop(ctx)
	}()
	s.log.Info("upload service listening", zap.Stringer("http", s.ln.Addr()), zap.String("public_url", s.opts.PublicURL))
	var err error
	select {
	case <-ctx.Done():
	case err = <-httpErr:
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := hs.Shutdown(shutdown); serr != nil && err == nil {
		err = serr
	}
	<-clientDone
	<-sweepDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// sweepLoop deletes expired files now and then.
func (s *Server) sweepLoop(ctx context.Context) {
	every := min(s.opts.FileTTL/10, time.Hour)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.files.sweep(time.Now().Add(-s.opts.FileTTL))
		if err != nil {
			s.log.Warn("sweeping expired files", zap.Error(err))
		}
		if n > 0 {
			s.m.expired.Add(float64(n))
			s.log.Info("expired files deleted", zap.Int("files", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// allowedType reports whether the content type matches Options.Types.
func (s *Server) allowedType(ct string) bool {
	ct = strings.ToLower(strings.TrimSpace(ct))
	for _, p := range s.opts.Types {
		p = strings.ToLower(p)
		if p == ct || strings.HasSuffix(p, "/*") && strings.HasPrefix(ct, p[:len(p)-1]) && len(ct) > len(p)-1 {
			return true
		}
	}
	return false
}

// fromNetwork reports whether the requester is a user of the network.
func (s *Server) fromNetwork(from string) bool {
	local, domain, _ := jid.Split([]byte(from))
	if len(local) == 0 {
		return false
	}
	canon, ok := jid.AppendDomain(nil, domain)
	return ok && string(canon) == s.opts.Network
}

func (s *Server) send(raw []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.client.Send(ctx, raw); err != nil {
		s.log.Warn("reply not sent", zap.Error(err))
	}
}

// scope is the namespace context of stanzas from the router.
var scope = xml.Scope{Default: "jabber:component:accept"}
