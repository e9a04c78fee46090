// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// samplesOf builds one sample a second from spec/ready counts and a demand.
func samplesOf(demand func(time.Duration) float64, specs ...int32) []benchSample {
	s := make([]benchSample, len(specs))
	for i, n := range specs {
		at := time.Duration(i) * time.Second
		s[i] = benchSample{at: at, demand: demand(at), spec: n, ready: n}
	}
	return s
}

// TestSummarize checks the benchmark's figures on hand-made timelines (step
// at 2 s to a demand of 150: need 4 at target 40).
func TestSummarize(t *testing.T) {
	t.Parallel()
	sc := benchScenarios()[0]
	sc.stepAt = 2 * time.Second
	step := func(at time.Duration) float64 {
		if at < 2*time.Second {
			return 0
		}
		return 150
	}
	for _, tc := range []struct {
		name  string
		specs []int32
		want  benchResult
	}{
		{"never moves", []int32{1, 1, 1, 1}, benchResult{first: -1, settle: 0, reach: -1, final: 1, need: 4, under: 3}},
		{"one step up", []int32{1, 1, 1, 4, 4}, benchResult{first: time.Second, settle: time.Second, reach: time.Second, final: 4, need: 4, under: 3}},
		{"overshoot and back", []int32{1, 1, 2, 6, 4, 4}, benchResult{first: 0, settle: 2 * time.Second, reach: 2 * time.Second, final: 4, need: 4, over: 2, under: 2, oscillations: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, summarize(sc, samplesOf(step, tc.specs...)))
		})
	}
}

// TestNearestStep checks the load model picks recorded steps and saturates.
func TestNearestStep(t *testing.T) {
	t.Parallel()
	steps := benchSteps(t)
	require.Len(t, steps, 11)
	assert.Equal(t, steps[0], nearestStep(steps, 0), "no demand: the idle sample")
	assert.Equal(t, steps[10], nearestStep(steps, 500), "above duty100: saturated")
	assert.InDelta(t, 36.7, nearestStep(steps, 37.5).value, 0.05, "150 over 4 replicas: duty050")
}

// TestPlotScenario renders a plot from a hand-made timeline.
func TestPlotScenario(t *testing.T) {
	t.Parallel()
	sc := benchScenarios()[0]
	p := []*benchPath{{name: "a", samples: samplesOf(sc.demand, 1, 1, 2, 4)}, {name: "b", samples: samplesOf(sc.demand, 1, 1, 1, 2)}}
	file := filepath.Join(t.TempDir(), "p.png")
	require.NoError(t, plotScenario(file, sc, p))
	require.FileExists(t, file)
	require.Error(t, plotScenario(file, sc, nil), "no samples")
}
