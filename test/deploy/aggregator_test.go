// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// checkAggregator checks the cluster aggregator's objects: its Deployment
// (security posture as the agent's, arguments against `aggregate --help`,
// ports and probes), its Service for KEDA, its ServiceAccount, RBAC and
// NetworkPolicy. agent holds the ports the agents listen on.
func checkAggregator(t *testing.T, objs objects, ds *appsv1.DaemonSet, agent listenPorts, flags helpFlags, tls bool) {
	d := only[*appsv1.Deployment](t, objs)
	assert.Equal(t, ds.Name+"-aggregator", d.Name)
	assert.Equal(t, ds.Namespace, d.Namespace)
	require.NotNil(t, d.Spec.Replicas)
	assert.Equal(t, int32(2), *d.Spec.Replicas, "two replicas that answer alike")
	checkAggregatorHA(t, objs, d)
	pods := labels.Set(d.Spec.Template.Labels)
	require.NotNil(t, d.Spec.Selector)
	assert.True(t, labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(pods), "selector ⊆ pod labels")
	assert.False(t, labels.SelectorFromSet(ds.Spec.Selector.MatchLabels).Matches(pods), "the agents' selector must not take the aggregator's pods")
	assert.False(t, labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(labels.Set(ds.Spec.Template.Labels)), "the aggregator's selector must not take the agents")

	pod := d.Spec.Template.Spec
	assert.Empty(t, pod.NodeSelector, "no GPU needed: any node")
	assert.False(t, pod.HostNetwork || pod.HostPID || pod.HostIPC, "host namespaces")
	if !tls {
		assert.Empty(t, pod.Volumes, "no volumes (the API token is projected by the kubelet)")
	}
	assert.Equal(t, ptr(true), pod.AutomountServiceAccountToken, "the aggregator reads the API server")
	sc := pod.SecurityContext
	require.NotNil(t, sc)
	assert.Equal(t, ptr(true), sc.RunAsNonRoot)
	assert.Equal(t, ptr(int64(65532)), sc.RunAsUser)
	require.NotNil(t, sc.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)
	require.Len(t, pod.Containers, 1)
	require.Empty(t, pod.InitContainers)
	c := pod.Containers[0]
	assert.Equal(t, ds.Spec.Template.Spec.Containers[0].Image, c.Image, "the agent's image")
	if !tls {
		assert.Empty(t, c.VolumeMounts)
	}
	checkContainerSecurity(t, c, 65532, true, nil)
	checkResources(t, c)
	// BenchmarkAggregator1000Nodes: a 45 MiB heap with ~10 s of history, and
	// ~55 MiB more for a full 2m window at 1000 nodes x 8 GPUs.
	assert.GreaterOrEqual(t, c.Resources.Limits.Memory().Cmp(resource.MustParse("200Mi")), 0,
		"memory limit below the 1000-node benchmark's needs (docs/deploy.md)")

	args := checkAggregatorArgs(t, c, flags)
	listen, httpListen := port(t, args["listen"]), port(t, args["http-listen"])
	assert.Equal(t, []corev1.ContainerPort{
		{Name: "grpc", ContainerPort: int32(listen), Protocol: corev1.ProtocolTCP},
		{Name: "http", ContainerPort: int32(httpListen), Protocol: corev1.ProtocolTCP},
	}, c.Ports)
	checkAggregatorProbes(t, c, listen, httpListen, tls)
	if tls {
		checkAggregatorTLS(t, objs, d, ds, args)
	} else {
		for _, f := range []string{"tls-cert", "agents-ca", "agents-client-cert"} {
			assert.Empty(t, args[f], "--%s without tls.enabled", f)
		}
	}

	peers := named[*corev1.Service](t, objs, ds.Namespace, ds.Name+"-peers")
	assert.Equal(t, peers.Name+"."+peers.Namespace+".svc", args["agents-service"], "--agents-service: the peers Service")
	assert.Equal(t, agent.nodeAPI, port(t, ":"+args["agents-port"]), "--agents-port = the agents' --node-api-listen")
	assert.Contains(t, servicePortNames(peers), args["agents-port-name"], "--agents-port-name names a port of the peers Service (SRV lookups)")

	svc := named[*corev1.Service](t, objs, d.Namespace, d.Name)
	assert.Equal(t, corev1.ServiceTypeClusterIP, svc.Spec.Type)
	assert.NotEqual(t, corev1.ClusterIPNone, svc.Spec.ClusterIP)
	assert.True(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(pods), "the Service selects the aggregator")
	assert.False(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(ds.Spec.Template.Labels)), "and not the agents")
	require.Len(t, svc.Spec.Ports, 1)
	assert.Equal(t, "grpc", svc.Spec.Ports[0].Name)
	assert.Equal(t, int32(listen), svc.Spec.Ports[0].Port, "KEDA's scalerAddress port = aggregate --listen")
	assert.Equal(t, listen, resolvePort(t, c, svc.Spec.Ports[0].TargetPort))
	assert.Equal(t, ptr("grpc"), svc.Spec.Ports[0].AppProtocol)

	sa := named[*corev1.ServiceAccount](t, objs, d.Namespace, pod.ServiceAccountName)
	assert.NotEqual(t, ds.Spec.Template.Spec.ServiceAccountName, sa.Name, "the agents keep their tokenless account")
	assert.Len(t, all[*corev1.ServiceAccount](objs), 2)
	checkRBAC(t, objs, sa, args["namespace"])
	checkAggregatorNetworkPolicy(t, objs, d, ds, agent)
}

