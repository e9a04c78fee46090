// SPDX-License-Identifier: Apache-2.0

package aggregator_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	ct "github.com/nvml-scaler/nvml-scaler/internal/clustertest"
)

type fakeResolver struct {
	hosts map[string][]string
	srv   map[string][]*net.SRV
}

func (r fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if h, ok := r.hosts[host]; ok {
		return h, nil
	}
	return nil, errors.New("no such host")
}

func (r fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	key := "_" + service + "._" + proto + "." + name
	if s, ok := r.srv[key]; ok {
		return key, s, nil
	}
	return "", nil, errors.New("no such host")
}

func TestDNSDiscovery(t *testing.T) {
	t.Parallel()
	r := fakeResolver{
		hosts: map[string][]string{"agents.gpu.svc": {"10.0.0.2", "10.0.0.1", "10.0.0.2", "fd00::1"}},
		srv: map[string][]*net.SRV{"_node-api._tcp.agents.gpu.svc": {
			{Target: "10-0-0-1.agents.gpu.svc.cluster.local.", Port: 9443},
			{Target: "10-0-0-2.agents.gpu.svc.cluster.local.", Port: 9443},
		}},
	}
	ctx := context.Background()
	got, err := aggregator.DNS{Name: "agents.gpu.svc", Port: 9443, Resolver: r}.Discover(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.1:9443", "10.0.0.2:9443", "[fd00::1]:9443"}, got)

	got, err = aggregator.DNS{Name: "agents.gpu.svc", Resolver: r}.Discover(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"10-0-0-1.agents.gpu.svc.cluster.local:9443", "10-0-0-2.agents.gpu.svc.cluster.local:9443"}, got)

	_, err = aggregator.DNS{Name: "other.svc", Resolver: r}.Discover(ctx)
	assert.ErrorContains(t, err, "_node-api._tcp.other.svc")
	_, err = aggregator.DNS{Name: "other.svc", Port: 1, Resolver: r}.Discover(ctx)
	assert.ErrorContains(t, err, "other.svc")
	_, err = aggregator.DNS{}.Discover(ctx)
	assert.Error(t, err)

	s := aggregator.Static{"b:1", "a:1"}
	got, err = s.Discover(ctx)
	require.NoError(t, err)
	got[0] = "changed"
	assert.Equal(t, "b:1", s[0], "a copy")
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	kube := fakeKube()
	for name, cfg := range map[string]aggregator.Config{
		"no discovery":  {Kube: kube},
		"no kube":       {Discovery: aggregator.Static{}},
		"long window":   {Discovery: aggregator.Static{}, Kube: kube, MaxWindow: 11 * 60e9},
		"negative tick": {Discovery: aggregator.Static{}, Kube: kube, DiscoveryInterval: -1},
	} {
		_, err := aggregator.New(cfg)
		assert.Error(t, err, name)
	}
}

func fakeKube() *dynamicfake.FakeDynamicClient { return ct.Kube() }
