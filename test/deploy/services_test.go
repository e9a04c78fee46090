// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// checkServices: the agents' two Services, the ClusterIP one for KEDA and the
// headless one for peers, on serve's gRPC port; in cluster mode the headless
// one also carries the node-API port the aggregator reads.
func checkServices(t *testing.T, objs objects, ds *appsv1.DaemonSet, ports listenPorts, cluster bool) {
	c := ds.Spec.Template.Spec.Containers[0]
	pod := labels.Set(ds.Spec.Template.Labels)
	var agents []*corev1.Service
	for _, s := range all[*corev1.Service](objs) {
		require.NotEmpty(t, s.Spec.Selector, "Service %s", s.Name)
		if labels.SelectorFromSet(s.Spec.Selector).Matches(pod) {
			agents = append(agents, s)
		}
	}
	require.Len(t, agents, 2, "the ClusterIP Service for KEDA and the headless one for peers")
	var clusterIP, headless int
	for _, s := range agents {
		require.NotEmpty(t, s.Spec.Ports)
		sp := s.Spec.Ports[0]
		assert.Equal(t, "grpc", sp.Name)
		assert.Equal(t, int32(ports.grpc), sp.Port, "Service %s port = serve --listen", s.Name)
		assert.Equal(t, ports.grpc, resolvePort(t, c, sp.TargetPort))
		assert.Equal(t, ptr("grpc"), sp.AppProtocol)
		if s.Spec.ClusterIP != corev1.ClusterIPNone {
			clusterIP++
			assert.Equal(t, corev1.ServiceTypeClusterIP, s.Spec.Type)
			assert.Equal(t, ds.Name, s.Name, "the name KEDA's scalerAddress uses")
			assert.Len(t, s.Spec.Ports, 1, "KEDA's Service exposes only the gRPC port")
			assert.True(t, s.Spec.PublishNotReadyAddresses, "a stale (unready) agent stays reachable: KEDA sees Unavailable and applies its fallback")
			continue
		}
		headless++
		assert.True(t, s.Spec.PublishNotReadyAddresses, "peers see agents that are not ready")
		assert.Equal(t, ds.Name+"-peers", s.Name)
		if !cluster {
			assert.Len(t, s.Spec.Ports, 1)
			continue
		}
		require.Len(t, s.Spec.Ports, 2, "gRPC and node-api")
		np := s.Spec.Ports[1]
		assert.Equal(t, "node-api", np.Name, "the port name the aggregator's SRV lookup uses")
		assert.Equal(t, int32(ports.nodeAPI), np.Port, "peers node-api port = serve --node-api-listen")
		assert.Equal(t, ports.nodeAPI, resolvePort(t, c, np.TargetPort))
		assert.Equal(t, corev1.ProtocolTCP, np.Protocol)
		assert.Equal(t, ptr("grpc"), np.AppProtocol)
	}
	assert.Equal(t, 1, clusterIP)
	assert.Equal(t, 1, headless)
}

// checkNetworkPolicy: the agents' gRPC port only from the KEDA operator's
// namespace; in cluster mode their node-API port only from pods of the
// aggregator (checkAggregatorNetworkPolicy checks whom that selects); nothing
// else in, nothing out.
func checkNetworkPolicy(t *testing.T, objs objects, ds *appsv1.DaemonSet, cluster bool) {
	want := 1 // policies, and ingress rules in the agents' policy
	if cluster {
		want = 2
	}
	assert.Len(t, all[*networkingv1.NetworkPolicy](objs), want, "the agents' policy, and the aggregator's in cluster mode")
	np := named[*networkingv1.NetworkPolicy](t, objs, ds.Namespace, ds.Name)
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	require.NoError(t, err)
	assert.True(t, sel.Matches(labels.Set(ds.Spec.Template.Labels)), "NetworkPolicy selects the agents")
	assert.ElementsMatch(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes)
	assert.Empty(t, np.Spec.Egress, "no egress: the kubelet socket is local, the aggregator dials the agents")
	require.Len(t, np.Spec.Ingress, want)
	in := np.Spec.Ingress[0]
	assert.Equal(t, []networkingv1.NetworkPolicyPort{tcpPort(intstr.FromString("grpc"))}, in.Ports)
	checkFromKEDAOperator(t, in.From)
	if cluster {
		in := np.Spec.Ingress[1]
		assert.Equal(t, []networkingv1.NetworkPolicyPort{tcpPort(intstr.FromString("node-api"))}, in.Ports)
		require.Len(t, in.From, 1)
		require.NotNil(t, in.From[0].PodSelector, "pods of the policy's own namespace")
		assert.Nil(t, in.From[0].NamespaceSelector)
		assert.Nil(t, in.From[0].IPBlock)
	}
}

// checkFromKEDAOperator: one peer, the KEDA operator's pods (the label KEDA's
// chart sets) in the namespace keda, not the whole namespace.
func checkFromKEDAOperator(t *testing.T, from []networkingv1.NetworkPolicyPeer) {
	require.Len(t, from, 1)
	require.NotNil(t, from[0].NamespaceSelector)
	assert.Equal(t, map[string]string{"kubernetes.io/metadata.name": "keda"}, from[0].NamespaceSelector.MatchLabels)
	require.NotNil(t, from[0].PodSelector, "the operator's pods, not the whole namespace")
	assert.True(t, selects(t, from[0].PodSelector, labels.Set{"app": "keda-operator", "app.kubernetes.io/name": "keda-operator"}), "KEDA's operator")
	assert.False(t, selects(t, from[0].PodSelector, labels.Set{"app": "keda-operator-metrics-apiserver", "app.kubernetes.io/name": "keda-operator-metrics-apiserver"}), "not KEDA's metrics server")
	assert.Nil(t, from[0].IPBlock)
}

func tcpPort(p intstr.IntOrString) networkingv1.NetworkPolicyPort {
	tcp := corev1.ProtocolTCP
	return networkingv1.NetworkPolicyPort{Port: &p, Protocol: &tcp}
}

// checkServiceAccount: the agent's ServiceAccount mounts no token.
func checkServiceAccount(t *testing.T, objs objects, ds *appsv1.DaemonSet) {
	sa := named[*corev1.ServiceAccount](t, objs, ds.Namespace, ds.Spec.Template.Spec.ServiceAccountName)
	require.NotNil(t, sa.AutomountServiceAccountToken)
	assert.False(t, *sa.AutomountServiceAccountToken)
}

// checkNamespace: where the rendering has the Namespace, it enforces Pod
// Security "restricted", which the agents meet; "privileged" where they
// mount a host path (cluster mode, the toolkit wait) or add CAP_SYS_ADMIN
// (MIG), which meet neither restricted nor baseline.
func checkNamespace(t *testing.T, objs objects, privileged bool) {
	want := "restricted"
	if privileged {
		want = "privileged"
	}
	for _, ns := range all[*corev1.Namespace](objs) {
		for _, mode := range []string{"enforce", "audit", "warn"} {
			assert.Equal(t, want, ns.Labels["pod-security.kubernetes.io/"+mode], "Namespace %s: %s", ns.Name, mode)
		}
	}
}

// selects says whether a NetworkPolicy's label selector matches the labels.
func selects(t testing.TB, sel *metav1.LabelSelector, set labels.Set) bool {
	t.Helper()
	require.NotNil(t, sel)
	s, err := metav1.LabelSelectorAsSelector(sel)
	require.NoError(t, err)
	return s.Matches(set)
}

func intstrName(name string) intstr.IntOrString { return intstr.FromString(name) }
func intstrNum(port int) intstr.IntOrString     { return intstr.FromInt32(int32(port)) }
