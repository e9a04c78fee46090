// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Evaluate returns the value GetMetrics reports for t right now. Errors are gRPC
// status errors: Unavailable when the snapshot is missing or stale ("stale"),
// or no selected GPU has a value this sweep; NotFound when no GPU on the node
// matches the selection; FailedPrecondition when the metric is not supported
// on any selected GPU.
//
// The newest snapshot must yield a value. With a window, the values of every
// snapshot in the window that yields one are averaged.
func (s *Server) Evaluate(t *Trigger) (float64, error) {
	snap, err := s.sampler.Current()
	if err != nil {
		return 0, unavailable(err)
	}
	v, err := aggregate(snap, t)
	if err != nil || t.Window <= 0 {
		return v, err
	}
	sum, n := 0.0, 0
	s.sampler.hist.since(snap, snap.Start.Add(-t.Window), func(old *Snapshot) bool {
		if v, err := aggregate(old, t); err == nil {
			sum += v
			n++
		}
		return true
	})
	return sum / float64(n), nil
}

func unavailable(err error) error {
	if errors.Is(err, ErrStale) || errors.Is(err, ErrNotReady) {
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// aggregate combines t's metric over the devices t selects in snap. Absent
// values are left out, and so are devices that are not healthy unless t's
// onMissing policy is fail, which answers Unavailable naming them; with no
// value left it returns an error that says why.
func aggregate(snap *Snapshot, t *Trigger) (float64, error) {
	f := fold{agg: t.Aggregation}
	matched := 0
	var missing []string
	fail := t.OnMissing.For(t.Aggregation) == MissingFail
	for i := range snap.GPUs {
		g := &snap.GPUs[i]
		if !t.Selector.Matches(&g.Device) {
			continue
		}
		matched++
		if g.Health == HealthOK {
			f.add(g.Metrics[t.Metric])
		} else if fail {
			missing = append(missing, MissingReason(g))
		}
	}
	if len(missing) > 0 {
		return 0, MissingGPUsError(t, matched, missing)
	}
	v, n := f.result()
	if n == 0 {
		return 0, noValue(snap, t, matched)
	}
	return v, nil
}

// noValue explains why the selected devices gave no value.
func noValue(snap *Snapshot, t *Trigger, matched int) error {
	if matched == 0 {
		return status.Errorf(codes.NotFound, "no GPU on node %q matches %s: the node has %s",
			snap.Node, t.Selector.String(), inventory(snap))
	}
	unsupported := 0
	var why []string
	for i := range snap.GPUs {
		g := &snap.GPUs[i]
		if !t.Selector.Matches(&g.Device) {
			continue
		}
		v := g.Metrics[t.Metric]
		switch {
		case g.Health == HealthLost:
			why = append(why, fmt.Sprintf("%s lost", g.UUID))
		case g.Health != HealthOK:
			why = append(why, fmt.Sprintf("%s %s: %v", g.UUID, g.Health, g.Err))
		case v.Status == StatusNotSupported:
			unsupported++
			why = append(why, fmt.Sprintf("%s not supported", g.UUID))
		default:
			why = append(why, fmt.Sprintf("%s %s", g.UUID, v.Status))
		}
	}
	code := codes.Unavailable
	if unsupported == matched {
		code = codes.FailedPrecondition
	}
	return status.Errorf(code, "metric %s has no value on the %d GPU(s) matching %s: %v",
		t.Metric, matched, t.Selector.String(), why)
}
