// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exactSample exercises decodeExact's rules: required, optional and pointer fields.
type exactSample struct {
	A uint32          `json:"a"`
	B *uint64         `json:"b"`
	C json.RawMessage `json:"c,omitempty"`
	D string          `json:"-"`
}

func TestDecodeExact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, wantErr string
	}{
		{"all fields", `{"a": 1, "b": 2, "c": [3]}`, ""},
		{"optional field absent", `{"a": 1, "b": 2}`, ""},
		{"null pointer", `{"a": 1, "b": null}`, ""},
		{"missing field", `{"b": 2}`, `missing field "a"`},
		{"missing pointer field", `{"a": 1}`, `missing field "b"`},
		{"null non-pointer", `{"a": null, "b": 2}`, `field "a" is null`},
		{"null optional", `{"a": 1, "b": 2, "c": null}`, `field "c" is null`},
		{"unknown field", `{"a": 1, "b": 2, "z": 0}`, `unknown field "z"`},
		{"case differs", `{"A": 1, "a": 1, "b": 2}`, `unknown field "A"`},
		{"ignored field name", `{"a": 1, "b": 2, "-": 0}`, `unknown field "-"`},
		{"out of range", `{"a": -1, "b": 2}`, "uint32"},
		{"array", `[]`, "want an object"},
		{"null", `null`, "want an object, got null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var v exactSample
			err := decodeExact([]byte(tt.in), &v)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, uint32(1), v.A)
		})
	}
}

func TestDecodeValue(t *testing.T) {
	t.Parallel()
	v, err := decodeValue[uint32](json.RawMessage(`7`))
	require.NoError(t, err)
	assert.Equal(t, uint32(7), v)
	_, err = decodeValue[uint32](json.RawMessage(` null `))
	assert.ErrorContains(t, err, "value is null")
	_, err = decodeValue[string](json.RawMessage(`7`))
	assert.Error(t, err)
}
