// SPDX-License-Identifier: Apache-2.0

package engine

// ParseKnownLines returns the lines of body that belong to known families,
// for the fuzz target's seeds.
func ParseKnownLines(body []byte) []byte {
	kept, _ := filterKnown(nil, body)
	return kept
}

// FilterKnown, FilterLineByLine and CountSamples let the fuzz target check
// the filter's shortcuts against the plain line-by-line filter, and its count
// against the full parse's.
var (
	FilterKnown      = filterKnown
	FilterLineByLine = filterLineByLine
	CountSamples     = countSamples
)
