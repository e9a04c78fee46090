// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"

	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// StreamIsActive serves KEDA's external-push trigger as the node server does:
// the current state once, then `true` on each inactive→active transition and
// again every scaler.DefaultStreamResend (by the aggregator's clock) while it
// stays active (KEDA drops a `true` it cannot act on). It re-evaluates when any agent publishes, at most once per scaler.MinInterval,
// so a thousand agents do not make every stream evaluate a thousand times a
// second. A value that cannot be computed counts as inactive. It returns nil
// when the client goes away or the aggregator stops.
func (a *Aggregator) StreamIsActive(ref *pb.ScaledObjectRef, stream pb.ExternalScaler_StreamIsActiveServer) error {
	q, err := a.parseQuery(ref)
	if err != nil {
		return err
	}
	ctx := stream.Context()
	first, was := true, false
	var sentTrue time.Time // when `true` was last sent
	throttle := time.NewTimer(0)
	defer throttle.Stop()
	for {
		updated := *a.updated.Load() // before evaluating: never miss a publish
		v, err := a.evaluate(q)
		active := err == nil && v > q.activation()
		now := a.now()
		if first || active && (!was || now.Sub(sentTrue) >= scaler.DefaultStreamResend) {
			if err := stream.Send(&pb.IsActiveResponse{Result: active}); err != nil {
				return err
			}
			first = false
			if active {
				sentTrue = now
			}
		}
		was = active
		throttle.Reset(scaler.MinInterval)
		select { // at most one evaluation per MinInterval
		case <-ctx.Done():
			return nil
		case <-a.stopping:
			return nil
		case <-throttle.C:
		}
		select { // then the next publication (or one that came meanwhile)
		case <-ctx.Done():
			return nil
		case <-a.stopping:
			return nil
		case <-updated:
		}
	}
}
