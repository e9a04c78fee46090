// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func md(kv ...string) map[string]string {
	m := map[string]string{"metric": "sm_active_percent", "targetValue": "60"}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<delete>" {
			delete(m, kv[i])
			continue
		}
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestParseTriggerValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		md   map[string]string
		want Trigger
	}{
		{"defaults", md(), Trigger{Metric: SMActive, Target: 60}},
		{"every key", md("metric", "dram_bandwidth_percent", "targetValue", " 12.5 ", "activationTargetValue", "2",
			"aggregation", "sum", "window", "30s", "gpuUUIDs", "GPU-abc, MIG-def", "gpuIndexes", "0, 1", "gpuModel", "NVIDIA H200"),
			Trigger{Metric: DRAMBandwidth, Target: 12.5, ActivationTarget: 2, Aggregation: AggSum, Window: 30 * time.Second,
				Selector: Selector{uuids: "GPU-abc, MIG-def", indexes: "0, 1", model: "NVIDIA H200"}}},
		{"aggregation is case-insensitive", md("aggregation", "MAX"), Trigger{Metric: SMActive, Target: 60, Aggregation: AggMax}},
		{"exponent", md("targetValue", "1.5e9"), Trigger{Metric: SMActive, Target: 1.5e9}},
		{"window zero", md("window", "0"), Trigger{Metric: SMActive, Target: 60}},
		{"window max", md("window", "10m"), Trigger{Metric: SMActive, Target: 60, Window: MaxWindow}},
		{"empty optional values mean defaults", md("activationTargetValue", "", "aggregation", " ", "window", "",
			"gpuUUIDs", "", "gpuIndexes", "", "gpuModel", ""), Trigger{Metric: SMActive, Target: 60}},
		{"KEDA's keys are ignored", md("scalerAddress", "nvml-scaler:9090", "enableTLS", "true", "unsafeSsl", "false"),
			Trigger{Metric: SMActive, Target: 60}},
		{"smallest target KEDA keeps", md("targetValue", "0.0005"), Trigger{Metric: SMActive, Target: 0.0005}},
		{"FromEnv keys", md("targetValue", "<delete>", "targetValueFromEnv", "42", "gpuModelFromEnv", "NVIDIA H100 80GB HBM3"),
			Trigger{Metric: SMActive, Target: 42, Selector: Selector{model: "NVIDIA H100 80GB HBM3"}}},
		{"old MIG UUID form", md("gpuUUIDs", "MIG-GPU-5d2e1f3a-0000-0000-0000-000000000000/1/0"),
			Trigger{Metric: SMActive, Target: 60, Selector: Selector{uuids: "MIG-GPU-5d2e1f3a-0000-0000-0000-000000000000/1/0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTrigger(tt.md)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseTriggerInvalid(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("9", 500) + "x"
	tests := []struct {
		name, key, value string
		md               map[string]string
		missing          bool
	}{
		{"nil metadata", "metric", "", nil, true},
		{"no metric", "metric", "", md("metric", "<delete>"), true},
		{"no target", "targetValue", "", md("targetValue", "<delete>"), true},
		{"unknown metric", "metric", "gpu_util", md("metric", "gpu_util"), false},
		{"metric is case-sensitive", "metric", "SM_ACTIVE_PERCENT", md("metric", "SM_ACTIVE_PERCENT"), false},
		{"target not a number", "targetValue", "abc", md("targetValue", "abc"), false},
		{"target empty", "targetValue", "", md("targetValue", ""), false},
		{"target zero", "targetValue", "0", md("targetValue", "0"), false},
		{"target negative", "targetValue", "-1", md("targetValue", "-1"), false},
		{"target NaN", "targetValue", "NaN", md("targetValue", "NaN"), false},
		{"target Inf", "targetValue", "+Inf", md("targetValue", "+Inf"), false},
		{"target overflows", "targetValue", "1e400", md("targetValue", "1e400"), false},
		{"target hex", "targetValue", "0x10", md("targetValue", "0x10"), false},
		{"target underscores", "targetValue", "1_000", md("targetValue", "1_000"), false},
		{"target long", "targetValue", long, md("targetValue", long), false},
		{"target KEDA rounds to 0", "targetValue", "0.0004", md("targetValue", "0.0004"), false},
		{"activation negative", "activationTargetValue", "-0.5", md("activationTargetValue", "-0.5"), false},
		{"activation NaN", "activationTargetValue", "nan", md("activationTargetValue", "nan"), false},
		{"aggregation unknown", "aggregation", "median", md("aggregation", "median"), false},
		{"window negative", "window", "-1s", md("window", "-1s"), false},
		{"window too long", "window", "11m", md("window", "11m"), false},
		{"window no unit", "window", "30", md("window", "30"), false},
		{"uuid malformed", "gpuUUIDs", "abc", md("gpuUUIDs", "abc"), false},
		{"uuid prefix only", "gpuUUIDs", "GPU-", md("gpuUUIDs", "GPU-"), false},
		{"uuid bad char", "gpuUUIDs", "GPU-12;34", md("gpuUUIDs", "GPU-12;34"), false},
		{"uuid empty element", "gpuUUIDs", "GPU-1,,GPU-2", md("gpuUUIDs", "GPU-1,,GPU-2"), false},
		{"index not a number", "gpuIndexes", "a", md("gpuIndexes", "a"), false},
		{"index negative", "gpuIndexes", "-1", md("gpuIndexes", "-1"), false},
		{"index plus", "gpuIndexes", "+1", md("gpuIndexes", "+1"), false},
		{"index empty element", "gpuIndexes", "0,,1", md("gpuIndexes", "0,,1"), false},
		{"index huge", "gpuIndexes", "99999999999999999999", md("gpuIndexes", "99999999999999999999"), false},
		{"unknown key", "foo", "bar", md("foo", "bar"), false},
		{"unknown FromEnv key", "fooFromEnv", "bar", md("fooFromEnv", "bar"), false},
		{"KEDA key FromEnv is not KEDA's", "scalerAddressFromEnv", "x", md("scalerAddressFromEnv", "x"), false},
		{"key case matters", "TargetValue", "60", md("TargetValue", "60"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseTrigger(tt.md)
			var me *MetadataError
			require.ErrorAs(t, err, &me)
			assert.Equal(t, tt.key, me.Key)
			assert.Equal(t, tt.missing, me.Missing)
			assert.NotEmpty(t, me.Want)
			msg := err.Error()
			assert.Contains(t, msg, `"`+tt.key+`"`)
			assert.Contains(t, msg, "want ")
			if !tt.missing {
				q := tt.value
				if len(q) > maxQuotedValue {
					q = q[:maxQuotedValue]
				}
				assert.Contains(t, msg, q)
				assert.Less(t, len(msg), 1000)
			}
		})
	}
}

// TestParseTriggerAuthKeys: KEDA reads caCert, tlsClientCert and tlsClientKey
// only from a TriggerAuthentication; in metadata they are rejected, with a
// pointer there and without repeating the (possibly secret) value.
func TestParseTriggerAuthKeys(t *testing.T) {
	t.Parallel()
	const pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIk3y0nly\n-----END EC PRIVATE KEY-----"
	for _, key := range []string{"caCert", "tlsClientCert", "tlsClientKey", "tlsClientKeyFromEnv"} {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			_, err := ParseTrigger(md(key, pem))
			var me *MetadataError
			require.ErrorAs(t, err, &me)
			assert.Equal(t, key, me.Key)
			assert.Contains(t, err.Error(), "TriggerAuthentication")
			assert.NotContains(t, err.Error(), "MHcCAQEEIk3y0nly", "the value is not repeated")
		})
	}
}

func TestParseTriggerDuplicateViaFromEnv(t *testing.T) {
	t.Parallel()
	_, err := ParseTrigger(md("targetValueFromEnv", "50"))
	var me *MetadataError
	require.ErrorAs(t, err, &me)
	assert.Contains(t, []string{"targetValue", "targetValueFromEnv"}, me.Key)
	assert.Contains(t, err.Error(), "only once")
}

func TestParseTriggerAllocs(t *testing.T) {
	m := md("aggregation", "sum", "window", "30s", "gpuUUIDs", "GPU-abc,GPU-def", "gpuIndexes", "0,1",
		"gpuModel", "NVIDIA H200", "scalerAddress", "x:1")
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseTrigger(m); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func TestMetricName(t *testing.T) {
	t.Parallel()
	for m := range NumMetrics {
		for a := range Aggregation(len(aggNames)) {
			tr := Trigger{Metric: m, Aggregation: a}
			name := tr.MetricName()
			assert.Equal(t, sanitize(name), name)
			assert.Equal(t, "nvml-"+strings.ReplaceAll(m.String(), "_", "-")+"-"+a.String(), name)
		}
	}
	assert.Equal(t, "a-b-c-d", sanitize("A_b.c/d"))
}

func FuzzParseTrigger(f *testing.F) {
	f.Add("metric", "sm_active_percent", "targetValue", "60", "window", "30s")
	f.Add("gpuUUIDs", "GPU-1,MIG-2", "gpuIndexes", "0,1", "targetValueFromEnv", "1e3")
	f.Add("aggregation", "sum", "activationTargetValue", "-0", "gpuModel", "\x00")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		tr, err := ParseTrigger(map[string]string{k1: v1, k2: v2, k3: v3})
		if err != nil {
			var me *MetadataError
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not a *MetadataError", err)
			}
			return
		}
		if !(tr.Target > 0) || tr.ActivationTarget < 0 || tr.Window < 0 || tr.Window > MaxWindow || tr.Metric >= NumMetrics {
			t.Fatalf("accepted an invalid trigger %+v", tr)
		}
		_ = tr.MetricName()
		_ = tr.Selector.String()
		tr.Selector.Matches(&Device{UUID: v1, Model: v2})
	})
}
