// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
)

// StreamIsActive serves KEDA's external-push trigger. It sends the current state
// once on connect, then `true` on every inactive→active transition, and
// repeats `true` every ServerConfig.StreamResend (by the Sampler's clock)
// while the trigger stays active, evaluated on each new snapshot (no
// per-stream ticker). KEDA ignores `false` and scales at once on `true`, but
// drops a `true` it cannot act on: the repeat brings the fast wake-up back. A
// value that cannot be computed (stale data, no GPU) counts as inactive, so
// recovering data that is above the threshold is pushed. It returns nil when
// the client goes away or the server stops.
//
// An engine trigger (ServerConfig.Engines) is evaluated on the same beat: on
// each new snapshot, which the engine scrapes follow at their own interval.
func (s *Server) StreamIsActive(ref *pb.ScaledObjectRef, stream pb.ExternalScaler_StreamIsActiveServer) error {
	isActive, err := s.activeFunc(ref)
	if err != nil {
		return err
	}
	ctx := stream.Context()
	first, was := true, false
	var sentTrue time.Time // when `true` was last sent
	for {
		updated := s.sampler.Updated() // before evaluating: never miss a publish
		active := isActive()
		now := s.sampler.now()
		if first || active && (!was || now.Sub(sentTrue) >= s.streamResend) {
			if err := stream.Send(&pb.IsActiveResponse{Result: active}); err != nil {
				return err
			}
			first = false
			if active {
				sentTrue = now
			}
		}
		was = active
		if s.streamEvaluated != nil {
			s.streamEvaluated()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.stopping:
			return nil
		case <-updated:
		}
	}
}

// activeFunc returns what StreamIsActive evaluates for ref: whether the
// trigger is active now (false when its value cannot be computed).
func (s *Server) activeFunc(ref *pb.ScaledObjectRef) (func() bool, error) {
	if s.engines != nil && ref != nil && s.engines.Serves(ref.GetScalerMetadata()) {
		md := ref.GetScalerMetadata()
		if _, _, err := s.engines.Spec(md); err != nil {
			return nil, err
		}
		return func() bool {
			v, activation, err := s.engines.Evaluate(ref.GetNamespace(), md)
			return err == nil && v > activation
		}, nil
	}
	t, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	return func() bool {
		v, err := s.Evaluate(&t)
		return err == nil && v > t.ActivationTarget
	}, nil
}
