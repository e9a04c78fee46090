// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFloatJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    float64
		json string
	}{
		{"NaN", math.NaN(), `"NaN"`},
		{"+Inf", math.Inf(1), `"+Inf"`},
		{"-Inf", math.Inf(-1), `"-Inf"`},
		{"zero", 0, `0`},
		{"integer", 42, `42`},
		{"fraction", 0.005956927416237419, `0.005956927416237419`},
		{"negative", -1.5, `-1.5`},
		{"tiny", 5e-324, `5e-324`},
		{"huge", math.MaxFloat64, `1.7976931348623157e+308`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(Float(tt.v))
			require.NoError(t, err)
			assert.Equal(t, tt.json, string(b))
			var back Float
			require.NoError(t, json.Unmarshal(b, &back))
			if math.IsNaN(tt.v) {
				assert.True(t, math.IsNaN(float64(back)))
				return
			}
			assert.Equal(t, tt.v, float64(back))
		})
	}
}

func TestFloatUnmarshalRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`"nan"`, `"Inf"`, `"Infinity"`, `"1.5"`, `""`, `"\u0000NaN"`, `NaN`, `true`, `{}`, `[1]`, `"NaN`} {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			var f Float
			assert.Error(t, json.Unmarshal([]byte(in), &f))
		})
	}
}

func TestFloatInStruct(t *testing.T) {
	t.Parallel()
	in := []GPMValue{{ID: 10, Value: Float(math.NaN())}, {ID: 1, Ret: 3, Value: Float(math.Inf(1))}, {ID: 2, Value: 12.5}}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.JSONEq(t, `[{"id":10,"value":"NaN"},{"id":1,"ret":3,"value":"+Inf"},{"id":2,"value":12.5}]`, string(b))
	var out []GPMValue
	require.NoError(t, json.Unmarshal(b, &out))
	require.Len(t, out, 3)
	assert.True(t, math.IsNaN(float64(out[0].Value)))
	assert.Equal(t, in[1:], out[1:])
}

func TestResult(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    Result[uint32]
		json string
		ok   bool
	}{
		{"success", Ok[uint32](79942), `{"value":79942}`, true},
		{"success with zero", Ok[uint32](0), `{}`, true},
		{"failure", Fail[uint32](3), `{"ret":3}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.ok, tt.r.OK())
			b, err := json.Marshal(tt.r)
			require.NoError(t, err)
			assert.Equal(t, tt.json, string(b))
			var back Result[uint32]
			require.NoError(t, json.Unmarshal(b, &back))
			assert.Equal(t, tt.r, back)
		})
	}
}
