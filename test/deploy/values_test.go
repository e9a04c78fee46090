// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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
