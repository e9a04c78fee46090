// SPDX-License-Identifier: Apache-2.0

package nvml

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/recording"
)

// allReturns is every code DESIGN.md lists: 0–30 and 999.
func allReturns() []Return {
	out := []Return{ErrUnknown}
	for c := range 31 {
		out = append(out, Return(c))
	}
	return out
}

func TestReturnTableCoversEveryCode(t *testing.T) {
	t.Parallel()
	for _, r := range allReturns() {
		text, ok := returnText[r]
		assert.True(t, ok, "code %d has no text", r)
		assert.NotEmpty(t, text)
		assert.Equal(t, text, r.Error())
	}
	assert.Len(t, returnText, len(allReturns()), "table has codes DESIGN.md does not list")
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
	require.True(t, errors.As(wrapped, &r))
	assert.Equal(t, ErrGPULost, r)
	assert.Equal(t, "gpu 0: nvmlDeviceGetUtilizationRates: GPU is lost (NVML return 15)", wrapped.Error())
}
