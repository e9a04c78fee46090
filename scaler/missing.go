// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MissingPolicy is a trigger's `onMissing`: what to answer when a GPU the
// trigger selects is lost, failed, hung or unusable (its Health is not
// HealthOK). A metric a healthy GPU does not support or did not give this
// sweep is left out under either policy, as before.
type MissingPolicy uint8

// Missing policies.
const (
	// MissingDefault is MissingFail for aggregation sum and MissingSkip for
	// avg, max and min; see [MissingPolicy.For].
	MissingDefault MissingPolicy = iota
	// MissingFail answers Unavailable naming the missing GPUs, so that KEDA
	// keeps its replicas or applies the ScaledObject's fallback instead of
	// scaling down on a sum that fell because capacity was lost.
	MissingFail
	// MissingSkip leaves the missing GPUs out of the aggregation.
	MissingSkip
)

const wantOnMissing = `"fail" or "skip" (default: fail for aggregation sum, skip for avg, max and min)`

var missingNames = [...]string{MissingDefault: "", MissingFail: "fail", MissingSkip: "skip"}

// String returns "fail", "skip", or "" for MissingDefault.
func (p MissingPolicy) String() string {
	if int(p) < len(missingNames) {
		return missingNames[p]
	}
	return "onMissing(invalid)"
}

// For returns the policy that applies with aggregation a: p itself, or for
// MissingDefault, MissingFail with AggSum and MissingSkip otherwise.
func (p MissingPolicy) For(a Aggregation) MissingPolicy {
	switch {
	case p != MissingDefault:
		return p
	case a == AggSum:
		return MissingFail
	}
	return MissingSkip
}

// DescribeOnMissing says which policy applies to t and why, for `query` and logs:
// "fail (default for sum)", "skip (set)".
func (t *Trigger) DescribeOnMissing() string {
	p := t.OnMissing.For(t.Aggregation)
	if t.OnMissing == MissingDefault {
		return fmt.Sprintf("%s (default for %s)", p, t.Aggregation)
	}
	return p.String() + " (set)"
}

func parseMissing(v string) (MissingPolicy, bool) {
	switch v {
	case "fail":
		return MissingFail, true
	case "skip":
		return MissingSkip, true
	}
	return MissingDefault, false
}

// MissingGPUsError is the Unavailable answer under MissingFail: total
// selected GPUs, of which missing (each "<name> <why>") have no reading.
func MissingGPUsError(t *Trigger, total int, missing []string) error {
	return status.Errorf(codes.Unavailable, "onMissing=fail: %d of the %d GPU(s) selected for %s have no reading: %v; "+
		"a %s without them would under-report, so KEDA keeps its replicas or applies its fallback "+
		"(set onMissing: skip to leave them out)", len(missing), total, t.Metric, missing, t.Aggregation)
}

// MissingReason names an unhealthy GPU and why, for MissingGPUsError.
func MissingReason(g *GPU) string {
	name := g.UUID
	if name == "" {
		name = fmt.Sprintf("GPU %d", g.Index)
		if g.IsMIG() {
			name = fmt.Sprintf("MIG slot %d of %s", g.MIGIndex, g.MIGParentUUID)
		}
	}
	return fmt.Sprintf("%s %s: %v", name, g.Health, g.Err)
}
