// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuoteNonFinite(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"NaN value", `{"value": NaN}`, `{"value": "\u0000NaN"}`},
		{"Infinity", `[Infinity,-Infinity]`, `["\u0000+Inf","\u0000-Inf"]`},
		{"whitespace after", "[NaN\n,NaN\t,NaN\r]", "[\"\\u0000NaN\"\n,\"\\u0000NaN\"\t,\"\\u0000NaN\"\r]"},
		{"at the end of input", `NaN`, `"\u0000NaN"`},
		{"NaN in a string", `{"NaN": "NaN Infinity -Infinity"}`, `{"NaN": "NaN Infinity -Infinity"}`},
		{"escaped quote in a string", `["a\"NaN", NaN]`, `["a\"NaN", "\u0000NaN"]`},
		{"escaped backslash ends the string", `["a\\", NaN]`, `["a\\", "\u0000NaN"]`},
		{"glued to text", `[NaNx, Infinityy]`, `[NaNx, Infinityy]`},
		{"numbers untouched", `[-1.5e-05, 0, 12]`, `[-1.5e-05, 0, 12]`},
		{"lower case untouched", `[nan, inf]`, `[nan, inf]`},
		{"empty", ``, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, string(quoteNonFinite([]byte(tt.in))))
		})
	}
}

func TestPyFloat(t *testing.T) {
	t.Parallel()
	var got []pyFloat
	require.NoError(t, json.Unmarshal(quoteNonFinite([]byte(`[NaN, Infinity, -Infinity, 1.25, 0]`)), &got))
	require.Len(t, got, 5)
	assert.True(t, math.IsNaN(float64(got[0])))
	assert.Equal(t, []pyFloat{pyFloat(math.Inf(1)), pyFloat(math.Inf(-1)), 1.25, 0}, got[1:])

	for _, in := range []string{`"NaN"`, `"+Inf"`, `"1"`, `true`, `{}`} {
		var f pyFloat
		assert.Error(t, json.Unmarshal([]byte(in), &f), in)
	}
}
