package server

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSlotSignature(t *testing.T) {
	s := signer{key: []byte("0123456789abcdef")}
	now := time.Unix(1_700_000_000, 0)
	sl := slot{ID: "0123456789abcdef0123456789abcdef", Filename: "a b.jpg", Size: 42, ContentType: "image/jpeg", Expires: now.Add(time.Minute)}
	q, err := url.ParseQuery(s.putQuery(sl))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.verify(sl.ID, sl.Filename, q, now)
	if err != nil || got.Size != 42 || got.ContentType != "image/jpeg" || !got.Expires.Equal(sl.Expires) {
		t.Fatalf("verify = %+v, %v", got, err)
	}
	if _, err := s.verify(sl.ID, sl.Filename, q, now.Add(2*time.Minute)); err != errExpired {
		t.Errorf("expired slot: %v", err)
	}
	if _, err := s.verify(sl.ID, "other.jpg", q, now); err != errBadSignature {
		t.Errorf("another file name: %v", err)
	}
	if _, err := (signer{key: []byte("another key.....")}).verify(sl.ID, sl.Filename, q, now); err != errBadSignature {
		t.Errorf("another key: %v", err)
	}
}

func TestCleanFilename(t *testing.T) {
	for in, want := range map[string]string{
		"photo.jpg":        "photo.jpg",
		"../../etc/passwd": "passwd",
		`C:\x\y.png`:       "y.png",
		".hidden":          "hidden",
		"a\x00b\nc":        "abc",
		"":                 "file",
		"...":              "file",
	} {
		if got := cleanFilename(in); got != want {
			t.Errorf("cleanFilename(%q) = %q, want %q", in, got, want)
		}
	}
	if got := cleanFilename(strings.Repeat("é", 200)); len(got) > 128 {
		t.Errorf("long name kept %d bytes", len(got))
	}
}

// FuzzSlotVerify checks that no upload URL crashes verification and
// that only what was signed verifies.
func FuzzSlotVerify(f *testing.F) {
	s := signer{key: []byte("0123456789abcdef")}
	now := time.Unix(1_700_000_000, 0)
	sl := slot{ID: "0123456789abcdef0123456789abcdef", Filename: "a.jpg", Size: 1, ContentType: "image/jpeg", Expires: now.Add(time.Minute)}
	f.Add(sl.ID, sl.Filename, s.putQuery(sl))
	f.Add("x", "y", "size=1&expires=2&sig=AAAA&type=z")
	f.Fuzz(func(t *testing.T, id, name, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		got, err := s.verify(id, name, q, now)
		if err == nil && s.putQuery(got) != s.putQuery(slot{ID: id, Filename: name, Size: got.Size, ContentType: got.ContentType, Expires: got.Expires}) {
			t.Fatalf("verified slot does not sign the same")
		}
		if err == nil && (id != sl.ID || name != sl.Filename) {
			t.Fatalf("forged slot verified: %q %q %q", id, name, query)
		}
	})
}
