package server

// Statez is a snapshot of the instance for /statez.
type Statez struct {
	Instance  string   `json:"instance"`
	Host      string   `json:"host"`
	Network   string   `json:"network"`
	Connected bool     `json:"connected"`
	Routes    []string `json:"routes"`
	Queued    int      `json:"queued"`
}

// Statez returns the instance's state: its router connection, the routes
// it sees and the stanzas waiting for a worker.
func (s *Server) Statez() *Statez {
	return &Statez{
		Instance:  s.opts.Name,
		Host:      s.opts.Host,
		Network:   s.opts.Network,
		Connected: s.client.Connected(),
		Routes:    s.routes.names(),
		Queued:    s.queued(),
	}
}
