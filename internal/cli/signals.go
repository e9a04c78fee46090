// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// ShutdownBound is how long after a stop signal the process exits whatever is
// stuck: serve's drain takes at most DefaultShutdownTimeout twice (calls,
// then the sampler), and a call wedged in the driver or the dynamic loader
// must not keep a Pod in Terminating until the kubelet's SIGKILL.
const ShutdownBound = 30 * time.Second

// SignalContext returns a context that ends at the first SIGINT, SIGTERM or
// SIGHUP (all three drain: a terminal hang-up is not a crash), and stop, which
// releases the signals. It makes SIGPIPE harmless: a log line to a closed
// stderr fails instead of killing the process. After the context ends, a
// watchdog exits the process with ExitError once ShutdownBound has passed,
// saying so on stderr, unless stop is called first.
func SignalContext(parent context.Context, stderr io.Writer) (ctx context.Context, stop func()) {
	return signalContext(parent, stderr, ShutdownBound, os.Exit)
}

func signalContext(parent context.Context, stderr io.Writer, bound time.Duration, exit func(int)) (context.Context, func()) {
	signal.Ignore(syscall.SIGPIPE)
	ctx, release := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	watchdog := context.AfterFunc(ctx, func() {
		t := time.NewTimer(bound)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			fmt.Fprintf(stderr, "nvml-scaler: still running %v after the stop signal (a call is stuck); exiting\n", bound)
			exit(ExitError)
		}
	})
	return ctx, func() {
		watchdog()
		close(done)
		release()
	}
}
