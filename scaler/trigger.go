// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"fmt"
	"strings"
	"time"
)

// Trigger is a parsed `external` trigger: what to measure, on which GPUs, and
// the thresholds KEDA and the HPA apply.
type Trigger struct {
	// Metric is the catalogue metric to serve (`metric`, required).
	Metric Metric
	// Target is the HPA target (`targetValue`, required, finite, > 0), in the
	// metric's unit.
	Target float64
	// ActivationTarget is the activation threshold (`activationTargetValue`,
	// default 0): the trigger is active when the value is above it.
	ActivationTarget float64
	// Aggregation combines the selected GPUs (`aggregation`, default avg).
	Aggregation Aggregation
	// Window averages the aggregated value over this much history (`window`,
	// 0 to MaxWindow, default 0 = the newest sweep only).
	Window time.Duration
	// Selector picks the GPUs (`gpuUUIDs`, `gpuIndexes`, `gpuModel`).
	Selector Selector
	// OnMissing is what to do when a selected GPU is lost, failed or hung
	// (`onMissing`, default by aggregation: see [MissingPolicy]).
	OnMissing MissingPolicy
}

// Aggregation says how a trigger combines the values of the selected GPUs.
type Aggregation uint8

// Aggregations. With the HPA's `metricType: AverageValue` (KEDA's default) use
// AggSum: the HPA divides by the replica count itself. With `metricType: Value`
// use AggAvg (or AggMax/AggMin). A per-GPU average against AverageValue caps
// the Deployment at ceil(100/target) replicas — 2 for any target ≥ 50%.
const (
	AggAvg Aggregation = iota // mean over the GPUs that have the metric
	AggMax                    // largest value
	AggMin                    // smallest value
	AggSum                    // total
)

var aggNames = [...]string{AggAvg: "avg", AggMax: "max", AggMin: "min", AggSum: "sum"}

// String returns "avg", "max", "min" or "sum".
func (a Aggregation) String() string {
	if int(a) < len(aggNames) {
		return aggNames[a]
	}
	return "aggregation(invalid)"
}

// Trigger metadata keys.
const (
	keyMetric           = "metric"
	keyTarget           = "targetValue"
	keyActivationTarget = "activationTargetValue"
	keyAggregation      = "aggregation"
	keyWindow           = "window"
	keyGPUUUIDs         = "gpuUUIDs"
	keyGPUIndexes       = "gpuIndexes"
	keyGPUModel         = "gpuModel"
	keyOnMissing        = "onMissing"
)

// triggerKeys lists the keys this scaler reads, in the order errors list them.
var triggerKeys = [...]string{keyMetric, keyTarget, keyActivationTarget, keyAggregation,
	keyWindow, keyGPUUUIDs, keyGPUIndexes, keyGPUModel, keyOnMissing}

// kedaKeys are keys KEDA itself reads from an external trigger's metadata and
// forwards to the scaler with everything else (pkg/scalers/external_scaler.go,
// v2.21.0: scalerAddress, enableTLS, unsafeSsl from the trigger; caCert,
// tlsClientCert, tlsClientKey from a TriggerAuthentication, listed too in case
// a user writes them into metadata). Accepted and ignored.
var kedaKeys = [...]string{"scalerAddress", "enableTLS", "unsafeSsl", "caCert", "tlsClientCert", "tlsClientKey"}

// fromEnvSuffix: KEDA resolves `<key>FromEnv` from the target's environment and
// forwards it under the same suffixed key, so each key may come either way.
const fromEnvSuffix = "FromEnv"

// maxQuotedValue bounds how much of a bad value an error message repeats.
const maxQuotedValue = 64

