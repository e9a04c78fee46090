// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"context"
	"maps"
	"net"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kedaModule is the module whose pkg/scalers a version module adapts.
const kedaModule = "github.com/kedacore/keda/v2"

// Run runs the whole suite against k, which must be KEDA's pkg/scalers at
// version (e.g. "v2.17.3", as the go.mod in the working directory requires
// it), and the binary in $NVML_SCALER_BIN. Every expectation is in this
// module.
func Run(t *testing.T, k KEDA, version string) {
	t.Run("KEDA version", func(t *testing.T) { requireGoMod(t, kedaModule, version) })
	cases, err := Cases(Recording)
	require.NoError(t, err)
	srv := startServe(t)
	for _, c := range cases {
		t.Run("GetMetricSpec/"+c.Name, func(t *testing.T) { testSpec(t, k, srv.grpc, c) })
		t.Run("GetMetrics and IsActive/"+c.Name, func(t *testing.T) { testMetrics(t, k, srv.grpc, c) })
		t.Run("StreamIsActive/"+c.Name, func(t *testing.T) { testPush(t, k, srv.grpc, c) })
	}
	t.Run("invalid metadata", func(t *testing.T) { testInvalidMetadata(t, k, srv.grpc, cases[0]) })
	t.Run("unavailable", func(t *testing.T) { testUnavailable(t, k, cases[0]) })
	t.Run("no scalerAddress", func(t *testing.T) { testNoAddress(t, k, cases[0]) })
	t.Run("TLS", func(t *testing.T) { testTLS(t, k, version, cases[0]) })
}

// requireGoMod checks that the go.mod of the module under test requires path
// at version and does not replace it: the version the suite's expectations
// (and its output) name is the one compiled in.
func requireGoMod(t *testing.T, path, version string) {
	t.Helper()
	b, err := os.ReadFile("go.mod")
	require.NoError(t, err)
	gomod := string(b)
	assert.Regexp(t, `(?m)^\s+`+regexp.QuoteMeta(path+" "+version)+`$`, gomod)
	assert.NotContains(t, gomod, path+" =>")
}

// config is c's trigger pointed at addr, with a copy of its metadata.
func config(c Case, addr string) Config {
	md := maps.Clone(c.Metadata)
	md["scalerAddress"] = addr
	return Config{TriggerIndex: c.TriggerIndex, MetricType: c.MetricType, Metadata: md}
}

func newScaler(t *testing.T, k KEDA, cfg Config) Scaler {
	t.Helper()
	s, err := k.NewScaler(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close(t.Context())) })
	return s
}

// The spec KEDA hands the HPA: the scaler's metric name under KEDA's prefix
// and the float target, of the trigger's metric type.
func testSpec(t *testing.T, k KEDA, addr string, c Case) {
	s := newScaler(t, k, config(c, addr))
	specs := s.MetricSpecs(t.Context())
	require.Len(t, specs, 1)
	assert.Equal(t, MetricSpec{Type: "External", Name: c.SpecName, TargetType: c.MetricType, TargetMilli: c.TargetMilli}, specs[0])
}

// What the metrics adapter gets: the value (GetMetrics) and the activity
// (IsActive) of the recording's last sample.
func testMetrics(t *testing.T, k KEDA, addr string, c Case) {
	s := newScaler(t, k, config(c, addr))
	vals, active, err := s.MetricsAndActivity(t.Context(), c.SpecName)
	require.NoError(t, err)
	assert.Equal(t, []Metric{{Name: c.SpecName, Milli: c.ValueMilli}}, vals)
	assert.Equal(t, c.Active, active)
}

// KEDA's push scaler receives the current activity as soon as its
// StreamIsActive stream is open.
func testPush(t *testing.T, k KEDA, addr string, c Case) {
	s, err := k.NewPushScaler(config(c, addr))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close(t.Context())) })
	ctx, cancel := context.WithCancel(t.Context())
	active := make(chan bool, 4)
	go s.Run(ctx, active)
	defer func() {
		cancel()
		for range active { // Run closes it when it returns
		}
	}()
	select {
	case v := <-active:
		assert.Equal(t, c.Active, v)
	case <-time.After(startTimeout):
		t.Fatal("no state from StreamIsActive")
	}
}

// KEDA forwards metadata without checking it; the scaler's InvalidArgument,
// naming the key, reaches the caller.
func testInvalidMetadata(t *testing.T, k KEDA, addr string, c Case) {
	cfg := config(c, addr)
	cfg.Metadata["targetValue"] = "-1"
	s := newScaler(t, k, cfg)
	assert.Empty(t, s.MetricSpecs(t.Context()), "KEDA logs the error and hands the HPA no spec")
	_, _, err := s.MetricsAndActivity(t.Context(), c.SpecName)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "InvalidArgument")
	assert.Contains(t, err.Error(), "targetValue")
}

// A scaler address nothing listens on is Unavailable, not a value.
func testUnavailable(t *testing.T, k KEDA, c Case) {
	s := newScaler(t, k, config(c, closedAddr(t)))
	assert.Empty(t, s.MetricSpecs(t.Context()))
	_, _, err := s.MetricsAndActivity(t.Context(), c.SpecName)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Unavailable")
}

// KEDA itself refuses an external trigger without scalerAddress.
func testNoAddress(t *testing.T, k KEDA, c Case) {
	cfg := config(c, "")
	delete(cfg.Metadata, "scalerAddress")
	_, err := k.NewScaler(cfg)
	require.Error(t, err)
}

// closedAddr returns a loopback address that was free a moment ago.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	return addr
}
