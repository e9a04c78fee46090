// SPDX-License-Identifier: Apache-2.0

package engine

// ParseKnownLines exposes the line filter to the fuzz target's seeds.
var ParseKnownLines = keepKnown

// FilterKnown and FilterLineByLine let the fuzz target check the filter's
// shortcuts against the plain line-by-line filter.
var (
	FilterKnown      = filterKnown
	FilterLineByLine = filterLineByLine
)
