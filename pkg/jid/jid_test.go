package jid

import (
	"testing"
)

func TestAppendDomain(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"user@Kontalk.Example/Res", "kontalk.example"},
		{"sm.node1.kontalk.localhost", "sm.node1.kontalk.localhost"},
		{"a@[::1]/r", "[::1]"},
		{"x@ÉXAMPLE.com", "éxample.com"},
		{"x@bücher.example", "bücher.example"},
	} {
		got, ok := AppendDomain(nil, []byte(tc.in))
		if !ok || string(got) != tc.want {
			t.Errorf("AppendDomain(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	for _, bad := range []string{"", "@example.com", "a@", "a@b c"} {
		if got, ok := AppendDomain(nil, []byte(bad)); ok {
			t.Errorf("AppendDomain(%q) = %q, ok", bad, got)
		}
	}
}

func TestAppendBare(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"4BDD4f@Kontalk.Example/phone", "4bdd4f@kontalk.example"},
		{"kontalk.example/res", "kontalk.example"},
		{"Ärger@example.com", "ärger@example.com"},
	} {
		got, ok := AppendBare(nil, []byte(tc.in))
		if !ok || string(got) != tc.want {
			t.Errorf("AppendBare(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	for _, bad := range []string{"@example.com", "a b@example.com", "a\"b@x"} {
		if got, ok := AppendBare(nil, []byte(bad)); ok {
			t.Errorf("AppendBare(%q) = %q, ok", bad, got)
		}
	}
}

// FuzzAppendBare checks the fast path against mellium's preparation:
// whenever both accept an address they agree, and the fast path never
// accepts what full preparation refuses.
func FuzzAppendBare(f *testing.F) {
	for _, s := range []string{"a@b", "A@B.C/d", "é@x", "x@[::1]", "a@b..c", "a@-b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := AppendBare(nil, []byte(s))
		// Routing ignores the resourcepart: compare with the bare address.
		bare := s
		if _, _, res := Split([]byte(s)); len(res) > 0 {
			bare = s[:len(s)-len(res)-1]
		}
		j, err := Parse(bare)
		if err != nil {
			if ok {
				t.Fatalf("AppendBare(%q) = %q, but Parse refuses it: %v", s, got, err)
			}
			return
		}
		if !ok {
			t.Fatalf("AppendBare(%q) refused what Parse accepts (%v)", s, j)
		}
		if string(got) != j.Bare().String() {
			t.Fatalf("AppendBare(%q) = %q, Parse gives %q", s, got, j.Bare())
		}
		d, ok := AppendDomain(nil, []byte(s))
		if !ok || string(d) != j.Domainpart() {
			t.Fatalf("AppendDomain(%q) = %q, %v; Parse gives %q", s, d, ok, j.Domainpart())
		}
	})
}

func BenchmarkAppendBare(b *testing.B) {
	in := []byte("4bdd4f929f3a1062253e4e496bafba0bdfb5db75@kontalk.example/android")
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendBare(buf[:0], in)
	}
}
