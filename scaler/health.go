// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Health check service names, for Kubernetes gRPC probes.
const (
	// HealthLiveness is SERVING while the process answers and its Sampler
	// has been without fresh data for at most its NotReadyLimit (serve: 10
	// min): use it for the liveness probe. A node without a driver is thus
	// restarted at most that often, and an agent that lost its device cgroup,
	// holds a stale library or sits on a wedged call is recreated.
	HealthLiveness = "liveness"
	// HealthReadiness ("" or the ExternalScaler service name also work) is
	// SERVING while the newest snapshot is fresh: use it for the readiness probe.
	HealthReadiness = "readiness"
)

// health answers grpc.health.v1 Check from the sampler's freshness, computed on
// each call rather than pushed, so a hung sampler shows up without a timer.
type health struct {
	healthpb.UnimplementedHealthServer
	sampler *Sampler
}

// Check answers one probe: liveness is SERVING while Sampler.Live succeeds;
// readiness is SERVING while Sampler.Current succeeds; any other service
// name is NotFound.
func (h *health) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	switch req.GetService() {
	case HealthLiveness:
		return serving(h.sampler.Live() == nil), nil
	case "", HealthReadiness, "externalscaler.ExternalScaler":
		_, err := h.sampler.Current()
		return serving(err == nil), nil
	}
	return nil, status.Errorf(codes.NotFound, "unknown service %q: want %q, %q or \"\"", req.GetService(), HealthLiveness, HealthReadiness)
}

func serving(ok bool) *healthpb.HealthCheckResponse {
	if ok {
		return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING}
}
