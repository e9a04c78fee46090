// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
)

// TestHelmPodValues: values that only reach the agents' pod spec, each
// rendered on its own and checked where it lands.
func TestHelmPodValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		set   map[string]any
		check func(t *testing.T, pod corev1.PodSpec)
	}{
		{"seLinuxOptions", map[string]any{"seLinuxOptions": map[string]any{"type": "spc_t", "level": "s0"}}, func(t *testing.T, pod corev1.PodSpec) {
			assert.Equal(t, &corev1.SELinuxOptions{Type: "spc_t", Level: "s0"}, pod.SecurityContext.SELinuxOptions)
		}},
		{"no seLinuxOptions by default", nil, func(t *testing.T, pod corev1.PodSpec) {
			assert.Nil(t, pod.SecurityContext.SELinuxOptions)
		}},
		{"runtimeClassName alone", map[string]any{"runtimeClassName": "nvidia"}, func(t *testing.T, pod corev1.PodSpec) {
			assert.Equal(t, ptr("nvidia"), pod.RuntimeClassName)
			assert.Empty(t, pod.InitContainers)
		}},
		{"priorityClassName", map[string]any{"priorityClassName": "gpu-critical"}, func(t *testing.T, pod corev1.PodSpec) {
			assert.Equal(t, "gpu-critical", pod.PriorityClassName)
		}},
		{"nodeSelector merged with the deploy.client label", map[string]any{
			"nodeSelector": map[string]any{"pool": "inference"},
			"gpuOperator":  map[string]any{"deployClientLabel": true},
		}, func(t *testing.T, pod corev1.PodSpec) {
			assert.Equal(t, map[string]string{"pool": "inference", "nvidia.com/gpu.deploy.client": "true"}, pod.NodeSelector)
			assert.Empty(t, pod.InitContainers, "the label alone adds no init container")
		}},
		{"migStrategy single", map[string]any{"migStrategy": "single"}, func(t *testing.T, pod corev1.PodSpec) {
			c := pod.Containers[0]
			assert.Contains(t, c.Env, corev1.EnvVar{Name: "NVIDIA_MIG_MONITOR_DEVICES", Value: "all"})
			assert.Equal(t, []corev1.Capability{"SYS_ADMIN"}, c.SecurityContext.Capabilities.Add)
		}},
		{"validationsHostPath", map[string]any{"gpuOperator": map[string]any{"waitForToolkit": true, "validationsHostPath": "/var/run/nvidia/validations"}}, func(t *testing.T, pod corev1.PodSpec) {
			assert.Equal(t, "/var/run/nvidia/validations", pod.Volumes[0].HostPath.Path)
			assert.Equal(t, validationsDir, pod.InitContainers[0].VolumeMounts[0].MountPath, "mounted where the agent looks")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ds := only[*appsv1.DaemonSet](t, decodeAll(t, mustRenderHelm(t, tc.set)))
			tc.check(t, ds.Spec.Template.Spec)
		})
	}
}

// TestHelmAggregatorValues: the aggregator's HA values, each on its own.
func TestHelmAggregatorValues(t *testing.T) {
	t.Parallel()
	on := func(extra map[string]any) map[string]any {
		a := map[string]any{"enabled": true}
		for k, v := range extra {
			a[k] = v
		}
		return map[string]any{"aggregator": a}
	}
	objs := decodeAll(t, mustRenderHelm(t, on(map[string]any{"podDisruptionBudget": map[string]any{"enabled": false}})))
	assert.Empty(t, all[*policyv1.PodDisruptionBudget](objs), "podDisruptionBudget.enabled=false")

	custom := map[string]any{"nodeAffinity": map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
		"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{map[string]any{"key": "pool", "operator": "In", "values": []any{"system"}}}}}}}}
	d := only[*appsv1.Deployment](t, decodeAll(t, mustRenderHelm(t, on(map[string]any{"affinity": custom, "replicas": 3, "priorityClassName": "system-cluster-critical"}))))
	pod := d.Spec.Template.Spec
	assert.Nil(t, pod.Affinity.PodAntiAffinity, "a set affinity replaces the default anti-affinity")
	assert.NotNil(t, pod.Affinity.NodeAffinity)
	assert.Equal(t, ptr(int32(3)), d.Spec.Replicas)
	assert.Equal(t, "system-cluster-critical", pod.PriorityClassName)
}

// TestHelmNetworkAndMonitoringValues: the remaining values, each where it lands.
func TestHelmNetworkAndMonitoringValues(t *testing.T) {
	t.Parallel()
	cluster := map[string]any{"enabled": true}

	// kedaPodSelector null: the whole KEDA namespace, on both policies.
	objs := decodeAll(t, mustRenderHelm(t, map[string]any{"aggregator": cluster,
		"networkPolicy": map[string]any{"kedaPodSelector": nil}}))
	for _, np := range all[*networkingv1.NetworkPolicy](objs) {
		from := np.Spec.Ingress[0].From
		assert.Len(t, from, 1, np.Name)
		assert.Nil(t, from[0].PodSelector, "%s: kedaPodSelector null admits the namespace", np.Name)
		assert.NotNil(t, from[0].NamespaceSelector, np.Name)
	}

	// aggregator.httpPort and aggregator.tls.secretName.
	objs = decodeAll(t, mustRenderHelm(t, map[string]any{
		"aggregator": map[string]any{"enabled": true, "httpPort": 9090, "tls": map[string]any{"secretName": "agg-cert"}},
		"tls":        map[string]any{"enabled": true, "secretName": "agent-cert"},
	}))
	d := only[*appsv1.Deployment](t, objs)
	c := d.Spec.Template.Spec.Containers[0]
	assert.Contains(t, c.Args, "--http-listen=:9090")
	assert.Contains(t, c.Ports, corev1.ContainerPort{Name: "http", ContainerPort: 9090, Protocol: corev1.ProtocolTCP})
	assert.Equal(t, "agg-cert", d.Spec.Template.Spec.Volumes[0].Secret.SecretName)
	assert.Empty(t, all[*certificate](objs), "no cert-manager: the secrets are the user's")

	// monitoring's interval and labels.
	docs, err := renderHelmWith(t, withAPIs(prometheusOperatorAPIs...), map[string]any{"aggregator": cluster, "monitoring": map[string]any{
		"podMonitor":     map[string]any{"enabled": true, "interval": "15s", "labels": map[string]any{"release": "kube-prometheus-stack"}},
		"prometheusRule": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}},
	}})
	require.NoError(t, err)
	objs = decodeAll(t, docs)
	pms := all[*monitoringv1.PodMonitor](objs)
	require.Len(t, pms, 2)
	for _, pm := range pms {
		assert.Equal(t, "kube-prometheus-stack", pm.Labels["release"], pm.Name)
		assert.Equal(t, monitoringv1.Duration("15s"), pm.Spec.PodMetricsEndpoints[0].Interval, pm.Name)
	}
	assert.Equal(t, "kube-prometheus-stack", only[*monitoringv1.PrometheusRule](t, objs).Labels["release"])
}
