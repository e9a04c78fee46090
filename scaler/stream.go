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
func (s *Server) StreamIsActive(ref *pb.ScaledObjectRef, stream pb.ExternalScaler_StreamIsActiveServer) error {
	t, err := parseRef(ref)
	if err != nil {
		return err
	}
	ctx := stream.Context()
	first, was := true, false
	var sentTrue time.Time // when `true` was last sent
	for {
		updated := s.sampler.Updated() // before evaluating: never miss a publish
		v, err := s.Evaluate(&t)
		active := err == nil && v > t.ActivationTarget
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
