// SPDX-License-Identifier: Apache-2.0

package attribution_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/cluster/attribution/kubelettest"
	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
)

// sliceMap is a DRADevices from a map of "driver/pool/device" to UUID; a
// missing key fails as the node's ResourceSlices would.
type sliceMap map[string]string

func (m sliceMap) DeviceUUID(driver, pool, device string) (string, error) {
	if u, ok := m[driver+"/"+pool+"/"+device]; ok {
		return u, nil
	}
	return "", errors.New("no ResourceSlice lists the device")
}

// Device names as NVIDIA's DRA driver gives them (GpuInfo.CanonicalName
// gpu-<minor>; a static MIG device gpu-<minor>-mig-<profile>-<GI profile
// ID>-<placement start>, 1g.10gb being GI profile 19 on an H100), and the
// CDI names it prepares (k8s.gpu.nvidia.com/claim=<claim UID>-<device>).
const (
	claimUID = "dab5ab50-d59a-42a6-af16-cfd4628c0f7a"
	gpu0     = "gpu-0"
	mig1     = "gpu-1-mig-1g10gb-19-0"
)

func draList() *podresourcesv1.ListPodResourcesResponse {
	return &podresourcesv1.ListPodResourcesResponse{PodResources: []*podresourcesv1.PodResources{
		{Namespace: "llm", Name: "vllm-0", Containers: []*podresourcesv1.ContainerResources{{Name: "server",
			DynamicResources: []*podresourcesv1.DynamicResource{{ClaimName: "vllm-0-gpus", ClaimNamespace: "llm",
				ClaimResources: []*podresourcesv1.ClaimResource{
					kubelettest.ClaimDevice(attribution.DRADriver, "node-a", gpu0, "k8s.gpu.nvidia.com/claim="+claimUID+"-"+gpu0),
					kubelettest.ClaimDevice(attribution.DRADriver, "node-a", mig1, "k8s.gpu.nvidia.com/claim="+claimUID+"-"+mig1),
					// NVIDIA's ComputeDomain driver, in the same claim: not a GPU.
					kubelettest.ClaimDevice("compute-domain.nvidia.com", "node-a", "channel-0", "k8s.compute-domain.nvidia.com/claim="+claimUID+"-channel-0"),
				}}}}}},
	}}
}

func TestFromListDRA(t *testing.T) {
	t.Parallel()
	at := time.Unix(100, 0)
	gpu, mig := clustertest.GPUUUID("node-a", 0), clustertest.MIGUUID("node-a", 1, 0)
	slices := sliceMap{"gpu.nvidia.com/node-a/" + gpu0: gpu, "gpu.nvidia.com/node-a/" + mig1: mig,
		"compute-domain.nvidia.com/node-a/channel-0": "not a GPU"}
	got := attribution.FromList(draList(), at, slices)
	assert.Equal(t, &attribution.Attribution{Available: true, Time: at, Owners: []attribution.Owner{
		{DeviceID: gpu, Namespace: "llm", Pod: "vllm-0", Container: "server", Resource: "gpu.nvidia.com"},
		{DeviceID: mig, Namespace: "llm", Pod: "vllm-0", Container: "server", Resource: "gpu.nvidia.com"},
	}}, got, "the GPU and the MIG device by UUID; the ComputeDomain channel ignored")

	delete(slices, "gpu.nvidia.com/node-a/"+mig1)
	got = attribution.FromList(draList(), at, slices)
	require.Len(t, got.Owners, 1)
	assert.Equal(t, []string{"DRA device gpu.nvidia.com/node-a/" + mig1 + " of claim llm/vllm-0-gpus (pod llm/vllm-0, container server): " +
		"not attributed: no ResourceSlice lists the device"}, got.Notes, "an unresolved device is a note, not a silent drop")
	assert.False(t, got.SameAnswer(attribution.FromList(draList(), at, sliceMap{})), "notes are part of the answer")

	got = attribution.FromList(draList(), at, nil)
	assert.Empty(t, got.Owners)
	assert.Equal(t, []string{
		fmt.Sprintf("DRA device gpu.nvidia.com/node-a/%s of claim llm/vllm-0-gpus (pod llm/vllm-0, container server): not attributed: DRA attribution is off (serve --dra)", gpu0),
		fmt.Sprintf("DRA device gpu.nvidia.com/node-a/%s of claim llm/vllm-0-gpus (pod llm/vllm-0, container server): not attributed: DRA attribution is off (serve --dra)", mig1),
	}, got.Notes, "DRA off: each GPU device says so")
}

// NotesOfPod finds the notes FromList writes for a pod, and only that pod's
// (not those of a pod whose name it prefixes); NewNotes keeps what is new.
func TestNotesOfPod(t *testing.T) {
	t.Parallel()
	notes := attribution.FromList(draList(), time.Unix(100, 0), nil).Notes
	require.Len(t, notes, 2)
	assert.Equal(t, notes[:1], attribution.NotesOfPod(notes, "llm/vllm-0", 1))
	assert.Equal(t, notes, attribution.NotesOfPod(notes, "llm/vllm-0", 5))
	assert.Empty(t, attribution.NotesOfPod(notes, "llm/vllm", 5))
	assert.Empty(t, attribution.NotesOfPod(notes, "other/vllm-0", 5))
	assert.Equal(t, notes[1:], attribution.NewNotes(notes[:1], notes))
	assert.Empty(t, attribution.NewNotes(notes, notes[:1]))
}
