// SPDX-License-Identifier: Apache-2.0

// Package recorder records a live NVML library into the recording format, the
// same format the replay source and the fake libnvidia-ml read.
package recorder

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

// Options says how long and how often to record.
type Options struct {
	// Duration is how long to record; at least one sample is always taken.
	Duration time.Duration
	// Interval is the time between samples (default 100 ms, as the recordings
	// under testdata/recordings).
	Interval time.Duration
	// Source names the host and tool, e.g. "node gpu-7 (nvml-scaler record v0.1.0)".
	Source string
	// Description says what ran on the GPUs.
	Description string
}

// gpmIDs are the GPM metrics recorded, as nvml_record.py records them.
var gpmIDs = []nvml.GPMMetricID{1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13}

// Record samples every GPU on an initialised lib until opts.Duration passes or
// ctx ends, and returns the recording. It reads only cheap calls (never
// nvmlDeviceGetPcieThroughput). An error that stops one call is recorded as that
// call's return code. A GPU whose handle NVML refuses with a return code
// (NVML_ERROR_NO_PERMISSION from a device cgroup, GPU_IS_LOST, …) stays in
// the recording with that code (Device.HandleRet, and in every Result of it);
// only a failure to count the devices, or one without a return code, aborts
// the recording.
func Record(ctx context.Context, lib *nvml.Library, opts Options) (*recording.Recording, error) {
	if opts.Interval <= 0 {
		opts.Interval = 100 * time.Millisecond
	}
	if opts.Interval < nvml.GPMMinInterval {
		return nil, fmt.Errorf("recorder: interval %v is under %v, the shortest gap GPM metrics are valid over",
			opts.Interval, nvml.GPMMinInterval)
	}
	if opts.Source == "" {
		return nil, errors.New("recorder: Options.Source is empty: name the host and tool")
	}
	devs, err := devices(lib)
	if err != nil {
		return nil, err
	}
	rec := &recording.Recording{
		Format: recording.Format, Source: opts.Source, Description: opts.Description,
		System:       system(lib),
		ErrorStrings: errorStrings(lib),
		ErrorPaths:   errorPaths(lib, len(devs)),
		LatencyNanos: latency(devs.opened()),
	}
	for i, d := range devs {
		if d.ret != 0 {
			dev := recording.Failed[recording.Device](d.ret)
			dev.Index, dev.HandleRet = uint32(i), d.ret
			rec.Devices = append(rec.Devices, dev)
			continue
		}
		rec.Devices = append(rec.Devices, static(d.dev, uint32(i)))
	}
	samplers := gpmSamplers(devs)
	defer closeAll(samplers)
	if !waitGPM(ctx, samplers) {
		return rec, rec.Validate()
	}
	if err := sampleLoop(ctx, rec, devs, samplers, opts); err != nil {
		return nil, err
	}
	return rec, rec.Validate()
}

// waitGPM waits GPMMinInterval after the priming samples, when there are
// any, so that the first recorded sample has GPM values; it reports false
// when ctx ended first.
func waitGPM(ctx context.Context, samplers []*nvml.GPMSampler) bool {
	primed := false
	for _, s := range samplers {
		primed = primed || s != nil
	}
	if !primed {
		return true
	}
	t := time.NewTimer(nvml.GPMMinInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// gpu is one counted GPU: its handle, or ret, the code NVML refused it with.
type gpu struct {
	dev nvml.Device
	ret int32
}

type gpus []gpu

// opened lists the GPUs that have a handle, in index order.
func (gs gpus) opened() []nvml.Device {
	var out []nvml.Device
	for _, g := range gs {
		if g.ret == 0 {
			out = append(out, g.dev)
		}
	}
	return out
}

func devices(lib *nvml.Library) (gpus, error) {
	n, err := lib.DeviceCount()
	if err != nil {
		return nil, fmt.Errorf("recorder: count devices: %w", err)
	}
	devs := make(gpus, 0, n)
	for i := range n {
		d, err := lib.DeviceByIndex(i)
		var r nvml.Return
		switch {
		case err == nil:
			devs = append(devs, gpu{dev: d})
		case errors.As(err, &r):
			devs = append(devs, gpu{ret: int32(r)})
		default:
			return nil, fmt.Errorf("recorder: device %d: %w", i, err)
		}
	}
	return devs, nil
}

func sampleLoop(ctx context.Context, rec *recording.Recording, devs gpus,
	samplers []*nvml.GPMSampler, opts Options) error {
	start := time.Now()
	rec.StartUnixNanos = start.UnixNano()
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	last := time.Now() // the priming samples (see waitGPM)
	for {
		// A tick that came early (jitter) waits out GPM's minimum gap, so
		// that every sample has GPM values.
		if d := nvml.GPMMinInterval - time.Since(last); d > 0 {
			time.Sleep(d)
		}
		s := recording.Sample{OffsetNanos: time.Since(start).Nanoseconds()}
		for i, d := range devs {
			if d.ret != 0 {
				s.Devices = append(s.Devices, recording.Failed[recording.DeviceSample](d.ret))
				continue
			}
			s.Devices = append(s.Devices, sample(d.dev, samplers[i]))
		}
		last = time.Now()
		addMIGSamples(&s, devs.opened())
		rec.Samples = append(rec.Samples, s)
		if time.Since(start) >= opts.Duration {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
