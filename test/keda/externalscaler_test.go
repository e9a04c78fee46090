// SPDX-License-Identifier: Apache-2.0

package keda

import (
	"context"
	"math"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers"
	"github.com/kedacore/keda/v2/pkg/scalers/scalersconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	v2 "k8s.io/api/autoscaling/v2"

	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/replay"
)

// fixture is an nvml-scaler serving the H200 inference-ramp recording, frozen
// at a sample the test picks, on a loopback TCP port.
type fixture struct {
	rec     *recording.Recording
	src     *replay.Source
	sampler *scaler.Sampler
	addr    string
}

func start(t *testing.T) *fixture {
	t.Helper()
	rec, err := recording.Load(filepath.Join("..", "..", "testdata", "recordings", "h200-inference-ramp.json"))
	require.NoError(t, err)
	src, err := replay.New(rec, replay.Options{Manual: true})
	require.NoError(t, err)
	smp, err := scaler.NewSampler(scaler.SamplerConfig{Source: src, Node: "gpu-node-1", Interval: 100 * time.Millisecond})
	require.NoError(t, err)
	srv, err := scaler.NewServer(scaler.ServerConfig{Sampler: smp})
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return &fixture{rec: rec, src: src, sampler: smp, addr: lis.Addr().String()}
}

// seekPhase freezes the replay at the last sample of phase and waits until a
// snapshot taken there is published.
func (f *fixture) seekPhase(t *testing.T, phase string) recording.DeviceSample {
	t.Helper()
	idx := -1
	for i, s := range f.rec.Samples {
		if f.rec.PhaseAt(s.OffsetNanos) == phase {
			idx = i
		}
	}
	require.GreaterOrEqual(t, idx, 0, "phase %q not in the recording", phase)
	require.NoError(t, f.src.Seek(idx))
	for range 2 { // the sweep in flight may predate the seek
		select {
		case <-f.sampler.Updated():
		case <-time.After(5 * time.Second):
			t.Fatal("no snapshot published")
		}
	}
	return f.rec.Samples[idx].Devices[0]
}

func recordedGPM(t *testing.T, s recording.DeviceSample, m scaler.GPMMetric) float64 {
	t.Helper()
	for _, g := range s.GPM {
		if g.ID == m.NVMLID() {
			return float64(g.Value)
		}
	}
	t.Fatalf("metric %d not recorded", m.NVMLID())
	return 0
}

func config(addr string, metricType v2.MetricTargetType) *scalersconfig.ScalerConfig {
	return &scalersconfig.ScalerConfig{
		ScalableObjectName:      "vllm",
		ScalableObjectNamespace: "inference",
		ScalableObjectType:      "ScaledObject",
		TriggerType:             "external",
		TriggerIndex:            0,
		MetricType:              metricType,
		GlobalHTTPTimeout:       3 * time.Second,
		TriggerMetadata: map[string]string{
			"scalerAddress":         addr,
			"metric":                "sm_active_percent",
			"targetValue":           "60",
			"activationTargetValue": "5",
			"aggregation":           "sum",
		},
	}
}

// KEDA's own external scaler client, as the operator and metrics adapter
// run it: the spec it hands the HPA, then value and activity per phase.
func TestKEDAExternalScalerClient(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	s, err := scalers.NewExternalScaler(config(f.addr, v2.AverageValueMetricType))
	require.NoError(t, err)
	defer s.Close(ctx)

	f.seekPhase(t, "idle_prealloc")
	specs := s.GetMetricSpecForScaling(ctx)
	require.Len(t, specs, 1)
	ext := specs[0].External
	require.NotNil(t, ext)
	assert.Equal(t, "s0-nvml-sm-active-percent-sum", ext.Metric.Name)
	assert.Equal(t, v2.AverageValueMetricType, ext.Target.Type)
	assert.Equal(t, 60.0, ext.Target.AverageValue.AsApproximateFloat64())

	idle := f.seekPhase(t, "idle_prealloc")
	vals, active, err := s.GetMetricsAndActivity(ctx, ext.Metric.Name)
	require.NoError(t, err)
	require.Len(t, vals, 1)
	assert.False(t, active, "idle with a preallocated KV cache is not active")
	assert.InDelta(t, recordedGPM(t, idle, scaler.GPMSMActivity), vals[0].Value.AsApproximateFloat64(), 0.001)

	busy := f.seekPhase(t, "duty100")
	vals, active, err = s.GetMetricsAndActivity(ctx, ext.Metric.Name)
	require.NoError(t, err)
	require.Len(t, vals, 1)
	assert.True(t, active)
	want := recordedGPM(t, busy, scaler.GPMSMActivity)
	assert.InDelta(t, want, vals[0].Value.AsApproximateFloat64(), 0.001)
	assert.Equal(t, ext.Metric.Name, vals[0].MetricName)

	// What the HPA makes of it: desired = ceil(total / 60) with AverageValue.
	assert.Equal(t, int32(math.Ceil(want/60)),
		scaler.DesiredReplicas(scaler.TargetAverageValue, 1, want, 60, scaler.DefaultHPATolerance))
}

func TestKEDAExternalScalerClientErrors(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	cfg := config(f.addr, v2.AverageValueMetricType)
	cfg.TriggerMetadata["targetValue"] = "-1"
	s, err := scalers.NewExternalScaler(cfg)
	require.NoError(t, err, "KEDA forwards metadata without checking it")
	defer s.Close(ctx)
	f.seekPhase(t, "duty050")
	assert.Empty(t, s.GetMetricSpecForScaling(ctx), "KEDA logs the InvalidArgument and gets no spec")
	_, _, err = s.GetMetricsAndActivity(ctx, "s0-nvml-sm-active-percent-sum")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "InvalidArgument")
	assert.Contains(t, err.Error(), "targetValue")
}

// KEDA's push scaler (trigger type external-push) receives the current state
// on connect and true when the GPU becomes active.
func TestKEDAExternalPushScaler(t *testing.T) {
	f := start(t)
	f.seekPhase(t, "idle_prealloc")
	cfg := config(f.addr, v2.AverageValueMetricType)
	cfg.TriggerType = "external-push"
	s, err := scalers.NewExternalPushScaler(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer s.Close(context.Background())
	active := make(chan bool, 4)
	go s.Run(ctx, active)

	select {
	case v := <-active:
		assert.False(t, v, "the current state on connect: idle")
	case <-time.After(10 * time.Second):
		t.Fatal("no initial state from StreamIsActive")
	}
	f.seekPhase(t, "duty100")
	select {
	case v := <-active:
		assert.True(t, v)
	case <-time.After(10 * time.Second):
		t.Fatal("no activation pushed")
	}
	cancel()
	for range active { // Run closes the channel when it returns
	}
}
