// SPDX-License-Identifier: Apache-2.0

package clustertest

import (
	"fmt"
	"strconv"
	"strings"

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
