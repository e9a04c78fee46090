// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/replay"
)

var update = flag.Bool("update", false, "rewrite testdata/exposition.golden from this run")

// goldenFixture is the real H200 recording the golden is rendered from, and
// goldenSample the step swept last: the end of the ramp's 70 % duty phase,
// where every reading the recording holds, GPM included, is present.
const (
	goldenFixture = "h200-inference-ramp.json"
	goldenSample  = 295
)

// TestExpositionGolden pins every nvml_scaler_ series /metrics serves — name,
// HELP, TYPE, labels and value — on a replayed real H200, a fake clock and
// fixed hook inputs, because dashboards and alerts are written against them.
// After an intended change, rerun with -update and review the diff:
//
//	go test ./internal/metrics -run TestExpositionGolden -update
//
// The go_* and process_* families are client_golang's and vary by runtime and
// platform; TestSamplerGaugesAndHandler checks that they are served.
func TestExpositionGolden(t *testing.T) {
	t.Parallel()
	got := exposition(t)
	path := filepath.Join("testdata", "exposition.golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o600))
	}
	for i := range scaler.NumMetrics {
		assert.Contains(t, got, "# TYPE "+namespace+"_gpu_"+i.String()+" gauge\n",
			"the fixture step must have every catalogue metric, so the golden pins every name")
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to create it")
	assert.Equal(t, string(want), got, "the /metrics exposition changed: rerun with -update if that is intended")
}

// exposition renders /metrics after a fixed sequence of events and keeps the
// nvml_scaler_ lines.
func exposition(t *testing.T) string {
	t.Helper()
	rec, err := recording.Load(filepath.Join("..", "..", "testdata", "recordings", goldenFixture))
	require.NoError(t, err)
	require.Greater(t, len(rec.Samples), goldenSample)
	require.Equal(t, "duty070", rec.PhaseAt(rec.Samples[goldenSample].OffsetNanos))
	src, err := replay.New(rec, replay.Options{Manual: true})
	require.NoError(t, err)

	now := time.Unix(0, rec.StartUnixNanos)
	clock := func() time.Time { return now }
	m := New(Options{PerGPU: true, Now: clock})
	s, err := scaler.NewSampler(scaler.SamplerConfig{Source: src, Node: "golden", OnSweep: m.ObserveSweep, Now: clock})
	require.NoError(t, err)
	defer s.Close()
	m.WatchSampler(s)

	// Two sweeps, so interval readings (GPM) have a previous sample.
	for _, i := range []int{goldenSample - 1, goldenSample} {
		require.NoError(t, src.Seek(i))
		now = time.Unix(0, rec.StartUnixNanos+rec.Samples[i].OffsetNanos)
		_, err = s.Sweep(context.Background())
		require.NoError(t, err)
	}
	now = now.Add(250 * time.Millisecond)
	m.ObserveSweep(2*time.Millisecond, scaler.ErrNotReady)
	m.ObserveSweep(time.Second, context.DeadlineExceeded)
	m.ObserveSweep(time.Millisecond, errors.New("other"))

	m.NVMLError(&nvml.CallError{Func: "nvmlDeviceGetPowerUsage", Return: nvml.ErrGPULost})
	m.NVMLError(&nvml.LoadError{})
	m.NVMLError(nvml.ErrTimeout)

	// Calls end through the counting handlers, as Services registers them.
	for _, err := range []error{nil, nil, status.Error(codes.Unavailable, "stale")} {
		_, _ = m.countUnary(m.row("externalscaler.ExternalScaler/GetMetrics"),
			func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) { return nil, err })(nil, context.Background(), nil, nil)
	}
	_ = m.countStream(m.row("externalscaler.ExternalScaler/StreamIsActive"),
		func(any, grpc.ServerStream) error { return status.Error(codes.Canceled, "gone") })(nil, nil)

	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, w.Code)
	var out strings.Builder
	sc := bufio.NewScanner(w.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# HELP "+namespace+"_"), strings.HasPrefix(line, "# TYPE "+namespace+"_"):
			out.WriteString(line + "\n")
		case strings.HasPrefix(line, namespace+"_"):
			out.WriteString(roundValue(t, line) + "\n")
		}
	}
	require.NoError(t, sc.Err())
	return out.String()
}

// roundValue rewrites a sample line's value to 10 significant digits: derived
// percentages are float arithmetic, whose last bits may differ where the
// compiler fuses multiply-adds (arm64).
func roundValue(t *testing.T, line string) string {
	t.Helper()
	i := strings.LastIndexByte(line, ' ')
	require.Positive(t, i, line)
	v, err := strconv.ParseFloat(line[i+1:], 64)
	require.NoError(t, err, line)
	return line[:i+1] + strconv.FormatFloat(v, 'g', 10, 64)
}
