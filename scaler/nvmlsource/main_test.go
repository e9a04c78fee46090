// SPDX-License-Identifier: Apache-2.0

package nvmlsource

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: the
// sampler, its watchdog and the servers of the fault tests must all stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
