// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// TestEngineSignalsPods: only with engineSignals.pods (serve --engine-pods)
// does the agent get a token, the kubelet's PodResources socket and RBAC —
// get, list and watch on pods, nothing else, bound to its ServiceAccount
// only; off (the default), none of it.
func TestEngineSignalsPods(t *testing.T) {
	t.Parallel()
	on := map[string]any{"engineSignals": map[string]any{"pods": true}, "namespace": map[string]any{"create": true, "podSecurity": "privileged"}}
	for _, tc := range []struct {
		name    string
		objs    func(t testing.TB) objects
		enabled bool
	}{
		{"helm default", func(t testing.TB) objects { return decodeAll(t, mustRenderHelm(t, nil)) }, false},
		{"helm cluster", func(t testing.TB) objects { return decodeAll(t, mustRenderHelm(t, nil, "values-cluster.yaml")) }, false},
		{"helm engineSignals.pods", func(t testing.TB) objects { return decodeAll(t, mustRenderHelm(t, on)) }, true},
		{"helm cluster + engineSignals.pods", func(t testing.TB) objects {
			return decodeAll(t, mustRenderHelm(t, nil, "values-cluster.yaml", "values-engine.yaml"))
		}, true},
		{"kustomize overlays/cluster", func(t testing.TB) objects { return decodeAll(t, renderKustomize(t, "overlays/cluster")) }, false},
		{"kustomize overlays/cluster-engine", func(t testing.TB) objects { return decodeAll(t, renderKustomize(t, "overlays/cluster-engine")) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := tc.objs(t)
			ds := only[*appsv1.DaemonSet](t, objs)
			pod := ds.Spec.Template.Spec
			c := pod.Containers[0]
			require.NotNil(t, pod.AutomountServiceAccountToken)
			assert.Equal(t, tc.enabled, *pod.AutomountServiceAccountToken, "the token is mounted only for --engine-pods")
			assert.Equal(t, tc.enabled, slices.Contains(c.Args, "--engine-pods"))
			binding := enginePodsBinding(objs)
			if !tc.enabled {
				assert.Nil(t, binding, "no RBAC for the agent")
				for _, r := range all[*rbacv1.ClusterRoleBinding](objs) {
					for _, s := range r.Subjects {
						assert.NotEqual(t, pod.ServiceAccountName, s.Name, "the agent's ServiceAccount is bound to nothing")
					}
				}
				return
			}
			assert.True(t, slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--kubelet-socket=") }),
				"GPU→pod attribution for the pods to scrape")
			assert.True(t, slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "pod-resources" && m.ReadOnly }))
			assert.True(t, slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
				return e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName"
			}), "the node whose pods are watched")
			require.NotNil(t, binding, "a ClusterRoleBinding for the agent")
			assert.Equal(t, []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: pod.ServiceAccountName, Namespace: ds.Namespace}}, binding.Subjects)
			role := named[*rbacv1.ClusterRole](t, objs, "", binding.RoleRef.Name)
			assert.Equal(t, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}},
				role.Rules, "get, list and watch on pods, nothing else")
			np := named[*networkingv1.NetworkPolicy](t, objs, ds.Namespace, ds.Name)
			assertEnginePodsEgress(t, np)
		})
	}

	_, err := renderHelm(t, map[string]any{"engineSignals": map[string]any{"pods": true},
		"namespace": map[string]any{"create": true, "podSecurity": "restricted"}})
	require.ErrorContains(t, err, "engineSignals.pods with namespace.podSecurity=restricted")
	_, err = renderHelm(t, map[string]any{"engineSignals": map[string]any{"pods": "yes"}})
	require.Error(t, err, "the schema wants a boolean")
}

// enginePodsBinding returns the ClusterRoleBinding of the agent's pod watch,
// nil when there is none.
func enginePodsBinding(objs objects) *rbacv1.ClusterRoleBinding {
	for _, b := range all[*rbacv1.ClusterRoleBinding](objs) {
		if strings.HasSuffix(b.Name, "-engine-pods") {
			return b
		}
	}
	return nil
}

// assertEnginePodsEgress: with engine signals the agent's egress stays
// restricted, to pods (any namespace, any port: the engines' own metrics
// ports) and to the API server's ports 443 and 6443, nothing else.
func assertEnginePodsEgress(t *testing.T, np *networkingv1.NetworkPolicy) {
	t.Helper()
	assert.Contains(t, np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress, "egress stays restricted")
	require.Len(t, np.Spec.Egress, 2, "pods, API server")
	toPods, toAPI := np.Spec.Egress[0], np.Spec.Egress[1]
	require.Len(t, toPods.To, 1)
	assert.Empty(t, toPods.Ports, "any port the pods declare")
	assert.Nil(t, toPods.To[0].IPBlock, "pods only, no address range")
	assert.Nil(t, toPods.To[0].PodSelector)
	require.NotNil(t, toPods.To[0].NamespaceSelector)
	assert.Empty(t, toPods.To[0].NamespaceSelector.MatchLabels, "pods in every namespace")
	assert.Empty(t, toPods.To[0].NamespaceSelector.MatchExpressions)
	var ports []int32
	for _, p := range toAPI.Ports {
		require.NotNil(t, p.Port)
		assert.Equal(t, corev1.ProtocolTCP, *p.Protocol)
		ports = append(ports, p.Port.IntVal)
	}
	assert.Equal(t, []int32{443, 6443}, ports, "the API server")
}
