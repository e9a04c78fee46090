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
	"sync/atomic"
	"time"

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
	// *nvml.LoadError), possibly from several goroutines at once (Reads of
	// different devices run concurrently). It must not block. Metrics use it.
	OnError func(error)
	// RefreshInterval is how often [Source.Refresh] lists the devices again
	// (GPUs that could not be opened, MIG layouts); 0 means
	// DefaultRefreshInterval.
	RefreshInterval time.Duration
	// Now is the clock for RefreshInterval and for the gaps between GPM
	// samples; nil means time.Now.
	Now func() time.Time
	// GPMMaxGap makes a GPU's GPM sampler prime again, rather than answer,
	// after a gap longer than this since its previous sample (a hang, a
	// long pause): pass StaleIntervals × the sweep interval. 0 means no
	// limit. Samples under nvml.GPMMinInterval apart are never measured.
	GPMMaxGap time.Duration
}

// DefaultRefreshInterval is how often the device list is rebuilt by default:
// bounded retries of an unusable GPU, and MIG layouts that mig-manager
// changes under a running process.
const DefaultRefreshInterval = 30 * time.Second

// Source reads GPUs through NVML for the Sampler, which may Read different
// positions concurrently (NVML is thread-safe; each entry is touched by the
// Read of its own position only) and lists only while no Read runs.
type Source struct {
	opts    Options
	lib     *nvml.Library
	inited  bool
	entries []*entry // one per position of the list Devices or Refresh returned
	// lastList is when the device list was last built (Options.Now);
	// suspect is set when a MIG handle stopped answering as its device, so
	// the next Refresh re-lists at once.
	lastList time.Time
	suspect  atomic.Bool
}

// entry is everything the Source keeps for one position.
type entry struct {
	dev     nvml.Device // zero when info.Unusable is set
	info    scaler.Device
	gpm     *nvml.GPMSampler // nil where GPM is unsupported
	procBuf []nvml.ProcessInfo
	// migParent: a GPU in MIG mode with MIG devices, whose memory and
	// process queries may answer NO_PERMISSION, which means "not here".
	migParent bool
}

// New returns a Source that loads NVML on its first Devices call, so a node
// without a driver yields a "not ready" error there, retried by the Sampler,
// instead of failing at start-up.
func New(opts Options) *Source {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Source{opts: opts}
}

// Devices lists every GPU followed by its MIG devices. It starts afresh: once
// it has listed devices before (or failed part-way), it first releases them,
// shuts NVML down and unloads the library, then loads and initialises NVML
// again — what recovers from a driver upgraded under the process.
//
// It fails only when NVML cannot be loaded or initialised, the GPU count
// fails, or a call asks for re-initialisation; errors wrap the nvml error
// (errors.Is works with nvml's Return values and *nvml.LoadError). A GPU or
// MIG slot whose handle or identity cannot be had (NO_PERMISSION from the
// container's device cgroup, GPU_IS_LOST, INSUFFICIENT_POWER, IRQ_ISSUE, …)
// is listed with [scaler.Device.Unusable] set, and [Source.Refresh] tries it
// again.
func (s *Source) Devices(ctx context.Context) ([]scaler.Device, error) {
	if err := s.release(); err != nil {
		s.opts.Logger.Warn("releasing NVML before initialising it again", "err", err)
	}
	if err := s.init(); err != nil {
		s.report(err)
		return nil, err
	}
	entries, err := s.list(ctx, nil)
	if err != nil {
		return nil, err
	}
	s.entries = entries
	return s.infos(), nil
}

func (s *Source) infos() []scaler.Device {
	out := make([]scaler.Device, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.info
	}
	return out
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

// gpmSampler returns a GPM sampler for the scaler's GPM metrics, or nil
// when the GPU or driver has no GPM (pre-Hopper, old driver).
func (s *Source) gpmSampler(d nvml.Device, info scaler.Device) *nvml.GPMSampler {
	ok, err := d.GPMSupported()
	if err != nil || !ok {
		return nil
	}
	g, err := d.NewGPMSampler(gpmIDs()...)
	return s.setUpGPM(g, info, err)
}

// migGPMSampler returns a GPM sampler for MIG device m's GPU instance on
// parent (nvmlGpmMigSampleGet), or nil when the driver has none. MIG
// devices that are compute instances of one GPU instance read the same
// values.
func (s *Source) migGPMSampler(parent, m nvml.Device, info scaler.Device) *nvml.GPMSampler {
	gi, err := m.GPUInstanceID()
	if err != nil {
		s.report(err)
		s.opts.Logger.Warn("GPM unavailable on MIG device: no GPU instance id", "uuid", info.UUID, "err", err)
		return nil
	}
	g, err := parent.NewMIGGPMSampler(gi, gpmIDs()...)
	return s.setUpGPM(g, info, err)
}

func gpmIDs() []nvml.GPMMetricID {
	ids := make([]nvml.GPMMetricID, scaler.NumGPMMetrics)
	for m := range scaler.NumGPMMetrics {
		ids[m] = nvml.GPMMetricID(m.NVMLID())
	}
	return ids
}

// setUpGPM finishes a sampler New*GPMSampler returned, or logs why there is
// none.
func (s *Source) setUpGPM(g *nvml.GPMSampler, info scaler.Device, err error) *nvml.GPMSampler {
	if err != nil {
		s.report(err)
		s.opts.Logger.Warn("GPM unavailable", "uuid", info.UUID, "err", err)
		return nil
	}
	g.SetMaxGap(s.opts.GPMMaxGap)
	g.SetClock(s.opts.Now)
	return g
}

// Close frees GPM samples, shuts NVML down and unloads it.
func (s *Source) Close() error { return s.release() }

// release frees GPM samples, shuts NVML down and unloads it, leaving the
// Source as New returned it.
func (s *Source) release() error {
	var errs []error
	for _, e := range s.entries {
		if e.gpm != nil {
			errs = append(errs, e.gpm.Close())
		}
	}
	if s.inited {
		errs = append(errs, s.lib.Shutdown())
	}
	if s.lib != nil {
		errs = append(errs, s.lib.Close())
	}
	s.lib, s.inited = nil, false
	s.entries = nil
	s.suspect.Store(false)
	return errors.Join(errs...)
}

// report passes a failed call to Options.OnError.
func (s *Source) report(err error) {
	if s.opts.OnError != nil && err != nil {
		s.opts.OnError(err)
	}
}
