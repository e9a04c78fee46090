// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/spf13/pflag"

	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/nvmlsource"
	"github.com/nvml-scaler/nvml-scaler/scaler/replay"
)

// sourceFlags choose what serve and probe read: NVML, or a recording.
type sourceFlags struct {
	nvmlLib     string
	replay      string
	replaySpeed float64
	replayLoop  bool
	// onNVMLError, when set, receives every failed NVML call (serve's metrics).
	onNVMLError func(error)
}

func (f *sourceFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.nvmlLib, "nvml-lib", "", "load NVML from exactly this file (default: the loader's search, then the usual driver directories)")
	fs.StringVar(&f.replay, "replay", "", "read a recording (testdata/recordings/*.json, or one made by 'nvml-scaler record') instead of NVML")
	fs.Float64Var(&f.replaySpeed, "replay-speed", 1, "with --replay: playback speed, a number above 0 (2 = twice as fast)")
	fs.BoolVar(&f.replayLoop, "replay-loop", true, "with --replay: start again after the last sample (false: repeat the last sample)")
}

// validate checks the combination of flags; errors are usage errors.
func (f *sourceFlags) validate(fs *pflag.FlagSet) error {
	if f.replay != "" && f.nvmlLib != "" {
		return usageErrorf("--replay and --nvml-lib: give one or the other (a recording, or a library to load)")
	}
	if f.replay == "" {
		for _, n := range []string{"replay-speed", "replay-loop"} {
			if fs.Changed(n) {
				return usageErrorf("--%s needs --replay FILE", n)
			}
		}
	}
	if !(f.replaySpeed > 0) || math.IsInf(f.replaySpeed, 0) || f.replaySpeed > 1e6 {
		return usageErrorf("--replay-speed %v: want a number above 0 and at most 1e6, e.g. 4", f.replaySpeed)
	}
	return nil
}

// open returns the Source the flags name and a one-line description of it;
// interval is the sweep interval it will be read at.
func (f *sourceFlags) open(d *deps, log *slog.Logger, interval time.Duration) (scaler.Source, string, error) {
	if f.replay != "" {
		src, err := replay.Load(f.replay, replay.Options{Speed: f.replaySpeed, Loop: f.replayLoop, Now: d.now})
		if err != nil {
			return nil, "", fmt.Errorf("--replay %s: %w", f.replay, err)
		}
		loop := "looping"
		if !f.replayLoop {
			loop = "not looping"
		}
		return src, fmt.Sprintf("replay %s (speed %gx, %s)", f.replay, f.replaySpeed, loop), nil
	}
	desc := "nvml"
	if f.nvmlLib != "" {
		desc = "nvml " + f.nvmlLib
	}
	return nvmlsource.New(nvmlsource.Options{LibraryPath: f.nvmlLib, Logger: log, OnError: f.onNVMLError,
		GPMMaxGap: scaler.StaleIntervals * interval}), desc, nil
}
