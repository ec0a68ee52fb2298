package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"
)

// ErrNotFound is returned when the record asked for does not exist.
var ErrNotFound = errors.New("store: not found")

// Options configure Open. Zero durations take the defaults.
type Options struct {
	// URL names the server: redis://[user:password@]host:port[/db], or
	// rediss:// for TLS. Several comma-separated host:port after the
	// scheme (redis://a:6379,b:6379) address a Redis Cluster.
	URL string
	// DialTimeout bounds connecting (default 1s).
	DialTimeout time.Duration
	// Timeout bounds each read and write on a connection (default 2s):
	// a Redis that is away makes operations fail after it, with an error
	// naming the operation, instead of blocking.
	Timeout time.Duration
	// PoolSize is the number of connections per node (default 64).
	PoolSize int
	// Metrics receives the measured wrappers' metrics; nil records none.
	Metrics prometheus.Registerer
	// Namespace prefixes the metric names: kontalk_<Namespace>_redis_...
	Namespace string
	// InboxRetention is how long an unacknowledged message stays in an
	// inbox (default 7 days).
	InboxRetention time.Duration
	// InboxMax bounds one user's inbox (default 10000 entries).
	InboxMax int
}

func (o *Options) setDefaults() {
	if o.DialTimeout <= 0 {
		o.DialTimeout = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.PoolSize <= 0 {
		o.PoolSize = 64
	}
	if o.InboxRetention <= 0 {
		o.InboxRetention = DefaultRetention
	}
	if o.InboxMax <= 0 {
		o.InboxMax = DefaultInboxMax
	}
}

// Store holds the aggregates, measured, over one Redis client.
type Store struct {
	Users    Users
	Sessions Sessions
	Rosters  Rosters
	Blocking Blocking
	Inbox    Inbox
	Hosts    Hosts
	// Registrations and Push serve registration and push notifications.
	Registrations Registrations
	Push          Push

	client  redis.UniversalClient
	metrics *metrics
}

// Open validates opts and returns a Store; it does no I/O (connections
// are made on first use; Ping checks the server).
func Open(opts Options) (*Store, error) {
	opts.setDefaults()
	uo, err := parseURL(opts.URL)
	if err != nil {
		return nil, err
	}
	uo.DialTimeout = opts.DialTimeout
	uo.ReadTimeout = opts.Timeout
	uo.WriteTimeout = opts.Timeout
	uo.PoolTimeout = opts.Timeout
	uo.PoolSize = opts.PoolSize
	// One retry on a broken connection; every write below is idempotent
	// (the inbox write is keyed by rid, session writes check the sid).
	uo.MaxRetries = 1
	uo.DialerRetries = 1
	uo.DisableIdentity = true
	// Maintenance notifications (a Redis Enterprise feature) run
	// goroutines from the client's creation: New must do no I/O and
	// start nothing.
	uo.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	client := redis.NewUniversalClient(uo)
	return newStore(client, newMetrics(opts.Metrics, opts.Namespace), opts), nil
}

func newStore(client redis.UniversalClient, m *metrics, opts Options) *Store {
	return &Store{
		Users:    &measuredUsers{next: &redisUsers{c: client}, m: m},
		Sessions: &measuredSessions{next: &redisSessions{c: client}, m: m},
		Rosters:  &measuredRosters{next: &redisRosters{c: client}, m: m},
		Blocking: &measuredBlocking{next: &redisBlocking{c: client}, m: m},
		Inbox:    &measuredInbox{next: &redisInbox{c: client, retention: opts.InboxRetention, max: opts.InboxMax}, m: m},
		Hosts:    &measuredHosts{next: &redisHosts{c: client}, m: m},
		client:   client,
		metrics:  m,

		Registrations: &measuredRegistrations{next: &redisRegistrations{c: client}, m: m},
		Push:          &measuredPush{next: &redisPush{c: client}, m: m},
	}
}

// parseURL turns the URL into client options: one address, or several
// for a cluster.
func parseURL(raw string) (*redis.UniversalOptions, error) {
	if raw == "" {
		return nil, errors.New("store: no Redis URL (set -redis or KONTALK_REDIS)")
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || scheme != "redis" && scheme != "rediss" {
		return nil, fmt.Errorf("store: Redis URL %q: want redis://host:port[/db] or rediss://", redact(raw))
	}
	hostPart, _, _ := strings.Cut(rest, "/")
	if _, h, found := strings.Cut(hostPart, "@"); found {
		hostPart = h
	}
	if !strings.Contains(hostPart, ",") {
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, urlError(raw, err)
		}
		return &redis.UniversalOptions{
			Addrs: []string{o.Addr}, DB: o.DB, Username: o.Username, Password: o.Password,
			TLSConfig: o.TLSConfig, Protocol: o.Protocol,
		}, nil
	}
	// A cluster: parse the first address as a URL for the credentials
	// and TLS, take the others as they are.
	addrs := strings.Split(hostPart, ",")
	first := strings.Replace(raw, hostPart, addrs[0], 1)
	o, err := redis.ParseURL(first)
	if err != nil {
		return nil, urlError(raw, err)
	}
	if o.DB != 0 {
		return nil, fmt.Errorf("store: Redis URL %q: a cluster has only database 0", redact(raw))
	}
	addrs[0] = o.Addr
	return &redis.UniversalOptions{
		Addrs: addrs, Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig,
		IsClusterMode: true, Protocol: o.Protocol,
	}, nil
}

// redact hides a password in a URL for error messages; it does not
// need the URL to be valid.
func redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return raw
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}

