// SPDX-License-Identifier: Apache-2.0

// Package kedacompat runs the test/kedacompat/harness suite with KEDA v2.17's
// external scaler client against the built nvml-scaler binary over gRPC. The
// module does not import the main module: it builds with the k8s.io modules
// KEDA v2.17.3 pins, as test/kedacompat/v2.21 does with v2.21.0's.
package kedacompat
