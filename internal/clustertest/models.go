// SPDX-License-Identifier: Apache-2.0

package clustertest

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/nvml-scaler/nvml-scaler/engine"
)

// SGLangBaseModel is the model_name every series of sglang_docs.txt carries.
const SGLangBaseModel = "meta-llama/Llama-3.1-8B-Instruct"

// SGLangAdapter is the second model SGLangTwoModelsReading adds.
const SGLangAdapter = "adapter"

// SGLangTwoModelsReading maps the real SGLang body sglang_docs.txt as one pod
// serving two models, the way vLLM and SGLang report a LoRA adapter beside
// the base model: every series ×k under the body's own model_name
// (SGLangBaseModel) and a copy ×2k under model_name SGLangAdapter. Names,
// labels and bucket layouts stay the engine's own; only the numbers are test
// inputs.
func SGLangTwoModelsReading(t testing.TB, at time.Time, k float64) *engine.Reading {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "engine", "testdata", "engines", "sglang_docs.txt"))
	if err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	fams, err := engine.Parse(b, "text/plain; version=0.0.4", 0)
	if err != nil {
		t.Fatalf("clustertest: parse sglang_docs.txt: %v", err)
	}
	var buf bytes.Buffer
	for _, f := range fams {
		var copies []*dto.Metric
		for _, m := range f.Metric {
			c := proto.Clone(m).(*dto.Metric)
			for _, lp := range c.Label {
				if lp.GetName() == "model_name" {
					lp.Value = proto.String(SGLangAdapter)
				}
			}
			ScaleMetric(m, k)
			ScaleMetric(c, 2*k)
			copies = append(copies, c)
		}
		f.Metric = append(f.Metric, copies...)
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			t.Fatalf("clustertest: encode: %v", err)
		}
	}
	s, err := engine.NewScraper(engine.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	defer s.Close()
	r, err := s.Map(buf.Bytes(), "", engine.Target{}, at)
	if err != nil {
		t.Fatalf("clustertest: map two-model sglang_docs.txt: %v", err)
	}
	return r
}

// ScaleMetric multiplies every value of m (gauge, counter, untyped, or a
// histogram's buckets, sum and count) by k: a test scrape derived from a
// real one.
func ScaleMetric(m *dto.Metric, k float64) {
	switch {
	case m.Gauge != nil:
		m.Gauge.Value = proto.Float64(m.Gauge.GetValue() * k)
	case m.Counter != nil:
		m.Counter.Value = proto.Float64(m.Counter.GetValue() * k)
	case m.Untyped != nil:
		m.Untyped.Value = proto.Float64(m.Untyped.GetValue() * k)
	case m.Histogram != nil:
		h := m.Histogram
		h.SampleSum = proto.Float64(h.GetSampleSum() * k)
		h.SampleCountFloat = proto.Float64(float64(h.GetSampleCount())*k + h.GetSampleCountFloat()*k)
		h.SampleCount = nil
		for _, b := range h.Bucket {
			b.CumulativeCountFloat = proto.Float64(float64(b.GetCumulativeCount())*k + b.GetCumulativeCountFloat()*k)
			b.CumulativeCount = nil
		}
	}
}
