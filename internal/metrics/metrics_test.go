// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"

	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Every nvmlReturn_t the binding knows (nvml.Returns, checked against nvml.h
// there) has a distinct label value without the prefix.
func TestCodeNames(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, r := range nvml.Returns() {
		name := CodeName(r)
		assert.NotContains(t, name, "CODE_", "code %d", r)
		assert.False(t, seen[name], "duplicate %s", name)
		seen[name] = true
	}
	assert.Equal(t, "UNKNOWN", CodeName(nvml.ErrUnknown))
	assert.Equal(t, "SUCCESS", CodeName(nvml.Success))
	assert.Equal(t, "GPU_IS_LOST", CodeName(nvml.ErrGPULost))
	assert.Equal(t, "LIB_RM_VERSION_MISMATCH", CodeName(nvml.ErrLibRMVersionMismatch))
	assert.Equal(t, "CODE_31", CodeName(31))
}

func TestNVMLErrorAndSweeps(t *testing.T) {
	t.Parallel()
	m := New(Options{})
	m.NVMLError(fmt.Errorf("read: %w", &nvml.CallError{Func: "nvmlDeviceGetPowerUsage", Return: nvml.ErrGPULost}))
	m.NVMLError(&nvml.LoadError{})
	m.NVMLError(nvml.ErrTimeout)
	m.NVMLError(errors.New("not an nvml error"))
	v, ok := m.Value("nvml_errors_total", "function", "nvmlDeviceGetPowerUsage", "code", "GPU_IS_LOST")
	assert.True(t, ok)
	assert.Equal(t, 1.0, v)
	v, _ = m.Value("nvml_errors_total", "function", "dlopen", "code", "LIBRARY_NOT_FOUND")
	assert.Equal(t, 1.0, v)
	v, _ = m.Value("nvml_errors_total", "function", "unknown", "code", "TIMEOUT")
	assert.Equal(t, 1.0, v)

	m.ObserveSweep(time.Millisecond, nil)
	m.ObserveSweep(time.Millisecond, fmt.Errorf("%w: no driver", scaler.ErrNotReady))
	m.ObserveSweep(time.Second, fmt.Errorf("sweep abandoned: %w", context.DeadlineExceeded))
	m.ObserveSweep(time.Millisecond, errors.New("boom"))
	v, _ = m.Value("sweep_duration_seconds")
	assert.Equal(t, 4.0, v, "every sweep is timed")
	for _, reason := range []string{"not_ready", "abandoned", "other"} {
		v, _ = m.Value("sweeps_failed_total", "reason", reason)
		assert.Equal(t, 1.0, v, reason)
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	require.NoError(t, err)
	assert.Empty(t, problems)
}

func TestInterceptors(t *testing.T) {
	t.Parallel()
	m := New(Options{})
	lis := bufconn.Listen(1 << 16)
	gs := grpc.NewServer(m.ServerOptions()...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(m.Services(gs), hs)
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	_, err = client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = client.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "nope"})
	require.Error(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	w, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = w.Recv()
	require.NoError(t, err)
	v, _ := m.Value("streams_open")
	assert.Equal(t, 1.0, v)
	cancel()
	require.Eventually(t, func() bool { v, _ := m.Value("streams_open"); return v == 0 }, 5*time.Second, time.Millisecond)

	v, _ = m.Value("rpc_requests_total", "method", "grpc.health.v1.Health/Check", "code", "OK")
	assert.Equal(t, 1.0, v)
	v, _ = m.Value("rpc_requests_total", "method", "grpc.health.v1.Health/Check", "code", "NotFound")
	assert.Equal(t, 1.0, v)
	require.Eventually(t, func() bool {
		v, _ := m.Value("rpc_requests_total", "method", "grpc.health.v1.Health/Watch", "code", "Canceled")
		return v == 1
	}, 5*time.Second, time.Millisecond)
}

// source is a one-GPU Source whose second device is lost.
type source struct{}

func (source) Devices(context.Context) ([]scaler.Device, error) {
	return []scaler.Device{{Index: 0, UUID: "GPU-a", Model: "NVIDIA H200"}, {Index: 1, UUID: "GPU-b", Model: "NVIDIA H200"}}, nil
}

func (source) Read(_ context.Context, dev int) (scaler.Reading, error) {
	if dev == 1 {
		return scaler.Reading{}, scaler.ErrGPULost
	}
	return scaler.Reading{PowerMilliwatts: scaler.Got[uint32](350_000),
		TemperatureCelsius: scaler.Failed[uint32](scaler.ErrNotSupported)}, nil
}

func (source) Close() error { return nil }

func TestSamplerGaugesAndHandler(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := scaler.NewSampler(scaler.SamplerConfig{Source: source{}, Now: clock})
	require.NoError(t, err)
	defer s.Close()
	m := New(Options{PerGPU: true, Now: clock})
	m.WatchSampler(s)
	v, _ := m.Value("ready")
	assert.Equal(t, 0.0, v)
	_, ok := m.Value("snapshot_age_seconds")
	assert.False(t, ok)

	_, err = s.Sweep(context.Background())
	require.NoError(t, err)
	now = now.Add(1500 * time.Millisecond)
	v, _ = m.Value("ready")
	assert.Equal(t, 1.0, v)
	v, _ = m.Value("snapshot_age_seconds")
	assert.Equal(t, 1.5, v)
	v, _ = m.Value("gpus_lost")
	assert.Equal(t, 1.0, v)
	v, _ = m.Value("gpu_power_watts", "uuid", "GPU-a", "index", "0", "model", "NVIDIA H200")
	assert.Equal(t, 350.0, v)
	_, ok = m.Value("gpu_temperature_celsius", "uuid", "GPU-a", "index", "0", "model", "NVIDIA H200")
	assert.False(t, ok, "not supported: absent, not 0")
	v, _ = m.Value("gpu_up", "uuid", "GPU-b", "index", "1", "model", "NVIDIA H200")
	assert.Equal(t, 0.0, v)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{"nvml_scaler_ready 1", "nvml_scaler_gpus 2", "nvml_scaler_gpus_lost 1",
		`nvml_scaler_gpu_power_watts{index="0",model="NVIDIA H200",uuid="GPU-a"} 350`, "go_goroutines", "process_resident_memory_bytes"} {
		assert.Contains(t, string(body), want)
	}

	now = now.Add(time.Hour)
	v, _ = m.Value("ready")
	assert.Equal(t, 0.0, v, "stale")
	rec = httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ = io.ReadAll(rec.Body)
	assert.NotContains(t, string(body), "nvml_scaler_gpu_power_watts{", "no per-GPU numbers from stale data")
	assert.Contains(t, string(body), "nvml_scaler_snapshot_age_seconds 3601.5")

	problems, err := testutil.GatherAndLint(m.Registry())
	require.NoError(t, err)
	assert.Empty(t, problems)
}
