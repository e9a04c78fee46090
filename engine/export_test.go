// SPDX-License-Identifier: Apache-2.0

package engine

// ParseKnownLines exposes the line filter to the fuzz target's seeds.
var ParseKnownLines = keepKnown
