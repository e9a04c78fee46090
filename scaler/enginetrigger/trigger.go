// SPDX-License-Identifier: Apache-2.0

// Package enginetrigger serves KEDA triggers on inference engines' own
// metrics (package engine's catalogue: requests_waiting, ttft_seconds, …) on
// the node server, from the engine targets an [watch.Watcher] scrapes. It
// implements scaler.EngineMetrics.
//
// Trigger metadata for an engine metric:
//
//	metric                 an engine catalogue name (required)
//	targetValue            HPA target, > 0 (required)
//	activationTargetValue  ≥ 0, default 0
//	aggregation            sum (default), avg or max over the pods; latencies
//	                       merge the pods' histograms for sum and avg
//	quantile               latencies only: 0 < q < 1, e.g. 0.9; default the mean
//	window                 rates and latencies: 1s to 10m, default 30s
//	model                  only the series of this model (the engine's
//	                       model_name or, on Triton, model label)
//	onMissing              fail (default: a counted pod without a value fails
//	                       the call, so KEDA applies its fallback) or skip
//
// GPU selector keys (gpuUUIDs, gpuIndexes, gpuModel) narrow the pods: a pod
// counts when one of its GPUs is selected. An operator-set --engine-target has
// no GPU: it counts for every trigger without a GPU selector, in any
// namespace.
package enginetrigger

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// MaxWindow bounds `window`.
const MaxWindow = 10 * time.Minute

// Trigger is parsed engine trigger metadata.
type Trigger struct {
	Metric      engine.Metric
	Target      float64
	Activation  float64
	Aggregation engine.Aggregation
	Quantile    float64 // 0: the mean
	Window      time.Duration
	Model       string // "": every model
	SkipMissing bool
	// Selector narrows the pods by their GPUs; zero: every pod.
	Selector scaler.Selector
}

const (
	keyMetric     = "metric"
	keyTarget     = "targetValue"
	keyActivation = "activationTargetValue"
	keyAgg        = "aggregation"
	keyQuantile   = "quantile"
	keyWindow     = "window"
	keyOnMissing  = "onMissing"
	keyModel      = "model"
)

var keys = [...]string{keyMetric, keyTarget, keyActivation, keyAgg, keyQuantile, keyWindow, keyOnMissing, keyModel}

// kedaKeys are read by KEDA itself and forwarded; accepted and ignored (as
// scaler.ParseTrigger does).
var kedaKeys = [...]string{"scalerAddress", "enableTLS", "unsafeSsl", "caCert", "tlsClientCert", "tlsClientKey"}

// gpuKeys select GPUs; engine targets have no GPU.
var gpuKeys = [...]string{"gpuUUIDs", "gpuIndexes", "gpuModel"}

// Serves reports whether md's metric (or metricFromEnv) is an engine metric.
func Serves(md map[string]string) bool {
	v, ok := md[keyMetric]
	if !ok {
		v = md[keyMetric+"FromEnv"]
	}
	_, ok = engine.ParseMetric(strings.TrimSpace(v))
	return ok
}

// Parse parses engine trigger metadata. Errors name the key, the value and
// the accepted form.
func Parse(md map[string]string) (Trigger, error) {
	t := Trigger{Window: engine.DefaultWindow}
	var seen [len(keys)]bool
	for rawKey, raw := range md {
		key, _ := strings.CutSuffix(rawKey, "FromEnv")
		v := strings.TrimSpace(raw)
		i := index(keys[:], key)
		switch {
		case i >= 0 && seen[i]:
			return Trigger{}, fmt.Errorf("trigger metadata %q: given twice (directly and FromEnv)", key)
		case i >= 0:
			seen[i] = true
			if want := t.set(key, v); want != "" {
				return Trigger{}, fmt.Errorf("trigger metadata %q is %q: want %s", rawKey, clip(raw), want)
			}
		case index(gpuKeys[:], key) >= 0: // ParseSelector below
		case index(kedaKeys[:], rawKey) < 0:
			return Trigger{}, fmt.Errorf("trigger metadata %q is not a key for engine metrics: want one of %s", rawKey, strings.Join(keys[:], ", "))
		}
	}
	sel, err := scaler.ParseSelector(md)
	if err != nil {
		return Trigger{}, err
	}
	t.Selector = sel
	if !seen[1] {
		return Trigger{}, fmt.Errorf("trigger metadata %q is missing: want a finite number greater than 0", keyTarget)
	}
	if t.Quantile > 0 && t.Metric.Info().Kind != engine.KindLatency {
		return Trigger{}, fmt.Errorf("trigger metadata %q: %s is not a latency; quantile applies to %s", keyQuantile, t.Metric, latencies())
	}
	return t, nil
}

// set parses one value into t and returns "", or what the key accepts.
func (t *Trigger) set(key, v string) (want string) {
	switch key {
	case keyMetric:
		m, ok := engine.ParseMetric(v)
		if !ok {
			return "an engine metric"
		}
		t.Metric = m
	case keyTarget:
		f, err := number(v)
		if err != nil || f <= 0 {
			return "a finite number greater than 0, e.g. \"5\""
		}
		t.Target = f
	case keyActivation:
		f, err := number(v) // "" is 0
		if err != nil || f < 0 {
			return "a finite number of at least 0 (default 0)"
		}
		t.Activation = f
	case keyAgg:
		switch strings.ToLower(v) {
		case "", "sum":
			t.Aggregation = engine.Sum
		case "avg":
			t.Aggregation = engine.Avg
		case "max":
			t.Aggregation = engine.Max
		default:
			return "one of sum, avg, max (default sum)"
		}
	case keyQuantile:
		f, err := number(v) // "" is 0: the mean
		if err != nil || (v != "" && (f <= 0 || f >= 1)) {
			return "a number between 0 and 1, e.g. \"0.9\" (default: the mean)"
		}
		t.Quantile = f
	case keyWindow:
		if v == "" {
			return ""
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > MaxWindow {
			return "a duration from 1s to 10m, e.g. \"30s\" (default 30s)"
		}
		t.Window = d
	case keyModel:
		t.Model = v
	case keyOnMissing:
		switch strings.ToLower(v) {
		case "", "fail":
			t.SkipMissing = false
		case "skip":
			t.SkipMissing = true
		default:
			return "fail (default) or skip"
		}
	}
	return ""
}

// MetricName is the stable name GetMetricSpec reports, e.g.
// "nvml-engine-ttft-seconds-sum-q0-9".
func (t *Trigger) MetricName() string {
	name := "nvml-engine-" + t.Metric.String() + "-" + [...]string{"sum", "avg", "max"}[t.Aggregation]
	if t.Quantile > 0 {
		name += "-q" + strconv.FormatFloat(t.Quantile, 'f', -1, 64)
	}
	return sanitize(name)
}

func number(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	if strings.ContainsAny(s, "xXpPnNiI_") {
		return 0, fmt.Errorf("not a plain number")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("not a finite number")
	}
	return f, nil
}

func index(list []string, s string) int {
	for i, k := range list {
		if k == s {
			return i
		}
	}
	return -1
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func latencies() string {
	var out []string
	for m := range engine.NumMetrics {
		if m.Info().Kind == engine.KindLatency {
			out = append(out, m.String())
		}
	}
	return strings.Join(out, ", ")
}

func sanitize(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}
