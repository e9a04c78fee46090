// SPDX-License-Identifier: Apache-2.0

package scaler_test

import (
	"context"
	"math"
	"net"
	"path/filepath"
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
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/replay"
)

// player replays a recording through the whole server, one sample per sweep,
// with the sampler's clock following the recording's, so windows cover the
// recorded time. All expected values are computed from the recording itself.
type player struct {
	t       *testing.T
	rec     *recording.Recording
	src     *replay.Source
	sampler *scaler.Sampler
	client  pb.ExternalScalerClient
	now     atomic.Int64
	next    int // next sample to sweep
}

func newPlayer(t *testing.T, fixture string) *player {
	t.Helper()
	rec, err := recording.Load(filepath.Join("..", "testdata", "recordings", fixture))
	require.NoError(t, err)
	p := &player{t: t, rec: rec}
	p.src, err = replay.New(rec, replay.Options{Manual: true})
	require.NoError(t, err)
	// The recordings sweep about every 100 ms; an interval of MinInterval makes
	// gaps above 300 ms stale, which never matters here: the clock only moves
	// with sweeps.
	p.sampler, err = scaler.NewSampler(scaler.SamplerConfig{Source: p.src, Node: "replay", Interval: scaler.MinInterval,
		Now: func() time.Time { return time.Unix(0, p.now.Load()) }})
	require.NoError(t, err)
	srv, err := scaler.NewServer(scaler.ServerConfig{Sampler: p.sampler})
	require.NoError(t, err)

	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	srv.Register(gs)
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	p.client = pb.NewExternalScalerClient(conn)
	t.Cleanup(func() {
		_ = conn.Close()
		gs.Stop()
		_ = p.sampler.Close()
	})
	return p
}

// playTo sweeps every sample up to and including i.
func (p *player) playTo(i int) {
	p.t.Helper()
	for ; p.next <= i; p.next++ {
		require.NoError(p.t, p.src.Seek(p.next))
		p.now.Store(p.rec.StartUnixNanos + p.rec.Samples[p.next].OffsetNanos)
		_, err := p.sampler.Sweep(context.Background())
		require.NoError(p.t, err)
	}
}

func (p *player) value(md map[string]string) (float64, error) {
	p.t.Helper()
	resp, err := p.client.GetMetrics(context.Background(), &pb.GetMetricsRequest{
		ScaledObjectRef: &pb.ScaledObjectRef{Name: "vllm", Namespace: "default", ScalerMetadata: md}, MetricName: "m"})
	if err != nil {
		return 0, err
	}
	require.Len(p.t, resp.MetricValues, 1)
	return resp.MetricValues[0].MetricValueFloat, nil
}

func (p *player) active(md map[string]string) bool {
	p.t.Helper()
	resp, err := p.client.IsActive(context.Background(), &pb.ScaledObjectRef{ScalerMetadata: md})
	require.NoError(p.t, err)
	return resp.Result
}

// phaseSamples returns the indexes of the samples taken during phase.
func phaseSamples(rec *recording.Recording, phase string) []int {
	var out []int
	for i, s := range rec.Samples {
		if rec.PhaseAt(s.OffsetNanos) == phase {
			out = append(out, i)
		}
	}
	return out
}

// gpm returns GPU 0's GPM metric id in sample i, if it is a finite number.
func gpm(rec *recording.Recording, i int, id uint32) (float64, bool) {
	for _, g := range rec.Samples[i].Devices[0].GPM {
		if g.ID == id && g.Ret == 0 && !math.IsNaN(float64(g.Value)) && !math.IsInf(float64(g.Value), 0) {
			return float64(g.Value), true
		}
	}
	return 0, false
}

// TestInferenceRampSMActivityRises: as the decode loop's duty cycle steps from
// 10% to 100%, the windowed SM activity and DRAM bandwidth served for each
// phase equal the recording's phase means and rise with every step.
func TestInferenceRampSMActivityRises(t *testing.T) {
	t.Parallel()
	duty := []string{"duty010", "duty020", "duty030", "duty040", "duty050", "duty060", "duty070", "duty080", "duty090", "duty100"}
	for _, metric := range []struct {
		name string
		id   uint32
	}{{"sm_active_percent", 2}, {"dram_bandwidth_percent", 10}} {
		p := newPlayer(t, "h200-inference-ramp.json")
		prev := math.Inf(-1)
		for _, phase := range duty {
			idx := phaseSamples(p.rec, phase)
			require.NotEmpty(t, idx, phase)
			first, last := idx[0], idx[len(idx)-1]
			p.playTo(last)
			window := time.Duration(p.rec.Samples[last].OffsetNanos - p.rec.Samples[first].OffsetNanos)
			got, err := p.value(map[string]string{"metric": metric.name, "targetValue": "50", "window": window.String()})
			require.NoError(t, err, phase)

			sum, n := 0.0, 0
			for _, i := range idx {
				if v, ok := gpm(p.rec, i, metric.id); ok {
					sum += v
					n++
				}
			}
			require.NotZero(t, n)
			assert.InDelta(t, sum/float64(n), got, 1e-9, "%s %s: the phase mean", metric.name, phase)
			assert.Greater(t, got, prev, "%s rises from the phase before %s", metric.name, phase)
			prev = got
		}
	}
}

