package test

import (
	"context"
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/testkit"
)

// The example component in examples/echobot, built with gosrc.io/xmpp,
// connects as a third-party component and answers our users.
func TestExampleEchoBot(t *testing.T) {
	bin, err := testkit.Build(context.Background(), "../../examples/echobot", t.TempDir(), "echobot")
	if err != nil {
		t.Fatal(err)
	}
	r := startRouter(t, "-component", "echo.example=echo-secret")
	users := startComp(t, r, "sm-1.example", component.Bind{Name: "example"})
	bot := testkit.StartProcess(t, "echobot", bin, []string{"-router", r.addr, "-name", "echo.example"},
		[]string{"KONTALK_SECRET=echo-secret"})
	bot.WaitOutput("connected as echo.example", timeout)
	users.expectRoute(t, "echo.example:true")
	users.send(t, `<message from='alice@example/phone' to='echo.example' id='e1' type='chat'><body>stressed</body></message>`)
	got := users.expect(t, `id="e1"`)
	if !strings.Contains(got, "<body>desserts</body>") || !strings.Contains(got, `to="alice@example/phone"`) {
		t.Fatalf("echobot answered %s", got)
	}
}
