module github.com/kontalk/xmppd/tools/devrun

go 1.26.0

require github.com/kontalk/xmppd/pkg v0.0.0

require (
	github.com/ProtonMail/go-crypto v1.5.2 // indirect
	github.com/cloudflare/circl v1.6.3 // indirect
	golang.org/x/crypto v0.55.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

replace github.com/kontalk/xmppd/pkg => ../../pkg
