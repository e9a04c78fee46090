// SPDX-License-Identifier: Apache-2.0

package enginetrigger_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/enginetrigger"
)

var _ scaler.EngineMetrics = (*enginetrigger.Server)(nil)

func TestParse(t *testing.T) {
	t.Parallel()
	tr, err := enginetrigger.Parse(map[string]string{"metric": "ttft_seconds", "targetValue": "0.5",
		"quantile": "0.9", "window": "1m", "aggregation": "max", "onMissing": "skip", "scalerAddress": "x:6000"})
	require.NoError(t, err)
	assert.Equal(t, enginetrigger.Trigger{Metric: engine.TTFT, Target: 0.5, Aggregation: engine.Max, Quantile: 0.9,
		Window: time.Minute, SkipMissing: true}, tr)
	assert.Equal(t, "nvml-engine-ttft-seconds-max-q0-9", tr.MetricName())

	tr, err = enginetrigger.Parse(map[string]string{"metric": "requests_waiting", "targetValue": "5"})
	require.NoError(t, err)
	assert.Equal(t, engine.Sum, tr.Aggregation, "sum by default: the HPA divides by replicas")
	assert.Equal(t, engine.DefaultWindow, tr.Window)

	for name, md := range map[string]map[string]string{
		"no target":         {"metric": "requests_waiting"},
		"quantile of gauge": {"metric": "requests_waiting", "targetValue": "5", "quantile": "0.9"},
		"quantile 1":        {"metric": "ttft_seconds", "targetValue": "5", "quantile": "1"},
		"bad gpu selector":  {"metric": "requests_waiting", "targetValue": "5", "gpuIndexes": "zero"},
		"unknown key":       {"metric": "requests_waiting", "targetValue": "5", "modelName": "x"},
		"bad window":        {"metric": "requests_waiting", "targetValue": "5", "window": "1h"},
		"bad onMissing":     {"metric": "requests_waiting", "targetValue": "5", "onMissing": "zero"},
		"NaN target":        {"metric": "requests_waiting", "targetValue": "NaN"},
	} {
		_, err := enginetrigger.Parse(md)
		require.Error(t, err, name)
	}
	assert.True(t, enginetrigger.Serves(map[string]string{"metric": "kv_cache_usage_percent"}))
	assert.True(t, enginetrigger.Serves(map[string]string{"metricFromEnv": "requests_running"}))
	assert.False(t, enginetrigger.Serves(map[string]string{"metric": "sm_active_percent"}))
}

type views struct{ v *watch.View }

func (v views) View() *watch.View { return v.v }

// pod returns a target whose history holds the SGLang docs body at t=0 and
// the same body ×k at t=10 s (derived numbers: see engine's fixture README).
func pod(t *testing.T, name string, k float64) watch.Pod {
	t.Helper()
	b, err := os.ReadFile("../../engine/testdata/engines/sglang_docs.txt")
	require.NoError(t, err)
	s, err := engine.NewScraper(engine.Options{Timeout: time.Second})
	require.NoError(t, err)
	r0, err := s.Map(b, "", engine.Target{}, time.Unix(0, 0))
	require.NoError(t, err)
	r1 := *r0
	r1.Time = time.Unix(10, 0)
	for m := range engine.NumMetrics {
		sm := &r1.Samples[m]
		sm.V *= k
		sm.Den *= k
		if sm.Hist != nil {
			h := *sm.Hist
			h.Counts = append([]float64(nil), h.Counts...)
			for i := range h.Counts {
				h.Counts[i] *= k
			}
			h.Sum, h.Count = h.Sum*k, h.Count*k
			sm.Hist = &h
		}
	}
	return watch.Pod{Name: name, Engine: engine.SGLang, History: engine.History{}.Add(r0, time.Minute).Add(&r1, time.Minute)}
}

