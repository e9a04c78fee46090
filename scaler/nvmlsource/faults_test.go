// SPDX-License-Identifier: Apache-2.0

package nvmlsource

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/nvml-scaler/nvml-scaler/internal/metrics"
	"github.com/nvml-scaler/nvml-scaler/internal/testutil"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// The fault tests run the whole node stack on the fake libnvidia-ml: this
// package's Source, the Sampler, the Server with its limits and the metrics
// interceptors over bufconn, logs captured as text. Each test injects one
// fault and checks what KEDA gets, what health says, and what the logs and
// metrics show.

// stack is one node's scaler over a library path.
type stack struct {
	t       *testing.T
	src     *countingSource
	sampler *scaler.Sampler
	server  *scaler.Server
	metrics *metrics.Metrics
	logs    *testutil.SyncBuffer
	client  pb.ExternalScalerClient
	health  healthpb.HealthClient
	now     atomic.Int64 // manual stacks: the Sampler's clock, Unix ns
}

const (
	faultInterval = scaler.MinInterval
	fastRetry     = 20 * time.Millisecond
	// refreshInterval is how often the stacks' Source lists devices again.
	refreshInterval = 5 * faultInterval
)

// newStack builds the stack on the library at lib. With run, Server.Serve runs
// the Sampler on the real clock (retrying every fastRetry while not ready);
// without, the test sweeps by hand with sweep, one interval per sweep.
func newStack(t *testing.T, lib string, run bool) *stack {
	t.Helper()
	s := &stack{t: t, logs: &testutil.SyncBuffer{}}
	s.now.Store(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixNano())
	log := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.metrics = metrics.New(metrics.Options{PerGPU: true, Now: s.clock(run)})
	s.src = &countingSource{Source: New(Options{LibraryPath: lib, Logger: log, OnError: s.metrics.NVMLError,
		RefreshInterval: refreshInterval, Now: s.clock(run)})}
	var err error
	// Hand-driven stacks get the longest sweep deadline allowed, in real
	// time, so a loaded test machine does not make healthy Reads look hung.
	var timeout time.Duration
	if !run {
		timeout = scaler.StaleIntervals * faultInterval
	}
	s.sampler, err = scaler.NewSampler(scaler.SamplerConfig{Source: s.src, Node: "gpu-node-1", Interval: faultInterval,
		SweepTimeout: timeout, RetryBackoff: fastRetry, Logger: log, Now: s.clock(run), OnSweep: s.metrics.ObserveSweep})
	require.NoError(t, err)
	s.metrics.WatchSampler(s.sampler)
	s.server, err = scaler.NewServer(s.metrics.Instrument(scaler.ServerConfig{Sampler: s.sampler, Logger: log,
		ShutdownTimeout: 5 * time.Second}))
	require.NoError(t, err)

	lis := bufconn.Listen(1 << 20)
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.server.Serve(ctx, lis) }()
		t.Cleanup(func() {
			cancel()
			require.NoError(t, <-done)
		})
	} else {
		gs := grpc.NewServer(append(s.server.ServerOptions(), s.metrics.ServerOptions()...)...)
		s.server.Register(s.metrics.Services(gs))
		go func() { _ = gs.Serve(lis) }()
		t.Cleanup(func() {
			gs.Stop()
			require.NoError(t, s.sampler.Close())
		})
	}
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() }) // runs first: before the server stops
	s.client = pb.NewExternalScalerClient(conn)
	s.health = healthpb.NewHealthClient(conn)
	return s
}

func (s *stack) clock(run bool) func() time.Time {
	if run {
		return time.Now
	}
	return func() time.Time { return time.Unix(0, s.now.Load()) }
}

// sweep advances the manual clock one interval and sweeps.
func (s *stack) sweep() (*scaler.Snapshot, error) {
	s.now.Add(int64(faultInterval))
	return s.sampler.Sweep(context.Background())
}

// get asks GetMetrics for metric with extra metadata key/value pairs.
func (s *stack) get(metric string, kv ...string) (float64, error) {
	md := map[string]string{"metric": metric, "targetValue": "50"}
	for i := 0; i+1 < len(kv); i += 2 {
		md[kv[i]] = kv[i+1]
	}
	resp, err := s.client.GetMetrics(context.Background(), &pb.GetMetricsRequest{
		ScaledObjectRef: &pb.ScaledObjectRef{Name: "vllm", Namespace: "inference", ScalerMetadata: md}, MetricName: "m"})
	if err != nil {
		return 0, err
	}
	require.Len(s.t, resp.MetricValues, 1)
	return resp.MetricValues[0].MetricValueFloat, nil
}

// serving reports gRPC health for service.
func (s *stack) serving(service string) bool {
	resp, err := s.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
	require.NoError(s.t, err)
	return resp.Status == healthpb.HealthCheckResponse_SERVING
}

func (s *stack) ready() bool { return s.serving(scaler.HealthReadiness) }

// metric returns a metric's value, 0 when it has no such series.
func (s *stack) metric(name string, labels ...string) float64 {
	v, _ := s.metrics.Value(name, labels...)
	return v
}

func (s *stack) hasMetric(name string, labels ...string) bool {
	_, ok := s.metrics.Value(name, labels...)
	return ok
}

// series counts the series of a metric (without the nvml_scaler_ prefix),
// whatever their labels.
func (s *stack) series(name string) int {
	families, err := s.metrics.Registry().Gather()
	require.NoError(s.t, err)
	for _, f := range families {
		if f.GetName() == "nvml_scaler_"+name {
			return len(f.GetMetric())
		}
	}
	return 0
}

// eventually waits for cond on the real clock.
func (s *stack) eventually(cond func() bool, msg string) {
	s.t.Helper()
	require.Eventually(s.t, cond, 15*time.Second, 5*time.Millisecond, msg)
}

func requireCode(t *testing.T, err error, code codes.Code, contains ...string) {
	t.Helper()
	require.Error(t, err)
	st, ok := status.FromError(err)
	require.True(t, ok, "not a status error: %v", err)
	assert.Equal(t, code, st.Code(), st.Message())
	for _, c := range contains {
		assert.Contains(t, st.Message(), c)
	}
}

// countingSource wraps the Source to see how many Reads run at once.
type countingSource struct {
	scaler.Source
	reads, inFlight, maxInFlight atomic.Int32
}

func (c *countingSource) Read(ctx context.Context, dev int) (scaler.Reading, error) {

	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	c.reads.Add(1)
	for {
		m := c.maxInFlight.Load()
		if n <= m || c.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	return c.Source.Read(ctx, dev)
}

func itoa(i int) string { return strconv.Itoa(i) }

// Refresh passes through to the Source's own.
func (c *countingSource) Refresh(ctx context.Context) ([]scaler.Device, bool, error) {
	return c.Source.(scaler.Refresher).Refresh(ctx)
}
