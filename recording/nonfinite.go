// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// Python's json module writes non-finite floats as the bare tokens NaN, Infinity
// and -Infinity, which are not JSON. quoteNonFinite turns each such token found
// outside a string into one of these marker strings, so encoding/json can read the
// document and [pyFloat] can turn the markers back into floats. The markers start
// with a NUL character so that no string nvml_record.py writes can be mistaken
// for one: a float field holding the string "NaN" stays an error. (The reverse, a
// bare NaN where a string is due, would read as the marker string; the script
// writes non-finite values only where NVML returns a double.)
const (
	pyNaN    = "\x00NaN"
	pyPosInf = "\x00+Inf"
	pyNegInf = "\x00-Inf"
)

// quoteNonFinite returns data with every bare NaN, Infinity and -Infinity token
// outside JSON strings replaced by a marker string (see [pyNaN]). It tracks string
// state, including escapes, so "NaN" inside a string is left alone. A token that is
// not followed by a delimiter (NaNx) is left as it is for the JSON decoder to reject.
func quoteNonFinite(data []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(data))
	inString, escaped := false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			out.WriteByte(c)
			continue
		}
		if c == '"' {
			inString = true
			out.WriteByte(c)
			continue
		}
		if quoted, n := matchNonFinite(data[i:]); n > 0 {
			out.WriteString(quoted)
			i += n - 1
			continue
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}

// matchNonFinite reports which non-finite token starts data, if any, as its quoted
// replacement and the token's length; n is 0 when none does.
func matchNonFinite(data []byte) (quoted string, n int) {
	var token string
	switch {
	case bytes.HasPrefix(data, []byte("NaN")):
		token, quoted = "NaN", `"\u0000NaN"`
	case bytes.HasPrefix(data, []byte("Infinity")):
		token, quoted = "Infinity", `"\u0000+Inf"`
	case bytes.HasPrefix(data, []byte("-Infinity")):
		token, quoted = "-Infinity", `"\u0000-Inf"`
	default:
		return "", 0
	}
	if rest := data[len(token):]; len(rest) > 0 && !isDelimiter(rest[0]) {
		return "", 0
	}
	return quoted, len(token)
}

// isDelimiter reports whether c may follow a JSON value.
func isDelimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ']', '}':
		return true
	}
	return false
}

// pyFloat is a float read from a Python-written document after [quoteNonFinite]:
// a JSON number or one of the marker strings, and nothing else.
type pyFloat float64

// UnmarshalJSON implements json.Unmarshaler.
func (f *pyFloat) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		switch s {
		case pyNaN:
			*f = pyFloat(math.NaN())
		case pyPosInf:
			*f = pyFloat(math.Inf(1))
		case pyNegInf:
			*f = pyFloat(math.Inf(-1))
		default:
			return fmt.Errorf("float %q: want a number, NaN, Infinity or -Infinity", s)
		}
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("float %s: %w", b, err)
	}
	*f = pyFloat(v)
	return nil
}
