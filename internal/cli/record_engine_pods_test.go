// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution/kubelettest"
	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

// record --engine-pods finds the GPU pods as serve --engine-pods does (the
// node's pod watch, the kubelet's attribution) and stores their real bodies
// under namespace/name with the pod's namespace and GPUs, and the reason a
// pod cannot be scraped; probe --replay then shows them as pods, as probe
// --engine-pods shows the live ones.
func TestRecordEnginePods(t *testing.T) {
	t.Parallel()
	f := fakenvml.New(t, loadRecording(t, rampRecording))
	socket, opts := enginePods(t)
	out := filepath.Join(t.TempDir(), "rec.json")
	// A 1 s interval gives each scrape 800 ms: a port probe that times out on a
	// loaded machine is not retried before the pod restarts, as in serve.
	r := run(context.Background(), t, []string{"record", "--nvml-lib", f.LibPath, "--duration", "4s", "--interval", "100ms",
		"-o", out, "--engine-pods", "--kubelet-socket", socket, "--engine-interval", "1s"}, opts...)
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Regexp(t, `recorded \d+ engine scrapes of 3 target\(s\)`, r.stderr)

	e := loadRecording(t, out).Engines
	require.NotNil(t, e, r.stderr)
	byName := map[string]recording.EngineTarget{}
	for _, tg := range e.Targets {
		byName[tg.Name] = tg
	}
	require.Len(t, byName, 3, "the Ready GPU pods only: %+v", e.Targets)
	for _, name := range []string{"llm/vllm-0", "llm/sglang-1", "llm/broken-2"} {
		assert.Equal(t, "llm", byName[name].Namespace, name)
		assert.Equal(t, []string{rampGPU}, byName[name].GPUs, name)
	}
	assert.Regexp(t, `^http://127.0.0.1:\d+/metrics$`, byName["llm/sglang-1"].URL, "the declared port that answered")
	assert.NotContains(t, byName["llm/sglang-1"].URL, ":1/")
	bodies := map[string]int{}
	var broken []recording.EngineScrape
	for _, s := range e.Scrapes {
		if len(s.BodyGzip) > 0 || s.Same {
			bodies[s.Target]++
		}
		if s.Target == "llm/broken-2" {
			broken = append(broken, s)
		}
	}
	assert.Positive(t, bodies["llm/vllm-0"])
	assert.Positive(t, bodies["llm/sglang-1"])
	require.Len(t, broken, 1, "an unscrapable pod's reason, kept once")
	assert.Contains(t, broken[0].Error, "nvml-scaler.io/metrics-port")

	// probe --replay shows the recorded pods with their engine and values.
	r = run(context.Background(), t, []string{"probe", "--replay", out, "-o", "json", "--interval", "3500ms"}, newFakeClock().option())
	require.Equal(t, ExitOK, r.code, r.stderr)
	var rep probeReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	shown := map[string]probeEngine{}
	for _, pe := range rep.Engines {
		shown[pe.Name] = pe
	}
	vl, sg := shown["llm/vllm-0"], shown["llm/sglang-1"]
	assert.Equal(t, "vllm-0", vl.Pod)
	assert.Equal(t, "llm", vl.Namespace)
	assert.Equal(t, []string{rampGPU}, vl.GPUs)
	assert.Equal(t, "vllm", vl.Engine, "%+v", vl)
	assert.Equal(t, "sglang", sg.Engine, "%+v", sg)
	require.NotNil(t, sg.RequestsWaiting, "%+v", sg)
	assert.Equal(t, 2826.0, *sg.RequestsWaiting, "sglang_docs.txt's queue")
	assert.Contains(t, shown["llm/broken-2"].Error, "nvml-scaler.io/metrics-port")
}

// record --engine-pods without a node name says which input is missing.
func TestRecordEnginePodsNoNode(t *testing.T) {
	t.Parallel()
	f := fakenvml.New(t, loadRecording(t, rampRecording))
	r := run(context.Background(), t, []string{"record", "--nvml-lib", f.LibPath, "--duration", "0", "-o", "-", "--engine-pods"})
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "--engine-pods: no node name")
}

// record --engine-pods on a node without GPU pods records the GPUs and says
// that it found no pod.
func TestRecordEnginePodsNone(t *testing.T) {
	t.Parallel()
	f := fakenvml.New(t, loadRecording(t, rampRecording))
	lookup, saDir := fakeAPIServer(t, podJSON("cpu-3", true, nil, 8000))
	k := kubelettest.Start(t)
	out := filepath.Join(t.TempDir(), "rec.json")
	r := run(context.Background(), t, []string{"record", "--nvml-lib", f.LibPath, "--duration", "500ms", "--interval", "100ms",
		"-o", out, "--engine-pods", "--kubelet-socket", k.Socket, "--engine-interval", "100ms"},
		WithLookupEnv(lookup), func(d *deps) { d.serviceAccountDir = saDir })
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "recorded no engine scrapes: --engine-pods found no Ready pod holding a GPU")
	assert.Nil(t, loadRecording(t, out).Engines)
}
