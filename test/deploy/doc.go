// SPDX-License-Identifier: Apache-2.0

// Package deploy validates deploy/ without a cluster: it renders the Helm chart
// with Helm's own engine (helm.sh/helm/v4) and the kustomize overlays with
// kustomize's API, decodes every object strictly into its Kubernetes type,
// checks the DaemonSet's security posture, ports and probes against the
// binary's `serve --help`, and in cluster mode (aggregator.enabled,
// overlays/cluster) the aggregator's posture, RBAC and NetworkPolicy and its
// arguments against `aggregate --help`. It checks that Helm and kustomize
// render the same objects, and runs every example ScaledObject and
// TriggerAuthentication through KEDA's apis/keda/v1alpha1 types and validation
// functions and through scaler.ParseTrigger.
//
// It is a nested module because Helm, kustomize and KEDA's CRD types pull in
// the Kubernetes client libraries, which the main module does not need; every
// k8s.io module stays at KEDA v2.21.0's pins. Run it with `make test-deploy`;
// docs/deploy.md lists its cold build cost.
package deploy
