package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are c2s's Prometheus metrics, registered on the process's own
// registry.
type metrics struct {
	connections      prometheus.Gauge
	accepted         *prometheus.CounterVec // by listener: starttls, tls
	refused          *prometheus.CounterVec // by reason
	closed           *prometheus.CounterVec // by close reason
	tlsFailures      *prometheus.CounterVec // by why
	auth             *prometheus.CounterVec // by result: success or the failure's reason
	logins           prometheus.Histogram
	sessions         prometheus.Gauge
	conflicts        prometheus.Counter
	registrations    prometheus.Counter
	forwarded        prometheus.Counter
	delivered        prometheus.Counter
	acks             prometheus.Counter
	resumptions      *prometheus.CounterVec // by result
	csiQueued        prometheus.Counter
	pings            prometheus.Counter
	throttled        prometheus.Counter
	windowFull       prometheus.Counter
	smTimeouts       prometheus.Counter
	resent           prometheus.Counter
	envelopesDropped *prometheus.CounterVec // by reason
	envelopesLost    prometheus.Counter
	routerUp         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "kontalk_c2s_" + name, Help: help})
	}
	vec := func(name, help, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kontalk_c2s_" + name, Help: help}, []string{label})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "kontalk_c2s_" + name, Help: help})
	}
	m := &metrics{
		connections:   gauge("connections", "Client connections open now."),
		accepted:      vec("connections_accepted_total", "Client connections accepted, by listener.", "listener"),
		refused:       vec("connections_refused_total", "Client connections refused at once, by reason.", "reason"),
		closed:        vec("connections_closed_total", "Client connections closed, by reason.", "reason"),
		tlsFailures:   vec("tls_failures_total", "Failed TLS handshakes, by cause.", "why"),
		auth:          vec("auth_total", "SASL authentications, by result (success or the reason of the failure).", "result"),
		sessions:      gauge("sessions", "Sessions bound now, detached resumable ones included."),
		conflicts:     counter("conflicts_total", "Sessions replaced by a new one for the same resource on this instance."),
		registrations: counter("registrations_total", "Registration requests passed to sm."),
		forwarded:     counter("stanzas_forwarded_total", "Client stanzas sent to sm."),
		delivered:     counter("stanzas_delivered_total", "Stanzas from sm written (or kept) for clients."),
		acks:          counter("acks_total", "Stored stanzas the clients acknowledged (XEP-0198)."),
		resumptions:   vec("resumptions_total", "XEP-0198 resumption events, by result.", "result"),
		csiQueued:     counter("csi_queued_total", "Presences held for inactive clients (XEP-0352)."),
		pings:         counter("pings_total", "Checks of silent connections."),
		throttled:     counter("throttled_total", "Times a connection was not read because it exceeded its rate."),
		windowFull:    counter("window_full_total", "Times a client was not read because sm had not confirmed its stanzas."),
		smTimeouts:    counter("sm_timeouts_total", "Session starts sm did not answer in time."),
		resent:        counter("envelopes_resent_total", "Client stanzas sent to sm again."),
		envelopesDropped: vec("envelopes_dropped_total",
			"Envelopes from the router that were not used, by reason.", "reason"),
		envelopesLost: counter("envelopes_unsent_total", "Envelopes that could not be queued to the router (shutdown)."),
		routerUp:      gauge("router_connected", "1 while the router connection is up."),
		logins: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kontalk_c2s_login_seconds",
			Help:    "Time from accepting a connection to its resource being bound.",
			Buckets: prometheus.ExponentialBucketsRange(1e-3, 30, 16),
		}),
	}
	reg.MustRegister(m.connections, m.accepted, m.refused, m.closed, m.tlsFailures, m.auth, m.logins,
		m.sessions, m.conflicts, m.registrations, m.forwarded, m.delivered, m.acks, m.resumptions,
		m.csiQueued, m.pings, m.throttled, m.windowFull, m.smTimeouts, m.resent, m.envelopesDropped,
		m.envelopesLost, m.routerUp)
	return m
}
