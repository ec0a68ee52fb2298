package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/config"
	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/phone"
	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

// userFlags name a user by phone number or localpart.
type userFlags struct{ phone, user string }

func (u *userFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&u.phone, "phone", "", "the user's phone number, international form")
	fs.StringVar(&u.user, "user", "", "the user's localpart (SHA-1 of the number, 40 hex digits)")
}

// localpart returns the user's localpart.
func (u *userFlags) localpart() (string, error) {
	switch {
	case u.phone != "" && u.user != "":
		return "", errors.New("give -phone or -user, not both")
	case u.phone != "":
		n, err := phone.Normalize(u.phone)
		if err != nil {
			return "", err
		}
		return phone.Localpart(n), nil
	case len(u.user) == 40 && strings.Trim(strings.ToLower(u.user), "0123456789abcdef") == "":
		return strings.ToLower(u.user), nil
	case u.user != "":
		return "", fmt.Errorf("-user %q is not 40 hex digits", u.user)
	}
	return "", errors.New("give -phone or -user")
}

func openStore(url string) (*store.Store, error) {
	if url == "" {
		return nil, errors.New("-redis (KONTALK_REDIS) is required")
	}
	return store.Open(store.Options{URL: url})
}

// userCreate makes a user with a certified key, stores the account and
// writes the key and bridge certificate, for development, tests and
// load tools.
func userCreate(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := newFlags("user create", out)
	var redisURL string
	config.SecretVar(fs, &redisURL, "redis", "", "Redis URL of the network (required)")
	network := fs.String("network", "", "the network domain N (required)")
	host := fs.String("host", "", "the user's home host H (required)")
	keyFile := fs.String("server-key", "", "the network's key file, current key private (required)")
	number := fs.String("phone", "", "the user's phone number, international form (required)")
	name := fs.String("name", "Kontalk user", "the name in the key's user ID")
	dir := fs.String("out", ".", "directory to write the files to")
	stdsan := fs.Bool("stdsan", false, "write the certificate with the RFC 5280 form of the xmppAddr (what Python's ssl loads)")
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	if *network == "" || *host == "" || *number == "" {
		return errors.New("user create: -network, -host and -phone are required")
	}
	e164, err := phone.Normalize(*number)
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	keys, err := readKeyFile(*keyFile)
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	if keys.Signer == nil {
		return errors.New("user create: the key file's current key has no private part: it cannot certify")
	}
	st, err := openStore(redisURL)
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	defer st.Close()
	id, err := clienttest.New(*network, clienttest.Options{Name: *name, Phone: e164, Certifier: keys.Signer, StandardOtherName: *stdsan})
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	created, err := st.Users.Create(ctx, id.Localpart, store.User{Fingerprint: id.Fingerprint, Key: id.Ring, Home: *host})
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	if !created {
		return fmt.Errorf("user create: %s (%s) has an account; delete it first", e164, id.JID)
	}
	base := id.Localpart
	certFile, tlsKeyFile, err := id.WritePEM(*dir, base)
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	priv, err := id.Key.ArmoredPrivate()
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	pgpFile := filepath.Join(*dir, base+".pgp.asc")
	if err := os.WriteFile(pgpFile, priv, 0o600); err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	fmt.Fprintf(out, "jid\t%s\nphone\t%s\nfingerprint\t%s\ncertificate\t%s\ntls key\t%s\nopenpgp key\t%s\n",
		id.JID, e164, id.Fingerprint, certFile, tlsKeyFile, pgpFile)
	return nil
}

