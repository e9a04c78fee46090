// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests (internal and external) if any goroutine
// outlives them: the sampler, streams and servers must all stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
