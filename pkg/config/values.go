package config

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Redactor is implemented by flag values that hold secrets. Fields logs
// Redacted instead of String for them.
type Redactor interface {
	Redacted() string
}

// redactedMark replaces a secret in logs. An empty secret is logged as empty,
// so that a missing secret shows.
const redactedMark = "[redacted]"

func redact(s string) string {
	if s == "" {
		return ""
	}
	return redactedMark
}

// secretValue is a string flag whose value is kept out of logs.
type secretValue struct{ p *string }

func (v secretValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v secretValue) Set(s string) error { *v.p = s; return nil }

func (v secretValue) Redacted() string { return redact(v.String()) }

// SecretVar registers a string flag on fs that stores its value in p,
// starting from value, and that Fields redacts.
func SecretVar(fs *flag.FlagSet, p *string, name, value, usage string) {
	*p = value
	fs.Var(secretValue{p}, name, usage)
}

// mapValue is a repeatable name=value flag.
type mapValue struct {
	p      *map[string]string
	secret bool // values are secrets; names are not
}

func (v mapValue) IsRepeatable() bool { return true }

// String lists the pairs sorted by name, comma-separated, the form the
// environment variable takes.
func (v mapValue) String() string { return v.format(func(s string) string { return s }) }

func (v mapValue) Redacted() string {
	if !v.secret {
		return v.String()
	}
	return v.format(redact)
}

func (v mapValue) format(value func(string) string) string {
	if v.p == nil {
		return ""
	}
	var b strings.Builder
	for i, name := range slices.Sorted(maps.Keys(*v.p)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(value((*v.p)[name]))
	}
	return b.String()
}

// Set adds one name=value pair. The value may contain '=' and be empty; the
// name may not. Giving a name twice is an error, as it is most likely a
// mistake in a deployment.
func (v mapValue) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return errors.New("want name=value")
	}
	if name == "" {
		return errors.New("empty name in name=value")
	}
	if *v.p == nil {
		*v.p = make(map[string]string)
	}
	if _, dup := (*v.p)[name]; dup {
		return fmt.Errorf("%q given twice", name)
	}
	(*v.p)[name] = value
	return nil
}

// MapVar registers on fs a flag taking name=value and stores the pairs in
// *p, which starts empty. The flag may be repeated on the command line
// (-component a=x -component b=y); its environment variable lists the pairs
// separated by commas (KONTALK_COMPONENT="a=x,b=y"), so there values cannot
// contain commas.
func MapVar(fs *flag.FlagSet, p *map[string]string, name, usage string) {
	*p = make(map[string]string)
	fs.Var(mapValue{p: p}, name, usage)
}

// SecretMapVar is MapVar for maps whose values are secrets, such as
// component name → shared secret: Fields logs the names and redacts the
// values.
func SecretMapVar(fs *flag.FlagSet, p *map[string]string, name, usage string) {
	*p = make(map[string]string)
	fs.Var(mapValue{p: p, secret: true}, name, usage)
}
