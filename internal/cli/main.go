// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nvml-scaler/nvml-scaler/cluster/podwatch"
)

// Exit codes returned by [Main].
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// deps is what the commands take from the process. Tests replace parts of it
// through Options; nothing in the package reads process state directly.
type deps struct {
	stdout, stderr io.Writer
	version        string
	commit         string
	lookupEnv      func(string) (string, bool)
	hostname       func() (string, error)
	now            func() time.Time
	// sleep waits d or until ctx ends, reporting whether d passed.
	sleep func(ctx context.Context, d time.Duration) bool
	// onListen, when set, receives serve's bound addresses (gRPC, HTTP).
	onListen func(grpcAddr, httpAddr string)
	// serviceAccountDir is where --engine-pods reads the pod's API token and
	// CA (podwatch.ServiceAccountDir).
	serviceAccountDir string
}

// Option changes what [Main] takes from the process.
type Option func(*deps)

// WithBuild passes the version and commit the linker set in package main; ""
// falls back to the module's build information.
func WithBuild(version, commit string) Option {
	return func(d *deps) { d.version, d.commit = version, commit }
}

// WithLookupEnv replaces os.LookupEnv for flag defaults and NODE_NAME.
func WithLookupEnv(f func(string) (string, bool)) Option {
	return func(d *deps) { d.lookupEnv = f }
}

// WithHostname replaces os.Hostname (the default node name and record's source).
func WithHostname(f func() (string, error)) Option {
	return func(d *deps) { d.hostname = f }
}

// WithClock replaces the wall clock and sleeping: probe, query --watch and the
// replay source use them, so tests can step time instead of waiting.
func WithClock(now func() time.Time, sleep func(ctx context.Context, d time.Duration) bool) Option {
	return func(d *deps) { d.now, d.sleep = now, sleep }
}

// WithListenHook has serve report its bound gRPC and HTTP addresses once both
// listen, so tests can start it on port 0.
func WithListenHook(f func(grpcAddr, httpAddr string)) Option {
	return func(d *deps) { d.onListen = f }
}

// Main runs the nvml-scaler command line args (without the program name)
// until it finishes or ctx ends, and returns the process exit code: ExitOK,
// ExitError or ExitUsage. Errors are printed once to stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, opts ...Option) int {
	d := &deps{
		stdout: stdout, stderr: stderr,
		lookupEnv: os.LookupEnv, hostname: os.Hostname,
		now: time.Now, sleep: sleep,
		serviceAccountDir: podwatch.ServiceAccountDir,
	}
	for _, o := range opts {
		o(d)
	}
	root := newRootCmd(d)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "nvml-scaler: %v\n", err)
	if u := (*usageError)(nil); errors.As(err, &u) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return ExitUsage
	}
	return ExitError
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
