package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Session is one resource's session (a field of sess:{u}).
type Session struct {
	// SID names the session in the session protocol; c2s chose it.
	SID string `json:"sid"`
	// C2S is the c2s instance holding the client's stream.
	C2S string `json:"c2s"`
	// Host is the host the session is on.
	Host string `json:"host"`
	// Prio is the priority of the last available presence.
	Prio int `json:"prio"`
	// Since is the start, unix milliseconds.
	Since int64 `json:"since"`
	// Avail reports that the session sent available presence.
	Avail bool `json:"avail"`
	// SM reports that the client enabled XEP-0198.
	SM bool `json:"sm"`
}

// Ref names a session by user and resource: the member of the session
// indexes (u/resource).
type Ref struct {
	User, Resource string
}

func (r Ref) member() string { return r.User + "/" + r.Resource }

// parseRef reads u/resource; a localpart never holds '/'.
func parseRef(s string) (Ref, bool) {
	u, res, ok := strings.Cut(s, "/")
	if !ok || u == "" || res == "" {
		return Ref{}, false
	}
	return Ref{User: u, Resource: res}, true
}

func decodeSession(op, raw string) (*Session, error) {
	var s Session
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return nil, fmt.Errorf("store: %s: bad session record: %w", op, err)
	}
	return &s, nil
}

// Sessions is the sessions and presence aggregate, with the indexes of
// sessions per c2s instance and per host.
type Sessions interface {
	// Start writes the session of resource res and indexes it. A session
	// of the same resource with another sid is replaced and returned
	// (its presence is dropped); the same sid updates the record.
	Start(ctx context.Context, u, res string, s Session) (replaced *Session, err error)
	// Update rewrites the record of the session with s.SID, and stores
	// its last available presence (nil removes it). It reports false,
	// changing nothing, when that session is gone.
	Update(ctx context.Context, u, res string, s Session, presence []byte) (bool, error)
	// End removes the session with sid and its presence, records the
	// logout time on the user, and unindexes it. It returns the
	// resource and the record, or ErrNotFound.
	End(ctx context.Context, u, sid string, seen time.Time) (string, *Session, error)
	// Get returns one session, or ErrNotFound.
	Get(ctx context.Context, u, res string) (*Session, error)
	// All returns the user's sessions by resource.
	All(ctx context.Context, u string) (map[string]Session, error)
	// Presences returns the last available presence of each resource.
	Presences(ctx context.Context, u string) (map[string][]byte, error)
	// RaiseSeq records that the session's client stanzas up to seq are
	// handled (never lowering it), while the session exists.
	RaiseSeq(ctx context.Context, u, res, sid string, seq uint64) error
	// RaiseSeqs does RaiseSeq for several sessions in one round trip.
	RaiseSeqs(ctx context.Context, raises []SeqRaise) error
	// ClaimC2S removes up to n entries from the index of the c2s
	// instance and returns them: each is claimed by one caller only.
	ClaimC2S(ctx context.Context, c2s string, n int) ([]Ref, error)
	// ClaimHost does the same with the index of a host.
	ClaimHost(ctx context.Context, host string, n int) ([]Ref, error)
	// ScanHost iterates over the index of a host (SSCAN); cursor 0
	// starts, a returned cursor 0 ends.
	ScanHost(ctx context.Context, host string, cursor uint64, n int) ([]Ref, uint64, error)
	// Unindex removes a stale entry from the indexes.
	Unindex(ctx context.Context, ref Ref, c2s, host string) error
	// Index puts an entry back into the indexes (one claimed by mistake).
	Index(ctx context.Context, ref Ref, c2s, host string) error
}

type redisSessions struct{ c redis.UniversalClient }

