package server

import "github.com/prometheus/client_golang/prometheus"

// Label values.
const (
	dirIn  = "in"
	dirOut = "out"

	kindNetwork    = "network"    // a link between hosts of the network
	kindFederation = "federation" // a link with another XMPP server

	methodKey      = "key" // network host: certificate of its server key, then SASL EXTERNAL
	methodExternal = "external"
	methodDialback = "dialback"
)

// metrics are the s2s process's Prometheus metrics, on its own registry.
type metrics struct {
	connections *prometheus.GaugeVec   // direction, kind
	opened      *prometheus.CounterVec // direction
	closed      *prometheus.CounterVec // direction, reason
	auth        *prometheus.CounterVec // direction, method, result
	verifies    *prometheus.CounterVec // result: dialback keys checked for others
	stanzasIn   *prometheus.CounterVec // kind
	stanzasOut  *prometheus.CounterVec // kind
	bounced     *prometheus.CounterVec // condition
	dropped     *prometheus.CounterVec // reason
	throttled   prometheus.Counter
	queued      prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, queued func() float64) *metrics {
	m := &metrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kontalk_s2s_connections",
			Help: "Server-to-server streams open now, by direction and kind (network, federation).",
		}, []string{"direction", "kind"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_s2s_connections_opened_total",
			Help: "Streams accepted (in) or connections attempted (out).",
		}, []string{"direction"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_s2s_connections_closed_total",
			Help: "Streams closed, by direction and reason.",
		}, []string{"direction", "reason"}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_s2s_auth_total",
			Help: "Peer authentications, by direction, method (key, external, dialback) and result.",
		}, []string{"direction", "method", "result"}),
		verifies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_s2s_dialback_verify_total",
			Help: "Dialback keys other servers asked this one to verify, by answer.",
		}, []string{"result"}),
		stanzasIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_s2s_stanzas_in_total",
			Help: "Stanzas received from peers and passed to the router, by kind of link.",
		}, []string{"kind"}),
		stanzasOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_s2s_stanzas_out_total",
			Help: "Stanzas written to peers, by kind of link.",
		}, []string{"kind"}),
		bounced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_s2s_stanzas_bounced_total",
			Help: "Stanzas answered with an error, by condition.",
		}, []string{"condition"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_s2s_stanzas_dropped_total",
			Help: "Stanzas neither delivered nor bounced (errors are never answered), by reason.",
		}, []string{"reason"}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_s2s_throttled_seconds_total",
			Help: "Time inbound streams spent not being read because they exceeded their rate.",
		}),
		queued: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kontalk_s2s_queued_bytes",
			Help: "Bytes of stanzas waiting for outbound links.",
		}, queued),
	}
	reg.MustRegister(m.connections, m.opened, m.closed, m.auth, m.verifies, m.stanzasIn,
		m.stanzasOut, m.bounced, m.dropped, m.throttled, m.queued)
	return m
}
