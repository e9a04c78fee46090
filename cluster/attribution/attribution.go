// SPDX-License-Identifier: Apache-2.0

// Package attribution maps a node's GPUs to the pods they are allocated to,
// from the kubelet's PodResources API (v1 List) on the node's unix socket.
//
// The kubelet reports, for every container, the device IDs its device plugins
// allocated, and the devices its DRA ResourceClaims hold (Kubernetes 1.34 on,
// or 1.27 on with the kubelet feature gate KubeletPodResourcesDynamicResources). For NVIDIA's device plugin those are GPU UUIDs ("GPU-…"), MIG
// UUIDs ("MIG-…") or, with deviceIDStrategy=index, NVML indexes ("0", "1");
// with time-slicing or MPS sharing each replica carries a "::N" suffix. This
// package keeps the resources named nvidia.com/… and strips the suffix; the
// agent resolves index IDs against its device list. DRA devices are named by
// driver, pool and device ("gpu.nvidia.com", node, "gpu-0"); a [DRADevices]
// (the node's ResourceSlices) resolves them to UUIDs.
//
// Attribution never blocks metrics: when the socket is missing or the process
// may not open it, the [Attribution] says unavailable and why, and the
// sampler's snapshots flow on without it.
package attribution

import (
	"slices"
	"strings"
	"time"
)

// DefaultSocket is where the kubelet serves the PodResources API.
const DefaultSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"

// ResourcePrefix selects the extended resources whose devices are attributed:
// nvidia.com/gpu, nvidia.com/gpu.shared, nvidia.com/mig-1g.10gb and so on.
const ResourcePrefix = "nvidia.com/"

// Attribution is one answer of the kubelet: which container holds which
// device. It is immutable once published; readers share it without locks.
type Attribution struct {
	// Available is false when the kubelet could not be asked; Owners is then
	// empty and Reason says why (no socket, permission denied, timeout).
	Available bool
	// Reason explains an unavailable attribution; "" when Available.
	Reason string
	// Time is when the kubelet first gave this answer (a [Watcher] keeps the
	// same Attribution while the answer does not change).
	Time time.Time
	// Owners lists each allocated device once per container holding it, sorted
	// by device ID, namespace, pod and container.
	Owners []Owner
	// Notes says, sorted, which allocated GPUs could not be attributed and
	// why: a DRA device whose ResourceSlice has no uuid attribute, or any DRA
	// device while DRA attribution is off. Empty when every one was.
	Notes []string
}

// Owner is one device allocated to one container.
type Owner struct {
	// DeviceID is the device plugin's ID without a "::N" sharing suffix: a GPU
	// or MIG UUID, or an NVML index with deviceIDStrategy=index.
	DeviceID  string
	Namespace string
	Pod       string
	Container string
	// Resource is the extended resource the device was allocated as, e.g.
	// nvidia.com/gpu or nvidia.com/mig-1g.10gb, or the DRA driver that
	// allocated it through a ResourceClaim ([DRADriver]).
	Resource string
}

// Unavailable returns an Attribution that says the kubelet could not be asked,
// and why.
func Unavailable(reason string, at time.Time) *Attribution {
	return &Attribution{Reason: reason, Time: at}
}

// SameAnswer reports whether a and b say the same thing, ignoring Time. Nil is
// the same as nil only.
func (a *Attribution) SameAnswer(b *Attribution) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Available == b.Available && a.Reason == b.Reason && slices.Equal(a.Owners, b.Owners) &&
		slices.Equal(a.Notes, b.Notes)
}

// DeviceID strips a "::N" sharing suffix (time-slicing, MPS) from a device
// plugin's device ID and trims spaces.
func DeviceID(id string) string {
	id = strings.TrimSpace(id)
	if i := strings.Index(id, "::"); i >= 0 {
		id = id[:i]
	}
	return id
}

func compareOwners(a, b Owner) int {
	if c := strings.Compare(a.DeviceID, b.DeviceID); c != 0 {
		return c
	}
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	if c := strings.Compare(a.Pod, b.Pod); c != 0 {
		return c
	}
	if c := strings.Compare(a.Container, b.Container); c != 0 {
		return c
	}
	return strings.Compare(a.Resource, b.Resource)
}
