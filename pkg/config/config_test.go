package config_test

import (
	"errors"
	"flag"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/kontalk/xmppd/pkg/config"
)

// testOptions stands for a process's Options struct.
type testOptions struct {
	Addr       string
	Timeout    time.Duration
	MaxStanza  config.ByteSize
	Components map[string]string
	Hosts      map[string]string
	Secret     string
	Debug      bool
}

func newFlagSet(o *testOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.Addr, "listen-addr", ":5347", "address to listen on")
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Second, "timeout")
	config.ByteSizeVar(fs, &o.MaxStanza, "max-stanza", 256*config.KiB, "stanza size limit")
	config.SecretMapVar(fs, &o.Components, "component", "component name=secret")
	config.MapVar(fs, &o.Hosts, "host", "host=address")
	config.SecretVar(fs, &o.Secret, "secret", "", "shared secret")
	fs.BoolVar(&o.Debug, "debug", false, "debug")
	return fs
}

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestEnvName(t *testing.T) {
	if got := config.EnvName("admin-addr"); got != "KONTALK_ADMIN_ADDR" {
		t.Fatalf("EnvName = %q", got)
	}
}

func TestParsePrecedence(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default", nil, nil, ":5347"},
		{"env", nil, map[string]string{"KONTALK_LISTEN_ADDR": ":1"}, ":1"},
		{"flag", []string{"-listen-addr", ":2"}, nil, ":2"},
		{"flag beats env", []string{"-listen-addr=:2"}, map[string]string{"KONTALK_LISTEN_ADDR": ":1"}, ":2"},
		{"empty env keeps default", nil, map[string]string{"KONTALK_LISTEN_ADDR": ""}, ":5347"},
		{"flag set to the default still beats env", []string{"-listen-addr", ":5347"}, map[string]string{"KONTALK_LISTEN_ADDR": ":1"}, ":5347"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o testOptions
			fs := newFlagSet(&o)
			if err := config.Parse(fs, tt.args, env(tt.env)); err != nil {
				t.Fatal(err)
			}
			if o.Addr != tt.want {
				t.Fatalf("Addr = %q, want %q", o.Addr, tt.want)
			}
		})
	}
}

