// SPDX-License-Identifier: Apache-2.0

package nvmlsource

import (
	"errors"

	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// Sentinel returns the scaler error an NVML return code means, or nil for a
// transient one: NOT_SUPPORTED and FUNCTION_NOT_FOUND (an old driver) make the
// metric absent; GPU_IS_LOST and RESET_REQUIRED mark the GPU lost;
// UNINITIALIZED, DRIVER_NOT_LOADED and LIB_RM_VERSION_MISMATCH need NVML
// initialised again. The live source and the replay source both classify
// through it, so a recorded code means what the live one does.
func Sentinel(r nvml.Return) error {
	switch r {
	case nvml.ErrNotSupported, nvml.ErrFunctionNotFound:
		return scaler.ErrNotSupported
	case nvml.ErrGPULost, nvml.ErrResetRequired:
		return scaler.ErrGPULost
	case nvml.ErrUninitialized, nvml.ErrDriverNotLoaded, nvml.ErrLibRMVersionMismatch:
		return scaler.ErrReinit
	}
	return nil
}

// classified carries an nvml error and lets errors.Is match the scaler
// sentinel its return code means (see Sentinel).
type classified struct{ err error }

func classify(err error) error { return classified{err} }

func (c classified) Error() string { return c.err.Error() }
func (c classified) Unwrap() error { return c.err }

func (c classified) Is(target error) bool {
	var r nvml.Return
	if !errors.As(c.err, &r) {
		return false
	}
	s := Sentinel(r)
	return s != nil && s == target
}
