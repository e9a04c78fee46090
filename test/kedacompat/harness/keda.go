// SPDX-License-Identifier: Apache-2.0

package harness

import "context"

// KEDA is one KEDA release's external scaler client (pkg/scalers), which a
// version module adapts to plain values: autoscaling/v2 types and quantities
// differ between the k8s.io versions the releases pin.
type KEDA interface {
	// NewScaler is scalers.NewExternalScaler: the trigger type `external`.
	NewScaler(cfg Config) (Scaler, error)
	// NewPushScaler is scalers.NewExternalPushScaler: `external-push`.
	NewPushScaler(cfg Config) (PushScaler, error)
}

// Config is the part of scalersconfig.ScalerConfig an external trigger uses.
type Config struct {
	TriggerIndex int
	// MetricType is the autoscaling/v2 MetricTargetType: AverageValue or Value.
	MetricType string
	// Metadata is the trigger's metadata; AuthParams its TriggerAuthentication's
	// parameters (caCert, tlsClientCert, tlsClientKey).
	Metadata, AuthParams map[string]string
}

// Scaler is an external scaler as KEDA's operator and metrics adapter use it.
type Scaler interface {
	// MetricSpecs is GetMetricSpecForScaling: the specs handed to the HPA
	// (empty when the scaler's GetMetricSpec fails: KEDA logs the error).
	MetricSpecs(ctx context.Context) []MetricSpec
	// MetricsAndActivity is GetMetricsAndActivity: GetMetrics then IsActive.
	MetricsAndActivity(ctx context.Context, metricName string) ([]Metric, bool, error)
	Close(ctx context.Context) error
}

// PushScaler is an external-push scaler: Run sends StreamIsActive's answers
// on active until ctx ends, then closes it.
type PushScaler interface {
	Run(ctx context.Context, active chan<- bool)
	Close(ctx context.Context) error
}

// MetricSpec is an autoscaling/v2 MetricSpec of type External.
type MetricSpec struct {
	// Type is the MetricSpec's type, "External" for every external trigger.
	Type string
	// Name is the external metric's name.
	Name string
	// TargetType is the target's MetricTargetType; TargetMilli the quantity
	// it sets (AverageValue or Value) in thousandths, -1 when that one is nil.
	TargetType  string
	TargetMilli int64
}

// Metric is an external_metrics ExternalMetricValue.
type Metric struct {
	Name string
	// Milli is the value quantity in thousandths.
	Milli int64
}