// checkAggregatorHA: a PodDisruptionBudget keeping one of the replicas
// through drains, and a soft anti-affinity spreading them over nodes.
func checkAggregatorHA(t *testing.T, objs objects, d *appsv1.Deployment) {
	pdb := named[*policyv1.PodDisruptionBudget](t, objs, d.Namespace, d.Name)
	assert.Equal(t, ptr(intstr.FromInt32(1)), pdb.Spec.MaxUnavailable)
	assert.Nil(t, pdb.Spec.MinAvailable)
	require.NotNil(t, pdb.Spec.Selector)
	assert.Equal(t, d.Spec.Selector.MatchLabels, pdb.Spec.Selector.MatchLabels)

	aff := d.Spec.Template.Spec.Affinity
	require.NotNil(t, aff)
	require.NotNil(t, aff.PodAntiAffinity)
	assert.Empty(t, aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, "soft: both replicas still schedule on one node")
	require.Len(t, aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution, 1)
	term := aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
	assert.Equal(t, "kubernetes.io/hostname", term.TopologyKey)
	assert.True(t, selects(t, term.LabelSelector, labels.Set(d.Spec.Template.Labels)), "away from its own replicas")
}

// checkAggregatorArgs checks that the container runs `aggregate` with
// --flag=value arguments that `aggregate --help` lists, and returns every
// flag's value (the binary's default where no argument sets it).
func checkAggregatorArgs(t *testing.T, c corev1.Container, flags helpFlags) map[string]string {
	assert.Equal(t, []string{"/nvml-scaler-aggregator"}, c.Command, "the image's full build; its ENTRYPOINT /nvml-scaler is the agent's, without aggregate")
	require.NotEmpty(t, c.Args)
	require.Equal(t, "aggregate", c.Args[0])
	values := map[string]string{}
	for k, v := range flags {
		values[k] = v
	}
	seen := map[string]bool{}
	for _, a := range c.Args[1:] {
		name, val, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		require.True(t, strings.HasPrefix(a, "--") && ok, "argument %q: want --flag=value", a)
		require.Contains(t, flags, name, "argument %q: aggregate --help has no --%s", a, name)
		require.False(t, seen[name], "argument %q: --%s given twice", a, name)
		seen[name] = true
		values[name] = val
	}
	assert.Empty(t, values["agents"], "--agents: discovery through the peers Service, not a fixed list")
	assert.Empty(t, values["kubeconfig"], "--kubeconfig: the pod's service account")
	return values
}

// checkAggregatorProbes: native gRPC health on the aggregator's gRPC port
// ("liveness" always SERVING, "readiness" once the Kubernetes cache has
// synced), or with TLS, which the kubelet's gRPC probe cannot speak, the
// same two on HTTP: /healthz and /readyz on --http-listen.
func checkAggregatorProbes(t *testing.T, c corev1.Container, listen, httpListen int, tls bool) {
	assert.Nil(t, c.StartupProbe)
	for _, p := range []struct {
		probe         *corev1.Probe
		service, path string
	}{{c.LivenessProbe, "liveness", "/healthz"}, {c.ReadinessProbe, "readiness", "/readyz"}} {
		require.NotNil(t, p.probe, p.service)
		assert.Nil(t, p.probe.Exec, "exec probe: the image has no shell")
		assert.Nil(t, p.probe.TCPSocket)
		if tls {
			assert.Nil(t, p.probe.GRPC, "%s: the kubelet's gRPC probe cannot speak TLS", p.service)
			require.NotNil(t, p.probe.HTTPGet, "%s: HTTP probe", p.service)
			assert.Equal(t, p.path, p.probe.HTTPGet.Path)
			assert.Equal(t, httpListen, resolvePort(t, c, p.probe.HTTPGet.Port))
			continue
		}
		assert.Nil(t, p.probe.HTTPGet)
		require.NotNil(t, p.probe.GRPC, "%s: gRPC probe", p.service)
		assert.Equal(t, int32(listen), p.probe.GRPC.Port)
		assert.Equal(t, ptr(p.service), p.probe.GRPC.Service)
	}
}

