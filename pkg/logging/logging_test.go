package logging_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/logging"
)

func TestJSON(t *testing.T) {
	var buf bytes.Buffer
	log, err := logging.New(&buf, logging.FormatJSON, "info")
	if err != nil {
		t.Fatal(err)
	}
	log.Named("router").Debug("dropped")
	log.Named("router").Info("component bound", zap.String("conn", "router:7"), zap.Duration("took", time.Second),
		zap.Error(errors.New("boom")))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line (debug filtered), got:\n%s", buf.String())
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, lines[0])
	}
	for key, want := range map[string]any{
		"level": "info", "logger": "router", "msg": "component bound", "conn": "router:7", "took": "1s", "error": "boom",
	} {
		if entry[key] != want {
			t.Errorf("%s = %v, want %v", key, entry[key], want)
		}
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z0700", entry["ts"].(string)); err != nil {
		t.Errorf("ts: %v", err)
	}
	if !strings.HasPrefix(entry["caller"].(string), "logging/logging_test.go:") {
		t.Errorf("caller = %v", entry["caller"])
	}
}

func TestConsole(t *testing.T) {
	var buf bytes.Buffer
	log, err := logging.New(&buf, logging.FormatConsole, "debug")
	if err != nil {
		t.Fatal(err)
	}
	log.Named("sm").Debug("session started", zap.String("jid", "a@b/c"))
	out := buf.String()
	for _, want := range []string{"\tDEBUG\t", "\tsm\t", "session started", `{"jid": "a@b/c"}`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in %q", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colored output: %q", out)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := logging.New(io.Discard, "xml", "info"); err == nil {
		t.Error("unknown format accepted")
	}
	if _, err := logging.New(io.Discard, logging.FormatJSON, "loud"); err == nil {
		t.Error("unknown level accepted")
	}
}

func TestRegisterFlags(t *testing.T) {
	var o logging.Options
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.RegisterFlags(fs)
	if o.Format != logging.FormatJSON || o.Level != "info" {
		t.Fatalf("defaults = %+v", o)
	}
	if err := fs.Parse([]string{"-log-format", "console", "-log-level", "warn"}); err != nil {
		t.Fatal(err)
	}
	if o.Format != logging.FormatConsole || o.Level != "warn" {
		t.Fatalf("parsed = %+v", o)
	}
	if _, err := logging.New(io.Discard, o.Format, o.Level); err != nil {
		t.Fatal(err)
	}
}
