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
	key := [2]string{namespace, pod}
	p := k.pods[key]
	if p == nil {
		p = &podresourcesv1.PodResources{Namespace: namespace, Name: pod}
		k.pods[key] = p
	}
	var c *podresourcesv1.ContainerResources
	for _, have := range p.Containers {
		if have.Name == container {
			c = have
		}
	}
	if c == nil {
		c = &podresourcesv1.ContainerResources{Name: container}
		p.Containers = append(p.Containers, c)
	}
	c.Devices = append(c.Devices, &podresourcesv1.ContainerDevices{ResourceName: resource, DeviceIds: deviceIDs})
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
	return cloneList(resp), nil
}

// GetAllocatableResources implements PodResourcesListerServer.
func (k *Kubelet) GetAllocatableResources(context.Context, *podresourcesv1.AllocatableResourcesRequest) (*podresourcesv1.AllocatableResourcesResponse, error) {
	return nil, status.Error(codes.Unimplemented, "kubelettest: not implemented")
}

func cloneList(in *podresourcesv1.ListPodResourcesResponse) *podresourcesv1.ListPodResourcesResponse {
	out := &podresourcesv1.ListPodResourcesResponse{}
	for _, p := range in.PodResources {
		cp := &podresourcesv1.PodResources{Name: p.Name, Namespace: p.Namespace}
		for _, c := range p.Containers {
			cc := &podresourcesv1.ContainerResources{Name: c.Name}
			for _, d := range c.Devices {
				cc.Devices = append(cc.Devices, &podresourcesv1.ContainerDevices{ResourceName: d.ResourceName,
					DeviceIds: append([]string(nil), d.DeviceIds...)})
			}
			cp.Containers = append(cp.Containers, cc)
		}
		out.PodResources = append(out.PodResources, cp)
	}
	return out
}
