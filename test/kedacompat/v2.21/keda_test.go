// SPDX-License-Identifier: Apache-2.0

package kedacompat

import (
	"context"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers"
	"github.com/kedacore/keda/v2/pkg/scalers/scalersconfig"
	v2 "k8s.io/api/autoscaling/v2"

	"github.com/nvml-scaler/nvml-scaler/test/kedacompat/harness"
)

// kedaVersion is the github.com/kedacore/keda/v2 version in go.mod.
const kedaVersion = "v2.21.0"

func TestKEDAClient(t *testing.T) { harness.Run(t, keda{}, kedaVersion) }

// keda adapts KEDA's pkg/scalers to harness.KEDA. test/kedacompat/v2.17 holds
// the same adapter compiled against v2.17.3: keep the two alike.
type keda struct{}

func (keda) NewScaler(cfg harness.Config) (harness.Scaler, error) {
	s, err := scalers.NewExternalScaler(scalerConfig(cfg, "external"))
	if err != nil {
		return nil, err
	}
	return scaler{s}, nil
}

func (keda) NewPushScaler(cfg harness.Config) (harness.PushScaler, error) {
	return scalers.NewExternalPushScaler(scalerConfig(cfg, "external-push"))
}

func scalerConfig(cfg harness.Config, triggerType string) *scalersconfig.ScalerConfig {
	return &scalersconfig.ScalerConfig{
		ScalableObjectName:      "vllm",
		ScalableObjectNamespace: "inference",
		ScalableObjectType:      "ScaledObject",
		TriggerType:             triggerType,
		TriggerIndex:            cfg.TriggerIndex,
		MetricType:              v2.MetricTargetType(cfg.MetricType),
		GlobalHTTPTimeout:       3 * time.Second,
		TriggerMetadata:         cfg.Metadata,
		AuthParams:              cfg.AuthParams,
	}
}

type scaler struct{ s scalers.Scaler }

func (s scaler) MetricSpecs(ctx context.Context) []harness.MetricSpec {
	var out []harness.MetricSpec
	for _, spec := range s.s.GetMetricSpecForScaling(ctx) {
		m := harness.MetricSpec{Type: string(spec.Type), TargetMilli: -1}
		if ext := spec.External; ext != nil {
			m.Name, m.TargetType = ext.Metric.Name, string(ext.Target.Type)
			switch {
			case ext.Target.AverageValue != nil && ext.Target.Type == v2.AverageValueMetricType:
				m.TargetMilli = ext.Target.AverageValue.MilliValue()
			case ext.Target.Value != nil && ext.Target.Type == v2.ValueMetricType:
				m.TargetMilli = ext.Target.Value.MilliValue()
			}
		}
		out = append(out, m)
	}
	return out
}

func (s scaler) MetricsAndActivity(ctx context.Context, name string) ([]harness.Metric, bool, error) {
	vals, active, err := s.s.GetMetricsAndActivity(ctx, name)
	var out []harness.Metric
	for _, v := range vals {
		out = append(out, harness.Metric{Name: v.MetricName, Milli: v.Value.MilliValue()})
	}
	return out, active, err
}

func (s scaler) Close(ctx context.Context) error { return s.s.Close(ctx) }
