// SPDX-License-Identifier: Apache-2.0

// Package replay plays a recording of real NVML answers as a [scaler.Source], so
// the whole scaler runs without a GPU: `nvml-scaler serve --replay`, and
// deterministic tests.
//
// Playback follows the recording's clock (scaled by Options.Speed), or, in
// manual mode, moves only when the caller steps it. Each Read returns the
// answers of the sample at the current position, return codes included: a
// recorded NVML_ERROR_NOT_SUPPORTED reads as [scaler.ErrNotSupported], a
// recorded NVML_ERROR_GPU_IS_LOST as [scaler.ErrGPULost].
package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/nvml-scaler/nvml-scaler/internal/regfile"
	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// Options control playback.
type Options struct {
	// Speed multiplies the recording's clock: 2 plays twice as fast. 0 means 1;
	// negative, NaN or infinite is an error. Ignored in Manual mode.
	Speed float64
	// Loop restarts from the first sample after the last (and lets Step wrap);
	// without it the last sample repeats forever.
	Loop bool
	// Manual freezes the position at the first sample until Step or Seek move it.
	Manual bool
	// Now is the clock for timed playback; nil means time.Now.
	Now func() time.Time
}

// Source replays one recording. It is safe for concurrent use: tests may Step
// it while a Sampler reads it.
type Source struct {
	rec     *recording.Recording
	devices []scaler.Device
	refs    []ref
	opts    Options
	start   time.Time
	pos     atomic.Int64 // sample index, Manual mode
	closed  atomic.Bool
}

// ref locates a device's answers in a sample.
type ref struct {
	gpu int    // index into Sample.Devices
	mig string // MIG UUID, "" for a full GPU
}

// ErrClosed is returned by Devices and Read after Close.
var ErrClosed = errors.New("replay: source closed")

// New returns a Source playing rec, which must be valid (recording.Decode
// checks that) and must not be modified afterwards. Timed playback starts now.
func New(rec *recording.Recording, opts Options) (*Source, error) {
	if rec == nil {
		return nil, errors.New("replay: no recording")
	}
	if err := rec.Validate(); err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	if opts.Speed == 0 {
		opts.Speed = 1
	}
	if !(opts.Speed > 0) || opts.Speed > 1e9 {
		return nil, fmt.Errorf("replay: speed %v: want a finite number above 0", opts.Speed)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Source{rec: rec, opts: opts, start: opts.Now()}
	for i, d := range rec.Devices {
		if d.HandleRet != 0 {
			continue // no handle, no UUID: the fake library denies it as NVML did; replay serves the others
		}
		if !d.UUID.OK() {
			return nil, fmt.Errorf("replay: device %d has no UUID (nvmlDeviceGetUUID returned %d)", i, d.UUID.Ret)
		}
		s.devices = append(s.devices, scaler.Device{Index: int(d.Index), UUID: d.UUID.Value, Model: d.Name.Value})
		s.refs = append(s.refs, ref{gpu: i})
		for _, m := range d.MIGDevices {
			if !m.UUID.OK() {
				return nil, fmt.Errorf("replay: MIG device %d on GPU %d has no UUID", m.Index, i)
			}
			s.devices = append(s.devices, scaler.Device{Index: int(d.Index), UUID: m.UUID.Value,
				Model: m.Name.Value, MIGParentUUID: d.UUID.Value, MIGIndex: int(m.Index)})
			s.refs = append(s.refs, ref{gpu: i, mig: m.UUID.Value})
		}
	}
	return s, nil
}

// MaxFileSize bounds the recording Load reads (bytes): the largest real
// recording is under 1 MiB, and serve's DaemonSet has 64 MiB in all.
const MaxFileSize = 32 << 20

// Load reads the recording at path and returns a Source playing it. The path
// must be a regular file of at most MaxFileSize bytes: a FIFO or a device is
// refused at once (wrapping regfile.ErrNotRegular), a larger file after
// MaxFileSize+1 bytes (regfile.ErrTooLarge).
func Load(path string, opts Options) (*Source, error) {
	b, err := regfile.Read(path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("open recording: %w", err)
	}
	rec, err := recording.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("recording %s: %w", path, err)
	}
	return New(rec, opts)
}

