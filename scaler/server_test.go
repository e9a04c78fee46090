// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

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

func TestGetMetricSpec(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newFake(1)) // no sweep: the spec needs no snapshot
	for _, tt := range []struct {
		target  string
		size    int64
		sizeF   float64
		agg, nm string
	}{
		{"60", 60, 60, "", "nvml-sm-active-percent-avg"},
		{"0.5", 1, 0.5, "sum", "nvml-sm-active-percent-sum"},
		{"150.6", 151, 150.6, "max", "nvml-sm-active-percent-max"},
	} {
		resp, err := h.client.GetMetricSpec(context.Background(), ref("targetValue", tt.target, "aggregation", tt.agg))
		require.NoError(t, err)
		require.Len(t, resp.MetricSpecs, 1)
		assert.Equal(t, tt.nm, resp.MetricSpecs[0].MetricName)
		assert.Equal(t, tt.size, resp.MetricSpecs[0].TargetSize)
		assert.Equal(t, tt.sizeF, resp.MetricSpecs[0].TargetSizeFloat)
	}
}

func TestGetMetricsAggregations(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newFake(3)) // sm_active_percent 10, 20, 30
	h.sweep()
	for agg, want := range map[string]float64{"avg": 20, "max": 30, "min": 10, "sum": 60} {
		v, err := h.getMetrics(ref("aggregation", agg))
		require.NoError(t, err)
		assert.Equal(t, want, v, agg)
	}
	v, err := h.getMetrics(ref("gpuIndexes", "0,2", "aggregation", "sum"))
	require.NoError(t, err)
	assert.Equal(t, 40.0, v)

	resp, err := h.client.GetMetrics(context.Background(), &pb.GetMetricsRequest{ScaledObjectRef: ref("metric", "power_watts"), MetricName: "nvml-power-watts-avg"})
	require.NoError(t, err)
	require.Len(t, resp.MetricValues, 1)
	assert.Equal(t, "nvml-power-watts-avg", resp.MetricValues[0].MetricName, "named as asked")
	assert.Equal(t, 350.0, resp.MetricValues[0].MetricValueFloat)
	assert.Equal(t, int64(350), resp.MetricValues[0].MetricValue)

	resp, err = h.client.GetMetrics(context.Background(), &pb.GetMetricsRequest{ScaledObjectRef: ref("metric", "memory_used_percent")})
	require.NoError(t, err)
	assert.Equal(t, "nvml-memory-used-percent-avg", resp.MetricValues[0].MetricName, "no name asked: the spec's")
}

func TestGetMetricsRounding(t *testing.T) {
	t.Parallel()
	src := newFake(1)
	src.setGPM(0, GPMSMActivity, Got(12.5))
	h := newHarness(t, src)
	h.sweep()
	resp, err := h.client.GetMetrics(context.Background(), &pb.GetMetricsRequest{ScaledObjectRef: ref(), MetricName: "m"})
	require.NoError(t, err)
	assert.Equal(t, 12.5, resp.MetricValues[0].MetricValueFloat)
	assert.Equal(t, int64(13), resp.MetricValues[0].MetricValue)
	assert.Equal(t, int64(math.MaxInt64), toInt64(1e300))
	assert.Equal(t, int64(math.MinInt64), toInt64(-1e300))
}

func TestIsActiveUsesTheMetricValue(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newFake(2)) // avg 15
	h.sweep()
	for _, tt := range []struct {
		activation string
		want       bool
	}{{"", true}, {"14.9", true}, {"15", false}, {"40", false}} {
		v, err := h.getMetrics(ref("activationTargetValue", tt.activation))
		require.NoError(t, err)
		resp, err := h.client.IsActive(context.Background(), ref("activationTargetValue", tt.activation))
		require.NoError(t, err)
		assert.Equal(t, tt.want, resp.Result, "activation %q, value %v", tt.activation, v)
	}
	// At 0% load with the default activation of 0 the trigger is inactive.
	src := newFake(1)
	src.setGPM(0, GPMSMActivity, Got(0.0))
	idle := newHarness(t, src)
	idle.sweep()
	resp, err := idle.client.IsActive(context.Background(), ref())
	require.NoError(t, err)
	assert.False(t, resp.Result)
}

