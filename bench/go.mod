module github.com/kontalk/xmppd/bench

go 1.26.0

require github.com/kontalk/xmppd/pkg v0.0.0

require (
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
)

replace github.com/kontalk/xmppd/pkg => ../pkg
