package config_test

import (
	"flag"
	"io"
	"maps"
	"testing"

	"github.com/kontalk/xmppd/pkg/config"
)

func FuzzParseByteSize(f *testing.F) {
	for _, seed := range []string{"0", "4096", "512B", "256KiB", "8 MiB", "1gib", "8MB", "1.5MiB", "-1",
		"9223372036854775807", "8388608TiB", "KiB", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := config.ParseByteSize(s)
		if err != nil {
			return
		}
		if b < 0 {
			t.Fatalf("ParseByteSize(%q) = %d", s, b)
		}
		again, err := config.ParseByteSize(b.String())
		if err != nil || again != b {
			t.Fatalf("ParseByteSize(%q) = %d, String %q parses to %d, %v", s, b, b.String(), again, err)
		}
	})
}

// parseMapEnv reads a map flag from the environment value alone.
func parseMapEnv(value string) (map[string]string, *flag.FlagSet, error) {
	var m map[string]string
	fs := flag.NewFlagSet("fuzz", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config.MapVar(fs, &m, "pair", "")
	err := config.Parse(fs, nil, env(map[string]string{"KONTALK_PAIR": value}))
	return m, fs, err
}

// FuzzMapEnv checks that an environment value either fails or yields pairs
// with names, which the flag prints back in its environment form.
func FuzzMapEnv(f *testing.F) {
	for _, seed := range []string{"a=x,b=y", " a=x , b=y,,", "a=b=c", "a =x", "=x", "a", "a=x,a=y", ",", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		m, fs, err := parseMapEnv(value)
		if err != nil {
			return
		}
		for name := range m {
			if name == "" {
				t.Fatalf("%q: empty name accepted", value)
			}
		}
		printed := fs.Lookup("pair").Value.String()
		again, _, err := parseMapEnv(printed)
		if err != nil || !maps.Equal(again, m) {
			t.Fatalf("%q parses to %v, printed as %q, which parses to %v, %v", value, m, printed, again, err)
		}
	})
}
