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

// filterKnown makes one pass over body: it appends to dst the lines of known
// families (each ending in a newline) and counts the sample lines of the whole
// body (neither blank nor a comment: an upper bound on the series a full parse
// would build, for the series cap). Runs of kept lines are copied at once, and
// a sample of the family of the line before reuses its verdict: the lines of a
// family are usually together.
func filterKnown(dst, body []byte) (kept []byte, samples int) {
	var last []byte // the family name of the line before, nil at the start
	keep, run := false, 0
	for pos := 0; pos < len(body); {
		end := len(body)
		if i := bytes.IndexByte(body[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		if line := body[pos:end]; sameFamily(line, last) {
			samples++ // and the verdict stands
		} else {
			name, sample := lineFamily(line)
			if sample {
				samples++
			}
			keep, last = len(name) > 0 && knownName(name), name
		}
		if !keep {
			dst = append(dst, body[run:pos]...)
			run = end
		}
		pos = end
	}
	dst = append(dst, body[run:]...)
	if len(dst) > 0 && dst[len(dst)-1] != '\n' {
		dst = append(dst, '\n')
	}
	return dst, samples
}

// histogramSuffixes are the sample-name suffixes of a histogram family.
var histogramSuffixes = [...][]byte{[]byte("_bucket"), []byte("_sum"), []byte("_count")}

// sameFamily reports whether line is a sample of family last (a name from
// [lineFamily], empty at the start): it starts with that name followed by a
// brace or blank. A name that starts with '#' is never matched, so a comment
// is never taken for a sample.
func sameFamily(line, last []byte) bool {
	n := len(last)
	return n > 0 && last[0] != '#' && len(line) > n && bytes.HasPrefix(line, last) && nameEnd(line[n:]) == 0
}

// nameEnd returns the index of the first brace or blank in b (the end of a
// metric name), len(b) when there is none.
func nameEnd(b []byte) int {
	for i, c := range b {
		switch c {
		case '{', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return len(b)
}

// trimBlank drops leading spaces and tabs.
func trimBlank(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// lineFamily returns the family name a line names: a sample's metric name
// (up to the first brace or blank) or the name in a HELP or TYPE comment; nil
// for other comments and blank lines. sample reports whether the line is a
// sample line (not blank, not a comment).
func lineFamily(line []byte) (name []byte, sample bool) {
	line = trimBlank(line)
	if len(line) == 0 || line[0] == '\n' {
		return nil, false
	}
	sample = line[0] != '#'
	if !sample {
		rest := trimBlank(line[1:])
		var ok bool
		if rest, ok = bytes.CutPrefix(rest, []byte("HELP")); !ok {
			if rest, ok = bytes.CutPrefix(rest, []byte("TYPE")); !ok {
				return nil, false
			}
		}
		line = trimBlank(rest)
	}
	return line[:nameEnd(line)], sample
}

// knownName reports whether a sample or comment of family name belongs to a
// known family (a histogram's _bucket, _sum or _count included). The map
// lookups with string(bytes) do not allocate.
func knownName(name []byte) bool {
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
