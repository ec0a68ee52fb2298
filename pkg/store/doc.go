// Package store is the only code that knows the Redis layout of the
// network's directory and users' state (docs/data.md): users, sessions
// and presence, rosters, blocking lists (XEP-0191), the durable inbox,
// hosts with their leases, registration state (pending verifications,
// throttling counters, private keys awaiting transfer) and push
// registrations.
//
// Each aggregate is an interface (Users, Sessions, Rosters, Blocking,
// Inbox, Hosts, Registrations, Push) with a Redis implementation and a measured wrapper that
// records latency and errors per operation; Open composes them. Every key
// of a user carries the hash tag {localpart}, so a Lua script or MULTI
// over one user's keys works on Redis Cluster; keys that are not per
// user are touched one key per command.
//
// Reads that a caller needs together go in one round trip through a
// Batch, which queues typed reads of several aggregates on one pipeline.
// Steps that must be atomic over several keys of one user are Lua
// scripts (the inbox write, ending a session). Every operation takes a
// context and fails with an error naming the operation when Redis does
// not answer within the configured timeouts.
package store
