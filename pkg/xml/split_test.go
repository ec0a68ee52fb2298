package xml

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// splitReader returns its input in two reads, cut at n.
type splitReader struct {
	s    string
	n, i int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if r.i >= len(r.s) {
		return 0, io.EOF
	}
	end := len(r.s)
	if r.i < r.n {
		end = r.n
	}
	k := copy(p, r.s[r.i:end])
	r.i += k
	return k, nil
}

var splitCorpus = []string{
	header + `<message to='a@b/c' id='x'><body>h&#233;llo &lt;wörld&gt; 日本</body><e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>AAAA</e2e></message>` +
		"\r\n\t " + `<presence><c xmlns='http://jabber.org/protocol/caps' node='n' ver='v' hash='sha-1'/></presence>` +
		`<iq type='set'><q:x xmlns:q='urn:q' q:a="1 &amp; 2"><![CDATA[a]]b]]>c<q:y/></q:x></iq></stream:stream>`,
	"\xEF\xBB\xBF" + header + `<r xmlns='urn:xmpp:sm:3'/>` + "   ",
	header + `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`,
}

// Any cut of the input into two reads, and one byte at a time, must read
// the same units as the whole input at once (nats-server's split tests).
func TestSplits(t *testing.T) {
	for _, in := range splitCorpus {
		want, wantElems, wantErr := readAll(t, strings.NewReader(in), Limits{}, true)
		for n := 1; n < len(in); n++ {
			got, gotElems, err := readAll(t, &splitReader{s: in, n: n}, Limits{}, true)
			if !sameUnits(want, got, wantErr, err) || !sameTrees(wantElems, gotElems) {
				t.Fatalf("cut at %d: %q (%v), want %q (%v)", n, got, err, want, wantErr)
			}
		}
		got, gotElems, err := readAll(t, &oneByteReader{s: in}, Limits{}, true)
		if !sameUnits(want, got, wantErr, err) || !sameTrees(wantElems, gotElems) {
			t.Fatalf("one byte at a time: %q (%v), want %q (%v)", got, err, want, wantErr)
		}
	}
}

func sameUnits(a, b []string, errA, errB error) bool {
	if strings.Join(a, "\x00") != strings.Join(b, "\x00") {
		return false
	}
	var sa, sb *SyntaxError
	if errors.As(errA, &sa) != errors.As(errB, &sb) {
		return false
	}
	if sa != nil {
		return sa.Cond == sb.Cond
	}
	return errors.Is(errA, io.EOF) == errors.Is(errB, io.EOF)
}

func sameTrees(a, b []*Element) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalElements(a[i], b[i]) {
			return false
		}
	}
	return true
}
