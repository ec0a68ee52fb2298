package store

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics records each operation's latency and errors. A nil *metrics
// records nothing.
type metrics struct {
	seconds *prometheus.HistogramVec
	errors  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, namespace string) *metrics {
	if reg == nil {
		return nil
	}
	prefix := "kontalk_"
	if namespace != "" {
		prefix += namespace + "_"
	}
	m := &metrics{
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    prefix + "redis_op_seconds",
			Help:    "Latency of store operations on Redis (one round trip each, a Batch counts once).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 2.5},
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "redis_errors_total",
			Help: "Store operations that failed (Redis away, timeouts, bad data); missing records are not errors.",
		}, []string{"op"}),
	}
	reg.MustRegister(m.seconds, m.errors)
	return m
}

func (m *metrics) observe(op string, start time.Time, err error) {
	if m == nil {
		return
	}
	m.seconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, ErrNotFound) {
		m.errors.WithLabelValues(op).Inc()
	}
}

// done is observe for a deferred call: err points at the caller's named
// result, read when the call returns.
func (m *metrics) done(op string, start time.Time, err *error) { m.observe(op, start, *err) }
