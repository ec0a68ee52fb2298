package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are sm's own metrics (kontalk_sm_...); the store adds
// kontalk_sm_redis_... per operation.
type metrics struct {
	handled     *prometheus.HistogramVec
	sent        *prometheus.CounterVec
	delivered   prometheus.Counter
	stored      prometheus.Counter
	redelivered prometheus.Counter
	acked       prometheus.Counter
	started     prometheus.Counter
	ended       *prometheus.CounterVec
	retries     prometheus.Counter
	errors      *prometheus.CounterVec
	sweeps      prometheus.Counter
	waited      prometheus.Histogram
	backlog     prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		handled: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kontalk_sm_handle_seconds",
			Help:    "Time to handle one stanza or envelope from the router, by kind.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"kind"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_sm_messages_sent_total",
			Help: "Client messages handed on, by inbox result (stored, duplicate, unknown-user, blocked, full).",
		}, []string{"result"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_sm_deliveries_total", Help: "Stanzas delivered to client sessions.",
		}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_sm_inbox_delivered_total", Help: "Stored stanzas delivered at a session's initial presence.",
		}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_sm_inbox_redelivered_total", Help: "Stored stanzas delivered again by the sweep.",
		}),
		acked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_sm_inbox_acked_total", Help: "Inbox entries acknowledged by clients.",
		}),
		started: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_sm_sessions_started_total", Help: "Sessions started.",
		}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_sm_sessions_ended_total", Help: "Sessions ended, by reason.",
		}, []string{"reason"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_sm_redis_retries_total", Help: "Retries of a stanza's handling while Redis was unreachable.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_sm_errors_total", Help: "Stanzas whose handling failed, by step.",
		}, []string{"what"}),
		sweeps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_sm_sweeps_total", Help: "Sweeps run by this instance.",
		}),
		waited: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kontalk_sm_inbox_wait_seconds",
			Help:    "Time a stored stanza waited in the inbox before it was delivered from there (at login or by the sweep).",
			Buckets: []float64{1, 10, 60, 600, 3600, 6 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600},
		}),
		backlog: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kontalk_sm_inbox_backlog_stanzas",
			Help:    "Stored stanzas waiting for a user when one of their sessions became available (inbox depth at login).",
			Buckets: []float64{0, 1, 5, 20, 100, 500, 2000, 10000},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.handled, m.sent, m.delivered, m.stored, m.redelivered, m.acked, m.started, m.ended, m.retries, m.errors, m.sweeps, m.waited, m.backlog)
	}
	return m
}

// queue exports the stanzas waiting in the shards.
func (m *metrics) queue(reg prometheus.Registerer, queued func() int) {
	if reg == nil {
		return
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kontalk_sm_queued_stanzas", Help: "Stanzas read from the router and waiting for a worker.",
	}, func() float64 { return float64(queued()) }))
}
