// Package xml reads and writes XMPP streams (RFC 6120 §4, §11).
//
// It is a hand-written, allocation-aware scanner rather than a wrapper
// around encoding/xml, for three reasons:
//
//   - Limits are enforced while bytes arrive, before a large token is
//     buffered: bytes per top-level element, element depth, attributes per
//     element, attribute and text length (see Limits).
//   - Restricted XML (RFC 6120 §11.1) is refused with the stream error
//     condition the RFC names: DOCTYPE, comments, processing instructions
//     and entity references other than the five predefined ones and
//     character references.
//   - Routing needs only the attributes of the top-level element. The
//     Reader returns each top-level element as its raw bytes plus the
//     positions of those attributes (Top), so a stanza can be forwarded
//     without being parsed into a tree or re-serialized, and payloads the
//     server does not understand (OpenPGP, OMEMO) pass through untouched.
//
// Consumers that need the whole stanza ask the Reader for a tree (Element),
// which keeps every attribute as written (xmlns, xml:lang, prefixes), every
// child and every run of text in order; Element.AppendXML serializes it
// back into XML that is equivalent to the input.
package xml
