// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// pyDocument is the top level of a file written by nvml_record.py. library (the
// exported nvml* symbols) is required, as a sign the document came from that
// script, but not converted.
type pyDocument struct {
	Meta      json.RawMessage   `json:"meta"`
	Library   json.RawMessage   `json:"library"`
	Static    json.RawMessage   `json:"static"`
	Errors    json.RawMessage   `json:"errors"`
	LatencyNs json.RawMessage   `json:"latency_ns"`
	Series    []json.RawMessage `json:"series"`
	Phases    []json.RawMessage `json:"phases"`
}

// ConvertPython converts a document written by nvml_record.py (the independent
// pynvml recorder in shared/tools) into a [Recording] whose Source is source.
//
// # What is kept
//
// System answers, per-device static answers, the error paths (under the script's
// names, e.g. "GetHandleByIndex(count)"), nvmlErrorString's
// table, the per-call latencies that have per_call_ns (including the Python no-op
// baseline "noop_python_lambda", so readers can subtract interpreter overhead),
// the phase markers, and for each series entry every field of [DeviceSample]:
// utilization, memory (v2), the counters internal/readings lists (power,
// temperature, SM clock, …), compute processes (v3) and GPM metrics. The Description
// is derived from the device name, driver version and phase names.
//
// # What is dropped
//
// samples_gpu (nvmlDeviceGetSamples), proc_util (nvmlDeviceGetProcessUtilization)
// and pstate have no place in the recording format, nor do meta (other than
// init_ns and gpm_support), library, the static getters the format does not
// model, and the "ns" wall time of each pynvml call.
//
// # Strictness
//
// The converter never invents a value. A failed call becomes a Result holding its
// return code; a missing field, an unknown field where the script's shape is fixed,
// a null, a value out of range or a Python exception (which carries no return
// code) is an error naming the field. A missing call is never recorded as 13
// (NVML_ERROR_FUNCTION_NOT_FOUND): the script records every call it makes, and a
// symbol the library lacks already shows up as a real ret 13. GPM must be sampled in every series entry or
// in none (the script decides once). NaN and ±Inf GPM values, which Python writes
// as the non-JSON tokens NaN and Infinity, are kept as such.
//
// # Time
//
// StartUnixNanos is the first series entry's time; sample and phase offsets are
// relative to it, rounded to the nanosecond (Python wrote t as a double, good to
// about 0.25 µs at today's Unix times). A phase that started before the first
// sample is clamped to offset 0, where it is still the phase running at the first
// sample. Phases are sorted by time, since two reader threads appended them.
//
// The series samples device 0 only, so a document with more than one device is an
// error, as is one with MIG enabled (the script records no MIG devices).
func ConvertPython(r io.Reader, source string) (*Recording, error) {
	if source == "" {
		return nil, errors.New("convert: source is empty: name the file the recording came from")
	}
	data, err := readAll(r, maxSize)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	rec, err := convertDocument(quoteNonFinite(data), source)
	if err != nil {
		return nil, fmt.Errorf("convert nvml_record.py document: %w", err)
	}
	return rec, nil
}

// convertDocument does the work of ConvertPython on data after quoteNonFinite.
func convertDocument(data []byte, source string) (*Recording, error) {
	var doc pyDocument
	if err := decodeExact(data, &doc); err != nil {
		return nil, err
	}
	rec := &Recording{Format: Format, Source: source}
	meta, err := convertMeta(doc.Meta, &rec.System)
	if err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	if err := convertStatic(doc.Static, meta, rec); err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	if err := convertErrors(doc.Errors, rec); err != nil {
		return nil, fmt.Errorf("errors: %w", err)
	}
	if rec.LatencyNanos, err = convertLatency(doc.LatencyNs); err != nil {
		return nil, fmt.Errorf("latency_ns: %w", err)
	}
	if len(rec.Devices) != 1 {
		return nil, fmt.Errorf("static.devices: %d devices, but the series samples device 0 only: want 1", len(rec.Devices))
	}
	t0, err := convertSeries(doc.Series, rec)
	if err != nil {
		return nil, err
	}
	if rec.Phases, err = convertPhases(doc.Phases, t0); err != nil {
		return nil, err
	}
	rec.Description = describe(rec)
	if err := rec.Validate(); err != nil {
		return nil, fmt.Errorf("converted recording: %w", err)
	}
	return rec, nil
}

// pyMeta holds the parts of meta the converter reads.
type pyMeta map[string]json.RawMessage

// convertMeta reads meta.init_ns into sys and returns meta for later lookups.
func convertMeta(raw json.RawMessage, sys *System) (pyMeta, error) {
	meta, err := asObject(raw)
	if err != nil {
		return nil, err
	}
	initNs, ok := meta["init_ns"]
	if !ok {
		return nil, errors.New(`missing field "init_ns"`)
	}
	if sys.InitNanos, err = decodeValue[int64](initNs); err != nil {
		return nil, fmt.Errorf("init_ns: %w", err)
	}
	return meta, nil
}

// describe says what ran, from what the document itself holds.
func describe(rec *Recording) string {
	var b strings.Builder
	b.WriteString("nvml_record.py")
	if d := rec.Devices[0]; d.Name.OK() {
		fmt.Fprintf(&b, " on one %s", d.Name.Value)
	}
	if rec.System.DriverVersion.OK() {
		fmt.Fprintf(&b, " (driver %s)", rec.System.DriverVersion.Value)
	}
	if len(rec.Phases) > 0 {
		names := make([]string, len(rec.Phases))
		for i, p := range rec.Phases {
			names[i] = p.Name
		}
		fmt.Fprintf(&b, "; load phases: %s", strings.Join(names, " → "))
	}
	return b.String()
}
