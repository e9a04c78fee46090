// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MetadataError is a trigger metadata key whose value is missing or malformed.
// Its message names the key, the value and the accepted form.
type MetadataError struct {
	Key   string
	Value string
	// Missing is true when a required key is absent.
	Missing bool
	// Want describes what the key accepts.
	Want string
}

// Error implements error.
func (e *MetadataError) Error() string {
	if e.Missing {
		return fmt.Sprintf("trigger metadata %q is missing: want %s", e.Key, e.Want)
	}
	v := e.Value
	if len(v) > maxQuotedValue {
		v = v[:maxQuotedValue] + "…"
	}
	return fmt.Sprintf("trigger metadata %q is %q: want %s", e.Key, v, e.Want)
}

// MaxTargetValue is the largest targetValue accepted: KEDA hands it to the
// HPA as a quantity, and the HPA computes in thousandths held in an int64
// (resource.Quantity.MilliValue), which overflows above math.MaxInt64/1000,
// about 9.22e15.
const MaxTargetValue = 9e15

// Accepted forms, for error messages.
const (
	wantTarget     = "a finite number greater than 0, e.g. \"60\""
	wantTargetMax  = "at most 9e15 (the HPA holds a target in thousandths, in an int64)"
	wantActivation = "a finite number of at least 0, e.g. \"5\" (default 0)"
	wantAgg        = "one of avg, max, min, sum (default avg)"
	wantWindow     = "a duration from 0s to 10m, e.g. \"30s\" (default 0: newest sweep only)"
	wantUUIDs      = "comma-separated GPU or MIG UUIDs, e.g. \"GPU-1f2e…,MIG-9a8b…\""
	wantIndexes    = "comma-separated GPU indexes, e.g. \"0,1\""
	wantModel      = "a GPU model name as NVML reports it, e.g. \"NVIDIA H200\""
)

// parseNumber parses a finite decimal number. Hex floats, "NaN" and "Inf" are
// rejected: nobody means them in a threshold.
func parseNumber(s string) (float64, bool) {
	if strings.ContainsAny(s, "xXpPnNiI_") {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func parseAggregation(s string) (Aggregation, bool) {
	for a, name := range aggNames {
		if strings.EqualFold(s, name) {
			return Aggregation(a), true
		}
	}
	return 0, false
}

// validList reports whether s is a comma-separated list whose every element,
// trimmed, satisfies ok.
func validList(s string, ok func(string) bool) bool {
	for elem := range strings.SplitSeq(s, ",") {
		if !ok(strings.TrimSpace(elem)) {
			return false
		}
	}
	return true
}

// validUUID accepts NVML's device UUID forms: "GPU-" or "MIG-" followed by hex
// digits and dashes (old MIG UUIDs have the form "MIG-GPU-<uuid>/<gi>/<ci>").
func validUUID(s string) bool {
	rest, ok := strings.CutPrefix(s, "GPU-")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "MIG-"); !ok {
			return false
		}
	}
	if rest == "" || len(s) > 128 {
		return false
	}
	for _, c := range rest {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '-' || c == '/' || c == 'G' || c == 'P' || c == 'U') {
			return false
		}
	}
	return true
}

// maxGPUIndex bounds gpuIndexes: NVML numbers devices from 0, and no node has
// anywhere near this many.
const maxGPUIndex = 1 << 16

func validIndex(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n < maxGPUIndex && s[0] != '+'
}

// sanitize lowercases s and replaces anything but [a-z0-9-] with '-', so the
// name is valid wherever Kubernetes uses metric names.
func sanitize(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}
