// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"
	"strings"
)

// Engine names an inference server profile.
type Engine string

// The engines with a profile.
const (
	VLLM        Engine = "vllm"
	SGLang      Engine = "sglang"
	Triton      Engine = "triton" // incl. its TensorRT-LLM backend's nv_trt_llm_* families
	TGI         Engine = "tgi"
	NIM         Engine = "nim" // NVIDIA NIM for LLMs, /v1/metrics, names without a prefix
	TRTLLMServe Engine = "trtllm-serve"
)

// series selects the samples of one family, optionally only those whose label
// has a value (Triton's request_type="active").
type series struct {
	family       string
	label, value string
}

// source is one way an engine exports one catalogue metric.
type source struct {
	num series
	// den, when set, divides: a gauge is num/den (Triton's used/max KV blocks),
	// a latency is Δnum/Δden (Triton's cumulative µs over requests).
	den   *series
	scale float64 // applied to values and histogram bounds (ratio → %, ms → s)
	avg   bool    // average the pod's series instead of summing them
	hist  bool    // num is a histogram family
}

// Profile is how one engine exports the catalogue. Profiles are immutable;
// get them from [Profiles], [ProfileFor] or [Detect].
type Profile struct {
	// Engine is the profile's name.
	Engine Engine
	// ModelLabel is the label naming the model ("model_name"; "model" on
	// Triton), "" when the engine labels none.
	ModelLabel string
	prefix     string   // a family-name prefix that identifies the engine
	markers    []string // or exact family names that do
	// sources lists, per metric, the ways to read it, preferred first (a
	// current name before the one it replaced). Empty: not exported.
	sources [NumMetrics][]source
}

func gauge(f string) source   { return source{num: series{family: f}, scale: 1} }
func ratio(f string) source   { return source{num: series{family: f}, scale: 100, avg: true} }
func counter(f string) source { return source{num: series{family: f}, scale: 1} }
func hist(f string) source    { return source{num: series{family: f}, scale: 1, hist: true} }
func histScaled(f string, s float64) source {
	return source{num: series{family: f}, scale: s, hist: true}
}

