// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"sync"
	"testing"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeEngines serves metric "queue" with a fixed value, threshold 2.
type fakeEngines struct{ value float64 }

func (f *fakeEngines) Serves(md map[string]string) bool { return md["metric"] == "queue" }
func (f *fakeEngines) Spec(md map[string]string) (string, float64, error) {
	if md["targetValue"] == "" {
		return "", 0, status.Error(codes.InvalidArgument, "targetValue missing")
	}
	return "engine-queue", 5, nil
}
func (f *fakeEngines) Evaluate(string, map[string]string) (float64, float64, error) {
	return f.value, 2, nil
}

func TestEngineTriggersAreDelegated(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newFake(1))
	eng := &fakeEngines{value: 3}
	h.server.engines = eng
	h.sweep()
	ctx := context.Background()

	spec, err := h.client.GetMetricSpec(ctx, ref("metric", "queue", "targetValue", "5"))
	require.NoError(t, err)
	assert.Equal(t, "engine-queue", spec.MetricSpecs[0].MetricName)
	assert.Equal(t, 5.0, spec.MetricSpecs[0].TargetSizeFloat)
	v, err := h.getMetrics(ref("metric", "queue", "targetValue", "5"))
	require.NoError(t, err)
	assert.Equal(t, 3.0, v)
	resp, err := h.client.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: ref("metric", "queue", "targetValue", "5")})
	require.NoError(t, err)
	assert.Equal(t, "engine-queue", resp.MetricValues[0].MetricName, "an empty name gets the spec's")
	active, err := h.client.IsActive(ctx, ref("metric", "queue", "targetValue", "5"))
	require.NoError(t, err)
	assert.True(t, active.Result, "3 > 2")
	eng.value = 1
	active, err = h.client.IsActive(ctx, ref("metric", "queue", "targetValue", "5"))
	require.NoError(t, err)
	assert.False(t, active.Result)
	_, err = h.client.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: ref("metric", "queue", "targetValue", "<delete>")})
	requireCode(t, err, codes.InvalidArgument)

	// GPU triggers still go to the sampler.
	_, err = h.getMetrics(ref("metric", "power_watts", "targetValue", "100"))
	require.NoError(t, err)
}

// fakeEngineValue is fakeEngines with a value the test changes between sweeps.
type fakeEngineValue struct {
	fakeEngines
	mu sync.Mutex
	v  float64
}

func (f *fakeEngineValue) set(v float64) { f.mu.Lock(); f.v = v; f.mu.Unlock() }
func (f *fakeEngineValue) Evaluate(string, map[string]string) (float64, float64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.v, 2, nil
}

// external-push works for engine triggers: evaluated on each new snapshot.
func TestStreamIsActiveEngineTrigger(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newFake(1))
	eng := &fakeEngineValue{}
	h.server.engines = eng
	evaluated := make(chan struct{})
	h.server.streamEvaluated = func() { evaluated <- struct{}{} }
	h.sweep()
	ctx, cancel := context.WithCancel(context.Background())
	stream := &recordingStream{ctx: ctx}
	done := make(chan error, 1)
	go func() {
		done <- h.server.StreamIsActive(ref("metric", "queue", "targetValue", "5"), stream)
	}()
	<-evaluated
	assert.Equal(t, []bool{false}, stream.got())
	eng.set(3)
	h.sweep()
	<-evaluated
	assert.Equal(t, []bool{false, true}, stream.got(), "3 > activation 2")
	cancel()
	require.NoError(t, <-done)

	err := h.server.StreamIsActive(ref("metric", "queue", "targetValue", "<delete>"), &recordingStream{ctx: context.Background()})
	requireCode(t, err, codes.InvalidArgument)
}
