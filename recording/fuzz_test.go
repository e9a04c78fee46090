// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecode feeds Decode arbitrary input: it must never panic, and whatever it
// accepts must encode and decode again to the same encoding.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"format":"nvml-scaler/recording/v1","source":"x","startUnixNs":0,"system":{},"devices":[],"samples":[{"offsetNs":0,"devices":[]}]}`))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		var first bytes.Buffer
		if err := Encode(&first, rec); err != nil {
			t.Fatalf("decoded recording does not encode: %v", err)
		}
		again, err := Decode(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("encoded recording does not decode: %v\n%s", err, first.Bytes())
		}
		var second bytes.Buffer
		if err := Encode(&second, again); err != nil {
			t.Fatalf("second encode: %v", err)
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("encoding is not stable:\n%s\n%s", first.Bytes(), second.Bytes())
		}
	})
}

// FuzzQuoteNonFinite checks the pre-pass leaves valid JSON alone (it holds no
// bare NaN or Infinity outside strings) and never panics.
func FuzzQuoteNonFinite(f *testing.F) {
	f.Add([]byte(`{"a": NaN, "b": "NaN", "c": [Infinity, -Infinity]}`))
	f.Add([]byte(`["\"NaN\\", NaN]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		out := quoteNonFinite(data)
		if json.Valid(data) && !bytes.Equal(out, data) {
			t.Fatalf("changed valid JSON:\n%s\n%s", data, out)
		}
	})
}