// startSession swaps the record of a resource and returns the previous
// one. A different sid drops the old session's presence and sequence.
// KEYS: sess, pres, sseq. ARGV: resource, record, sid.
var startSession = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if old then
  local ok, s = pcall(cjson.decode, old)
  if not ok or type(s) ~= 'table' or s.sid ~= ARGV[3] then
    redis.call('HDEL', KEYS[2], ARGV[1])
    if ok and type(s) == 'table' and type(s.sid) == 'string' then redis.call('HDEL', KEYS[3], s.sid) end
  end
end
return old`)

func (r *redisSessions) Start(ctx context.Context, u, res string, s Session) (*Session, error) {
	rec, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("store: sessions start: %w", err)
	}
	old, err := startSession.Run(ctx, r.c, []string{sessKey(u), presKey(u), seqKey(u)}, res, rec, s.SID).Text()
	var prev *Session
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return nil, wrap("sessions start", err)
	default:
		// A record we cannot read is replaced all the same.
		prev, _ = decodeSession("sessions start", old)
	}
	ref := Ref{User: u, Resource: res}.member()
	_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, c2sSessKey(s.C2S), ref)
		p.SAdd(ctx, hostSessKey(s.Host), ref)
		if prev != nil && prev.C2S != s.C2S && prev.C2S != "" {
			p.SRem(ctx, c2sSessKey(prev.C2S), ref)
		}
		if prev != nil && prev.Host != s.Host && prev.Host != "" {
			p.SRem(ctx, hostSessKey(prev.Host), ref)
		}
		return nil
	})
	if err != nil {
		return nil, wrap("sessions index", err)
	}
	if prev != nil && prev.SID == s.SID {
		return nil, nil
	}
	return prev, nil
}

// updateSession rewrites a record if it still has the sid.
// KEYS: sess, pres. ARGV: resource, sid, record, presence (” deletes).
var updateSession = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local ok, s = pcall(cjson.decode, cur)
if not ok or type(s) ~= 'table' or s.sid ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] == '' then redis.call('HDEL', KEYS[2], ARGV[1]) else redis.call('HSET', KEYS[2], ARGV[1], ARGV[4]) end
return 1`)

func (r *redisSessions) Update(ctx context.Context, u, res string, s Session, presence []byte) (bool, error) {
	rec, err := json.Marshal(s)
	if err != nil {
		return false, fmt.Errorf("store: sessions update: %w", err)
	}
	n, err := updateSession.Run(ctx, r.c, []string{sessKey(u), presKey(u)}, res, s.SID, rec, presence).Int()
	if err != nil {
		return false, wrap("sessions update", err)
	}
	return n == 1, nil
}

// endSession removes the session with a sid. KEYS: sess, pres, sseq,
// user. ARGV: sid, logout time (unix ms). Returns {resource, record}.
var endSession = redis.NewScript(`
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ok, s = pcall(cjson.decode, all[i+1])
  if ok and type(s) == 'table' and s.sid == ARGV[1] then
    redis.call('HDEL', KEYS[1], all[i])
    redis.call('HDEL', KEYS[2], all[i])
    redis.call('HDEL', KEYS[3], ARGV[1])
    if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('HSET', KEYS[4], 'seen', ARGV[2]) end
    return {all[i], all[i+1]}
  end
end
return false`)

func (r *redisSessions) End(ctx context.Context, u, sid string, seen time.Time) (string, *Session, error) {
	keys := []string{sessKey(u), presKey(u), seqKey(u), userKey(u)}
	vals, err := endSession.Run(ctx, r.c, keys, sid, msString(seen)).StringSlice()
	if err != nil {
		return "", nil, wrap("sessions end", err)
	}
	if len(vals) != 2 {
		return "", nil, fmt.Errorf("store: sessions end: unexpected reply %q", vals)
	}
	res := vals[0]
	s, err := decodeSession("sessions end", vals[1])
	if err != nil {
		return res, nil, err
	}
	ref := Ref{User: u, Resource: res}.member()
	_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SRem(ctx, c2sSessKey(s.C2S), ref)
		p.SRem(ctx, hostSessKey(s.Host), ref)
		return nil
	})
	return res, s, wrap("sessions unindex", err)
}

