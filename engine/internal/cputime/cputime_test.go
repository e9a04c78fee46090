// SPDX-License-Identifier: Apache-2.0

package cputime_test

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/engine/internal/cputime"
)

// Work on the CPU shows up in the process's CPU time.
func TestProcessGrowsWithWork(t *testing.T) {
	before, ok := cputime.Process()
	if runtime.GOOS == "linux" {
		require.True(t, ok)
	}
	if !ok {
		t.Skipf("no process CPU time on %s", runtime.GOOS)
	}
	x := 0
	for i := range 200_000_000 {
		x ^= i
	}
	after, _ := cputime.Process()
	assert.Greater(t, after, before, "spun %d", x)
}
