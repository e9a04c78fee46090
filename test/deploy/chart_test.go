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
)

// renderings are the chart's and the overlays' renderings under test, named
// after their source. tls says whether the server serves TLS, cluster whether
// the cluster aggregator is deployed (aggregator.enabled).
type rendering struct {
	name    string
	tls     bool
	cluster bool
	docs    func(t testing.TB) [][]byte
}

var renderings = []rendering{
	{"helm default values", false, false, func(t testing.TB) [][]byte { return mustRenderHelm(t, nil) }},
	{"helm values-tls.yaml", true, false, func(t testing.TB) [][]byte { return mustRenderHelm(t, nil, "values-tls.yaml") }},
	{"helm values-cluster.yaml", false, true, func(t testing.TB) [][]byte { return mustRenderHelm(t, nil, "values-cluster.yaml") }},
	{"kustomize overlays/default", false, false, func(t testing.TB) [][]byte { return renderKustomize(t, "overlays/default") }},
	{"kustomize overlays/tls", true, false, func(t testing.TB) [][]byte { return renderKustomize(t, "overlays/tls") }},
	{"kustomize overlays/cluster", false, true, func(t testing.TB) [][]byte { return renderKustomize(t, "overlays/cluster") }},
}

// TestManifests checks every rendering: strict decoding, the DaemonSet's
// and the aggregator's security posture, the aggregator's RBAC, and ports and
// probes against the binary's flags.
func TestManifests(t *testing.T) {
	t.Parallel()
	flags := binaryFlags(t)
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			objs := decodeAll(t, r.docs(t))
			ds := only[*appsv1.DaemonSet](t, objs)
			checkPod(t, ds, r.cluster)
			checkContainer(t, ds, r.cluster)
			ports := checkArgs(t, ds, flags.serve, r.tls, r.cluster)
			checkProbes(t, ds, ports, r.tls)
			checkServices(t, objs, ds, ports, r.cluster)
			checkNetworkPolicy(t, objs, ds, r.cluster)
			checkServiceAccount(t, objs, ds)
			checkNamespace(t, objs, r.cluster)
			if r.tls {
				checkTLS(t, objs, ds)
			} else {
				assert.Empty(t, all[*certificate](objs), "a Certificate without TLS")
			}
			if r.cluster {
				checkAggregator(t, objs, ds, ports, flags.aggregate)
			} else {
				checkNoAggregator(t, objs)
			}
		})
	}
}

// podResourcesDir is where the agent mounts the kubelet's PodResources
// directory in cluster mode, and kubeletSocket the socket in it.
const (
	podResourcesDir = "/var/lib/kubelet/pod-resources"
	kubeletSocket   = podResourcesDir + "/kubelet.sock"
)

// checkPod: GPU nodes only, no host namespaces, no API token, seccomp. In
// cluster mode the agent runs as uid 0, the owner of the kubelet's socket,
// and mounts the PodResources directory; otherwise it runs as 65532 and
// mounts no host path.
func checkPod(t *testing.T, ds *appsv1.DaemonSet, cluster bool) {
	pod := ds.Spec.Template.Spec
	assert.Equal(t, map[string]string{"nvidia.com/gpu.present": "true"}, pod.NodeSelector)
	assert.Contains(t, pod.Tolerations, corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	assert.False(t, pod.HostNetwork || pod.HostPID || pod.HostIPC, "host namespaces")
	require.NotNil(t, pod.AutomountServiceAccountToken)
	assert.False(t, *pod.AutomountServiceAccountToken, "the agent never calls the API server")
	sc := pod.SecurityContext
	require.NotNil(t, sc)
	uid, nonRoot := agentUser(cluster)
	assert.Equal(t, ptr(nonRoot), sc.RunAsNonRoot)
	assert.Equal(t, ptr(uid), sc.RunAsUser)
	assert.Equal(t, ptr(int64(65532)), sc.RunAsGroup, "no root group, even as uid 0")
	require.NotNil(t, sc.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)
	var hostPaths []corev1.Volume
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPaths = append(hostPaths, v)
			continue
		}
		assert.NotNil(t, v.Secret, "volume %q: only the TLS secret and, in cluster mode, the PodResources directory", v.Name)
	}
	if cluster {
		require.Len(t, hostPaths, 1, "the kubelet's PodResources directory, and no other host path")
		dir := corev1.HostPathDirectory
		assert.Equal(t, corev1.HostPathVolumeSource{Path: podResourcesDir, Type: &dir}, *hostPaths[0].HostPath)
	} else {
		assert.Empty(t, hostPaths, "hostPath without the aggregator")
	}
	assert.Equal(t, ds.Spec.Selector.MatchLabels, selectorSubset(ds), "selector ⊆ pod labels")
}

// agentUser is the agent's uid and runAsNonRoot: 65532 and true, or in
// cluster mode 0 and false (docs/deploy.md, "Cluster mode").
func agentUser(cluster bool) (uid int64, nonRoot bool) {
	if cluster {
		return 0, false
	}
	return 65532, true
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

func checkContainer(t *testing.T, ds *appsv1.DaemonSet, cluster bool) {
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
	checkResources(t, c)
	uid, nonRoot := agentUser(cluster)
	checkContainerSecurity(t, c, uid, nonRoot)

	var mounts []corev1.VolumeMount
	for _, m := range c.VolumeMounts {
		assert.True(t, m.ReadOnly, "volume mount %s is read-only", m.MountPath)
		if m.Name == "pod-resources" {
			mounts = append(mounts, m)
		}
	}
	if cluster {
		require.Len(t, mounts, 1)
		assert.Equal(t, podResourcesDir, mounts[0].MountPath)
		assert.Empty(t, mounts[0].SubPath)
	} else {
		assert.Empty(t, mounts)
	}
}

// checkResources: requests for cpu and memory, a memory limit, and no
// request above its limit.
func checkResources(t *testing.T, c corev1.Container) {
	req, lim := c.Resources.Requests, c.Resources.Limits
	require.False(t, req.Cpu().IsZero() || req.Memory().IsZero(), "cpu and memory requests")
	require.False(t, lim.Memory().IsZero(), "memory limit")
	assert.LessOrEqual(t, req.Memory().Cmp(*lim.Memory()), 0, "memory request ≤ limit")
	if !lim.Cpu().IsZero() {
		assert.LessOrEqual(t, req.Cpu().Cmp(*lim.Cpu()), 0, "cpu request ≤ limit")
	}
}

// checkContainerSecurity: the container runs as uid with every capability
// dropped, a read-only root, no privilege escalation, not privileged, under
// seccomp RuntimeDefault.
func checkContainerSecurity(t *testing.T, c corev1.Container, uid int64, nonRoot bool) {
	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.Equal(t, ptr(nonRoot), sc.RunAsNonRoot)
	assert.Equal(t, ptr(uid), sc.RunAsUser)
	assert.Equal(t, ptr(int64(65532)), sc.RunAsGroup)
	assert.Equal(t, ptr(true), sc.ReadOnlyRootFilesystem)
	assert.Equal(t, ptr(false), sc.AllowPrivilegeEscalation)
	assert.True(t, sc.Privileged == nil || !*sc.Privileged, "privileged")
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Empty(t, sc.Capabilities.Add)
	require.NotNil(t, sc.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)
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
		if name, val, _ := strings.Cut(strings.TrimPrefix(a, "--"), "="); slices.Contains(plannedTLSFlags, name) {
			assert.True(t, strings.HasPrefix(val, m.MountPath+"/"), "%s reads the mounted secret", a)
		}
	}
}

func ptr[T any](v T) *T { return &v }
