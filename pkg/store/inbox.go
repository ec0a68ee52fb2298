package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Inbox defaults.
const (
	// DefaultRetention is how long an unacknowledged message is kept.
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultInboxMax bounds one user's inbox.
	DefaultInboxMax = 10000
)

// RID returns the inbox id of a stanza: the first 20 bytes of
// SHA-256(bare sender ‖ 0x00 ‖ stanza id), in hex. The same message sent
// twice has the same rid, so it is stored once.
func RID(bareFrom, id string) string {
	h := sha256.New()
	h.Write([]byte(bareFrom))
	h.Write([]byte{0})
	h.Write([]byte(id))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:20])
}

// Entry is a stored stanza.
type Entry struct {
	// RID identifies the entry (see RID).
	RID string
	// Score orders the inbox: arrival in microseconds, strictly
	// increasing per user.
	Score int64
	// Arrived is when the stanza was stored.
	Arrived time.Time
	// Stanza is the stanza's raw bytes, as they arrived.
	Stanza []byte
}

// PutResult says what Inbox.Put did.
type PutResult int

// Results of Inbox.Put.
const (
	// Stored: the stanza is in the inbox now.
	Stored PutResult = 1
	// Duplicate: an entry with the same rid was already there.
	Duplicate PutResult = 0
	// UnknownUser: the recipient has no account; nothing stored.
	UnknownUser PutResult = -1
	// BlockedSender: the recipient blocked the sender; nothing stored.
	BlockedSender PutResult = -2
	// InboxFull: the inbox holds its maximum; nothing stored.
	InboxFull PutResult = -3
)

func (r PutResult) String() string {
	switch r {
	case Stored:
		return "stored"
	case Duplicate:
		return "duplicate"
	case UnknownUser:
		return "unknown-user"
	case BlockedSender:
		return "blocked"
	case InboxFull:
		return "full"
	}
	return "unknown"
}

// Inbox is the durable message queue of each user (inbox:{u},
// inboxmsg:{u}).
type Inbox interface {
	// Put stores a stanza for u unless u does not exist, blocked one of
	// blockCandidates (the sender's address forms), or the inbox is
	// full; an entry with the same rid is kept as it is.
	Put(ctx context.Context, u, rid string, stanza []byte, blockCandidates []string) (PutResult, error)
	// Page returns up to n entries with a score above after (0: from the
	// start) that arrived before the given time (zero: any), oldest
	// first. Entries past the retention are removed on the way.
	Page(ctx context.Context, u string, after int64, before time.Time, n int) ([]Entry, error)
	// Ack removes entries.
	Ack(ctx context.Context, u string, rids []string) error
	// Len returns the number of entries.
	Len(ctx context.Context, u string) (int64, error)
}

type redisInbox struct {
	c         redis.UniversalClient
	retention time.Duration
	max       int
}

// putInbox writes one entry atomically. KEYS: inbox, inboxmsg, user,
// block. ARGV: rid, now (µs), value, max entries, expiry cutoff (µs),
// key TTL (ms), then the sender's address forms. Expired entries (up to
// 64) are removed when the inbox is full; otherwise reads remove them,
// and the keys' TTL removes an inbox nobody wrote to for the retention.
var putInbox = redis.NewScript(`
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
if #ARGV >= 7 then
  local hits = redis.call('SMISMEMBER', KEYS[4], unpack(ARGV, 7))
  for i = 1, #hits do
    if hits[i] == 1 then return -2 end
  end
end
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  local old = redis.call('ZRANGE', KEYS[1], '-inf', '(' .. ARGV[5], 'BYSCORE', 'LIMIT', 0, 64)
  if #old == 0 then return -3 end
  redis.call('ZREM', KEYS[1], unpack(old))
  redis.call('HDEL', KEYS[2], unpack(old))
end
local last = tonumber(redis.call('HGET', KEYS[3], 'ibseq') or '0') or 0
local score = math.max(tonumber(ARGV[2]), last + 1)
local s = string.format('%.0f', score)
redis.call('HSET', KEYS[3], 'ibseq', s)
redis.call('ZADD', KEYS[1], 'NX', s, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1`)

func (r *redisInbox) Put(ctx context.Context, u, rid string, stanza []byte, blockCandidates []string) (PutResult, error) {
	now := time.Now()
	val := make([]byte, 8+len(stanza))
	binary.BigEndian.PutUint64(val, uint64(now.UnixMilli()))
	copy(val[8:], stanza)
	cutoff := now.Add(-r.retention).UnixMicro()
	args := make([]any, 0, 6+len(blockCandidates))
	args = append(args, rid, now.UnixMicro(), val, r.max, cutoff, r.retention.Milliseconds())
	for _, c := range blockCandidates {
		args = append(args, c)
	}
	keys := []string{inboxKey(u), inboxMsgKey(u), userKey(u), blockKey(u)}
	n, err := putInbox.Run(ctx, r.c, keys, args...).Int()
	if err != nil {
		return 0, wrap("inbox put", err)
	}
	return PutResult(n), nil
}

