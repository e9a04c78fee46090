// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Recording is the fixture both KEDA releases are tested on, relative to a
// version module's directory: a real H200 inference ramp that ends idle.
// serve replays it once at the highest speed, so from its second sweep on it
// holds the last sample, and every answer below follows from that sample.
const Recording = "../../../testdata/recordings/h200-inference-ramp.json"

// Case is one trigger and what KEDA's client must make of it.
type Case struct {
	Name string
	// TriggerIndex is the trigger's position in the ScaledObject: KEDA
	// prefixes metric names with "s<index>-".
	TriggerIndex int
	// MetricType is the autoscaling/v2 MetricTargetType: AverageValue or Value.
	MetricType string
	// Metadata is the trigger's metadata, scalerAddress left to the test.
	Metadata map[string]string

	// SpecName is the external metric name the HPA is given.
	SpecName string
	// TargetMilli is the HPA target in thousandths of the metric's unit.
	TargetMilli int64
	// ValueMilli is the metric value KEDA reports, in thousandths.
	ValueMilli int64
	// Active is IsActive's answer: the value above activationTargetValue.
	Active bool
}

// Cases returns the triggers the suite runs against the recording at path,
// with the answers its last sample implies: a float target above 1 and one
// below 1 (which only targetSizeFloat can carry), both metric types, a
// non-zero trigger index, one active and one inactive trigger.
func Cases(path string) ([]Case, error) {
	last, err := readLastSample(path)
	if err != nil {
		return nil, err
	}
	if !(last.PowerWatts > 0) {
		return nil, fmt.Errorf("recording %s: last power %v W: want above 0 for an active trigger", path, last.PowerWatts)
	}
	powerActivation := last.PowerWatts / 2
	tempActivation := last.TemperatureC + 1
	return []Case{{
		Name:         "power_watts sum, AverageValue, active",
		TriggerIndex: 0,
		MetricType:   "AverageValue",
		Metadata: map[string]string{"metric": "power_watts", "aggregation": "sum",
			"targetValue": "50.5", "activationTargetValue": format(powerActivation)},
		SpecName:    specName(0, "power_watts", "sum"),
		TargetMilli: 50_500,
		ValueMilli:  milli(last.PowerWatts),
		Active:      last.PowerWatts > powerActivation,
	}, {
		Name:         "temperature_celsius max, Value, inactive",
		TriggerIndex: 2,
		MetricType:   "Value",
		Metadata: map[string]string{"metric": "temperature_celsius", "aggregation": "max",
			"targetValue": "0.25", "activationTargetValue": format(tempActivation)},
		SpecName:    specName(2, "temperature_celsius", "max"),
		TargetMilli: 250,
		ValueMilli:  milli(last.TemperatureC),
		Active:      last.TemperatureC > tempActivation,
	}}, nil
}

// specName is the scaler's metric name, "nvml-<metric>-<aggregation>" with
// hyphens (scaler.Trigger.MetricName), under KEDA's "s<index>-" prefix.
func specName(index int, metric, aggregation string) string {
	return fmt.Sprintf("s%d-nvml-%s-%s", index, strings.ReplaceAll(metric, "_", "-"), aggregation)
}

// milli is v in thousandths, as a Kubernetes milli-quantity holds it.
func milli(v float64) int64 { return int64(math.Round(v * 1000)) }

func format(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