func (r *redisSessions) Get(ctx context.Context, u, res string) (*Session, error) {
	raw, err := r.c.HGet(ctx, sessKey(u), res).Result()
	if err != nil {
		return nil, wrap("sessions get", err)
	}
	return decodeSession("sessions get", raw)
}

func (r *redisSessions) All(ctx context.Context, u string) (map[string]Session, error) {
	m, err := r.c.HGetAll(ctx, sessKey(u)).Result()
	if err != nil {
		return nil, wrap("sessions all", err)
	}
	return decodeSessions(m), nil
}

// decodeSessions keeps the records it can read: one bad record must not
// hide the others.
func decodeSessions(m map[string]string) map[string]Session {
	out := make(map[string]Session, len(m))
	for res, raw := range m {
		if s, err := decodeSession("sessions", raw); err == nil {
			out[res] = *s
		}
	}
	return out
}

func (r *redisSessions) Presences(ctx context.Context, u string) (map[string][]byte, error) {
	m, err := r.c.HGetAll(ctx, presKey(u)).Result()
	if err != nil {
		return nil, wrap("sessions presences", err)
	}
	out := make(map[string][]byte, len(m))
	for res, p := range m {
		out[res] = []byte(p)
	}
	return out, nil
}

// raiseSeq raises a session's handled count while the session exists.
// KEYS: sseq, sess. ARGV: sid, resource, seq.
var raiseSeq = redis.NewScript(`
local cur = redis.call('HGET', KEYS[2], ARGV[2])
if not cur then return 0 end
local ok, s = pcall(cjson.decode, cur)
if not ok or type(s) ~= 'table' or s.sid ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[3])
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if n > old then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1`)

func (r *redisSessions) RaiseSeq(ctx context.Context, u, res, sid string, seq uint64) error {
	err := raiseSeq.Run(ctx, r.c, []string{seqKey(u), sessKey(u)}, sid, res, strconv.FormatUint(seq, 10)).Err()
	return wrap("sessions raise seq", err)
}

// SeqRaise is one session's handled count for RaiseSeqs.
type SeqRaise struct {
	User, Resource, SID string
	Seq                 uint64
}

func (r *redisSessions) RaiseSeqs(ctx context.Context, raises []SeqRaise) error {
	if len(raises) == 0 {
		return nil
	}
	// EVAL rather than EVALSHA: a pipeline cannot load a script that a
	// restarted Redis forgot, and this one is short.
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, x := range raises {
			raiseSeq.Eval(ctx, p, []string{seqKey(x.User), sessKey(x.User)}, x.SID, x.Resource, strconv.FormatUint(x.Seq, 10))
		}
		return nil
	})
	return wrap("sessions raise seqs", err)
}

func refs(members []string) []Ref {
	out := make([]Ref, 0, len(members))
	for _, m := range members {
		if r, ok := parseRef(m); ok {
			out = append(out, r)
		}
	}
	return out
}

func (r *redisSessions) ClaimC2S(ctx context.Context, c2s string, n int) ([]Ref, error) {
	m, err := r.c.SPopN(ctx, c2sSessKey(c2s), int64(n)).Result()
	if err != nil {
		return nil, wrap("sessions claim c2s", err)
	}
	return refs(m), nil
}

func (r *redisSessions) ClaimHost(ctx context.Context, host string, n int) ([]Ref, error) {
	m, err := r.c.SPopN(ctx, hostSessKey(host), int64(n)).Result()
	if err != nil {
		return nil, wrap("sessions claim host", err)
	}
	return refs(m), nil
}

func (r *redisSessions) ScanHost(ctx context.Context, host string, cursor uint64, n int) ([]Ref, uint64, error) {
	m, next, err := r.c.SScan(ctx, hostSessKey(host), cursor, "", int64(n)).Result()
	if err != nil {
		return nil, 0, wrap("sessions scan host", err)
	}
	return refs(m), next, nil
}

