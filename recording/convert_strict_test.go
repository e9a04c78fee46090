// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smallSource returns steps.json cut to its first three series entries, as JSON,
// for the tests below to change one thing in.
func smallSource(t *testing.T) []byte {
	t.Helper()
	doc := readSource(t, fixtureByName(t, "h200-steps.json").path)
	doc["series"] = doc["series"].([]any)[:3]
	data, err := json.Marshal(doc)
	require.NoError(t, err)
	return data
}

// edit decodes src, lets change edit it, and encodes it again. Placeholders
// "@NaN@" and "@-Infinity@" become the bare tokens Python writes.
func edit(t *testing.T, src []byte, change func(doc map[string]any)) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var doc map[string]any
	require.NoError(t, dec.Decode(&doc))
	change(doc)
	out, err := json.Marshal(doc)
	require.NoError(t, err)
	out = bytes.ReplaceAll(out, []byte(`"@NaN@"`), []byte("NaN"))
	return bytes.ReplaceAll(out, []byte(`"@-Infinity@"`), []byte("-Infinity"))
}

// obj returns the object at path in doc, for a change to edit in place.
func obj(doc map[string]any, path ...any) map[string]any {
	var v any = doc
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v.(map[string]any)
}

func TestConvertPythonRejects(t *testing.T) {
	t.Parallel()
	src := smallSource(t)
	dev := func(doc map[string]any) map[string]any { return obj(doc, "static", "devices", 0) }
	tests := []struct {
		name   string
		change func(doc map[string]any)
		want   string
	}{
		{"unknown top-level field", func(d map[string]any) { d["extra"] = 1 }, `unknown field "extra"`},
		{"missing meta.init_ns", func(d map[string]any) { delete(obj(d, "meta"), "init_ns") }, `meta: missing field "init_ns"`},
		{"missing system call", func(d map[string]any) { delete(obj(d, "static"), "nvmlSystemGetDriverVersion") },
			`static: missing field "nvmlSystemGetDriverVersion"`},
		{"device count mismatch", func(d map[string]any) { obj(d, "static", "nvmlDeviceGetCount")["value"] = 2 },
			"nvmlDeviceGetCount said 2"},
		{"two devices", func(d map[string]any) {
			obj(d, "static", "nvmlDeviceGetCount")["value"] = 2
			second := map[string]any{}
			for k, v := range dev(d) {
				second[k] = v
			}
			second["index"] = 1
			s := obj(d, "static")
			s["devices"] = append(s["devices"].([]any), second)
		}, "2 devices, but the series samples device 0 only"},
		{"device index", func(d map[string]any) { dev(d)["index"] = 3 }, "devices[0]: index 3 at position 0"},
		{"missing pci field", func(d map[string]any) { delete(obj(dev(d), "nvmlDeviceGetPciInfo_v3", "value"), "busId") },
			`devices[0]: nvmlDeviceGetPciInfo_v3: value: missing field "busId"`},
		{"unknown pci field", func(d map[string]any) { obj(dev(d), "nvmlDeviceGetPciInfo_v3", "value")["bogus"] = 1 },
			`unknown field "bogus"`},
		{"compute capability not a pair", func(d map[string]any) {
			obj(dev(d), "nvmlDeviceGetCudaComputeCapability")["value"] = []int{9, 0, 1}
		}, "nvmlDeviceGetCudaComputeCapability: value: want a pair, got 3 elements"},
		{"MIG enabled", func(d map[string]any) { obj(dev(d), "nvmlDeviceGetMigMode")["value"] = []int{1, 1} },
			"MIG is enabled"},
		{"gpm support not 0 or 1", func(d map[string]any) {
			obj(dev(d), "nvmlGpmQueryDeviceSupport", "value")["isSupportedDevice"] = 2
		}, "isSupportedDevice 2"},
		{"error string key", func(d map[string]any) { obj(d, "errors", "nvmlErrorString")["x"] = "y" },
			`errors: nvmlErrorString: key "x" is not a decimal return code`},
		{"error path exception", func(d map[string]any) {
			obj(d, "errors")["GetHandleByIndex(999)"] = map[string]any{"ok": false, "exc": "TypeError()"}
		}, "errors: GetHandleByIndex(999): python exception TypeError()"},
		{"latency field", func(d map[string]any) { obj(d, "latency_ns", "nvmlDeviceGetPowerUsage")["per_call_ns"] = "fast" },
			"latency_ns: nvmlDeviceGetPowerUsage"},
		{"no series", func(d map[string]any) { d["series"] = []any{} }, "series: no entries"},
		{"unknown series field", func(d map[string]any) { obj(d, "series", 1)["fan"] = 1 }, `series[1]: unknown field "fan"`},
		{"missing series field", func(d map[string]any) { delete(obj(d, "series", 1), "temp_c") },
			`series[1]: missing field "temp_c"`},
		{"null value", func(d map[string]any) { obj(d, "series", 1, "mem_v2", "value")["used"] = nil },
			`series[1].mem_v2: value: field "used" is null`},
		{"memory v1 where v2 is due", func(d map[string]any) { obj(d, "series", 1, "mem_v2", "value")["version"] = 1<<24 | 24 },
			"series[1].mem_v2: value: version 0x1000018 is not nvmlMemory_v2"},
		{"negative power", func(d map[string]any) { obj(d, "series", 2, "power_mw")["value"] = -1 }, "series[2].power_mw: value"},
		{"fractional temperature", func(d map[string]any) { obj(d, "series", 2, "temp_c")["value"] = 1.5 },
			"series[2].temp_c: value"},
		{"python exception", func(d map[string]any) {
			obj(d, "series", 2)["sm_clock"] = map[string]any{"ok": false, "exc": "OSError()"}
		}, "series[2].sm_clock: python exception OSError()"},
		{"failure without ret", func(d map[string]any) { obj(d, "series", 2)["util"] = map[string]any{"ok": false, "err": "x"} },
			`series[2].util: failed call has no "ret"`},
		{"failure with ret 0", func(d map[string]any) { obj(d, "series", 2)["util"] = map[string]any{"ok": false, "ret": 0} },
			`series[2].util: failed call has "ret" 0`},
		{"success without value", func(d map[string]any) { delete(obj(d, "series", 2, "util"), "value") },
			`series[2].util: missing field "value"`},
		{"success with ret", func(d map[string]any) { obj(d, "series", 2, "util")["ret"] = 3 },
			`series[2].util: successful call has a "ret"`},
		{"missing process field", func(d map[string]any) {
			obj(d, "series", 2, "procs")["value"] = []any{map[string]any{"pid": 1, "usedGpuMemory": 2, "gpuInstanceId": 3}}
		}, `series[2].procs: value: [0]: missing field "computeInstanceId"`},
		{"gpm in some entries only", func(d map[string]any) { delete(obj(d, "series", 1), "gpm") },
			"series: 2 of 3 entries have gpm: want all or none"},
		{"gpm exception", func(d map[string]any) { obj(d, "series", 1)["gpm"] = map[string]any{"exc": "NVMLError()"} },
			"series[1].gpm: python exception"},
		{"gpm value as a string", func(d map[string]any) { obj(d, "series", 1, "gpm", 0)["value"] = "NaN" },
			`series[1].gpm: [0]: float "NaN"`},
		{"time as NaN", func(d map[string]any) { obj(d, "series", 1)["t"] = "@NaN@" }, "series[1]"},
		{"time going back", func(d map[string]any) { obj(d, "series", 2)["t"] = obj(d, "series", 0)["t"] },
			"samples[2] offset 0 ns goes back in time"},
		{"phase without a name", func(d map[string]any) { delete(obj(d, "phases", 0), "phase") },
			`phases[0]: missing field "phase"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ConvertPython(bytes.NewReader(edit(t, src, tt.change)), "test")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestConvertPythonRejectsInput(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, source, input, want string }{
		{"empty source", "", "{}", "source is empty"},
		{"not JSON", "test", "{", "want an object"},
		{"bare token glued to text", "test", `{"meta": NaNx}`, "want an object"},
		{"array", "test", "[]", "want an object"},
		{"null", "test", "null", "want an object, got null"},
		{"empty object", "test", "{}", `missing field "meta"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ConvertPython(strings.NewReader(tt.input), tt.source)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestConvertPythonAccepts(t *testing.T) {
	t.Parallel()
	src := smallSource(t)
	tests := []struct {
		name   string
		change func(doc map[string]any)
		check  func(t *testing.T, rec *Recording)
	}{
		{"failed call keeps its return code", func(d map[string]any) {
			obj(d, "series", 1)["util"] = map[string]any{"ok": false, "ret": 15, "err": "GPU is lost", "ns": 1}
		}, func(t *testing.T, rec *Recording) {
			assert.Equal(t, Fail[Utilization](15), rec.Samples[1].Devices[0].Utilization)
		}},
		{"NaN and -Infinity GPM values", func(d map[string]any) {
			obj(d, "series", 1, "gpm", 0)["value"] = "@NaN@"
			obj(d, "series", 1, "gpm", 1)["value"] = "@-Infinity@"
		}, func(t *testing.T, rec *Recording) {
			gpm := rec.Samples[1].Devices[0].GPM
			assert.True(t, math.IsNaN(float64(gpm[0].Value)))
			assert.True(t, math.IsInf(float64(gpm[1].Value), -1))
		}},
		{"NaN inside a string is text", func(d map[string]any) {
			obj(d, "static", "devices", 0, "nvmlDeviceGetName")["value"] = `NaN "NaN" Infinity`
		}, func(t *testing.T, rec *Recording) {
			assert.Equal(t, `NaN "NaN" Infinity`, rec.Devices[0].Name.Value)
		}},
		{"usedGpuMemory None is NVML_VALUE_NOT_AVAILABLE", func(d map[string]any) {
			obj(d, "series", 2, "procs")["value"] = []any{
				map[string]any{"pid": 7, "usedGpuMemory": nil, "gpuInstanceId": 1, "computeInstanceId": 2}}
		}, func(t *testing.T, rec *Recording) {
			assert.Equal(t, []Process{{PID: 7, UsedGPUMemory: math.MaxUint64, GPUInstanceID: 1, ComputeInstanceID: 2}},
				rec.Samples[2].Devices[0].Processes.Value)
		}},
		{"no GPM anywhere", func(d map[string]any) {
			for _, e := range d["series"].([]any) {
				delete(e.(map[string]any), "gpm")
			}
		}, func(t *testing.T, rec *Recording) {
			for _, s := range rec.Samples {
				assert.Nil(t, s.Devices[0].GPM)
			}
		}},
		{"phases before the first sample and out of order", func(d map[string]any) {
			t0 := obj(d, "series", 0)["t"]
			d["phases"] = []any{
				map[string]any{"phase": "late", "t": obj(d, "series", 2)["t"]},
				map[string]any{"phase": "early", "t": json.Number("1")},
				map[string]any{"phase": "first", "t": t0},
			}
		}, func(t *testing.T, rec *Recording) {
			require.Len(t, rec.Phases, 3)
			assert.Equal(t, Phase{Name: "early"}, rec.Phases[0])
			assert.Equal(t, Phase{Name: "first"}, rec.Phases[1])
			assert.Equal(t, Phase{Name: "late", OffsetNanos: rec.Samples[2].OffsetNanos}, rec.Phases[2])
			assert.Equal(t, "first", rec.PhaseAt(0))
		}},
		{"empty process list stays non-nil", func(d map[string]any) {
			obj(d, "series", 0, "procs")["value"] = []any{}
		}, func(t *testing.T, rec *Recording) {
			assert.NotNil(t, rec.Samples[0].Devices[0].Processes.Value)
			assert.Empty(t, rec.Samples[0].Devices[0].Processes.Value)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, err := ConvertPython(bytes.NewReader(edit(t, src, tt.change)), "test")
			require.NoError(t, err)
			tt.check(t, rec)
		})
	}
}
