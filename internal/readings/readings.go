// SPDX-License-Identifier: Apache-2.0

// Package readings is the one list of what a sweep reads from each device, and
// the generator that writes, from it, the code each stage of the pipeline
// would otherwise keep by hand: the binding of the plain calls (nvml),
// scaler.Reading and what fills it
// (scaler/nvmlsource from the binding, scaler/replay from a recording), the
// fields checked for a lost GPU, recording.DeviceSample and its converter and
// recorder, and the fake library's script writer, parser and state
// (internal/fakenvml, testdata/fakenvml/counters_gen.h).
//
// # Adding a reading
//
// A reading NVML answers as one unsigned int per device (a [Counter]) is one
// row of [Fields]; when its C function takes more than (nvmlDevice_t,
// unsigned int *), also its binding and nvml.Device method in nvml/metrics.go
// and its fake in testdata/fakenvml/api_device.c. A catalogue metric derived from it as value × scale is
// the row's Metric and Scale plus the constant and its MetricInfo in
// scaler/metric.go (appended: the order is the wire format). Then
//
//	go generate ./internal/readings
//
// (or make generate). TestGeneratedFilesAreCurrent fails while any generated
// file is stale. A new reading that the recordings in
// testdata lack needs recordings that hold it (the converter rejects a series
// entry without one of its keys). Readings of another shape (a struct, a list)
// are rows with their declarations spelled out, and their conversions written
// by hand.
//
//go:generate go run ../tools/genreadings -root ../..
package readings

// Field is one answer a sweep reads from a device, in the order the structs
// declare them (which is also the order of the calls, and of the errors
// checked for a lost GPU). A Field is a [Counter], or a reading of another
// shape whose declarations are given verbatim.
type Field struct {
	// Counter, when set, describes the field fully; the rest is ignored.
	Counter *Counter
	// Reading is the field of scaler.Reading; zero when it has none.
	Reading Decl
	// Sample is the field of recording.DeviceSample; zero when it has none.
	Sample Decl
	// Py is the field of the converter's pySeriesEntry (one series entry of
	// nvml_record.py); zero when it has none.
	Py Decl
}

// Decl is one struct field: its name, its type, its tag (without the
// backquotes) and its doc comment (lines without "// ").
type Decl struct {
	Name, Type, Tag, Doc string
}

// Counter is a reading NVML answers as one unsigned int per device.
type Counter struct {
	// Name is its field in scaler.Reading (a Field[uint32]).
	Name string
	// Doc says which call answers it and in what unit, e.g.
	// "nvmlDeviceGetPowerUsage (mW)"; it documents every field generated.
	Doc string
	// Method is the nvml.Device method that reads it.
	Method string
	// About says what it is, for that method's doc when Plain.
	About string
	// Static marks a value recorded once per device (recording.Device, the
	// script's "dev" lines), which the recording side keeps by hand; the
	// scaler still reads it every sweep.
	Static bool
	// Sample is its field in recording.DeviceSample (a Result[uint32]);
	// unused when Static.
	Sample string
	// JSON is that field's key in the recording format.
	JSON string
	// Py is its key in an nvml_record.py series entry.
	Py string
	// Script is its keyword in the fake's script ("s <step> <i> KEYWORD <ret>
	// <n>") and its field in the fake's struct fake_sample.
	Script string
	// What names it in the fake's script errors.
	What string
	// Symbol is the C function the fake answers it from, exported from fake
	// driver generation Since on (0 all; 1 MIG; 2 modern; 3 R570).
	Symbol string
	Since  int
	// Plain marks a Symbol of signature (nvmlDevice_t, unsigned int *): its
	// binding and Method (nvml/counters_gen.go) are generated, and so is the
	// fake's function when the counter is sampled. Otherwise nvml/metrics.go
	// binds it and api_device.c fakes it.
	Plain bool
	// Metric, when set, is the scaler catalogue constant derived from it as
	// value × Scale (a Go expression); "" when derived by hand or not at all.
	Metric, Scale string
}

