package register

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/kontalk/xmppd/pkg/stanza"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/xml"
)

const (
	// tokenDigits is the length of a private key token: 40 decimal
	// digits (133 bits), as Kontalk's server made them.
	tokenDigits = 40
	// maxPrivateKey bounds a stored private key (an RSA-2048 key with
	// two P-256 subkeys, encrypted, is about 2 KB).
	maxPrivateKey = 64 << 10
)

// uploadPrivateKey stores the user's encrypted private key for another
// device to fetch and answers with the token that fetches it once
// (client-protocol §1.5).
func (r *Register) uploadPrivateKey(ctx context.Context, u string, f *form) (*xml.Element, error) {
	key, err := decodeBase64(f.value("privatekey"))
	if err != nil || len(key) == 0 || len(key) > maxPrivateKey {
		return nil, stanza.Errorf(stanza.BadRequest, textBadPrivateKey)
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	if err := r.env.Store.Registrations.PutPrivateKey(ctx, tokenHash(token), store.PrivateKey{User: u, Key: key}, r.opts.PrivateKeyTTL); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	x := newForm("form", NSPrivateKey, "", "")
	field(x, "token", "text-single", "Private key token", token)
	return xml.New("query", NS).Append(x), nil
}

// retrievePrivateKey answers a private key request of an
// unauthenticated connection: the key stored under the token, with the
// owner's current public key. The token works once.
func (r *Register) retrievePrivateKey(ctx context.Context, acc *xml.Element, req request) (*xml.Element, error) {
	var token string
	if pk := acc.Child("privatekey", NSAccount); pk != nil {
		if t := pk.Child("token", NSAccount); t != nil {
			token = strings.TrimSpace(t.Text())
		}
	}
	if token == "" || len(token) > 2*tokenDigits {
		return nil, stanza.Errorf(stanza.NotAuthorized, textBadToken)
	}
	if over, err := r.throttled(ctx, "token:"+clientIP(req.remote), r.opts.AddrLimit); err != nil || over {
		return nil, errOr(err, tooMany())
	}
	k, err := r.env.Store.Registrations.TakePrivateKey(ctx, tokenHash(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, stanza.Errorf(stanza.NotAuthorized, textBadToken)
	}
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	user, err := r.env.Store.Users.Get(ctx, k.User)
	if errors.Is(err, store.ErrNotFound) {
		return nil, stanza.Errorf(stanza.NotAuthorized, textBadToken)
	}
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	b64 := base64.StdEncoding
	out := xml.New("privatekey", "").
		Append(xml.New("private", "").AppendText(b64.EncodeToString(k.Key))).
		Append(xml.New("public", "").AppendText(b64.EncodeToString(user.Key)))
	return xml.New("query", NS).Append(xml.New("account", NSAccount).Append(out)), nil
}

// newToken draws a token of decimal digits from crypto/rand.
func newToken() (string, error) {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(tokenDigits), nil)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return "", fmt.Errorf("register: token: %w", err)
	}
	digits := n.Text(10)
	return strings.Repeat("0", tokenDigits-len(digits)) + digits, nil
}

// tokenHash names a token's record: Redis never holds a usable token.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
