// SPDX-License-Identifier: Apache-2.0

//go:build !unix

package engine_test

import "time"

// processCPU is not measured here: benchmarks report wall time only.
func processCPU() (time.Duration, bool) { return 0, false }
