// SPDX-License-Identifier: Apache-2.0

package enginetrigger

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Contribution says which engine targets an engine trigger's value came
// from. It is what `query` shows; KEDA's answers carry only the value.
type Contribution struct {
	// Value is the combined value; 0 when the call failed.
	Value float64 `json:"value"`
	// Contributed names the targets (a pod's namespace/name, or an
	// --engine-target name) whose readings went into Value; on an error, the
	// ones that had a value.
	Contributed []string `json:"contributed"`
	// LeftOut are the targets that counted for the trigger but had no value,
	// each with why (not scraped, failed, stale, not enough data in the
	// window, not exported, not Ready on the aggregator).
	LeftOut []LeftOut `json:"leftOut,omitempty"`
}

// LeftOut is one target without a value, and the reason.
type LeftOut struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// ExplainMetadata parses md as GetMetrics does and explains it for a
// ScaledObject in namespace; errors are gRPC status errors (InvalidArgument
// for metadata that is not an engine trigger's).
func (s *Server) ExplainMetadata(namespace string, md map[string]string) (Contribution, error) {
	if !Serves(md) {
		return Contribution{}, status.Error(codes.InvalidArgument, "not an engine metric: only engine triggers (requests_waiting, ttft_seconds, …) name their targets")
	}
	t, err := Parse(md)
	if err != nil {
		return Contribution{}, status.Error(codes.InvalidArgument, err.Error())
	}
	return s.Explain(namespace, &t)
}
