// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BinaryEnv names the environment variable holding the nvml-scaler binary
// under test (make test-keda-compat sets it to bin/nvml-scaler).
const BinaryEnv = "NVML_SCALER_BIN"

// startTimeout bounds each wait for the server: generous, as a loaded
// machine is slow and nothing here waits longer than it must.
const startTimeout = 60 * time.Second

// server is a running `nvml-scaler serve`.
type server struct {
	grpc, http string // loopback host:port
}

// binary returns the absolute path in $NVML_SCALER_BIN, failing the test
// with what to do when it is unset or not a file.
func binary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv(BinaryEnv)
	require.NotEmpty(t, bin, "$%s is not set: run `make test-keda-compat`, or `make build` and "+
		"%s=$PWD/bin/nvml-scaler go test ./... in this module", BinaryEnv, BinaryEnv)
	abs, err := filepath.Abs(bin)
	require.NoError(t, err)
	st, err := os.Stat(abs)
	require.NoError(t, err, "$%s=%s: build it first (make build)", BinaryEnv, bin)
	require.True(t, st.Mode().IsRegular(), "$%s=%s is not a regular file", BinaryEnv, bin)
	return abs
}

// startServe runs the binary as `serve --replay Recording` with extra flags
// on free loopback ports until the test ends, then stops it with SIGTERM and
// requires exit status 0. It returns once the server is ready and has swept
// twice: the replay then holds the recording's last sample.
func startServe(t *testing.T, extra ...string) server {
	t.Helper()
	args := append([]string{"serve", "--replay", Recording, "--replay-loop=false", "--replay-speed", "1e6",
		"--interval", "100ms", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--log-format", "text"}, extra...)
	cmd := exec.Command(binary(t), args...)
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { stop(t, cmd, exited, &log) })

	var s server
	waitFor(t, exited, &log, "the listen addresses in the log", func() bool {
		s.grpc, s.http = listenAddrs(log.String())
		return s.grpc != ""
	})
	waitFor(t, exited, &log, "/readyz 200 and two sweeps", func() bool { return ready(s.http) })
	return s
}

func stop(t *testing.T, cmd *exec.Cmd, exited <-chan error, log *syncBuffer) {
	t.Helper()
	if cmd.Process.Signal(syscall.SIGTERM) != nil {
		return // it has exited already: the wait below reports how
	}
	select {
	case err := <-exited:
		require.NoError(t, err, "serve after SIGTERM; its log:\n%s", log.String())
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		t.Errorf("serve did not exit within %v of SIGTERM; its log:\n%s", startTimeout, log.String())
	}
}

// waitFor polls cond every 50ms until it holds, failing the test with the
// server's log if the process exits first or startTimeout passes.
func waitFor(t *testing.T, exited <-chan error, log *syncBuffer, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for !cond() {
		select {
		case err := <-exited:
			t.Fatalf("serve exited (%v) before %s; its log:\n%s", err, what, log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v; serve's log:\n%s", what, startTimeout, log.String())
		}
	}
}

var startingLine = regexp.MustCompile(`msg="nvml-scaler starting".* grpc=(\S+) http=(\S+)`)

// listenAddrs returns the gRPC and HTTP addresses serve logged, or "", "".
func listenAddrs(log string) (grpcAddr, httpAddr string) {
	m := startingLine.FindStringSubmatch(log)
	if m == nil {
		return "", ""
	}
	return m[1], m[2]
}

// ready reports whether /readyz answers 200 and /metrics counts at least two
// sweeps. The second sweep comes an --interval after the first, by which time
// the replay (a minute of recording at 1e6x) has reached its last sample.
func ready(httpAddr string) bool {
	if code, _ := get(httpAddr, "/readyz"); code != http.StatusOK {
		return false
	}
	code, body := get(httpAddr, "/metrics")
	return code == http.StatusOK && sweeps(body) >= 2
}

func get(addr, path string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, ""
	}
	return resp.StatusCode, string(b)
}

// sweeps returns the sweep count in a Prometheus exposition, or 0.
func sweeps(exposition string) int {
	sc := bufio.NewScanner(strings.NewReader(exposition))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "nvml_scaler_sweep_duration_seconds_count "); ok {
			n, err := strconv.Atoi(v)
			if err == nil {
				return n
			}
		}
	}
	return 0
}

// syncBuffer is a bytes.Buffer the process's output copier and the test can
// share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
