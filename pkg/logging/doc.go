// Package logging builds the zap logger every process writes its logs with:
// JSON lines in production, a plain (uncolored) console layout for people.
//
// Messages are constant strings and values go in fields, so logs can be
// searched and aggregated; loggers are named per component
// (log.Named("router")) and carry per-connection fields
// (log.With(zap.String("conn", "c2s:42"))).
package logging
