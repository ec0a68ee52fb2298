package load

import (
	"context"
	"fmt"
	"time"

	"github.com/kontalk/xmppd/pkg/procstat"
)

// Target is a server under test.
type Target interface {
	Name() string
	// Accounts prepares n accounts that can log in.
	Accounts(ctx context.Context, n int) ([]Account, error)
	// PIDs are the server's processes.
	PIDs() []int
}

// Scenario is one measurement: log Users in, then (if Interval is set)
// have each send a message every Interval for Duration.
type Scenario struct {
	Name        string
	Users       int
	LoginRate   float64 // logins started per second; 0: as fast as Concurrency allows
	Concurrency int     // logins in flight
	Interval    time.Duration
	Duration    time.Duration
	Drain       time.Duration // time left for acknowledgements and deliveries
	// Settle is the pause after the logins before memory is read.
	Settle time.Duration
}

// Run runs sc against t.
func Run(ctx context.Context, t Target, sc Scenario) (*Result, error) {
	accounts, err := t.Accounts(ctx, sc.Users)
	if err != nil {
		return nil, err
	}
	res := &Result{Server: t.Name(), Scenario: sc.Name, Users: sc.Users}
	s, err := loginAll(ctx, t, sc, accounts, res)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if sc.Interval > 0 {
		res.addMessages(messages(ctx, t, s, "m", sc.Interval, sc.Duration, sc.Drain))
	}
	res.Errors = int(s.errors.Load())
	if err := s.LastError(); err != nil && res.LastError == "" {
		res.LastError = err.Error()
	}
	return res, nil
}

// loginAll logs the accounts in and records logins and memory in res.
func loginAll(ctx context.Context, t Target, sc Scenario, accounts []Account, res *Result) (*Session, error) {
	rss0, err := procstat.RSS(t.PIDs())
	if err != nil {
		return nil, err
	}
	s, ls := Login(ctx, accounts, sc.LoginRate, sc.Concurrency)
	res.Logins, res.LoginFailures, res.Login = ls.Logins, ls.Failures, ls.Latency
	if ls.FirstErr != nil {
		res.LastError = "login: " + ls.FirstErr.Error()
	}
	res.LoginsPerSecond = float64(ls.Logins) / ls.Elapsed.Seconds()
	if ls.Logins < 2 {
		s.Close()
		return nil, fmt.Errorf("load: %d of %d logins failed, first: %v", ls.Failures, len(accounts), ls.FirstErr)
	}
	select {
	case <-time.After(sc.Settle):
	case <-ctx.Done():
	}
	if res.RSSBytes, err = procstat.RSS(t.PIDs()); err != nil {
		s.Close()
		return nil, err
	}
	res.RSSPerConnection = float64(res.RSSBytes-rss0) / float64(ls.Logins)
	return s, nil
}

// messages runs s.Messages and adds the CPU time the server's processes
// used meanwhile.
func messages(ctx context.Context, t Target, s *Session, name string, interval, duration, drain time.Duration) MessageStats {
	cpu0, err0 := procstat.CPU(t.PIDs()...)
	m := s.Messages(ctx, name, interval, duration, drain)
	cpu1, err1 := procstat.CPU(t.PIDs()...)
	if err0 == nil && err1 == nil && m.Delivered > 0 {
		m.CPUPerMessage = (cpu1 - cpu0) / time.Duration(m.Delivered)
	}
	return m
}

func (r *Result) addMessages(m MessageStats) {
	r.CPUPerMessageUS = float64(m.CPUPerMessage.Nanoseconds()) / 1000
	r.OfferedPerSecond = m.Offered
	r.Sent, r.Acknowledged, r.Delivered, r.Lost, r.Receipts = m.Sent, m.Acknowledged, m.Delivered, m.Lost, m.Receipts
	r.DeliveredPerSecond = float64(m.Delivered) / m.Elapsed.Seconds()
	r.Delivery = m.Latency
}

// StepUp logs sc.Users in once, then runs sc.Duration of messages at each
// total rate in rates (messages per second over all users), stopping after
// the first step whose p99 delivery latency reaches limit or that loses
// or fails to deliver a twentieth of the offered messages. It returns
// every step's result and the index of the highest rate under limit (-1
// if none).
func StepUp(ctx context.Context, t Target, sc Scenario, rates []float64, limit time.Duration) ([]*Result, int, error) {
	accounts, err := t.Accounts(ctx, sc.Users)
	if err != nil {
		return nil, -1, err
	}
	first := &Result{Server: t.Name(), Users: sc.Users}
	s, err := loginAll(ctx, t, sc, accounts, first)
	if err != nil {
		return nil, -1, err
	}
	defer s.Close()
	var results []*Result
	best := -1
	for i, rate := range rates {
		r := *first
		r.Scenario = fmt.Sprintf("%s %.0f/s", sc.Name, rate)
		interval := time.Duration(float64(s.Clients()) / rate * float64(time.Second))
		m := messages(ctx, t, s, fmt.Sprintf("s%d", i), interval, sc.Duration, sc.Drain)
		r.addMessages(m)
		r.Errors = m.Errors
		if err := s.LastError(); err != nil {
			r.LastError = err.Error()
		}
		results = append(results, &r)
		ok := r.Delivery.P99MS < float64(limit.Milliseconds()) && r.Lost == 0 && r.Errors == 0 &&
			float64(r.Delivered) >= 0.95*float64(r.Sent)
		if !ok || ctx.Err() != nil {
			break
		}
		best = i
	}
	return results, best, nil
}
