// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkMatchesSource checks every converted value against the source document
// read independently (generically, numbers as decimal strings), so no expected
// value is typed by hand.
func checkMatchesSource(t *testing.T, f fixture, rec *Recording) {
	doc := readSource(t, f.path)
	assert.Equal(t, f.source, rec.Source)
	checkSystem(t, rec, doc)
	checkDevice(t, rec.Devices[0], at(t, doc, "static", "devices", 0))
	checkErrors(t, rec, doc)
	checkSeries(t, rec, doc)
	checkPhases(t, rec, doc)
}

func checkSystem(t *testing.T, rec *Recording, doc any) {
	s := at(t, doc, "static")
	assert.Equal(t, at(t, s, "nvmlSystemGetDriverVersion", "value"), rec.System.DriverVersion.Value)
	assert.Equal(t, at(t, s, "nvmlSystemGetNVMLVersion", "value"), rec.System.NVMLVersion.Value)
	assert.Equal(t, num(t, s, "nvmlSystemGetCudaDriverVersion_v2", "value"), itoa(rec.System.CUDADriverVersion.Value))
	assert.Equal(t, num(t, s, "nvmlDeviceGetCount", "value"), itoa(rec.System.DeviceCount.Value))
	assert.Equal(t, num(t, doc, "meta", "init_ns"), itoa(rec.System.InitNanos))
}

func checkDevice(t *testing.T, d Device, src any) {
	v := func(key string, path ...any) any { return at(t, src, append([]any{key, "value"}, path...)...) }
	n := func(key string, path ...any) string { return num(t, src, append([]any{key, "value"}, path...)...) }
	assert.Equal(t, v("nvmlDeviceGetName"), d.Name.Value)
	assert.Equal(t, v("nvmlDeviceGetUUID"), d.UUID.Value)
	p := d.PCI.Value
	assert.Equal(t, v("nvmlDeviceGetPciInfo_v3", "busId"), p.BusID)
	assert.Equal(t, v("nvmlDeviceGetPciInfo_v3", "busIdLegacy"), p.BusIDLegacy)
	assert.Equal(t, n("nvmlDeviceGetPciInfo_v3", "pciDeviceId"), itoa(p.PCIDeviceID))
	assert.Equal(t, n("nvmlDeviceGetPciInfo_v3", "pciSubSystemId"), itoa(p.PCISubSystemID))
	assert.Equal(t, n("nvmlDeviceGetPciInfo_v3", "device"), itoa(p.Device))
	assert.Equal(t, n("nvmlDeviceGetArchitecture"), itoa(d.Architecture.Value))
	assert.Equal(t, n("nvmlDeviceGetCudaComputeCapability", 0), itoa(d.ComputeCapability.Value[0]))
	assert.Equal(t, n("nvmlDeviceGetCudaComputeCapability", 1), itoa(d.ComputeCapability.Value[1]))
	assert.Equal(t, n("nvmlDeviceGetMemoryInfo", "total"), itoa(d.MemoryV1.Value.Total))
	assert.Equal(t, n("nvmlDeviceGetMemoryInfo", "free"), itoa(d.MemoryV1.Value.Free))
	assert.Equal(t, n("nvmlDeviceGetMemoryInfo", "used"), itoa(d.MemoryV1.Value.Used))
	assert.Equal(t, n("nvmlDeviceGetEnforcedPowerLimit"), itoa(d.PowerLimitMilliwatts.Value))
	assert.Equal(t, n("nvmlDeviceGetMigMode", 0), itoa(d.MIGMode.Value.Current))
	assert.Equal(t, n("nvmlDeviceGetMigMode", 1), itoa(d.MIGMode.Value.Pending))
	assert.Equal(t, n("nvmlDeviceGetMaxMigDeviceCount"), itoa(d.MaxMIGDeviceCount.Value))
	assert.Equal(t, n("nvmlGpmQueryDeviceSupport", "isSupportedDevice") == "1", d.GPMSupported.Value)
	assert.True(t, d.GPMSupported.OK())
}

func checkErrors(t *testing.T, rec *Recording, doc any) {
	errs := at(t, doc, "errors").(map[string]any)
	for code, s := range at(t, errs, "nvmlErrorString").(map[string]any) {
		assert.Equal(t, s, rec.ErrorStrings[code], "nvmlErrorString(%s)", code)
	}
	assert.Len(t, rec.ErrorPaths, len(errs)-1)
	for name := range errs {
		if name != "nvmlErrorString" {
			assert.Equal(t, num(t, errs, name, "ret"), itoa(rec.ErrorPaths[name]), name)
		}
	}
	timed := 0
	for name, e := range at(t, doc, "latency_ns").(map[string]any) {
		if _, ok := e.(map[string]any)["per_call_ns"]; ok {
			timed++
			assert.Equal(t, parseFloat(t, num(t, e, "per_call_ns")), rec.LatencyNanos[name], name)
		}
	}
	assert.Len(t, rec.LatencyNanos, timed)
}

