// SPDX-License-Identifier: Apache-2.0

package scaler

import "time"

// NewSamplerMinInterval is NewSampler with minInterval in place of
// MinInterval: the soak test samples at 100 Hz, faster than a node should.
// Test-only: it exists in the package's tests, not in its API.
func NewSamplerMinInterval(cfg SamplerConfig, minInterval time.Duration) (*Sampler, error) {
	return newSampler(cfg, minInterval)
}
