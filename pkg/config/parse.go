package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// EnvPrefix starts the name of every environment variable read by Parse.
const EnvPrefix = "KONTALK_"

// EnvName returns the environment variable that configures the flag named
// flagName: "admin-addr" is read from KONTALK_ADMIN_ADDR.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Repeatable is implemented by flag values meant to be given several times
// on the command line (like flag.Value's IsBoolFlag marker). A single
// environment variable holds all their occurrences, separated by commas:
// Parse calls Set once per item, with surrounding spaces trimmed and empty
// items skipped.
type Repeatable interface {
	flag.Value
	IsRepeatable() bool
}

// Parse parses args (without the program name) into fs, then sets every flag
// that was not given on the command line from its environment variable (see
// EnvName), looked up with getenv. A secret flag (SecretVar, SecretMapVar)
// may instead name a file holding its value in <VAR>_FILE. An empty variable counts as unset, so the
// default stays. Flags left unset by both keep the default given when they
// were registered.
//
// Processes take no positional arguments, so any left after the flags are an
// error. With fs in flag.ContinueOnError mode, -h yields flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("config: unexpected argument %q: options are given as flags", fs.Arg(0))
	}
	onCommandLine := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })

	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || onCommandLine[f.Name] {
			return
		}
		name := EnvName(f.Name)
		value := getenv(name)
		if value == "" {
			if value, err = secretFromFile(f, name, getenv); err != nil || value == "" {
				return
			}
		}
		if setErr := setFromEnv(fs, f, value); setErr != nil {
			err = fmt.Errorf("config: environment variable %s (flag -%s): %w", name, f.Name, setErr)
		}
	})
	return err
}

// secretFromFile reads a secret flag's value from the file named by
// <VAR>_FILE (KONTALK_SECRET_FILE=/run/secrets/component), as container
// platforms hand out secrets. Only secrets take this form: other values
// do not need hiding from the environment.
func secretFromFile(f *flag.Flag, name string, getenv func(string) string) (string, error) {
	path := getenv(name + "_FILE")
	if path == "" {
		return "", nil
	}
	if _, ok := f.Value.(Redactor); !ok {
		return "", fmt.Errorf("config: %s_FILE: -%s is not a secret; set %s instead", name, f.Name, name)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("config: %s_FILE: %w", name, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("config: %s_FILE: %s is empty", name, path)
	}
	return v, nil
}

// setFromEnv goes through FlagSet.Set rather than f.Value.Set so that
// fs.Visit reports the flag as set afterwards, as after a command-line
// occurrence.
func setFromEnv(fs *flag.FlagSet, f *flag.Flag, value string) error {
	r, ok := f.Value.(Repeatable)
	if !ok || !r.IsRepeatable() {
		return fs.Set(f.Name, value)
	}
	for item := range strings.SplitSeq(value, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if err := fs.Set(f.Name, item); err != nil {
			return err
		}
	}
	return nil
}
