# Kontalk Go server. `make run` starts a single-host network, `make test`
# runs every test CI runs. See README.md.

GO ?= go
# Every package of every module in go.work.
PKGS := github.com/kontalk/xmppd/...
# Commands built into bin/ (the last path element names the binary).
COMMANDS := router resolver sm c2s s2s upload kontalkctl tools/devrun
# Fuzz targets run by `make fuzz` as package:target.
FUZZ_TARGETS := \
	pkg/xml:FuzzReader pkg/xml:FuzzTopRewrite pkg/xml:FuzzSWAR \
	pkg/jid:FuzzAppendBare pkg/component:FuzzHandshake pkg/component:FuzzBind \
	pkg/bridge:FuzzPublicKeyRing pkg/bridge:FuzzX509Overlay \
	pkg/keyring:FuzzVerify pkg/keyring:FuzzVerifyRevocation \
	pkg/config:FuzzParseByteSize pkg/config:FuzzMapEnv \
	router/server:FuzzComponentStream \
	s2s/server:FuzzDialback s2s/server:FuzzSASLAuth s2s/server:FuzzInboundStream \
	pkg/envelope:FuzzParse sm/core:FuzzInsertChild sm/server:FuzzParseServerKeys resolver/resolve:FuzzClassify \
	c2s/server:FuzzParseAuth c2s/server:FuzzParseEnvelope \
	pkg/phone:FuzzNormalize sm/register:FuzzParseForm
FUZZTIME ?= 30s
BENCHTIME ?= 1s
STATICCHECK_VERSION := v0.8.2

include tools/x509overlay/overlay.mk
export GOFLAGS := $(X509OVERLAY_GOFLAGS)

.PHONY: all build test test-short vet lint fuzz bench bench-compare run clean

all: build

build: x509overlay
	@mkdir -p bin
	@for c in $(COMMANDS); do n=$${c##*/}; echo "go build -o bin/$$n ./$$c"; $(GO) build -o bin/$$n ./$$c || exit 1; done

# Unit, fuzz-seed, integration and interoperability tests. Integration
# tests start the real binaries, redis-server, slixmpp and Prosody.
test: x509overlay vet
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

# The same without the race detector, for a quick loop while editing.
test-short: x509overlay
	$(GO) test -count=1 -timeout 10m $(PKGS)

vet: x509overlay
	$(GO) vet $(PKGS)

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@command -v staticcheck >/dev/null 2>&1 || GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck $(PKGS)

# Each fuzz target for FUZZTIME (make fuzz FUZZTIME=10m).
fuzz: x509overlay
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; target=$${t##*:}; \
		echo "== $$pkg $$target"; \
		$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./$$pkg || exit 1; \
	done

# Micro-benchmarks of the hot paths, then the router load program.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./pkg/xml ./pkg/jid ./pkg/outbound ./pkg/store \
		./router/server ./s2s/server ./resolver/resolve ./sm/server
	$(GO) test -run '^$$' -bench EndToEnd -benchtime 20000x ./sm/test
	$(GO) run ./bench/cmd/routerload -router-bin bin/router

# Our network against Prosody and ejabberd (Debian packages) under the
# same load on this machine (bench/cmd/compare): writes the table into
# docs/benchmarks.md between its compare markers. Takes about 15 minutes;
# shorter: make bench-compare COMPAREFLAGS="-duration 10s -idle 1000".
COMPAREFLAGS ?=
bench-compare: build
	$(GO) build -o bin/xmppload ./bench/cmd/xmppload
	$(GO) build -o bin/compare ./bench/cmd/compare
	@mkdir -p var
	bin/compare -bin bin -doc docs/benchmarks.md -json var/bench-compare.json $(COMPAREFLAGS)

# A single-host network in the foreground (tools/devrun; flags: make run RUNFLAGS=-help).
run: build
	bin/devrun $(RUNFLAGS)

clean:
	rm -rf bin var/x509overlay
