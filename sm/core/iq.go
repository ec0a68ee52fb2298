package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/xml"
)

// Target says whom an IQ is addressed to, as sm sees it.
type Target int

// IQ targets.
const (
	// TargetDomain: the network domain (or this host).
	TargetDomain Target = iota + 1
	// TargetSelf: the asker's own account (no 'to', or its bare JID).
	TargetSelf
	// TargetUser: a user's bare JID, answered by the server for the
	// user (RFC 6121 §8.5.1), asked by someone else.
	TargetUser
	// TargetService: one of the service JIDs (probe@N, ...).
	TargetService
)

// IQ is an IQ get or set sm answers itself.
type IQ struct {
	*Stanza
	// Payload is the query element.
	Payload *xml.Element
	Target  Target
	// User is the user concerned: the asker for TargetSelf, the
	// addressed user for TargetUser, the asker (or "") otherwise.
	User string
	// Service is the service's localpart for TargetService.
	Service string
	// Session is the asker's session when the asker is a client of this
	// network; nil for IQs from elsewhere.
	Session *Session
}

// IQHandler answers IQs of the namespaces it was registered for. sm
// sends the answer: HandleIQ returns the payload of the result (nil for
// an empty result), or the error to answer with (a *stanza.Error is
// sent as it is; any other error is logged and answered with
// internal-server-error). A handler that must also notify the user's
// sessions (roster and blocking pushes) does so itself.
type IQHandler interface {
	HandleIQ(ctx context.Context, iq *IQ) (*xml.Element, error)
}

// IQHandlerFunc adapts a function to IQHandler.
type IQHandlerFunc func(ctx context.Context, iq *IQ) (*xml.Element, error)

// HandleIQ calls f.
func (f IQHandlerFunc) HandleIQ(ctx context.Context, iq *IQ) (*xml.Element, error) { return f(ctx, iq) }

// NewID returns a random stanza id (64 bits, hex, from crypto/rand).
func NewID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Candidates returns the forms of the address j that a blocking item can
// match (XEP-0191 §3.4, using RFC 6121's privacy list rules): the full
// JID, the bare JID, domain/resource and the domain.
func Candidates(j jid.JID) []string {
	out := make([]string, 0, 4)
	if j.Resourcepart() != "" {
		out = append(out, j.String())
	}
	if j.Localpart() != "" {
		out = append(out, j.Bare().String())
		if j.Resourcepart() != "" {
			out = append(out, j.Domainpart()+"/"+j.Resourcepart())
		}
	}
	return append(out, j.Domainpart())
}
