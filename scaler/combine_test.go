// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestCombineMatchesAggregate checks that Combine over the selected devices'
// values (absent for unhealthy devices) gives what the node server gives.
func TestCombineMatchesAggregate(t *testing.T) {
	t.Parallel()
	gpu := func(uuid string, h Health, v Value) GPU {
		g := GPU{Device: Device{UUID: uuid}, Health: h}
		g.Metrics[SMActive] = v
		return g
	}
	snap := &Snapshot{GPUs: []GPU{
		gpu("GPU-1", HealthOK, Value{V: 10, Status: StatusOK}),
		gpu("GPU-2", HealthOK, Value{V: 30, Status: StatusOK}),
		gpu("GPU-3", HealthLost, Value{V: 99, Status: StatusOK}),
		gpu("GPU-4", HealthOK, Value{Status: StatusNotSupported}),
		gpu("GPU-5", HealthOK, Value{V: 20, Status: StatusOK}),
	}}
	var values []Value
	for _, g := range snap.GPUs {
		v := g.Metrics[SMActive]
		if g.Health != HealthOK {
			v = Value{}
		}
		values = append(values, v)
	}
	for agg, want := range map[Aggregation]float64{AggAvg: 20, AggMax: 30, AggMin: 10, AggSum: 60} {
		tr := Trigger{Metric: SMActive, Aggregation: agg, OnMissing: MissingSkip}
		fromNode, err := aggregate(snap, &tr)
		assert.NoError(t, err)
		v, n := Combine(values, agg)
		assert.Equal(t, 3, n)
		assert.Equal(t, want, v, agg.String())
		assert.Equal(t, fromNode, v, agg.String())
	}
	v, n := Combine(values[2:4], AggSum)
	assert.Zero(t, n)
	assert.Zero(t, v)
}
