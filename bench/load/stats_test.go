package load

import (
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 1000; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{
		{0, time.Millisecond}, {0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond},
		{0.999, 999 * time.Millisecond}, {1, 1000 * time.Millisecond},
	} {
		if got := Percentile(d, c.q); got != c.want {
			t.Errorf("Percentile(1..1000 ms, %v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := Percentile(nil, 0.5); got != 0 {
		t.Errorf("Percentile(nil) = %v", got)
	}
	// Nearest rank: with 3 values, p50 is the second and p99 the third.
	three := []time.Duration{1, 2, 3}
	if Percentile(three, 0.5) != 2 || Percentile(three, 0.99) != 3 {
		t.Errorf("three values: p50 %v, p99 %v", Percentile(three, 0.5), Percentile(three, 0.99))
	}
}

func TestLatenciesSummary(t *testing.T) {
	var l Latencies
	// Recorded out of order, as readers record them.
	for _, ms := range []int{30, 10, 20, 40, 1000} {
		l.Add(time.Duration(ms) * time.Millisecond)
	}
	s := l.Summary()
	if s.Count != 5 || s.P50MS != 30 || s.P99MS != 1000 || s.P999 != 1000 || s.MaxMS != 1000 {
		t.Errorf("summary %+v", s)
	}
	if (&Latencies{}).Summary() != (Summary{}) {
		t.Error("empty summary not zero")
	}
}

func TestTableRow(t *testing.T) {
	r := &Result{Server: "kontalk", Scenario: "a", Users: 1000, Logins: 1000, LoginsPerSecond: 412.4,
		Login: Summary{Count: 1000, P99MS: 88.2}, RSSPerConnection: 30 * 1024,
		OfferedPerSecond: 500, Sent: 15000, Delivered: 14999, DeliveredPerSecond: 499.9,
		Delivery: Summary{Count: 14999, P50MS: 2.04, P99MS: 9.96, P999: 31.5}, Lost: 1, Errors: 2, LoginFailures: 1, CPUPerMessageUS: 412.6}
	want := "| kontalk | a | 1000 | 412 | 88 ms | 30.0 KiB | 500 | 500 | 2.0 ms | 10.0 ms | 31.5 ms | 1 | 3 | 413 µs |"
	if got := r.TableRow(); got != want {
		t.Errorf("row\n got %s\nwant %s", got, want)
	}
	// The row has as many columns as the header.
	header := strings.SplitN(TableHeader, "\n", 2)[0]
	if strings.Count(header, "|") != strings.Count(want, "|") {
		t.Errorf("header has %d bars, row %d", strings.Count(header, "|"), strings.Count(want, "|"))
	}
	// Idle runs leave the message columns empty.
	idle := (&Result{Server: "prosody", Scenario: "c", Users: 10, LoginsPerSecond: 5}).TableRow()
	if want := "| prosody | c | 10 | 5 | – | – | – | – | – | – | – | – | 0 | – |"; idle != want {
		t.Errorf("idle row\n got %s\nwant %s", idle, want)
	}
}
