// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// server is serve running in-process on 127.0.0.1:0.
type server struct {
	grpc, http string
	cancel     context.CancelFunc
	done       chan result
}

// startServe runs serve with args (after the listen flags) until stop.
func startServe(t *testing.T, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan [2]string, 1)
	s := &server{cancel: cancel, done: make(chan result, 1)}
	args = append([]string{"serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}, args...)
	go func() {
		s.done <- run(ctx, t, args, WithListenHook(func(g, h string) { addrs <- [2]string{g, h} }))
	}()
	select {
	case a := <-addrs:
		s.grpc, s.http = a[0], a[1]
	case r := <-s.done:
		cancel()
		t.Fatalf("serve exited with %d before listening: %s", r.code, r.stderr)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not listen within 30s")
	}
	return s
}

// stop cancels serve's context, as SIGTERM does, and returns its result.
func (s *server) stop(t *testing.T) result {
	t.Helper()
	s.cancel()
	select {
	case r := <-s.done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of its context ending")
		return result{}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func waitReady(t *testing.T, s *server) {
	t.Helper()
	require.Eventually(t, func() bool {
		code, _ := get(t, "http://"+s.http+"/readyz")
		return code == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond, "/readyz never answered 200")
}

// TestServeQuery runs serve on the ramp recording and queries it every way.
func TestServeQuery(t *testing.T) {
	t.Parallel()
	s := startServe(t, "--replay", rampRecording, "--replay-speed", "4", "--interval", "100ms", "--log-format", "text", "--node-name", "n1")
	waitReady(t, s)
	code, body := get(t, "http://"+s.http+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)
	_, body = get(t, "http://"+s.http+"/readyz")
	assert.Regexp(t, `^ready: snapshot \d+, 1 device\(s\), \S+ old\n$`, body)

	ctx := context.Background()
	md := []string{"--address", s.grpc, "--metadata", "metric=sm_active_percent,targetValue=60,aggregation=sum"}

	t.Run("text", func(t *testing.T) {
		r := run(ctx, t, append([]string{"query"}, md...))
		require.Equal(t, ExitOK, r.code, r.stderr)
		for _, want := range []string{
			"ScaledObject  default/query\n",
			"metadata      aggregation=sum metric=sm_active_percent targetValue=60\n",
			"metric        nvml-sm-active-percent-sum, target 60\n",
			"onMissing     fail (default for sum): a lost, failed or hung selected GPU makes the answer Unavailable\n",
			"desired replicas from 1 current, 1 ready (HPA tolerance 0.1; before min/maxReplicaCount and behavior):\n",
			"  metricType AverageValue  ",
			"  KEDA's default: ceil(value / target)\n",
			"  metricType Value         ",
		} {
			assert.Contains(t, r.stdout, want)
		}
		assert.NotContains(t, r.stdout, "note:", "aggregation=sum needs no warning")
	})
	t.Run("json", func(t *testing.T) {
		r := run(ctx, t, append([]string{"query", "-o", "json", "--current-replicas", "3", "--name", "vllm", "--namespace", "ml"}, md...))
		require.Equal(t, ExitOK, r.code, r.stderr)
		var j queryJSON
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &j))
		assert.Equal(t, "nvml-sm-active-percent-sum", j.MetricName)
		assert.Equal(t, 60.0, j.Target)
		require.NotNil(t, j.Value)
		require.NotNil(t, j.Active)
		assert.Equal(t, *j.Value > 0, *j.Active)
		assert.Equal(t, int32(3), j.CurrentReplicas)
		assert.Equal(t, "vllm", j.Name)
		assert.Equal(t, "ml", j.Namespace)
		assert.Equal(t, "AverageValue", j.DefaultMetricType)
		assert.Equal(t, "fail (default for sum)", j.OnMissing)
		assert.Contains(t, j.DesiredReplicas, "AverageValue")
		assert.Contains(t, j.DesiredReplicas, "Value")
	})
	t.Run("watch", func(t *testing.T) {
		r := run(ctx, t, append([]string{"query", "--watch", "--interval", "50ms", "--count", "3"}, md...))
		require.Equal(t, ExitOK, r.code, r.stderr)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		require.Len(t, lines, 6, r.stdout)
		assert.Contains(t, lines[1], "AverageValue (KEDA's default)")
		assert.Equal(t, "TIME           VALUE  ACTIVE  AVERAGEVALUE  VALUE", lines[2])
		for _, l := range lines[3:] {
			assert.Regexp(t, `^\d\d:\d\d:\d\d +\d+\.\d\d  (true|false) +\d+ +\d+$`, l)
		}
	})
	t.Run("watch json", func(t *testing.T) {
		r := run(ctx, t, append([]string{"query", "--watch", "--interval", "50ms", "--count", "2", "-o", "json"}, md...))
		require.Equal(t, ExitOK, r.code, r.stderr)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		require.Len(t, lines, 2)
		for _, l := range lines {
			var j queryJSON
			require.NoError(t, json.Unmarshal([]byte(l), &j))
			assert.NotEmpty(t, j.Time)
		}
	})
	t.Run("avg against AverageValue is flagged", func(t *testing.T) {
		r := run(ctx, t, []string{"query", "--address", s.grpc, "--metadata", "metric=sm_active_percent,targetValue=60"})
		require.Equal(t, ExitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "note: with metricType AverageValue the HPA divides the value by the replica count")
	})
	t.Run("scaledobject file", func(t *testing.T) {
		r := run(ctx, t, []string{"query", "--address", s.grpc, "-f", "testdata/scaledobject-vllm.yaml"})
		require.Equal(t, ExitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "inference/vllm (testdata/scaledobject-vllm.yaml, trigger 1, external)")
		assert.Contains(t, r.stdout, "scalerAddress=nvml-scaler.keda.svc:6000", "KEDA forwards its own keys too")
		assert.Regexp(t, `metricType AverageValue +\d+ +KEDA's default: ceil\(value / target\)  ← this trigger`, r.stdout)
	})
	t.Run("scaledobject trigger by name", func(t *testing.T) {
		r := run(ctx, t, []string{"query", "--address", s.grpc, "-f", "testdata/scaledobject-two-triggers.yaml", "--trigger-name", "power", "-o", "json"})
		require.Equal(t, ExitOK, r.code, r.stderr)
		var j queryJSON
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &j))
		assert.Equal(t, "nvml-power-watts-avg", j.MetricName)
		assert.Equal(t, "Value", j.TriggerMetricType)
		assert.Equal(t, "triton", j.Name)
		assert.Equal(t, "default", j.Namespace)
	})
	t.Run("metadata flag overrides the file", func(t *testing.T) {
		r := run(ctx, t, []string{"query", "--address", s.grpc, "-f", "testdata/scaledobject-vllm.yaml", "--metadata", "targetValue=30", "-o", "json"})
		require.Equal(t, ExitOK, r.code, r.stderr)
		var j queryJSON
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &j))
		assert.Equal(t, 30.0, j.Target)
	})
	t.Run("grpc errors print code and message", func(t *testing.T) {
		r := run(ctx, t, []string{"query", "--address", s.grpc, "--metadata", "metric=power_watts,targetValue=400,gpuIndexes=7"})
		assert.Equal(t, ExitError, r.code)
		assert.Contains(t, r.stderr, `nvml-scaler: GetMetrics: NotFound: no GPU on node "n1" matches`)
	})
	t.Run("failed watch rounds", func(t *testing.T) {
		r := run(ctx, t, []string{"query", "--address", s.grpc, "--watch", "--count", "2", "--interval", "10ms",
			"--metadata", "metric=power_watts,targetValue=400,gpuIndexes=7"})
		assert.Equal(t, ExitError, r.code)
		assert.Contains(t, r.stdout, "error: GetMetrics: NotFound:")
		assert.Contains(t, r.stderr, "nvml-scaler: 2 of 2 rounds failed")
	})

	r := s.stop(t)
	assert.Equal(t, ExitOK, r.code, "SIGTERM drains and exits 0: %s", r.stderr)
	assert.Contains(t, r.stderr, `msg="nvml-scaler starting"`)
	assert.Contains(t, r.stderr, "grpc="+s.grpc+" http="+s.http)
	assert.Contains(t, r.stderr, `source="replay `+rampRecording+` (speed 4x, looping)" node=n1`)
	assert.Contains(t, r.stderr, `msg="nvml-scaler stopping: draining open calls"`)
	assert.Contains(t, r.stderr, `msg="nvml-scaler stopped"`)
}

