// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/nvml-scaler/nvml-scaler/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestMain fails the package if any goroutine outlives the tests: serve's
// servers and sampler, query's connections.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// rampRecording is the H200 inference ramp that the demo replays.
const rampRecording = "../../testdata/recordings/h200-inference-ramp.json"

// result is what one in-process run of Main returned.
type result struct {
	code           int
	stdout, stderr string
}

// env returns a lookup over a fixed environment.
func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// run runs Main in-process with an empty environment, host name "gpu-node-1"
// and the given options on top.
func run(ctx context.Context, t *testing.T, args []string, opts ...Option) result {
	t.Helper()
	var stdout, stderr testutil.SyncBuffer
	base := []Option{WithLookupEnv(env()), WithHostname(func() (string, error) { return "gpu-node-1", nil }),
		WithBuild("v0.0.0-test", "0123abc")}
	code := Main(ctx, args, &stdout, &stderr, append(base, opts...)...)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// fakeClock is a clock that moves only when slept on. With stopAfter > 0
// the stopAfter-th sleep cancels stop and reports that it was interrupted.
type fakeClock struct {
	mu        sync.Mutex
	t         time.Time
	sleeps    int
	stopAfter int
	stop      context.CancelFunc
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctx.Err() != nil {
		return false
	}
	c.t = c.t.Add(d)
	c.sleeps++
	if c.stopAfter > 0 && c.sleeps >= c.stopAfter {
		c.stop()
		return false
	}
	return true
}

func (c *fakeClock) option() Option { return WithClock(c.now, c.sleep) }

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./internal/cli -run %s -update to create it", t.Name())
	require.Equal(t, string(want), got, "golden file %s differs; rerun with -update if the change is intended", path)
}
