// SPDX-License-Identifier: Apache-2.0

package nvml_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/nvml"
)

// GPM metrics are never computed over a gap under 100 ms (NVIDIA's minimum):
// such a call reads nothing and keeps the previous sample. After a gap over
// the SetMaxGap limit the sampler primes again instead of answering a
// minutes-long average.
func TestGPMSampleTiming(t *testing.T) {
	t.Parallel()
	lib, _ := open(t, load(t, "h200-steps.json"))
	s, err := device(t, lib, 0).NewGPMSampler(nvml.GPMSMActivity)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	nvml.SetGPMClock(s, func() time.Time { return now })
	s.SetMaxGap(300 * time.Millisecond)
	for _, step := range []struct {
		after time.Duration
		want  bool
		why   string
	}{
		{0, false, "the first sample primes"},
		{50 * time.Millisecond, false, "50 ms after: too soon, nothing read"},
		{49 * time.Millisecond, false, "99 ms after the prime: still too soon"},
		{2 * time.Millisecond, true, "over the whole 101 ms since the prime"},
		{100 * time.Millisecond, true, "exactly 100 ms later"},
		{time.Second, false, "after a 1 s gap (limit 300 ms): primes again"},
		{200 * time.Millisecond, true, "and measures from the new prime"},
	} {
		now = now.Add(step.after)
		vals, err := s.Sample()
		require.NoError(t, err, step.why)
		if step.want {
			require.Len(t, vals, 1, step.why)
			assert.NoError(t, vals[0].Err, step.why)
		} else {
			assert.Nil(t, vals, step.why)
		}
	}
}
