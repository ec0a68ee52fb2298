// Package push wakes up the clients of users who have no session, so
// they reconnect and fetch their messages (client-protocol §5.3). A
// Provider delivers one notification to one registration token; FCM
// implements Firebase Cloud Messaging's HTTP v1 API, which is what
// Kontalk's Android client registers with (provider "gcm").
package push

import (
	"context"
	"errors"
)

// Provider delivers wake-up notifications.
type Provider interface {
	// Name is the provider name clients register with ("gcm").
	Name() string
	// Notify wakes up the client registered with token. It returns an
	// error wrapping ErrUnregistered when the token is no longer valid,
	// so the registration can be dropped.
	Notify(ctx context.Context, token string) error
}

// ErrUnregistered means the registration token is invalid or expired.
var ErrUnregistered = errors.New("push: registration token no longer valid")

// Action is the data Kontalk's client looks for in a notification: it
// only checks the action, then reconnects (client-protocol §5.3 step 4).
const Action = "org.kontalk.CHECK_MESSAGES"
