// SPDX-License-Identifier: Apache-2.0

//go:build unix

package engine_test

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time this process has used so far (user +
// system, all threads); false when the kernel does not say.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
