package server

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/kontalk/xmppd/pkg/xml"
)

// Namespaces of stream negotiation (RFC 6120 §5, §6).
const (
	NSTLS  = "urn:ietf:params:xml:ns:xmpp-tls"
	NSSASL = "urn:ietf:params:xml:ns:xmpp-sasl"
)

// SASL failure conditions (RFC 6120 §6.5) used here.
const (
	saslInvalidMechanism   = "invalid-mechanism"
	saslIncorrectEncoding  = "incorrect-encoding"
	saslInvalidAuthzid     = "invalid-authzid"
	saslNotAuthorized      = "not-authorized"
	saslEncryptionRequired = "encryption-required"
	saslMalformedRequest   = "malformed-request"
)

// maxAuthzid bounds the decoded authorization identity: a domain.
const maxAuthzid = 1023

// externalAuth is a parsed <auth/> request.
type externalAuth struct {
	// authzid is the decoded authorization identity; empty when the peer
	// sent none ("=" or no text), which means the stream's 'from'.
	authzid string
}

// parseAuth reads an <auth/> element in the SASL namespace. It accepts
// only EXTERNAL (XEP-0178); otherwise it returns the SASL failure
// condition to answer with.
func parseAuth(top *xml.Top) (*externalAuth, string) {
	if top.Value("mechanism") != "EXTERNAL" {
		return nil, saslInvalidMechanism
	}
	text := bytes.TrimSpace(top.Inner())
	if bytes.ContainsAny(text, "<&") {
		return nil, saslMalformedRequest
	}
	if len(text) == 0 || string(text) == "=" {
		return &externalAuth{}, ""
	}
	if base64.StdEncoding.DecodedLen(len(text)) > maxAuthzid+3 {
		return nil, saslInvalidAuthzid
	}
	dec := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Decode(dec, text)
	if err != nil {
		return nil, saslIncorrectEncoding
	}
	return &externalAuth{authzid: string(dec[:n])}, ""
}

// appendAuthExternal appends the initiating server's EXTERNAL request
// naming its domain as the authorization identity, as XEP-0178 §2 shows.
func appendAuthExternal(dst []byte, domain string) []byte {
	dst = append(dst, "<auth xmlns='"+NSSASL+"' mechanism='EXTERNAL'>"...)
	dst = base64.StdEncoding.AppendEncode(dst, []byte(domain))
	return append(dst, "</auth>"...)
}

// appendSASLFailure appends a SASL <failure/> with a condition and text.
func appendSASLFailure(dst []byte, cond, text string) []byte {
	dst = append(dst, "<failure xmlns='"+NSSASL+"'><"...)
	dst = append(dst, cond...)
	dst = append(dst, "/>"...)
	if text != "" {
		dst = append(dst, "<text>"...)
		dst = xml.AppendEscapedText(dst, text)
		dst = append(dst, "</text>"...)
	}
	return append(dst, "</failure>"...)
}

// saslSuccess is the receiving server's answer to an accepted EXTERNAL.
const saslSuccess = "<success xmlns='" + NSSASL + "'/>"

// NSStreamLimits is the namespace of XEP-0478 stream limits.
const NSStreamLimits = "urn:xmpp:stream-limits:0"

// features are the stream features a peer offered, as far as s2s cares.
type features struct {
	starttls         bool
	starttlsRequired bool
	external         bool // SASL EXTERNAL among the mechanisms
	dialback         bool
	maxBytes         int // XEP-0478: the largest element the peer accepts; 0: not said
}

// appendLimits appends the XEP-0478 advertisement of a stream's limits.
func appendLimits(dst []byte, maxBytes int, idle time.Duration) []byte {
	dst = append(dst, "<limits xmlns='"+NSStreamLimits+"'><max-bytes>"...)
	dst = strconv.AppendInt(dst, int64(maxBytes), 10)
	dst = append(dst, "</max-bytes><idle-seconds>"...)
	dst = strconv.AppendInt(dst, int64(idle/time.Second), 10)
	return append(dst, "</idle-seconds></limits>"...)
}

// parseFeatures reads <stream:features/>.
func parseFeatures(top *xml.Top, scope *xml.Scope) (features, error) {
	var f features
	el, err := xml.Parse(top.Raw, *scope)
	if err != nil {
		return f, err
	}
	for c := range el.Elements() {
		switch {
		case c.Local() == "starttls" && c.Space == NSTLS:
			f.starttls = true
			f.starttlsRequired = c.Child("required", NSTLS) != nil
		case c.Local() == "mechanisms" && c.Space == NSSASL:
			for m := range c.ChildrenNamed("mechanism", NSSASL) {
				if string(bytes.TrimSpace([]byte(m.Text()))) == "EXTERNAL" {
					f.external = true
				}
			}
		case c.Local() == "dialback" && c.Space == NSDialbackFeature:
			f.dialback = true
		case c.Local() == "limits" && c.Space == NSStreamLimits:
			if m := c.Child("max-bytes", NSStreamLimits); m != nil {
				if n, err := strconv.Atoi(strings.TrimSpace(m.Text())); err == nil && n > 0 {
					f.maxBytes = n
				}
			}
		}
	}
	return f, nil
}
