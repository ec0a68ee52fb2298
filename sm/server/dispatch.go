package server

import (
	"bytes"
	"context"
	"errors"
	"hash/fnv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/envelope"
	"github.com/kontalk/xmppd/pkg/jid"
	"github.com/kontalk/xmppd/pkg/store"
	"github.com/kontalk/xmppd/pkg/stream"
	"github.com/kontalk/xmppd/pkg/xml"
)

// maxAhead bounds the stanzas of one session handled past a gap in its
// sequence (after a failover, while c2s resends what was lost).
const maxAhead = 1024

// shard is one worker's queue and the state only it touches.
type shard struct {
	ch chan []byte
	// seqs tracks, per session id, client stanzas handled and not yet
	// confirmed to c2s, or handled out of order.
	seqs map[string]*seqState
}

type seqState struct {
	user, resource, c2s string
	// done: every stanza up to it is handled.
	done uint64
	// persisted is the count written to Redis.
	persisted uint64
	// ahead holds stanzas handled beyond a gap.
	ahead map[uint64]struct{}
	// pending: a confirmation is owed to c2s.
	pending bool
}

func newShard(queue int) *shard {
	return &shard{ch: make(chan []byte, queue), seqs: map[string]*seqState{}}
}

// queued returns the stanzas waiting in all shards.
func (s *Server) queued() int {
	n := 0
	for _, sh := range s.shards {
		n += len(sh.ch)
	}
	return n
}

// onStanza runs on the router connection's reading goroutine: it copies
// the stanza to the shard of the user it is for, waiting while that
// shard is full (which stops reading: backpressure to the router).
func (s *Server) onStanza(top *xml.Top) {
	var buf [128]byte
	var key []byte
	if to, has := top.Attr("to"); has {
		if k, ok := jid.AppendBare(buf[:0], to); ok {
			key = k
		}
	}
	h := fnv.New64a()
	h.Write(key)
	sh := s.shards[h.Sum64()%uint64(len(s.shards))]
	select {
	case sh.ch <- bytes.Clone(top.Raw):
	case <-s.stopping:
	}
}

// runShard handles the shard's stanzas in order until the server stops,
// then handles what is queued.
func (s *Server) runShard(ctx context.Context, sh *shard) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case raw := <-sh.ch:
			s.process(ctx, sh, raw)
			if len(sh.ch) == 0 && !s.flush(ctx, sh) {
				retry.Reset(200 * time.Millisecond)
			}
		case <-retry.C:
			if !s.flush(ctx, sh) {
				retry.Reset(time.Second)
			}
		case <-s.stopping:
			for {
				select {
				case raw := <-sh.ch:
					s.process(ctx, sh, raw)
				default:
					s.flush(ctx, sh)
					return
				}
			}
		}
	}
}

// process handles one stanza from the router.
func (s *Server) process(ctx context.Context, sh *shard, raw []byte) {
	start := time.Now()
	top, err := xml.ParseTop(raw, xml.Scope{Default: stream.NSComponent})
	if err != nil {
		s.log.Error("unreadable stanza from the router", zap.Error(err))
		return
	}
	kind := string(top.Name())
	if envelope.IsEnvelope(top) && s.trustedComponent(top.Value("from")) {
		e, err := envelope.Parse(top)
		switch {
		case err == nil:
			kind = "session"
			if e.Action != "" {
				kind = "session-" + e.Action
			}
			s.handleEnvelope(ctx, sh, e)
		case errors.Is(err, envelope.ErrNotEnvelope):
			s.handleStanza(ctx, top)
		default:
			s.log.Warn("malformed session envelope", zap.String("from", top.Value("from")), zap.Error(err))
			kind = "session-malformed"
		}
	} else {
		s.handleStanza(ctx, top)
	}
	s.metrics.handled.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}

// trustedComponent reports whether from is one of this host's
// components (c2s-1.H, sm-2.H), the only senders of envelopes.
func (s *Server) trustedComponent(from string) bool {
	return len(from) > len(s.opts.Host)+1 && from[len(from)-len(s.opts.Host)-1] == '.' &&
		from[len(from)-len(s.opts.Host):] == s.opts.Host && !strings.ContainsAny(from, "@/")
}

// retry runs fn until it succeeds, fails for a reason other than Redis
// being unreachable, or RetryFor has passed; a user's stanzas wait
// meanwhile, in order.
func (s *Server) retry(ctx context.Context, what string, fn func() error) error {
	deadline := time.Now().Add(s.opts.RetryFor)
	backoff := 50 * time.Millisecond
	warned := false
	for {
		err := fn()
		if err == nil || !store.Temporary(err) || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		if !warned {
			s.log.Warn("Redis unavailable; retrying", zap.String("op", what), zap.Error(err))
			warned = true
		}
		s.metrics.retries.Inc()
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// flush confirms handled client stanzas to c2s, after recording the
// counts in Redis (one round trip for all the shard's sessions). It
// reports false when Redis failed (to try again).
func (s *Server) flush(ctx context.Context, sh *shard) bool {
	var raises []store.SeqRaise
	for sid, st := range sh.seqs {
		if st.pending && st.done > st.persisted {
			raises = append(raises, store.SeqRaise{User: st.user, Resource: st.resource, SID: sid, Seq: st.done})
		}
	}
	if err := s.store.Sessions.RaiseSeqs(ctx, raises); err != nil {
		s.log.Warn("cannot record handled stanzas", zap.Int("sessions", len(raises)), zap.Error(err))
		return false
	}
	ok := true
	for sid, st := range sh.seqs {
		if !st.pending {
			continue
		}
		st.persisted = max(st.persisted, st.done)
		if st.done > 0 {
			if err := s.env.Out.Envelope(ctx, &envelope.Envelope{To: st.c2s, SID: sid, Handled: st.done}); err != nil {
				ok = false
				continue
			}
		}
		st.pending = false
		if len(st.ahead) == 0 {
			delete(sh.seqs, sid)
		}
	}
	return ok
}

// catchUp takes the count handled as stored in Redis: another instance
// may have handled the stanzas of a gap this one saw, so what this one
// handled past the gap may follow on now.
func (st *seqState) catchUp(stored uint64) {
	st.persisted = max(st.persisted, stored)
	if stored <= st.done {
		return
	}
	st.done = stored
	for seq := range st.ahead {
		if seq <= st.done {
			delete(st.ahead, seq)
		}
	}
	st.absorb()
}

// absorb advances done over the stanzas handled just past it.
func (st *seqState) absorb() {
	for {
		if _, ok := st.ahead[st.done+1]; !ok {
			return
		}
		delete(st.ahead, st.done+1)
		st.done++
	}
}

// sequence records that the client stanza seq of the session was
// handled; it reports false when the session has too many stanzas past
// a gap and must end.
func (st *seqState) sequence(seq uint64) bool {
	st.pending = true
	switch {
	case seq <= st.done:
		return true
	case seq == st.done+1:
		st.done = seq
		st.absorb()
		return true
	}
	if st.ahead == nil {
		st.ahead = map[uint64]struct{}{}
	}
	st.ahead[seq] = struct{}{}
	return len(st.ahead) <= maxAhead
}

// seen reports whether seq was handled already.
func (st *seqState) seen(seq uint64) bool {
	_, ahead := st.ahead[seq]
	return seq <= st.done || ahead
}
