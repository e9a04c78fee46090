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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// renderings are the chart's and the overlays' renderings under test, named
// after their source. tls says whether the server serves TLS.
type rendering struct {
	name string
	tls  bool
	docs func(t testing.TB) [][]byte
}

var renderings = []rendering{
	{"helm default values", false, func(t testing.TB) [][]byte { return mustRenderHelm(t, nil) }},
	{"helm values-tls.yaml", true, func(t testing.TB) [][]byte { return mustRenderHelm(t, nil, "values-tls.yaml") }},
	{"kustomize overlays/default", false, func(t testing.TB) [][]byte { return renderKustomize(t, "overlays/default") }},
	{"kustomize overlays/tls", true, func(t testing.TB) [][]byte { return renderKustomize(t, "overlays/tls") }},
}

// TestManifests checks every rendering: strict decoding, the DaemonSet's
// security posture, and ports and probes against the binary's flags.
func TestManifests(t *testing.T) {
	t.Parallel()
	flags := binaryFlags(t)
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			objs := decodeAll(t, r.docs(t))
			ds := only[*appsv1.DaemonSet](t, objs)
			checkPod(t, ds)
			checkContainer(t, ds)
			ports := checkArgs(t, ds, flags, r.tls)
			checkProbes(t, ds, ports, r.tls)
			checkServices(t, objs, ds, ports)
			checkNetworkPolicy(t, objs, ds)
			checkServiceAccount(t, objs, ds)
			if r.tls {
				checkTLS(t, objs, ds)
			} else {
				assert.Empty(t, all[*certificate](objs), "a Certificate without TLS")
			}
		})
	}
}

