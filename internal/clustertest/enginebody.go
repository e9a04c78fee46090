// SPDX-License-Identifier: Apache-2.0

package clustertest

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/prometheus/common/expfmt"

	"github.com/nvml-scaler/nvml-scaler/engine"
)

// EngineBody returns the real /metrics body engine/testdata/engines/name
// (its README names each file's source), byte for byte.
func EngineBody(t testing.TB, name string) []byte {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "engine", "testdata", "engines", name))
	if err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	return b
}

// ScaledEngineBody returns EngineBody(name) re-encoded with every gauge and
// counter value, histogram sum, count and bucket ×k: the same pod later in its
// life. Names, labels and bucket layouts stay the engine's own.
func ScaledEngineBody(t testing.TB, name string, k float64) []byte {
	t.Helper()
	fams, err := engine.Parse(EngineBody(t, name), "", 0)
	if err != nil {
		t.Fatalf("clustertest: parse %s: %v", name, err)
	}
	var buf bytes.Buffer
	for _, f := range fams {
		for _, m := range f.Metric {
			ScaleMetric(m, k)
		}
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			t.Fatalf("clustertest: encode %s: %v", name, err)
		}
	}
	return buf.Bytes()
}