// userShow prints a user's account.
func userShow(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := newFlags("user show", out)
	var redisURL string
	config.SecretVar(fs, &redisURL, "redis", "", "Redis URL of the network (required)")
	var who userFlags
	who.declare(fs)
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	u, err := who.localpart()
	if err != nil {
		return fmt.Errorf("user show: %w", err)
	}
	st, err := openStore(redisURL)
	if err != nil {
		return fmt.Errorf("user show: %w", err)
	}
	defer st.Close()
	user, err := st.Users.Get(ctx, u)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("user show: no user %s", u)
	}
	if err != nil {
		return fmt.Errorf("user show: %w", err)
	}
	sessions, err := st.Sessions.All(ctx, u)
	if err != nil {
		return fmt.Errorf("user show: %w", err)
	}
	roster, err := st.Rosters.Get(ctx, u)
	if err != nil {
		return fmt.Errorf("user show: %w", err)
	}
	tokens, err := st.Push.Tokens(ctx, u)
	if err != nil {
		return fmt.Errorf("user show: %w", err)
	}
	fmt.Fprintf(out, "user\t%s\nfingerprint\t%s\nhome\t%s\ncreated\t%s\nlast seen\t%s\nstatus\t%s\ncontacts\t%d\n",
		u, user.Fingerprint, user.Home, stamp(user.Created), stamp(user.Seen), user.Status, len(roster.Items))
	var providers []string
	for p := range tokens {
		providers = append(providers, p)
	}
	slices.Sort(providers)
	fmt.Fprintf(out, "push\t%s\n", strings.Join(providers, ","))
	for res, s := range sessions {
		fmt.Fprintf(out, "session\t%s\t%s\t%s\tsince %s\n", res, s.Host, s.C2S, stamp(time.UnixMilli(s.Since)))
	}
	return nil
}

func stamp(t time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// userDelete asks the network to delete a user: it connects to the
// router as a component of the host and sends the user's sm instance a
// delete envelope, which ends the user's sessions, tells the contacts
// and removes the account.
func userDelete(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := newFlags("user delete", out)
	router := fs.String("router", "127.0.0.1:5347", "router address")
	host := fs.String("host", "", "a host H of the network (required)")
	var secret string
	config.SecretVar(fs, &secret, "secret", "", "secret of the server's own components (required)")
	wait := fs.Duration("timeout", 15*time.Second, "how long to wait for the answer")
	var who userFlags
	who.declare(fs)
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	u, err := who.localpart()
	if err != nil {
		return fmt.Errorf("user delete: %w", err)
	}
	if *host == "" || secret == "" {
		return errors.New("user delete: -host and -secret (KONTALK_SECRET) are required")
	}
	reply, err := askSM(ctx, *router, *host, secret, *wait, &envelope.Envelope{To: u + "@" + *host, Action: envelope.ActionDelete})
	if err != nil {
		return fmt.Errorf("user delete: %w", err)
	}
	if reply.Action != envelope.ActionDeleted {
		if reply.Error != nil {
			return fmt.Errorf("user delete: %s: %w", u, reply.Error)
		}
		return fmt.Errorf("user delete: %s: answered %q", u, reply.Action)
	}
	fmt.Fprintf(out, "deleted\t%s\n", reply.JID)
	return nil
}

// askSM connects to the router as ctl-<random>.H, sends e and returns
// sm's answer.
func askSM(ctx context.Context, router, host, secret string, wait time.Duration, e *envelope.Envelope) (*envelope.Envelope, error) {
	var tag [6]byte
	rand.Read(tag[:])
	e.From = "ctl-" + hex.EncodeToString(tag[:]) + "." + host
	answers := make(chan *envelope.Envelope, 1)
	client, err := component.New(component.Config{
		Addr: router, Name: e.From, Secret: secret, Timeout: wait,
		OnStanza: func(top *xml.Top) {
			top = top.Clone()
			if a, err := envelope.Parse(top); err == nil && (a.Action == envelope.ActionDeleted || a.Action == envelope.ActionFailed) {
				select {
				case answers <- a:
				default:
				}
			} else if top.Value("type") == "error" {
				// The router could not deliver: no sm for the host.
				select {
				case answers <- &envelope.Envelope{Action: envelope.ActionFailed, Error: bounceError(top)}:
				default:
				}
			}
		},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- client.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-client.Ready():
	case <-ctx.Done():
		return nil, fmt.Errorf("no connection to the router at %s", router)
	}
	if err := client.Send(ctx, envelope.Append(nil, e)); err != nil {
		return nil, err
	}
	select {
	case a := <-answers:
		return a, nil
	case <-ctx.Done():
		return nil, errors.New("no answer from the session manager")
	}
}

// bounceError reads the error of a bounced envelope.
func bounceError(top *xml.Top) *stanza.Error {
	if el, err := xml.Parse(top.Raw, xml.Scope{Default: stream.NSComponent}); err == nil {
		if se := stanza.ParseError(el); se != nil {
			return se
		}
	}
	return &stanza.Error{Condition: stanza.ServiceUnavailable, Text: "the router could not deliver the request"}
}