// Fields is the list. Do not reorder it: the order of recording.DeviceSample
// is the order of the recording format's keys, and pySeriesEntry's the order
// in which the converter reports missing keys.
var Fields = []Field{
	{Py: Decl{Name: "T", Type: "float64", Tag: `json:"t"`}},
	{
		Reading: Decl{Name: "Utilization", Type: "Field[Utilization]",
			Doc: "Utilization is nvmlDeviceGetUtilizationRates. NOT_SUPPORTED on MIG devices."},
		Sample: Decl{Name: "Utilization", Type: "Result[Utilization]", Tag: `json:"utilization"`,
			Doc: "Utilization is nvmlDeviceGetUtilizationRates."},
		Py: Decl{Name: "Util", Type: "json.RawMessage", Tag: `json:"util"`},
	},
	{
		Reading: Decl{Name: "Memory", Type: "Field[Memory]", Doc: "Memory is nvmlDeviceGetMemoryInfo_v2 (bytes)."},
		Sample: Decl{Name: "Memory", Type: "Result[Memory]", Tag: `json:"memory"`,
			Doc: "Memory is nvmlDeviceGetMemoryInfo_v2 (bytes)."},
		Py: Decl{Name: "MemV2", Type: "json.RawMessage", Tag: `json:"mem_v2"`},
	},
	{Counter: &Counter{
		Name: "PowerMilliwatts", Doc: "nvmlDeviceGetPowerUsage (mW)", Method: "PowerUsage",
		About:  "the board's power draw",
		Sample: "PowerMilliwatts", JSON: "powerMw", Py: "power_mw",
		Script: "power", What: "power", Symbol: "nvmlDeviceGetPowerUsage", Plain: true,
		Metric: "PowerWatts", Scale: "1.0 / 1000",
	}},
	{Counter: &Counter{
		Name: "PowerLimitMilliwatts", Doc: "nvmlDeviceGetEnforcedPowerLimit (mW)", Method: "EnforcedPowerLimit",
		About: "the power cap in force", Symbol: "nvmlDeviceGetEnforcedPowerLimit", Plain: true, Static: true,
	}},
	{Counter: &Counter{
		Name: "TemperatureCelsius", Doc: "nvmlDeviceGetTemperature(NVML_TEMPERATURE_GPU) (°C)", Method: "Temperature",
		Sample: "TemperatureC", JSON: "temperatureC", Py: "temp_c",
		Script: "temp", What: "temperature", Symbol: "nvmlDeviceGetTemperature",
		Metric: "TemperatureCelsius", Scale: "1",
	}},
	{Counter: &Counter{
		Name: "SMClockMHz", Doc: "nvmlDeviceGetClockInfo(NVML_CLOCK_SM) (MHz)", Method: "SMClock",
		Sample: "SMClockMHz", JSON: "smClockMHz", Py: "sm_clock",
		Script: "smclock", What: "SM clock", Symbol: "nvmlDeviceGetClockInfo",
		Metric: "SMClockMHz", Scale: "1",
	}},
	{Py: Decl{Name: "PState", Type: "json.RawMessage", Tag: `json:"pstate"`}},
	{
		Reading: Decl{Name: "Processes", Type: "Field[[]Process]", Doc: "Processes is nvmlDeviceGetComputeRunningProcesses_v3."},
		Sample: Decl{Name: "Processes", Type: "Result[[]Process]", Tag: `json:"processes"`,
			Doc: "Processes is nvmlDeviceGetComputeRunningProcesses_v3."},
		Py: Decl{Name: "Procs", Type: "json.RawMessage", Tag: `json:"procs"`},
	},
	{Py: Decl{Name: "SamplesGPU", Type: "json.RawMessage", Tag: `json:"samples_gpu"`}},
	{Py: Decl{Name: "ProcUtil", Type: "json.RawMessage", Tag: `json:"proc_util"`}},
	{
		Reading: Decl{Name: "GPM", Type: "[NumGPMMetrics]Field[float64]", Doc: `GPM holds nvmlGpmMetricsGet results over the interval between this Read's
GPM sample and the previous one, in percent, indexed by [GPMMetric]. The
first Read has no previous sample: leave the fields absent. Per-metric
return codes go into each field's Err; NaN values may be stored as read
(the scaler treats them as absent).`},
		Sample: Decl{Name: "GPM", Type: "[]GPMValue", Tag: `json:"gpm,omitempty"`, Doc: `GPM holds GPM metrics over the interval since the previous sample
(nvmlGpmMetricsGet), in percent unless the metric says otherwise.`},
		Py: Decl{Name: "GPM", Type: "json.RawMessage", Tag: `json:"gpm,omitempty"`},
	},
}

// GPMMetric is one GPM metric the scaler reads (scaler.GPMMetric): a
// percentage that nvmlsource and replay fill by its id, into Reading.GPM.
type GPMMetric struct {
	// Name is its scaler.GPMMetric constant.
	Name string
	// NVML names its nvmlGpmMetricId_t, ID its value.
	NVML string
	ID   uint32
	// Metric is the scaler catalogue constant it becomes, checked as a
	// percentage ("" for none).
	Metric string
}

// GPM lists the GPM metrics, in the order of the scaler.GPMMetric constants
// (indexes into Reading.GPM; append new ones). The recorder records more
// ids than these (recording/recorder.gpmIDs): a new one that it lacks needs
// adding there too.
var GPM = []GPMMetric{
	{Name: "GPMGraphicsActivity", NVML: "NVML_GPM_METRIC_GRAPHICS_UTIL", ID: 1, Metric: "GraphicsActive"},
	{Name: "GPMSMActivity", NVML: "NVML_GPM_METRIC_SM_UTIL", ID: 2, Metric: "SMActive"},
	{Name: "GPMSMOccupancy", NVML: "NVML_GPM_METRIC_SM_OCCUPANCY", ID: 3, Metric: "SMOccupancy"},
	{Name: "GPMTensorActivity", NVML: "NVML_GPM_METRIC_ANY_TENSOR_UTIL", ID: 5, Metric: "TensorActive"},
	{Name: "GPMDRAMBandwidth", NVML: "NVML_GPM_METRIC_DRAM_BW_UTIL", ID: 10, Metric: "DRAMBandwidth"},
}

// Counters returns the counters of fields, in order; sampled only, when
// sampled is set (the ones a recording holds per sample).
func Counters(fields []Field, sampled bool) []*Counter {
	var out []*Counter
	for _, f := range fields {
		if c := f.Counter; c != nil && (!sampled || !c.Static) {
			out = append(out, c)
		}
	}
	return out
}
