package load

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Latencies collects durations from many goroutines.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add records one duration.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Summary returns the count and the percentiles of what was recorded.
func (l *Latencies) Summary() Summary {
	l.mu.Lock()
	d := slices.Clone(l.d)
	l.mu.Unlock()
	slices.Sort(d)
	return Summary{
		Count: len(d),
		P50MS: ms(Percentile(d, 0.50)),
		P99MS: ms(Percentile(d, 0.99)),
		P999:  ms(Percentile(d, 0.999)),
		MaxMS: ms(Percentile(d, 1)),
	}
}

// Percentile returns the q-quantile (0 ≤ q ≤ 1) of sorted by the
// nearest-rank method: the smallest value with at least q of the values
// at or below it. It is 0 for no values.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted)) + 0.999999) // ceil without float noise
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Summary is a latency distribution in milliseconds.
type Summary struct {
	Count int     `json:"count"`
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	MaxMS float64 `json:"max_ms"`
}

// Result is what one run measured.
type Result struct {
	Server   string `json:"server"`
	Scenario string `json:"scenario"`
	Users    int    `json:"users"`

	Logins          int     `json:"logins"`
	LoginFailures   int     `json:"login_failures"`
	LoginsPerSecond float64 `json:"logins_per_second"`
	Login           Summary `json:"login_latency"`

	// RSS is the servers' resident memory once every user is logged in;
	// RSSPerConnection is its growth from before the logins, per user.
	RSSBytes         int64   `json:"rss_bytes"`
	RSSPerConnection float64 `json:"rss_bytes_per_connection"`

	// Messages: the offered rate, what was sent, what arrived.
	OfferedPerSecond   float64 `json:"offered_messages_per_second"`
	Sent               int     `json:"messages_sent"`
	Acknowledged       int     `json:"messages_acknowledged"`
	Delivered          int     `json:"messages_delivered"`
	DeliveredPerSecond float64 `json:"delivered_messages_per_second"`
	Lost               int     `json:"messages_lost"` // acknowledged by the server, never received
	Receipts           int     `json:"receipts_delivered"`
	Delivery           Summary `json:"delivery_latency"`
	// CPUPerMessageUS is the server processes' CPU time per delivered
	// message, its receipt and the acknowledgements included.
	CPUPerMessageUS float64 `json:"server_cpu_us_per_message"`
	Errors          int     `json:"errors"`               // connections that failed after logging in
	LastError       string  `json:"last_error,omitempty"` // the latest of them
}

// TableHeader is the header of the Markdown table TableRow writes rows of.
const TableHeader = "| server | scenario | users | logins/s | login p99 | RSS per connection | offered msg/s | delivered msg/s | delivery p50 | p99 | p99.9 | lost | errors | server CPU per msg |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"

// TableRow is r as a row of a Markdown table under TableHeader.
func (r *Result) TableRow() string {
	dash := func(ok bool, s string) string {
		if !ok {
			return "–"
		}
		return s
	}
	msgs := r.Sent > 0
	return fmt.Sprintf("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s |",
		r.Server, r.Scenario, r.Users,
		dash(r.LoginsPerSecond > 0, fmt.Sprintf("%.0f", r.LoginsPerSecond)),
		dash(r.Login.Count > 0, fmt.Sprintf("%.0f ms", r.Login.P99MS)),
		dash(r.RSSPerConnection > 0, fmt.Sprintf("%.1f KiB", r.RSSPerConnection/1024)),
		dash(msgs, fmt.Sprintf("%.0f", r.OfferedPerSecond)),
		dash(msgs, fmt.Sprintf("%.0f", r.DeliveredPerSecond)),
		dash(msgs, fmt.Sprintf("%.1f ms", r.Delivery.P50MS)),
		dash(msgs, fmt.Sprintf("%.1f ms", r.Delivery.P99MS)),
		dash(msgs, fmt.Sprintf("%.1f ms", r.Delivery.P999)),
		dash(msgs, fmt.Sprint(r.Lost)),
		r.Errors+r.LoginFailures,
		dash(r.CPUPerMessageUS > 0, fmt.Sprintf("%.0f µs", r.CPUPerMessageUS)))
}
