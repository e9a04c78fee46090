// SPDX-License-Identifier: Apache-2.0

package nvml_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/nvml"
)

// nvmlDeviceGetTemperatureV (R580+) is preferred; NOT_SUPPORTED or a struct
// version it refuses fall back to the deprecated call, as does a driver
// without it; other failures are reported as its own.
func TestTemperatureV(t *testing.T) {
	t.Parallel()
	rec := load(t, "h200-steps.json")
	want := rec.Samples[0].Devices[0].TemperatureC.Value
	for _, tt := range []struct {
		name   string
		opts   []fakenvml.Option
		symbol string // what serves it
		err    nvml.Return
	}{
		{"580", nil, "nvmlDeviceGetTemperatureV", 0},
		{"r535", []fakenvml.Option{fakenvml.WithVariant(fakenvml.R535)}, "", 0},
		{"V not supported", []fakenvml.Option{fakenvml.Fail("nvmlDeviceGetTemperatureV", int32(nvml.ErrNotSupported), 0, 0)}, "nvmlDeviceGetTemperatureV", 0},
		{"V version refused", []fakenvml.Option{fakenvml.Fail("nvmlDeviceGetTemperatureV", int32(nvml.ErrArgumentVersionMismatch), 0, 0)}, "nvmlDeviceGetTemperatureV", 0},
		{"V lost", []fakenvml.Option{fakenvml.Fail("nvmlDeviceGetTemperatureV", int32(nvml.ErrGPULost), 0, 0)}, "nvmlDeviceGetTemperatureV", nvml.ErrGPULost},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lib, _ := open(t, rec, tt.opts...)
			assert.Equal(t, tt.symbol, lib.Symbol("nvmlDeviceGetTemperatureV"))
			c, err := device(t, lib, 0).Temperature()
			if tt.err != 0 {
				require.ErrorIs(t, err, tt.err)
				assert.Contains(t, err.Error(), "nvmlDeviceGetTemperatureV")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, want, c)
		})
	}
}
