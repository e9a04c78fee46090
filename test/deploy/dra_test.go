// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// TestDRAAttribution: only with attribution.dra.enabled (serve --dra) does
// the agent get --dra, a token, RBAC — get, list and watch on
// resource.k8s.io resourceslices, nothing else, bound to its ServiceAccount
// only — and egress to the API server only (with engine signals too, pods and
// the API server); off (the default), none of it.
func TestDRAAttribution(t *testing.T) {
	t.Parallel()
	dra := map[string]any{"attribution": map[string]any{"dra": map[string]any{"enabled": true}}}
	for _, tc := range []struct {
		name         string
		objs         func(t testing.TB) objects
		enabled, eng bool
	}{
		{"helm cluster", func(t testing.TB) objects { return decodeAll(t, mustRenderHelm(t, nil, "values-cluster.yaml")) }, false, false},
		{"helm cluster + dra", func(t testing.TB) objects {
			return decodeAll(t, mustRenderHelm(t, nil, "values-cluster.yaml", "values-dra.yaml"))
		}, true, false},
		{"helm engineSignals.pods + dra", func(t testing.TB) objects {
			return decodeAll(t, mustRenderHelm(t, dra, "values-cluster.yaml", "values-engine.yaml"))
		}, true, true},
		{"kustomize overlays/cluster", func(t testing.TB) objects { return decodeAll(t, renderKustomize(t, "overlays/cluster")) }, false, false},
		{"kustomize overlays/cluster-dra", func(t testing.TB) objects { return decodeAll(t, renderKustomize(t, "overlays/cluster-dra")) }, true, false},
		{"kustomize overlays/cluster-engine-dra", func(t testing.TB) objects {
			return decodeAll(t, renderKustomize(t, "overlays/cluster-engine-dra"))
		}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := tc.objs(t)
			ds := only[*appsv1.DaemonSet](t, objs)
			pod := ds.Spec.Template.Spec
			assert.Equal(t, tc.enabled, slices.Contains(pod.Containers[0].Args, "--dra"))
			checkAgentEgress(t, objs, ds, tc.eng, tc.enabled)
			binding := draBinding(objs)
			if !tc.enabled {
				assert.Nil(t, binding, "no RBAC on resourceslices")
				return
			}
			require.NotNil(t, pod.AutomountServiceAccountToken)
			assert.True(t, *pod.AutomountServiceAccountToken, "the token the watch sends")
			require.NotNil(t, binding, "a ClusterRoleBinding for the agent")
			assert.Equal(t, []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: pod.ServiceAccountName, Namespace: ds.Namespace}}, binding.Subjects)
			role := named[*rbacv1.ClusterRole](t, objs, "", binding.RoleRef.Name)
			assert.Equal(t, []rbacv1.PolicyRule{{APIGroups: []string{"resource.k8s.io"}, Resources: []string{"resourceslices"}, Verbs: []string{"get", "list", "watch"}}},
				role.Rules, "get, list and watch on resourceslices, nothing else")
		})
	}
}

// draBinding returns the ClusterRoleBinding of the agent's ResourceSlice
// watch, nil when there is none.
func draBinding(objs objects) *rbacv1.ClusterRoleBinding {
	for _, b := range all[*rbacv1.ClusterRoleBinding](objs) {
		if strings.HasSuffix(b.Name, "-dra") {
			return b
		}
	}
	return nil
}
