// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"time"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
)

// SetApplied installs the benchmark's hook; call it before Run or Serve.
func SetApplied(a *Aggregator, f func(n *agent.Node, at time.Time)) { a.applied = f }
