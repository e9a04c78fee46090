// SPDX-License-Identifier: Apache-2.0

// Package cputime reads the CPU time this process has used, for benchmarks
// and soaks that state a cost as a share of a core: on a loaded machine wall
// time also counts the waits for a core, CPU time does not.
package cputime

import "time"

// Process returns the CPU time this process has used so far: user + system,
// every thread (the garbage collector's included). ok is false where the
// kernel does not say (non-unix systems), and the duration is then 0.
func Process() (d time.Duration, ok bool) { return process() }