// ParseTrigger parses an external trigger's scalerMetadata. Every key must be
// one this scaler reads (optionally with KEDA's FromEnv suffix) or one KEDA
// reads itself; values are trimmed of surrounding spaces, and an empty value
// for an optional key means its default. Metadata over MaxMetadataEntries
// entries or MaxMetadataBytes bytes is rejected before it is parsed. Errors are
// *MetadataError. It never panics and allocates nothing on success.
func ParseTrigger(md map[string]string) (Trigger, error) {
	if err := checkMetadataSize(md); err != nil {
		return Trigger{}, err
	}
	var t Trigger
	var seen [len(triggerKeys)]bool
	for rawKey, raw := range md {
		key, _ := strings.CutSuffix(rawKey, fromEnvSuffix)
		i := keyIndex(key)
		if i < 0 {
			if isKEDAKey(rawKey) {
				continue
			}
			return Trigger{}, &MetadataError{Key: rawKey, Value: raw,
				Want: "a known key: " + strings.Join(triggerKeys[:], ", ") + " (and KEDA's own: " + strings.Join(kedaKeys[:], ", ") + ")"}
		}
		if seen[i] {
			return Trigger{}, &MetadataError{Key: rawKey, Value: raw,
				Want: fmt.Sprintf("%q given only once, either directly or as %q", key, key+fromEnvSuffix)}
		}
		seen[i] = true
		if err := t.set(key, strings.TrimSpace(raw)); err != nil {
			err.Key, err.Value = rawKey, raw
			return Trigger{}, err
		}
	}
	if !seen[0] {
		return Trigger{}, &MetadataError{Key: keyMetric, Missing: true, Want: "one of " + metricNames()}
	}
	if !seen[1] {
		return Trigger{}, &MetadataError{Key: keyTarget, Missing: true, Want: wantTarget}
	}
	return t, nil
}

// set parses one value into t. The returned error's Key and Value are filled in
// by the caller.
func (t *Trigger) set(key, v string) *MetadataError {
	switch key {
	case keyMetric:
		m, ok := ParseMetric(v)
		if !ok {
			return &MetadataError{Want: "one of " + metricNames()}
		}
		t.Metric = m
	case keyTarget:
		f, ok := parseNumber(v)
		if !ok || f <= 0 {
			return &MetadataError{Want: wantTarget}
		}
		t.Target = f
	case keyActivationTarget:
		if v == "" {
			return nil
		}
		f, ok := parseNumber(v)
		if !ok || f < 0 {
			return &MetadataError{Want: wantActivation}
		}
		t.ActivationTarget = f
	case keyAggregation:
		if v == "" {
			return nil
		}
		a, ok := parseAggregation(v)
		if !ok {
			return &MetadataError{Want: wantAgg}
		}
		t.Aggregation = a
	case keyWindow:
		if v == "" {
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > MaxWindow {
			return &MetadataError{Want: wantWindow}
		}
		t.Window = d
	case keyGPUUUIDs:
		if v != "" && !validList(v, validUUID) {
			return &MetadataError{Want: wantUUIDs}
		}
		t.Selector.uuids = v
	case keyGPUIndexes:
		if v != "" && !validList(v, validIndex) {
			return &MetadataError{Want: wantIndexes}
		}
		t.Selector.indexes = v
	case keyGPUModel:
		t.Selector.model = v
	case keyOnMissing:
		if v == "" {
			return nil
		}
		p, ok := parseMissing(v)
		if !ok {
			return &MetadataError{Want: wantOnMissing}
		}
		t.OnMissing = p
	}
	return nil
}

func keyIndex(key string) int {
	for i, k := range triggerKeys {
		if k == key {
			return i
		}
	}
	return -1
}

func isKEDAKey(key string) bool {
	for _, k := range kedaKeys {
		if k == key {
			return true
		}
	}
	return false
}

// MetricName returns the stable, sanitised metric name GetMetricSpec reports
// for t, e.g. "nvml-sm-active-percent-avg". KEDA prefixes it with "s<N>-".
func (t *Trigger) MetricName() string {
	return sanitize("nvml-" + t.Metric.String() + "-" + t.Aggregation.String())
}
