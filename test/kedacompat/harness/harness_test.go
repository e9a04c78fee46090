// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The expectations come from the last sample, not the first, and with the
// scaler's conversion: mW / 1000. The two samples hold the first and last
// power and temperature answers of h200-inference-ramp.json.
func TestReadLastSample(t *testing.T) {
	t.Parallel()
	path := writeFile(t, t.TempDir(), "rec.json", `{"format": "nvml-scaler/recording/v1", "samples": [
		{"devices": [{"powerMw": {"value": 78155}, "temperatureC": {"value": 35}}]},
		{"devices": [{"powerMw": {"value": 128300}, "temperatureC": {"value": 37}}]}]}`)
	got, err := readLastSample(path)
	require.NoError(t, err)
	assert.Equal(t, lastSample{PowerWatts: 128.3, TemperatureC: 37}, got)
}

func TestReadLastSampleErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, json, want string }{
		{"other format", `{"format": "v0", "samples": [{"devices": []}]}`, `format "v0" with 1 samples`},
		{"no samples", `{"format": "nvml-scaler/recording/v1", "samples": []}`, "with 0 samples"},
		{"power not read", `{"format": "nvml-scaler/recording/v1", "samples": [{"devices": [{"powerMw": {"ret": 3}}]}]}`, "power and temperature read"},
		{"two GPUs", `{"format": "nvml-scaler/recording/v1", "samples": [{"devices": [{}, {}]}]}`, "one GPU"},
		{"not JSON", `{`, "unexpected end of JSON input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := readLastSample(writeFile(t, t.TempDir(), "rec.json", tt.json))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := readLastSample(filepath.Join(t.TempDir(), "missing.json"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// The fixture both modules use yields an active and an inactive case.
func TestCases(t *testing.T) {
	t.Parallel()
	cases, err := Cases(Recording)
	require.NoError(t, err)
	require.Len(t, cases, 2)
	assert.True(t, cases[0].Active)
	assert.False(t, cases[1].Active)
	assert.Equal(t, "s2-nvml-temperature-celsius-max", cases[1].SpecName)
}

func TestListenAddrs(t *testing.T) {
	t.Parallel()
	// The line serve logged at start (bin/nvml-scaler serve --log-format text).
	line := `time=2026-12-02T07:58:12.772Z level=INFO msg="nvml-scaler starting" version=073fd58 grpc=127.0.0.1:34269 ` +
		`http=127.0.0.1:38907 source="replay testdata/recordings/h200-inference-ramp.json (speed 1e+06x, not looping)" node=vm interval=1s tls=off`
	g, h := listenAddrs("level=WARN msg=other\n" + line + "\n")
	assert.Equal(t, "127.0.0.1:34269", g)
	assert.Equal(t, "127.0.0.1:38907", h)
	g, h = listenAddrs("level=WARN msg=other\n")
	assert.Empty(t, g)
	assert.Empty(t, h)
}

func TestSweeps(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 5, sweeps("# TYPE nvml_scaler_sweep_duration_seconds histogram\n"+
		"nvml_scaler_sweep_duration_seconds_sum 0.01\nnvml_scaler_sweep_duration_seconds_count 5\n"))
	assert.Zero(t, sweeps("nvml_scaler_up 1\n"))
}
