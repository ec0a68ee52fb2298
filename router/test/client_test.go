package test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/testkit"
	"github.com/kontalk/xmppd/pkg/xml"
)

// The component client reconnects when the router dies and comes back,
// binds its names again, and sends what was queued meanwhile.
func TestClientReconnects(t *testing.T) {
	r := startRouter(t)
	a := startComp(t, r, "a.example")
	b := startComp(t, r, "b.example", component.Bind{Name: "shared.example", Multi: true})
	a.send(t, `<message from='a.example' to='x@shared.example' id='before'/>`)
	b.expect(t, "id='before'")

	r.proc.Kill()
	testkit.Eventually(t, timeout, "clients notice", func() bool { return !a.Connected() && !b.Connected() })
	// Addressed to a itself: its own name is routed again before the
	// queue is flushed, whichever component reconnects first.
	a.send(t, `<message from='a.example' to='a.example' id='queued'/>`)

	r.proc = testkit.StartProcess(t, "router", routerBin,
		[]string{"-listen", r.addr, "-admin", r.admin, "-log-format", "console"}, []string{"KONTALK_SECRET=" + secret})
	testkit.WaitReady(t, "http://"+r.admin+"/readyz", timeout)
	a.expect(t, "id='queued'")
	testkit.Eventually(t, timeout, "b binds again", func() bool { return b.Connected() })
	a.send(t, `<message from='a.example' to='x@shared.example' id='after'/>`)
	b.expect(t, "id='after'")
}

// Send waits while the queue is full, and gives up with its context.
func TestClientBackpressure(t *testing.T) {
	r := startRouter(t)
	r.proc.Kill()
	c, err := component.New(component.Config{Addr: r.addr, Name: "a.example", Secret: secret,
		QueueBytes: 1024, OnStanza: func(*xml.Top) {}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	msg := []byte(`<message from='a.example' to='b.example'><body>` + strings.Repeat("x", 400) + `</body></message>`)
	for range 2 {
		if err := c.Send(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	sendCtx, sendCancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer sendCancel()
	if err := c.Send(sendCtx, msg); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send on a full queue while disconnected: %v", err)
	}
}

// Stopping a client closes its stream cleanly: the router records a
// closed stream, not a lost connection, and flushed what was queued.
func TestClientCleanClose(t *testing.T) {
	r := startRouter(t)
	b := startComp(t, r, "b.example")
	a := startComp(t, r, "a.example")
	for range 50 {
		a.send(t, `<message from='a.example' to='b.example' id='last'/>`)
	}
	a.stop()
	b.waitCount(t, "id='last'", 50)
	testkit.Eventually(t, timeout, "close recorded", func() bool {
		return strings.Contains(r.get(t, "/connz"), `"reason": "closed"`)
	})
}
