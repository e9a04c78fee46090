// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// pySeriesEntry (sample_gen.go) is generated from internal/readings.Fields.

// convertSeries fills rec.StartUnixNanos and rec.Samples from series, and returns
// the first entry's time (Unix seconds), which all offsets are relative to.
func convertSeries(series []json.RawMessage, rec *Recording) (float64, error) {
	if len(series) == 0 {
		return 0, errors.New("series: no entries")
	}
	rec.Samples = make([]Sample, len(series))
	var t0 float64
	withGPM := 0
	for i, raw := range series {
		var e pySeriesEntry
		if err := decodeExact(raw, &e); err != nil {
			return 0, fmt.Errorf("series[%d]: %w", i, err)
		}
		if i == 0 {
			t0 = e.T
			start, err := secondsToNanos(t0)
			if err != nil {
				return 0, fmt.Errorf("series[0].t: %w", err)
			}
			rec.StartUnixNanos = start
		}
		offset, err := secondsToNanos(e.T - t0)
		if err != nil {
			return 0, fmt.Errorf("series[%d].t: %w", i, err)
		}
		ds, err := convertDeviceSample(&e)
		if err != nil {
			return 0, fmt.Errorf("series[%d].%w", i, err)
		}
		if e.GPM != nil {
			withGPM++
		}
		rec.Samples[i] = Sample{OffsetNanos: offset, Devices: []DeviceSample{ds}}
	}
	if withGPM != 0 && withGPM != len(series) {
		return 0, fmt.Errorf("series: %d of %d entries have gpm: want all or none", withGPM, len(series))
	}
	return t0, nil
}

// convertDeviceSample reads one entry's answers. Its errors start with the field
// name, for the caller to prefix with "series[i].".
func convertDeviceSample(e *pySeriesEntry) (DeviceSample, error) {
	obj := map[string]json.RawMessage{"util": e.Util, "mem_v2": e.MemV2, "procs": e.Procs}
	e.addCounters(obj)
	var err error
	var ds DeviceSample
	ds.Utilization = field(&err, obj, "util", asExact[Utilization])
	ds.Memory = field(&err, obj, "mem_v2", asMemoryV2)
	convertCounters(&err, obj, &ds)
	ds.Processes = field(&err, obj, "procs", asProcesses)
	if err != nil {
		return DeviceSample{}, err
	}
	if e.GPM != nil {
		if ds.GPM, err = asGPM(e.GPM); err != nil {
			return DeviceSample{}, fmt.Errorf("gpm: %w", err)
		}
	}
	return ds, nil
}

// secondsToNanos converts seconds to whole nanoseconds, rounding to nearest.
func secondsToNanos(s float64) (int64, error) {
	ns := math.Round(s * 1e9)
	if math.IsNaN(ns) || ns < math.MinInt64 || ns >= math.MaxInt64 {
		return 0, fmt.Errorf("%v s is out of range", s)
	}
	return int64(ns), nil
}

// pyMemoryV2 is nvmlMemory_v2_t as pynvml converts it, version included.
type pyMemoryV2 struct {
	Version  uint32 `json:"version"`
	Total    uint64 `json:"total"`
	Reserved uint64 `json:"reserved"`
	Free     uint64 `json:"free"`
	Used     uint64 `json:"used"`
}

// asMemoryV2 reads nvmlMemory_v2_t, checking its version word says v2: the
// recording format's Memory has a Reserved field that v1 does not.
func asMemoryV2(raw json.RawMessage) (Memory, error) {
	m, err := asExact[pyMemoryV2](raw)
	if err != nil {
		return Memory{}, err
	}
	if m.Version>>24 != 2 {
		return Memory{}, fmt.Errorf("version %#x is not nvmlMemory_v2", m.Version)
	}
	return Memory{Total: m.Total, Reserved: m.Reserved, Free: m.Free, Used: m.Used}, nil
}

// pyProcess is nvmlProcessInfo_t (v3) as pynvml converts it: pynvml replaces
// NVML_VALUE_NOT_AVAILABLE in usedGpuMemory with None.
type pyProcess struct {
	PID               uint32  `json:"pid"`
	UsedGPUMemory     *uint64 `json:"usedGpuMemory"`
	GPUInstanceID     uint32  `json:"gpuInstanceId"`
	ComputeInstanceID uint32  `json:"computeInstanceId"`
}

// valueNotAvailable is NVML_VALUE_NOT_AVAILABLE as an unsigned long long.
const valueNotAvailable = math.MaxUint64

// asProcesses reads the compute process list. It is never nil on success, so an
// empty list stays distinct from a missing one.
func asProcesses(raw json.RawMessage) ([]Process, error) {
	list, err := decodeValue[[]json.RawMessage](raw)
	if err != nil {
		return nil, err
	}
	procs := make([]Process, len(list))
	for i, r := range list {
		p, err := asExact[pyProcess](r)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		// pynvml turned NVML's own value into None; turning it back invents nothing.
		used := uint64(valueNotAvailable)
		if p.UsedGPUMemory != nil {
			used = *p.UsedGPUMemory
		}
		procs[i] = Process{PID: p.PID, UsedGPUMemory: used, GPUInstanceID: p.GPUInstanceID, ComputeInstanceID: p.ComputeInstanceID}
	}
	return procs, nil
}

// pyGPMValue is one metric of nvmlGpmMetricsGet: id, per-metric return code and
// value (kept as recorded even when ret is not 0: it is what NVML wrote).
type pyGPMValue struct {
	ID    uint32  `json:"id"`
	Ret   int32   `json:"ret"`
	Value pyFloat `json:"value"`
}

// asGPM reads a series entry's gpm list. When GPM sampling raised, the script
// wrote {"exc": …} instead, which has no return code, so it is an error.
func asGPM(raw json.RawMessage) ([]GPMValue, error) {
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		return nil, fmt.Errorf("python exception instead of GPM metrics: %s", t)
	}
	list, err := decodeValue[[]json.RawMessage](raw)
	if err != nil {
		return nil, err
	}
	out := make([]GPMValue, len(list))
	for i, r := range list {
		g, err := asExact[pyGPMValue](r)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out[i] = GPMValue{ID: g.ID, Ret: g.Ret, Value: Float(g.Value)}
	}
	return out, nil
}