var profiles = []*Profile{
	{Engine: VLLM, ModelLabel: "model_name", prefix: "vllm:", sources: [NumMetrics][]source{
		RequestsWaiting:           {gauge("vllm:num_requests_waiting")},
		RequestsRunning:           {gauge("vllm:num_requests_running")},
		KVCacheUsage:              {ratio("vllm:kv_cache_usage_perc"), ratio("vllm:gpu_cache_usage_perc")},
		TTFT:                      {hist("vllm:time_to_first_token_seconds")},
		ITL:                       {hist("vllm:inter_token_latency_seconds"), hist("vllm:time_per_output_token_seconds")},
		QueueTime:                 {hist("vllm:request_queue_time_seconds")},
		E2ELatency:                {hist("vllm:e2e_request_latency_seconds")},
		GenerationTokensPerSecond: {counter("vllm:generation_tokens_total")},
		RequestsPerSecond:         {counter("vllm:request_success_total")},
	}},
	{Engine: SGLang, ModelLabel: "model_name", prefix: "sglang:", sources: [NumMetrics][]source{
		RequestsWaiting:           {gauge("sglang:num_queue_reqs")},
		RequestsRunning:           {gauge("sglang:num_running_reqs")},
		KVCacheUsage:              {ratio("sglang:token_usage")},
		TTFT:                      {hist("sglang:time_to_first_token_seconds")},
		ITL:                       {hist("sglang:inter_token_latency_seconds"), hist("sglang:time_per_output_token_seconds")},
		QueueTime:                 {hist("sglang:queue_time_seconds")},
		E2ELatency:                {hist("sglang:e2e_request_latency_seconds")},
		GenerationTokensPerSecond: {counter("sglang:generation_tokens_total")},
		RequestsPerSecond:         {counter("sglang:num_requests_total")},
	}},
	{Engine: TRTLLMServe, ModelLabel: "model_name", prefix: "trtllm_", sources: [NumMetrics][]source{
		RequestsWaiting: {gauge("trtllm_num_requests_waiting")},
		RequestsRunning: {gauge("trtllm_num_requests_running")},
		KVCacheUsage:    {ratio("trtllm_kv_cache_utilization")},
		TTFT:            {hist("trtllm_time_to_first_token_seconds")},
		ITL:             {hist("trtllm_time_per_output_token_seconds")},
		QueueTime:       {hist("trtllm_request_queue_time_seconds")},
		E2ELatency:      {hist("trtllm_e2e_request_latency_seconds")},
	}},
	{Engine: TGI, prefix: "tgi_", sources: [NumMetrics][]source{
		RequestsWaiting:   {gauge("tgi_queue_size")},
		RequestsRunning:   {gauge("tgi_batch_current_size")},
		ITL:               {hist("tgi_request_mean_time_per_token_duration")},
		QueueTime:         {hist("tgi_request_queue_duration")},
		E2ELatency:        {hist("tgi_request_duration")},
		RequestsPerSecond: {counter("tgi_request_success")},
	}},
	{Engine: Triton, ModelLabel: "model", prefix: "nv_inference_", sources: [NumMetrics][]source{
		RequestsWaiting: {gauge("nv_inference_pending_request_count")},
		RequestsRunning: {{num: series{"nv_trt_llm_request_metrics", "request_type", "active"}, scale: 1}},
		KVCacheUsage: {
			{num: series{"nv_trt_llm_kv_cache_block_metrics", "kv_cache_block_type", "fraction"}, scale: 100, avg: true},
			{num: series{"nv_trt_llm_kv_cache_block_metrics", "kv_cache_block_type", "used"},
				den: &series{"nv_trt_llm_kv_cache_block_metrics", "kv_cache_block_type", "max"}, scale: 100},
		},
		TTFT: {histScaled("nv_inference_first_response_histogram_ms", 1e-3)},
		QueueTime: {{num: series{family: "nv_inference_queue_duration_us"},
			den: &series{family: "nv_inference_request_success"}, scale: 1e-6}},
		E2ELatency: {{num: series{family: "nv_inference_request_duration_us"},
			den: &series{family: "nv_inference_request_success"}, scale: 1e-6}},
		RequestsPerSecond: {counter("nv_inference_request_success")},
	}},
	{Engine: NIM, ModelLabel: "model_name", markers: []string{"num_requests_waiting", "gpu_cache_usage_perc"}, sources: [NumMetrics][]source{
		RequestsWaiting:           {gauge("num_requests_waiting")},
		RequestsRunning:           {gauge("num_requests_running")},
		KVCacheUsage:              {ratio("gpu_cache_usage_perc")},
		TTFT:                      {hist("time_to_first_token_seconds")},
		ITL:                       {hist("time_per_output_token_seconds")},
		E2ELatency:                {hist("e2e_request_latency_seconds")},
		GenerationTokensPerSecond: {counter("generation_tokens_total")},
		RequestsPerSecond:         {counter("request_success_total")},
	}},
}

// Profiles returns every profile, in detection order.
func Profiles() []*Profile { return profiles }

// ProfileFor returns the profile named name ("vllm", "sglang", "triton",
// "tgi", "nim", "trtllm-serve"); an error listing the names otherwise.
func ProfileFor(name string) (*Profile, error) {
	for _, p := range profiles {
		if string(p.Engine) == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("engine %q: %w; want one of %s", name, ErrUnknownEngine, engineNames())
}

// Exports reports whether the engine exports m at all.
func (p *Profile) Exports(m Metric) bool { return m < NumMetrics && len(p.sources[m]) > 0 }

// Families returns the family names p reads m from, preferred first.
func (p *Profile) Families(m Metric) []string {
	if m >= NumMetrics {
		return nil
	}
	var out []string
	for _, s := range p.sources[m] {
		out = append(out, s.num.family)
	}
	return out
}

// Detect returns the first profile (in [Profiles] order) whose metric names
// appear in fams; ErrUnknownEngine when none does.
func Detect(fams Families) (*Profile, error) {
	for _, p := range profiles {
		if p.recognises(fams) {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no family of %d matches a profile (%s): %w", len(fams), engineNames(), ErrUnknownEngine)
}

func (p *Profile) recognises(fams Families) bool {
	for _, m := range p.markers {
		if _, ok := fams[m]; ok {
			return true
		}
	}
	if p.prefix == "" {
		return false
	}
	for name := range fams {
		if strings.HasPrefix(name, p.prefix) {
			return true
		}
	}
	return false
}

func engineNames() string {
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = string(p.Engine)
	}
	return strings.Join(names, ", ")
}
