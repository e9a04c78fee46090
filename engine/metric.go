// SPDX-License-Identifier: Apache-2.0

package engine

// Metric is one engine-neutral signal of an inference server. Its name (see
// [Metric.String]) is what a trigger's `metric` key holds; names are public API
// and never change.
type Metric uint8

// The engine catalogue. The order is part of no wire format: the node stream
// names these metrics, it does not number them.
const (
	// RequestsWaiting (requests_waiting, requests): requests queued and not yet
	// scheduled. The first signal to scale on: it rises only when the server is
	// saturated.
	RequestsWaiting Metric = iota
	// RequestsRunning (requests_running, requests): requests in the running
	// batch.
	RequestsRunning
	// KVCacheUsage (kv_cache_usage_percent, percent 0–100): share of the KV
	// cache in use. Averaged, not summed, over the series of one pod (one per
	// data-parallel engine, each with its own cache).
	KVCacheUsage
	// TTFT (ttft_seconds, seconds): time to first token, from a histogram:
	// mean or quantile over the window.
	TTFT
	// ITL (itl_seconds, seconds): inter-token latency (time per output token).
	ITL
	// QueueTime (queue_time_seconds, seconds): time a request waited before
	// it was scheduled.
	QueueTime
	// E2ELatency (e2e_latency_seconds, seconds): end-to-end request latency.
	E2ELatency
	// GenerationTokensPerSecond (generation_tokens_per_second, tokens/s):
	// rate of the generated-tokens counter over the window.
	GenerationTokensPerSecond
	// RequestsPerSecond (requests_per_second, requests/s): rate of the
	// finished-requests counter over the window.
	RequestsPerSecond

	// NumMetrics is the number of metrics; not a metric.
	NumMetrics
)

// Kind says how a metric's samples turn into a value.
type Kind uint8

// Metric kinds.
const (
	// KindGauge: the newest scrape's value.
	KindGauge Kind = iota
	// KindRate: a counter's increase over the window divided by its length.
	KindRate
	// KindLatency: a histogram's (or a pair of counters') increase over the
	// window, as a mean (Δsum/Δcount) or, for histograms, a quantile.
	KindLatency
)

// MetricInfo describes a metric for humans.
type MetricInfo struct {
	Name string
	Unit string
	Kind Kind
	Help string
}

var metricInfo = [NumMetrics]MetricInfo{
	RequestsWaiting:           {"requests_waiting", "requests", KindGauge, "requests queued, not yet scheduled"},
	RequestsRunning:           {"requests_running", "requests", KindGauge, "requests in the running batch"},
	KVCacheUsage:              {"kv_cache_usage_percent", "percent", KindGauge, "share of the KV cache in use"},
	TTFT:                      {"ttft_seconds", "seconds", KindLatency, "time to first token"},
	ITL:                       {"itl_seconds", "seconds", KindLatency, "inter-token latency"},
	QueueTime:                 {"queue_time_seconds", "seconds", KindLatency, "time a request waited to be scheduled"},
	E2ELatency:                {"e2e_latency_seconds", "seconds", KindLatency, "end-to-end request latency"},
	GenerationTokensPerSecond: {"generation_tokens_per_second", "tokens/s", KindRate, "generated tokens per second"},
	RequestsPerSecond:         {"requests_per_second", "requests/s", KindRate, "finished requests per second"},
}

// Info returns m's name, unit, kind and help; the zero MetricInfo when m is out
// of range.
func (m Metric) Info() MetricInfo {
	if m >= NumMetrics {
		return MetricInfo{}
	}
	return metricInfo[m]
}

// String returns m's catalogue name, e.g. "requests_waiting".
func (m Metric) String() string {
	if m >= NumMetrics {
		return "engine_metric(invalid)"
	}
	return metricInfo[m].Name
}

// ParseMetric returns the metric named name (exact, case-sensitive).
func ParseMetric(name string) (Metric, bool) {
	for m := range NumMetrics {
		if metricInfo[m].Name == name {
			return m, true
		}
	}
	return 0, false
}
