// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// signalChildEnv makes the test binary run serve as main does.
const signalChildEnv = "NVML_SCALER_TEST_SIGNAL_CHILD"

// TestServeSignals runs serve in a child process wired as main wires it
// (SignalContext) and signals it: SIGHUP drains like SIGTERM, and a closed
// stderr pipe does not kill it with SIGPIPE at the next log line.
func TestServeSignals(t *testing.T) {
	if os.Getenv(signalChildEnv) != "" {
		ctx, stop := SignalContext(context.Background(), os.Stderr)
		code := Main(ctx, []string{"serve", "--replay", rampRecording, "--listen", "127.0.0.1:0",
			"--http-listen", "127.0.0.1:0", "--log-format", "text"}, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	t.Parallel()
	for _, tt := range []struct {
		name        string
		sig         syscall.Signal
		closeStderr bool
	}{
		{"SIGHUP drains", syscall.SIGHUP, false},
		{"SIGTERM with stderr closed", syscall.SIGTERM, true},
		{"SIGHUP with stderr closed", syscall.SIGHUP, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestServeSignals$")
			cmd.Env = append(os.Environ(), signalChildEnv+"=1")
			stderr, err := cmd.StderrPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			var seen bytes.Buffer
			sc := bufio.NewScanner(stderr)
			for sc.Scan() && !strings.Contains(sc.Text(), "nvml-scaler starting") {
				seen.WriteString(sc.Text() + "\n")
			}
			require.Contains(t, sc.Text(), "nvml-scaler starting", seen.String())
			if tt.closeStderr {
				require.NoError(t, stderr.Close())
			}
			require.NoError(t, cmd.Process.Signal(tt.sig))
			var rest []byte
			if !tt.closeStderr {
				rest, _ = io.ReadAll(stderr)
			}
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			select {
			case err = <-waited:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("serve did not exit within 30s of the signal")
			}
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("serve exited with %v (%s)", ee.ProcessState, rest)
			}
			require.NoError(t, err)
			if !tt.closeStderr {
				assert.Contains(t, string(rest), "nvml-scaler stopping: draining open calls")
				assert.Contains(t, string(rest), `msg="nvml-scaler stopped"`)
			}
		})
	}
}

// The watchdog exits once the bound has passed after the signal context
// ends, and not at all when stop comes first.
func TestSignalWatchdog(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	exited := make(chan int, 1)
	parent, cancel := context.WithCancel(context.Background())
	_, stop := signalContext(parent, &out, 10*time.Millisecond, func(c int) { exited <- c })
	cancel()
	select {
	case c := <-exited:
		assert.Equal(t, ExitError, c)
	case <-time.After(10 * time.Second):
		t.Fatal("the watchdog did not fire")
	}
	stop()
	assert.Contains(t, out.String(), "still running 10ms after the stop signal")

	parent, cancel = context.WithCancel(context.Background())
	_, stop = signalContext(parent, io.Discard, 50*time.Millisecond, func(int) { exited <- -1 })
	cancel()
	stop()
	time.Sleep(100 * time.Millisecond)
	assert.Empty(t, exited)
}
