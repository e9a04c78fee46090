// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"testing"
	"time"
)

// NewSamplerMinInterval is NewSampler with minInterval in place of
// MinInterval: the soak test samples at 100 Hz, faster than a node should.
// Test-only: it exists in the package's tests, not in its API.
func NewSamplerMinInterval(cfg SamplerConfig, minInterval time.Duration) (*Sampler, error) {
	return newSampler(cfg, minInterval)
}

// Test-only exports for the process benchmark (bench_proc_test.go), which
// runs serve's server with internal/metrics and so lives in scaler_test.
type (
	// ConstantServer is constantServer.
	ConstantServer = constantServer
)

// BenchGPUs is benchGPUs.
const BenchGPUs = benchGPUs

// NewFakeSource is newFake.
func NewFakeSource(n int) Source { return newFake(n) }

// RunGRPCBench is runGRPCBench.
func RunGRPCBench(b *testing.B, addr string, concurrency, pid int) {
	runGRPCBench(b, addr, concurrency, pid)
}
