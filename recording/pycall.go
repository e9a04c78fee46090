// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"encoding/json"
	"errors"
	"fmt"
)

// pyCall is how nvml_record.py wraps every NVML call: {"ok": true, "value": …} on
// success, {"ok": false, "ret": N, "err": "…"} when NVML returned an error, and
// {"ok": false, "exc": "…"} when Python raised something else. ns is the wall time
// of the call through pynvml; the recording format does not keep it.
type pyCall struct {
	OK    bool            `json:"ok"`
	Value json.RawMessage `json:"value,omitempty"`
	Ret   *int32          `json:"ret,omitempty"`
	Err   string          `json:"err,omitempty"`
	Exc   string          `json:"exc,omitempty"`
	NS    int64           `json:"ns,omitempty"`
}

// convertCall turns one wrapped call into a Result, reading the value with conv.
// A Python exception is an error, not a return code: the script kept only its
// repr, and calling it any nvmlReturn_t would invent one.
func convertCall[T any](raw json.RawMessage, conv func(json.RawMessage) (T, error)) (Result[T], error) {
	var c pyCall
	if err := decodeExact(raw, &c); err != nil {
		return Result[T]{}, err
	}
	switch {
	case c.Exc != "":
		return Result[T]{}, fmt.Errorf("python exception %s instead of an NVML answer", c.Exc)
	case c.OK && c.Ret != nil:
		return Result[T]{}, errors.New(`successful call has a "ret"`)
	case c.OK && c.Value == nil:
		return Result[T]{}, errors.New(`missing field "value"`)
	case c.OK:
		v, err := conv(c.Value)
		if err != nil {
			return Result[T]{}, fmt.Errorf("value: %w", err)
		}
		return Ok(v), nil
	case c.Ret == nil:
		return Result[T]{}, errors.New(`failed call has no "ret"`)
	case *c.Ret == 0:
		return Result[T]{}, errors.New(`failed call has "ret" 0 (success)`)
	case c.Value != nil:
		return Result[T]{}, errors.New(`failed call has a "value"`)
	}
	return Fail[T](*c.Ret), nil
}

// callField converts the wrapped call obj[key]. A missing key is an error, never a
// made-up return code: nvml_record.py records every call it makes, so a missing
// key means the document is not what this converter understands.
func callField[T any](obj map[string]json.RawMessage, key string, conv func(json.RawMessage) (T, error)) (Result[T], error) {
	raw, ok := obj[key]
	if !ok {
		return Result[T]{}, fmt.Errorf("missing field %q", key)
	}
	r, err := convertCall(raw, conv)
	if err != nil {
		return Result[T]{}, fmt.Errorf("%s: %w", key, err)
	}
	return r, nil
}

// asExact reads a JSON object into a T with [decodeExact].
func asExact[T any](raw json.RawMessage) (T, error) {
	var v T
	err := decodeExact(raw, &v)
	return v, err
}

// asPair reads a JSON array of exactly two integers, as pynvml returns tuples
// such as (major, minor) and (current, pending).
func asPair[T int32 | uint32](raw json.RawMessage) ([2]T, error) {
	v, err := decodeValue[[]T](raw)
	if err != nil {
		return [2]T{}, err
	}
	if len(v) != 2 {
		return [2]T{}, fmt.Errorf("want a pair, got %d elements", len(v))
	}
	return [2]T{v[0], v[1]}, nil
}

// asObject reads a JSON object as its raw members.
func asObject(raw json.RawMessage) (map[string]json.RawMessage, error) {
	obj, err := decodeValue[map[string]json.RawMessage](raw)
	if err != nil {
		return nil, fmt.Errorf("want an object: %w", err)
	}
	return obj, nil
}

// field is callField for a run of fields: after the first error it does nothing
// and leaves that error in *err, so a caller reads many fields and checks once.
func field[T any](err *error, obj map[string]json.RawMessage, key string, conv func(json.RawMessage) (T, error)) Result[T] {
	if *err != nil {
		return Result[T]{}
	}
	r, e := callField(obj, key, conv)
	*err = e
	return r
}
