package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the router's Prometheus metrics, registered on the
// process's own registry.
type metrics struct {
	connections   prometheus.Gauge
	accepted      prometheus.Counter
	closed        *prometheus.CounterVec // by close reason
	routed        prometheus.Counter
	bounced       *prometheus.CounterVec // by stanza error condition
	dropped       *prometheus.CounterVec // by reason
	slowConsumers prometheus.Counter
	authFailures  prometheus.Counter
	hopLatency    prometheus.Histogram
	queued        prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, queued func() float64) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kontalk_router_connections",
			Help: "Component connections open now.",
		}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_router_connections_accepted_total",
			Help: "Component connections accepted.",
		}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_router_connections_closed_total",
			Help: "Component connections closed, by reason.",
		}, []string{"reason"}),
		routed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_router_stanzas_routed_total",
			Help: "Stanzas queued to a component.",
		}),
		bounced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_router_stanzas_bounced_total",
			Help: "Undeliverable stanzas answered with an error, by condition.",
		}, []string{"condition"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_router_stanzas_dropped_total",
			Help: "Stanzas neither delivered nor bounced, by reason.",
		}, []string{"reason"}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_router_slow_consumers_total",
			Help: "Components disconnected because they did not read fast enough.",
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_router_handshake_failures_total",
			Help: "Component handshakes refused for a wrong or unknown secret.",
		}),
		hopLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kontalk_router_hop_latency_seconds",
			Help:    "Time from reading a stanza to writing it to its target.",
			Buckets: prometheus.ExponentialBucketsRange(5e-6, 1, 28), // 5µs .. 1s, factor ~1.57
		}),
		queued: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kontalk_router_queued_bytes",
			Help: "Bytes waiting to be written to components.",
		}, queued),
	}
	reg.MustRegister(m.connections, m.accepted, m.closed, m.routed, m.bounced,
		m.dropped, m.slowConsumers, m.authFailures, m.hopLatency, m.queued)
	return m
}
