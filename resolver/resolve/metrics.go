package resolve

import "github.com/prometheus/client_golang/prometheus"

// metrics are the resolver's own metrics (kontalk_resolver_...); the
// store adds kontalk_resolver_redis_... per operation.
type metrics struct {
	results    *prometheus.CounterVec
	roundTrips prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kontalk_resolver_stanzas_total",
			Help: "Stanzas resolved, by result: session, home, local (domain and services), unknown (item-not-found), dropped.",
		}, []string{"result"}),
		roundTrips: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kontalk_resolver_lookups_total",
			Help: "Directory round trips (one per batch of stanzas for users).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.results, m.roundTrips)
	}
	return m
}

func (m *metrics) result(r string) { m.results.WithLabelValues(r).Inc() }
