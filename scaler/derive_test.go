// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

var errTransient = errors.New("timeout")

func fullReading() Reading {
	r := Reading{
		Utilization:          Got(Utilization{GPU: 98, Memory: 40}),
		Memory:               Got(Memory{Total: 1000, Reserved: 200, Free: 400, Used: 400}),
		PowerMilliwatts:      Got[uint32](350_000),
		PowerLimitMilliwatts: Got[uint32](700_000),
		TemperatureCelsius:   Got[uint32](61),
		SMClockMHz:           Got[uint32](1980),
		Processes:            Got([]Process{{PID: 1}, {PID: 2}}),
	}
	for m := range NumGPMMetrics {
		r.GPM[m] = Got(float64(10 * (m + 1)))
	}
	return r
}

func TestDerive(t *testing.T) {
	t.Parallel()
	r := fullReading()
	got := derive(&r)
	want := map[Metric]float64{
		GPUUtilization: 98, MemoryBusy: 40, MemoryUsedBytes: 400, MemoryUsedPercent: 50,
		PowerWatts: 350, PowerPercent: 50, TemperatureCelsius: 61, SMClockMHz: 1980,
		GraphicsActive: 10, SMActive: 20, SMOccupancy: 30, TensorActive: 40, DRAMBandwidth: 50,
		ProcessCount: 2,
	}
	assert.Len(t, want, int(NumMetrics), "every metric is covered")
	for m, v := range want {
		assert.Equal(t, Value{V: v, Status: StatusOK}, got[m], m.String())
	}
}

func TestDeriveAbsent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		edit   func(*Reading)
		metric []Metric
		want   Status
	}{
		{"not read", func(r *Reading) { *r = Reading{} }, allMetrics(), StatusMissing},
		{"utilization not supported (MIG)", func(r *Reading) { r.Utilization = Failed[Utilization](fmt.Errorf("x: %w", ErrNotSupported)) },
			[]Metric{GPUUtilization, MemoryBusy}, StatusNotSupported},
		{"memory transient", func(r *Reading) { r.Memory = Failed[Memory](errTransient) },
			[]Metric{MemoryUsedBytes, MemoryUsedPercent}, StatusFailed},
		{"total equals reserved", func(r *Reading) { r.Memory = Got(Memory{Total: 5, Reserved: 5}) },
			[]Metric{MemoryUsedPercent}, StatusInvalid},
		{"power missing", func(r *Reading) { r.PowerMilliwatts = Field[uint32]{} }, []Metric{PowerWatts, PowerPercent}, StatusMissing},
		{"power limit not supported", func(r *Reading) { r.PowerLimitMilliwatts = Failed[uint32](ErrNotSupported) },
			[]Metric{PowerPercent}, StatusNotSupported},
		{"power limit zero", func(r *Reading) { r.PowerLimitMilliwatts = Got[uint32](0) }, []Metric{PowerPercent}, StatusInvalid},
		{"GPM NaN", func(r *Reading) { r.GPM[GPMDRAMBandwidth] = Got(math.NaN()) }, []Metric{DRAMBandwidth}, StatusInvalid},
		{"GPM +Inf", func(r *Reading) { r.GPM[GPMSMActivity] = Got(math.Inf(1)) }, []Metric{SMActive}, StatusInvalid},
		{"GPM negative", func(r *Reading) { r.GPM[GPMTensorActivity] = Got(-1.0) }, []Metric{TensorActive}, StatusInvalid},
		{"GPM not supported (pre-Hopper)", func(r *Reading) {
			for m := range NumGPMMetrics {
				r.GPM[m] = Failed[float64](ErrNotSupported)
			}
		}, []Metric{GraphicsActive, SMActive, SMOccupancy, TensorActive, DRAMBandwidth}, StatusNotSupported},
		{"processes transient", func(r *Reading) { r.Processes = Failed[[]Process](errTransient) }, []Metric{ProcessCount}, StatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := fullReading()
			tt.edit(&r)
			got := derive(&r)
			for _, m := range tt.metric {
				assert.Equal(t, Value{Status: tt.want}, got[m], m.String())
			}
			for m := range NumMetrics {
				if got[m].Status != StatusOK {
					assert.Zero(t, got[m].V, "an absent %s carries no number", m)
				}
			}
		})
	}
}

