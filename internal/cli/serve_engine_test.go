// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serve --engine-target scrapes a real SGLang body and answers engine
// triggers through the same gRPC API; query reads them; /metrics counts the
// scrapes.
func TestServeEngineTarget(t *testing.T) {
	body, err := os.ReadFile("../../engine/testdata/engines/sglang_docs.txt")
	require.NoError(t, err)
	eng := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	defer eng.Close()
	s := startServe(t, "--replay", rampRecording, "--interval", "100ms",
		"--engine-target", "sglang-0="+eng.URL+"/metrics", "--engine-interval", "100ms")
	waitReady(t, s)
	ctx := context.Background()
	var j queryJSON
	require.Eventually(t, func() bool {
		r := run(ctx, t, []string{"query", "-o", "json", "--address", s.grpc,
			"--metadata", "metric=requests_waiting,targetValue=5"})
		return r.code == ExitOK && json.Unmarshal([]byte(r.stdout), &j) == nil && j.Value != nil
	}, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, "nvml-engine-requests-waiting-sum", j.MetricName)
	assert.Equal(t, 2826.0, *j.Value)
	assert.True(t, *j.Active)

	r := run(ctx, t, []string{"query", "--address", s.grpc, "--metadata", "metric=kv_cache_usage_percent,targetValue=50,aggregation=avg"})
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "onMissing     fail (default for engine metrics): a counted engine target without a value makes the answer Unavailable\n",
		"an engine trigger's own policy, not a GPU trigger's default for avg")

	r = run(ctx, t, []string{"query", "--address", s.grpc, "--metadata", "metric=queue_time_seconds,targetValue=1"})
	assert.NotEqual(t, ExitOK, r.code, "this SGLang body has no queue-time histogram")
	assert.Contains(t, r.stdout+r.stderr, "sglang")

	_, metrics := get(t, "http://"+s.http+"/metrics")
	assert.Contains(t, metrics, `nvml_scaler_engine_scrapes_total{result="ok"}`)
	res := s.stop(t)
	assert.Equal(t, ExitOK, res.code, res.stderr)
}

func TestServeEngineFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--engine-target", "no-url"},
		{"--engine-target", "a=ftp://x/metrics"},
		{"--engine-target", "a=http://x/m", "--engine-target", "a=http://y/m"},
		{"--engine-target", "a=http://x/m", "--engine-interval", "1s", "--engine-timeout", "2s"},
		{"--engine-target", "a=http://x/m", "--engine-max-bytes", "0"},
		{"--engine-pods"},                         // no node name
		{"--engine-pods", "--node-name", "gpu-1"}, // not in a pod: no API server, no token
	} {
		r := run(context.Background(), t, append([]string{"serve", "--replay", rampRecording, "--listen", "127.0.0.1:0",
			"--http-listen", "127.0.0.1:0"}, args...))
		assert.NotEqual(t, ExitOK, r.code, "%v", args)
		assert.Contains(t, r.stderr, "--engine-", "%v", args)
	}
}

func TestServeDRAFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dra"}, "--dra attributes DRA GPUs to pods, which only --node-api-listen and --engine-pods use"},
		{[]string{"--dra", "--node-api-listen", "127.0.0.1:0"}, "--dra: no node name"},
		{[]string{"--dra", "--node-api-listen", "127.0.0.1:0", "--node-name", "gpu-1"}, "--dra: pod watch: KUBERNETES_SERVICE_HOST"},
	} {
		r := run(context.Background(), t, append([]string{"serve", "--replay", rampRecording, "--listen", "127.0.0.1:0",
			"--http-listen", "127.0.0.1:0"}, tc.args...))
		assert.NotEqual(t, ExitOK, r.code, "%v", tc.args)
		assert.Contains(t, r.stderr, tc.want, "%v", tc.args)
	}
	// In a pod, --dra reads the token and CA where --engine-pods does.
	saDir := t.TempDir()
	r := run(context.Background(), t, []string{"serve", "--replay", rampRecording, "--listen", "127.0.0.1:0",
		"--http-listen", "127.0.0.1:0", "--dra", "--node-api-listen", "127.0.0.1:0", "--node-name", "gpu-1"},
		WithLookupEnv(env("KUBERNETES_SERVICE_HOST", "127.0.0.1", "KUBERNETES_SERVICE_PORT", "1")),
		func(d *deps) { d.serviceAccountDir = saDir })
	assert.NotEqual(t, ExitOK, r.code)
	assert.Contains(t, r.stderr, filepath.Join(saDir, "ca.crt"), "the service-account directory serve was given")
}

// probe --engine-target shows each target's engine, queue, KV cache and TTFT
// next to the GPUs.
func TestProbeEngineTarget(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile("../../engine/testdata/engines/sglang_docs.txt")
	require.NoError(t, err)
	eng := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	defer eng.Close()
	clk := newFakeClock()
	r := run(context.Background(), t, []string{"probe", "--replay", rampRecording, "-o", "json",
		"--engine-target", "sglang-0=" + eng.URL, "--engine-target", "down=http://127.0.0.1:1/metrics"}, clk.option())
	require.Equal(t, ExitOK, r.code, r.stderr)
	var rep probeReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Len(t, rep.Engines, 2)
	e := rep.Engines[0]
	assert.Equal(t, "sglang", e.Engine)
	require.NotNil(t, e.RequestsWaiting)
	assert.Equal(t, 2826.0, *e.RequestsWaiting)
	assert.InDelta(t, 28.0, *e.KVCacheUsagePercent, 1e-9)
	assert.Nil(t, e.TTFTSeconds, "the same body twice: no request finished between the scrapes")
	assert.Contains(t, e.Absent["ttft_seconds"], "no observations")
	assert.Contains(t, rep.Engines[1].Error, "127.0.0.1:1")

	r = run(context.Background(), t, []string{"probe", "--replay", rampRecording,
		"--engine-target", "sglang-0=" + eng.URL}, clk.option())
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "TARGET")
	assert.Regexp(t, `sglang-0\s+sglang\s+2826\s+162\s+28\.0\s+-`, r.stdout)
}
