// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
)

// EngineMetrics serves the triggers whose `metric` is an inference engine's
// own (requests_waiting, ttft_seconds, …: package engine's catalogue) rather
// than a GPU's. The Server asks it first; a nil EngineMetrics serves none.
// Implementations are safe for concurrent use and answer from memory.
type EngineMetrics interface {
	// Serves reports whether md's `metric` names a metric it serves.
	Serves(md map[string]string) bool
	// Spec returns the stable metric name and the target for md. Errors are
	// gRPC status errors (InvalidArgument for bad metadata).
	Spec(md map[string]string) (name string, target float64, err error)
	// Evaluate returns md's value now, over the pods in the ScaledObject's
	// namespace, and its activation threshold. Errors are gRPC status errors
	// (Unavailable when a counted pod has no value).
	Evaluate(namespace string, md map[string]string) (value, activation float64, err error)
}

// engineSpec answers GetMetricSpec for an engine trigger; ok is false when the
// trigger is not one.
func (s *Server) engineSpec(ref *pb.ScaledObjectRef) (*pb.GetMetricSpecResponse, bool, error) {
	if s.engines == nil || ref == nil || !s.engines.Serves(ref.GetScalerMetadata()) {
		return nil, false, nil
	}
	name, target, err := s.engines.Spec(ref.GetScalerMetadata())
	if err != nil {
		return nil, true, err
	}
	return &pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{{
		MetricName: name, TargetSize: max(1, toInt64(target)), TargetSizeFloat: target,
	}}}, true, nil
}

// engineValue evaluates an engine trigger; ok is false when it is not one.
func (s *Server) engineValue(_ context.Context, ref *pb.ScaledObjectRef) (value, activation float64, name string, ok bool, err error) {
	if s.engines == nil || ref == nil || !s.engines.Serves(ref.GetScalerMetadata()) {
		return 0, 0, "", false, nil
	}
	md := ref.GetScalerMetadata()
	if name, _, err = s.engines.Spec(md); err != nil {
		return 0, 0, "", true, err
	}
	value, activation, err = s.engines.Evaluate(ref.GetNamespace(), md)
	return value, activation, name, true, err
}
