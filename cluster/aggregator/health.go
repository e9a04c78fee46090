// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"context"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// health answers grpc.health.v1 Check with the node server's service names:
// liveness is always SERVING; readiness is SERVING once the Kubernetes cache
// has synced. An unreachable agent does not make the aggregator unready: it
// fails only the requests whose pods run on that node.
type health struct {
	healthpb.UnimplementedHealthServer
	a *Aggregator
}

// Check answers one probe.
func (h *health) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	switch req.GetService() {
	case scaler.HealthLiveness:
		return serving(true), nil
	case "", scaler.HealthReadiness, "externalscaler.ExternalScaler":
		return serving(h.a.Ready()), nil
	}
	return nil, status.Errorf(codes.NotFound, "unknown service %q: want %q, %q or \"\"", req.GetService(),
		scaler.HealthLiveness, scaler.HealthReadiness)
}

func serving(ok bool) *healthpb.HealthCheckResponse {
	if ok {
		return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING}
}
