// SPDX-License-Identifier: Apache-2.0

package engine_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nvml-scaler/nvml-scaler/engine"
)

// benchBody is a large vLLM body: the real fixture as one pod with 16
// data-parallel engines (a wide expert-parallel deployment; vLLM labels each
// engine's series), about 275 KB.
func benchBody(b *testing.B) []byte {
	body := engines(b, fixture(b, "vllm_datadog.txt"), 16)
	if len(body) < 150_000 {
		b.Fatalf("bench body is %d bytes, want ≥150 KB", len(body))
	}
	return body
}

// BenchmarkExpfmtParse is the floor: expfmt's text parser alone on the body.
func BenchmarkExpfmtParse(b *testing.B) {
	body := benchBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	loop(b, func() {
		p := expfmt.NewTextParser(model.UTF8Validation)
		if _, err := p.TextToMetricFamilies(bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkParseAndMap is what a scrape costs after the body arrived: the
// series count, the parse, detection and the mapping onto the catalogue, and
// appending to the pod's history.
func BenchmarkParseAndMap(b *testing.B) {
	body := benchBody(b)
	s, err := engine.NewScraper(engine.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var h engine.History
	now := t0
	loop(b, func() {
		r, err := s.Map(body, "text/plain; version=0.0.4", engine.Target{URL: "bench"}, now)
		if err != nil {
			b.Fatal(err)
		}
		h = h.Add(r, 5*time.Minute)
		now = now.Add(time.Second)
	})
}

// BenchmarkParseAndMapOneEngine is the same on the real 21 KB body as it is
// (one engine, no data parallelism).
func BenchmarkParseAndMapOneEngine(b *testing.B) {
	body := fixture(b, "vllm_datadog.txt")
	s, err := engine.NewScraper(engine.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	loop(b, func() {
		if _, err := s.Map(body, "", engine.Target{URL: "bench"}, t0); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkExpfmtParseOneEngine is its floor.
func BenchmarkExpfmtParseOneEngine(b *testing.B) {
	body := fixture(b, "vllm_datadog.txt")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	loop(b, func() {
		p := expfmt.NewTextParser(model.UTF8Validation)
		if _, err := p.TextToMetricFamilies(bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkScrapeParseMap adds the HTTP request over loopback (gzip off).
func BenchmarkScrapeParseMap(b *testing.B) {
	body := benchBody(b)
	srv := serveBench(b, body)
	s, err := engine.NewScraper(engine.Options{Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	loop(b, func() {
		if _, err := s.Read(context.Background(), engine.Target{URL: srv}, t0); err != nil {
			b.Fatal(err)
		}
	})
}
