package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A slot is the right to upload one file: its id (the name on disk and
// the unguessable part of the download URL), the file name, size and
// content type the client announced, and when the right expires. The
// upload URL carries the slot's fields and an HMAC over them, so the
// HTTP side needs no state shared with the XMPP side.
type slot struct {
	ID          string
	Filename    string
	Size        int64
	ContentType string
	Expires     time.Time
}

// Errors of slot verification, shown to HTTP clients.
var (
	errBadSignature = errors.New("the upload URL is not signed by this service")
	errExpired      = errors.New("the upload slot has expired")
	errMalformed    = errors.New("malformed upload URL")
)

// signer makes and checks slot signatures.
type signer struct{ key []byte }

func newSlotID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("slot id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// mac signs the slot's fields, each length-prefixed so that no two
// different slots sign the same bytes.
func (s signer) mac(sl slot) []byte {
	m := hmac.New(sha256.New, s.key)
	var n [8]byte
	for _, f := range []string{sl.ID, sl.Filename, sl.ContentType} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		m.Write(n[:])
		m.Write([]byte(f))
	}
	binary.BigEndian.PutUint64(n[:], uint64(sl.Size))
	m.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(sl.Expires.Unix()))
	m.Write(n[:])
	return m.Sum(nil)
}

// putQuery returns the query string of the slot's upload URL.
func (s signer) putQuery(sl slot) string {
	q := url.Values{}
	q.Set("size", strconv.FormatInt(sl.Size, 10))
	q.Set("type", sl.ContentType)
	q.Set("expires", strconv.FormatInt(sl.Expires.Unix(), 10))
	q.Set("sig", base64.RawURLEncoding.EncodeToString(s.mac(sl)))
	return q.Encode()
}

// verify rebuilds the slot from an upload request's path parts and query
// and checks its signature and expiry.
func (s signer) verify(id, filename string, q url.Values, now time.Time) (slot, error) {
	size, err := strconv.ParseInt(q.Get("size"), 10, 64)
	if err != nil || size < 0 {
		return slot{}, errMalformed
	}
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil {
		return slot{}, errMalformed
	}
	sig, err := base64.RawURLEncoding.DecodeString(q.Get("sig"))
	if err != nil {
		return slot{}, errMalformed
	}
	sl := slot{ID: id, Filename: filename, Size: size, ContentType: q.Get("type"), Expires: time.Unix(exp, 0)}
	if !hmac.Equal(sig, s.mac(sl)) {
		return slot{}, errBadSignature
	}
	if now.After(sl.Expires) {
		return slot{}, errExpired
	}
	return sl, nil
}

// cleanFilename keeps a file name usable in a URL path segment and on
// any file system: the base name, without control characters, slashes
// or leading dots, at most 128 bytes.
func cleanFilename(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			continue
		}
		if b.Len()+len(string(r)) > 128 {
			break
		}
		b.WriteRune(r)
	}
	out := strings.TrimLeft(b.String(), ".")
	if out == "" {
		return "file"
	}
	return out
}
