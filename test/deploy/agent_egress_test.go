// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// checkAgentEgress: the agents' own policy denies all egress, and each
// feature that calls out adds a policy of its own, <agents' policy>-<feature>,
// egress only: engine-pods (pods and the API server) when enginePods,
// dra (the API server only) when dra. No other policy selects the agents,
// so the union Kubernetes allows is exactly that.
func checkAgentEgress(t *testing.T, objs objects, ds *appsv1.DaemonSet, enginePods, dra bool) {
	t.Helper()
	agents := labels.Set(ds.Spec.Template.Labels)
	base := named[*networkingv1.NetworkPolicy](t, objs, ds.Namespace, ds.Name)
	assert.Contains(t, base.Spec.PolicyTypes, networkingv1.PolicyTypeEgress, "the agents' policy governs egress")
	assert.Empty(t, base.Spec.Egress, "and allows none")
	want := map[string]bool{base.Name: true}
	for _, f := range []struct {
		name string
		on   bool
		pods bool
	}{{"engine-pods", enginePods, true}, {"dra", dra, false}} {
		if !f.on {
			continue
		}
		np := named[*networkingv1.NetworkPolicy](t, objs, ds.Namespace, ds.Name+"-"+f.name)
		want[np.Name] = true
		assert.True(t, selects(t, &np.Spec.PodSelector, agents), "%s selects the agents", np.Name)
		assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes, np.Name)
		assert.Empty(t, np.Spec.Ingress, np.Name)
		rules := np.Spec.Egress
		if f.pods {
			require.Len(t, rules, 2, "%s: pods, API server", np.Name)
			assertToPods(t, rules[0])
			rules = rules[1:]
		}
		require.Len(t, rules, 1, "%s: the API server only", np.Name)
		assertToAPIServer(t, rules[0])
	}
	for _, np := range all[*networkingv1.NetworkPolicy](objs) {
		if selects(t, &np.Spec.PodSelector, agents) {
			assert.True(t, want[np.Name], "%s selects the agents", np.Name)
		}
	}
}

// assertToPods: pods in every namespace on any port (the engines' own
// metrics ports), no address range.
func assertToPods(t *testing.T, r networkingv1.NetworkPolicyEgressRule) {
	t.Helper()
	require.Len(t, r.To, 1)
	assert.Empty(t, r.Ports, "any port the pods declare")
	assert.Nil(t, r.To[0].IPBlock, "pods only, no address range")
	assert.Nil(t, r.To[0].PodSelector)
	require.NotNil(t, r.To[0].NamespaceSelector)
	assert.Empty(t, r.To[0].NamespaceSelector.MatchLabels, "pods in every namespace")
	assert.Empty(t, r.To[0].NamespaceSelector.MatchExpressions)
}

// assertToAPIServer: the API server's ports 443 and 6443 over TCP, to any
// address (the chart's default apiServerTo).
func assertToAPIServer(t *testing.T, r networkingv1.NetworkPolicyEgressRule) {
	t.Helper()
	assert.Empty(t, r.To, "apiServerTo: any address by default")
	var ports []int32
	for _, p := range r.Ports {
		require.NotNil(t, p.Port)
		assert.Equal(t, corev1.ProtocolTCP, *p.Protocol)
		ports = append(ports, p.Port.IntVal)
	}
	assert.Equal(t, []int32{443, 6443}, ports, "the API server")
}

// TestHelmAgentEgressValues: networkPolicy.apiServerTo and apiServerPorts
// land in both feature policies; with denyEgress false the agents' egress is
// not governed at all, so no feature policy is rendered (one would deny the
// rest of their egress).
func TestHelmAgentEgressValues(t *testing.T) {
	t.Parallel()
	both := []string{"values-cluster.yaml", "values-engine.yaml", "values-dra.yaml"}
	to := []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.1/32"}}}
	objs := decodeAll(t, mustRenderHelm(t, map[string]any{"networkPolicy": map[string]any{
		"apiServerTo": to, "apiServerPorts": []any{6443}}}, both...))
	ds := only[*appsv1.DaemonSet](t, objs)
	for _, f := range []string{"engine-pods", "dra"} {
		np := named[*networkingv1.NetworkPolicy](t, objs, ds.Namespace, ds.Name+"-"+f)
		api := np.Spec.Egress[len(np.Spec.Egress)-1]
		require.Len(t, api.To, 1, np.Name)
		require.NotNil(t, api.To[0].IPBlock, np.Name)
		assert.Equal(t, "10.0.0.1/32", api.To[0].IPBlock.CIDR, np.Name)
		require.Len(t, api.Ports, 1, np.Name)
		assert.Equal(t, int32(6443), api.Ports[0].Port.IntVal, np.Name)
	}

	objs = decodeAll(t, mustRenderHelm(t, map[string]any{"networkPolicy": map[string]any{"denyEgress": false}}, both...))
	ds = only[*appsv1.DaemonSet](t, objs)
	agents := labels.Set(ds.Spec.Template.Labels)
	var names []string
	for _, np := range all[*networkingv1.NetworkPolicy](objs) {
		if selects(t, &np.Spec.PodSelector, agents) {
			names = append(names, np.Name)
			assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, np.Spec.PolicyTypes, np.Name)
		}
	}
	assert.Equal(t, []string{ds.Name}, names, "the agents' policy only")
}
