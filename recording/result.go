// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"encoding/json"
	"fmt"
	"math"
)

// Result is one NVML answer: a return code and, when Ret is 0 (success), a value.
// When Ret is not 0 the value is the zero value and must not be read.
type Result[T any] struct {
	Ret   int32 `json:"ret,omitempty"`
	Value T     `json:"value,omitzero"`
}

// OK reports whether the call succeeded.
func (r Result[T]) OK() bool { return r.Ret == 0 }

// Ok returns a successful Result holding v.
func Ok[T any](v T) Result[T] { return Result[T]{Value: v} }

// Fail returns a failed Result with return code ret.
func Fail[T any](ret int32) Result[T] { return Result[T]{Ret: ret} }

// Float is a float64 whose JSON form can hold what NVML returns: NaN and ±Inf are
// written as the strings "NaN", "+Inf" and "-Inf"; finite values as JSON numbers.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON implements json.Unmarshaler. It accepts a JSON number or one of
// the strings "NaN", "+Inf", "-Inf"; anything else is an error.
func (f *Float) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		switch s {
		case "NaN":
			*f = Float(math.NaN())
		case "+Inf":
			*f = Float(math.Inf(1))
		case "-Inf":
			*f = Float(math.Inf(-1))
		default:
			return fmt.Errorf("float %q: want a number, \"NaN\", \"+Inf\" or \"-Inf\"", s)
		}
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("float %s: %w", b, err)
	}
	*f = Float(v)
	return nil
}
