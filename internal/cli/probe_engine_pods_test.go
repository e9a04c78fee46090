// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution/kubelettest"
	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
)

// rampGPU is the GPU of the ramp recording.
const rampGPU = "GPU-2b355d97-5632-362b-33d1-20f07cee2dcc"

// podJSON is a core/v1 Pod of node gpu-1 as the API server writes it (the
// fields podwatch reads), listening on ports of 127.0.0.1.
func podJSON(name string, ready bool, annotations map[string]string, ports ...int) map[string]any {
	var ps []any
	for i, p := range ports {
		ps = append(ps, map[string]any{"name": "p" + strconv.Itoa(i), "containerPort": p, "protocol": "TCP"})
	}
	status := map[bool]string{true: "True", false: "False"}[ready]
	return map[string]any{
		"kind": "Pod", "apiVersion": "v1",
		"metadata": map[string]any{"name": name, "namespace": "llm", "uid": "uid-" + name, "resourceVersion": "7", "annotations": annotations},
		"spec":     map[string]any{"nodeName": "gpu-1", "containers": []any{map[string]any{"name": "server", "ports": ps}}},
		"status": map[string]any{"phase": "Running", "podIP": "127.0.0.1", "startTime": "2026-12-01T10:00:00Z",
			"conditions": []any{map[string]any{"type": "Ready", "status": status}}},
	}
}

// fakeAPIServer serves a pod list over TLS as the API server does, and
// returns the environment and service-account directory a pod would have.
func fakeAPIServer(t *testing.T, pods ...map[string]any) (func(string) (string, bool), string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/pods" || r.URL.Query().Get("fieldSelector") != "spec.nodeName=gpu-1" ||
			r.Header.Get("Authorization") != "Bearer tok-1" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "PodList", "metadata": map[string]any{"resourceVersion": "8"}, "items": pods})
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte("tok-1\n"), 0o600))
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	host, port, err := net.SplitHostPort(u.Host)
	require.NoError(t, err)
	return env("KUBERNETES_SERVICE_HOST", host, "KUBERNETES_SERVICE_PORT", port, "NODE_NAME", "gpu-1"), dir
}

func portOf(t *testing.T, rawURL string) int {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	p, err := strconv.Atoi(u.Port())
	require.NoError(t, err)
	return p
}

// probe --engine-pods shows each Ready GPU pod on the node — found through
// the API server's pod list and the kubelet's GPU attribution, scraped at
// the annotated port or the first declared port a known engine answers on —
// with its engine, queue, KV cache and TTFT, and why a value or a pod is
// absent. Pods without a GPU or not Ready are not shown.
func TestProbeEnginePods(t *testing.T) {
	t.Parallel()
	args, opts := enginePodsSetup(t)
	r := run(context.Background(), t, append(args, "-o", "json"), append(opts, newFakeClock().option())...)
	require.Equal(t, ExitOK, r.code, r.stderr)
	var rep probeReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Len(t, rep.Engines, 3, "the Ready GPU pods, sorted")
	broken, sg, vl := rep.Engines[0], rep.Engines[1], rep.Engines[2]

	assert.Equal(t, "llm/vllm-0", vl.Name)
	assert.Equal(t, "vllm-0", vl.Pod)
	assert.Equal(t, "llm", vl.Namespace)
	assert.Equal(t, []string{rampGPU}, vl.GPUs)
	assert.Equal(t, "vllm", vl.Engine)
	assert.Equal(t, 0.0, *vl.RequestsWaiting, "vllm_datadog.txt is an idle server")
	assert.Equal(t, 0.0, *vl.KVCacheUsagePercent)
	require.NotNil(t, vl.TTFTSeconds, "the second scrape is the first ×2: the fixture's own mean: %v", vl.Absent)
	fams, err := engine.Parse(clustertest.EngineBody(t, "vllm_datadog.txt"), "", 0)
	require.NoError(t, err)
	h := fams["vllm:time_to_first_token_seconds"].Metric[0].Histogram
	assert.InDelta(t, h.GetSampleSum()/float64(h.GetSampleCount()), *vl.TTFTSeconds, 1e-9)

	assert.Equal(t, "llm/sglang-1", sg.Name)
	assert.Regexp(t, `^http://127.0.0.1:\d+/metrics$`, sg.URL)
	assert.NotContains(t, sg.URL, ":1/", "the declared port SGLang answers on")
	assert.Equal(t, 2826.0, *sg.RequestsWaiting)
	assert.Equal(t, 162.0, *sg.RequestsRunning)
	assert.Nil(t, sg.TTFTSeconds)
	assert.Contains(t, sg.Absent["ttft_seconds"], "no observations")

	assert.Equal(t, "llm/broken-2", broken.Name)
	assert.Contains(t, broken.Error, "nvml-scaler.io/metrics-port")
	assert.Nil(t, broken.RequestsWaiting)

	args, opts = enginePodsSetup(t) // fresh engines: the first scrape answers the first body again
	r = run(context.Background(), t, args, append(opts, newFakeClock().option())...)
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Regexp(t, `llm/sglang-1\s+sglang\s+2826\s+162\s+28\.0\s+-\s+`, r.stdout)
	assert.Regexp(t, `llm/vllm-0\s+vllm\s+0\s+0\s+0\.0\s+\d\.\d{3}s\s+`, r.stdout)
	assert.Regexp(t, `llm/broken-2\s+error: .*9999`, r.stdout)
	assert.Contains(t, r.stdout, "absent:\n  llm/sglang-1: ttft_seconds: no observations in the window")
	assert.NotContains(t, r.stdout, "cpu-3")
	assert.NotContains(t, r.stdout, "starting-4")
}

