// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// metricsNamespace prefixes the aggregator's metrics as the agents' are
// prefixed (nvml_scaler_…), with the subsystem "aggregator".
const metricsNamespace, metricsSubsystem = "nvml_scaler", "aggregator"

// metrics is the aggregator's Prometheus instrumentation, on a private
// registry (never the global one):
//
//	nvml_scaler_aggregator_agents                     gauge      agents discovered
//	nvml_scaler_aggregator_streams_connected          gauge      agents whose snapshot stream is open and has delivered
//	nvml_scaler_aggregator_agents_stale               gauge      connected agents whose newest snapshot is older than
//	                                                             scaler.StaleIntervals sweep intervals
//	nvml_scaler_aggregator_informers_synced           gauge      1 once every informer has listed (readiness)
//	nvml_scaler_aggregator_request_duration_seconds   histogram  every unary ExternalScaler call, by method and gRPC code
//	nvml_scaler_aggregator_refused_total{limit}       counter    connections (limit="connections") and calls
//	                                                             (limit="calls") refused for the KEDA port's limits
//
// plus the Go runtime's go_* and the process's process_* metrics. The gauges
// are computed from the aggregator's state when scraped.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
	refused  *prometheus.CounterVec
}

func newMetrics(a *Aggregator) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "request_duration_seconds",
			Help: "Time to answer one unary ExternalScaler call (GetMetrics, IsActive, GetMetricSpec), by method and gRPC code.",
			// Answers come from memory: ~tens of µs; the top buckets catch
			// lock contention or a huge selection.
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"method", "code"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "refused_total",
			Help: "Connections and calls refused for the KEDA-facing port's limits before gRPC saw them, by limit: connections, calls.",
		}, []string{"limit"}),
	}
	for _, limit := range []string{"connections", "calls"} {
		m.refused.WithLabelValues(limit) // exported at 0 from the start
	}
	m.reg.MustRegister(m.requests, m.refused, &stateCollector{a: a},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// unary times every unary call.
func (m *metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := h(ctx, req)
	m.requests.WithLabelValues(info.FullMethod, status.Code(err).String()).Observe(time.Since(start).Seconds())
	return resp, err
}

// connRefused counts a connection closed for Config.MaxConnections.
func (m *metrics) connRefused() { m.refused.WithLabelValues("connections").Inc() }

// callRefused counts a call refused for the limit on calls open at once.
func (m *metrics) callRefused() { m.refused.WithLabelValues("calls").Inc() }

// MetricsHandler serves the aggregator's metrics in Prometheus' text format
// (aggregate --http-listen's /metrics).
func (a *Aggregator) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{})
}

// Ready reports whether the aggregator answers KEDA: once every informer has
// listed. It is what gRPC health's "readiness" and /readyz say.
func (a *Aggregator) Ready() bool { return a.works.synced.Load() }

// NotReadyReason says why the aggregator is not ready: the Kubernetes cache
// has not synced, with each failing informer's last list error and its fix
// (RBAC, the KEDA CRDs, a cluster without DRA's API under Config.DRA). ""
// once ready.
func (a *Aggregator) NotReadyReason() string { return a.works.notReadyReason() }

var (
	descAgents = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "agents"),
		"Agents discovered (the -peers Service's addresses, or --agents).", nil, nil)
	descConnected = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "streams_connected"),
		"Agents whose snapshot stream is open and has delivered a snapshot.", nil, nil)
	descStale = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "agents_stale"),
		"Connected agents whose newest snapshot is older than the stale limit: requests for their pods answer Unavailable.", nil, nil)
	descSynced = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "informers_synced"),
		"1 once every informer (pods, ReplicaSets, Deployments, StatefulSets, ScaledObjects, and ResourceClaims with DRA) has listed; the aggregator is ready.", nil, nil)
)

// stateCollector computes the gauges from the aggregator's state at scrape
// time.
type stateCollector struct{ a *Aggregator }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAgents, descConnected, descStale, descSynced} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	var connected, stale int
	agents := c.a.Agents()
	for _, s := range agents {
		if s.Connected {
			connected++
			if !s.Fresh {
				stale++
			}
		}
	}
	synced := 0.0
	if c.a.Ready() {
		synced = 1
	}
	ch <- prometheus.MustNewConstMetric(descAgents, prometheus.GaugeValue, float64(len(agents)))
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, float64(connected))
	ch <- prometheus.MustNewConstMetric(descStale, prometheus.GaugeValue, float64(stale))
	ch <- prometheus.MustNewConstMetric(descSynced, prometheus.GaugeValue, synced)
}
