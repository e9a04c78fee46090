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
// v2.21.0). Accepted and ignored.
var kedaKeys = [...]string{"scalerAddress", "enableTLS", "unsafeSsl"}

// authKeys are the TLS parameters KEDA reads only from a
// TriggerAuthentication (`order=authParams`): written into metadata, KEDA
// ignores them, and a private key would travel in every RPC. Rejected.
var authKeys = [...]string{"caCert", "tlsClientCert", "tlsClientKey"}

const wantAuth = "no value here: KEDA reads caCert, tlsClientCert and tlsClientKey only from a TriggerAuthentication " +
	"(spec.secretTargetRef, referenced by the trigger's authenticationRef; deploy/examples/triggerauthentication-tls.yaml)"

// MinTarget is the smallest targetValue KEDA keeps: it writes the HPA's
// target as a quantity with three decimals (fmt "%.3f", quantityFromFloat64 in
// pkg/scalers/scaler.go, v2.21.0), so a target below 0.0005 becomes 0 and the
// HPA cannot divide by it.
const MinTarget = 0.0005

const wantTargetMin = "a target of at least 0.0005: KEDA passes targets to the HPA in thousandths, and a smaller one becomes 0"

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
// *MetadataError, and the same metadata always gives the same one: a key
// given both directly and with FromEnv first, then the smallest unknown key,
// then the first bad value in the order of triggerKeys, then a missing
// required key. It never panics and allocates nothing on success.
func ParseTrigger(md map[string]string) (Trigger, error) {
	if err := checkMetadataSize(md); err != nil {
		return Trigger{}, err
	}
	var given [len(triggerKeys)]struct {
		rawKey, value string
		seen, twice   bool
	}
	var unknown struct {
		key, value string
		seen       bool
	}
	for rawKey, raw := range md {
		key, _ := strings.CutSuffix(rawKey, fromEnvSuffix)
		i := keyIndex(key)
		switch {
		case i >= 0:
			g := &given[i]
			g.twice = g.seen
			g.seen = true
			if !g.twice || rawKey == key { // of a pair, keep the direct key's value
				g.rawKey, g.value = rawKey, raw
			}
		case !isKEDAKey(rawKey) && (!unknown.seen || rawKey < unknown.key):
			unknown.key, unknown.value, unknown.seen = rawKey, raw, true
		}
	}
	for i, g := range given {
		if g.twice {
			k := triggerKeys[i] + fromEnvSuffix
			return Trigger{}, &MetadataError{Key: k, Value: md[k],
				Want: fmt.Sprintf("%q given only once, either directly or as %q", triggerKeys[i], k)}
		}
	}
	if unknown.seen {
		if key, _ := strings.CutSuffix(unknown.key, fromEnvSuffix); isAuthKey(key) {
			return Trigger{}, &MetadataError{Key: unknown.key, Value: redact(unknown.value), Want: wantAuth}
		}
		return Trigger{}, &MetadataError{Key: unknown.key, Value: unknown.value,
			Want: "a known key: " + strings.Join(triggerKeys[:], ", ") + " (and KEDA's own: " + strings.Join(kedaKeys[:], ", ") + ")"}
	}
	var t Trigger
	for i, g := range given {
		if !g.seen {
			continue
		}
		if err := t.set(triggerKeys[i], strings.TrimSpace(g.value)); err != nil {
			err.Key, err.Value = g.rawKey, g.value
			return Trigger{}, err
		}
	}
	if !given[0].seen {
		return Trigger{}, &MetadataError{Key: keyMetric, Missing: true, Want: "one of " + metricNames()}
	}
	if !given[1].seen {
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
		if f > MaxTargetValue {
			return &MetadataError{Want: wantTargetMax}
		}
		if f < MinTarget {
			return &MetadataError{Want: wantTargetMin}
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

func isAuthKey(key string) bool {
	for _, k := range authKeys {
		if k == key {
			return true
		}
	}
	return false
}

// redact keeps a PEM value (a key, possibly) out of error messages and logs.
func redact(v string) string {
	if v == "" {
		return v
	}
	return fmt.Sprintf("<%d bytes, not shown>", len(v))
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
