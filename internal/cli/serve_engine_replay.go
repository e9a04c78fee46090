// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/recording/enginerec"
	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/replay"
)

// minReplayEngineInterval is the shortest engine scrape interval a replay
// picks by itself (the recorded interval divided by --replay-speed).
const minReplayEngineInterval = 100 * time.Millisecond

// recordedEngines adds the engine targets of a recording's engines section,
// when src is a replay with one, to f: they are scraped from the recording,
// in step with the replay's position, through the same parsing and windows
// as live targets. An error names the recording.
func (f *engineFlags) recordedEngines(src scaler.Source, path string, speed float64) error {
	rs, ok := src.(*replay.Source)
	if !ok || rs.Recording().Engines == nil {
		return nil
	}
	p, err := enginerec.NewPlayer(rs.Recording().Engines, enginerec.PlayerOptions{Offset: rs.Offset, MaxBytes: f.maxBytes})
	if err != nil {
		return fmt.Errorf("--replay %s: %w", path, err)
	}
	for _, t := range p.Targets() {
		for _, o := range f.parsed {
			if o.Name == t.Name {
				return usageErrorf("--engine-target %s: the recording %s has an engine target of that name: pick another", o.Name, path)
			}
		}
	}
	f.recorded = p
	f.recordedInterval = max(time.Duration(float64(p.Interval())/speed), minReplayEngineInterval)
	f.parsed = append(f.parsed, p.Targets()...)
	return nil
}

// byName fetches the recorded targets from the recording and the others
// over HTTP.
type byName struct {
	recorded *enginerec.Player
	http     watch.Fetcher
}

func (b byName) Fetch(ctx context.Context, name string, t engine.Target) ([]byte, string, error) {
	if b.recorded.Has(name) {
		return b.recorded.Fetch(ctx, name, t)
	}
	return b.http.Fetch(ctx, name, t)
}
