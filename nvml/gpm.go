// SPDX-License-Identifier: Apache-2.0

package nvml

import (
	"fmt"
	"time"
)

// GPMMinInterval is the shortest gap between two GPM samples that metrics are
// computed over: nvml.h says the interval between two nvmlGpmSampleGet calls
// "should be greater than 100ms due to the internal sample refresh rate", and
// values over a shorter gap are not to be trusted.
const GPMMinInterval = 100 * time.Millisecond

// GPMMetricID is nvmlGpmMetricId_t. GPM (GPU Performance Monitoring, Hopper and
// newer) measures activity between two samples; values are percent unless noted.
type GPMMetricID uint32

// GPM metric ids (NVML_GPM_METRIC_*).
const (
	GPMGraphicsActivity GPMMetricID = 1  // graphics engine active, %
	GPMSMActivity       GPMMetricID = 2  // SMs busy (any warp resident), %
	GPMSMOccupancy      GPMMetricID = 3  // warps resident / max warps, %
	GPMIntegerActivity  GPMMetricID = 4  // integer pipe, %
	GPMTensorActivity   GPMMetricID = 5  // any tensor pipe, %
	GPMDFMATensor       GPMMetricID = 6  // FP64 tensor pipe, %
	GPMHMMATensor       GPMMetricID = 7  // FP16/BF16 tensor pipe, %
	GPMIMMATensor       GPMMetricID = 9  // integer tensor pipe, %
	GPMDRAMBandwidth    GPMMetricID = 10 // DRAM bandwidth used / peak, %
	GPMFP64Activity     GPMMetricID = 11 // FP64 pipe, %
	GPMFP32Activity     GPMMetricID = 12 // FP32 pipe, %
	GPMFP16Activity     GPMMetricID = 13 // FP16 pipe, %
)

// GPMSupported reports whether the device supports GPM (nvmlGpmQueryDeviceSupport).
func (d Device) GPMSupported() (bool, error) {
	const key = "nvmlGpmQueryDeviceSupport"
	if err := d.lib.usable(d.lib.fn.gpmSupport == nil, key); err != nil {
		return false, err
	}
	s := gpmSupport{version: gpmSupportVersion}
	if err := d.lib.check(key, d.lib.fn.gpmSupport(d.handle, &s)); err != nil {
		return false, err
	}
	return s.isSupported != 0, nil
}

// GPMResult is one metric computed between two GPM samples. Err wraps the
// per-metric return code when NVML could not compute it. Value may be NaN even
// when Err is nil: NVML really returns NaN (e.g. on the first interval after a
// context starts); callers must treat NaN as "no value".
type GPMResult struct {
	ID    GPMMetricID
	Value float64
	Err   error
}

// GPMSampler measures GPM metrics on one device: each [GPMSampler.Sample] takes a
// new GPM sample and returns the metrics over the interval since the previous
// one. It holds two NVML samples and a reusable request buffer, so it belongs to
// one goroutine. Close it to free the NVML samples.
type GPMSampler struct {
	dev      Device
	ids      []GPMMetricID
	prev     uintptr
	cur      uintptr
	havePrev bool
	prevAt   time.Time // when prev was read
	mig      bool      // samples one GPU instance of dev (nvmlGpmMigSampleGet)
	gi       uint32
	maxGap   time.Duration
	now      func() time.Time
	req      gpmMetricsGet
	out      []GPMResult
}

// SetClock replaces time.Now as the clock the gaps between samples are
// measured on (nil restores time.Now), for callers driven by a fake clock.
func (s *GPMSampler) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.now = now
}

// SetMaxGap makes [GPMSampler.Sample] prime again, instead of returning
// metrics, when more than d has passed since the previous sample (after a
// hang or a long pause): an average over minutes is not a current value. 0,
// the default, means no limit.
func (s *GPMSampler) SetMaxGap(d time.Duration) { s.maxGap = d }

// NewGPMSampler allocates the NVML samples (nvmlGpmSampleAlloc) for measuring
// ids on d. It fails with ErrFunctionNotFound on drivers without GPM, and with
// ErrInvalidArgument when ids is empty or longer than NVML allows.
func (d Device) NewGPMSampler(ids ...GPMMetricID) (*GPMSampler, error) {
	f := d.lib.fn
	return d.newGPMSampler(f.gpmSampleGet == nil, "nvmlGpmSampleAlloc", ids)
}

// NewMIGGPMSampler is [Device.NewGPMSampler] for one GPU instance of d, a GPU
// in MIG mode: its samples come from nvmlGpmMigSampleGet(d, gpuInstanceID),
// so GPM metrics exist for each MIG device (utilization does not). Take
// gpuInstanceID from [Device.GPUInstanceID] of the MIG device; the compute
// instances of one GPU instance share its values. It fails with
// ErrFunctionNotFound on drivers without nvmlGpmMigSampleGet.
func (d Device) NewMIGGPMSampler(gpuInstanceID int, ids ...GPMMetricID) (*GPMSampler, error) {
	if gpuInstanceID < 0 || uint64(gpuInstanceID) > uint64(^uint32(0)) {
		return nil, fmt.Errorf("GPM sampler for GPU instance %d: %w", gpuInstanceID, ErrInvalidArgument)
	}
	s, err := d.newGPMSampler(d.lib.fn.gpmMIGSample == nil, "nvmlGpmMigSampleGet", ids)
	if err != nil {
		return nil, err
	}
	s.mig, s.gi = true, uint32(gpuInstanceID)
	return s, nil
}

