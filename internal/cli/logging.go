// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"io"
	"log/slog"

	"github.com/spf13/pflag"
)

// logFlags configure serve's logger: JSON for the DaemonSet, text on a terminal.
type logFlags struct {
	format, level string
}

func (f *logFlags) register(fs *pflag.FlagSet) {
	newEnum(fs, &f.format, "log-format", "", "json", "log format", "json", "text")
	newEnum(fs, &f.level, "log-level", "", "info", "least severe level logged", "debug", "info", "warn", "error")
}

// logger returns a logger writing to w; the flag values were checked when parsed.
func (f *logFlags) logger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(f.level)) // "debug", "info", "warn", "error"
	opts := &slog.HandlerOptions{Level: level}
	if f.format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