func TestDeriveZeroIsAValue(t *testing.T) {
	t.Parallel()
	r := fullReading()
	r.Utilization = Got(Utilization{})
	r.Processes = Got[[]Process](nil)
	got := derive(&r)
	assert.Equal(t, Value{Status: StatusOK}, got[GPUUtilization])
	assert.Equal(t, Value{Status: StatusOK}, got[ProcessCount])
}

func TestGPUFrom(t *testing.T) {
	t.Parallel()
	d := Device{UUID: "GPU-1"}
	r := fullReading()
	assert.Equal(t, HealthOK, gpuFrom(d, &r, nil).Health)
	g := gpuFrom(d, &r, fmt.Errorf("read: %w", ErrGPULost))
	assert.Equal(t, HealthLost, g.Health)
	assert.False(t, g.Metrics[SMActive].OK())
	g = gpuFrom(d, &r, errTransient)
	assert.Equal(t, HealthFailed, g.Health)
	assert.Equal(t, errTransient, g.Err)
	r.Memory = Failed[Memory](ErrGPULost)
	g = gpuFrom(d, &r, nil)
	assert.Equal(t, HealthLost, g.Health, "a lost answer in any field marks the GPU lost")
	assert.ErrorIs(t, g.Err, ErrGPULost)
	r = fullReading()
	r.GPM[GPMSMOccupancy] = Failed[float64](ErrGPULost)
	assert.Equal(t, HealthLost, gpuFrom(d, &r, nil).Health)
}

func TestClassify(t *testing.T) {
	t.Parallel()
	assert.Equal(t, ClassNone, Classify(nil))
	assert.Equal(t, ClassNotSupported, Classify(fmt.Errorf("a: %w", ErrNotSupported)))
	assert.Equal(t, ClassGPULost, Classify(fmt.Errorf("a: %w", ErrGPULost)))
	assert.Equal(t, ClassGPULost, Classify(errors.Join(ErrNotSupported, ErrGPULost)))
	assert.Equal(t, ClassTransient, Classify(errTransient))
	assert.Equal(t, ClassReinit, Classify(errors.Join(ErrGPULost, fmt.Errorf("a: %w", ErrReinit))))
	for c := ClassNone; c <= ClassReinit; c++ {
		assert.NotEqual(t, "unknown", c.String())
	}
}

func TestCatalogue(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for m := range NumMetrics {
		info := m.Info()
		assert.NotEmpty(t, info.Name)
		assert.NotEmpty(t, info.Unit)
		assert.NotEmpty(t, info.Help)
		assert.False(t, seen[info.Name], "duplicate %s", info.Name)
		seen[info.Name] = true
		got, ok := ParseMetric(info.Name)
		assert.True(t, ok)
		assert.Equal(t, m, got)
	}
	for _, name := range []string{"gpu_utilization_percent", "memory_busy_percent", "memory_used_bytes",
		"memory_used_percent", "power_watts", "power_percent", "temperature_celsius", "sm_active_percent",
		"sm_occupancy_percent", "tensor_active_percent", "dram_bandwidth_percent", "graphics_active_percent",
		"process_count"} {
		assert.True(t, seen[name], "the issue's name %s is in the catalogue", name)
	}
	assert.Equal(t, MetricInfo{}, NumMetrics.Info())
	for m := range NumGPMMetrics {
		got, ok := GPMMetricByID(m.NVMLID())
		assert.True(t, ok)
		assert.Equal(t, m, got)
	}
	_, ok := GPMMetricByID(4)
	assert.False(t, ok)
	assert.Zero(t, NumGPMMetrics.NVMLID())
}

func allMetrics() []Metric {
	out := make([]Metric, NumMetrics)
	for m := range NumMetrics {
		out[m] = m
	}
	return out
}
