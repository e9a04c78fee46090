// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/enginetrigger"
)

// TestMain sets controller-runtime's logger before any test: KEDA's webhook
// code logs through it, and it complains on stderr when none was ever set.
func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

// kedaObjects are the KEDA objects of one example file.
type kedaObjects struct {
	scaledObjects []*kedav1alpha1.ScaledObject
	triggerAuths  map[string]*kedav1alpha1.TriggerAuthentication // by namespace/name
}

// decodeKEDA decodes every document of an example strictly into KEDA's
// v1alpha1 types; any other kind is an error.
func decodeKEDA(data []byte) (*kedaObjects, error) {
	out := &kedaObjects{triggerAuths: map[string]*kedav1alpha1.TriggerAuthentication{}}
	for i, doc := range splitYAML(data) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if tm.APIVersion != kedav1alpha1.GroupVersion.String() {
			return nil, fmt.Errorf("document %d: apiVersion %q: want %s", i, tm.APIVersion, kedav1alpha1.GroupVersion)
		}
		switch tm.Kind {
		case "ScaledObject":
			so := &kedav1alpha1.ScaledObject{}
			if err := strictUnmarshal(doc, so); err != nil {
				return nil, fmt.Errorf("document %d: ScaledObject: %w", i, err)
			}
			out.scaledObjects = append(out.scaledObjects, so)
		case "TriggerAuthentication":
			ta := &kedav1alpha1.TriggerAuthentication{}
			if err := strictUnmarshal(doc, ta); err != nil {
				return nil, fmt.Errorf("document %d: TriggerAuthentication: %w", i, err)
			}
			out.triggerAuths[ta.Namespace+"/"+ta.Name] = ta
		default:
			return nil, fmt.Errorf("document %d: kind %q: want ScaledObject or TriggerAuthentication", i, tm.Kind)
		}
	}
	return out, nil
}

// validateScaledObject runs what KEDA's admission webhook runs
// (scaledobject_webhook.go validateWorkload) that needs no cluster:
// ValidateTriggers, CheckReplicaCountBoundsAreValid, CheckFallbackValid,
// ValidateAndCompileScalingModifiers and verifyName's length limit, plus the
// CRD schema's enum on a trigger's metricType. verifyHpas,
// verifyScaledObjects and verifyCPUMemoryScalers read the cluster.
func validateScaledObject(so *kedav1alpha1.ScaledObject) error {
	if so.Spec.ScaleTargetRef == nil || so.Spec.ScaleTargetRef.Name == "" {
		return fmt.Errorf("scaleTargetRef.name is required")
	}
	if err := kedav1alpha1.ValidateTriggers(so.Spec.Triggers); err != nil {
		return err
	}
	if err := kedav1alpha1.CheckReplicaCountBoundsAreValid(so); err != nil {
		return err
	}
	if err := kedav1alpha1.CheckFallbackValid(so); err != nil {
		return err
	}
	if so.IsUsingModifiers() {
		if _, err := kedav1alpha1.ValidateAndCompileScalingModifiers(so); err != nil {
			return err
		}
	}
	if len(so.Name) > 63 {
		return fmt.Errorf("name %q: more than 63 characters", so.Name)
	}
	for _, tr := range so.Spec.Triggers {
		switch tr.MetricType {
		case "", autoscalingv2.AverageValueMetricType, autoscalingv2.ValueMetricType:
		case autoscalingv2.UtilizationMetricType:
			if tr.Type != "cpu" && tr.Type != "memory" {
				return fmt.Errorf("trigger %q: metricType Utilization is for cpu and memory only", tr.Name)
			}
		default:
			return fmt.Errorf("trigger %q: metricType %q", tr.Name, tr.MetricType)
		}
	}
	return nil
}

// The hosts the examples' scalerAddress may name, for the release the
// kustomize base mirrors: the aggregator's Service (cluster mode, every
// example's default) and the agents' ClusterIP Service (only in
// singleNodeExample, the labelled single-node variant).
const (
	aggregatorHost    = releaseName + "-aggregator." + releaseNamespace + ".svc.cluster.local"
	agentHost         = releaseName + "." + releaseNamespace + ".svc.cluster.local"
	singleNodeExample = "single-node-scaledobject.yaml"
	// engineExample's queue trigger reads --engine-target endpoints, which
	// only the agents serve.
	engineExample = "vllm-queue-and-gpu.yaml"
)

