// Package phone normalizes phone numbers to E.164 (ITU-T E.164, with
// Google's libphonenumber data through github.com/nyaruka/phonenumbers)
// and derives a Kontalk user's JID localpart from one: the lower-case
// hex SHA-1 of the E.164 form (client-protocol §1.2).
package phone

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// maxInput bounds the text given as a phone number.
const maxInput = 64

// ErrBad is a number that cannot be a phone number in
// international form.
var ErrBad = errors.New("phone: not a phone number in international form")

// Normalize returns the E.164 form of a phone number written in
// international form: "+" and the country code, or "00" for the "+",
// with any spaces, dots, dashes or parentheses. The number must have a
// length possible for its country (libphonenumber's IsPossibleNumber);
// it need not be assigned, so emulators' and test numbers such as
// +15555215554 pass. National forms without a country code are refused,
// as the server cannot know the country.
func Normalize(in string) (e164 string, err error) {
	defer func() {
		// The library parses untrusted text; a panic there is a refusal.
		if r := recover(); r != nil {
			e164, err = "", fmt.Errorf("%w: %v", ErrBad, r)
		}
	}()
	in = strings.TrimSpace(in)
	if len(in) > maxInput {
		return "", fmt.Errorf("%w: longer than %d characters", ErrBad, maxInput)
	}
	if rest, ok := strings.CutPrefix(in, "00"); ok {
		in = "+" + rest
	}
	if !strings.HasPrefix(in, "+") {
		return "", fmt.Errorf("%w: not in international form (+ and the country code)", ErrBad)
	}
	for _, c := range in[1:] {
		switch {
		case c >= '0' && c <= '9', c == ' ', c == '-', c == '.', c == '(', c == ')':
		default:
			return "", fmt.Errorf("%w: %q is not part of a phone number", ErrBad, c)
		}
	}
	n, err := phonenumbers.Parse(in, "ZZ")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBad, err)
	}
	if !phonenumbers.IsPossibleNumber(n) {
		return "", fmt.Errorf("%w: not a possible number", ErrBad)
	}
	out := phonenumbers.Format(n, phonenumbers.E164)
	// A number whose national part starts with a national prefix (a
	// trunk 0) formats to another number; the user's JID must not
	// depend on how the number was written, so such numbers are refused.
	again, err := phonenumbers.Parse(out, "ZZ")
	if err != nil || phonenumbers.Format(again, phonenumbers.E164) != out {
		return "", fmt.Errorf("%w: no stable E.164 form", ErrBad)
	}
	return out, nil
}

// Localpart returns the user part of the JID of the phone number (E.164):
// the lower-case hex SHA-1 of it.
func Localpart(e164 string) string {
	sum := sha1.Sum([]byte(e164))
	return hex.EncodeToString(sum[:])
}
