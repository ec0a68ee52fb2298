// Package server is the session manager process: it connects to the
// router as sm-<id>.H, binding H and sm.H with multi so the router keeps
// each user's traffic on one instance, and hands every stanza to the
// feature that handles it (sm/session, presence, roster, inbox,
// blocking, lastactivity, disco, pubkey, version, rostermatch, register,
// accounts, push, multicast, network).
//
// A user's stanzas are handled in order by one of a fixed set of worker
// goroutines (shards, chosen by the user's bare JID), each with a
// bounded queue, so one user's slow work never reorders another's and
// never blocks users of other shards. Client stanzas are confirmed to
// c2s (handled='N') only once their effects are in Redis; the count is
// kept in Redis too, so the instance that takes over a user after a
// failover confirms nothing that was lost in between.
//
// Besides stanzas, the server keeps the host's lease in Redis, ends the
// sessions of c2s instances the router reports gone, and runs a sweep
// (one instance per host at a time) that redelivers stored messages
// nobody acknowledged and ends sessions whose c2s or host is gone.
package server