func TestValue(t *testing.T) {
	t.Parallel()
	a, b := pod(t, "a", 2), pod(t, "b", 3)
	broken := watch.Pod{Name: "c", Err: status.Error(codes.Unavailable, "c: refused")}
	srv := func(pods ...watch.Pod) *enginetrigger.Server {
		return enginetrigger.New(views{&watch.View{Interval: time.Second, Pods: pods}}, func() time.Time { return time.Unix(11, 0) }, nil)
	}
	md := func(kv ...string) map[string]string {
		m := map[string]string{"targetValue": "5"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	v, act, err := srv(a, b).Evaluate("", md("metric", "requests_waiting", "activationTargetValue", "3"))
	require.NoError(t, err)
	assert.Equal(t, 5*2826.0, v)
	assert.Equal(t, 3.0, act)
	v, _, err = srv(a, b).Evaluate("", md("metric", "ttft_seconds", "quantile", "0.1"))
	require.NoError(t, err)
	assert.InDelta(t, 7.5+2.5*(1100.8-941)/(1330-941), v, 1e-9, "merged: the docs' shape")
	v, _, err = srv(a, b).Evaluate("", md("metric", "generation_tokens_per_second", "aggregation", "max"))
	require.NoError(t, err)
	assert.InDelta(t, 2*7.557572e+06/10, v, 1e-6)

	_, _, err = srv(a, broken).Evaluate("", md("metric", "requests_waiting"))
	assert.Equal(t, codes.Unavailable, status.Code(err), "onMissing: fail")
	assert.Contains(t, err.Error(), "c: refused")
	v, _, err = srv(a, broken).Evaluate("", md("metric", "requests_waiting", "onMissing", "skip"))
	require.NoError(t, err)
	assert.Equal(t, 2*2826.0, v, "only pod a")

	_, _, err = srv(a).Evaluate("", md("metric", "queue_time_seconds"))
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "this SGLang body has no queue-time histogram")
	_, _, err = srv().Evaluate("", md("metric", "requests_waiting"))
	assert.Equal(t, codes.NotFound, status.Code(err))
	_, _, err = srv(a).Evaluate("", md("metric", "requests_waiting", "aggregation", "median"))
	assert.Equal(t, codes.InvalidArgument, status.Code(err))

	v, _, err = srv(a).Evaluate("", md("metric", "requests_waiting", "model", "meta-llama/Llama-3.1-8B-Instruct"))
	require.NoError(t, err)
	assert.Equal(t, 2*2826.0, v)
	_, _, err = srv(a).Evaluate("", md("metric", "requests_waiting", "model", "other"))
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Contains(t, err.Error(), `"other"`)

	stale := enginetrigger.New(views{&watch.View{Interval: time.Second, Pods: []watch.Pod{a}}}, func() time.Time { return time.Unix(20, 0) }, nil)
	_, _, err = stale.Evaluate("", md("metric", "requests_waiting"))
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Contains(t, err.Error(), "stale")
}

// Pods count in their ScaledObject's namespace, narrowed by GPU selectors (a
// pod counts when one of its GPUs is selected); operator-set targets count
// only without a selector.
func TestValuePodsByNamespaceAndGPU(t *testing.T) {
	t.Parallel()
	onPod := func(name, ns string, gpus ...string) watch.Pod {
		p := pod(t, ns+"/"+name, 1)
		p.Namespace, p.GPUs = ns, gpus
		return p
	}
	a := onPod("a", "llm", "GPU-0")
	b := onPod("b", "llm", "GPU-1", "GPU-2")
	other := onPod("c", "batch", "GPU-3")
	operator := pod(t, "local", 1)
	snap := &scaler.Snapshot{GPUs: []scaler.GPU{
		{Device: scaler.Device{Index: 0, UUID: "GPU-0", Model: "NVIDIA H200"}},
		{Device: scaler.Device{Index: 1, UUID: "GPU-1", Model: "NVIDIA H200"}},
		{Device: scaler.Device{Index: 2, UUID: "GPU-2", Model: "NVIDIA H100 80GB HBM3"}},
		{Device: scaler.Device{Index: 3, UUID: "GPU-3", Model: "NVIDIA H200"}},
	}}
	srv := enginetrigger.New(views{&watch.View{Interval: time.Second, Pods: []watch.Pod{a, b, other, operator}}},
		func() time.Time { return time.Unix(11, 0) }, func() *scaler.Snapshot { return snap })
	one := 2826.0 // SGLang docs body: num_queue_reqs
	for _, tc := range []struct {
		name, ns string
		sel      map[string]string
		want     []string
	}{
		{"namespace and operator target", "llm", nil, []string{"llm/a", "llm/b", "local"}},
		{"other namespace", "batch", nil, []string{"batch/c", "local"}},
		{"by index: one GPU of b", "llm", map[string]string{"gpuIndexes": "2"}, []string{"llm/b"}},
		{"by model", "llm", map[string]string{"gpuModel": "NVIDIA H200"}, []string{"llm/a", "llm/b"}},
		{"by UUID, not in namespace", "llm", map[string]string{"gpuUUIDs": "GPU-3"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			md := map[string]string{"metric": "requests_waiting", "targetValue": "5"}
			for k, v := range tc.sel {
				md[k] = v
			}
			tr, err := enginetrigger.Parse(md)
			require.NoError(t, err)
			v, names, err := srv.Value(tc.ns, &tr)
			if tc.want == nil {
				assert.Equal(t, codes.NotFound, status.Code(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, names)
			assert.Equal(t, float64(len(tc.want))*one, v)
		})
	}
}
