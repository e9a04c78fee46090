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
// the cluster aggregator is deployed (aggregator.enabled), gpuOperator
// whether the GPU-operator hooks are on (runtimeClassName nvidia,
// gpuOperator.deployClientLabel and waitForToolkit), mig whether
// migStrategy is single or mixed.
type rendering struct {
	name string
	mode
	docs func(t testing.TB) [][]byte
}

// mode is what a rendering turns on.
type mode struct {
	tls, cluster, gpuOperator, mig bool
}

// privileged says whether the agents then need Pod Security "privileged":
// a hostPath (cluster mode, the toolkit wait) or CAP_SYS_ADMIN (MIG).
func (m mode) privileged() bool { return m.cluster || m.gpuOperator || m.mig }

var renderings = []rendering{
	{"helm default values", mode{}, func(t testing.TB) [][]byte { return mustRenderHelm(t, nil) }},
	{"helm values-tls.yaml", mode{tls: true}, func(t testing.TB) [][]byte { return mustRenderHelm(t, nil, "values-tls.yaml") }},
	{"helm values-cluster.yaml", mode{cluster: true}, func(t testing.TB) [][]byte { return mustRenderHelm(t, nil, "values-cluster.yaml") }},
	{"helm values-gpu-operator.yaml", mode{gpuOperator: true}, func(t testing.TB) [][]byte { return mustRenderHelm(t, nil, "values-gpu-operator.yaml") }},
	{"helm values-gpu-operator.yaml values-mig.yaml", mode{gpuOperator: true, mig: true}, func(t testing.TB) [][]byte {
		return mustRenderHelm(t, nil, "values-gpu-operator.yaml", "values-mig.yaml")
	}},
	{"helm values-cluster.yaml values-gpu-operator.yaml values-mig.yaml", mode{cluster: true, gpuOperator: true, mig: true}, func(t testing.TB) [][]byte {
		return mustRenderHelm(t, nil, "values-cluster.yaml", "values-gpu-operator.yaml", "values-mig.yaml")
	}},
	{"helm values-cluster.yaml values-tls.yaml", mode{tls: true, cluster: true}, func(t testing.TB) [][]byte {
		return mustRenderHelm(t, nil, "values-cluster.yaml", "values-tls.yaml")
	}},
	{"kustomize overlays/default", mode{}, func(t testing.TB) [][]byte { return renderKustomize(t, "overlays/default") }},
	{"kustomize overlays/tls", mode{tls: true}, func(t testing.TB) [][]byte { return renderKustomize(t, "overlays/tls") }},
	{"kustomize overlays/cluster", mode{cluster: true}, func(t testing.TB) [][]byte { return renderKustomize(t, "overlays/cluster") }},
	{"kustomize overlays/cluster-tls", mode{tls: true, cluster: true}, func(t testing.TB) [][]byte { return renderKustomize(t, "overlays/cluster-tls") }},
	{"kustomize overlays/gpu-operator", mode{gpuOperator: true}, func(t testing.TB) [][]byte { return renderKustomize(t, "overlays/gpu-operator") }},
	{"kustomize overlays/gpu-operator-mig", mode{gpuOperator: true, mig: true}, func(t testing.TB) [][]byte { return renderKustomize(t, "overlays/gpu-operator-mig") }},
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
			checkPod(t, ds, r.mode)
			checkScheduling(t, ds, r.mode)
			checkContainer(t, ds, r.mode)
			checkToolkitWait(t, ds, r.mode)
			ports := checkArgs(t, ds, flags.serve, r.tls, r.cluster)
			checkProbes(t, ds, ports, r.tls)
			checkServices(t, objs, ds, ports, r.cluster)
			checkNetworkPolicy(t, objs, ds, r.cluster)
			checkServiceAccount(t, objs, ds)
			checkNamespace(t, objs, r.privileged())
			if r.tls {
				checkTLS(t, objs, ds)
			} else {
				assert.Empty(t, all[*certificate](objs), "a Certificate without TLS")
			}
			if r.cluster {
				checkAggregator(t, objs, ds, ports, flags.aggregate, r.tls)
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

// checkPod: no host namespaces, no API token, seccomp. In cluster mode the
// agent runs as uid 0, the owner of the kubelet's socket, and mounts the
// PodResources directory; with the toolkit wait it mounts the GPU
// operator's validations directory; otherwise it runs as 65532 and mounts no
// host path.
func checkPod(t *testing.T, ds *appsv1.DaemonSet, m mode) {
	pod := ds.Spec.Template.Spec
	assert.False(t, pod.HostNetwork || pod.HostPID || pod.HostIPC, "host namespaces")
	require.NotNil(t, pod.AutomountServiceAccountToken)
	assert.False(t, *pod.AutomountServiceAccountToken, "the agent never calls the API server")
	sc := pod.SecurityContext
	require.NotNil(t, sc)
	uid, nonRoot := agentUser(m.cluster)
	assert.Equal(t, ptr(nonRoot), sc.RunAsNonRoot)
	assert.Equal(t, ptr(uid), sc.RunAsUser)
	assert.Equal(t, ptr(int64(65532)), sc.RunAsGroup, "no root group, even as uid 0")
	require.NotNil(t, sc.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)
	hostPaths := map[string]corev1.HostPathVolumeSource{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = *v.HostPath
			continue
		}
		assert.NotNil(t, v.Secret, "volume %q: only the TLS secret and host paths", v.Name)
	}
	want := map[string]corev1.HostPathVolumeSource{}
	if m.cluster {
		want["pod-resources"] = corev1.HostPathVolumeSource{Path: podResourcesDir, Type: ptr(corev1.HostPathDirectory)}
	}
	if m.gpuOperator {
		want["run-nvidia-validations"] = corev1.HostPathVolumeSource{Path: validationsDir, Type: ptr(corev1.HostPathDirectoryOrCreate)}
	}
	assert.Equal(t, want, hostPaths, "host paths: the kubelet's PodResources directory in cluster mode, the operator's validations with the toolkit wait, and no other")
	assert.Equal(t, ds.Spec.Selector.MatchLabels, selectorSubset(ds), "selector ⊆ pod labels")
}

// validationsDir is where the GPU operator's validator writes toolkit-ready
// on the host (its operands mount it at the same path).
const validationsDir = "/run/nvidia/validations"

// gpuNodeTerms are the node affinity's ORed terms: NVIDIA's device plugin
// chart's three (NFD's PCI vendor 10de, NFD's CPU vendor on Tegra,
// nvidia.com/gpu.present) and GPU feature discovery's nvidia.com/gpu.count.
var gpuNodeTerms = []corev1.NodeSelectorTerm{
	{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "feature.node.kubernetes.io/pci-10de.present", Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}}}},
	{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "feature.node.kubernetes.io/cpu-model.vendor_id", Operator: corev1.NodeSelectorOpIn, Values: []string{"NVIDIA"}}}},
	{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "nvidia.com/gpu.present", Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}}}},
	{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "nvidia.com/gpu.count", Operator: corev1.NodeSelectorOpExists}}},
}

