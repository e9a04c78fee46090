// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// helmOnlyLabels are the labels Helm adds that kustomize has no reason to.
var helmOnlyLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by"}

// TestHelmAndKustomizeAgree renders the chart with the values each overlay
// mirrors and requires the same objects, field for field, once Helm's own
// labels are removed.
func TestHelmAndKustomizeAgree(t *testing.T) {
	t.Parallel()
	withNamespace := map[string]any{"namespace": map[string]any{"create": true}}
	for _, tc := range []struct {
		overlay     string
		valuesFiles []string
	}{
		{"overlays/default", nil},
		{"overlays/tls", []string{"values-tls.yaml"}},
		{"overlays/cluster", []string{"values-cluster.yaml"}},
		{"overlays/cluster-tls", []string{"values-cluster.yaml", "values-tls.yaml"}},
		{"overlays/cluster-monitoring", []string{"values-cluster.yaml", "values-monitoring.yaml"}},
		{"overlays/cluster-engine", []string{"values-cluster.yaml", "values-engine.yaml"}},
		{"overlays/cluster-dra", []string{"values-cluster.yaml", "values-dra.yaml"}},
		{"overlays/cluster-engine-dra", []string{"values-cluster.yaml", "values-engine.yaml", "values-dra.yaml"}},
		{"overlays/gpu-operator", []string{"values-gpu-operator.yaml"}},
		{"overlays/gpu-operator-mig", []string{"values-gpu-operator.yaml", "values-mig.yaml"}},
	} {
		t.Run(tc.overlay, func(t *testing.T) {
			t.Parallel()
			docs, err := renderHelmWith(t, withAPIs(prometheusOperatorAPIs...), withNamespace, tc.valuesFiles...)
			require.NoError(t, err)
			helm := decodeAll(t, docs)
			kust := decodeAll(t, renderKustomize(t, tc.overlay))
			for _, o := range helm {
				labels := maps.Clone(o.GetLabels())
				for _, l := range helmOnlyLabels {
					require.Contains(t, labels, l, "%s: Helm's labels", key(o))
					delete(labels, l)
				}
				o.SetLabels(labels)
			}
			require.ElementsMatch(t, slices.Collect(maps.Keys(helm)), slices.Collect(maps.Keys(kust)), "the same objects")
			for k, o := range helm {
				// As YAML, so that a difference reads as a diff of manifests.
				assert.Equal(t, toYAML(t, o), toYAML(t, kust[k]), "%s: Helm (-) and kustomize (+)", k)
			}
		})
	}
}

func toYAML(t testing.TB, o object) string {
	t.Helper()
	b, err := yaml.Marshal(o)
	require.NoError(t, err)
	return string(b)
}

// TestHelmNamespace: by default the chart leaves the namespace to
// `helm install --create-namespace`; namespace.create renders it with the Pod
// Security "restricted" labels, which the agent's pods meet.
func TestHelmNamespace(t *testing.T) {
	t.Parallel()
	assert.Empty(t, all[*corev1.Namespace](decodeAll(t, mustRenderHelm(t, nil))))
	ns := only[*corev1.Namespace](t, decodeAll(t, mustRenderHelm(t, map[string]any{"namespace": map[string]any{"create": true}})))
	assert.Equal(t, releaseNamespace, ns.Name)
	for _, mode := range []string{"enforce", "audit", "warn"} {
		assert.Equal(t, "restricted", ns.Labels["pod-security.kubernetes.io/"+mode])
	}
}

// TestHelmRefuses: values the chart must reject rather than render.
func TestHelmRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		set     map[string]any
		wantErr string
	}{
		{"misspelt key", map[string]any{"grpcPrt": 6001}, "grpcPrt"},
		{"bad log format", map[string]any{"log": map[string]any{"format": "xml"}}, "format"},
		{"misspelt aggregator key", map[string]any{"aggregator": map[string]any{"enable": true}}, "enable"},
		{"no aggregator replica", map[string]any{"aggregator": map[string]any{"enabled": true, "replicas": 0}}, "replicas"},
		{"aggregator ports clash", map[string]any{"aggregator": map[string]any{"enabled": true, "httpPort": 6000}}, "must differ"},
		{"aggregator PDB allowing none", map[string]any{"aggregator": map[string]any{"enabled": true, "podDisruptionBudget": map[string]any{"maxUnavailable": 0}}}, "maxUnavailable"},
		{"aggregator without peers", map[string]any{"aggregator": map[string]any{"enabled": true}, "service": map[string]any{"peers": false}}, "service.peers"},
		{"aggregator in a restricted namespace", map[string]any{"aggregator": map[string]any{"enabled": true}, "namespace": map[string]any{"create": true}}, "namespace.podSecurity=privileged"},
		{"aggregator in a baseline namespace", map[string]any{"aggregator": map[string]any{"enabled": true}, "namespace": map[string]any{"create": true, "podSecurity": "baseline"}}, "namespace.podSecurity=privileged"},
		{"toolkit wait in a restricted namespace", map[string]any{"gpuOperator": map[string]any{"waitForToolkit": true}, "namespace": map[string]any{"create": true}}, "namespace.podSecurity=privileged"},
		{"MIG in a baseline namespace", map[string]any{"migStrategy": "mixed", "namespace": map[string]any{"create": true, "podSecurity": "baseline"}}, "namespace.podSecurity=privileged"},
		{"unknown MIG strategy", map[string]any{"migStrategy": "all"}, "migStrategy"},
		{"misspelt SELinux key", map[string]any{"seLinuxOptions": map[string]any{"typ": "spc_t"}}, "typ"},
		{"relative validations path", map[string]any{"gpuOperator": map[string]any{"validationsHostPath": "run/nvidia"}}, "validationsHostPath"},
		{"DRA without an attribution reader", map[string]any{"attribution": map[string]any{"dra": map[string]any{"enabled": true}}}, "attribution.dra.enabled without aggregator.enabled or engineSignals.pods"},
		{"misspelt DRA key", map[string]any{"attribution": map[string]any{"dra": map[string]any{"enable": true}}}, "enable"},
		{"cert-manager without issuer", map[string]any{"tls": map[string]any{"enabled": true, "certManager": map[string]any{"enabled": true}}}, "issuerRef.name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := renderHelm(t, tc.set)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}
