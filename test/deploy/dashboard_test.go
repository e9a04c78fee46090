// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	ct "github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/internal/metrics"
	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

const dashboardFile = repoRoot + "/deploy/grafana/nvml-scaler-dashboard.json"

// metricName finds the series names a PromQL expression reads: ours, the Go
// runtime's and the process's.
var metricName = regexp.MustCompile(`\b((?:nvml_scaler|go|process)_[a-z0-9_]+)\b`)

// TestDashboardAndAlertsQueryRealSeries: every series the Grafana dashboard
// and the PrometheusRule query is one the agent or the aggregator exposes,
// as their code registers it (a misspelt or renamed metric fails here, not
// as an empty panel or an alert that never fires).
func TestDashboardAndAlertsQueryRealSeries(t *testing.T) {
	t.Parallel()
	exposed := exposedSeries(t)
	queried := map[string][]string{} // series -> where
	b, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				queried[m] = append(queried[m], "dashboard panel "+p.Title)
			}
		}
	}
	docs, err := renderHelmWith(t, withAPIs(prometheusOperatorAPIs...), nil, "values-cluster.yaml", "values-monitoring.yaml")
	require.NoError(t, err)
	for _, g := range only[*monitoringv1.PrometheusRule](t, decodeAll(t, docs)).Spec.Groups {
		for _, r := range g.Rules {
			for _, m := range metricName.FindAllString(r.Expr.String(), -1) {
				queried[m] = append(queried[m], "alert "+r.Alert)
			}
		}
	}
	require.Greater(t, len(queried), 15, "the dashboard and the alerts query our series")
	for m, where := range queried {
		assert.Contains(t, exposed, m, "%s, queried by %v, is exposed by neither the agent nor the aggregator", m, where)
	}
}

// exposedSeries returns every series name the agent's and the aggregator's
// /metrics handlers serve once each of their metrics has been observed once
// (histograms as _bucket, _sum and _count), read from the "# TYPE" lines of
// the text format.
func exposedSeries(t *testing.T) map[string]bool {
	out := map[string]bool{}
	for _, h := range []http.Handler{agentMetrics(t).Handler(), aggregatorMetrics(t)} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		require.Equal(t, http.StatusOK, rec.Code)
		for _, line := range strings.Split(rec.Body.String(), "\n") {
			f := strings.Fields(line)
			if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
				continue
			}
			out[f[2]] = true
			if f[3] == "histogram" {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					out[f[2]+suffix] = true
				}
			}
		}
	}
	return out
}

// agentMetrics is serve's registry after one sweep of a two-GPU source, one
// failed sweep, one failed NVML call and one gRPC call.
func agentMetrics(t *testing.T) *metrics.Metrics {
	m := metrics.New(metrics.Options{})
	s, err := scaler.NewSampler(scaler.SamplerConfig{Source: oneGPU{}})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	m.WatchSampler(s)
	_, err = s.Sweep(context.Background())
	require.NoError(t, err)
	m.ObserveSweep(time.Millisecond, nil)
	m.ObserveSweep(time.Millisecond, errors.New("sweep failed"))
	m.NVMLError(&nvml.CallError{Func: "nvmlDeviceGetPowerUsage", Return: nvml.ErrGPULost})
	gs := grpc.NewServer(m.ServerOptions()...)
	healthpb.RegisterHealthServer(m.Services(gs), health.NewServer())
	callOnce(t, gs, func(cc *grpc.ClientConn) error {
		_, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{})
		return err
	})
	return m
}

// aggregatorMetrics is the aggregator's /metrics, synced, after one call.
func aggregatorMetrics(t *testing.T) http.Handler {
	agg, err := aggregator.New(aggregator.Config{Kube: ct.Kube(), Discovery: aggregator.Static(nil)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agg.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	require.Eventually(t, agg.Ready, 10*time.Second, 5*time.Millisecond)
	gs := grpc.NewServer(agg.ServerOptions()...)
	agg.Register(gs)
	callOnce(t, gs, func(cc *grpc.ClientConn) error {
		_, err := pb.NewExternalScalerClient(cc).GetMetricSpec(context.Background(), &pb.ScaledObjectRef{
			Name: "so", Namespace: "ns", ScalerMetadata: map[string]string{"metric": "power_watts", "targetValue": "1"}})
		return err
	})
	return agg.MetricsHandler()
}

// callOnce serves gs on an in-memory listener for one client call.
func callOnce(t *testing.T, gs *grpc.Server, call func(*grpc.ClientConn) error) {
	lis := bufconn.Listen(1 << 16)
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	cc, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	_ = call(cc) // the answer does not matter, only that the call was counted
}

// oneGPU is a Source with one GPU that answers power.
type oneGPU struct{}

func (oneGPU) Devices(context.Context) ([]scaler.Device, error) {
	return []scaler.Device{{Index: 0, UUID: "GPU-a", Model: "NVIDIA H200"}}, nil
}

func (oneGPU) Read(context.Context, int) (scaler.Reading, error) {
	return scaler.Reading{PowerMilliwatts: scaler.Got[uint32](350_000)}, nil
}

func (oneGPU) Close() error { return nil }

// The dashboard lives where docs/deploy.md says.
func TestDashboardFile(t *testing.T) {
	t.Parallel()
	_, err := os.Stat(filepath.Clean(dashboardFile))
	require.NoError(t, err)
	b, _ := os.ReadFile(dashboardFile)
	assert.Contains(t, string(b), `"uid": "nvml-scaler"`)
}
