// SPDX-License-Identifier: Apache-2.0

package scaler_test

import (
	"context"
	"flag"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/internal/metrics"
	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/replay"
)

var soakFor = flag.Duration("soak", 0, "run TestSoak's load for this long (make soak-short: 15s, make soak: 5m)")

// Soak parameters: the sampler at 100 Hz (below scaler.MinInterval, through
// the test-only NewSamplerMinInterval), 200 clients that connect, call and
// leave on loopback.
const (
	soakInterval = 10 * time.Millisecond
	soakClients  = 200
)

// TestSoak replays the H200 inference ramp (10× speed, looping) while 200
// clients each dial a new connection, make 1–10 GetMetrics calls or hold a
// StreamIsActive stream for 50–300 ms, and hang up, over and over. The load
// runs twice — a warm-up, then the measured run — with quiescent points after
// each; goroutines, open file descriptors and the heap (less the history ring,
// which legitimately grows by one snapshot per sweep until it holds
// scaler.MaxWindow) must be the same at both. The server's own counters must
// agree with what the clients saw. Run with -race; goleak (TestMain) checks
// that nothing outlives it.
func TestSoak(t *testing.T) {
	if *soakFor <= 0 {
		t.Skip("the soak runs with -soak=DURATION: make soak-short (CI) or make soak")
	}
	rec, err := recording.Load(filepath.Join("..", "testdata", "recordings", "h200-inference-ramp.json"))
	require.NoError(t, err)
	src, err := replay.New(rec, replay.Options{Loop: true, Speed: 10})
	require.NoError(t, err)
	m := metrics.New(metrics.Options{PerGPU: true})
	smp, err := scaler.NewSamplerMinInterval(scaler.SamplerConfig{Source: src, Node: "soak", Interval: soakInterval,
		OnSweep: m.ObserveSweep}, soakInterval)
	require.NoError(t, err)
	m.WatchSampler(smp)
	// The soak's clients all connect at once: admit them (the default cap,
	// DefaultMaxConnections, is what TestConnectionFloodIsBounded checks).
	srv, err := scaler.NewServer(m.Instrument(scaler.ServerConfig{Sampler: smp, MaxConnections: 2 * soakClients}))
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	defer func() {
		cancel()
		require.NoError(t, <-served)
	}()
	require.Eventually(t, func() bool { _, err := smp.Current(); return err == nil }, 10*time.Second, time.Millisecond)

	var st soakStats
	warm := min(*soakFor/4, 5*time.Second)
	load(t, lis.Addr().String(), warm, &st)
	base := quiesce(t, smp)
	load(t, lis.Addr().String(), *soakFor, &st)
	end := quiesce(t, smp)

	snaps := end.seq - base.seq
	t.Logf("load: %d GetMetrics (%d ok, %d unavailable), %d streams, %d stream messages, %d connections over %v",
		st.calls.Load(), st.ok.Load(), st.unavailable.Load(), st.streams.Load(), st.messages.Load(), st.conns.Load(), warm+*soakFor)
	t.Logf("start: %d goroutines, %d fds, %.1f MiB heap; end: %d goroutines, %d fds, %.1f MiB heap; %d snapshots published in between",
		base.goroutines, base.fds, mib(base.heap), end.goroutines, end.fds, mib(end.heap), snaps)
	assert.LessOrEqual(t, end.goroutines, base.goroutines+5, "goroutines flat")
	assert.LessOrEqual(t, end.fds, base.fds+5, "open file descriptors flat")
	// A one-GPU snapshot is ~0.5 KiB; 1 KiB each bounds the history ring's growth.
	assert.LessOrEqual(t, float64(end.heap), float64(base.heap)*1.25+float64(snaps)*1024+4<<20, "heap flat")
	assert.Zero(t, st.other.Load(), "only OK and Unavailable (stale under load) are acceptable; streams end by the client's cancel")
	assert.Greater(t, st.ok.Load(), st.calls.Load()/2, "most calls answered")
	assert.GreaterOrEqual(t, st.messages.Load(), st.streams.Load(), "every stream gets the current state on connect")

	counted, _ := m.Value("rpc_requests_total", "method", "externalscaler.ExternalScaler/GetMetrics", "code", "OK")
	assert.Equal(t, float64(st.ok.Load()), counted, "the server counted what the clients saw")
	open, _ := m.Value("streams_open")
	assert.Zero(t, open, "every stream closed")
}

type soakStats struct {
	calls, ok, unavailable, other, streams, messages, conns atomic.Int64
}

type point struct {
	goroutines, fds int
	heap            uint64
	seq             uint64
}

// quiesce waits for the server to finish with the departed clients, then
// measures.
func quiesce(t *testing.T, smp *scaler.Sampler) point {
	t.Helper()
	time.Sleep(500 * time.Millisecond) // server-side connection goroutines wind down
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return point{goroutines: runtime.NumGoroutine(), fds: len(fds), heap: ms.HeapAlloc, seq: smp.Latest().Seq}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// load runs soakClients clients against addr for d and waits for them to hang up.
func load(t *testing.T, addr string, d time.Duration, st *soakStats) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for i := range soakClients {
		wg.Go(func() { client(ctx, t, addr, uint64(i), st) })
	}
	wg.Wait()
}

var soakRef = &pb.ScaledObjectRef{Name: "vllm", Namespace: "inference", ScalerMetadata: map[string]string{
	"metric": "sm_active_percent", "targetValue": "60", "activationTargetValue": "20", "aggregation": "sum"}}

// client connects, calls and leaves until ctx ends.
func client(ctx context.Context, t *testing.T, addr string, id uint64, st *soakStats) {
	rng := rand.New(rand.NewPCG(id, uint64(time.Now().UnixNano())))
	pause := func() { time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond) }
	for ctx.Err() == nil {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if !assert.NoError(t, err) {
			return
		}
		st.conns.Add(1)
		c := pb.NewExternalScalerClient(conn)
		if rng.IntN(4) == 0 {
			stream(c, time.Duration(50+rng.IntN(250))*time.Millisecond, st)
		} else {
			for range 1 + rng.IntN(10) {
				getMetrics(c, st)
				pause()
			}
		}
		_ = conn.Close()
		pause()
	}
}

func getMetrics(c pb.ExternalScalerClient, st *soakStats) {
	// Not derived from the load's context: every call runs to its answer, so
	// the server's counts and the clients' agree.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: soakRef, MetricName: "nvml-sm-active-percent-sum"})
	st.calls.Add(1)
	switch status.Code(err) {
	case codes.OK:
		st.ok.Add(1)
	case codes.Unavailable:
		st.unavailable.Add(1)
	default:
		st.other.Add(1)
	}
}

// stream holds a StreamIsActive stream for d after its first message, as
// KEDA's push scaler does until its ScaledObject changes. Connecting under
// load may take a while: the clock starts at the first message.
func stream(c pb.ExternalScalerClient, d time.Duration, st *soakStats) {
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.StreamIsActive(sctx, soakRef)
	if err != nil {
		st.other.Add(1)
		return
	}
	st.streams.Add(1)
	for {
		if _, err := s.Recv(); err != nil {
			if sctx.Err() == nil || status.Code(err) != codes.Canceled {
				st.other.Add(1)
			}
			return
		}
		if st.messages.Add(1); d > 0 {
			time.AfterFunc(d, cancel)
			d = 0
		}
	}
}
