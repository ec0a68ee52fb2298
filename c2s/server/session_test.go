package server

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/testkit"
)

// sink collects what a connection writes to the client's end of a pipe.
type sink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func newSink(t *testing.T, client net.Conn) *sink {
	s := &sink{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := client.Read(b)
			s.mu.Lock()
			s.buf.Write(b[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		client.Close()
		<-done
	})
	return s
}

func (s *sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor polls until the client received want.
func (s *sink) waitFor(t *testing.T, want string) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, "client receives "+want, func() bool { return strings.Contains(s.String(), want) })
}

// activeSession returns a started session on a pipe connection.
func activeSession(t *testing.T) (*Server, *session, *sink) {
	t.Helper()
	srv := newTestServer(t)
	c, client := pipeConn(t, srv)
	sess := &session{srv: srv, sid: "s1", jid: "u@" + testNetwork + "/r", localpart: "u", user: "u@" + testHost, conn: c, state: sessActive}
	c.sess = sess
	return srv, sess, newSink(t, client)
}

func msg(id string) []byte {
	return []byte(`<message from='bob@kontalk.test/x' to='u@kontalk.test/r' id='` + id + `' type='chat'><body>x</body></message>`)
}

func TestDeliverAndAck(t *testing.T) {
	_, s, out := activeSession(t)
	s.smOn = true
	s.deliver(msg("1"), "rid1")
	s.deliver([]byte(`<presence from='bob@kontalk.test/x' to='u@kontalk.test/r' id='2'/>`), "")
	s.deliver(msg("3"), "rid3")
	out.waitFor(t, "id='3'")
	got := out.String()
	// One request after the first stored stanza; none more while it is
	// unanswered.
	if strings.Count(got, "<r xmlns='"+NSSM+"'/>") != 1 || !strings.Contains(got, "id='1' type='chat'><body>x</body></message><r ") {
		t.Errorf("client received %s", got)
	}
	s.mu.Lock()
	rids, ok := s.ackLocked(2)
	s.mu.Unlock()
	if !ok || strings.Join(rids, ",") != "rid1" {
		t.Errorf("ack 2: %v %v", rids, ok)
	}
	s.mu.Lock()
	_, ok = s.ackLocked(4)
	s.mu.Unlock()
	if ok {
		t.Error("acknowledging more than was sent succeeded")
	}
	s.mu.Lock()
	rids, ok = s.ackLocked(3)
	unacked := s.unackedLocked()
	s.mu.Unlock()
	if !ok || strings.Join(rids, ",") != "rid3" || unacked != 0 {
		t.Errorf("ack 3: %v %v, unacked %d", rids, ok, unacked)
	}
}

// The XEP-0198 counters wrap at 2^32.
func TestAckWraps(t *testing.T) {
	_, s, out := activeSession(t)
	s.smOn = true
	s.out198, s.acked = 1<<32-2, 1<<32-2
	s.deliver(msg("1"), "a")
	s.deliver(msg("2"), "b")
	s.deliver(msg("3"), "c")
	out.waitFor(t, "id='3'")
	s.mu.Lock()
	rids, ok := s.ackLocked(1) // 2^32-1, 0, 1
	s.mu.Unlock()
	if !ok || strings.Join(rids, ",") != "a,b,c" {
		t.Errorf("%v %v", rids, ok)
	}
}

