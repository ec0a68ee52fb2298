package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kontalk/xmppd/pkg/config"
	"github.com/kontalk/xmppd/pkg/keyring"
)

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kontalkctl "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

// keyFlags declare the flags of a new server key.
type keyFlags struct {
	name, email string
	bits        int
}

func (k *keyFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&k.name, "name", "Kontalk server", "the key's user ID name")
	fs.StringVar(&k.email, "email", "", "the key's user ID e-mail (default server@<network> needs -network)")
	fs.IntVar(&k.bits, "bits", keyring.DefaultServerKeyBits, "RSA modulus size")
}

func (k *keyFlags) generate(network string) (*keyring.ServerKey, error) {
	email := k.email
	if email == "" {
		if network == "" {
			return nil, errors.New("give -email or -network")
		}
		email = "server@" + network
	}
	return keyring.GenerateServerKey(k.name, email, keyring.ServerKeyOptions{RSABits: k.bits})
}

// writeKeys writes the key file (private, mode 0600) and, when public is
// set, the public keys of it (for c2s -server-key).
func writeKeys(file, public string, data []byte) error {
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return err
	}
	if public == "" {
		return nil
	}
	f, err := keyring.ParseKeyFile(data)
	if err != nil {
		return err
	}
	var pub []byte
	for _, k := range f.Keys {
		a, err := k.Armored()
		if err != nil {
			return err
		}
		pub = append(pub, a...)
	}
	return os.WriteFile(public, pub, 0o644)
}

// serverKeyGenerate makes a new server key.
func serverKeyGenerate(args []string, getenv func(string) string, out io.Writer) error {
	fs := newFlags("serverkey generate", out)
	var k keyFlags
	k.declare(fs)
	file := fs.String("out", "", "file to write the private key to (required; not overwritten)")
	public := fs.String("public", "", "file to write the public key to, for c2s -server-key")
	network := fs.String("network", "", "the network domain N")
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("serverkey generate: -out is required")
	}
	if _, err := os.Stat(*file); err == nil {
		return fmt.Errorf("serverkey generate: %s exists; rotate it with serverkey rotate", *file)
	}
	key, err := k.generate(*network)
	if err != nil {
		return fmt.Errorf("serverkey generate: %w", err)
	}
	priv, err := key.ArmoredPrivate()
	if err != nil {
		return fmt.Errorf("serverkey generate: %w", err)
	}
	if err := writeKeys(*file, *public, priv); err != nil {
		return fmt.Errorf("serverkey generate: %w", err)
	}
	fmt.Fprintf(out, "%s\t%s\n", key.Fingerprint(), *file)
	return nil
}

// serverKeyShow lists the keys of a key file.
func serverKeyShow(args []string, getenv func(string) string, out io.Writer) error {
	fs := newFlags("serverkey show", out)
	file := fs.String("key", "", "key file (required)")
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	f, err := readKeyFile(*file)
	if err != nil {
		return fmt.Errorf("serverkey show: %w", err)
	}
	for i, k := range f.Keys {
		role := "older, trusted"
		if i == 0 {
			role = "current, public only (cannot certify)"
			if f.Signer != nil {
				role = "current, private (certifies)"
			}
		}
		if k.Revoked() {
			role += ", revoked"
		}
		fmt.Fprintf(out, "%s\t%s\n", k.Fingerprint(), role)
	}
	return nil
}

// serverKeyRotate makes a new key and writes a key file with it first
// and the old keys after it.
func serverKeyRotate(args []string, getenv func(string) string, out io.Writer) error {
	fs := newFlags("serverkey rotate", out)
	var k keyFlags
	k.declare(fs)
	in := fs.String("in", "", "the current key file (required)")
	file := fs.String("out", "", "file to write the new key file to (required; not overwritten)")
	public := fs.String("public", "", "file to write the public keys to, for c2s -server-key")
	network := fs.String("network", "", "the network domain N")
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	if *in == "" || *file == "" {
		return errors.New("serverkey rotate: -in and -out are required")
	}
	if _, err := os.Stat(*file); err == nil {
		return fmt.Errorf("serverkey rotate: %s exists", *file)
	}
	f, err := readKeyFile(*in)
	if err != nil {
		return fmt.Errorf("serverkey rotate: %w", err)
	}
	next, err := k.generate(*network)
	if err != nil {
		return fmt.Errorf("serverkey rotate: %w", err)
	}
	data, err := f.Rotate(next)
	if err != nil {
		return fmt.Errorf("serverkey rotate: %w", err)
	}
	if err := writeKeys(*file, *public, data); err != nil {
		return fmt.Errorf("serverkey rotate: %w", err)
	}
	fmt.Fprintf(out, "%s\t%s\n", next.Fingerprint(), *file)
	return nil
}

func readKeyFile(file string) (*keyring.KeyFile, error) {
	if file == "" {
		return nil, errors.New("no key file given")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	f, err := keyring.ParseKeyFile(data)
	if err != nil {
		return nil, err
	}
	if len(f.Keys) == 0 {
		return nil, fmt.Errorf("%s holds no key", file)
	}
	return f, nil
}
