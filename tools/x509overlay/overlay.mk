# Build-time overlay of crypto/x509 so that Go binaries accept Kontalk bridge
# certificates as TLS client certificates (docs/decisions.md, "Bridge certificates and
# Go's crypto/x509"). Include it from the top-level Makefile and make every target that
# runs the go command depend on x509overlay:
#
#	include tools/x509overlay/overlay.mk
#	export GOFLAGS := $(X509OVERLAY_GOFLAGS)
#	build test vet lint run: x509overlay
#
# `make -s x509overlay` prints nothing but the flag, for running go by hand:
#
#	GOFLAGS="$(go env GOFLAGS) $(make -s x509overlay)" go test ./bridge/
#
# The generator runs on every make invocation (about a second, cached): a toolchain
# replaced in place keeps its path and may carry old file times, so make's time stamps
# cannot tell when the overlay is stale. It fails loudly when the toolchain's source no
# longer matches the patch.

GO ?= go

# Where this file is, as included (tools/x509overlay from the repository root).
X509OVERLAY_SRC := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

# Output directory, gitignored under var/; absolute, because GOFLAGS is read by go
# commands started in other directories.
X509OVERLAY_DIR ?= $(CURDIR)/var/x509overlay
X509OVERLAY_OUT := $(abspath $(X509OVERLAY_DIR))
X509OVERLAY_JSON := $(X509OVERLAY_OUT)/overlay.json

# GOFLAGS as configured (environment or go env -w) without any -overlay, and with ours.
X509OVERLAY_BASE_GOFLAGS := $(filter-out -overlay=% --overlay=%,$(shell $(GO) env GOFLAGS))
X509OVERLAY_GOFLAGS := $(strip $(X509OVERLAY_BASE_GOFLAGS) -overlay=$(X509OVERLAY_JSON))

.PHONY: x509overlay
x509overlay:
	@GOFLAGS='$(X509OVERLAY_BASE_GOFLAGS)' GOWORK=off $(GO) -C '$(X509OVERLAY_SRC)' run . -go '$(GO)' -out '$(X509OVERLAY_OUT)'
