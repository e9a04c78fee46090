// SPDX-License-Identifier: Apache-2.0

package engine

import "bytes"

// known holds every family name a profile reads: the only lines worth parsing.
var known = knownFamilies()

func knownFamilies() map[string]bool {
	set := map[string]bool{}
	for _, p := range profiles {
		for _, srcs := range p.sources {
			for _, s := range srcs {
				set[s.num.family] = true
				if s.den != nil {
					set[s.den.family] = true
				}
			}
		}
		for _, m := range p.markers {
			set[m] = true
		}
	}
	return set
}

// ParseKnown is [Parse] of only the lines of families some profile reads
// (their samples, HELP and TYPE lines): an engine's body is mostly families
// the catalogue does not use (Python's gc, process, request-size histograms),
// and skipping them before the parser saves most of its work. The series cap
// applies to the whole body.
func ParseKnown(body []byte, contentType string, maxSeries int) (Families, error) {
	return parse(body, contentType, maxSeries, true)
}

// keepKnown returns the lines of body that belong to known families.
func keepKnown(body []byte) []byte {
	out := make([]byte, 0, len(body)/4)
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i+1], body[i+1:]
		} else {
			body = nil
		}
		if isKnown(line) {
			out = append(out, line...)
			if out[len(out)-1] != '\n' {
				out = append(out, '\n')
			}
		}
	}
	return out
}

// histogramSuffixes are the sample-name suffixes of a histogram family.
var histogramSuffixes = [...][]byte{[]byte("_bucket"), []byte("_sum"), []byte("_count")}

// isKnown reports whether a line belongs to a known family: a sample of one
// (a histogram's _bucket, _sum or _count included) or its HELP or TYPE
// comment. Other comments and blank lines are not. The map lookups with
// string(bytes) do not allocate.
func isKnown(line []byte) bool {
	line = bytes.TrimLeft(line, " \t")
	if len(line) > 0 && line[0] == '#' {
		rest := bytes.TrimLeft(line[1:], " \t")
		var ok bool
		if rest, ok = bytes.CutPrefix(rest, []byte("HELP")); !ok {
			if rest, ok = bytes.CutPrefix(rest, []byte("TYPE")); !ok {
				return false
			}
		}
		line = bytes.TrimLeft(rest, " \t")
	}
	end := bytes.IndexAny(line, "{ \t\r\n")
	if end < 0 {
		end = len(line)
	}
	name := line[:end]
	if known[string(name)] {
		return true
	}
	for _, suffix := range histogramSuffixes {
		if base, ok := bytes.CutSuffix(name, suffix); ok && known[string(base)] {
			return true
		}
	}
	return false
}