// checkScheduling: GPU nodes by the ORed affinity, the GPU taint tolerated,
// system-node-critical, and with the GPU-operator hooks the operator's
// RuntimeClass and its deploy.client label in the node selector.
func checkScheduling(t *testing.T, ds *appsv1.DaemonSet, m mode) {
	pod := ds.Spec.Template.Spec
	require.NotNil(t, pod.Affinity)
	require.NotNil(t, pod.Affinity.NodeAffinity)
	req := pod.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	require.NotNil(t, req)
	assert.Equal(t, gpuNodeTerms, req.NodeSelectorTerms)
	assert.Contains(t, pod.Tolerations, corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	assert.Equal(t, "system-node-critical", pod.PriorityClassName)
	if m.gpuOperator {
		assert.Equal(t, map[string]string{"nvidia.com/gpu.deploy.client": "true"}, pod.NodeSelector)
		assert.Equal(t, ptr("nvidia"), pod.RuntimeClassName)
	} else {
		assert.Empty(t, pod.NodeSelector, "no label the GPU operator alone sets")
		assert.Nil(t, pod.RuntimeClassName)
	}
}

// checkToolkitWait: with the GPU-operator hooks one init container, the
// agent's image and posture, runs `wait-file` on the validator's
// toolkit-ready through a read-only mount of the validations directory;
// otherwise none.
func checkToolkitWait(t *testing.T, ds *appsv1.DaemonSet, m mode) {
	pod := ds.Spec.Template.Spec
	if !m.gpuOperator {
		assert.Empty(t, pod.InitContainers)
		return
	}
	require.Len(t, pod.InitContainers, 1)
	ic := pod.InitContainers[0]
	assert.Equal(t, pod.Containers[0].Image, ic.Image)
	assert.Empty(t, ic.Command, "the image's ENTRYPOINT, the agent's binary")
	assert.Equal(t, []string{"wait-file", "--interval=5s", validationsDir + "/toolkit-ready"}, ic.Args)
	require.Len(t, ic.VolumeMounts, 1)
	mp := corev1.MountPropagationHostToContainer
	assert.Equal(t, corev1.VolumeMount{Name: "run-nvidia-validations", MountPath: validationsDir, ReadOnly: true, MountPropagation: &mp}, ic.VolumeMounts[0])
	checkResources(t, ic)
	uid, nonRoot := agentUser(m.cluster)
	checkContainerSecurity(t, ic, uid, nonRoot, nil)
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

func checkContainer(t *testing.T, ds *appsv1.DaemonSet, m mode) {
	cluster := m.cluster
	require.Len(t, ds.Spec.Template.Spec.Containers, 1)
	c := ds.Spec.Template.Spec.Containers[0]
	assert.True(t, strings.HasPrefix(c.Image, "ghcr.io/nvml-scaler/nvml-scaler:"), "image %q", c.Image)
	assert.Empty(t, c.Command, "the image's ENTRYPOINT, /nvml-scaler: the agent's build")

	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	require.Contains(t, env, "NODE_NAME")
	require.NotNil(t, env["NODE_NAME"].ValueFrom)
	assert.Equal(t, "spec.nodeName", env["NODE_NAME"].ValueFrom.FieldRef.FieldPath)
	assert.Equal(t, "all", env["NVIDIA_VISIBLE_DEVICES"].Value)
	assert.Equal(t, "utility", env["NVIDIA_DRIVER_CAPABILITIES"].Value)
	var addCaps []corev1.Capability
	if m.mig {
		// The device plugin chart's MIG setting: the NVIDIA hook honours
		// the variable only with CAP_SYS_ADMIN in the bounding set.
		assert.Equal(t, corev1.EnvVar{Name: "NVIDIA_MIG_MONITOR_DEVICES", Value: "all"}, env["NVIDIA_MIG_MONITOR_DEVICES"])
		addCaps = []corev1.Capability{"SYS_ADMIN"}
	} else {
		assert.NotContains(t, env, "NVIDIA_MIG_MONITOR_DEVICES")
	}

	// No GPU taken from the workloads; small, bounded and measured.
	for name := range c.Resources.Requests {
		assert.NotContains(t, string(name), "nvidia.com", "requests %s", name)
	}
	for name := range c.Resources.Limits {
		assert.NotContains(t, string(name), "nvidia.com", "limits %s", name)
	}
	checkResources(t, c)
	uid, nonRoot := agentUser(cluster)
	checkContainerSecurity(t, c, uid, nonRoot, addCaps)

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
// dropped but add, a read-only root, no privilege escalation, not
// privileged, under seccomp RuntimeDefault.
func checkContainerSecurity(t *testing.T, c corev1.Container, uid int64, nonRoot bool, add []corev1.Capability) {
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
	assert.Equal(t, add, sc.Capabilities.Add)
	require.NotNil(t, sc.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)
}

// checkTLS: the Certificate covers the Service's DNS name, its secret is the
// one mounted, and the TLS flags read the mounted files.
func checkTLS(t *testing.T, objs objects, ds *appsv1.DaemonSet) {
	cert := named[*certificate](t, objs, ds.Namespace, ds.Name)
	assert.Contains(t, cert.Spec.DNSNames, ds.Name+"."+ds.Namespace+".svc.cluster.local", "the scalerAddress host")
	assert.Equal(t, []string{"server auth"}, cert.Spec.Usages)
	assert.NotEmpty(t, cert.Spec.IssuerRef.Name)
	pod := ds.Spec.Template.Spec
	var secrets []corev1.Volume
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			secrets = append(secrets, v)
		}
	}
	require.Len(t, secrets, 1)
	assert.Equal(t, cert.Spec.SecretName, secrets[0].Secret.SecretName)
	assert.Equal(t, ptr(int32(0o440)), secrets[0].Secret.DefaultMode, "key readable by owner and group only")
	assert.Equal(t, ptr(int64(65532)), pod.SecurityContext.FSGroup, "the group that may read the key")
	c := pod.Containers[0]
	var m corev1.VolumeMount
	for _, vm := range c.VolumeMounts {
		if vm.Name == secrets[0].Name {
			m = vm
		}
	}
	require.NotEmpty(t, m.MountPath, "the secret is mounted")
	assert.True(t, m.ReadOnly)
	for _, a := range c.Args {
		if name, val, _ := strings.Cut(strings.TrimPrefix(a, "--"), "="); slices.Contains(plannedTLSFlags, name) {
			assert.True(t, strings.HasPrefix(val, m.MountPath+"/"), "%s reads the mounted secret", a)
		}
	}
}

func ptr[T any](v T) *T { return &v }