// enginePodsSetup starts the engines, the API server and the kubelet of
// TestProbeEnginePods and returns probe's arguments and options.
func enginePodsSetup(t *testing.T) ([]string, []Option) {
	t.Helper()
	socket, opts := enginePods(t)
	return []string{"probe", "--replay", rampRecording, "--engine-pods", "--kubelet-socket", socket}, opts
}

// enginePods starts the engines (vllm-0 at its annotated port, sglang-1 at
// its second declared port), the API server listing them beside broken-2
// (annotated with an undeclared port), cpu-3 (no GPU) and starting-4 (not
// Ready), and the kubelet attributing the ramp recording's GPU; it returns
// the kubelet's socket and the options of a pod on node gpu-1.
func enginePods(t *testing.T) (string, []Option) {
	t.Helper()
	vllm := engineServer(t, clustertest.EngineBody(t, "vllm_datadog.txt"), clustertest.ScaledEngineBody(t, "vllm_datadog.txt", 2))
	sglang := engineServer(t, clustertest.EngineBody(t, "sglang_docs.txt"))
	vp, sp := portOf(t, vllm), portOf(t, sglang)
	lookup, saDir := fakeAPIServer(t,
		podJSON("vllm-0", true, map[string]string{"nvml-scaler.io/metrics-port": strconv.Itoa(vp)}, vp),
		podJSON("sglang-1", true, nil, 1, sp), // port 1 refuses; the second port is SGLang
		podJSON("broken-2", true, map[string]string{"nvml-scaler.io/metrics-port": "9999"}, 8000),
		podJSON("cpu-3", true, nil, 8000),
		podJSON("starting-4", false, nil, 8000))
	k := kubelettest.Start(t)
	for _, p := range []string{"vllm-0", "sglang-1", "broken-2", "starting-4"} {
		k.Allocate("llm", p, "server", "nvidia.com/gpu", rampGPU)
	}
	return k.Socket, []Option{WithLookupEnv(lookup), func(d *deps) { d.serviceAccountDir = saDir }}
}

// Without what --engine-pods needs, probe says which input is missing.
func TestProbeEnginePodsErrors(t *testing.T) {
	t.Parallel()
	lookup, saDir := fakeAPIServer(t)
	for _, tt := range []struct {
		name string
		opts []Option
		args []string
		want string
	}{
		{"no node", []Option{WithLookupEnv(env())}, nil, "--engine-pods: no node name"},
		{"not in a pod", []Option{WithLookupEnv(env("NODE_NAME", "gpu-1"))}, nil, "not running in a pod"},
		{"no kubelet", []Option{WithLookupEnv(lookup), func(d *deps) { d.serviceAccountDir = saDir }},
			[]string{"--kubelet-socket", filepath.Join(t.TempDir(), "none.sock")}, "attribution is unavailable: kubelet PodResources socket"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(context.Background(), t, append([]string{"probe", "--replay", rampRecording, "--engine-pods"}, tt.args...),
				append(tt.opts, newFakeClock().option())...)
			assert.NotEqual(t, ExitOK, r.code)
			assert.Contains(t, r.stderr, tt.want)
		})
	}
}