// ourTriggers returns the triggers of so that point at nvml-scaler.
func ourTriggers(so *kedav1alpha1.ScaledObject) []kedav1alpha1.ScaleTriggers {
	var out []kedav1alpha1.ScaleTriggers
	for _, tr := range so.Spec.Triggers {
		if host, _, err := net.SplitHostPort(tr.Metadata["scalerAddress"]); err == nil && (host == aggregatorHost || host == agentHost) {
			out = append(out, tr)
		}
	}
	return out
}

// checkOurTrigger checks one nvml-scaler trigger against the scaler's parser,
// the chart's Service and port, and the HPA arithmetic (docs/design.md): sum goes
// with AverageValue (the HPA divides by the replica count), avg/max/min with
// Value (the HPA multiplies by it).
func checkOurTrigger(t *testing.T, ex *kedaObjects, so *kedav1alpha1.ScaledObject, tr kedav1alpha1.ScaleTriggers, want scalerAddr) {
	assert.Contains(t, []string{"external", "external-push"}, tr.Type)
	host, p, err := net.SplitHostPort(tr.Metadata["scalerAddress"])
	require.NoError(t, err)
	assert.Equal(t, want.host, host, "scalerAddress: the chart's Service")
	assert.Equal(t, strconv.Itoa(want.port), p, "scalerAddress: the Service's gRPC port")

	if enginetrigger.Serves(tr.Metadata) {
		et, err := enginetrigger.Parse(tr.Metadata)
		require.NoError(t, err, "enginetrigger.Parse(%v)", tr.Metadata)
		// A fleet total (sum of a queue, a rate) goes with AverageValue; a
		// latency or an average with Value, as for GPUs.
		agg := scaler.AggAvg
		if et.Aggregation == engine.Sum && et.Metric.Info().Kind != engine.KindLatency {
			agg = scaler.AggSum
		}
		assert.NoError(t, pairingErr(tr, agg))
	} else {
		parsed, err := scaler.ParseTrigger(tr.Metadata)
		require.NoError(t, err, "scaler.ParseTrigger(%v)", tr.Metadata)
		assert.NoError(t, pairingErr(tr, parsed.Aggregation))
	}

	if tr.Metadata["enableTLS"] == "true" {
		require.NotNil(t, tr.AuthenticationRef, "trigger %q: TLS needs a TriggerAuthentication", tr.Name)
		ta, ok := ex.triggerAuths[so.Namespace+"/"+tr.AuthenticationRef.Name]
		require.True(t, ok, "trigger %q: TriggerAuthentication %q in the same file and namespace", tr.Name, tr.AuthenticationRef.Name)
		var params []string
		for _, ref := range ta.Spec.SecretTargetRef {
			params = append(params, ref.Parameter)
		}
		assert.ElementsMatch(t, []string{"caCert", "tlsClientCert", "tlsClientKey"}, params)
	}
}

// pairingErr checks the HPA arithmetic of docs/design.md: sum goes with
// AverageValue (the HPA divides the total by the replica count), avg, max
// and min with Value (the HPA multiplies by it). A per-GPU average against
// AverageValue caps the Deployment at ceil(100/target) replicas.
func pairingErr(tr kedav1alpha1.ScaleTriggers, agg scaler.Aggregation) error {
	mt := tr.MetricType
	if mt == "" {
		mt = autoscalingv2.AverageValueMetricType // KEDA's default
	}
	want := autoscalingv2.ValueMetricType
	if agg == scaler.AggSum {
		want = autoscalingv2.AverageValueMetricType
	}
	if mt != want {
		return fmt.Errorf("trigger %q: aggregation %s wants metricType %s, not %s", tr.Name, agg, want, mt)
	}
	return nil
}

// scalerAddr is a scalerAddress an example must name.
type scalerAddr struct {
	host string
	port int
}

// chartScalerAddrs are the chart's two addresses for KEDA with default
// values: the aggregator's Service (aggregator.enabled) and the agents'
// ClusterIP Service, each with its rendered port.
func chartScalerAddrs(t testing.TB) (aggregator, agent scalerAddr) {
	t.Helper()
	objs := decodeAll(t, mustRenderHelm(t, map[string]any{"aggregator": map[string]any{"enabled": true}}))
	agg := named[*corev1.Service](t, objs, releaseNamespace, releaseName+"-aggregator")
	ag := named[*corev1.Service](t, objs, releaseNamespace, releaseName)
	require.Equal(t, aggregatorHost, agg.Name+"."+agg.Namespace+".svc.cluster.local")
	require.Equal(t, agentHost, ag.Name+"."+ag.Namespace+".svc.cluster.local")
	return scalerAddr{aggregatorHost, int(agg.Spec.Ports[0].Port)}, scalerAddr{agentHost, int(ag.Spec.Ports[0].Port)}
}

