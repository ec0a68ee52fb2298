module github.com/kontalk/xmppd/tools/x509overlay

go 1.26.0
