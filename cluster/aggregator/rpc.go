// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"context"
	"math"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
)

// GetMetricSpec returns the trigger's metric spec exactly as the node server
// does: its stable metric name and target. It needs no agent.
func (a *Aggregator) GetMetricSpec(_ context.Context, ref *pb.ScaledObjectRef) (*pb.GetMetricSpecResponse, error) {
	q, err := a.parseQuery(ref)
	if err != nil {
		return nil, err
	}
	return &pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{{
		MetricName:      q.metricName(),
		TargetSize:      max(1, toInt64(q.target())),
		TargetSizeFloat: q.target(),
	}}}, nil
}

// GetMetrics returns exactly one value, named as asked (the spec's name when
// the request names none), with metricValueFloat and metricValue both set.
func (a *Aggregator) GetMetrics(_ context.Context, req *pb.GetMetricsRequest) (*pb.GetMetricsResponse, error) {
	q, err := a.parseQuery(req.GetScaledObjectRef())
	if err != nil {
		return nil, err
	}
	v, err := a.evaluate(q)
	if err != nil {
		return nil, err
	}
	name := req.GetMetricName()
	if name == "" {
		name = q.metricName()
	}
	return &pb.GetMetricsResponse{MetricValues: []*pb.MetricValue{{
		MetricName: name, MetricValue: toInt64(v), MetricValueFloat: v}}}, nil
}

// IsActive reports whether the GetMetrics value is above the trigger's
// activationTargetValue: false at zero replicas. It fails exactly when
// GetMetrics fails.
func (a *Aggregator) IsActive(_ context.Context, ref *pb.ScaledObjectRef) (*pb.IsActiveResponse, error) {
	q, err := a.parseQuery(ref)
	if err != nil {
		return nil, err
	}
	v, err := a.evaluate(q)
	if err != nil {
		return nil, err
	}
	return &pb.IsActiveResponse{Result: v > q.activation()}, nil
}

// toInt64 rounds v for KEDA's deprecated integer fields, saturating.
func toInt64(v float64) int64 {
	switch {
	case v >= math.MaxInt64:
		return math.MaxInt64
	case v <= math.MinInt64:
		return math.MinInt64
	}
	return int64(math.Round(v))
}
