// Package config reads a process's options from command-line flags and
// KONTALK_* environment variables.
//
// Each process declares one Options struct and registers its fields on a
// flag.FlagSet, defaults included, in one function. Parse then fills each
// value from, in order of precedence: the command line, the environment
// variable named by EnvName (KONTALK_ followed by the flag name upper-cased
// with '-' replaced by '_'), and the default given at registration.
//
// Beside the stdlib flag types (flag.DurationVar parses Go durations such as
// "30s" and "1m30s" from both sources), the package provides the values the
// processes need that the stdlib lacks: byte sizes ("256KiB"), repeatable
// name=value maps, and secrets, which Fields redacts when the effective
// options are logged at start.
package config
