// SPDX-License-Identifier: Apache-2.0

package engine_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nvml-scaler/nvml-scaler/engine"
)

// FuzzScrapeAndMap feeds arbitrary bodies through the path a scrape takes
// after the request — the line filter (checked against a line-by-line one),
// Parse (with the series cap), Detect, every profile's
// Read, a two-scrape Window and Combine — and checks it never panics and
// never returns a non-finite value. The body cap bounds what the parser may
// allocate: Map rejects bodies over the series cap before parsing them.
func FuzzScrapeAndMap(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "engines", "*.txt"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		// Seeds are the fixtures' engine families cut to ~4 KB: small inputs
		// keep the fuzzer mutating rather than minimising.
		b = engine.ParseKnownLines(b)
		if len(b) > 4096 {
			b = b[:bytes.LastIndexByte(b[:4096], '\n')+1]
		}
		f.Add(b, "text/plain; version=0.0.4")
	}
	f.Add([]byte("vllm:num_requests_waiting NaN\nvllm:time_to_first_token_seconds_bucket{le=\"+Inf\"} 1\n"), "")
	f.Add([]byte("# TYPE x histogram\nx_bucket{le=\"1\"} 5\nx_bucket{le=\"+Inf\"} 3\nx_count 3\nx_sum 1\n"), "application/openmetrics-text; version=1.0.0")
	s, err := engine.NewScraper(engine.Options{Timeout: time.Second, MaxSeries: 10_000})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		if len(body) > 1<<20 { // the scraper's byte cap; Fetch never hands more to Map
			return
		}
		kept, n := engine.FilterKnown(nil, body)
		if want, wantN := engine.FilterLineByLine(body); !bytes.Equal(kept, want) || n != wantN || n != engine.CountSamples(body) {
			t.Fatalf("filter kept %q (%d samples), line by line %q (%d)", kept, n, want, wantN)
		}
		r0, err := s.Map(body, contentType, engine.Target{URL: "fuzz"}, time.Unix(0, 0))
		if err != nil {
			return
		}
		fams, err := engine.ParseKnown(body, contentType, 10_000)
		if err != nil {
			t.Fatalf("Map parsed what ParseKnown refuses: %v", err)
		}
		for _, p := range engine.Profiles() {
			r := p.Read(fams, "", time.Unix(10, 0))
			h := engine.History{}.Add(r0, time.Minute).Add(&r, time.Minute)
			for m := range engine.NumMetrics {
				if s := r.Samples[m]; s.OK() && s.Hist == nil && (math.IsNaN(s.V) || math.IsInf(s.V, 0)) {
					t.Fatalf("%s %s: non-finite %v", p.Engine, m, s.V)
				}
				w, err := h.Window(m, 0)
				if err != nil {
					continue
				}
				for _, q := range []float64{0, 0.5, 0.99} {
					if v, err := engine.Combine([]engine.Window{w, w}, engine.Sum, q); err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
						t.Fatalf("%s %s q=%v: non-finite %v", p.Engine, m, q, v)
					}
				}
			}
		}
	})
}