// TestInferenceRampKVCacheIdle: with the KV cache preallocated and no load,
// memory is as full as under load while SM activity stays below the lightest
// load phase — memory says nothing about load.
func TestInferenceRampKVCacheIdle(t *testing.T) {
	t.Parallel()
	p := newPlayer(t, "h200-inference-ramp.json")
	mem := map[string]string{"metric": "memory_used_percent", "targetValue": "80"}
	sm := map[string]string{"metric": "sm_active_percent", "targetValue": "50"}

	lightest := phaseSamples(p.rec, "duty010")
	lightSum, lightN := 0.0, 0
	for _, i := range lightest {
		if v, ok := gpm(p.rec, i, 2); ok {
			lightSum += v
			lightN++
		}
	}
	lightMean := lightSum / float64(lightN)
	// Activation halfway to the lightest load's mean, read from the recording.
	sm["activationTargetValue"] = strconv.FormatFloat(lightMean/2, 'g', -1, 64)

	full := phaseSamples(p.rec, "duty100")
	p.playTo(full[len(full)-1])
	underLoad, err := p.value(mem)
	require.NoError(t, err)

	p2 := newPlayer(t, "h200-inference-ramp.json")
	for _, i := range phaseSamples(p2.rec, "idle_prealloc") {
		p2.playTo(i)
		m := p2.rec.Samples[i].Devices[0].Memory.Value
		want := float64(m.Used) / float64(m.Total-m.Reserved) * 100
		got, err := p2.value(mem)
		require.NoError(t, err)
		assert.InDelta(t, want, got, 1e-9, "sample %d: used / (total - reserved)", i)
		assert.Greater(t, got, underLoad*0.99, "sample %d: memory is as full idle as under load", i)
		if v, ok := gpm(p2.rec, i, 2); ok {
			smGot, err := p2.value(sm)
			require.NoError(t, err)
			assert.Equal(t, v, smGot)
			assert.Less(t, smGot, lightMean)
		}
	}
	assert.False(t, p2.active(sm), "idle with a full KV cache is inactive")
	p2.playTo(lightest[len(lightest)-1])
	assert.True(t, p2.active(sm), "the lightest load phase activates")
}

// TestInferenceRampNaNIsAbsent: the recording's NaN GPM value is served as an
// error, never as 0.
func TestInferenceRampNaNIsAbsent(t *testing.T) {
	t.Parallel()
	p := newPlayer(t, "h200-inference-ramp.json")
	nan := -1
	for i, s := range p.rec.Samples {
		for _, g := range s.Devices[0].GPM {
			if g.ID == 10 && g.Ret == 0 && math.IsNaN(float64(g.Value)) && nan < 0 {
				nan = i
			}
		}
	}
	require.GreaterOrEqual(t, nan, 0, "the fixture holds a NaN DRAM bandwidth")
	p.playTo(nan)
	_, err := p.value(map[string]string{"metric": "dram_bandwidth_percent", "targetValue": "50"})
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Contains(t, err.Error(), "invalid")
}

// TestTwoTenantsProcessCount: process_count follows the recorded process list
// sample by sample, reaches 2 while the second tenant runs, and IsActive with an
// activation of one process is true exactly then.
func TestTwoTenantsProcessCount(t *testing.T) {
	t.Parallel()
	p := newPlayer(t, "h100-two-tenants.json")
	count := map[string]string{"metric": "process_count", "targetValue": "1", "activationTargetValue": "1"}
	twoDuringB := false
	for i, s := range p.rec.Samples {
		p.playTo(i)
		procs := s.Devices[0].Processes
		if !procs.OK() {
			continue
		}
		got, err := p.value(count)
		require.NoError(t, err)
		assert.Equal(t, float64(len(procs.Value)), got, "sample %d", i)
		assert.Equal(t, len(procs.Value) > 1, p.active(count), "sample %d", i)
		if p.rec.PhaseAt(s.OffsetNanos) == "B_full" && len(procs.Value) == 2 {
			twoDuringB = true
		}
	}
	assert.True(t, twoDuringB, "the second tenant shows up during B_full")
}

// TestTwoTenantsPushesActivation: an external-push stream is told `true` when
// the second tenant's process appears.
func TestTwoTenantsPushesActivation(t *testing.T) {
	t.Parallel()
	p := newPlayer(t, "h100-two-tenants.json")
	firstTwo := -1
	for i, s := range p.rec.Samples {
		if s.Devices[0].Processes.OK() && len(s.Devices[0].Processes.Value) == 2 {
			firstTwo = i
			break
		}
	}
	require.Positive(t, firstTwo)
	p.playTo(firstTwo - 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := p.client.StreamIsActive(ctx, &pb.ScaledObjectRef{ScalerMetadata: map[string]string{
		"metric": "process_count", "targetValue": "1", "activationTargetValue": "1"}})
	require.NoError(t, err)
	msg, err := stream.Recv()
	require.NoError(t, err)
	assert.False(t, msg.Result, "one tenant: inactive")
	p.playTo(firstTwo)
	msg, err = stream.Recv()
	require.NoError(t, err)
	assert.True(t, msg.Result, "second tenant: pushed active")
}