func TestBadInputsEveryRPC(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newFake(1))
	h.sweep()
	ctx := context.Background()
	bad := []struct {
		name string
		ref  *pb.ScaledObjectRef
		want []string
	}{
		{"empty ref", &pb.ScaledObjectRef{}, []string{`"metric" is missing`}},
		{"unknown key", ref("pollIntervalSeconds", "0"), []string{`"pollIntervalSeconds"`, `"0"`, "want a known key"}},
		{"bad target", ref("targetValue", "abc"), []string{`"targetValue"`, `"abc"`, "want a finite number"}},
		{"NaN target", ref("targetValue", "NaN"), []string{`"NaN"`}},
		{"negative activation", ref("activationTargetValue", "-1"), []string{`"activationTargetValue"`, `"-1"`}},
		{"bad window", ref("window", "1h"), []string{`"window"`, "10m"}},
		{"bad aggregation", ref("aggregation", "p99"), []string{"avg, max, min, sum"}},
		{"bad uuid", ref("gpuUUIDs", "0"), []string{`"gpuUUIDs"`}},
	}
	for _, tt := range bad {
		_, err := h.client.GetMetricSpec(ctx, tt.ref)
		requireCode(t, err, codes.InvalidArgument, tt.want...)
		_, err = h.client.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: tt.ref, MetricName: "x"})
		requireCode(t, err, codes.InvalidArgument, tt.want...)
		_, err = h.client.IsActive(ctx, tt.ref)
		requireCode(t, err, codes.InvalidArgument, tt.want...)
		stream, err := h.client.StreamIsActive(ctx, tt.ref)
		require.NoError(t, err)
		_, err = stream.Recv()
		requireCode(t, err, codes.InvalidArgument, tt.want...)
	}
	// A request without a ScaledObjectRef, over the wire and in process.
	_, err := h.client.GetMetrics(ctx, &pb.GetMetricsRequest{MetricName: "x"})
	requireCode(t, err, codes.InvalidArgument, "scaledObjectRef is missing")
	_, err = h.client.GetMetrics(ctx, nil)
	requireCode(t, err, codes.InvalidArgument, "scaledObjectRef is missing")
	_, err = h.server.GetMetrics(ctx, nil)
	requireCode(t, err, codes.InvalidArgument)
	_, err = h.server.IsActive(ctx, nil)
	requireCode(t, err, codes.InvalidArgument)
	_, err = h.server.GetMetricSpec(ctx, nil)
	requireCode(t, err, codes.InvalidArgument)
	requireCode(t, h.server.StreamIsActive(nil, nil), codes.InvalidArgument)
	// StreamMetricSpec stays unimplemented: KEDA falls back to polling.
	ms, err := h.client.StreamMetricSpec(ctx, ref())
	require.NoError(t, err)
	_, err = ms.Recv()
	requireCode(t, err, codes.Unimplemented)
}

func TestStaleAndNotReady(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newFake(1))
	ctx := context.Background()
	_, err := h.getMetrics(ref())
	requireCode(t, err, codes.Unavailable, "not ready")
	h.sweep()
	_, err = h.getMetrics(ref())
	require.NoError(t, err)
	h.clock.Add(StaleIntervals*testInterval + 1)
	_, err = h.getMetrics(ref())
	requireCode(t, err, codes.Unavailable, "stale")
	_, err = h.client.IsActive(ctx, ref())
	requireCode(t, err, codes.Unavailable, "stale")
	_, err = h.client.GetMetricSpec(ctx, ref())
	assert.NoError(t, err, "the spec does not depend on data")
}

func TestNoGPUMatched(t *testing.T) {
	t.Parallel()
	src := newFake(2)
	h := newHarness(t, src)
	h.sweep()
	_, err := h.getMetrics(ref("gpuModel", "NVIDIA B200", "gpuIndexes", "0"))
	requireCode(t, err, codes.NotFound, `node "node-a"`, `gpuIndexes="0" gpuModel="NVIDIA B200"`,
		src.devices[0].UUID, src.devices[1].UUID, `"NVIDIA H200"`)
	_, err = h.client.IsActive(context.Background(), ref("gpuUUIDs", "GPU-ffff"))
	requireCode(t, err, codes.NotFound, `gpuUUIDs="GPU-ffff"`)
}

