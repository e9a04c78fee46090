// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"math"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// GetMetricSpec returns one metric spec: the trigger's stable metric name and
// its target as targetSizeFloat (and, for old KEDA releases, targetSize rounded,
// at least 1). It does not need a snapshot.
func (s *Server) GetMetricSpec(_ context.Context, ref *pb.ScaledObjectRef) (*pb.GetMetricSpecResponse, error) {
	if resp, ok, err := s.engineSpec(ref); ok {
		return resp, err
	}
	t, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	return &pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{{
		MetricName:      t.MetricName(),
		TargetSize:      max(1, toInt64(t.Target)),
		TargetSizeFloat: t.Target,
	}}}, nil
}

// GetMetrics returns exactly one value, named as asked (KEDA strips its "s<N>-"
// prefix before calling; an empty name gets the spec's name), with
// metricValueFloat and metricValue (rounded) both set. See [Server.Evaluate]
// for the errors.
func (s *Server) GetMetrics(ctx context.Context, req *pb.GetMetricsRequest) (*pb.GetMetricsResponse, error) {
	v, _, name, ok, err := s.engineValue(ctx, req.GetScaledObjectRef())
	if !ok {
		var t Trigger
		if t, err = parseRef(req.GetScaledObjectRef()); err != nil {
			return nil, err
		}
		v, err = s.Evaluate(&t)
		if req.GetMetricName() == "" { // KEDA names it: spare building the name
			name = t.MetricName()
		}
	}
	if err != nil {
		return nil, err
	}
	if req.GetMetricName() != "" {
		name = req.GetMetricName()
	}
	return &pb.GetMetricsResponse{MetricValues: []*pb.MetricValue{{
		MetricName:       name,
		MetricValue:      toInt64(v),
		MetricValueFloat: v,
	}}}, nil
}

// IsActive reports whether the value GetMetrics returns is above the trigger's
// activationTargetValue. It fails exactly when GetMetrics fails.
func (s *Server) IsActive(ctx context.Context, ref *pb.ScaledObjectRef) (*pb.IsActiveResponse, error) {
	if v, activation, _, ok, err := s.engineValue(ctx, ref); ok {
		if err != nil {
			return nil, err
		}
		return &pb.IsActiveResponse{Result: v > activation}, nil
	}
	t, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	v, err := s.Evaluate(&t)
	if err != nil {
		return nil, err
	}
	return &pb.IsActiveResponse{Result: v > t.ActivationTarget}, nil
}

// parseRef parses a request's trigger metadata; errors are InvalidArgument.
func parseRef(ref *pb.ScaledObjectRef) (Trigger, error) {
	if ref == nil {
		return Trigger{}, status.Error(codes.InvalidArgument, "scaledObjectRef is missing: want the ScaledObject reference with its trigger metadata")
	}
	t, err := ParseTrigger(ref.GetScalerMetadata())
	if err != nil {
		return Trigger{}, status.Error(codes.InvalidArgument, err.Error())
	}
	return t, nil
}

// toInt64 rounds v for KEDA's deprecated integer fields, saturating at the
// int64 range.
func toInt64(v float64) int64 {
	switch {
	case v >= math.MaxInt64:
		return math.MaxInt64
	case v <= math.MinInt64:
		return math.MinInt64
	}
	return int64(math.Round(v))
}
