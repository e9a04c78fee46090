// SPDX-License-Identifier: Apache-2.0

package recorder

import (
	"errors"
	"strconv"
	"time"

	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

// result turns a binding answer into a recorded Result: the value on success,
// the NVML return code on failure (999, unknown, for an error that carries none).
func result[T any](v T, err error) recording.Result[T] {
	if err == nil {
		return recording.Ok(v)
	}
	var r nvml.Return
	if errors.As(err, &r) {
		return recording.Fail[T](int32(r))
	}
	return recording.Fail[T](int32(nvml.ErrUnknown))
}

func system(lib *nvml.Library) recording.System {
	var s recording.System
	s.DriverVersion = result(lib.DriverVersion())
	s.NVMLVersion = result(lib.NVMLVersion())
	v, err := lib.CUDADriverVersion()
	s.CUDADriverVersion = result(int32(v), err)
	n, err := lib.DeviceCount()
	s.DeviceCount = result(uint32(n), err)
	return s
}

func errorStrings(lib *nvml.Library) map[string]string {
	out := map[string]string{}
	for code := range 31 {
		out[strconv.Itoa(code)] = lib.ErrorString(nvml.Return(code))
	}
	out["999"] = lib.ErrorString(nvml.ErrUnknown)
	return out
}

// errorPaths records the answers to calls that must fail, under the names
// nvml_record.py uses, so recordings of both origins compare.
func errorPaths(lib *nvml.Library, count int) map[string]int32 {
	code := func(err error) int32 { return result(0, err).Ret }
	_, e1 := lib.DeviceByIndex(count)
	_, e2 := lib.DeviceByIndex(999)
	_, e3 := lib.DeviceByUUID("GPU-00000000-0000-0000-0000-000000000000")
	paths := map[string]int32{
		"GetHandleByIndex(count)": code(e1),
		"GetHandleByIndex(999)":   code(e2),
		"GetHandleByUUID(bogus)":  code(e3),
	}
	if d, err := lib.DeviceByIndex(0); err == nil {
		if on, _, _ := d.MIGMode(); !on {
			_, e := d.MIGDeviceByIndex(0)
			paths["GetMigDeviceHandleByIndex(0)"] = code(e)
		}
	}
	return paths
}

// latency measures the per-call cost of the two hottest calls on the first GPU
// (ns per call, 2000 calls), as nvml_record.py does.
func latency(devs []nvml.Device) map[string]float64 {
	if len(devs) == 0 {
		return nil
	}
	const n = 2000
	d := devs[0]
	timeIt := func(f func()) float64 {
		start := time.Now()
		for range n {
			f()
		}
		return float64(time.Since(start).Nanoseconds()) / n
	}
	return map[string]float64{
		"nvmlDeviceGetUtilizationRates": timeIt(func() { _, _ = d.Utilization() }),
		"nvmlDeviceGetMemoryInfo_v2":    timeIt(func() { _, _ = d.Memory() }),
	}
}
