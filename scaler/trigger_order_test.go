// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The same bad metadata gives the same error on every call, whatever order
// the map yields its keys in: duplicates first, then the smallest unknown key,
// then the first bad value in key order, then a missing key.
func TestParseTriggerErrorOrderIsFixed(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		md   map[string]string
		want string
	}{
		{"duplicate before all", map[string]string{"metric": "nope", "bogus": "1", "zzz": "2", "window": "bad",
			"aggregation": "median", "aggregationFromEnv": "sum", "targetValue": "-1"},
			`trigger metadata "aggregationFromEnv" is "sum": want "aggregation" given only once, either directly or as "aggregationFromEnv"`},
		{"smallest unknown before values", map[string]string{"metric": "nope", "zeta": "1", "alpha": "2", "beta": "3",
			"targetValue": "-1", "window": "bad"}, `trigger metadata "alpha" is "2": want a known key`},
		{"values in key order", map[string]string{"gpuIndexes": "x", "window": "bad", "aggregation": "median",
			"activationTargetValue": "-2", "targetValue": "-1", "metric": "nope"}, `trigger metadata "metric" is "nope"`},
		{"target before the rest", map[string]string{"gpuIndexes": "x", "window": "bad", "aggregation": "median",
			"targetValue": "-1", "metric": "power_watts"}, `trigger metadata "targetValue" is "-1"`},
		{"a bad value before a missing key", map[string]string{"window": "bad", "aggregation": "median"},
			`trigger metadata "aggregation" is "median"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for range 200 {
				_, err := ParseTrigger(tt.md)
				require.Error(t, err)
				require.Contains(t, err.Error(), tt.want)
			}
		})
	}
}

// A targetValue the HPA cannot hold in thousandths is refused like one below
// the lower bound; the largest accepted one parses.
func TestParseTriggerTargetUpperBound(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"1e16", "9.3e15", "1e300"} {
		_, err := ParseTrigger(md("metric", "power_watts", "targetValue", v))
		var me *MetadataError
		require.ErrorAs(t, err, &me, v)
		assert.Equal(t, "targetValue", me.Key)
		assert.Contains(t, err.Error(), "want at most 9e15")
	}
	tr, err := ParseTrigger(md("metric", "power_watts", "targetValue", "9e15"))
	require.NoError(t, err)
	assert.Equal(t, MaxTargetValue, tr.Target)
}
