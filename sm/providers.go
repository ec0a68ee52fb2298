package main

import (
	"flag"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/config"
	pkgpush "github.com/kontalk/xmppd/pkg/push"
	"github.com/kontalk/xmppd/pkg/verify"
	"github.com/kontalk/xmppd/sm/server"
)

// providerFlags select and configure the phone verification and push
// providers.
type providerFlags struct {
	verify, fallback, code, from      string
	twilioAccount, twilioToken        string
	twilioService, twilioURL          string
	twilioVoice                       bool
	fcmAccountFile, fcmSender, fcmURL string
}

func (p *providerFlags) declare(fs *flag.FlagSet, opts *server.Options) {
	fs.StringVar(&p.verify, "verify", "", "phone verification provider: dummy, log or twilio (default none: registration is not offered)")
	fs.StringVar(&p.fallback, "verify-fallback", "", "provider for clients asking for another way (fallback=true): dummy, log or twilio (which then calls)")
	config.SecretVar(fs, &p.code, "verify-code", "", "the code the dummy provider accepts (development and tests)")
	fs.StringVar(&p.from, "verify-from", "", "sender clients are told the code comes from (default Kontalk)")
	fs.StringVar(&p.twilioAccount, "twilio-account", "", "Twilio account SID")
	config.SecretVar(fs, &p.twilioToken, "twilio-token", "", "Twilio auth token")
	fs.StringVar(&p.twilioService, "twilio-service", "", "Twilio Verify service SID (VA...)")
	fs.StringVar(&p.twilioURL, "twilio-url", "", "Twilio Verify API base URL (default https://verify.twilio.com)")
	fs.BoolVar(&p.twilioVoice, "twilio-voice", false, "send codes by voice call rather than SMS")
	fs.StringVar(&opts.Register.TermsURL, "register-terms-url", "", "service terms clients must accept before registering")
	fs.DurationVar(&opts.Register.PendingTTL, "register-pending-ttl", 0, "how long a verification waits for its code (default 15m)")
	fs.IntVar(&opts.Register.MaxAttempts, "register-max-attempts", 0, "wrong codes after which a verification is dropped (default 5)")
	fs.IntVar(&opts.Register.PhoneLimit, "register-phone-limit", 0, "verifications started per phone number within -register-window (default 5)")
	fs.IntVar(&opts.Register.AddrLimit, "register-addr-limit", 0, "verifications started (and private keys fetched) per client address within -register-window (default 20)")
	fs.DurationVar(&opts.Register.ThrottleWindow, "register-window", 0, "throttling window of registration (default 1h)")
	fs.DurationVar(&opts.Register.PrivateKeyTTL, "privatekey-ttl", 0, "how long a private key uploaded for transfer waits for its token (default 1h)")
	fs.StringVar(&p.fcmAccountFile, "fcm-service-account", "", "Google service account key file (JSON) for Firebase Cloud Messaging; enables push (project from the file)")
	fs.StringVar(&p.fcmSender, "fcm-sender-id", "", "FCM sender ID clients register with (the push disco item's node)")
	fs.StringVar(&p.fcmURL, "fcm-url", "", "FCM API base URL (default https://fcm.googleapis.com)")
	fs.DurationVar(&opts.Push.IdleAfter, "push-idle", 0, "a session inactive (XEP-0352) for longer gets push notifications (default 30s)")
	fs.DurationVar(&opts.PurgeAfter, "purge-inactive", 0, "delete users without a session for longer than this (default 0: never)")
	fs.DurationVar(&opts.PurgeEvery, "purge-every", 0, "how often inactive users are looked for (default 1h)")
}

// apply builds the providers the flags name into opts.
func (p *providerFlags) apply(opts *server.Options, log *zap.Logger) error {
	var err error
	if opts.Register.Provider, err = p.provider(p.verify, p.twilioVoice, log); err != nil {
		return err
	}
	if opts.Register.Fallback, err = p.provider(p.fallback, true, log); err != nil {
		return err
	}
	if p.fallback != "" && p.verify == "" {
		return fmt.Errorf("sm: -verify-fallback needs -verify")
	}
	if p.fcmAccountFile == "" {
		return nil
	}
	data, err := os.ReadFile(p.fcmAccountFile)
	if err != nil {
		return fmt.Errorf("sm: -fcm-service-account: %w", err)
	}
	account, err := pkgpush.ParseServiceAccount(data)
	if err != nil {
		return fmt.Errorf("sm: -fcm-service-account: %w", err)
	}
	if p.fcmSender == "" {
		return fmt.Errorf("sm: -fcm-sender-id is required with -fcm-service-account (clients register with it)")
	}
	opts.Push.SenderID = p.fcmSender
	opts.Push.Providers = []pkgpush.Provider{&pkgpush.FCM{Account: account, BaseURL: p.fcmURL}}
	return nil
}

// provider builds the verification provider name (nil for "").
func (p *providerFlags) provider(name string, voice bool, log *zap.Logger) (verify.Provider, error) {
	switch name {
	case "":
		return nil, nil
	case "dummy":
		if p.code == "" {
			return nil, fmt.Errorf("sm: the dummy verification provider needs -verify-code (KONTALK_VERIFY_CODE)")
		}
		return verify.Dummy{Code: p.code, From: p.from}, nil
	case "log":
		return verify.Log{Log: log.Named("verify"), From: p.from}, nil
	case "twilio":
		if p.twilioAccount == "" || p.twilioToken == "" || p.twilioService == "" {
			return nil, fmt.Errorf("sm: the twilio provider needs -twilio-account, -twilio-token and -twilio-service")
		}
		return &verify.Twilio{
			AccountSID: p.twilioAccount, AuthToken: p.twilioToken, ServiceSID: p.twilioService,
			From: p.from, Voice: voice, BaseURL: p.twilioURL,
		}, nil
	}
	return nil, fmt.Errorf("sm: unknown verification provider %q (dummy, log or twilio)", name)
}
