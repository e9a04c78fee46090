// SPDX-License-Identifier: Apache-2.0

//go:build !agent

package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	ct "github.com/nvml-scaler/nvml-scaler/internal/clustertest"
)

// TestAggregateMux: /healthz always 200; /readyz 503 until the Kubernetes
// cache has synced, then 200; /metrics the aggregator's registry.
func TestAggregateMux(t *testing.T) {
	t.Parallel()
	agg, err := aggregator.New(aggregator.Config{Kube: ct.Kube(), Discovery: aggregator.Static(nil)})
	require.NoError(t, err)
	mux := aggregateMux(agg)
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	assert.Equal(t, http.StatusOK, get("/healthz").Code)
	r := get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, r.Code)
	assert.Contains(t, r.Body.String(), "not synced")
	assert.Contains(t, get("/metrics").Body.String(), "nvml_scaler_aggregator_informers_synced 0\n")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agg.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	require.Eventually(t, func() bool { return get("/readyz").Code == http.StatusOK }, 10*time.Second, 5*time.Millisecond)
	assert.Contains(t, get("/metrics").Body.String(), "nvml_scaler_aggregator_informers_synced 1\n")

	// /debug/engine answers query: an engine trigger's pods, or why none.
	r = get("/debug/engine?scaledObjectName=llm&scaledObjectNamespace=prod&metric=power_watts&targetValue=1")
	assert.Equal(t, http.StatusBadRequest, r.Code)
	assert.Contains(t, r.Body.String(), `"error":"InvalidArgument: not an engine metric`)
	r = get("/debug/engine?scaledObjectName=llm&scaledObjectNamespace=prod&metric=requests_waiting&targetValue=5")
	assert.Equal(t, http.StatusOK, r.Code)
	assert.Contains(t, r.Body.String(), `"error":"NotFound: `)
	assert.Contains(t, r.Body.String(), "prod/llm")
}

func TestAggregateHTTPListenUsage(t *testing.T) {
	t.Parallel()
	r := run(context.Background(), t, []string{"aggregate", "--agents", "a:1", "--http-listen", "8080"})
	assert.Equal(t, ExitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, `--http-listen "8080": want host:port`)
}
