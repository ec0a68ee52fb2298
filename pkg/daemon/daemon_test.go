package daemon

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kontalk/xmppd/pkg/admin"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type service struct{ ran chan struct{} }

func (s *service) Run(ctx context.Context) error {
	close(s.ran)
	<-ctx.Done()
	return nil
}

func TestRun(t *testing.T) {
	var greeting string
	svc := &service{ran: make(chan struct{})}
	addr := make(chan string, 1)
	spec := Spec{
		Name:  "test",
		Admin: "127.0.0.1:0",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&greeting, "greeting", "hello", "") },
		Start: func(env Env) (Service, error) {
			if err := env.Admin.AddCheck("svc", admin.CheckerFunc(func(context.Context) error { return nil })); err != nil {
				return nil, err
			}
			go func() {
				<-svc.ran
				addr <- env.Admin.Addr()
			}()
			return svc, nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	env := map[string]string{"KONTALK_GREETING": "ciao", "KONTALK_LOG_LEVEL": "warn"}
	go func() { done <- Run(ctx, spec, nil, func(k string) string { return env[k] }) }()
	a := <-addr
	resp, err := http.Get("http://" + a + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	if greeting != "ciao" {
		t.Errorf("flag from the environment: %q", greeting)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestStartError(t *testing.T) {
	spec := Spec{Name: "test", Admin: "127.0.0.1:0", Flags: func(*flag.FlagSet) {},
		Start: func(Env) (Service, error) { return nil, errors.New("no key file") }}
	err := Run(context.Background(), spec, []string{"-log-level", "error"}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "no key file") {
		t.Fatalf("err = %v", err)
	}
	if err := Run(context.Background(), spec, []string{"-unknown"}, func(string) string { return "" }); err == nil {
		t.Fatal("unknown flag accepted")
	}
}
