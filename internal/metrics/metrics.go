// SPDX-License-Identifier: Apache-2.0

// Package metrics is serve's Prometheus instrumentation: a private registry
// (never the global default one) holding every nvml_scaler_… metric, fed by
// hooks on the Sampler, the NVML source and the gRPC server, plus gauges
// computed from the newest snapshot when /metrics is scraped.
//
// Metrics (all prefixed nvml_scaler_):
//
//	sweep_duration_seconds            histogram  every sweep: published, failed or abandoned
//	sweeps_failed_total{reason}       counter    not_ready, abandoned (deadline), other
//	nvml_errors_total{function,code}  counter    every failed NVML call; code is NVML's name, e.g. GPU_IS_LOST
//	rpc_requests_total{method,code}   counter    every gRPC call, code as gRPC names it, refused ones
//	                                             too; method "unknown" for one serve does not define
//	refused_total{limit}              counter    connections (limit="connections") and calls
//	                                             (limit="calls") refused for serve's limits before gRPC
//	tls_handshake_failures_total      counter    TLS handshakes the server refused or that failed
//	streams_open                      gauge      StreamIsActive (and other) streams being served
//	ready                             gauge      1 while readiness is SERVING (a fresh snapshot)
//	snapshot_age_seconds              gauge      age of the newest snapshot; absent before the first
//	gpus / gpus_lost                  gauge      devices in the newest snapshot / of them lost
//	gpu_<metric>{uuid,index,model}    gauge      opt-in (Options.PerGPU): each catalogue metric
//	                                             present on a device in a fresh snapshot
//	gpu_up{uuid,index,model}          gauge      opt-in: 1 when the device answered, 0 when lost or failed
//
// The Go runtime's go_* and the process's process_* metrics are registered too.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

const namespace = "nvml_scaler"

// Options configure [New].
type Options struct {
	// PerGPU adds a gauge per device and catalogue metric (serve
	// --per-gpu-metrics). Off by default: dcgm-exporter already does this, and
	// a node with MIG devices multiplies the series.
	PerGPU bool
	// Now is the clock for snapshot ages (the Sampler's); nil means time.Now.
	Now func() time.Time
}

// Metrics holds the registry and the collectors the hooks update. Its methods
// are safe for concurrent use.
type Metrics struct {
	reg          *prometheus.Registry
	opts         Options
	sweep        prometheus.Histogram
	sweepsFailed *prometheus.CounterVec
	nvmlErrors   *prometheus.CounterVec
	rpcs         *prometheus.CounterVec
	// calls holds rpcs' counters by method and code (see callCounters).
	calls   map[string]*callCounters
	streams prometheus.Gauge
	// refused and handshakeFailures count what never became a call.
	refused           *prometheus.CounterVec
	handshakeFailures prometheus.Counter
}

// New returns Metrics on a new private registry.
func New(opts Options) *Metrics {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Metrics{
		reg:  prometheus.NewRegistry(),
		opts: opts,
		sweep: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "sweep_duration_seconds",
			Help: "Time one sweep of every GPU took, published, failed or abandoned.",
			// 8 GPUs sweep in ~0.2 ms on the fake library and ~1 ms on an H200;
			// the top buckets catch a blocking driver.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		sweepsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "sweeps_failed_total",
			Help: "Sweeps that published nothing, by reason: not_ready (NVML unavailable or being re-initialised), abandoned (overran the sweep deadline), other.",
		}, []string{"reason"}),
		nvmlErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "nvml_errors_total",
			Help: "Failed NVML calls by C function and NVML return code name (NOT_SUPPORTED is counted too).",
		}, []string{"function", "code"}),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rpc_requests_total",
			Help: "gRPC calls by full method name (\"unknown\" for one serve does not define) and gRPC status code, including calls refused before a handler.",
		}, []string{"method", "code"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "streams_open",
			Help: "Server streams being served (KEDA's StreamIsActive for external-push triggers).",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "refused_total",
			Help: "Connections and calls refused for serve's limits before gRPC saw them, by limit: connections, calls.",
		}, []string{"limit"}),
		handshakeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "tls_handshake_failures_total",
			Help: "TLS handshakes on the gRPC port that failed (plaintext clients, unknown client certificates, protocol errors).",
		}),
		calls: callTable(),
	}
	for _, limit := range []string{"connections", "calls"} {
		m.refused.WithLabelValues(limit) // exported at 0 from the start
	}
	m.reg.MustRegister(m.sweep, m.sweepsFailed, m.nvmlErrors, m.rpcs, m.streams, m.refused, m.handshakeFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the private registry, to register more collectors on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats (/metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Value returns the value of the counter or gauge (or the sample count of the
// histogram) called name (without the nvml_scaler_ prefix) whose labels are
// exactly the given name/value pairs, and whether there is one. For tests and
// tools; scraping is what production uses.
func (m *Metrics) Value(name string, labels ...string) (float64, bool) {
	families, err := m.reg.Gather()
	if err != nil {
		return 0, false
	}
	for _, f := range families {
		if f.GetName() != namespace+"_"+name {
			continue
		}
		for _, s := range f.GetMetric() {
			if labelsEqual(s.GetLabel(), labels) {
				return value(s), true
			}
		}
	}
	return 0, false
}

func labelsEqual(got []*dto.LabelPair, want []string) bool {
	if 2*len(got) != len(want) {
		return false
	}
	for i := 0; i+1 < len(want); i += 2 {
		found := false
		for _, l := range got {
			if l.GetName() == want[i] && l.GetValue() == want[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func value(s *dto.Metric) float64 {
	switch {
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	case s.Histogram != nil:
		return float64(s.Histogram.GetSampleCount())
	}
	return 0
}
