// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"errors"
	"fmt"

	"github.com/nvml-scaler/nvml-scaler/nvml"
)

// explainNVML turns a failure to load or initialise NVML into a message that
// says what was tried and what to check. *nvml.LoadError already lists every
// path tried and the usual causes; the init failures get a hint of their own.
func explainNVML(err error) error {
	if le := (*nvml.LoadError)(nil); errors.As(err, &le) {
		return le
	}
	var hint string
	switch {
	case errors.Is(err, nvml.ErrDriverNotLoaded):
		hint = "the NVIDIA kernel driver is not loaded on this node: check that nvidia-smi works here"
	case errors.Is(err, nvml.ErrNoPermission):
		hint = "no access to the GPU device files (/dev/nvidia*): run with the NVIDIA container toolkit" +
			" (runtimeClassName: nvidia, NVIDIA_VISIBLE_DEVICES=all) or as a user allowed to open them"
	case errors.Is(err, nvml.ErrLibRMVersionMismatch):
		hint = "the NVML library does not match the loaded kernel driver (upgraded without a reboot?):" +
			" reboot or reload the driver, or point --nvml-lib at the matching library"
	default:
		return err
	}
	return fmt.Errorf("%w\n%s", err, hint)
}

// errNoGPUs is returned when NVML works but lists no GPU.
var errNoGPUs = errors.New("NVML lists no GPUs on this node: check NVIDIA_VISIBLE_DEVICES" +
	" (a container sees only the GPUs it was given) and that nvidia-smi lists them")
