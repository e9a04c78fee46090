// SPDX-License-Identifier: Apache-2.0

package nvml

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/recording"
)

// Every code in the table has a distinct nvml.h name and a text; codes outside
// it say so. TestReturnCodesMatchNVMLHeader checks the table against nvml.h.
func TestReturnTableCoversEveryCode(t *testing.T) {
	t.Parallel()
	codes := Returns()
	require.Len(t, codes, len(returnCodes))
	assert.True(t, slices.IsSorted(codes))
	assert.Equal(t, Success, codes[0])
	assert.Equal(t, ErrUnknown, codes[len(codes)-1])
	names := map[string]Return{}
	for _, r := range codes {
		assert.NotEmpty(t, r.Error(), "code %d", r)
		assert.Equal(t, returnCodes[r].text, r.Error())
		assert.True(t, strings.HasPrefix(r.Name(), "NVML_"), "code %d: %q", r, r.Name())
		prev, dup := names[r.Name()]
		assert.False(t, dup, "%s names %d and %d", r.Name(), prev, r)
		names[r.Name()] = r
	}
	assert.Equal(t, "NVML_ERROR_GPU_IS_LOST", ErrGPULost.Name())
	assert.Equal(t, "NVML_SUCCESS", Success.Name())
	assert.Empty(t, Return(31).Name())
	assert.Equal(t, "unknown NVML return code 31", Return(31).Error())
}

// The built-in table must say exactly what nvmlErrorString said on real
// drivers, for every code the recordings hold.
func TestReturnTableMatchesRecordedErrorStrings(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"h200-steps.json", "h100-two-tenants.json"} {
		rec, err := recording.Load(filepath.Join("..", "testdata", "recordings", name))
		require.NoError(t, err)
		require.NotEmpty(t, rec.ErrorStrings)
		for codeText, want := range rec.ErrorStrings {
			code, err := strconv.Atoi(codeText)
			require.NoError(t, err)
			assert.Equal(t, want, Return(code).Error(), "%s: code %d", name, code)
		}
	}
}

func TestCallErrorWrapsReturn(t *testing.T) {
	t.Parallel()
	var err error = &CallError{Func: "nvmlDeviceGetUtilizationRates", Return: ErrGPULost, Text: "GPU is lost"}
	wrapped := fmt.Errorf("gpu 0: %w", err)
	assert.ErrorIs(t, wrapped, ErrGPULost)
	assert.NotErrorIs(t, wrapped, ErrNotSupported)
	var r Return
	require.ErrorAs(t, wrapped, &r)
	assert.Equal(t, ErrGPULost, r)
	assert.Equal(t, "gpu 0: nvmlDeviceGetUtilizationRates: GPU is lost (NVML return 15)", wrapped.Error())
}
