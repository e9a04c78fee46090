// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDesiredReplicas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		typ           MetricTargetType
		current       int32
		value, target float64
		tolerance     float64
		want          int32
	}{
		{"value on target", TargetValue, 4, 60, 60, 0.1, 4},
		{"value within tolerance above", TargetValue, 4, 65, 60, 0.1, 4},
		{"value within tolerance below", TargetValue, 4, 55, 60, 0.1, 4},
		{"value scales up by ratio", TargetValue, 4, 90, 60, 0.1, 6},
		{"value scales down by ratio", TargetValue, 4, 30, 60, 0.1, 2},
		{"value rounds up", TargetValue, 3, 70, 60, 0.1, 4},
		{"value zero tolerance", TargetValue, 4, 61, 60, 0, 5},
		{"value at zero replicas", TargetValue, 0, 90, 60, 0.1, 2},
		{"value idle goes to zero", TargetValue, 4, 0, 60, 0.1, 0},
		{"average on target", TargetAverageValue, 3, 180, 60, 0.1, 3},
		{"average within tolerance", TargetAverageValue, 3, 195, 60, 0.1, 3},
		{"average scales up", TargetAverageValue, 3, 300, 60, 0.1, 5},
		{"average scales down", TargetAverageValue, 3, 10, 60, 0.1, 1},
		{"average at zero replicas", TargetAverageValue, 0, 120, 60, 0.1, 2},
		{"average zero at zero replicas", TargetAverageValue, 0, 0, 60, 0.1, 0},
		{"NaN counts as zero", TargetValue, 4, math.NaN(), 60, 0.1, 0},
		{"negative counts as zero", TargetAverageValue, 4, -5, 60, 0.1, 0},
		{"saturates", TargetAverageValue, 1, 1e300, 1e-300, 0.1, math.MaxInt32},
		{"target zero keeps current", TargetValue, 4, 90, 0, 0.1, 4},
		{"target NaN keeps current", TargetValue, 4, 90, math.NaN(), 0.1, 4},
		{"unknown type keeps current", "Utilization", 4, 90, 60, 0.1, 4},
		{"negative current kept", TargetValue, -1, 90, 60, 0.1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, DesiredReplicas(tt.typ, tt.current, tt.value, tt.target, tt.tolerance))
		})
	}
}

// TestHPAPairings runs the HPA loop against our own aggregation: a Deployment
// whose replicas each own one GPU serves a total demand of `demand` GPU-percent
// (500 = five GPUs' worth), spread evenly, each GPU capped at 100%. The right
// answer is about demand/target replicas.
func TestHPAPairings(t *testing.T) {
	t.Parallel()
	const target = 60.0 // sm_active_percent per GPU
	for _, demand := range []float64{50, 150, 500, 1200} {
		right := math.Ceil(demand / target)
		t.Run(fmt.Sprint(demand), func(t *testing.T) {
			t.Parallel()
			avgAverage := converge(t, AggAvg, TargetAverageValue, target, demand)
			assert.LessOrEqual(t, avgAverage, int32(2), "a per-GPU average against AverageValue caps at 2")
			for _, p := range []struct {
				agg Aggregation
				typ MetricTargetType
			}{{AggSum, TargetAverageValue}, {AggAvg, TargetValue}} {
				n := converge(t, p.agg, p.typ, target, demand)
				assert.LessOrEqual(t, float64(n), right, "%s with %s", p.agg, p.typ)
				assert.GreaterOrEqual(t, float64(n), demand/(target*(1+DefaultHPATolerance)), "%s with %s", p.agg, p.typ)
			}
			if right > 2 {
				assert.Less(t, float64(avgAverage), right, "avg with AverageValue under-provisions")
			}
		})
	}
}

// converge runs the HPA from 1 replica until the count settles.
func converge(t *testing.T, agg Aggregation, typ MetricTargetType, target, demand float64) int32 {
	t.Helper()
	tr := Trigger{Metric: SMActive, Target: target, Aggregation: agg}
	n := int32(1)
	for range 50 {
		snap := &Snapshot{GPUs: make([]GPU, n)}
		for i := range snap.GPUs {
			snap.GPUs[i].Metrics[SMActive] = Value{V: min(100, demand/float64(n)), Status: StatusOK}
		}
		v, err := aggregate(snap, &tr)
		require.NoError(t, err)
		next := min(DesiredReplicas(typ, n, v, target, DefaultHPATolerance), 100)
		if next == n {
			return n
		}
		n = next
	}
	t.Fatalf("%s with %s did not settle", agg, typ)
	return 0
}
