package xml

import "fmt"

// Stream error conditions (RFC 6120 §4.9.3) that the reader reports. They
// are plain strings so that this package does not depend on the stream
// package that turns them into <stream:error/> elements.
const (
	CondNotWellFormed      = "not-well-formed"
	CondRestrictedXML      = "restricted-xml"
	CondPolicyViolation    = "policy-violation"
	CondBadFormat          = "bad-format"
	CondUnsupportedEnc     = "unsupported-encoding"
	CondBadNamespacePrefix = "bad-namespace-prefix"
)

// SyntaxError is a violation of XML, of restricted XML or of a limit,
// detected while reading a stream. Cond is the RFC 6120 stream error
// condition to answer with; Msg names the cause for the peer and the log.
type SyntaxError struct {
	Cond   string
	Msg    string
	Offset int64 // byte offset in the stream where the problem was found
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("xml: %s at byte %d: %s", e.Cond, e.Offset, e.Msg)
}