// checkAggregatorTLS: with tls.enabled no plaintext hop is left. KEDA ->
// aggregator serves the aggregator's certificate (covering its Service's
// name) and requires KEDA's client certificate; aggregator -> agents verifies
// the agents' certificate against the -peers name, which the agents'
// certificate carries, and presents the aggregator's certificate, which is
// also for client auth.
func checkAggregatorTLS(t *testing.T, objs objects, d *appsv1.Deployment, ds *appsv1.DaemonSet, args map[string]string) {
	pod := d.Spec.Template.Spec
	require.Len(t, pod.Volumes, 1)
	vol := pod.Volumes[0]
	require.NotNil(t, vol.Secret)
	assert.Equal(t, d.Name+"-tls", vol.Secret.SecretName)
	assert.Equal(t, ptr(int32(0o440)), vol.Secret.DefaultMode)
	assert.Equal(t, ptr(int64(65532)), pod.SecurityContext.FSGroup)
	c := pod.Containers[0]
	require.Len(t, c.VolumeMounts, 1)
	dir := c.VolumeMounts[0].MountPath
	assert.True(t, c.VolumeMounts[0].ReadOnly)
	assert.Equal(t, map[string]string{
		"tls-cert": dir + "/tls.crt", "tls-key": dir + "/tls.key", "tls-client-ca": dir + "/ca.crt",
		"agents-ca": dir + "/ca.crt", "agents-client-cert": dir + "/tls.crt", "agents-client-key": dir + "/tls.key",
		"agents-server-name": ds.Name + "-peers." + ds.Namespace + ".svc",
	}, map[string]string{
		"tls-cert": args["tls-cert"], "tls-key": args["tls-key"], "tls-client-ca": args["tls-client-ca"],
		"agents-ca": args["agents-ca"], "agents-client-cert": args["agents-client-cert"], "agents-client-key": args["agents-client-key"],
		"agents-server-name": args["agents-server-name"],
	})

	aggCert := named[*certificate](t, objs, d.Namespace, d.Name)
	assert.Equal(t, vol.Secret.SecretName, aggCert.Spec.SecretName)
	assert.Contains(t, aggCert.Spec.DNSNames, d.Name+"."+d.Namespace+".svc.cluster.local", "KEDA's scalerAddress host")
	assert.ElementsMatch(t, []string{"server auth", "client auth"}, aggCert.Spec.Usages)
	agentCert := named[*certificate](t, objs, ds.Namespace, ds.Name)
	assert.Contains(t, agentCert.Spec.DNSNames, args["agents-server-name"], "the agents' certificate carries the name the aggregator verifies")
	assert.Equal(t, aggCert.Spec.IssuerRef, agentCert.Spec.IssuerRef, "one CA: each side verifies the other against ca.crt")

	// The agents require client certificates: their node API is mutual TLS.
	agentArgs := strings.Join(ds.Spec.Template.Spec.Containers[0].Args, " ")
	assert.Contains(t, agentArgs, "--tls-client-ca=")
	assert.Contains(t, agentArgs, "--node-api-listen=")
}

func servicePortNames(s *corev1.Service) []string {
	var names []string
	for _, p := range s.Spec.Ports {
		names = append(names, p.Name)
	}
	return names
}

// checkNoAggregator: without aggregator.enabled nothing of the aggregator
// is rendered.
func checkNoAggregator(t *testing.T, objs objects) {
	assert.Empty(t, all[*appsv1.Deployment](objs))
	assert.Empty(t, all[*rbacv1.ClusterRole](objs))
	assert.Empty(t, all[*rbacv1.ClusterRoleBinding](objs))
	assert.Empty(t, all[*rbacv1.Role](objs))
	assert.Empty(t, all[*rbacv1.RoleBinding](objs))
	assert.Len(t, all[*corev1.ServiceAccount](objs), 1)
	assert.Len(t, all[*corev1.Service](objs), 2)
}

// TestAggregatorWatchNamespace: with aggregator.watchNamespace the chart
// passes --namespace and grants a Role in that namespace instead of a
// ClusterRole; replicas and --allow-cross-namespace come through.
func TestAggregatorWatchNamespace(t *testing.T) {
	t.Parallel()
	flags := binaryFlags(t)
	objs := decodeAll(t, mustRenderHelm(t, map[string]any{"aggregator": map[string]any{
		"watchNamespace": "inference", "allowCrossNamespace": true, "replicas": 2,
	}}, "values-cluster.yaml"))
	ds := only[*appsv1.DaemonSet](t, objs)
	ports := checkArgs(t, ds, flags.serve, false, true)
	checkAggregator(t, objs, ds, ports, flags.aggregate, false)
	d := only[*appsv1.Deployment](t, objs)
	assert.Equal(t, ptr(int32(2)), d.Spec.Replicas)
	args := d.Spec.Template.Spec.Containers[0].Args
	assert.Contains(t, args, "--namespace=inference")
	assert.Contains(t, args, "--allow-cross-namespace=true")
}
