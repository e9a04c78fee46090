// SPDX-License-Identifier: Apache-2.0

package aggregator_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
)

// scrape returns the body of agg's /metrics.
func scrape(t *testing.T, agg *aggregator.Aggregator) string {
	t.Helper()
	rec := httptest.NewRecorder()
	agg.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(b)
}

// TestMetricsState: the gauges follow the agents and the cache: three
// connected agents, then one killed (disconnected) and, with the clock moved
// on, the others stale.
func TestMetricsState(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	body := scrape(t, c.agg)
	for _, want := range []string{
		"nvml_scaler_aggregator_agents 3\n",
		"nvml_scaler_aggregator_streams_connected 3\n",
		"nvml_scaler_aggregator_agents_stale 0\n",
		"nvml_scaler_aggregator_informers_synced 1\n",
		"go_goroutines ", "process_resident_memory_bytes ",
	} {
		assert.Contains(t, body, want)
	}
	assert.True(t, c.agg.Ready())

	// No sweep for longer than the stale limit: every agent is stale.
	c.clk.Advance(time.Minute)
	assert.Contains(t, scrape(t, c.agg), "nvml_scaler_aggregator_agents_stale 3\n")
}

// TestMetricsRequestDuration: a call through the gRPC server is timed, by
// method and code.
func TestMetricsRequestDuration(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	gs := grpc.NewServer(c.agg.ServerOptions()...)
	c.agg.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	t.Cleanup(func() {
		gs.Stop()
		require.NoError(t, <-served)
	})
	conn := dial(t, lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	client := pb.NewExternalScalerClient(conn)
	_, err = client.GetMetrics(context.Background(), c.req("vllm-so", "llm", nil))
	require.NoError(t, err)
	_, err = client.GetMetrics(context.Background(), c.req("missing-so", "llm", nil))
	require.Error(t, err)

	body := scrape(t, c.agg)
	for _, code := range []string{"OK", "NotFound"} {
		re := regexp.MustCompile(`nvml_scaler_aggregator_request_duration_seconds_count\{code="` + code +
			`",method="/externalscaler.ExternalScaler/GetMetrics"\} 1\n`)
		assert.Regexp(t, re, body)
	}
}