// pageInbox removes a batch of expired entries, then returns up to
// ARGV[3] entries with scores in (ARGV[1], ARGV[2]] as rid, score,
// value triples. KEYS: inbox, inboxmsg. ARGV[4]: expiry cutoff (µs).
var pageInbox = redis.NewScript(`
local old = redis.call('ZRANGE', KEYS[1], '-inf', '(' .. ARGV[4], 'BYSCORE', 'LIMIT', 0, 64)
if #old > 0 then
  redis.call('ZREM', KEYS[1], unpack(old))
  redis.call('HDEL', KEYS[2], unpack(old))
end
local ids = redis.call('ZRANGE', KEYS[1], '(' .. ARGV[1], ARGV[2], 'BYSCORE', 'LIMIT', 0, ARGV[3], 'WITHSCORES')
local out = {}
for i = 1, #ids, 2 do
  out[#out+1] = ids[i]
  out[#out+1] = ids[i+1]
  out[#out+1] = redis.call('HGET', KEYS[2], ids[i]) or ''
end
return out`)

func (r *redisInbox) Page(ctx context.Context, u string, after int64, before time.Time, n int) ([]Entry, error) {
	now := time.Now()
	maxScore := "+inf"
	if !before.IsZero() {
		maxScore = "(" + strconv.FormatInt(before.UnixMicro(), 10)
	}
	keys := []string{inboxKey(u), inboxMsgKey(u)}
	vals, err := pageInbox.Run(ctx, r.c, keys, after, maxScore, n, now.Add(-r.retention).UnixMicro()).Slice()
	if err != nil {
		return nil, wrap("inbox page", err)
	}
	if len(vals)%3 != 0 {
		return nil, fmt.Errorf("store: inbox page: reply of %d values", len(vals))
	}
	out := make([]Entry, 0, len(vals)/3)
	for i := 0; i < len(vals); i += 3 {
		rid, _ := vals[i].(string)
		score, err := scoreOf(vals[i+1])
		if err != nil {
			return nil, fmt.Errorf("store: inbox page: %w", err)
		}
		val, _ := vals[i+2].(string)
		if len(val) < 8 {
			// An entry without its bytes (written by hand, or half
			// removed): it can never be delivered.
			if err := r.Ack(ctx, u, []string{rid}); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, Entry{
			RID:     rid,
			Score:   score,
			Arrived: time.UnixMilli(int64(binary.BigEndian.Uint64([]byte(val[:8])))),
			Stanza:  []byte(val[8:]),
		})
	}
	return out, nil
}

// scoreOf reads a score from a script reply: a string in RESP2, a
// number in RESP3.
func scoreOf(v any) (int64, error) {
	switch s := v.(type) {
	case string:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("bad score %q", s)
		}
		return int64(f), nil
	case int64:
		return s, nil
	case float64:
		return int64(s), nil
	}
	return 0, fmt.Errorf("bad score %v", v)
}

func (r *redisInbox) Ack(ctx context.Context, u string, rids []string) error {
	if len(rids) == 0 {
		return nil
	}
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, inboxKey(u), toAny(rids)...)
		p.HDel(ctx, inboxMsgKey(u), rids...)
		return nil
	})
	return wrap("inbox ack", err)
}

func (r *redisInbox) Len(ctx context.Context, u string) (int64, error) {
	n, err := r.c.ZCard(ctx, inboxKey(u)).Result()
	return n, wrap("inbox len", err)
}

type measuredInbox struct {
	next Inbox
	m    *metrics
}

func (w *measuredInbox) Put(ctx context.Context, u, rid string, stanza []byte, blockCandidates []string) (_ PutResult, err error) {
	defer w.m.done("inbox_put", time.Now(), &err)
	return w.next.Put(ctx, u, rid, stanza, blockCandidates)
}

func (w *measuredInbox) Page(ctx context.Context, u string, after int64, before time.Time, n int) (_ []Entry, err error) {
	defer w.m.done("inbox_page", time.Now(), &err)
	return w.next.Page(ctx, u, after, before, n)
}

func (w *measuredInbox) Ack(ctx context.Context, u string, rids []string) (err error) {
	defer w.m.done("inbox_ack", time.Now(), &err)
	return w.next.Ack(ctx, u, rids)
}

func (w *measuredInbox) Len(ctx context.Context, u string) (_ int64, err error) {
	defer w.m.done("inbox_len", time.Now(), &err)
	return w.next.Len(ctx, u)
}
