package logging

import (
	"flag"
	"fmt"
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Log formats accepted by New.
const (
	FormatJSON    = "json"
	FormatConsole = "console"
)

// Options select the log format and level. They belong in a process's
// Options struct and are registered with RegisterFlags.
type Options struct {
	Format string // FormatJSON or FormatConsole
	Level  string // debug, info, warn, error
}

// RegisterFlags registers -log-format (default json) and -log-level
// (default info) on fs, storing their values in o.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Format, "log-format", FormatJSON, "log format: json or console")
	fs.StringVar(&o.Level, "log-level", "info", "minimum log level: debug, info, warn or error")
}

// New returns a logger writing to w (normally os.Stderr) in the given
// format, dropping entries below level. Every entry is written: there is no
// sampling, so a log line can be relied upon when debugging.
func New(w io.Writer, format, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("logging: level: %w", err)
	}
	encCfg := zapcore.EncoderConfig{
		TimeKey:        "ts",
		LevelKey:       "level",
		NameKey:        "logger",
		CallerKey:      "caller",
		MessageKey:     "msg",
		StacktraceKey:  "stacktrace",
		LineEnding:     zapcore.DefaultLineEnding,
		EncodeTime:     zapcore.ISO8601TimeEncoder,
		EncodeDuration: zapcore.StringDurationEncoder,
		EncodeCaller:   zapcore.ShortCallerEncoder,
	}
	var enc zapcore.Encoder
	switch format {
	case FormatJSON:
		encCfg.EncodeLevel = zapcore.LowercaseLevelEncoder
		enc = zapcore.NewJSONEncoder(encCfg)
	case FormatConsole:
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	default:
		return nil, fmt.Errorf("logging: unknown format %q: want %s or %s", format, FormatJSON, FormatConsole)
	}
	sink := zapcore.Lock(zapcore.AddSync(w))
	core := zapcore.NewCore(enc, sink, lvl)
	return zap.New(core,
		zap.ErrorOutput(sink),
		zap.AddCaller(),
		// Stack traces only where the code says it should not happen;
		// errors are expected events and their fields say enough.
		zap.AddStacktrace(zapcore.DPanicLevel),
	), nil
}
