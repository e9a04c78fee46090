// SPDX-License-Identifier: Apache-2.0

package attribution

import (
	"fmt"

	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// DRADriver is the name of NVIDIA's DRA driver for GPUs, whose devices are
// attributed; devices of any other driver are ignored.
const DRADriver = "gpu.nvidia.com"

// DRADevices resolves a DRA device, named as the kubelet reports it (driver,
// pool and device name, e.g. gpu.nvidia.com, node-a, gpu-0), to the GPU or
// MIG UUID NVML reports for it. *draslices.Watcher implements it from the
// node's ResourceSlices. DeviceUUID fails, saying why, when it cannot tell.
type DRADevices interface {
	DeviceUUID(driver, pool, device string) (string, error)
}

// dynamic attributes one container's DRA devices of DRADriver through dra,
// appending to a's owners, or a note per device that cannot be resolved (dra
// nil: DRA attribution is off).
func (a *Attribution) dynamic(pod *podresourcesv1.PodResources, c *podresourcesv1.ContainerResources, dra DRADevices) {
	for _, dr := range c.GetDynamicResources() {
		for _, cr := range dr.GetClaimResources() {
			if cr.GetDriverName() != DRADriver {
				continue
			}
			where := fmt.Sprintf("DRA device %s/%s/%s of claim %s/%s %s container %s)", cr.GetDriverName(),
				cr.GetPoolName(), cr.GetDeviceName(), dr.GetClaimNamespace(), dr.GetClaimName(),
				notePod(pod.GetNamespace(), pod.GetName()), c.GetName())
			if dra == nil {
				a.Notes = append(a.Notes, where+": not attributed: DRA attribution is off (serve --dra)")
				continue
			}
			uuid, err := dra.DeviceUUID(cr.GetDriverName(), cr.GetPoolName(), cr.GetDeviceName())
			if err != nil {
				a.Notes = append(a.Notes, fmt.Sprintf("%s: not attributed: %v", where, err))
				continue
			}
			a.Owners = append(a.Owners, Owner{DeviceID: uuid, Namespace: pod.GetNamespace(), Pod: pod.GetName(),
				Container: c.GetName(), Resource: cr.GetDriverName()})
		}
	}
}
