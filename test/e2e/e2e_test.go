// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestE2E starts the control plane once and runs every scenario against it.
// `go test -run 'TestE2E/scale-on-ramp'` runs one.
func TestE2E(t *testing.T) {
	if os.Getenv("E2E_SKIP") != "" {
		t.Skip("E2E_SKIP is set")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	b, err := startBed(ctx, t.TempDir())
	require.NoError(t, err, "starting the control plane")
	t.Cleanup(func() {
		if t.Failed() {
			b.describe()
		}
		b.stop()
	})
	t.Logf("control plane up in %v (binaries %s)", time.Since(start).Round(100*time.Millisecond), b.bin)

	for _, s := range []struct {
		name string
		run  func(*testing.T, *bed)
	}{
		{"manifests-strict", testManifestsStrict},
		{"scale-on-ramp", testScaleOnRamp},
		{"query-matches-hpa", testQueryMatchesHPA},
		{"fallback-when-agent-fails", testFallback},
		{"cluster-two-nodes", testClusterTwoNodes},
		{"dra-claims", testDRA},
		{"zero-and-back", testZeroAndBack},
		{"multi-trigger-stale", testMultiTriggerStale},
		{"multi-trigger-unreachable", testMultiTriggerUnreachable},
		{"multi-trigger-unreachable-fallback", testMultiTriggerUnreachableFallback},
	} {
		t.Run(s.name, func(t *testing.T) { s.run(t, b) })
	}
}
