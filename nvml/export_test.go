// SPDX-License-Identifier: Apache-2.0

package nvml

import "time"

// SetGPMClock replaces the sampler's clock, for tests that take GPM samples
// faster than GPMMinInterval apart in real time.
func SetGPMClock(s *GPMSampler, now func() time.Time) { s.SetClock(now) }
