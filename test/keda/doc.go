// SPDX-License-Identifier: Apache-2.0

// Package keda tests nvml-scaler against KEDA's own client code (pkg/scalers)
// and CRD types. It is a nested module because KEDA's client pulls in ~288
// modules and takes ~10 minutes to build cold; the main module stays small.
package keda