func checkPod(t *testing.T, ds *appsv1.DaemonSet) {
	pod := ds.Spec.Template.Spec
	assert.Equal(t, map[string]string{"nvidia.com/gpu.present": "true"}, pod.NodeSelector)
	assert.Contains(t, pod.Tolerations, corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	assert.False(t, pod.HostNetwork || pod.HostPID || pod.HostIPC, "host namespaces")
	require.NotNil(t, pod.AutomountServiceAccountToken)
	assert.False(t, *pod.AutomountServiceAccountToken, "the agent never calls the API server")
	sc := pod.SecurityContext
	require.NotNil(t, sc)
	assert.Equal(t, ptr(true), sc.RunAsNonRoot)
	assert.Equal(t, ptr(int64(65532)), sc.RunAsUser)
	require.NotNil(t, sc.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)
	for _, v := range pod.Volumes {
		assert.NotNil(t, v.Secret, "volume %q: only the TLS secret is mounted", v.Name)
		assert.Nil(t, v.HostPath, "volume %q: hostPath", v.Name)
	}
	assert.Equal(t, ds.Spec.Selector.MatchLabels, selectorSubset(ds), "selector ⊆ pod labels")
}

// selectorSubset returns the pod template's labels that the selector names.
func selectorSubset(ds *appsv1.DaemonSet) map[string]string {
	out := map[string]string{}
	for k := range ds.Spec.Selector.MatchLabels {
		if v, ok := ds.Spec.Template.Labels[k]; ok {
			out[k] = v
		}
	}
	return out
}

func checkContainer(t *testing.T, ds *appsv1.DaemonSet) {
	require.Len(t, ds.Spec.Template.Spec.Containers, 1)
	require.Empty(t, ds.Spec.Template.Spec.InitContainers)
	c := ds.Spec.Template.Spec.Containers[0]
	assert.True(t, strings.HasPrefix(c.Image, "ghcr.io/nvml-scaler/nvml-scaler:"), "image %q", c.Image)

	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	require.Contains(t, env, "NODE_NAME")
	require.NotNil(t, env["NODE_NAME"].ValueFrom)
	assert.Equal(t, "spec.nodeName", env["NODE_NAME"].ValueFrom.FieldRef.FieldPath)
	assert.Equal(t, "all", env["NVIDIA_VISIBLE_DEVICES"].Value)
	assert.Equal(t, "utility", env["NVIDIA_DRIVER_CAPABILITIES"].Value)

	// No GPU taken from the workloads; small, bounded and measured.
	for name := range c.Resources.Requests {
		assert.False(t, strings.Contains(string(name), "nvidia.com"), "requests %s", name)
	}
	for name := range c.Resources.Limits {
		assert.False(t, strings.Contains(string(name), "nvidia.com"), "limits %s", name)
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	require.False(t, req.Cpu().IsZero() || req.Memory().IsZero(), "cpu and memory requests")
	require.False(t, lim.Memory().IsZero(), "memory limit")
	assert.LessOrEqual(t, req.Memory().Cmp(*lim.Memory()), 0, "memory request ≤ limit")
	if !lim.Cpu().IsZero() {
		assert.LessOrEqual(t, req.Cpu().Cmp(*lim.Cpu()), 0, "cpu request ≤ limit")
	}

	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.Equal(t, ptr(true), sc.RunAsNonRoot)
	assert.Equal(t, ptr(int64(65532)), sc.RunAsUser, "distroless nonroot")
	assert.Equal(t, ptr(true), sc.ReadOnlyRootFilesystem)
	assert.Equal(t, ptr(false), sc.AllowPrivilegeEscalation)
	assert.True(t, sc.Privileged == nil || !*sc.Privileged, "privileged")
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Empty(t, sc.Capabilities.Add)
	require.NotNil(t, sc.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)
}

// listenPorts are the ports serve listens on, from its arguments or, absent
// those, from the binary's defaults.
type listenPorts struct{ grpc, http int }

// checkArgs checks that the container runs `serve` with flags the binary has
// (TLS flags only with TLS) and returns the ports they make it listen on.
func checkArgs(t *testing.T, ds *appsv1.DaemonSet, flags serveFlags, tls bool) listenPorts {
	c := ds.Spec.Template.Spec.Containers[0]
	assert.Empty(t, c.Command, "the image's ENTRYPOINT runs the binary")
	require.NotEmpty(t, c.Args)
	require.Equal(t, "serve", c.Args[0])
	values := map[string]string{"listen": flags["listen"], "http-listen": flags["http-listen"]}
	var tlsArgs []string
	for _, a := range c.Args[1:] {
		name, val, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		require.True(t, strings.HasPrefix(a, "--") && ok, "argument %q: want --flag=value", a)
		if isPlannedTLS(name) {
			tlsArgs = append(tlsArgs, name)
			if _, ok := flags[name]; !ok {
				continue // not in serve --help yet: the hardening issue
			}
		}
		require.Contains(t, flags, name, "argument %q: serve --help has no --%s", a, name)
		values[name] = val
	}
	if tls {
		assert.ElementsMatch(t, plannedTLSFlags, tlsArgs, "TLS flags with TLS")
	} else {
		assert.Empty(t, tlsArgs, "TLS flags without TLS")
	}
	ports := listenPorts{grpc: port(t, values["listen"]), http: port(t, values["http-listen"])}
	assert.Equal(t, []corev1.ContainerPort{
		{Name: "grpc", ContainerPort: int32(ports.grpc), Protocol: corev1.ProtocolTCP},
		{Name: "http", ContainerPort: int32(ports.http), Protocol: corev1.ProtocolTCP},
	}, c.Ports, "containerPorts = serve's --listen and --http-listen")
	return ports
}

func isPlannedTLS(name string) bool {
	for _, f := range plannedTLSFlags {
		if f == name {
			return true
		}
	}
	return false
}

// checkProbes: native gRPC health on the gRPC port ("liveness" always
// SERVING, "readiness" only with fresh data); with TLS, which the kubelet's
// gRPC probe cannot speak, HTTP /healthz and /readyz on the HTTP port.
func checkProbes(t *testing.T, ds *appsv1.DaemonSet, ports listenPorts, tls bool) {
	c := ds.Spec.Template.Spec.Containers[0]
	require.NotNil(t, c.LivenessProbe)
	require.NotNil(t, c.ReadinessProbe)
	assert.Nil(t, c.StartupProbe)
	for _, p := range []struct {
		probe   *corev1.Probe
		service string
		path    string
	}{{c.LivenessProbe, "liveness", "/healthz"}, {c.ReadinessProbe, "readiness", "/readyz"}} {
		assert.Nil(t, p.probe.Exec, "exec probe: the image has no shell")
		assert.Nil(t, p.probe.TCPSocket)
		if tls {
			require.Nil(t, p.probe.GRPC, "gRPC probe against a TLS port")
			require.NotNil(t, p.probe.HTTPGet)
			assert.Equal(t, p.path, p.probe.HTTPGet.Path)
			assert.Equal(t, ports.http, resolvePort(t, c, p.probe.HTTPGet.Port))
			continue
		}
		require.NotNil(t, p.probe.GRPC)
		require.Nil(t, p.probe.HTTPGet)
		assert.Equal(t, int32(ports.grpc), p.probe.GRPC.Port)
		assert.Equal(t, ptr(p.service), p.probe.GRPC.Service)
	}
}

// resolvePort returns the container port a probe's or Service's port names.
func resolvePort(t testing.TB, c corev1.Container, p intstr.IntOrString) int {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	t.Fatalf("port %q is not a container port", p.StrVal)
	return 0
}

func checkServices(t *testing.T, objs objects, ds *appsv1.DaemonSet, ports listenPorts) {
	c := ds.Spec.Template.Spec.Containers[0]
	pod := labels.Set(ds.Spec.Template.Labels)
	svcs := all[*corev1.Service](objs)
	require.Len(t, svcs, 2, "the ClusterIP Service for KEDA and the headless one for peers")
	var clusterIP, headless int
	for _, s := range svcs {
		require.NotEmpty(t, s.Spec.Selector)
		assert.True(t, labels.SelectorFromSet(s.Spec.Selector).Matches(pod), "Service %s selects the agents", s.Name)
		require.Len(t, s.Spec.Ports, 1)
		sp := s.Spec.Ports[0]
		assert.Equal(t, "grpc", sp.Name)
		assert.Equal(t, int32(ports.grpc), sp.Port, "Service %s port = serve --listen", s.Name)
		assert.Equal(t, ports.grpc, resolvePort(t, c, sp.TargetPort))
		assert.Equal(t, ptr("grpc"), sp.AppProtocol)
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			headless++
			assert.True(t, s.Spec.PublishNotReadyAddresses, "peers see agents that are not ready")
			assert.Equal(t, ds.Name+"-peers", s.Name)
		} else {
			clusterIP++
			assert.Equal(t, corev1.ServiceTypeClusterIP, s.Spec.Type)
			assert.Equal(t, ds.Name, s.Name, "the name KEDA's scalerAddress uses")
		}
	}
	assert.Equal(t, 1, clusterIP)
	assert.Equal(t, 1, headless)
}

// checkNetworkPolicy: the gRPC port only from the KEDA operator's namespace,
// nothing else in, nothing out.
func checkNetworkPolicy(t *testing.T, objs objects, ds *appsv1.DaemonSet) {
	np := only[*networkingv1.NetworkPolicy](t, objs)
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	require.NoError(t, err)
	assert.True(t, sel.Matches(labels.Set(ds.Spec.Template.Labels)), "NetworkPolicy selects the agents")
	assert.ElementsMatch(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes)
	assert.Empty(t, np.Spec.Egress, "no egress")
	require.Len(t, np.Spec.Ingress, 1)
	in := np.Spec.Ingress[0]
	grpc := intstr.FromString("grpc")
	tcp := corev1.ProtocolTCP
	assert.Equal(t, []networkingv1.NetworkPolicyPort{{Port: &grpc, Protocol: &tcp}}, in.Ports)
	require.Len(t, in.From, 1)
	require.NotNil(t, in.From[0].NamespaceSelector)
	assert.Nil(t, in.From[0].PodSelector)
	assert.Nil(t, in.From[0].IPBlock)
	assert.Equal(t, map[string]string{"kubernetes.io/metadata.name": "keda"}, in.From[0].NamespaceSelector.MatchLabels)
}

func checkServiceAccount(t *testing.T, objs objects, ds *appsv1.DaemonSet) {
	sa := only[*corev1.ServiceAccount](t, objs)
	assert.Equal(t, sa.Name, ds.Spec.Template.Spec.ServiceAccountName)
	require.NotNil(t, sa.AutomountServiceAccountToken)
	assert.False(t, *sa.AutomountServiceAccountToken)
}

// checkTLS: the Certificate covers the Service's DNS name, its secret is the
// one mounted, and the TLS flags read the mounted files.
func checkTLS(t *testing.T, objs objects, ds *appsv1.DaemonSet) {
	cert := only[*certificate](t, objs)
	assert.Contains(t, cert.Spec.DNSNames, ds.Name+"."+ds.Namespace+".svc.cluster.local", "the scalerAddress host")
	assert.Equal(t, []string{"server auth"}, cert.Spec.Usages)
	assert.NotEmpty(t, cert.Spec.IssuerRef.Name)
	pod := ds.Spec.Template.Spec
	require.Len(t, pod.Volumes, 1)
	require.NotNil(t, pod.Volumes[0].Secret)
	assert.Equal(t, cert.Spec.SecretName, pod.Volumes[0].Secret.SecretName)
	assert.Equal(t, ptr(int32(0o440)), pod.Volumes[0].Secret.DefaultMode, "key readable by owner and group only")
	assert.Equal(t, ptr(int64(65532)), pod.SecurityContext.FSGroup, "the group that may read the key")
	c := pod.Containers[0]
	require.Len(t, c.VolumeMounts, 1)
	m := c.VolumeMounts[0]
	assert.True(t, m.ReadOnly)
	for _, a := range c.Args {
		if name, val, _ := strings.Cut(strings.TrimPrefix(a, "--"), "="); isPlannedTLS(name) {
			assert.True(t, strings.HasPrefix(val, m.MountPath+"/"), "%s reads the mounted secret", a)
		}
	}
}

func ptr[T any](v T) *T { return &v }
