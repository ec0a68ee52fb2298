module github.com/kontalk/xmppd/tools/probe

go 1.26.0
