package config

import (
	"flag"

	"go.uber.org/zap"
)

// Fields returns one zap field per flag of fs, named after the flag and
// holding its effective value, for logging the options a process runs with.
// Values registered as secrets (SecretVar, SecretMapVar, or any value
// implementing Redactor) are redacted. Fields come sorted by flag name.
func Fields(fs *flag.FlagSet) []zap.Field {
	var fields []zap.Field
	fs.VisitAll(func(f *flag.Flag) {
		value := f.Value.String()
		if r, ok := f.Value.(Redactor); ok {
			value = r.Redacted()
		}
		fields = append(fields, zap.String(f.Name, value))
	})
	return fields
}
