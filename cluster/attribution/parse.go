// SPDX-License-Identifier: Apache-2.0

package attribution

import (
	"slices"
	"strings"
	"time"

	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// FromList turns a kubelet List answer into an available Attribution read at
// at. It keeps devices of resources under [ResourcePrefix], strips sharing
// suffixes, drops empty IDs and duplicates (two sharing replicas of one GPU in
// one container are one owner), and sorts the result. Dynamic (DRA) devices
// of [DRADriver] are resolved to UUIDs through dra; one that cannot be (or
// any, with dra nil) is a note instead of an owner. Other drivers' devices
// are ignored.
func FromList(resp *podresourcesv1.ListPodResourcesResponse, at time.Time, dra DRADevices) *Attribution {
	a := &Attribution{Available: true, Time: at}
	for _, pod := range resp.GetPodResources() {
		for _, c := range pod.GetContainers() {
			a.dynamic(pod, c, dra)
			for _, dev := range c.GetDevices() {
				res := dev.GetResourceName()
				if !strings.HasPrefix(res, ResourcePrefix) {
					continue
				}
				for _, raw := range dev.GetDeviceIds() {
					id := DeviceID(raw)
					if id == "" {
						continue
					}
					a.Owners = append(a.Owners, Owner{DeviceID: id, Namespace: pod.GetNamespace(),
						Pod: pod.GetName(), Container: c.GetName(), Resource: res})
				}
			}
		}
	}
	slices.SortFunc(a.Owners, compareOwners)
	a.Owners = slices.Compact(a.Owners)
	slices.Sort(a.Notes)
	a.Notes = slices.Compact(a.Notes)
	return a
}