func TestAbsentMetrics(t *testing.T) {
	t.Parallel()
	src := newFake(3)
	src.devices[2] = Device{Index: 1, UUID: "MIG-aa", Model: "NVIDIA H200 MIG 1g.18gb", MIGParentUUID: src.devices[1].UUID}
	src.edit(2, func(r *Reading) { r.Utilization = Failed[Utilization](ErrNotSupported) })
	src.setGPM(0, GPMDRAMBandwidth, Got(math.NaN()))
	src.setGPM(1, GPMDRAMBandwidth, Got(30.0))
	src.setGPM(2, GPMDRAMBandwidth, Got(math.NaN()))
	h := newHarness(t, src)
	h.sweep()

	v, err := h.getMetrics(ref("metric", "dram_bandwidth_percent"))
	require.NoError(t, err)
	assert.Equal(t, 30.0, v, "a NaN GPU is left out, not counted as 0")
	_, err = h.getMetrics(ref("metric", "dram_bandwidth_percent", "gpuIndexes", "0"))
	requireCode(t, err, codes.Unavailable, "dram_bandwidth_percent", "invalid")
	_, err = h.getMetrics(ref("metric", "gpu_utilization_percent", "gpuUUIDs", "MIG-aa"))
	requireCode(t, err, codes.FailedPrecondition, "not supported", "MIG-aa")
	v, err = h.getMetrics(ref("metric", "process_count", "gpuUUIDs", "MIG-aa,"+src.devices[0].UUID, "aggregation", "sum"))
	require.NoError(t, err)
	assert.Equal(t, 4.0, v)
}

func TestLostGPU(t *testing.T) {
	t.Parallel()
	src := newFake(2)
	h := newHarness(t, src)
	src.setReadErr(0, fmt.Errorf("read: %w", ErrGPULost))
	h.sweep()
	v, err := h.getMetrics(ref("aggregation", "sum", "onMissing", "skip"))
	require.NoError(t, err)
	assert.Equal(t, 20.0, v, "the other GPU keeps serving")
	_, err = h.getMetrics(ref("aggregation", "sum"))
	requireCode(t, err, codes.Unavailable, "onMissing=fail", "1 of the 2 GPU(s)", src.devices[0].UUID+" lost")
	v, err = h.getMetrics(ref("aggregation", "max"))
	require.NoError(t, err)
	assert.Equal(t, 20.0, v, "max skips a missing GPU by default")
	_, err = h.getMetrics(ref("gpuIndexes", "0"))
	requireCode(t, err, codes.Unavailable, "lost")
	src.setReadErr(1, errBoom)
	h.sweep()
	_, err = h.getMetrics(ref())
	requireCode(t, err, codes.Unavailable, "lost", "failed: boom")
}

func TestWindow(t *testing.T) {
	t.Parallel()
	src := newFake(1)
	h := newHarness(t, src)
	for _, v := range []Field[float64]{Got(10.0), Got(20.0), Got(math.NaN()), Got(30.0), Got(40.0)} {
		src.setGPM(0, GPMSMActivity, v)
		h.sweep()
	}
	for _, tt := range []struct {
		window string
		want   float64
	}{{"", 40}, {"0s", 40}, {"999ms", 40}, {"1s", 35}, {"2s", 35}, {"3s", 30}, {"10m", 25}} {
		v, err := h.getMetrics(ref("window", tt.window))
		require.NoError(t, err)
		assert.Equal(t, tt.want, v, "window %q", tt.window)
	}
	src.setGPM(0, GPMSMActivity, Got(math.NaN()))
	h.sweep()
	_, err := h.getMetrics(ref("window", "10m"))
	requireCode(t, err, codes.Unavailable, "invalid")
}

func TestHealth(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newFake(1))
	ctx := context.Background()
	check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		resp, err := h.health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		require.NoError(t, err)
		return resp.Status
	}
	serving, notServing := healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING
	assert.Equal(t, serving, check(HealthLiveness))
	assert.Equal(t, notServing, check(HealthReadiness))
	h.sweep()
	for _, svc := range []string{"", HealthReadiness, "externalscaler.ExternalScaler"} {
		assert.Equal(t, serving, check(svc))
	}
	h.clock.Add(StaleIntervals*testInterval + 1)
	assert.Equal(t, notServing, check(""))
	assert.Equal(t, serving, check(HealthLiveness))
	_, err := h.health.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"})
	requireCode(t, err, codes.NotFound, `"nope"`)
}

func TestNewServerConfig(t *testing.T) {
	t.Parallel()
	_, err := NewServer(ServerConfig{})
	assert.Error(t, err)
}

func TestNoPanicOnArbitraryMetadata(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newFake(1))
	h.sweep()
	weird := []string{"", " ", "\x00", "∞", strings.Repeat("a", 1<<16), "GPU-", ",", "-0", "1e-400", "0x1p-2"}
	for _, k := range append(weird, triggerKeys[:]...) {
		for _, v := range weird {
			r := ref(k, v)
			_, _ = h.server.GetMetrics(context.Background(), &pb.GetMetricsRequest{ScaledObjectRef: r})
			_, _ = h.server.IsActive(context.Background(), r)
			_, _ = h.server.GetMetricSpec(context.Background(), r)
		}
	}
}
