// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// decodeExact decodes the JSON object data into v, a pointer to a struct, and is
// stricter than encoding/json in the three ways the converter needs to never
// invent a value: every key must name a field, every field must be present unless
// its tag says omitempty, and null is accepted only for pointer fields (encoding/json
// would silently leave a zero value for a missing key or a null).
func decodeExact(data []byte, v any) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("want an object: %w", err)
	}
	if obj == nil {
		return errors.New("want an object, got null")
	}
	t := reflect.TypeOf(v).Elem()
	known := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		known[name] = true
		raw, ok := obj[name]
		switch {
		case !ok && !strings.Contains(opts, "omitempty"):
			return fmt.Errorf("missing field %q", name)
		case ok && bytes.Equal(raw, []byte("null")) && f.Type.Kind() != reflect.Pointer:
			return fmt.Errorf("field %q is null", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		if !known[name] {
			return fmt.Errorf("unknown field %q", name)
		}
	}
	return json.Unmarshal(data, v)
}

// decodeValue decodes data into a T, rejecting null (which encoding/json would
// read as the zero value).
func decodeValue[T any](data json.RawMessage) (T, error) {
	var v T
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return v, errors.New("value is null")
	}
	err := json.Unmarshal(data, &v)
	return v, err
}
