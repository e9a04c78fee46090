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
	rbacv1 "k8s.io/api/rbac/v1"
)

// TestEngineSignalsPods: only with engineSignals.pods (serve --engine-pods)
// does the agent get a token, the kubelet's PodResources socket, RBAC — get,
// list and watch on pods, nothing else, bound to its ServiceAccount only —
// and egress to pods and the API server; off (the default), none of it.
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
			checkAgentEgress(t, objs, ds, tc.enabled, false)
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