func checkSeries(t *testing.T, rec *Recording, doc any) {
	series := at(t, doc, "series").([]any)
	require.Len(t, rec.Samples, len(series))
	t0 := parseFloat(t, num(t, series[0], "t"))
	assert.Equal(t, int64(math.Round(t0*1e9)), rec.StartUnixNanos)
	for i, e := range series {
		s := rec.Samples[i]
		assert.Equal(t, int64(math.Round((parseFloat(t, num(t, e, "t"))-t0)*1e9)), s.OffsetNanos, "sample %d", i)
		d := s.Devices[0]
		checkCall(t, e, "util", d.Utilization.Ret, func(v any) {
			assert.Equal(t, num(t, v, "gpu"), itoa(d.Utilization.Value.GPU))
			assert.Equal(t, num(t, v, "memory"), itoa(d.Utilization.Value.Memory))
		})
		checkCall(t, e, "mem_v2", d.Memory.Ret, func(v any) {
			m := d.Memory.Value
			got := []string{itoa(m.Total), itoa(m.Reserved), itoa(m.Free), itoa(m.Used)}
			want := []string{num(t, v, "total"), num(t, v, "reserved"), num(t, v, "free"), num(t, v, "used")}
			assert.Equal(t, want, got, "sample %d memory", i)
		})
		checkScalar(t, e, "power_mw", d.PowerMilliwatts)
		checkScalar(t, e, "temp_c", d.TemperatureC)
		checkScalar(t, e, "sm_clock", d.SMClockMHz)
		checkCall(t, e, "procs", d.Processes.Ret, func(v any) {
			procs := v.([]any)
			require.Len(t, d.Processes.Value, len(procs), "sample %d", i)
			for j, p := range d.Processes.Value {
				assert.Equal(t, num(t, procs[j], "pid"), itoa(p.PID))
				assert.Equal(t, num(t, procs[j], "usedGpuMemory"), itoa(p.UsedGPUMemory))
				assert.Equal(t, num(t, procs[j], "gpuInstanceId"), itoa(p.GPUInstanceID))
				assert.Equal(t, num(t, procs[j], "computeInstanceId"), itoa(p.ComputeInstanceID))
			}
		})
		gpm := at(t, e, "gpm").([]any)
		require.Len(t, d.GPM, len(gpm), "sample %d", i)
		for j, g := range d.GPM {
			assert.Equal(t, num(t, gpm[j], "id"), itoa(g.ID))
			assert.Equal(t, num(t, gpm[j], "ret"), itoa(g.Ret))
			want := sourceFloat(t, at(t, gpm[j], "value"))
			if math.IsNaN(want) {
				assert.True(t, math.IsNaN(float64(g.Value)), "sample %d gpm %d", i, g.ID)
			} else {
				assert.Equal(t, want, float64(g.Value), "sample %d gpm %d", i, g.ID)
			}
		}
	}
}

func checkPhases(t *testing.T, rec *Recording, doc any) {
	t0 := parseFloat(t, num(t, doc, "series", 0, "t"))
	src := at(t, doc, "phases").([]any)
	slices.SortStableFunc(src, func(a, b any) int {
		return cmp.Compare(parseFloat(t, num(t, a, "t")), parseFloat(t, num(t, b, "t")))
	})
	require.Len(t, rec.Phases, len(src))
	for i, p := range src {
		assert.Equal(t, at(t, p, "phase"), rec.Phases[i].Name)
		off := int64(math.Round((parseFloat(t, num(t, p, "t")) - t0) * 1e9))
		assert.Equal(t, max(off, 0), rec.Phases[i].OffsetNanos, "phase %d", i)
	}
}

// checkCall checks a wrapped call: its return code when it failed, else its value.
func checkCall(t *testing.T, entry any, key string, ret int32, value func(any)) {
	t.Helper()
	if at(t, entry, key, "ok") == false {
		assert.Equal(t, num(t, entry, key, "ret"), itoa(ret), key)
		return
	}
	assert.Zero(t, ret, key)
	value(at(t, entry, key, "value"))
}

// checkScalar checks a wrapped call whose value is one unsigned integer.
func checkScalar(t *testing.T, entry any, key string, got Result[uint32]) {
	t.Helper()
	checkCall(t, entry, key, got.Ret, func(v any) {
		assert.Equal(t, v.(json.Number).String(), itoa(got.Value), key)
	})
}

// sourceFloat reads a source float: a number or a non-finite marker.
func sourceFloat(t *testing.T, v any) float64 {
	t.Helper()
	switch v {
	case pyNaN:
		return math.NaN()
	case pyPosInf:
		return math.Inf(1)
	case pyNegInf:
		return math.Inf(-1)
	}
	n, ok := v.(json.Number)
	require.True(t, ok, "%v is not a number", v)
	return parseFloat(t, n.String())
}

func parseFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err)
	return f
}

// itoa formats any integer in decimal, as Python wrote it.
func itoa[T ~int32 | ~int64 | ~uint32 | ~uint64](v T) string {
	if v < 0 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatUint(uint64(v), 10)
}
