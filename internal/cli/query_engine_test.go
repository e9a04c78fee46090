// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
)

// query names the engine targets whose readings went into an engine
// trigger's value, and those left out with their reason, from serve's
// /debug/engine; a GPU trigger's output has no such lines.
func TestQueryEngineContributors(t *testing.T) {
	t.Parallel()
	sglang := engineServer(t, clustertest.EngineBody(t, "sglang_docs.txt"))
	s := startServe(t, "--replay", rampRecording, "--interval", "100ms", "--engine-interval", "100ms",
		"--engine-target", "sglang-0="+sglang, "--engine-target", "down=http://127.0.0.1:1/metrics")
	waitReady(t, s)
	skip := "metric=requests_waiting,targetValue=5,onMissing=skip"
	require.Equal(t, 2826.0, queryValue(t, s, skip))
	ctx := context.Background()

	r := run(ctx, t, []string{"query", "--address", s.grpc, "--http-address", s.http, "--metadata", skip})
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Regexp(t, `\npods\s+sglang-0 \(their readings make the value\)\n`, r.stdout)
	assert.Regexp(t, `\nonMissing\s+skip \(set\): a counted engine target without a value is left out\n`, r.stdout)
	assert.Regexp(t, `\nleft out\s+down: engine target absent: scrape http://127.0.0.1:1/metrics: .*connection refused`, r.stdout)

	r = run(ctx, t, []string{"query", "-o", "json", "--address", s.grpc, "--http-address", s.http, "--metadata", skip})
	require.Equal(t, ExitOK, r.code, r.stderr)
	var j queryJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &j))
	assert.Equal(t, []string{"sglang-0"}, j.Contributed)
	require.Len(t, j.LeftOut, 1)
	assert.Equal(t, "down", j.LeftOut[0].Name)
	assert.Equal(t, "skip (set)", j.OnMissing)

	r = run(ctx, t, []string{"query", "--address", s.grpc, "--http-address", s.http, "--metadata",
		"metric=kv_cache_usage_percent,targetValue=50,aggregation=avg"})
	assert.Equal(t, ExitError, r.code, "an engine trigger fails by default whatever its aggregation: down has no value")
	r = run(ctx, t, []string{"query", "-o", "json", "--address", s.grpc, "--http-address", s.http, "--metadata",
		"metric=kv_cache_usage_percent,targetValue=50,aggregation=avg,onMissing=skip"})
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &j))
	assert.InDelta(t, 28.0, *j.Value, 1e-9)

	r = run(ctx, t, []string{"query", "--address", s.grpc, "--http-address", s.http, "--metadata", "metric=requests_waiting,targetValue=5"})
	assert.Equal(t, ExitError, r.code)
	assert.Contains(t, r.stderr, "(onMissing: fail)")
	assert.Contains(t, r.stderr, "\nleft out: down: ")

	r = run(ctx, t, []string{"query", "--address", s.grpc, "--http-address", "127.0.0.1:1", "--metadata", skip})
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Regexp(t, `\npods\s+unknown: GET http://127.0.0.1:1/debug/engine: .* \(set --http-address to the scaler's --http-listen\)`, r.stdout)

	r = run(ctx, t, []string{"query", "--address", s.grpc, "--http-address", s.http, "--metadata", "metric=power_watts,targetValue=300"})
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.NotRegexp(t, `\npods\s`, r.stdout)

	code, body := get(t, "http://"+s.http+"/debug/engine?metric=power_watts&targetValue=3")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "InvalidArgument: not an engine metric")
	res := s.stop(t)
	assert.Equal(t, ExitOK, res.code, res.stderr)
}
