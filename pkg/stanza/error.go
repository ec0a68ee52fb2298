// Package stanza builds and reads stanza errors (RFC 6120 §8.3) and
// answers undeliverable stanzas without parsing their payload.
package stanza

import (
	"fmt"

	"github.com/kontalk/xmppd/pkg/xml"
)

// NSStanzas is the namespace of stanza error conditions.
const NSStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"

// ErrorType says what the sender can do about an error (RFC 6120 §8.3.2).
type ErrorType string

// Error types.
const (
	Auth     ErrorType = "auth"
	Cancel   ErrorType = "cancel"
	Continue ErrorType = "continue"
	Modify   ErrorType = "modify"
	Wait     ErrorType = "wait"
)

// Condition is a stanza error condition (RFC 6120 §8.3.3).
type Condition string

// Stanza error conditions.
const (
	BadRequest            Condition = "bad-request"
	Conflict              Condition = "conflict"
	FeatureNotImplemented Condition = "feature-not-implemented"
	Forbidden             Condition = "forbidden"
	Gone                  Condition = "gone"
	InternalServerError   Condition = "internal-server-error"
	ItemNotFound          Condition = "item-not-found"
	JIDMalformed          Condition = "jid-malformed"
	NotAcceptable         Condition = "not-acceptable"
	NotAllowed            Condition = "not-allowed"
	NotAuthorized         Condition = "not-authorized"
	PolicyViolation       Condition = "policy-violation"
	RecipientUnavailable  Condition = "recipient-unavailable"
	Redirect              Condition = "redirect"
	RegistrationRequired  Condition = "registration-required"
	RemoteServerNotFound  Condition = "remote-server-not-found"
	RemoteServerTimeout   Condition = "remote-server-timeout"
	ResourceConstraint    Condition = "resource-constraint"
	ServiceUnavailable    Condition = "service-unavailable"
	SubscriptionRequired  Condition = "subscription-required"
	UndefinedCondition    Condition = "undefined-condition"
	UnexpectedRequest     Condition = "unexpected-request"
)

// defaultType is the error type RFC 6120 §8.3.3 gives each condition.
var defaultType = map[Condition]ErrorType{
	BadRequest: Modify, Conflict: Cancel, FeatureNotImplemented: Cancel,
	Forbidden: Auth, Gone: Cancel, InternalServerError: Cancel,
	ItemNotFound: Cancel, JIDMalformed: Modify, NotAcceptable: Modify,
	NotAllowed: Cancel, NotAuthorized: Auth, PolicyViolation: Modify,
	RecipientUnavailable: Wait, Redirect: Modify, RegistrationRequired: Auth,
	RemoteServerNotFound: Cancel, RemoteServerTimeout: Wait,
	ResourceConstraint: Wait, ServiceUnavailable: Cancel,
	SubscriptionRequired: Auth, UndefinedCondition: Cancel, UnexpectedRequest: Wait,
}

// Error is a stanza error. A zero Type takes the condition's default.
type Error struct {
	Type      ErrorType
	Condition Condition
	Text      string
	By        string // the entity that returns the error, when useful
	// App is an application-specific condition (RFC 6120 §8.3.4), in
	// its own namespace, e.g. XEP-0363's <file-too-large/>.
	App *xml.Element
}

// Errorf returns a stanza error of the condition's default type.
func Errorf(c Condition, format string, args ...any) *Error {
	return &Error{Condition: c, Text: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Text == "" {
		return "stanza error: " + string(e.Condition)
	}
	return "stanza error: " + string(e.Condition) + ": " + e.Text
}

func (e *Error) typ() ErrorType {
	if e.Type != "" {
		return e.Type
	}
	if t, ok := defaultType[e.Condition]; ok {
		return t
	}
	return Cancel
}

// AppendXML appends the <error/> child of an error stanza.
func (e *Error) AppendXML(dst []byte) []byte {
	dst = append(dst, "<error type='"...)
	dst = append(dst, e.typ()...)
	dst = append(dst, '\'')
	if e.By != "" {
		dst = append(dst, " by='"...)
		dst = xml.AppendEscapedAttr(dst, e.By, '\'')
		dst = append(dst, '\'')
	}
	dst = append(dst, "><"...)
	dst = append(dst, e.Condition...)
	dst = append(dst, " xmlns='"+NSStanzas+"'/>"...)
	if e.Text != "" {
		dst = append(dst, "<text xmlns='"+NSStanzas+"'>"...)
		dst = xml.AppendEscapedText(dst, e.Text)
		dst = append(dst, "</text>"...)
	}
	if e.App != nil {
		dst = e.App.AppendXML(dst)
	}
	return append(dst, "</error>"...)
}

// Element returns the <error/> child as an element.
func (e *Error) Element() *xml.Element {
	el := xml.New("error", "", xml.Attr{Name: "type", Value: string(e.typ())})
	if e.By != "" {
		el.SetAttr("by", e.By)
	}
	el.Append(xml.New(string(e.Condition), NSStanzas))
	if e.Text != "" {
		el.Append(xml.New("text", NSStanzas).AppendText(e.Text))
	}
	if e.App != nil {
		el.Append(e.App)
	}
	return el
}

// ParseError reads the <error/> child of an error stanza, or returns nil
// when there is none.
func ParseError(stanza *xml.Element) *Error {
	el := stanza.Child("error", "")
	if el == nil {
		return nil
	}
	e := &Error{Type: ErrorType(el.Attr("type")), Condition: UndefinedCondition, By: el.Attr("by")}
	for c := range el.Elements() {
		if c.Space != NSStanzas {
			if e.App == nil {
				e.App = c
			}
			continue
		}
		if c.Local() == "text" {
			e.Text = c.Text()
		} else {
			e.Condition = Condition(c.Local())
		}
	}
	return e
}
