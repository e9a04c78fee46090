// SPDX-License-Identifier: Apache-2.0

// Package harness is the one place that says what KEDA's external scaler
// client must see from a running nvml-scaler: the test/kedacompat/v2.17 and
// v2.21 modules each adapt their KEDA release's pkg/scalers to [KEDA] and call
// [Run], so a release that behaves differently fails the same assertion.
//
// It starts the binary named by $NVML_SCALER_BIN (make test-keda-compat builds
// it) as `serve --replay` on loopback and reaches it only over gRPC, as KEDA's
// operator does: nothing here imports the main module, so an old KEDA builds
// with the k8s.io modules it pins. The expected values are computed from the
// recording being replayed (expect.go).
package harness
