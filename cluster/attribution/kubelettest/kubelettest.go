// SPDX-License-Identifier: Apache-2.0

// Package kubelettest serves a fake kubelet PodResources API (v1) on a unix
// socket, for tests of GPU attribution without a node.
package kubelettest

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// Kubelet is a fake PodResources server. Its allocations are set by the test
// and may change while it serves.
type Kubelet struct {
	podresourcesv1.UnimplementedPodResourcesListerServer
	// Socket is the unix socket it serves on.
	Socket string

	mu    sync.Mutex
	pods  map[[2]string]*podresourcesv1.PodResources
	calls int
	gs    *grpc.Server
}

// Start serves a Kubelet on a socket in a new temporary directory and stops it
// when the test ends.
func Start(t testing.TB) *Kubelet {
	t.Helper()
	k := &Kubelet{Socket: filepath.Join(t.TempDir(), "kubelet.sock"), pods: map[[2]string]*podresourcesv1.PodResources{}}
	lis, err := net.Listen("unix", k.Socket)
	if err != nil {
		t.Fatalf("kubelettest: listen: %v", err)
	}
	k.gs = grpc.NewServer()
	podresourcesv1.RegisterPodResourcesListerServer(k.gs, k)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = k.gs.Serve(lis)
	}()
	t.Cleanup(func() {
		k.gs.Stop()
		<-done
	})
	return k
}

// Stop stops serving and removes the socket, as a kubelet restart does.
func (k *Kubelet) Stop() { k.gs.Stop() }

// Allocate gives container of namespace/pod the devices of resource (e.g.
// nvidia.com/gpu), added to what the pod already holds.
func (k *Kubelet) Allocate(namespace, pod, container, resource string, deviceIDs ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.container(namespace, pod, container)
	c.Devices = append(c.Devices, &podresourcesv1.ContainerDevices{ResourceName: resource, DeviceIds: deviceIDs})
}

// AllocateDynamic gives container of namespace/pod the DRA claim
// claimNamespace/claimName holding devices, added to what the pod already
// holds, as a kubelet with DRA in its PodResources answers (1.34 on).
func (k *Kubelet) AllocateDynamic(namespace, pod, container, claimNamespace, claimName string, devices ...*podresourcesv1.ClaimResource) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.container(namespace, pod, container)
	c.DynamicResources = append(c.DynamicResources, &podresourcesv1.DynamicResource{ClaimName: claimName,
		ClaimNamespace: claimNamespace, ClaimResources: devices})
}

// ClaimDevice is one device of a DRA claim as the kubelet reports it: the
// driver, pool and device names, and the CDI device the driver prepared
// (NVIDIA's driver names it k8s.gpu.nvidia.com/claim=<claim UID>-<device>).
func ClaimDevice(driver, pool, device, cdiDevice string) *podresourcesv1.ClaimResource {
	return &podresourcesv1.ClaimResource{DriverName: driver, PoolName: pool, DeviceName: device,
		CdiDevices: []*podresourcesv1.CDIDevice{{Name: cdiDevice}}}
}

// container returns the container of namespace/pod, added if new; k.mu held.
func (k *Kubelet) container(namespace, pod, container string) *podresourcesv1.ContainerResources {
	key := [2]string{namespace, pod}
	p := k.pods[key]
	if p == nil {
		p = &podresourcesv1.PodResources{Namespace: namespace, Name: pod}
		k.pods[key] = p
	}
	for _, have := range p.Containers {
		if have.Name == container {
			return have
		}
	}
	c := &podresourcesv1.ContainerResources{Name: container}
	p.Containers = append(p.Containers, c)
	return c
}

// Remove forgets namespace/pod, as when the pod ends.
func (k *Kubelet) Remove(namespace, pod string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.pods, [2]string{namespace, pod})
}

// Calls returns how many List calls were answered.
func (k *Kubelet) Calls() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.calls
}

// List implements PodResourcesListerServer.
func (k *Kubelet) List(context.Context, *podresourcesv1.ListPodResourcesRequest) (*podresourcesv1.ListPodResourcesResponse, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls++
	resp := &podresourcesv1.ListPodResourcesResponse{}
	for _, p := range k.pods {
		resp.PodResources = append(resp.PodResources, p)
	}
	// The response is marshalled after the lock is released: send a copy.
	return proto.CloneOf(resp), nil
}

// GetAllocatableResources implements PodResourcesListerServer.
func (k *Kubelet) GetAllocatableResources(context.Context, *podresourcesv1.AllocatableResourcesRequest) (*podresourcesv1.AllocatableResourcesResponse, error) {
	return nil, status.Error(codes.Unimplemented, "kubelettest: not implemented")
}