func TestParseTypedValuesFromEnv(t *testing.T) {
	var o testOptions
	fs := newFlagSet(&o)
	err := config.Parse(fs, nil, env(map[string]string{
		"KONTALK_TIMEOUT":    "1m30s",
		"KONTALK_MAX_STANZA": "8MiB",
		"KONTALK_DEBUG":      "true",
		"KONTALK_SECRET":     "s3cret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if o.Timeout != 90*time.Second || o.MaxStanza != 8*config.MiB || !o.Debug || o.Secret != "s3cret" {
		t.Fatalf("options = %+v", o)
	}
	// Flags set from the environment count as set, like command-line ones.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["timeout"] || set["listen-addr"] {
		t.Fatalf("visited flags = %v", set)
	}
}

func TestParseBadEnv(t *testing.T) {
	tests := []struct{ variable, value, flag string }{
		{"KONTALK_TIMEOUT", "30", "-timeout"},
		{"KONTALK_MAX_STANZA", "8MB", "-max-stanza"},
		{"KONTALK_DEBUG", "maybe", "-debug"},
		{"KONTALK_COMPONENT", "a=x,novalue", "-component"},
	}
	for _, tt := range tests {
		t.Run(tt.variable, func(t *testing.T) {
			var o testOptions
			err := config.Parse(newFlagSet(&o), nil, env(map[string]string{tt.variable: tt.value}))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if !strings.Contains(err.Error(), tt.variable) || !strings.Contains(err.Error(), tt.flag) {
				t.Fatalf("error %q does not name %s and %s", err, tt.variable, tt.flag)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	var o testOptions
	if err := config.Parse(newFlagSet(&o), []string{"-h"}, env(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: err = %v, want flag.ErrHelp", err)
	}
	if err := config.Parse(newFlagSet(&o), []string{"-nope"}, env(nil)); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if err := config.Parse(newFlagSet(&o), []string{"-debug", "extra"}, env(nil)); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Fatalf("positional argument: err = %v", err)
	}
}

func TestMapFlag(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want map[string]string
	}{
		{"empty", nil, nil, map[string]string{}},
		{"repeated flag", []string{"-component", "media.example=x", "-component", "sm.example=y=z"}, nil,
			map[string]string{"media.example": "x", "sm.example": "y=z"}},
		{"env list", nil, map[string]string{"KONTALK_COMPONENT": " a=x , b=y,,c=, "},
			map[string]string{"a": "x", "b": "y", "c": ""}},
		{"flag replaces env", []string{"-component", "a=1"}, map[string]string{"KONTALK_COMPONENT": "b=2"},
			map[string]string{"a": "1"}},
		{"value with comma on the command line", []string{"-component", "a=x,y"}, nil,
			map[string]string{"a": "x,y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o testOptions
			if err := config.Parse(newFlagSet(&o), tt.args, env(tt.env)); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(o.Components, tt.want) {
				t.Fatalf("Components = %v, want %v", o.Components, tt.want)
			}
		})
	}
}

func TestMapFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-component", "novalue"},
		{"-component", "=x"},
		{"-component", "a=x", "-component", "a=y"},
	} {
		var o testOptions
		if err := config.Parse(newFlagSet(&o), args, env(nil)); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want config.ByteSize
	}{
		{"0", 0},
		{"4096", 4096},
		{"512B", 512},
		{"256KiB", 256 * 1024},
		{"256 KiB", 256 * 1024},
		{"8MiB", 8 << 20},
		{"8mib", 8 << 20},
		{"1GiB", 1 << 30},
		{"2TiB", 2 << 40},
		{"8388607TiB", 8388607 << 40},
	}
	for _, tt := range tests {
		got, err := config.ParseByteSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "KiB", "-1", "+1", "1.5MiB", "8MB", "8k", "1 PiB", "0x10", " 1", "1  KiB",
		"9223372036854775808", "8388608TiB", "1_000"} {
		if got, err := config.ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) = %d, want error", bad, got)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	tests := []struct {
		in   config.ByteSize
		want string
	}{
		{0, "0"}, {1, "1B"}, {1000, "1000B"}, {1024, "1KiB"}, {1536, "1536B"},
		{256 * config.KiB, "256KiB"}, {8 * config.MiB, "8MiB"}, {3 * config.TiB, "3TiB"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

func TestFieldsRedactSecrets(t *testing.T) {
	var o testOptions
	fs := newFlagSet(&o)
	args := []string{"-component", "sm.example=hunter2", "-component", "media.example=pw", "-host", "a=b", "-secret", "topsecret"}
	if err := config.Parse(fs, args, env(nil)); err != nil {
		t.Fatal(err)
	}
	enc := zapcore.NewMapObjectEncoder()
	fields := config.Fields(fs)
	for _, f := range fields {
		f.AddTo(enc)
	}
	want := map[string]any{
		"component":   "media.example=[redacted],sm.example=[redacted]",
		"debug":       "false",
		"host":        "a=b",
		"listen-addr": ":5347",
		"max-stanza":  "256KiB",
		"secret":      "[redacted]",
		"timeout":     "30s",
	}
	if !maps.Equal(enc.Fields, want) {
		t.Fatalf("fields = %v, want %v", enc.Fields, want)
	}
	if len(fields) != len(want) || fields[0].Key != "component" {
		t.Fatalf("fields not sorted by name: %v", fields)
	}
}

func TestFieldsShowMissingSecret(t *testing.T) {
	var o testOptions
	fs := newFlagSet(&o)
	if err := config.Parse(fs, nil, env(nil)); err != nil {
		t.Fatal(err)
	}
	for _, f := range config.Fields(fs) {
		if f.Key == "secret" && f.String != "" {
			t.Fatalf("unset secret logged as %q, want empty", f.String)
		}
	}
}

func TestUsageDoesNotPanic(t *testing.T) {
	var o testOptions
	fs := newFlagSet(&o)
	var out strings.Builder
	fs.SetOutput(&out)
	fs.PrintDefaults()
	if strings.Contains(out.String(), "PANIC") || !strings.Contains(out.String(), "-component") {
		t.Fatalf("usage:\n%s", out.String())
	}
}

func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var secret, plain string
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	config.SecretVar(fs, &secret, "secret", "", "")
	fs.StringVar(&plain, "plain", "", "")
	env := map[string]string{"KONTALK_SECRET_FILE": path}
	if err := config.Parse(fs, nil, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if secret != "s3cret" {
		t.Fatalf("secret = %q", secret)
	}
	for _, bad := range []map[string]string{
		{"KONTALK_SECRET_FILE": filepath.Join(dir, "missing")},
		{"KONTALK_PLAIN_FILE": path},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		config.SecretVar(fs, &secret, "secret", "", "")
		fs.StringVar(&plain, "plain", "", "")
		if err := config.Parse(fs, nil, func(k string) string { return bad[k] }); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}
