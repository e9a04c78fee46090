// SPDX-License-Identifier: Apache-2.0

package clustertest

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/cluster/attribution/kubelettest"
)

// DRAGPU is GPU k of node as the kubelet reports a DRA device of NVIDIA's
// driver: driver gpu.nvidia.com, the node's pool (named after the node),
// device gpu-<k> (docs/cluster.md, "How NVIDIA's driver names devices"; here
// the minor is the index, which a real node does not promise).
func DRAGPU(node string, k int) *podresourcesv1.ClaimResource {
	dev := "gpu-" + strconv.Itoa(k)
	return kubelettest.ClaimDevice(attribution.DRADriver, node, dev, "k8s.gpu.nvidia.com/claim=uid-"+dev)
}

// draSlices resolves DRAGPU's devices of one node as the node's
// ResourceSlices would: gpu-<k> to GPUUUID(node, k) for k < gpus.
type draSlices struct {
	node string
	gpus int
}

func (s draSlices) DeviceUUID(driver, pool, device string) (string, error) {
	k, err := strconv.Atoi(strings.TrimPrefix(device, "gpu-"))
	if driver != attribution.DRADriver || pool != s.node || !strings.HasPrefix(device, "gpu-") || err != nil || k < 0 || k >= s.gpus {
		return "", fmt.Errorf("no ResourceSlice lists the device %s/%s/%s", driver, pool, device)
	}
	return GPUUUID(s.node, k), nil
}

// TemplateClaim gives pod u (a Pod) the claim name from ResourceClaimTemplate
// template, used by its containers, and returns u. generated is the
// ResourceClaim the control plane made from it, recorded in
// status.resourceClaimStatuses; "" leaves it not generated yet.
func TemplateClaim(u *unstructured.Unstructured, name, template, generated string) *unstructured.Unstructured {
	addClaim(u, map[string]any{"name": name, "resourceClaimTemplateName": template})
	if generated != "" {
		st := u.Object["status"].(map[string]any)
		prev, _ := st["resourceClaimStatuses"].([]any)
		st["resourceClaimStatuses"] = append(prev, map[string]any{"name": name, "resourceClaimName": generated})
	}
	return u
}

// DirectClaim gives pod u the existing ResourceClaim claim under the name
// name, used by its containers, and returns u.
func DirectClaim(u *unstructured.Unstructured, name, claim string) *unstructured.Unstructured {
	addClaim(u, map[string]any{"name": name, "resourceClaimName": claim})
	return u
}

func addClaim(u *unstructured.Unstructured, claim map[string]any) {
	spec := u.Object["spec"].(map[string]any)
	prev, _ := spec["resourceClaims"].([]any)
	spec["resourceClaims"] = append(prev, claim)
	for _, c := range spec["containers"].([]any) {
		res, _ := c.(map[string]any)["resources"].(map[string]any)
		if res == nil {
			res = map[string]any{}
			c.(map[string]any)["resources"] = res
		}
		used, _ := res["claims"].([]any)
		res["claims"] = append(used, map[string]any{"name": claim["name"]})
	}
}

// ResourceClaim returns a resource.k8s.io/v1 ResourceClaim requesting one
// device per result, allocated on node's pool when results is not empty:
// each result is {driver, device}, e.g. {"gpu.nvidia.com", "gpu-0"}. Without
// results it is not allocated (status.allocation unset).
func ResourceClaim(namespace, name, node string, results ...[2]string) *unstructured.Unstructured {
	u := Object("resource.k8s.io/v1", "ResourceClaim", namespace, name, nil)
	u.Object["spec"] = map[string]any{"devices": map[string]any{"requests": []any{map[string]any{
		"name": "gpu", "exactly": map[string]any{"deviceClassName": "gpu.nvidia.com", "count": int64(max(1, len(results)))}}}}}
	u.Object["status"] = map[string]any{}
	if len(results) == 0 {
		return u
	}
	rs := make([]any, len(results))
	for i, r := range results {
		rs[i] = map[string]any{"request": "gpu", "driver": r[0], "pool": node, "device": r[1]}
	}
	u.Object["status"] = map[string]any{"allocation": map[string]any{"devices": map[string]any{"results": rs}}}
	return u
}
