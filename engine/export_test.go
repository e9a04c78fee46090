// SPDX-License-Identifier: Apache-2.0

package engine

// ParseKnownLines exposes the line filter to the fuzz target's seeds.
var ParseKnownLines = keepKnown

// FilterKnown, FilterLineByLine and CountSamples let the fuzz target check
// the filter's shortcuts against the plain line-by-line filter, and its count
// against the full parse's.
var (
	FilterKnown      = filterKnown
	FilterLineByLine = filterLineByLine
	CountSamples     = countSamples
)