// Recording returns the recording being played; do not modify it.
func (s *Source) Recording() *recording.Recording { return s.rec }

// Devices implements scaler.Source: every GPU, each followed by its MIG devices.
func (s *Source) Devices(ctx context.Context) ([]scaler.Device, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return append([]scaler.Device(nil), s.devices...), nil
}

// Read implements scaler.Source with the answers of the current sample.
func (s *Source) Read(ctx context.Context, dev int) (scaler.Reading, error) {
	if err := s.check(ctx); err != nil {
		return scaler.Reading{}, err
	}
	if dev < 0 || dev >= len(s.refs) {
		return scaler.Reading{}, fmt.Errorf("replay: device %d out of range [0, %d)", dev, len(s.refs))
	}
	r := s.refs[dev]
	sample := &s.rec.Samples[s.Position()]
	if r.mig == "" {
		return gpuReading(&s.rec.Devices[r.gpu], &sample.Devices[r.gpu]), nil
	}
	m, ok := sample.MIGDevices[r.mig]
	if !ok {
		return scaler.Reading{}, fmt.Errorf("replay: sample at %v has no answers for MIG device %s",
			time.Duration(sample.OffsetNanos), r.mig)
	}
	return migReading(&m), nil
}

// Close implements scaler.Source; Devices and Read fail afterwards.
func (s *Source) Close() error {
	s.closed.Store(true)
	return nil
}

func (s *Source) check(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// Position returns the index of the sample Read answers from now.
func (s *Source) Position() int {
	if s.opts.Manual {
		return int(s.pos.Load())
	}
	return s.at(s.opts.Now().Sub(s.start))
}

// Offset returns the current sample's offset from the recording's start.
func (s *Source) Offset() time.Duration {
	return time.Duration(s.rec.Samples[s.Position()].OffsetNanos)
}

// Phase returns the recorded phase running at the current sample ("" before
// the first phase marker).
func (s *Source) Phase() string { return s.rec.PhaseAt(s.rec.Samples[s.Position()].OffsetNanos) }

// at maps elapsed wall time to a sample index.
func (s *Source) at(elapsed time.Duration) int {
	samples := s.rec.Samples
	first := samples[0].OffsetNanos
	span := s.rec.Duration()
	off := int64(float64(elapsed) * s.opts.Speed)
	if off < 0 {
		off = 0
	}
	if s.opts.Loop && span > 0 {
		off %= span + 1
	}
	target := first + off
	// The last sample at or before target.
	i := sort.Search(len(samples), func(i int) bool { return samples[i].OffsetNanos > target })
	return max(i-1, 0)
}

// Step moves a Manual source to the next sample and reports whether it moved:
// at the last sample it wraps to the first with Loop, and stays put without.
// It is an error on a timed source.
func (s *Source) Step() (bool, error) {
	if !s.opts.Manual {
		return false, errors.New("replay: Step needs Options.Manual")
	}
	for {
		cur := s.pos.Load()
		next := cur + 1
		if next == int64(len(s.rec.Samples)) {
			if !s.opts.Loop {
				return false, nil
			}
			next = 0
		}
		if s.pos.CompareAndSwap(cur, next) {
			return true, nil
		}
	}
}

// Seek moves a Manual source to sample i.
func (s *Source) Seek(i int) error {
	if !s.opts.Manual {
		return errors.New("replay: Seek needs Options.Manual")
	}
	if i < 0 || i >= len(s.rec.Samples) {
		return fmt.Errorf("replay: sample %d out of range [0, %d)", i, len(s.rec.Samples))
	}
	s.pos.Store(int64(i))
	return nil
}
