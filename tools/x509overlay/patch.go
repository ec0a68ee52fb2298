package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
)

// The patch touches one statement of crypto/x509's parser.go. Everything the generator
// relies on is spelled out here, so that a toolchain whose source differs is refused
// with a message naming the difference instead of being patched at a guess.
const (
	// parseExtensionHeader opens the only function whose behaviour changes.
	parseExtensionHeader = "func parseExtension(der cryptobyte.String) (pkix.Extension, error) {\n"

	// oidAnchor is the statement in parseExtension that refuses an extension whose OID
	// has an arc too large for asn1.ObjectIdentifier (golang/go#58821).
	oidAnchor = "\tif !der.ReadASN1ObjectIdentifier(&ext.Id) {\n" +
		"\t\treturn ext, errors.New(\"x509: malformed extension OID field\")\n" +
		"\t}\n"

	// oidReplacement has as many lines as oidAnchor, so line numbers in the patched
	// file (stack traces, coverage) stay those of the toolchain's source.
	oidReplacement = "\tif err := kontalkReadExtensionOID(&der, &ext.Id); err != nil {\n" +
		"\t\treturn ext, err\n" +
		"\t}\n"

	// helperSource is appended to the patched file. It is our code, not the toolchain's.
	helperSource = `
// kontalkReadExtensionOID reads an extension's OID as ReadASN1ObjectIdentifier does and,
// when that fails only because an arc does not fit in an int (golang/go#58821), accepts a
// NON-critical extension with a nil Id, advancing der past the OID. Malformed OIDs and
// critical extensions with such OIDs are refused, as without the patch.
func kontalkReadExtensionOID(der *cryptobyte.String, id *asn1.ObjectIdentifier) error {
	rest := *der
	if rest.ReadASN1ObjectIdentifier(id) {
		*der = rest
		return nil
	}
	rest = *der
	var oid cryptobyte.String
	if !rest.ReadASN1(&oid, cryptobyte_asn1.OBJECT_IDENTIFIER) || !kontalkMinimalOID(oid) {
		return errors.New("x509: malformed extension OID field")
	}
	critical := false
	if peek := rest; peek.PeekASN1Tag(cryptobyte_asn1.BOOLEAN) && !peek.ReadASN1Boolean(&critical) {
		return errors.New("x509: malformed extension critical field")
	}
	if critical {
		return errors.New("x509: critical extension with an OID arc too large to handle")
	}
	*id = nil
	*der = rest
	return nil
}

// kontalkMinimalOID reports whether oid is a DER OBJECT IDENTIFIER body: at least one
// subidentifier, each in base 128 with no leading 0x80 octet, the last one complete.
func kontalkMinimalOID(oid []byte) bool {
	if len(oid) == 0 || oid[len(oid)-1]&0x80 != 0 {
		return false
	}
	atStart := true
	for _, b := range oid {
		if atStart && b == 0x80 {
			return false
		}
		atStart = b&0x80 == 0
	}
	return true
}
`
)

// addedIdentifiers are declared by helperSource; the package must not declare them already.
var addedIdentifiers = []string{"kontalkReadExtensionOID", "kontalkMinimalOID"}

// requiredImports are the imports helperSource uses, by path and the name it uses them by.
var requiredImports = map[string]string{
	"errors":                              "errors",
	"encoding/asn1":                       "asn1",
	"golang.org/x/crypto/cryptobyte":      "cryptobyte",
	"golang.org/x/crypto/cryptobyte/asn1": "cryptobyte_asn1",
}

// errAnchor marks every refusal caused by toolchain source that differs from what the
// patch was written against.
var errAnchor = errors.New("crypto/x509 source does not match what the overlay patch expects")

// patchParser returns parser.go with parseExtension tolerating large-arc OIDs in
// non-critical extensions. packageFiles holds the other non-test files of crypto/x509,
// by name, to check that the added identifiers do not clash.
func patchParser(parserSrc []byte, packageFiles map[string][]byte, trailer string) ([]byte, error) {
	if n := bytes.Count(parserSrc, []byte(parseExtensionHeader)); n != 1 {
		return nil, fmt.Errorf("%w: want 1 occurrence of %q, found %d", errAnchor, parseExtensionHeader, n)
	}
	if n := bytes.Count(parserSrc, []byte(oidAnchor)); n != 1 {
		return nil, fmt.Errorf("%w: want 1 occurrence of the OID statement %q, found %d", errAnchor, oidAnchor, n)
	}
	start := bytes.Index(parserSrc, []byte(parseExtensionHeader))
	bodyLen := bytes.Index(parserSrc[start:], []byte("\n}\n"))
	anchorAt := bytes.Index(parserSrc, []byte(oidAnchor))
	if bodyLen < 0 || anchorAt < start || anchorAt > start+bodyLen {
		return nil, fmt.Errorf("%w: the OID statement is not inside parseExtension", errAnchor)
	}
	if err := checkImports(parserSrc); err != nil {
		return nil, err
	}
	for name, src := range packageFiles {
		for _, ident := range addedIdentifiers {
			if bytes.Contains(src, []byte(ident)) {
				return nil, fmt.Errorf("%w: %s already mentions %s", errAnchor, name, ident)
			}
		}
	}

	var out bytes.Buffer
	out.Write(parserSrc[:anchorAt])
	out.WriteString(oidReplacement)
	out.Write(parserSrc[anchorAt+len(oidAnchor):])
	out.WriteString(helperSource)
	out.WriteString(trailer)

	if _, err := parser.ParseFile(token.NewFileSet(), "parser.go", out.Bytes(), parser.SkipObjectResolution); err != nil {
		return nil, fmt.Errorf("%w: patched parser.go does not parse: %w", errAnchor, err)
	}
	return out.Bytes(), nil
}

// checkImports makes sure parser.go imports what helperSource uses, under the same names.
func checkImports(parserSrc []byte) error {
	file, err := parser.ParseFile(token.NewFileSet(), "parser.go", parserSrc, parser.ImportsOnly)
	if err != nil {
		return fmt.Errorf("%w: parser.go does not parse: %w", errAnchor, err)
	}
	have := make(map[string]string, len(file.Imports))
	for _, spec := range file.Imports {
		path, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			return fmt.Errorf("%w: import %s: %w", errAnchor, spec.Path.Value, err)
		}
		have[path] = importName(spec, path)
	}
	for path, name := range requiredImports {
		if got, ok := have[path]; !ok || got != name {
			return fmt.Errorf("%w: parser.go must import %q as %s", errAnchor, path, name)
		}
	}
	return nil
}

// importName is the name an import is used by in the file.
func importName(spec *ast.ImportSpec, path string) string {
	if spec.Name != nil {
		return spec.Name.Name
	}
	return path[strings.LastIndexByte(path, '/')+1:]
}
