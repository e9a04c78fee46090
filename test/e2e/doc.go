// SPDX-License-Identifier: Apache-2.0

// Package e2e runs nvml-scaler against a real control plane on loopback: etcd,
// kube-apiserver (RBAC on, the aggregation layer wired), kube-controller-manager
// (the HPA controller syncing every 2 s), KEDA's operator and metrics adapter,
// and kwok as the kubelet of fake nodes, all built from the Go module proxy by
// hack/e2e-build.sh. The tests start our real binary (serve on replayed
// recordings, aggregate with a kubeconfig) and assert what the Deployment's
// replicas do. It is a nested module so that client-go and the control
// plane's cost stay out of the main module.
package e2e
