// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
)

// The resources the aggregator watches (read-only: get, list, watch).
var (
	gvrPods          = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	gvrReplicaSets   = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	gvrDeployments   = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	gvrStatefulSets  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	gvrScaledObjects = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"}
	// gvrResourceClaims only with Config.DRA.
	gvrResourceClaims = schema.GroupVersionResource{Group: "resource.k8s.io", Version: "v1", Resource: "resourceclaims"}
)

// GPUResourcePrefix is the resource-name prefix under which a pod that
// requests a resource expects GPUs.
const GPUResourcePrefix = "nvidia.com/"

// object is what the informers keep of each Kubernetes object: a few fields,
// not the whole object, so that a cluster's pods fit in little memory. The
// transform that makes one runs before the object is stored; the result is
// never modified afterwards.
type object struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	// controller is the UID of the controlling owner (pods, ReplicaSets).
	controller types.UID
	// Pods only. key is "namespace/name", as attribution keys pods.
	key      string
	nodeName string
	phase    string
	gpus     int64 // devices requested under GPUResourcePrefix, all containers
	// claims names the pod's ResourceClaims in its namespace (direct ones,
	// and those generated from templates); ungenerated names the pod's
	// template claims whose ResourceClaim has not been generated yet.
	claims, ungenerated []string
	// ready is the pod's Ready condition; terminating: deletionTimestamp set.
	ready, terminating bool
	// ScaledObjects only: spec.scaleTargetRef.
	targetAPIVersion, targetKind, targetName string
	// ResourceClaims only: allocated once status.allocation is set; claimGPUs
	// counts its allocated devices of NVIDIA's GPU driver.
	allocated bool
	claimGPUs int64
}

// DeepCopyObject implements runtime.Object; objects are immutable, so a
// shallow copy is a deep one for every reader.
func (o *object) DeepCopyObject() runtime.Object {
	cp := *o
	return &cp
}

// slim is the informers' transform: unstructured objects become *object. It is
// idempotent, as client-go asks.
func slim(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	o := &object{TypeMeta: metav1.TypeMeta{APIVersion: u.GetAPIVersion(), Kind: u.GetKind()},
		ObjectMeta: metav1.ObjectMeta{Name: u.GetName(), Namespace: u.GetNamespace(), UID: u.GetUID(),
			ResourceVersion: u.GetResourceVersion(), Labels: u.GetLabels()}}
	if ref := metav1.GetControllerOfNoCopy(u); ref != nil {
		o.controller = ref.UID
	}
	switch u.GetKind() {
	case "Pod":
		o.key = o.Namespace + "/" + o.Name
		o.nodeName, _, _ = unstructured.NestedString(u.Object, "spec", "nodeName")
		o.phase, _, _ = unstructured.NestedString(u.Object, "status", "phase")
		o.gpus = requestedGPUs(u)
		o.ready, o.terminating = podReady(u), u.GetDeletionTimestamp() != nil
		o.claims, o.ungenerated = podClaims(u)
	case "ResourceClaim":
		o.allocated, o.claimGPUs = allocatedGPUs(u)
	case "ScaledObject":
		o.targetAPIVersion, _, _ = unstructured.NestedString(u.Object, "spec", "scaleTargetRef", "apiVersion")
		o.targetKind, _, _ = unstructured.NestedString(u.Object, "spec", "scaleTargetRef", "kind")
		o.targetName, _, _ = unstructured.NestedString(u.Object, "spec", "scaleTargetRef", "name")
	}
	return o, nil
}

// requestedGPUs sums the GPU resources a pod's containers ask for (limits, or
// requests where no limit is set: for extended resources they must be equal).
func requestedGPUs(u *unstructured.Unstructured) int64 {
	containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "containers")
	var total int64
	for _, c := range containers {
		cm, ok := c.(map[string]any)
		if !ok {
			continue
		}
		limits, _, _ := unstructured.NestedMap(cm, "resources", "limits")
		if len(limits) == 0 {
			limits, _, _ = unstructured.NestedMap(cm, "resources", "requests")
		}
		for name, v := range limits {
			if !strings.HasPrefix(name, GPUResourcePrefix) {
				continue
			}
			if q, err := resource.ParseQuantity(toString(v)); err == nil {
				total += q.Value()
			}
		}
	}
	return total
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return resource.NewQuantity(v, resource.DecimalSI).String()
	case float64:
		return resource.NewQuantity(int64(v), resource.DecimalSI).String()
	}
	return ""
}

// podReady reports whether u's Ready condition is True.
func podReady(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if cm, ok := c.(map[string]any); ok && cm["type"] == "Ready" {
			return cm["status"] == "True"
		}
	}
	return false
}

// podClaims returns the names of the ResourceClaims u uses: each
// spec.resourceClaims entry's resourceClaimName, or for a template entry the
// name its status.resourceClaimStatuses entry records; ungenerated lists the
// template entries without a status entry yet. A status entry without a name
// means no claim was needed (core/v1 PodResourceClaimStatus).
func podClaims(u *unstructured.Unstructured) (claims, ungenerated []string) {
	specs, _, _ := unstructured.NestedSlice(u.Object, "spec", "resourceClaims")
	if len(specs) == 0 {
		return nil, nil
	}
	statuses, _, _ := unstructured.NestedSlice(u.Object, "status", "resourceClaimStatuses")
	generated := make(map[string]*string, len(statuses))
	for _, st := range statuses {
		if m, ok := st.(map[string]any); ok {
			name, _ := m["name"].(string)
			claim, ok := m["resourceClaimName"].(string)
			generated[name] = nil
			if ok && claim != "" {
				generated[name] = &claim
			}
		}
	}
	for _, sp := range specs {
		m, ok := sp.(map[string]any)
		if !ok {
			continue
		}
		name, _ := m["name"].(string)
		if direct, _ := m["resourceClaimName"].(string); direct != "" {
			claims = append(claims, direct)
			continue
		}
		switch claim, ok := generated[name]; {
		case !ok:
			ungenerated = append(ungenerated, name)
		case claim != nil:
			claims = append(claims, *claim)
		}
	}
	return claims, ungenerated
}

// allocatedGPUs reports whether the ResourceClaim u is allocated
// (status.allocation set) and how many of its allocated devices
// (status.allocation.devices.results) are of NVIDIA's GPU driver
// (attribution.DRADriver, gpu.nvidia.com); other drivers' count zero.
func allocatedGPUs(u *unstructured.Unstructured) (bool, int64) {
	if _, ok, _ := unstructured.NestedMap(u.Object, "status", "allocation"); !ok {
		return false, 0
	}
	results, _, _ := unstructured.NestedSlice(u.Object, "status", "allocation", "devices", "results")
	var n int64
	for _, r := range results {
		if m, ok := r.(map[string]any); ok && m["driver"] == attribution.DRADriver {
			n++
		}
	}
	return true, n
}
