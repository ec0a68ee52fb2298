//go:build linux

package server

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
)

// poller watches the sockets of parked connections (park.go) with an
// epoll instance of its own, beside the Go runtime's: a parked
// connection has no goroutine, so an idle client costs no stack. When a
// socket becomes readable its connection is resumed on a new goroutine.
// Registrations are level-triggered and one-shot: each fires once, and
// the resumed connection removes it.
type poller struct {
	srv  *Server
	epfd int
	stop chan struct{}
	done sync.WaitGroup
}

// pollWait is how long one wait for events lasts, so that the poller
// notices close without a wake-up descriptor.
const pollWait = 200 // milliseconds

func newPoller(s *Server) (*poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("c2s: epoll: %w", err)
	}
	p := &poller{srv: s, epfd: fd, stop: make(chan struct{})}
	p.done.Go(p.run)
	return p, nil
}

func (p *poller) run() {
	events := make([]syscall.EpollEvent, 128)
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		n, err := syscall.EpollWait(p.epfd, events, pollWait)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			p.srv.log.Error("epoll wait failed: parked connections wake only on their timers")
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			p.srv.mu.Lock()
			c := p.srv.conns[id]
			p.srv.mu.Unlock()
			if c != nil {
				c.unpark()
			}
		}
	}
}

// add watches c's socket for input.
func (p *poller) add(c *conn) error {
	sc, ok := c.raw.(syscall.Conn)
	if !ok {
		return errors.ErrUnsupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd: int32(uint32(c.id)), Pad: int32(uint32(c.id >> 32))}
	var addErr error
	err = rc.Control(func(fd uintptr) {
		addErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil {
		return err
	}
	return addErr
}

// pending reports whether c's socket has input (or an end of input) to
// read now, without consuming it.
func (p *poller) pending(c *conn) bool {
	rc, err := c.raw.(syscall.Conn).SyscallConn()
	if err != nil {
		return true
	}
	var b [1]byte
	n := -1
	var recvErr error
	if err := rc.Control(func(fd uintptr) {
		n, _, recvErr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}); err != nil {
		return true
	}
	// EAGAIN: nothing yet. Anything else (data, end of input, an error)
	// is for a read to find out.
	return !errors.Is(recvErr, syscall.EAGAIN) || n >= 0
}

// remove stops watching c's socket.
func (p *poller) remove(c *conn) {
	if rc, err := c.raw.(syscall.Conn).SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			// ENOENT: never added or already gone; nothing to undo.
			syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
		})
	}
}

// close stops the poller; parked connections must have been resumed.
func (p *poller) close() {
	close(p.stop)
	p.done.Wait()
	syscall.Close(p.epfd)
}
