// SPDX-License-Identifier: Apache-2.0

package draslices_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/cluster/draslices"
	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const node = "node-a"

// Device names as NVIDIA's DRA driver publishes them (cmd/gpu-kubelet-plugin
// in kubernetes-sigs/dra-driver-nvidia-gpu): gpu-<minor> for a GPU,
// gpu-<minor>-mig-<profile>-<GI profile ID>-<placement start> for a MIG
// device (1g.10gb is GI profile 19 on an H100).
const (
	gpu0       = "gpu-0"
	gpu1       = "gpu-1"
	migStatic  = "gpu-1-mig-1g10gb-19-0"
	migDynamic = "gpu-0-mig-1g10gb-19-1"
)

// h100 is a two-GPU H100 node with one MIG device per GPU, the UUIDs the
// sampler would report for it.
func h100(t *testing.T) *recording.Recording {
	return clustertest.Synthetic(clustertest.Recording(t, "h100-two-tenants.json"), node, 2, 1)
}

func str(s string) resourcev1.DeviceAttribute { return resourcev1.DeviceAttribute{StringValue: &s} }

// gpuDevice is a full GPU with the attributes NVIDIA's driver gives it
// (GpuInfo.Attributes: type, uuid, productName, …).
func gpuDevice(name string, d recording.Device) resourcev1.Device {
	return resourcev1.Device{Name: name, Attributes: map[resourcev1.QualifiedName]resourcev1.DeviceAttribute{
		"type": str("gpu"), "uuid": str(d.UUID.Value), "productName": str(d.Name.Value)}}
}

// migDevice is a MIG device; a static one (MigDeviceInfo.GetDevice) carries
// its uuid, one the driver creates on demand (DynamicMIG, MigSpec) only its
// parent's (CommonAttributesMig: type, parentUUID, profile, …).
func migDevice(name string, parent recording.Device, m *recording.MIGDevice) resourcev1.Device {
	attrs := map[resourcev1.QualifiedName]resourcev1.DeviceAttribute{
		"type": str("mig"), "parentUUID": str(parent.UUID.Value), "profile": str("1g.10gb")}
	if m != nil {
		attrs["uuid"] = str(m.UUID.Value)
	}
	return resourcev1.Device{Name: name, Attributes: attrs}
}

// slice is one ResourceSlice of the node's pool, as the driver publishes it
// (the pool is named after the node).
func slice(name string, generation int64, devices ...resourcev1.Device) *resourcev1.ResourceSlice {
	n := node
	return &resourcev1.ResourceSlice{TypeMeta: metav1.TypeMeta{APIVersion: "resource.k8s.io/v1", Kind: "ResourceSlice"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: resourcev1.ResourceSliceSpec{Driver: attribution.DRADriver, NodeName: &n, Devices: devices,
			Pool: resourcev1.ResourcePool{Name: node, Generation: generation, ResourceSliceCount: 1}}}
}

// start serves api and runs a Watcher of node's gpu.nvidia.com slices on it,
// retrying failures after backoff, until the test ends.
func start(t *testing.T, api *fakeAPI, backoff time.Duration) *draslices.Watcher {
	t.Helper()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	tok := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tok, []byte("tok-123\n"), 0o600))
	w, err := draslices.New(draslices.Config{Server: srv.URL, Node: node, Driver: attribution.DRADriver,
		TokenFile: tok, Backoff: backoff})
	require.NoError(t, err)
	_, err = w.DeviceUUID(attribution.DRADriver, node, gpu0)
	require.ErrorIs(t, err, draslices.ErrNotListed)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	require.Eventually(t, func() bool {
		_, err := w.DeviceUUID(attribution.DRADriver, node, gpu0)
		return err == nil
	}, 10*time.Second, 5*time.Millisecond, "the first list")
	return w
}

const selector = "spec.nodeName=" + node + ",spec.driver=" + attribution.DRADriver

func TestDeviceUUID(t *testing.T) {
	t.Parallel()
	rec := h100(t)
	g0, g1 := rec.Devices[0], rec.Devices[1]
	api := newFakeAPI(t, selector)
	qualified := gpuDevice(gpu1, g1)
	qualified.Attributes = map[resourcev1.QualifiedName]resourcev1.DeviceAttribute{"gpu.nvidia.com/uuid": str(g1.UUID.Value)}
	api.put(slice("node-a-gpu.nvidia.com-old", 1, gpuDevice("gpu-7", g0)))
	api.put(slice("node-a-gpu.nvidia.com-0", 2, gpuDevice(gpu0, g0), migDevice(migDynamic, g0, nil)))
	api.put(slice("node-a-gpu.nvidia.com-1", 2, qualified, migDevice(migStatic, g1, &g1.MIGDevices[0])))
	w := start(t, api, 10*time.Millisecond)

	for dev, want := range map[string]string{gpu0: g0.UUID.Value, gpu1: g1.UUID.Value, migStatic: g1.MIGDevices[0].UUID.Value} {
		got, err := w.DeviceUUID(attribution.DRADriver, node, dev)
		require.NoError(t, err, dev)
		assert.Equal(t, want, got, dev)
	}
	_, err := w.DeviceUUID(attribution.DRADriver, node, migDynamic)
	require.ErrorIs(t, err, draslices.ErrNoUUID)
	assert.ErrorContains(t, err, "device "+migDynamic+" of pool node-a of driver gpu.nvidia.com on node node-a")
	_, err = w.DeviceUUID(attribution.DRADriver, node, "gpu-7")
	require.ErrorIs(t, err, draslices.ErrNoDevice, "a device of an older generation of the pool is gone")
	_, err = w.DeviceUUID("compute-domain.nvidia.com", node, "channel-0")
	require.ErrorIs(t, err, draslices.ErrNoDevice, "another driver's slices are not watched")
}

// TestRelistOnGone: a watch whose version expired (an ERROR event, code 410)
// lists again at once, and what changed meanwhile is seen.
func TestRelistOnGone(t *testing.T) {
	t.Parallel()
	rec := h100(t)
	api := newFakeAPI(t, selector)
	api.gone = 1
	api.put(slice("node-a-gpu.nvidia.com-0", 1, gpuDevice(gpu0, rec.Devices[0])))
	w := start(t, api, time.Hour) // a failure would wait an hour: 410 must not
	require.Eventually(t, func() bool { return api.listed() == 2 }, 10*time.Second, 5*time.Millisecond, "relisted after 410")
	api.put(slice("node-a-gpu.nvidia.com-1", 1, gpuDevice(gpu1, rec.Devices[1])))
	require.Eventually(t, func() bool {
		u, err := w.DeviceUUID(attribution.DRADriver, node, gpu1)
		return err == nil && u == rec.Devices[1].UUID.Value
	}, 10*time.Second, 5*time.Millisecond, "the watch after the relist")
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]draslices.Config{
		"no URL":    {Node: node, Driver: attribution.DRADriver},
		"no node":   {Server: "https://10.96.0.1", Driver: attribution.DRADriver},
		"no driver": {Server: "https://10.96.0.1", Node: node},
	} {
		_, err := draslices.New(cfg)
		assert.Error(t, err, name)
	}
}
