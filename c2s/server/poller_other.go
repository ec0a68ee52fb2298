//go:build !linux

package server

import "errors"

// poller is Linux only; elsewhere idle connections keep their goroutine.
type poller struct{}

func newPoller(*Server) (*poller, error) { return nil, nil }

func (p *poller) add(*conn) error    { return errors.ErrUnsupported }
func (p *poller) remove(*conn)       {}
func (p *poller) pending(*conn) bool { return true }
func (p *poller) close()             {}
