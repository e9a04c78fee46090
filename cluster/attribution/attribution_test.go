// SPDX-License-Identifier: Apache-2.0

package attribution_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/cluster/attribution/kubelettest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDeviceID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"GPU-8f2e3c1a-0000-1111-2222-333344445555":    "GPU-8f2e3c1a-0000-1111-2222-333344445555",
		"GPU-8f2e3c1a-0000-1111-2222-333344445555::3": "GPU-8f2e3c1a-0000-1111-2222-333344445555",
		"MIG-4a2b1c0d-aaaa-bbbb-cccc-ddddeeeeffff::0": "MIG-4a2b1c0d-aaaa-bbbb-cccc-ddddeeeeffff",
		" 1 ": "1",
		"":    "",
	} {
		assert.Equal(t, want, attribution.DeviceID(in), in)
	}
}

func TestFromList(t *testing.T) {
	t.Parallel()
	at := time.Unix(100, 0)
	resp := &podresourcesv1.ListPodResourcesResponse{PodResources: []*podresourcesv1.PodResources{
		{Namespace: "llm", Name: "vllm-0", Containers: []*podresourcesv1.ContainerResources{
			{Name: "server", Devices: []*podresourcesv1.ContainerDevices{
				{ResourceName: "nvidia.com/gpu", DeviceIds: []string{"GPU-b", "GPU-a"}},
				{ResourceName: "example.com/fpga", DeviceIds: []string{"fpga-0"}},
			}},
		}},
		{Namespace: "llm", Name: "shared", Containers: []*podresourcesv1.ContainerResources{
			// Two time-slicing replicas of one GPU in one container: one owner.
			{Name: "c", Devices: []*podresourcesv1.ContainerDevices{
				{ResourceName: "nvidia.com/gpu.shared", DeviceIds: []string{"GPU-c::0", "GPU-c::1", ""}},
			}},
		}},
		{Namespace: "batch", Name: "mig", Containers: []*podresourcesv1.ContainerResources{
			{Name: "w", Devices: []*podresourcesv1.ContainerDevices{
				{ResourceName: "nvidia.com/mig-1g.10gb", DeviceIds: []string{"MIG-x"}},
			}},
		}},
	}}
	got := attribution.FromList(resp, at, nil)
	assert.Equal(t, &attribution.Attribution{Available: true, Time: at, Owners: []attribution.Owner{
		{DeviceID: "GPU-a", Namespace: "llm", Pod: "vllm-0", Container: "server", Resource: "nvidia.com/gpu"},
		{DeviceID: "GPU-b", Namespace: "llm", Pod: "vllm-0", Container: "server", Resource: "nvidia.com/gpu"},
		{DeviceID: "GPU-c", Namespace: "llm", Pod: "shared", Container: "c", Resource: "nvidia.com/gpu.shared"},
		{DeviceID: "MIG-x", Namespace: "batch", Pod: "mig", Container: "w", Resource: "nvidia.com/mig-1g.10gb"},
	}}, got)
	assert.True(t, got.SameAnswer(attribution.FromList(resp, at.Add(time.Hour), nil)), "Time is not part of the answer")
}

func TestWatcherReadsKubelet(t *testing.T) {
	t.Parallel()
	k := kubelettest.Start(t)
	k.Allocate("llm", "vllm-0", "server", "nvidia.com/gpu", "GPU-a::1")
	// A generous Timeout: a List that times out on a loaded machine publishes
	// Unavailable, and the next answer would rightly be a new Attribution.
	w, err := attribution.NewWatcher(attribution.Config{Socket: k.Socket, Interval: 10 * time.Millisecond, Timeout: 5 * time.Second})
	require.NoError(t, err)
	assert.False(t, w.Current().Available, "nothing read before the first poll")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	require.Eventually(t, func() bool { return w.Current().Available }, 5*time.Second, 5*time.Millisecond)
	first := w.Current()
	assert.Equal(t, []attribution.Owner{{DeviceID: "GPU-a", Namespace: "llm", Pod: "vllm-0", Container: "server", Resource: "nvidia.com/gpu"}}, first.Owners)

	// The same answer keeps the same Attribution (and Time).
	calls := k.Calls()
	require.Eventually(t, func() bool { return k.Calls() > calls+2 }, 5*time.Second, 5*time.Millisecond)
	assert.Same(t, first, w.Current())

	// A pod ending is seen at the next poll.
	k.Remove("llm", "vllm-0")
	require.Eventually(t, func() bool { return len(w.Current().Owners) == 0 }, 5*time.Second, 5*time.Millisecond)
	assert.True(t, w.Current().Available)
}

func TestWatcherUnavailable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		socket string
		setup  func(t *testing.T, socket string)
		reason string
	}{
		"missing socket": {socket: filepath.Join(dir, "none.sock"), reason: "does not exist: mount the host's /var/lib/kubelet/pod-resources"},
		"not a server": {socket: filepath.Join(dir, "plain"), reason: "kubelet PodResources List on",
			setup: func(t *testing.T, socket string) { require.NoError(t, os.WriteFile(socket, nil, 0o600)) }},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t, tc.socket)
			}
			w, err := attribution.NewWatcher(attribution.Config{Socket: tc.socket, Timeout: 200 * time.Millisecond})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // Run polls once, then returns and closes the connection.
			require.NoError(t, w.Run(ctx))
			a := w.Current()
			assert.False(t, a.Available)
			assert.Empty(t, a.Owners)
			assert.Contains(t, a.Reason, tc.reason)
			assert.Contains(t, a.Reason, tc.socket)
		})
	}
}

func TestWatcherKubeletRestart(t *testing.T) {
	t.Parallel()
	k := kubelettest.Start(t)
	k.Allocate("llm", "p", "c", "nvidia.com/gpu", "GPU-a")
	w, err := attribution.NewWatcher(attribution.Config{Socket: k.Socket, Timeout: time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		require.NoError(t, w.Run(ctx)) // closes the connection
	}()
	require.True(t, w.Poll(ctx).Available)
	k.Stop()
	assert.False(t, w.Poll(ctx).Available, "a kubelet that went away makes attribution unavailable")
}

func TestNewWatcherRejectsNegative(t *testing.T) {
	t.Parallel()
	_, err := attribution.NewWatcher(attribution.Config{Interval: -time.Second})
	require.Error(t, err)
}
