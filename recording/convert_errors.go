// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// convertErrors reads errors: nvmlErrorString's table into rec.ErrorStrings and
// every other entry, a wrapped call, into rec.ErrorPaths under the script's own
// name for it (e.g. "GetHandleByIndex(count)", "after_shutdown_GetCount"). An
// error path that succeeded is kept as 0 (success): that is what NVML answered.
func convertErrors(raw json.RawMessage, rec *Recording) error {
	obj, err := asObject(raw)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		entry := obj[name]
		if name == "nvmlErrorString" {
			if rec.ErrorStrings, err = convertErrorStrings(entry); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			continue
		}
		r, err := convertCall(entry, func(json.RawMessage) (struct{}, error) { return struct{}{}, nil })
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if rec.ErrorPaths == nil {
			rec.ErrorPaths = make(map[string]int32)
		}
		rec.ErrorPaths[name] = r.Ret
	}
	return nil
}

// convertErrorStrings reads nvmlErrorString's table, keyed by decimal return code.
func convertErrorStrings(raw json.RawMessage) (map[string]string, error) {
	table, err := decodeValue[map[string]string](raw)
	if err != nil {
		return nil, err
	}
	for code := range table {
		n, err := strconv.ParseInt(code, 10, 32)
		if err != nil || strconv.FormatInt(n, 10) != code {
			return nil, fmt.Errorf("key %q is not a decimal return code", code)
		}
	}
	return table, nil
}

// pyLatency is one latency_ns entry: ns per call over n calls, and the set of
// return codes the calls gave.
type pyLatency struct {
	PerCallNs float64 `json:"per_call_ns"`
	N         int     `json:"n"`
	Rets      []int32 `json:"rets"`
}

// convertLatency reads the latency_ns entries that have per_call_ns; the others
// (util_raw, mem_v2_raw) are the values the timed calls last wrote, not timings.
func convertLatency(raw json.RawMessage) (map[string]float64, error) {
	obj, err := asObject(raw)
	if err != nil {
		return nil, err
	}
	var out map[string]float64
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		entry := obj[name]
		members, err := asObject(entry)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if _, ok := members["per_call_ns"]; !ok {
			continue
		}
		l, err := asExact[pyLatency](entry)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if out == nil {
			out = make(map[string]float64)
		}
		out[name] = l.PerCallNs
	}
	return out, nil
}