// urlError reports a bad URL without the password, which go-redis's own
// message repeats.
func urlError(raw string, err error) error {
	return fmt.Errorf("store: Redis URL %q: %s", redact(raw), strings.ReplaceAll(err.Error(), raw, redact(raw)))
}

// Ping checks that Redis answers, for readiness checks.
func (s *Store) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.client.Ping(ctx).Err()
	s.metrics.observe("ping", start, err)
	if err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.client.Close() }

// Keys. Every per-user key carries the hash tag {u}.
func userKey(u string) string      { return "user:{" + u + "}" }
func sessKey(u string) string      { return "sess:{" + u + "}" }
func presKey(u string) string      { return "pres:{" + u + "}" }
func seqKey(u string) string       { return "sseq:{" + u + "}" }
func rosterKey(u string) string    { return "roster:{" + u + "}" }
func rosterVerKey(u string) string { return "rosterver:{" + u + "}" }
func blockKey(u string) string     { return "block:{" + u + "}" }
func inboxKey(u string) string     { return "inbox:{" + u + "}" }
func inboxMsgKey(u string) string  { return "inboxmsg:{" + u + "}" }
func c2sSessKey(c2s string) string { return "c2ssess:{" + c2s + "}" }
func hostSessKey(h string) string  { return "hostsess:{" + h + "}" }
func leaseKey(h string) string     { return "lease:{" + h + "}" }
func lockKey(name string) string   { return "lock:{" + name + "}" }

const hostsKey = "hosts"

// wrap names the operation in an error from Redis; redis.Nil (a missing
// key or field) becomes ErrNotFound.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// Temporary reports whether err means that Redis could not be reached
// or did not answer in time (a retry later may succeed), rather than
// that it refused the operation or returned bad data.
func Temporary(err error) bool {
	if err == nil || errors.Is(err, ErrNotFound) {
		return false
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrClosed):
		return true
	}
	// A server loading its data after a restart, or a cluster moving slots.
	msg := err.Error()
	for _, p := range []string{"LOADING", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "READONLY"} {
		if strings.Contains(msg, ": "+p+" ") || strings.HasPrefix(msg, p+" ") {
			return true
		}
	}
	return false
}

// isNil reports a missing key or field, which reads treat as empty.
func isNil(err error) bool { return errors.Is(err, redis.Nil) }

// RedirectLogs sends the Redis client library's own log lines (connection
// pool events) to log. The library has one logger per process, so the
// process's main calls this once.
func RedirectLogs(log *zap.Logger) { redis.SetLogger(zapLogger{log.Named("redis")}) }

type zapLogger struct{ log *zap.Logger }

func (l zapLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn("redis client", zap.String("event", fmt.Sprintf(format, v...)))
}
