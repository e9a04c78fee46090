// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
)

// pyPhase is a phase marker printed by a load process: its name and start time
// (Unix seconds).
type pyPhase struct {
	Phase string  `json:"phase"`
	T     float64 `json:"t"`
}

// convertPhases converts the phase markers to offsets from t0 (Unix seconds).
//
// The script appends markers from one reader thread per load process, so with a
// second tenant they may be out of time order: they are sorted by time, stably. A
// phase that started before t0 (the first sample) gets offset 0 rather than a
// negative one, which [Recording.Validate] rejects; at offset 0 it is still the
// phase running at the first sample, which is all the recording can show.
func convertPhases(list []json.RawMessage, t0 float64) ([]Phase, error) {
	if len(list) == 0 {
		return nil, nil
	}
	markers := make([]pyPhase, len(list))
	for i, raw := range list {
		p, err := asExact[pyPhase](raw)
		if err != nil {
			return nil, fmt.Errorf("phases[%d]: %w", i, err)
		}
		if p.Phase == "" {
			return nil, fmt.Errorf("phases[%d]: empty phase name", i)
		}
		markers[i] = p
	}
	slices.SortStableFunc(markers, func(a, b pyPhase) int { return cmp.Compare(a.T, b.T) })
	phases := make([]Phase, len(markers))
	for i, p := range markers {
		offset, err := secondsToNanos(p.T - t0)
		if err != nil {
			return nil, fmt.Errorf("phase %q: t: %w", p.Phase, err)
		}
		phases[i] = Phase{Name: p.Phase, OffsetNanos: max(offset, 0)}
	}
	return phases, nil
}
