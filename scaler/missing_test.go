// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

func TestOnMissingParse(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		agg, onMissing string
		want           MissingPolicy
		describe       string
	}{
		{"sum", "", MissingFail, "fail (default for sum)"},
		{"avg", "", MissingSkip, "skip (default for avg)"},
		{"max", "", MissingSkip, "skip (default for max)"},
		{"min", "", MissingSkip, "skip (default for min)"},
		{"sum", "skip", MissingSkip, "skip (set)"},
		{"avg", "fail", MissingFail, "fail (set)"},
	} {
		md := map[string]string{"metric": "sm_active_percent", "targetValue": "50", "aggregation": tt.agg}
		if tt.onMissing != "" {
			md["onMissing"] = tt.onMissing
		}
		tr, err := ParseTrigger(md)
		require.NoError(t, err)
		assert.Equal(t, tt.want, tr.OnMissing.For(tr.Aggregation), "%s/%q", tt.agg, tt.onMissing)
		assert.Equal(t, tt.describe, tr.DescribeOnMissing())
	}
	_, err := ParseTrigger(map[string]string{"metric": "sm_active_percent", "targetValue": "50", "onMissing": "zero"})
	var me *MetadataError
	require.ErrorAs(t, err, &me)
	assert.Contains(t, err.Error(), `"onMissing"`)
	assert.Contains(t, err.Error(), `"fail" or "skip"`)
}

// A lost, a failed and a hung GPU among healthy ones: fail names each
// (including an unusable one without a UUID); skip leaves them out.
func TestOnMissingAggregate(t *testing.T) {
	t.Parallel()
	gpu := func(idx int, uuid string, h Health, err error, v float64) GPU {
		g := GPU{Device: Device{Index: idx, UUID: uuid}, Health: h, Err: err}
		if h == HealthOK {
			g.Metrics[SMActive] = Value{V: v, Status: StatusOK}
		}
		return g
	}
	snap := &Snapshot{Node: "n", GPUs: []GPU{
		gpu(0, "GPU-0", HealthOK, nil, 10),
		gpu(1, "GPU-1", HealthLost, ErrGPULost, 0),
		gpu(2, "", HealthFailed, errBoom, 0),
		gpu(3, "GPU-3", HealthFailed, ErrHung, 0),
		gpu(4, "GPU-4", HealthOK, nil, 30),
	}}
	for _, tt := range []struct {
		agg    Aggregation
		policy MissingPolicy
		want   float64
		fail   bool
	}{
		{AggSum, MissingDefault, 0, true},
		{AggSum, MissingSkip, 40, false},
		{AggAvg, MissingDefault, 20, false},
		{AggAvg, MissingFail, 0, true},
		{AggMax, MissingDefault, 30, false},
		{AggMin, MissingDefault, 10, false},
	} {
		tr := Trigger{Metric: SMActive, Aggregation: tt.agg, OnMissing: tt.policy}
		v, err := aggregate(snap, &tr)
		if !tt.fail {
			require.NoError(t, err, "%v %v", tt.agg, tt.policy)
			assert.Equal(t, tt.want, v)
			continue
		}
		requireCode(t, err, codes.Unavailable, "onMissing=fail", "3 of the 5 GPU(s)", "GPU-1 lost", "GPU 2 failed: boom",
			"GPU-3 failed: device call hung")
	}
	// A selection without the missing GPUs is not affected.
	sel, err := ParseTrigger(map[string]string{"metric": "sm_active_percent", "targetValue": "5", "aggregation": "sum", "gpuIndexes": "0,4"})
	require.NoError(t, err)
	v, err := aggregate(snap, &sel)
	require.NoError(t, err)
	assert.Equal(t, 40.0, v)
}
