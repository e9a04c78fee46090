// SPDX-License-Identifier: Apache-2.0

// Package scaler turns GPU readings into answers for KEDA.
//
// Data flows one way: a [Source] (NVML, or a recording replayed by package
// scaler/replay) → the [Sampler], whose single goroutine owns the Source and
// sweeps every device at a fixed interval → an immutable [Snapshot] published
// through an atomic pointer, plus a bounded history of recent snapshots → the
// [Server], which answers KEDA's ExternalScaler RPCs from those snapshots.
// Requests never call the Source and never take a lock the Sampler holds.
//
// What a trigger asks for is described by its metadata ([ParseTrigger]): a
// metric from the catalogue ([Metric]), a target, an activation threshold, an
// aggregation across the selected GPUs and an optional time window.
//
// # Failure contract
//
// A metric NVML does not support on a device, or a NaN, is absent for that
// device — never 0. A GPU that is lost is marked [HealthLost] and the others keep
// serving. When the newest snapshot is older than three sweep intervals (a hung
// driver call, a dead sampler) every metric request fails with gRPC Unavailable,
// so KEDA applies the ScaledObject's fallback instead of scaling on old numbers.
// A Source error that matches [ErrReinit] (the driver upgraded under the
// process) drops every device until the Source lists them again: requests fail
// with Unavailable "not ready" meanwhile, and the Sampler retries with backoff.
//
// # Limits
//
// [Server.Serve] bounds request size, trigger metadata ([MaxMetadataEntries],
// [MaxMetadataBytes]) and every unary call's duration, and enforces a
// keepalive policy; see [Server.ServerOptions].
package scaler
