// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// probeArgs probes the ramp recording at 35x: on the fake clock the first
// sweep reads its first sample and the second, 1 s later, the sample at 35 s
// (the 90% duty phase).
func probeArgs(extra ...string) []string {
	return append([]string{"probe", "--replay", rampRecording, "--replay-speed", "35"}, extra...)
}

func TestProbeGolden(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"table", "json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			r := run(context.Background(), t, probeArgs("-o", format), newFakeClock().option())
			require.Equal(t, ExitOK, r.code, r.stderr)
			assert.Empty(t, r.stderr)
			golden(t, "probe-ramp-35s."+format, r.stdout)
		})
	}
}

// TestProbeReport checks the golden JSON's meaning, so -update cannot bless
// a wrong answer unnoticed.
func TestProbeReport(t *testing.T) {
	t.Parallel()
	r := run(context.Background(), t, probeArgs("-o", "json"), newFakeClock().option())
	require.Equal(t, ExitOK, r.code, r.stderr)
	var rep probeReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	assert.Equal(t, "gpu-node-1", rep.Node)
	require.NotNil(t, rep.Replay)
	assert.Equal(t, "duty090", rep.Replay.Phase)
	require.Len(t, rep.GPUs, 1)
	g := rep.GPUs[0]
	assert.Equal(t, "GPU-2b355d97-5632-362b-33d1-20f07cee2dcc", g.UUID)
	assert.Equal(t, "NVIDIA H200", g.Model)
	assert.Equal(t, "ok", g.Health)
	require.NotNil(t, g.SMActivePercent)
	assert.InDelta(t, 65, *g.SMActivePercent, 10, "SM activity in the 90% duty phase")
	require.NotNil(t, g.MemoryUsedBytes)
	require.NotNil(t, g.MemoryTotalBytes)
	assert.Greater(t, *g.MemoryUsedBytes, uint64(60<<30), "the preallocated KV cache")
	assert.Equal(t, uint64(150754820096), *g.MemoryTotalBytes)
	require.NotNil(t, g.ProcessCount)
	assert.Equal(t, 1, *g.ProcessCount)
	require.Len(t, g.Processes, 1)
	assert.Equal(t, uint32(443), g.Processes[0].PID)
	assert.Contains(t, g.Metrics, "dram_bandwidth_percent")
}

func TestProbeWatch(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := newFakeClock()
	clock.stopAfter, clock.stop = 40, cancel
	r := run(ctx, t, probeArgs("--watch", "--replay-speed", "1"), clock.option())
	require.Equal(t, ExitOK, r.code, "interrupting --watch is a normal end: %s", r.stderr)
	frames := strings.Split(r.stdout, clearScreen)
	require.Len(t, frames, 41, "one frame per sweep, each starting with a clear screen")
	last := frames[len(frames)-1]
	assert.Contains(t, last, "IDX  UUID")
	assert.Contains(t, last, "sm_active_percent")
	assert.Regexp(t, `[▁▂▃▄▅▆▇█]{10,}`, last, "a sparkline of the last minute")
	assert.Contains(t, last, "Ctrl-C to stop")
}

// TestProbeNoNVML: without a library probe fails with what it tried and what
// to check.
func TestProbeNoNVML(t *testing.T) {
	t.Parallel()
	r := run(context.Background(), t, []string{"probe", "--nvml-lib", "/nonexistent/libnvidia-ml.so.1"})
	assert.Equal(t, ExitError, r.code)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "nvml-scaler: cannot load NVML")
	assert.Contains(t, r.stderr, "/nonexistent/libnvidia-ml.so.1")
	for _, hint := range []string{"driver", "container toolkit", "NVIDIA_VISIBLE_DEVICES", "--nvml-lib"} {
		assert.Contains(t, r.stderr, hint)
	}
}

func TestSparkline(t *testing.T) {
	t.Parallel()
	nan := func() float64 { var z float64; return z / z }
	tests := []struct {
		name   string
		values []float64
		width  int
		want   string
	}{
		{"empty", nil, 60, ""},
		{"levels", []float64{0, 50, 100, 150, -5}, 60, "▁▅██▁"},
		{"gap", []float64{100, nan(), 0}, 60, "█ ▁"},
		{"averaged", []float64{0, 100, 100, 100}, 2, "▅█"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, sparkline(tt.values, tt.width), tt.name)
	}
}