// TestServeNotReady: without NVML serve stays up, live but not ready, and
// KEDA's calls fail with Unavailable and the reason.
func TestServeNotReady(t *testing.T) {
	t.Parallel()
	s := startServe(t, "--nvml-lib", "/nonexistent/libnvidia-ml.so.1")
	code, _ := get(t, "http://"+s.http+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	require.Eventually(t, func() bool {
		_, body := get(t, "http://"+s.http+"/readyz")
		return strings.Contains(body, "cannot load NVML")
	}, 10*time.Second, 10*time.Millisecond)
	code, body := get(t, "http://"+s.http+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.True(t, strings.HasPrefix(body, "not ready: cannot load NVML (libnvidia-ml.so.1); tried:\n  /nonexistent/libnvidia-ml.so.1: "), body)

	r := run(context.Background(), t, []string{"query", "--address", s.grpc, "--metadata", "metric=power_watts,targetValue=400"})
	assert.Equal(t, ExitError, r.code)
	assert.Contains(t, r.stderr, "nvml-scaler: GetMetrics: Unavailable: not ready: cannot load NVML")

	r = s.stop(t)
	assert.Equal(t, ExitOK, r.code, r.stderr)
	first, _, _ := strings.Cut(r.stderr, "\n")
	var line map[string]any
	require.NoError(t, json.Unmarshal([]byte(first), &line), "JSON logs by default")
	assert.Equal(t, "nvml-scaler starting", line["msg"])
	assert.Equal(t, "nvml /nonexistent/libnvidia-ml.so.1", line["source"])
	assert.Equal(t, "gpu-node-1", line["node"], "the host name without NODE_NAME")
}

// TestServeListenError: a taken port is a run-time error naming the flag.
func TestServeListenError(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer lis.Close()
	r := run(context.Background(), t, []string{"serve", "--replay", rampRecording, "--listen", lis.Addr().String()})
	assert.Equal(t, ExitError, r.code)
	assert.Contains(t, r.stderr, "nvml-scaler: --listen: listen tcp "+lis.Addr().String())
}

// TestQueryUnreachable: nothing listening is Unavailable with a hint.
func TestQueryUnreachable(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	r := run(context.Background(), t, []string{"query", "--address", addr, "--timeout", "2s", "--metadata", "metric=power_watts,targetValue=400"})
	assert.Equal(t, ExitError, r.code)
	assert.Contains(t, r.stderr, "nvml-scaler: GetMetricSpec: Unavailable: ")
	assert.Contains(t, r.stderr, "(is nvml-scaler serve listening on "+addr+"?)")

	// A scaler without TLS, asked with TLS.
	s := startServe(t, "--replay", rampRecording)
	r = run(context.Background(), t, []string{"query", "--address", s.grpc, "--tls", "--metadata", "metric=power_watts,targetValue=400"})
	assert.Equal(t, ExitError, r.code)
	assert.Contains(t, r.stderr, "(the scaler does not use TLS: drop the TLS flags)")
	assert.Equal(t, ExitOK, s.stop(t).code)
}

func TestQueryScaledObjectErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"several external triggers", nil, ExitUsage,
			`several external triggers: pick one with --trigger-index or --trigger-name; it has 0: external (name "sm"), 1: external-push (name "power"), 2: external (name "unquoted")`},
		{"unknown name", []string{"--trigger-name", "nope"}, ExitUsage, `--trigger-name "nope": no trigger has that name`},
		{"index out of range", []string{"--trigger-index", "5"}, ExitUsage, "--trigger-index 5: it has 3 trigger(s)"},
		{"unquoted number", []string{"--trigger-index", "2"}, ExitError, `trigger 2: metadata "targetValue" is 400, not a string: quote it ("400")`},
		{"no such object", []string{"--name", "vllm"}, ExitError, `no ScaledObject named "vllm"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"query", "-f", "testdata/scaledobject-two-triggers.yaml"}, tt.args...)
			r := run(context.Background(), t, args)
			assert.Equal(t, tt.code, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.want)
		})
	}
}

func TestParseMetadata(t *testing.T) {
	t.Parallel()
	md := map[string]string{"metric": "from-file", "aggregation": "avg"}
	require.NoError(t, parseMetadata(md, []string{
		"metric=sm_active_percent,gpuIndexes=0,1,2,targetValue=60",
		"gpuModel=NVIDIA H200, window=30s",
	}))
	assert.Equal(t, map[string]string{
		"metric": "sm_active_percent", "gpuIndexes": "0,1,2", "targetValue": "60",
		"gpuModel": "NVIDIA H200", "window": "30s", "aggregation": "avg",
	}, md)
	assert.Error(t, parseMetadata(map[string]string{}, []string{"=x"}))
}
