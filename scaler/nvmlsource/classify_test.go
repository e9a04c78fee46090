// SPDX-License-Identifier: Apache-2.0

package nvmlsource

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

func TestSentinelCoversEveryCode(t *testing.T) {
	t.Parallel()
	want := map[nvml.Return]scaler.ErrorClass{
		nvml.ErrNotSupported: scaler.ClassNotSupported, nvml.ErrFunctionNotFound: scaler.ClassNotSupported,
		nvml.ErrGPULost: scaler.ClassGPULost, nvml.ErrResetRequired: scaler.ClassGPULost,
		nvml.ErrUninitialized: scaler.ClassReinit, nvml.ErrDriverNotLoaded: scaler.ClassReinit,
		nvml.ErrLibRMVersionMismatch: scaler.ClassReinit,
	}
	for _, r := range nvml.Returns()[1:] { // every code but Success
		class, ok := want[r]
		if !ok {
			class = scaler.ClassTransient
		}
		err := classify(fmt.Errorf("call: %w", &nvml.CallError{Func: "nvmlX", Return: r}))
		assert.Equal(t, class, scaler.Classify(err), "code %d", r)
	}
	assert.NoError(t, Sentinel(nvml.ErrNotFound))
	assert.Equal(t, scaler.ClassTransient, scaler.Classify(classify(fmt.Errorf("not an nvml error"))))
}
