package phone

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"+15555215554":      "+15555215554",
		" +1 555 521 5554 ": "+15555215554",
		"+1 (555) 521-5554": "+15555215554",
		"0039 347 111 1111": "+393471111111",
		"+39.347.111.1111":  "+393471111111",
		"+44 20 7946 0958":  "+442079460958",
	} {
		got, err := Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "3471111111", "+", "+1", "+1 555 abc", "+999 1234567", "++15555215554", "+1555521555412345678", strings.Repeat("1", 100)} {
		if got, err := Normalize(in); err == nil {
			t.Errorf("Normalize(%q) = %q, want an error", in, got)
		}
	}
	if got := Localpart("+15555215554"); got != "4bdd4f929f3a1062253e4e496bafba0bdfb5db75" {
		t.Errorf("Localpart = %s", got)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"+15555215554", "0039 347 111 1111", "+1 (555) 521-5554", "+", "00", "+0", "+8 8 8", "+1-800-FLOWERS", "+٣٤٧"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Normalize(in)
		if err != nil {
			return
		}
		if len(out) < 2 || out[0] != '+' || strings.Trim(out[1:], "0123456789") != "" {
			t.Fatalf("Normalize(%q) = %q: not E.164", in, out)
		}
		again, err := Normalize(out)
		if err != nil || again != out {
			t.Fatalf("Normalize(%q) = %q, but again %q, %v", in, out, again, err)
		}
	})
}
