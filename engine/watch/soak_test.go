// SPDX-License-Identifier: Apache-2.0

package watch_test

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/internal/cputime"
	"github.com/nvml-scaler/nvml-scaler/engine/internal/enginetest"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
)

// TestSoak scrapes 8 targets serving the real vLLM body every second for
// $ENGINE_SOAK (e.g. 10m; skipped when unset) and logs the live heap each
// minute, for BENCHMARKS.md: it must level off once the histories hold
// Keep's worth of readings. With $ENGINE_SOAK_ENGINES=n the body is that one
// as a pod of n data-parallel engines (16: about 275 KB). Each minute's line
// also gives the process's CPU time over that minute as a share of one core:
// the scrapes, parses and maps, and the 8 test servers writing the bodies.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("ENGINE_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("set ENGINE_SOAK=10m to run")
	}
	b, err := os.ReadFile("../testdata/engines/vllm_datadog.txt")
	require.NoError(t, err)
	if v := os.Getenv("ENGINE_SOAK_ENGINES"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "ENGINE_SOAK_ENGINES")
		b, err = enginetest.DataParallel(b, n)
		require.NoError(t, err)
	}
	t.Logf("body %d bytes", len(b))
	var targets []watch.Target
	for i := range 8 {
		u := server(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(b) })
		targets = append(targets, watch.Target{Name: string(rune('a' + i)), Target: engine.Target{URL: u}})
	}
	s, err := engine.NewScraper(engine.Options{Timeout: 800 * time.Millisecond})
	require.NoError(t, err)
	defer s.Close()
	keep := 2 * time.Minute
	w, err := watch.New(watch.Config{Targets: targets, Scraper: s, Interval: time.Second, Timeout: 800 * time.Millisecond, Keep: keep})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	var ru0 runtime.MemStats
	runtime.ReadMemStats(&ru0)
	start := time.Now()
	cpu0, at0 := cpuNow()
	for tick := time.NewTicker(time.Minute); ; {
		select {
		case <-ctx.Done():
			require.NoError(t, <-done)
			return
		case <-tick.C:
			cpu, at := cpuNow() // before the forced GC, which is not the watcher's
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			t.Logf("t=%v heap_alloc=%.1f MiB heap_objects=%d history=%d readings/target cpu=%.2f%% of a core",
				time.Since(start).Round(time.Second), float64(m.HeapAlloc)/(1<<20), m.HeapObjects, w.View().Pods[0].History.Len(),
				100*(cpu-cpu0).Seconds()/at.Sub(at0).Seconds())
			cpu0, at0 = cpuNow()
		}
	}
}

// cpuNow returns the process's CPU time (0 where unknown) and the wall clock.
func cpuNow() (time.Duration, time.Time) {
	d, _ := cputime.Process()
	return d, time.Now()
}
