// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"bytes"
	"strings"
)

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
		if known[familyOf(line)] {
			out = append(out, line...)
			if out[len(out)-1] != '\n' {
				out = append(out, '\n')
			}
		}
	}
	return out
}

// familyOf returns the family a line belongs to: the name of a sample (with a
// histogram's _bucket, _sum or _count cut) or of a HELP or TYPE comment; ""
// for other comments and blank lines.
func familyOf(line []byte) string {
	line = bytes.TrimLeft(line, " \t")
	if len(line) > 0 && line[0] == '#' {
		rest := bytes.TrimLeft(line[1:], " \t")
		var ok bool
		if rest, ok = bytes.CutPrefix(rest, []byte("HELP")); !ok {
			if rest, ok = bytes.CutPrefix(rest, []byte("TYPE")); !ok {
				return ""
			}
		}
		line = bytes.TrimLeft(rest, " \t")
	}
	end := bytes.IndexAny(line, "{ \t\r\n")
	if end < 0 {
		end = len(line)
	}
	name := string(line[:end]) // no allocation: the compiler interns map lookups of string(bytes)
	if known[name] {
		return name
	}
	for _, suffix := range [...]string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return base
		}
	}
	return name
}
