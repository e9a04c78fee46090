// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// aggregatorPermissions is what the aggregator's informers need: list and
// watch, and nothing else, on the objects that lead from a ScaledObject to its
// pods (docs/cluster.md, "RBAC for the aggregator").
var aggregatorPermissions = []string{
	"/pods list", "/pods watch",
	"apps/replicasets list", "apps/replicasets watch",
	"apps/deployments list", "apps/deployments watch",
	"apps/statefulsets list", "apps/statefulsets watch",
	"keda.sh/scaledobjects list", "keda.sh/scaledobjects watch",
}

// checkRBAC: a ClusterRole, or with --namespace a Role in that namespace,
// granting exactly aggregatorPermissions, bound to the aggregator's
// ServiceAccount only.
func checkRBAC(t *testing.T, objs objects, sa *corev1.ServiceAccount, watchNamespace string) {
	var (
		rules    []rbacv1.PolicyRule
		ref      rbacv1.RoleRef
		subjects []rbacv1.Subject
	)
	if watchNamespace == "" {
		role, binding := only[*rbacv1.ClusterRole](t, objs), only[*rbacv1.ClusterRoleBinding](t, objs)
		assert.Empty(t, all[*rbacv1.Role](objs))
		assert.Empty(t, all[*rbacv1.RoleBinding](objs))
		assert.Nil(t, role.AggregationRule, "no rules aggregated in from other roles")
		rules, ref, subjects = role.Rules, binding.RoleRef, binding.Subjects
		assert.Equal(t, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name}, ref)
	} else {
		role, binding := only[*rbacv1.Role](t, objs), only[*rbacv1.RoleBinding](t, objs)
		assert.Empty(t, all[*rbacv1.ClusterRole](objs))
		assert.Empty(t, all[*rbacv1.ClusterRoleBinding](objs))
		assert.Equal(t, watchNamespace, role.Namespace, "the Role lives in the watched namespace")
		assert.Equal(t, watchNamespace, binding.Namespace)
		rules, ref, subjects = role.Rules, binding.RoleRef, binding.Subjects
		assert.Equal(t, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}, ref)
	}
	assert.Equal(t, []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: sa.Namespace}}, subjects)
	var got []string
	for _, r := range rules {
		assert.Empty(t, r.ResourceNames)
		assert.Empty(t, r.NonResourceURLs)
		for _, v := range r.Verbs {
			assert.Contains(t, []string{"list", "watch"}, v, "verb %q: the aggregator only lists and watches", v)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				assert.NotContains(t, res, "/", "subresource %s", res)
				for _, v := range r.Verbs {
					got = append(got, g+"/"+res+" "+v)
				}
			}
		}
	}
	assert.NotContains(t, strings.Join(got, ","), "*", "wildcards")
	assert.ElementsMatch(t, aggregatorPermissions, got, "exactly list and watch on the aggregator's objects")
}

// checkAggregatorNetworkPolicy: in, the aggregator's gRPC port from the KEDA
// namespace only; out, the agents' node-API port, the API server's ports and
// DNS, nothing else. It also checks that the agents' policy admits exactly
// the aggregator's pods to the node-API port.
func checkAggregatorNetworkPolicy(t *testing.T, objs objects, d *appsv1.Deployment, ds *appsv1.DaemonSet, agent listenPorts) {
	aggPods, agentPods := labels.Set(d.Spec.Template.Labels), labels.Set(ds.Spec.Template.Labels)
	agentPolicy := named[*networkingv1.NetworkPolicy](t, objs, ds.Namespace, ds.Name)
	fromAgg := agentPolicy.Spec.Ingress[1].From[0].PodSelector
	assert.True(t, selects(t, fromAgg, aggPods), "the agents admit the aggregator to node-api")
	assert.False(t, selects(t, fromAgg, agentPods), "and not one another")

	np := named[*networkingv1.NetworkPolicy](t, objs, d.Namespace, d.Name)
	assert.True(t, selects(t, &np.Spec.PodSelector, aggPods), "the policy selects the aggregator")
	assert.False(t, selects(t, &np.Spec.PodSelector, agentPods), "and not the agents")
	assert.ElementsMatch(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes)

	require.Len(t, np.Spec.Ingress, 1)
	in := np.Spec.Ingress[0]
	assert.Equal(t, []networkingv1.NetworkPolicyPort{tcpPort(intstrName("grpc"))}, in.Ports)
	checkFromKEDAOperator(t, in.From)

	require.Len(t, np.Spec.Egress, 3, "agents, API server, DNS")
	toAgents, toAPI, toDNS := np.Spec.Egress[0], np.Spec.Egress[1], np.Spec.Egress[2]
	assert.Equal(t, []networkingv1.NetworkPolicyPort{tcpPort(intstrNum(agent.nodeAPI))}, toAgents.Ports)
	require.Len(t, toAgents.To, 1)
	assert.Nil(t, toAgents.To[0].NamespaceSelector, "the agents' namespace is the policy's")
	assert.True(t, selects(t, toAgents.To[0].PodSelector, agentPods), "egress to the agents")
	assert.False(t, selects(t, toAgents.To[0].PodSelector, aggPods))

	assert.ElementsMatch(t, []networkingv1.NetworkPolicyPort{tcpPort(intstrNum(443)), tcpPort(intstrNum(6443))}, toAPI.Ports,
		"the API server: the kubernetes Service's port and its usual endpoint port")

	udp := corev1.ProtocolUDP
	dnsPort := intstrNum(53)
	assert.ElementsMatch(t, []networkingv1.NetworkPolicyPort{{Port: &dnsPort, Protocol: &udp}, tcpPort(dnsPort)}, toDNS.Ports)
	require.Len(t, toDNS.To, 1)
	require.NotNil(t, toDNS.To[0].NamespaceSelector)
	assert.Equal(t, map[string]string{"kubernetes.io/metadata.name": "kube-system"}, toDNS.To[0].NamespaceSelector.MatchLabels)
	require.NotNil(t, toDNS.To[0].PodSelector)
	assert.Equal(t, map[string]string{"k8s-app": "kube-dns"}, toDNS.To[0].PodSelector.MatchLabels)
}
