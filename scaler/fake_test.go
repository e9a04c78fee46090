// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"
)

// fakeSource is a hand-written Source whose devices, readings and failures the
// test sets between sweeps.
type fakeSource struct {
	mu       sync.Mutex
	devices  []Device
	devErr   error
	readings []Reading
	readErrs []error
	// hang, when set, blocks Read (ignoring ctx, as a hung driver call would)
	// until it is closed.
	hang chan struct{}
	// hangDev, when it has dev, blocks Read of that device the same way.
	hangDev map[int]chan struct{}
	closes  atomic.Int32
	reading atomic.Int32 // Reads in progress
}

// newFake returns a source with n H200s, each fully readable; device i has
// sm_active_percent 10×(i+1).
func newFake(n int) *fakeSource {
	f := &fakeSource{}
	for i := range n {
		f.devices = append(f.devices, Device{Index: i, UUID: fmt.Sprintf("GPU-%08x-0000-4000-8000-000000000000", i), Model: "NVIDIA H200"})
		r := fullReading()
		r.GPM[GPMSMActivity] = Got(float64(10 * (i + 1)))
		f.readings = append(f.readings, r)
		f.readErrs = append(f.readErrs, nil)
	}
	return f
}

func (f *fakeSource) Devices(context.Context) ([]Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.devErr != nil {
		return nil, f.devErr
	}
	return append([]Device(nil), f.devices...), nil
}

func (f *fakeSource) Read(_ context.Context, dev int) (Reading, error) {
	f.reading.Add(1)
	defer f.reading.Add(-1)
	f.mu.Lock()
	hang := f.hang
	if h, ok := f.hangDev[dev]; ok {
		hang = h
	}
	f.mu.Unlock()
	if hang != nil {
		<-hang
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readings[dev], f.readErrs[dev]
}

func (f *fakeSource) Close() error {
	f.closes.Add(1)
	return nil
}

// set changes one metric's raw GPM reading on device dev.
func (f *fakeSource) setGPM(dev int, m GPMMetric, v Field[float64]) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readings[dev].GPM[m] = v
}

func (f *fakeSource) edit(dev int, fn func(*Reading)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.readings[dev])
}

func (f *fakeSource) setReadErr(dev int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readErrs[dev] = err
}

// fakeClock is a settable clock for the Sampler.
type fakeClock struct{ ns atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t0.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// harness is a Server on a bufconn listener with a generated client, driven by
// hand: each sweep advances the fake clock by one interval.
type harness struct {
	t       *testing.T
	src     *fakeSource
	clock   *fakeClock
	sampler *Sampler
	server  *Server
	client  pb.ExternalScalerClient
	health  healthpb.HealthClient
}

const testInterval = time.Second

func newHarness(t *testing.T, src *fakeSource) *harness {
	t.Helper()
	h := &harness{t: t, src: src, clock: newClock()}
	var err error
	h.sampler, err = NewSampler(SamplerConfig{Source: src, Node: "node-a", Interval: testInterval, Now: h.clock.Now})
	require.NoError(t, err)
	h.server, err = NewServer(ServerConfig{Sampler: h.sampler})
	require.NoError(t, err)
	conn := serveBufconn(t, h.server)
	h.client = pb.NewExternalScalerClient(conn)
	h.health = healthpb.NewHealthClient(conn)
	t.Cleanup(func() { require.NoError(t, h.sampler.Close()) })
	return h
}

// serveBufconn registers srv on a grpc.Server over bufconn and returns a client
// connection; both stop when the test ends.
func serveBufconn(t *testing.T, srv *Server) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	srv.Register(gs)
	done := make(chan error, 1)
	go func() { done <- gs.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, conn.Close())
		srv.stop()
		gs.Stop()
		require.NoError(t, <-done)
	})
	return conn
}

// sweep advances the clock one interval and sweeps.
func (h *harness) sweep() *Snapshot {
	h.t.Helper()
	h.clock.Add(testInterval)
	snap, err := h.sampler.Sweep(context.Background())
	require.NoError(h.t, err)
	return snap
}

func ref(kv ...string) *pb.ScaledObjectRef {
	return &pb.ScaledObjectRef{Name: "vllm", Namespace: "default", ScalerMetadata: md(kv...)}
}

func (h *harness) getMetrics(r *pb.ScaledObjectRef) (float64, error) {
	h.t.Helper()
	resp, err := h.client.GetMetrics(context.Background(), &pb.GetMetricsRequest{ScaledObjectRef: r, MetricName: "asked"})
	if err != nil {
		return 0, err
	}
	require.Len(h.t, resp.MetricValues, 1)
	return resp.MetricValues[0].MetricValueFloat, nil
}

var errBoom = errors.New("boom")
