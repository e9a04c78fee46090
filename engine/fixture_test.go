// SPDX-License-Identifier: Apache-2.0

package engine_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/internal/enginetest"
	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
)

// fixture returns a real body from testdata/engines (see its README).
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "engines", name))
	require.NoError(t, err)
	return b
}

func parse(t testing.TB, body []byte) engine.Families {
	t.Helper()
	f, err := engine.Parse(body, "text/plain; version=0.0.4", 0)
	require.NoError(t, err)
	return f
}

func encode(t testing.TB, fams engine.Families) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, f := range fams {
		_, err := expfmt.MetricFamilyToText(&buf, f)
		require.NoError(t, err)
	}
	return buf.Bytes()
}

// The helpers below derive test scrapes from a real body: the names, labels
// and bucket layouts stay the engine's own; the changed numbers are test
// inputs (a later scrape, a restart, a broken value), not engine output.

// scaled returns body with every sample value (gauges, counters, histogram
// buckets, sums and counts) multiplied by k: the same pod k times further on.
func scaled(t testing.TB, body []byte, k float64) []byte {
	t.Helper()
	fams := parse(t, body)
	for _, f := range fams {
		for _, m := range f.Metric {
			clustertest.ScaleMetric(m, k)
		}
	}
	return encode(t, fams)
}

// engines returns body as one pod with n data-parallel engines, the way vLLM
// labels them (engine="0", engine="1", …); engine i's values are scaled by
// i+1.
func engines(t testing.TB, body []byte, n int) []byte {
	t.Helper()
	b, err := enginetest.DataParallel(body, n)
	require.NoError(t, err)
	return b
}

// without returns body without the named families.
func without(t testing.TB, body []byte, names ...string) []byte {
	t.Helper()
	fams := parse(t, body)
	for _, n := range names {
		require.Contains(t, fams, n)
		delete(fams, n)
	}
	return encode(t, fams)
}

// withGauge returns body with every sample of the gauge family name set to v.
func withGauge(t testing.TB, body []byte, name string, v float64) []byte {
	t.Helper()
	fams := parse(t, body)
	require.Contains(t, fams, name)
	for _, m := range fams[name].Metric {
		m.Gauge.Value = proto.Float64(v)
	}
	return encode(t, fams)
}

var nan = math.NaN()
