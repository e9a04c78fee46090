// SPDX-License-Identifier: Apache-2.0

package clustertest

import (
	"fmt"
	"hash/fnv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

// Kube returns a fake dynamic client holding objs, knowing the list kinds of
// everything the aggregator watches.
func Kube(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{
			{Version: "v1", Resource: "pods"}:                                     "PodList",
			{Group: "apps", Version: "v1", Resource: "replicasets"}:               "ReplicaSetList",
			{Group: "apps", Version: "v1", Resource: "deployments"}:               "DeploymentList",
			{Group: "apps", Version: "v1", Resource: "statefulsets"}:              "StatefulSetList",
			{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"}:    "ScaledObjectList",
			{Group: "resource.k8s.io", Version: "v1", Resource: "resourceclaims"}: "ResourceClaimList",
		}, objs...)
}

// UID is the UID Object gives kind namespace/name: stable, so owner
// references can be written before the owner exists.
func UID(kind, namespace, name string) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s/%s", kind, namespace, name)
	return fmt.Sprintf("%016x-uid", h.Sum64())
}

// Object returns an unstructured apiVersion/kind object with a stable UID.
func Object(apiVersion, kind, namespace, name string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	u.SetUID(typesUID(UID(kind, namespace, name)))
	if labels != nil {
		u.SetLabels(labels)
	}
	return u
}

// OwnedBy makes owner (an Object) the controller of u, and returns u.
func OwnedBy(u, owner *unstructured.Unstructured) *unstructured.Unstructured {
	refs := []any{map[string]any{"apiVersion": owner.GetAPIVersion(), "kind": owner.GetKind(),
		"name": owner.GetName(), "uid": string(owner.GetUID()), "controller": true}}
	u.Object["metadata"].(map[string]any)["ownerReferences"] = refs
	return u
}

// Deployment returns an apps/v1 Deployment.
func Deployment(namespace, name string) *unstructured.Unstructured {
	return Object("apps/v1", "Deployment", namespace, name, nil)
}

// ReplicaSet returns an apps/v1 ReplicaSet controlled by owner.
func ReplicaSet(name string, owner *unstructured.Unstructured) *unstructured.Unstructured {
	return OwnedBy(Object("apps/v1", "ReplicaSet", owner.GetNamespace(), name, nil), owner)
}

// StatefulSet returns an apps/v1 StatefulSet.
func StatefulSet(namespace, name string) *unstructured.Unstructured {
	return Object("apps/v1", "StatefulSet", namespace, name, nil)
}

// Pod returns a pod controlled by owner (nil: none) on node ("" = pending) in
// phase, whose one container asks for gpus of resource (e.g. nvidia.com/gpu).
func Pod(name string, owner *unstructured.Unstructured, namespace, node, phase, resource string, gpus int,
	labels map[string]string) *unstructured.Unstructured {
	u := Object("v1", "Pod", namespace, name, labels)
	if owner != nil {
		OwnedBy(u, owner)
	}
	c := map[string]any{"name": "main"}
	if gpus > 0 {
		c["resources"] = map[string]any{"limits": map[string]any{resource: fmt.Sprint(gpus), "cpu": "2"}}
	}
	u.Object["spec"] = map[string]any{"nodeName": node, "containers": []any{c}}
	u.Object["status"] = map[string]any{"phase": phase}
	if phase == "Running" {
		u.Object["status"].(map[string]any)["conditions"] = []any{map[string]any{"type": "Ready", "status": "True"}}
	}
	return u
}

// ScaledObject returns a keda.sh/v1alpha1 ScaledObject scaling kind/target.
func ScaledObject(namespace, name, apiVersion, kind, target string) *unstructured.Unstructured {
	u := Object("keda.sh/v1alpha1", "ScaledObject", namespace, name, nil)
	u.Object["spec"] = map[string]any{"scaleTargetRef": map[string]any{"apiVersion": apiVersion, "kind": kind, "name": target}}
	return u
}

func typesUID(s string) types.UID { return types.UID(s) }
