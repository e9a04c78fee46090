// SPDX-License-Identifier: Apache-2.0

// Package nvmlsource is the scaler's [scaler.Source] over the real NVML binding:
// it loads libnvidia-ml, enumerates GPUs and their MIG devices, and reads each
// device with cheap calls only (about 15 per device and sweep).
//
// # Faults
//
// A missing library, a driver that is not loaded (NVML_ERROR_DRIVER_NOT_LOADED)
// or no permission fail Devices: the Sampler reports not ready and retries.
// NOT_SUPPORTED and FUNCTION_NOT_FOUND (an old driver without the _v2/_v3
// symbols or GPM) make that metric absent; GPU_IS_LOST and RESET_REQUIRED make
// the device lost. UNINITIALIZED, DRIVER_NOT_LOADED and LIB_RM_VERSION_MISMATCH
// (the driver upgraded under the process) from any Read call match
// [scaler.ErrReinit]: the Sampler then calls Devices again, which shuts NVML
// down, unloads the library, and loads and initialises it afresh, so a new
// driver's library is picked up.
package nvmlsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// Options configure a Source.
type Options struct {
	// LibraryPath loads NVML from exactly this file; "" searches as nvml.Open does.
	LibraryPath string
	// Logger receives why GPM is unavailable on a GPU that claims it; nil
	// discards. (The Sampler logs each device found.)
	Logger *slog.Logger
	// OnError, when set, receives every failed NVML call (an error wrapping an
	// *nvml.CallError) and every failure to load the library (an
	// *nvml.LoadError), from the Source's goroutine. It must not block. Metrics
	// use it.
	OnError func(error)
}

// Source reads GPUs through NVML. It is used by one goroutine (the Sampler).
type Source struct {
	opts    Options
	lib     *nvml.Library
	inited  bool
	devs    []nvml.Device
	info    []scaler.Device
	gpm     []*nvml.GPMSampler // per position; nil where GPM is unsupported
	procBuf [][]nvml.ProcessInfo
}

// New returns a Source that loads NVML on its first Devices call, so a node
// without a driver yields a "not ready" error there, retried by the Sampler,
// instead of failing at start-up.
func New(opts Options) *Source {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Source{opts: opts}
}

// Devices lists every GPU followed by its MIG devices. It starts afresh: once
// it has listed devices before (or failed part-way), it first releases them,
// shuts NVML down and unloads the library, then loads and initialises NVML
// again — what recovers from a driver upgraded under the process. Errors wrap
// the nvml error (errors.Is works with nvml's Return values and
// *nvml.LoadError).
func (s *Source) Devices(ctx context.Context) ([]scaler.Device, error) {
	if err := s.release(); err != nil {
		s.opts.Logger.Warn("releasing NVML before initialising it again", "err", err)
	}
	if err := s.init(); err != nil {
		s.report(err)
		return nil, err
	}
	n, err := s.lib.DeviceCount()
	if err != nil {
		s.report(err)
		return nil, fmt.Errorf("count GPUs: %w", err)
	}
	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.addGPU(i); err != nil {
			s.report(err)
			return nil, err
		}
	}
	s.procBuf = make([][]nvml.ProcessInfo, len(s.devs))
	return s.info, nil
}

func (s *Source) init() error {
	if s.lib == nil {
		var opts []nvml.Option
		if s.opts.LibraryPath != "" {
			opts = append(opts, nvml.WithLibraryPath(s.opts.LibraryPath))
		}
		lib, err := nvml.Open(opts...)
		if err != nil {
			return err
		}
		s.lib = lib
	}
	if !s.inited {
		if err := s.lib.Init(); err != nil {
			return fmt.Errorf("initialise NVML from %s: %w", s.lib.Path(), err)
		}
		s.inited = true
	}
	return nil
}

func (s *Source) addGPU(i int) error {
	d, err := s.lib.DeviceByIndex(i)
	if err != nil {
		return fmt.Errorf("GPU %d: %w", i, err)
	}
	info, err := identity(d, i)
	if err != nil {
		return err
	}
	s.add(d, info, s.gpmSampler(d, info))
	migs, err := d.MIGDevices()
	if err != nil {
		return fmt.Errorf("GPU %d (%s): list MIG devices: %w", i, info.UUID, err)
	}
	for j, m := range migs {
		mi, err := identity(m, i)
		if err != nil {
			return err
		}
		mi.MIGParentUUID, mi.MIGIndex = info.UUID, j
		s.add(m, mi, nil)
	}
	return nil
}

func (s *Source) add(d nvml.Device, info scaler.Device, gpm *nvml.GPMSampler) {
	s.devs = append(s.devs, d)
	s.info = append(s.info, info)
	s.gpm = append(s.gpm, gpm)
}

func identity(d nvml.Device, index int) (scaler.Device, error) {
	uuid, err := d.UUID()
	if err != nil {
		return scaler.Device{}, fmt.Errorf("GPU %d: UUID: %w", index, err)
	}
	name, err := d.Name()
	if err != nil {
		return scaler.Device{}, fmt.Errorf("GPU %d (%s): name: %w", index, uuid, err)
	}
	return scaler.Device{Index: index, UUID: uuid, Model: name}, nil
}

// gpmSampler returns a primed GPM sampler for the scaler's GPM metrics, or nil
// when the GPU or driver has no GPM (pre-Hopper, old driver).
func (s *Source) gpmSampler(d nvml.Device, info scaler.Device) *nvml.GPMSampler {
	ok, err := d.GPMSupported()
	if err != nil || !ok {
		return nil
	}
	ids := make([]nvml.GPMMetricID, scaler.NumGPMMetrics)
	for m := range scaler.NumGPMMetrics {
		ids[m] = nvml.GPMMetricID(m.NVMLID())
	}
	g, err := d.NewGPMSampler(ids...)
	if err != nil {
		s.report(err)
		s.opts.Logger.Warn("GPM unavailable", "uuid", info.UUID, "err", err)
		return nil
	}
	return g
}

// Close frees GPM samples, shuts NVML down and unloads it.
func (s *Source) Close() error { return s.release() }

// release frees GPM samples, shuts NVML down and unloads it, leaving the
// Source as New returned it.
func (s *Source) release() error {
	var errs []error
	for _, g := range s.gpm {
		if g != nil {
			errs = append(errs, g.Close())
		}
	}
	if s.inited {
		errs = append(errs, s.lib.Shutdown())
	}
	if s.lib != nil {
		errs = append(errs, s.lib.Close())
	}
	s.lib, s.inited = nil, false
	s.devs, s.info, s.gpm, s.procBuf = nil, nil, nil, nil
	return errors.Join(errs...)
}

// report passes a failed call to Options.OnError.
func (s *Source) report(err error) {
	if s.opts.OnError != nil && err != nil {
		s.opts.OnError(err)
	}
}
