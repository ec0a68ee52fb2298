package keyring

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSerializePublicRoundTrip: re-serializing a client's ring changes no
// byte, so Certify only adds its signature to what the client made.
func TestSerializePublicRoundTrip(t *testing.T) {
	for _, name := range []string{"android.pgp-public.bin", "legacy.pgp-public.bin"} {
		ring, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		e, bin, err := readUserRing(ring)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := serializePublic(e)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(out, bin) {
			t.Errorf("%s: re-serialized ring differs from the input", name)
		}
	}
}

func TestRecoverParser(t *testing.T) {
	parse := func() (err error) {
		defer recoverParser(&err)
		panic("index out of range")
	}
	err := parse()
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "index out of range") {
		t.Errorf("got %v", err)
	}
}
