// SPDX-License-Identifier: Apache-2.0

//go:build !unix

package cputime

import "time"

func process() (time.Duration, bool) { return 0, false }