func (r *redisSessions) Unindex(ctx context.Context, ref Ref, c2s, host string) error {
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		if c2s != "" {
			p.SRem(ctx, c2sSessKey(c2s), ref.member())
		}
		if host != "" {
			p.SRem(ctx, hostSessKey(host), ref.member())
		}
		return nil
	})
	return wrap("sessions unindex", err)
}

func (r *redisSessions) Index(ctx context.Context, ref Ref, c2s, host string) error {
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, c2sSessKey(c2s), ref.member())
		p.SAdd(ctx, hostSessKey(host), ref.member())
		return nil
	})
	return wrap("sessions index", err)
}

type measuredSessions struct {
	next Sessions
	m    *metrics
}

func (w *measuredSessions) Start(ctx context.Context, u, res string, s Session) (_ *Session, err error) {
	defer w.m.done("sessions_start", time.Now(), &err)
	return w.next.Start(ctx, u, res, s)
}

func (w *measuredSessions) Update(ctx context.Context, u, res string, s Session, presence []byte) (_ bool, err error) {
	defer w.m.done("sessions_update", time.Now(), &err)
	return w.next.Update(ctx, u, res, s, presence)
}

func (w *measuredSessions) End(ctx context.Context, u, sid string, seen time.Time) (_ string, _ *Session, err error) {
	defer w.m.done("sessions_end", time.Now(), &err)
	return w.next.End(ctx, u, sid, seen)
}

func (w *measuredSessions) Get(ctx context.Context, u, res string) (_ *Session, err error) {
	defer w.m.done("sessions_get", time.Now(), &err)
	return w.next.Get(ctx, u, res)
}

func (w *measuredSessions) All(ctx context.Context, u string) (_ map[string]Session, err error) {
	defer w.m.done("sessions_all", time.Now(), &err)
	return w.next.All(ctx, u)
}

func (w *measuredSessions) Presences(ctx context.Context, u string) (_ map[string][]byte, err error) {
	defer w.m.done("sessions_presences", time.Now(), &err)
	return w.next.Presences(ctx, u)
}

func (w *measuredSessions) RaiseSeq(ctx context.Context, u, res, sid string, seq uint64) (err error) {
	defer w.m.done("sessions_raise_seq", time.Now(), &err)
	return w.next.RaiseSeq(ctx, u, res, sid, seq)
}

func (w *measuredSessions) RaiseSeqs(ctx context.Context, raises []SeqRaise) (err error) {
	defer w.m.done("sessions_raise_seqs", time.Now(), &err)
	return w.next.RaiseSeqs(ctx, raises)
}

func (w *measuredSessions) ClaimC2S(ctx context.Context, c2s string, n int) (_ []Ref, err error) {
	defer w.m.done("sessions_claim_c2s", time.Now(), &err)
	return w.next.ClaimC2S(ctx, c2s, n)
}

func (w *measuredSessions) ClaimHost(ctx context.Context, host string, n int) (_ []Ref, err error) {
	defer w.m.done("sessions_claim_host", time.Now(), &err)
	return w.next.ClaimHost(ctx, host, n)
}

func (w *measuredSessions) ScanHost(ctx context.Context, host string, cursor uint64, n int) (_ []Ref, _ uint64, err error) {
	defer w.m.done("sessions_scan_host", time.Now(), &err)
	return w.next.ScanHost(ctx, host, cursor, n)
}

func (w *measuredSessions) Unindex(ctx context.Context, ref Ref, c2s, host string) (err error) {
	defer w.m.done("sessions_unindex", time.Now(), &err)
	return w.next.Unindex(ctx, ref, c2s, host)
}

func (w *measuredSessions) Index(ctx context.Context, ref Ref, c2s, host string) (err error) {
	defer w.m.done("sessions_index", time.Now(), &err)
	return w.next.Index(ctx, ref, c2s, host)
}