func (d Device) newGPMSampler(noSampleGet bool, sampleKey string, ids []GPMMetricID) (*GPMSampler, error) {
	const key = "nvmlGpmSampleAlloc"
	f := d.lib.fn
	if err := d.lib.usable(noSampleGet, sampleKey); err != nil {
		return nil, err
	}
	missing := f.gpmAlloc == nil || f.gpmFree == nil || f.gpmMetricsGet == nil
	if err := d.lib.usable(missing, key); err != nil {
		return nil, err
	}
	if len(ids) == 0 || len(ids) > gpmMetricMax {
		return nil, fmt.Errorf("GPM sampler with %d metrics: want 1 to %d: %w", len(ids), gpmMetricMax, ErrInvalidArgument)
	}
	s := &GPMSampler{dev: d, ids: append([]GPMMetricID(nil), ids...), out: make([]GPMResult, len(ids)), now: time.Now}
	if err := d.lib.check(key, f.gpmAlloc(&s.prev)); err != nil {
		return nil, err
	}
	if err := d.lib.check(key, f.gpmAlloc(&s.cur)); err != nil {
		_ = f.gpmFree(s.prev)
		return nil, err
	}
	return s, nil
}

// Sample reads a GPM sample (nvmlGpmSampleGet) and returns the metrics between it
// and the previous one (nvmlGpmMetricsGet). It returns nil, nil — no metrics
// this time — when it only primes: on the first call, after a failed call,
// and when more than the SetMaxGap limit has passed since the previous
// sample. Less than [GPMMinInterval] after the previous sample it reads
// nothing and returns nil, nil, keeping the previous sample, so the next
// call measures over the whole gap. The returned slice is reused by the next
// call.
func (s *GPMSampler) Sample() ([]GPMResult, error) {
	lib := s.dev.lib
	if err := lib.usable(false, "nvmlGpmSampleGet"); err != nil {
		return nil, err
	}
	if s.havePrev && s.now().Sub(s.prevAt) < GPMMinInterval {
		return nil, nil
	}
	if err := lib.check(s.sampleKey(), s.read()); err != nil {
		s.havePrev = false
		return nil, err
	}
	at := s.now()
	gap := at.Sub(s.prevAt)
	s.prev, s.cur, s.prevAt = s.cur, s.prev, at
	if !s.havePrev || s.maxGap > 0 && gap > s.maxGap {
		s.havePrev = true
		return nil, nil
	}
	// After the swap, prev holds the sample just read and cur the older one.
	return s.metrics(s.cur, s.prev)
}

// read takes a sample into cur: of the whole GPU, or of one GPU instance.
func (s *GPMSampler) read() Return {
	if s.mig {
		return s.dev.lib.fn.gpmMIGSample(s.dev.handle, s.gi, s.cur)
	}
	return s.dev.lib.fn.gpmSampleGet(s.dev.handle, s.cur)
}

func (s *GPMSampler) metrics(older, newer uintptr) ([]GPMResult, error) {
	lib := s.dev.lib
	const key = "nvmlGpmMetricsGet"
	s.req.version = gpmMetricsGetVersion
	s.req.numMetrics = uint32(len(s.ids))
	s.req.sample1, s.req.sample2 = older, newer
	for i, id := range s.ids {
		s.req.metrics[i] = gpmMetric{metricID: uint32(id)}
	}
	if err := lib.check(key, lib.fn.gpmMetricsGet(&s.req)); err != nil {
		return nil, err
	}
	for i, id := range s.ids {
		m := s.req.metrics[i]
		s.out[i] = GPMResult{ID: id, Value: m.value, Err: lib.check(key, m.ret)}
	}
	return s.out, nil
}

// Close frees the sampler's NVML samples (nvmlGpmSampleFree).
func (s *GPMSampler) Close() error {
	lib := s.dev.lib
	if err := lib.usable(false, "nvmlGpmSampleFree"); err != nil {
		return err
	}
	e1 := lib.check("nvmlGpmSampleFree", lib.fn.gpmFree(s.prev))
	e2 := lib.check("nvmlGpmSampleFree", lib.fn.gpmFree(s.cur))
	s.prev, s.cur = 0, 0
	if e1 != nil {
		return e1
	}
	return e2
}

func (s *GPMSampler) sampleKey() string {
	if s.mig {
		return "nvmlGpmMigSampleGet"
	}
	return "nvmlGpmSampleGet"
}
