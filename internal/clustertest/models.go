// SPDX-License-Identifier: Apache-2.0

package clustertest

import (
	"bytes"
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
	return mapBody(t, "sglang_docs.txt", ModelsBody(t, "sglang_docs.txt", k, SGLangAdapter), at)
}

// ModelsBody returns the real body engine/testdata/engines/file as one pod
// serving 1+len(extra) models: every series ×k under the body's own
// model_name, then a copy of each under model_name extra[i], ×(i+2)k.
// Names, labels and bucket layouts stay the engine's own.
func ModelsBody(t testing.TB, file string, k float64, extra ...string) []byte {
	t.Helper()
	fams, err := engine.Parse(EngineBody(t, file), "text/plain; version=0.0.4", 0)
	if err != nil {
		t.Fatalf("clustertest: parse %s: %v", file, err)
	}
	var buf bytes.Buffer
	for _, f := range fams {
		var copies []*dto.Metric
		for i, model := range extra {
			for _, m := range f.Metric {
				c := proto.Clone(m).(*dto.Metric)
				for _, lp := range c.Label {
					if lp.GetName() == "model_name" {
						lp.Value = proto.String(model)
					}
				}
				ScaleMetric(c, float64(i+2)*k)
				copies = append(copies, c)
			}
		}
		for _, m := range f.Metric {
			ScaleMetric(m, k)
		}
		f.Metric = append(f.Metric, copies...)
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			t.Fatalf("clustertest: encode: %v", err)
		}
	}
	return buf.Bytes()
}

// mapBody maps body (derived from file) as a scrape at at.
func mapBody(t testing.TB, file string, body []byte, at time.Time) *engine.Reading {
	t.Helper()
	s, err := engine.NewScraper(engine.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	defer s.Close()
	r, err := s.Map(body, "", engine.Target{}, at)
	if err != nil {
		t.Fatalf("clustertest: map multi-model %s: %v", file, err)
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