// checkFallback: every example's ScaledObject has a fallback that never
// drives a loaded Deployment below its current replicas (KEDA v2.17+).
func checkFallback(t *testing.T, so *kedav1alpha1.ScaledObject) {
	require.NotNil(t, so.Spec.Fallback, "ScaledObject %s: a fallback for scaler outages", so.Name)
	assert.Equal(t, kedav1alpha1.FallbackBehaviorCurrentReplicasIfHigher, so.Spec.Fallback.Behavior, "ScaledObject %s: fallback.behavior", so.Name)
}

// TestExamples decodes every example strictly into KEDA's types and runs
// KEDA's validation and the scaler's trigger parser on it.
func TestExamples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	require.NoError(t, err)
	require.Len(t, files, 6, "examples: %v", files)
	aggregator, agent := chartScalerAddrs(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			ex, err := decodeKEDA(data)
			require.NoError(t, err)
			require.NotEmpty(t, ex.scaledObjects)
			for _, ta := range ex.triggerAuths {
				_, err := ta.ValidateCreate(nil)
				require.NoError(t, err, "TriggerAuthentication %s", ta.Name)
			}
			for _, so := range ex.scaledObjects {
				require.NoError(t, validateScaledObject(so), "ScaledObject %s", so.Name)
				ours := ourTriggers(so)
				require.NotEmpty(t, ours, "ScaledObject %s: no trigger points at nvml-scaler", so.Name)
				want := aggregator
				if base := filepath.Base(f); base == singleNodeExample || base == engineExample {
					want = agent
				}
				for _, tr := range ours {
					checkOurTrigger(t, ex, so, tr, want)
				}
				checkFallback(t, so)
				if min := so.Spec.MinReplicaCount; min != nil && *min == 0 {
					assert.Greater(t, len(so.Spec.Triggers), len(ours),
						"ScaledObject %s scales to zero: GPU metrics cannot wake it, it needs another trigger", so.Name)
				}
			}
		})
	}
}

// TestExamplesRejectMistakes: copies of an example with the mistakes strict
// decoding, KEDA's validation or the scaler's parser must catch.
func TestExamplesRejectMistakes(t *testing.T) {
	t.Parallel()
	orig, err := os.ReadFile(filepath.Join(examplesDir, "vllm-scaledobject.yaml"))
	require.NoError(t, err)
	for _, tc := range []struct {
		name, old, new, wantErr string
	}{
		{"misspelt spec field", "\n  pollingInterval: 15", "\n  pollingIntervall: 15", `unknown field "pollingIntervall"`},
		{"misplaced field", "\n      name: gpu-sm-active", "\n      name: gpu-sm-active\n      pollingInterval: 15", `unknown field "pollingInterval"`},
		{"duplicate key", "\n  minReplicaCount: 0", "\n  minReplicaCount: 0\n  minReplicaCount: 1", "already set"},
		{"number where KEDA wants a string", `targetValue: "60"`, `targetValue: 60`, "cannot unmarshal number"},
		{"misspelt trigger metadata", "\n        aggregation: sum", "\n        aggregaton: sum", "aggregaton"},
		{"aggregation against the metricType", "\n        aggregation: sum", "\n        aggregation: avg", "metricType"},
		{"min above max", "\n  minReplicaCount: 0", "\n  minReplicaCount: 9", "MinReplicaCount=9"},
		{"duplicate trigger name", "name: wake-from-zero", "name: gpu-sm-active", "defined multiple times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, 1, strings.Count(string(orig), tc.old), "%q once in the example", tc.old)
			bad := []byte(strings.Replace(string(orig), tc.old, tc.new, 1))
			err := exampleErr(bad)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

// exampleErr runs TestExamples' checks on one file's contents and returns the
// first failure.
func exampleErr(data []byte) error {
	ex, err := decodeKEDA(data)
	if err != nil {
		return err
	}
	for _, so := range ex.scaledObjects {
		if err := validateScaledObject(so); err != nil {
			return err
		}
		for _, tr := range ourTriggers(so) {
			parsed, err := scaler.ParseTrigger(tr.Metadata)
			if err != nil {
				return err
			}
			if err := pairingErr(tr, parsed.Aggregation); err != nil {
				return err
			}
		}
	}
	return nil
}
