// SPDX-License-Identifier: Apache-2.0

package clustertest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/nvml-scaler/nvml-scaler/engine"
)

// SGLangReading maps the real SGLang body engine/testdata/engines/sglang_docs.txt
// (its README names the source) at at, with every value and histogram count
// ×k: the same pod later in its life, so that counters and histograms move.
func SGLangReading(t testing.TB, at time.Time, k float64) *engine.Reading {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "engine", "testdata", "engines", "sglang_docs.txt"))
	if err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	s, err := engine.NewScraper(engine.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	defer s.Close()
	r, err := s.Map(b, "", engine.Target{}, at)
	if err != nil {
		t.Fatalf("clustertest: map sglang_docs.txt: %v", err)
	}
	for m := range engine.NumMetrics {
		sm := &r.Samples[m]
		sm.V, sm.Den = sm.V*k, sm.Den*k
		if sm.Hist != nil {
			h := *sm.Hist
			h.Counts = append([]float64(nil), h.Counts...)
			for i := range h.Counts {
				h.Counts[i] *= k
			}
			h.Sum, h.Count = h.Sum*k, h.Count*k
			sm.Hist = &h
		}
	}
	return r
}
