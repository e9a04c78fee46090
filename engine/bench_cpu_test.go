// SPDX-License-Identifier: Apache-2.0

package engine_test

import (
	"testing"

	"github.com/nvml-scaler/nvml-scaler/engine/internal/cputime"
)

// loop runs op under b.Loop and reports, beside the wall time, the CPU time
// the whole process spent per op (user + system, every thread: the garbage
// collector's work included) as cpu-ns/op. On a loaded machine wall time
// includes waiting for a core; the CPU time is what "share of a core" means.
func loop(b *testing.B, op func()) {
	b.Helper()
	start, ok := cputime.Process()
	for b.Loop() {
		op()
	}
	if end, ok2 := cputime.Process(); ok && ok2 && b.N > 0 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}
