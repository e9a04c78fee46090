// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"maps"
	"slices"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// TestMonitoringObjects: off by default; with the values, a PodMonitor per
// component scraping the http port the pods expose and a PrometheusRule
// whose groups follow the aggregator; kustomize's components render the
// same objects (TestHelmAndKustomizeAgree covers overlays/cluster-monitoring).
func TestMonitoringObjects(t *testing.T) {
	t.Parallel()
	none := decodeAll(t, mustRenderHelm(t, nil))
	assert.Empty(t, all[*monitoringv1.PodMonitor](none))
	assert.Empty(t, all[*monitoringv1.PrometheusRule](none))

	for _, tc := range []struct {
		name    string
		files   []string
		cluster bool
	}{
		{"agents", []string{"values-monitoring.yaml"}, false},
		{"cluster", []string{"values-cluster.yaml", "values-monitoring.yaml"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			docs, err := renderHelmWith(t, withAPIs(prometheusOperatorAPIs...), nil, tc.files...)
			require.NoError(t, err)
			objs := decodeAll(t, docs)
			var pods []corev1.PodTemplateSpec
			pods = append(pods, only[*appsv1.DaemonSet](t, objs).Spec.Template)
			if tc.cluster {
				pods = append(pods, only[*appsv1.Deployment](t, objs).Spec.Template)
			}
			pms := all[*monitoringv1.PodMonitor](objs)
			require.Len(t, pms, len(pods), "one PodMonitor per component")
			for _, pod := range pods {
				var pm *monitoringv1.PodMonitor
				for _, p := range pms {
					if selects(t, &p.Spec.Selector, labels.Set(pod.Labels)) {
						require.Nil(t, pm, "one PodMonitor selects the pods %v", pod.Labels)
						pm = p
					}
				}
				require.NotNil(t, pm, "a PodMonitor selects %v", pod.Labels)
				require.Len(t, pm.Spec.PodMetricsEndpoints, 1)
				ep := pm.Spec.PodMetricsEndpoints[0]
				require.NotNil(t, ep.Port)
				assert.Contains(t, portNames(pod.Spec.Containers[0]), *ep.Port, "the scraped port exists")
				assert.Equal(t, "/metrics", ep.Path)
			}
			rule := only[*monitoringv1.PrometheusRule](t, objs)
			var groups []string
			for _, g := range rule.Spec.Groups {
				groups = append(groups, g.Name)
				for _, r := range g.Rules {
					assert.NotEmpty(t, r.Alert)
					assert.NotEmpty(t, r.Expr.String(), r.Alert)
					assert.Contains(t, []string{"warning", "critical"}, r.Labels["severity"], r.Alert)
					assert.NotEmpty(t, r.Annotations["summary"], r.Alert)
				}
			}
			want := []string{"nvml-scaler-agent"}
			if tc.cluster {
				want = append(want, "nvml-scaler-aggregator")
			}
			assert.Equal(t, want, groups)
		})
	}
}

// TestMonitoringNeedsTheCRDs: enabled without the monitoring.coreos.com/v1
// API, the chart refuses and says how to proceed.
func TestMonitoringNeedsTheCRDs(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"podMonitor", "prometheusRule"} {
		_, err := renderHelm(t, map[string]any{"monitoring": map[string]any{kind: map[string]any{"enabled": true}}})
		require.Error(t, err, kind)
		assert.Contains(t, err.Error(), "install the Prometheus Operator's CRDs")
		assert.Contains(t, err.Error(), "--api-versions monitoring.coreos.com/v1/")
	}
}

func portNames(c corev1.Container) []string {
	names := map[string]bool{}
	for _, p := range c.Ports {
		names[p.Name] = true
	}
	return slices.Sorted(maps.Keys(names))
}
