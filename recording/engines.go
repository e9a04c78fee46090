// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"errors"
	"fmt"
	"strings"
)

// Engines is the optional section of a recording that holds inference
// engines' `/metrics` bodies, scraped beside the NVML samples (`nvml-scaler
// record --engine-target`), so that `serve --replay` plays the engine
// signals back in step with the GPUs. A recording without it has no engine
// targets.
//
// Size: a vLLM body is 20–300 KB and changes on every scrape under load
// (counters, histograms), so each body is stored gzip-compressed (about a
// tenth of its size; base64 in JSON adds a third back), and a body
// byte-identical to the target's previous one is stored as Same, without
// bytes (an idle engine). Compressing each body on its own, rather than the
// section as one stream, keeps every scrape decodable by itself, so replay
// holds only compressed bodies in memory and inflates one per scrape.
type Engines struct {
	// IntervalNanos is the time between scrapes of a target when recording
	// (ns, > 0); replay scrapes at this interval unless told otherwise.
	IntervalNanos int64 `json:"intervalNs"`
	// Targets lists the endpoints scraped, each once.
	Targets []EngineTarget `json:"targets"`
	// Scrapes lists every scrape of every target, in time order.
	Scrapes []EngineScrape `json:"scrapes"`
}

// EngineTarget is one endpoint scraped while recording: an operator's
// --engine-target, or a GPU pod found by --engine-pods (Namespace set).
type EngineTarget struct {
	// Name is the operator's name for it (--engine-target name=URL), or a
	// pod's namespace/name.
	Name string `json:"name"`
	// URL is where it was scraped (a pod's: the endpoint that last answered;
	// "" when none did).
	URL string `json:"url"`
	// Namespace is a pod's namespace; "" for an operator's target.
	Namespace string `json:"namespace,omitempty"`
	// GPUs are the UUIDs of the GPUs the kubelet allocated to the pod.
	GPUs []string `json:"gpus,omitempty"`
	// Engine is the engine an annotation forced (nvml-scaler.io/engine);
	// "" when detected from the body.
	Engine string `json:"engine,omitempty"`
}

// EngineScrape is one scrape of one target: a body (BodyGzip, or Same), or
// the error that stopped it.
type EngineScrape struct {
	// OffsetNanos is when the scrape started, relative to StartUnixNanos
	// (ns); negative for a scrape before the first NVML sample.
	OffsetNanos int64 `json:"offsetNs"`
	// Target is an [EngineTarget] name.
	Target string `json:"target"`
	// ContentType is the response's Content-Type header.
	ContentType string `json:"contentType,omitempty"`
	// BodyGzip is the body as the engine sent it (decompressed), then
	// gzip-compressed.
	BodyGzip []byte `json:"bodyGzip,omitempty"`
	// Same means the body is byte-identical to the target's previous body.
	Same bool `json:"same,omitempty"`
	// Error is why the scrape failed (the request's error, a non-200
	// status, a body that did not parse); "" on success.
	Error string `json:"error,omitempty"`
	// Result classifies a failure as the scrape counter does: "timeout",
	// "error", "too_large", "parse_error", "unknown_engine"; "" on success.
	Result string `json:"result,omitempty"`
}

// OK reports whether the scrape has a body.
func (s *EngineScrape) OK() bool { return s.Error == "" }

// validate checks what replay relies on: an interval, unique target
// names, scrapes naming a known target in time order, and each scrape
// either a body (BodyGzip, or Same after an earlier body of its target) or
// an Error, never both. Bodies are not inflated here: the engine replay
// parses each one when it loads the recording.
func (e *Engines) validate() error {
	if e.IntervalNanos <= 0 {
		return fmt.Errorf("engines.intervalNs %d: want the scrape interval, above 0", e.IntervalNanos)
	}
	if len(e.Targets) == 0 {
		return errors.New("engines.targets is empty: drop the engines section, or name the targets scraped")
	}
	hasBody := map[string]bool{}
	for i, t := range e.Targets {
		if _, dup := hasBody[t.Name]; t.Name == "" || dup {
			return fmt.Errorf("engines.targets[%d] name %q: want a unique, non-empty name", i, t.Name)
		}
		if t.Namespace == "" && len(t.GPUs) > 0 || t.Namespace != "" && !strings.HasPrefix(t.Name, t.Namespace+"/") {
			return fmt.Errorf("engines.targets[%d] %q (namespace %q): a pod's name is namespace/name, and only a pod has GPUs", i, t.Name, t.Namespace)
		}
		hasBody[t.Name] = false
	}
	last := int64(0)
	for i, s := range e.Scrapes {
		had, known := hasBody[s.Target]
		switch {
		case !known:
			return fmt.Errorf("engines.scrapes[%d] names target %q, which engines.targets does not list", i, s.Target)
		case i > 0 && s.OffsetNanos < last:
			return fmt.Errorf("engines.scrapes[%d] offset %d ns goes back in time (previous %d ns)", i, s.OffsetNanos, last)
		case s.Error != "" && (len(s.BodyGzip) > 0 || s.Same):
			return fmt.Errorf("engines.scrapes[%d] (%s): a failed scrape (error %q) has no body", i, s.Target, s.Error)
		case s.Error == "" && s.Result != "":
			return fmt.Errorf("engines.scrapes[%d] (%s): result %q without an error", i, s.Target, s.Result)
		case s.Error == "" && len(s.BodyGzip) > 0 == s.Same:
			return fmt.Errorf("engines.scrapes[%d] (%s): want bodyGzip or same (one of them) on a scrape without an error", i, s.Target)
		case s.Same && !had:
			return fmt.Errorf("engines.scrapes[%d] (%s): same, but the target has no earlier body", i, s.Target)
		}
		last = s.OffsetNanos
		hasBody[s.Target] = had || len(s.BodyGzip) > 0
	}
	return nil
}