// The inbound h counts a stanza as handled only once sm confirmed it and
// everything before it; the <a/> the client asked for comes then.
func TestInboundH(t *testing.T) {
	_, s, out := activeSession(t)
	s.smOn = true
	for i := range uint64(3) {
		s.seq++
		s.in198++
		s.unconfirmed = append(s.unconfirmed, inflight{seq: s.seq, idx: s.in198, raw: []byte{byte(i)}})
	}
	s.in198++ // a stanza c2s answered itself
	s.mu.Lock()
	if h := s.inboundH(); h != 0 {
		t.Errorf("h = %d with nothing confirmed", h)
	}
	s.ackWant, s.ackAt = true, s.in198
	s.mu.Unlock()
	s.confirm(2, "sm-1")
	s.mu.Lock()
	h := s.inboundH()
	s.mu.Unlock()
	if h != 2 || strings.Contains(out.String(), "<a ") {
		t.Errorf("h = %d after 2 confirmed; client got %s", h, out.String())
	}
	s.confirm(3, "sm-2")
	out.waitFor(t, "<a xmlns='"+NSSM+"' h='4'/>")
	if s.smInstance() != "sm-2" || len(s.unconfirmed) != 0 {
		t.Errorf("sm %s, unconfirmed %d", s.smInstance(), len(s.unconfirmed))
	}
}

func TestCSIQueue(t *testing.T) {
	_, s, out := activeSession(t)
	s.inactive = true
	pres := func(from, id, typ string) []byte {
		t := ""
		if typ != "" {
			t = " type='" + typ + "'"
		}
		return []byte(`<presence from='` + from + `' to='u@kontalk.test/r' id='` + id + `'` + t + `/>`)
	}
	s.deliver(pres("a@n/1", "p1", ""), "")
	s.deliver(pres("b@n/1", "p2", ""), "")
	s.deliver(pres("a@n/1", "p3", "unavailable"), "")
	if got := out.String(); got != "" {
		t.Fatalf("availability presences not held: %s", got)
	}
	// Any other stanza, a subscription request here, writes the latest
	// presence of each sender first.
	s.deliver(pres("c@n/1", "p4", "subscribe"), "")
	out.waitFor(t, "id='p4'")
	got := out.String()
	i2, i3, i4 := strings.Index(got, "id='p2'"), strings.Index(got, "id='p3'"), strings.Index(got, "id='p4'")
	if strings.Contains(got, "id='p1'") || i2 < 0 || i3 < i2 || i4 < i3 {
		t.Errorf("client received %s", got)
	}
}

func TestWriterBound(t *testing.T) {
	srv := newTestServer(t)
	c, client := pipeConn(t, srv)
	w := newWriter(c.raw, 10, time.Second, &srv.wg, nil)
	if !w.add([]byte("0123456789")) || w.add([]byte("x")) {
		t.Error("writer bound not applied")
	}
	out := newSink(t, client)
	if !w.flushOwn() {
		t.Fatal(w.failed())
	}
	out.waitFor(t, "0123456789")
	if !w.push([]byte("abc")) {
		t.Fatal("push refused")
	}
	out.waitFor(t, "abc")
	w.finish([]byte("</end>"), time.Now().Add(time.Second))
	out.waitFor(t, "</end>")
	if w.push([]byte("late")) {
		t.Error("push after finish accepted")
	}
}

// A write that fails reports it once and refuses further bytes.
func TestWriterFailure(t *testing.T) {
	srv := newTestServer(t)
	c, client := pipeConn(t, srv)
	client.Close()
	failures := 0
	w := newWriter(c.raw, 100, time.Second, &srv.wg, func() { failures++ })
	if w.write([]byte("x")) || w.write([]byte("y")) || failures != 1 || w.failed() == nil {
		t.Errorf("failures %d, err %v", failures, w.failed())
	}
	_, err := io.WriteString(c.raw, "z")
	if err == nil {
		t.Error("pipe still open")
	}
}

// The token bucket refills at its rate up to the burst, without
// overflowing after a long idle time.
func TestRefill(t *testing.T) {
	s := source{rate: 1000, burst: 5000, tokens: -3000, at: time.Now().Add(-2 * time.Second).UnixNano()}
	s.refill()
	if s.tokens < -1100 || s.tokens > -900 {
		t.Errorf("tokens %d after 2s at 1000/s from -3000", s.tokens)
	}
	s.at = time.Now().Add(-1000 * time.Hour).UnixNano()
	s.refill()
	if s.tokens != 5000 {
		t.Errorf("tokens %d after a long idle time", s.tokens)
	}
}
