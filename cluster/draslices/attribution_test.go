// SPDX-License-Identifier: Apache-2.0

package draslices_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/cluster/attribution/kubelettest"
)

// cdi is the CDI device NVIDIA's driver prepares for device of a claim
// (CDIHandler.GetClaimDeviceName: k8s.gpu.nvidia.com/claim=<claim UID>-<device>).
func cdi(claimUID, device string) string {
	return "k8s.gpu.nvidia.com/claim=" + claimUID + "-" + device
}

// TestAttributesDRAPods: pods whose GPUs came through DRA claims, as the
// kubelet's PodResources reports them, are attributed to the UUIDs the
// node's ResourceSlices give their devices — a GPU, a static MIG device —
// another driver's devices are ignored, a device without a uuid attribute is
// a note, and a slice the driver publishes later is picked up.
func TestAttributesDRAPods(t *testing.T) {
	t.Parallel()
	rec := h100(t)
	g0, g1 := rec.Devices[0], rec.Devices[1]
	api := newFakeAPI(t, selector)
	api.put(slice("node-a-gpu.nvidia.com-0", 1, gpuDevice(gpu0, g0), migDevice(migDynamic, g0, nil)))
	slices := start(t, api, 10*time.Millisecond)

	k := kubelettest.Start(t)
	const uid0, uid1, uid2 = "2f5b0c7e-5d6a-4d43-9d0e-0c1f3b7a9e11", "8c3a1d2e-7b4f-4e5a-9c6d-1e2f3a4b5c6d", "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8"
	k.AllocateDynamic("llm", "vllm-0", "server", "llm", "vllm-0-gpu",
		kubelettest.ClaimDevice(attribution.DRADriver, node, gpu0, cdi(uid0, gpu0)),
		kubelettest.ClaimDevice("compute-domain.nvidia.com", node, "channel-0", "k8s.compute-domain.nvidia.com/claim="+uid0+"-channel-0"))
	k.AllocateDynamic("batch", "train", "w", "batch", "train-mig", kubelettest.ClaimDevice(attribution.DRADriver, node, migDynamic, cdi(uid1, migDynamic)))
	k.AllocateDynamic("llm", "vllm-1", "server", "llm", "vllm-1-mig", kubelettest.ClaimDevice(attribution.DRADriver, node, migStatic, cdi(uid2, migStatic)))
	k.Allocate("llm", "legacy", "c", "nvidia.com/gpu", g1.UUID.Value)

	w, err := attribution.NewWatcher(attribution.Config{Socket: k.Socket, Timeout: 5 * time.Second, DRA: slices})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		require.NoError(t, w.Run(ctx)) // closes the connection
	}()
	a := w.Poll(ctx)
	require.True(t, a.Available, a.Reason)
	assert.Equal(t, []attribution.Owner{
		{DeviceID: g0.UUID.Value, Namespace: "llm", Pod: "vllm-0", Container: "server", Resource: "gpu.nvidia.com"},
		{DeviceID: g1.UUID.Value, Namespace: "llm", Pod: "legacy", Container: "c", Resource: "nvidia.com/gpu"},
	}, a.Owners, "the DRA GPU by its UUID, next to a device plugin's; the ComputeDomain channel ignored")
	require.Len(t, a.Notes, 2)
	assert.Contains(t, a.Notes[0], "DRA device gpu.nvidia.com/node-a/"+migDynamic+" of claim batch/train-mig (pod batch/train, container w): not attributed: ")
	assert.Contains(t, a.Notes[0], "has no uuid attribute")
	assert.Contains(t, a.Notes[1], "DRA device gpu.nvidia.com/node-a/"+migStatic+" of claim llm/vllm-1-mig (pod llm/vllm-1, container server): not attributed: ")
	assert.Contains(t, a.Notes[1], "no ResourceSlice lists the device")

	// The driver publishes its second GPU's slice: the MIG device on it
	// resolves at the next poll.
	api.put(slice("node-a-gpu.nvidia.com-1", 1, gpuDevice(gpu1, g1), migDevice(migStatic, g1, &g1.MIGDevices[0])))
	mig := attribution.Owner{DeviceID: g1.MIGDevices[0].UUID.Value, Namespace: "llm", Pod: "vllm-1", Container: "server", Resource: "gpu.nvidia.com"}
	require.Eventually(t, func() bool { return len(w.Poll(ctx).Owners) == 3 }, 10*time.Second, 5*time.Millisecond)
	a = w.Current()
	assert.Contains(t, a.Owners, mig)
	assert.Len(t, a.Notes, 1)

	// The slice goes (the driver stopped): the MIG device is a note again.
	api.remove("node-a-gpu.nvidia.com-1")
	require.Eventually(t, func() bool { return len(w.Poll(ctx).Owners) == 2 }, 10*time.Second, 5*time.Millisecond)
	assert.NotContains(t, w.Current().Owners, mig)
}
