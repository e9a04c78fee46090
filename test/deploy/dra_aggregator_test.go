// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// claimsRule is what aggregate --dra adds to the aggregator's role.
var claimsRule = rbacv1.PolicyRule{APIGroups: []string{"resource.k8s.io"}, Resources: []string{"resourceclaims"}, Verbs: []string{"list", "watch"}}

// TestDRAAggregator: with attribution.dra.enabled (kustomize
// components/dra) the aggregator runs aggregate --dra and its role gains list
// and watch on resource.k8s.io resourceclaims, nothing more; off, its
// arguments and role are exactly cluster mode's. Engine pods with DRA and no
// aggregator render no aggregator.
func TestDRAAggregator(t *testing.T) {
	t.Parallel()
	flags := binaryFlags(t)
	dra := map[string]any{"attribution": map[string]any{"dra": map[string]any{"enabled": true}}}
	for _, tc := range []struct {
		name     string
		objs     func(t testing.TB) objects
		enabled  bool
		roleKind string
	}{
		{"helm cluster", func(t testing.TB) objects { return decodeAll(t, mustRenderHelm(t, nil, "values-cluster.yaml")) }, false, "ClusterRole"},
		{"helm cluster + dra", func(t testing.TB) objects {
			return decodeAll(t, mustRenderHelm(t, nil, "values-cluster.yaml", "values-dra.yaml"))
		}, true, "ClusterRole"},
		{"helm cluster + dra + watchNamespace", func(t testing.TB) objects {
			return decodeAll(t, mustRenderHelm(t, map[string]any{"aggregator": map[string]any{"watchNamespace": "inference"}},
				"values-cluster.yaml", "values-dra.yaml"))
		}, true, "Role"},
		{"kustomize overlays/cluster", func(t testing.TB) objects { return decodeAll(t, renderKustomize(t, "overlays/cluster")) }, false, "ClusterRole"},
		{"kustomize overlays/cluster-dra", func(t testing.TB) objects { return decodeAll(t, renderKustomize(t, "overlays/cluster-dra")) }, true, "ClusterRole"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := tc.objs(t)
			d := only[*appsv1.Deployment](t, objs)
			args := checkAggregatorArgs(t, d.Spec.Template.Spec.Containers[0], flags.aggregate)
			want := ""
			if tc.enabled {
				want = "true"
			}
			assert.Equal(t, want, args["dra"], "--dra")

			rules := aggregatorRules(t, objs, d, tc.roleKind)
			require.NotEmpty(t, rules)
			if !tc.enabled {
				assert.NotContains(t, rules, claimsRule)
				return
			}
			assert.Equal(t, claimsRule, rules[len(rules)-1], "list and watch on resourceclaims, appended")
			assert.NotContains(t, rules[:len(rules)-1], claimsRule)
		})
	}
	t.Run("helm engineSignals.pods + dra", func(t *testing.T) {
		t.Parallel()
		checkNoAggregatorRole(t, decodeAll(t, mustRenderHelm(t, dra, "values-engine.yaml")))
	})
}

// aggregatorRules returns the rules of the role (kind Role or ClusterRole)
// bound to d's ServiceAccount.
func aggregatorRules(t *testing.T, objs objects, d *appsv1.Deployment, kind string) []rbacv1.PolicyRule {
	sa := d.Spec.Template.Spec.ServiceAccountName
	bound := func(subjects []rbacv1.Subject) bool {
		return len(subjects) == 1 && subjects[0].Name == sa && subjects[0].Namespace == d.Namespace
	}
	if kind == "Role" {
		for _, b := range all[*rbacv1.RoleBinding](objs) {
			if bound(b.Subjects) {
				return named[*rbacv1.Role](t, objs, b.Namespace, b.RoleRef.Name).Rules
			}
		}
	}
	for _, b := range all[*rbacv1.ClusterRoleBinding](objs) {
		if bound(b.Subjects) && kind == "ClusterRole" {
			return named[*rbacv1.ClusterRole](t, objs, "", b.RoleRef.Name).Rules
		}
	}
	t.Fatalf("no %s bound to the aggregator's ServiceAccount %s/%s", kind, d.Namespace, sa)
	return nil
}

// checkNoAggregatorRole: no Deployment, and no role grants resourceclaims.
func checkNoAggregatorRole(t *testing.T, objs objects) {
	assert.Empty(t, all[*appsv1.Deployment](objs))
	for _, r := range all[*rbacv1.ClusterRole](objs) {
		assert.NotContains(t, r.Rules, claimsRule, r.Name)
	}
	assert.Empty(t, all[*rbacv1.Role](objs))
}
