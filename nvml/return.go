// SPDX-License-Identifier: Apache-2.0

package nvml

import (
	"fmt"
	"slices"
	"strconv"
)

// Return is an nvmlReturn_t. Every value but [Success] is an error; Return
// implements error so that errors.Is works against the constants below.
type Return int32

// The return codes of nvmlReturn_t (nvml.h).
const (
	Success                    Return = 0
	ErrUninitialized           Return = 1
	ErrInvalidArgument         Return = 2
	ErrNotSupported            Return = 3
	ErrNoPermission            Return = 4
	ErrAlreadyInitialized      Return = 5
	ErrNotFound                Return = 6
	ErrInsufficientSize        Return = 7
	ErrInsufficientPower       Return = 8
	ErrDriverNotLoaded         Return = 9
	ErrTimeout                 Return = 10
	ErrIRQIssue                Return = 11
	ErrLibraryNotFound         Return = 12
	ErrFunctionNotFound        Return = 13
	ErrCorruptedInforom        Return = 14
	ErrGPULost                 Return = 15
	ErrResetRequired           Return = 16
	ErrOperatingSystem         Return = 17
	ErrLibRMVersionMismatch    Return = 18
	ErrInUse                   Return = 19
	ErrMemory                  Return = 20
	ErrNoData                  Return = 21
	ErrVGPUECCNotSupported     Return = 22
	ErrInsufficientResources   Return = 23
	ErrFreqNotSupported        Return = 24
	ErrArgumentVersionMismatch Return = 25
	ErrDeprecated              Return = 26
	ErrNotReady                Return = 27
	ErrGPUNotFound             Return = 28
	ErrInvalidState            Return = 29
	ErrResetTypeNotSupported   Return = 30
	ErrUnknown                 Return = 999
)

// returnCodes is the one table of nvmlReturn_t: for each code its name in
// nvml.h and its text. The texts are what nvmlErrorString answered on driver
// 580.159.04 (testdata/recordings, errorStrings), used before the library is
// loaded and for codes the loaded library does not know. Code 30 is newer than
// that driver's table; its text follows nvml.h's comment for
// NVML_ERROR_RESET_TYPE_NOT_SUPPORTED. TestReturnCodesMatchNVMLHeader checks
// the codes and names against NVIDIA's nvml.h.
var returnCodes = map[Return]struct{ name, text string }{
	Success:                    {"NVML_SUCCESS", "Success"},
	ErrUninitialized:           {"NVML_ERROR_UNINITIALIZED", "Uninitialized"},
	ErrInvalidArgument:         {"NVML_ERROR_INVALID_ARGUMENT", "Invalid Argument"},
	ErrNotSupported:            {"NVML_ERROR_NOT_SUPPORTED", "Not Supported"},
	ErrNoPermission:            {"NVML_ERROR_NO_PERMISSION", "Insufficient Permissions"},
	ErrAlreadyInitialized:      {"NVML_ERROR_ALREADY_INITIALIZED", "Already Initialized"},
	ErrNotFound:                {"NVML_ERROR_NOT_FOUND", "Not Found"},
	ErrInsufficientSize:        {"NVML_ERROR_INSUFFICIENT_SIZE", "Insufficient Size"},
	ErrInsufficientPower:       {"NVML_ERROR_INSUFFICIENT_POWER", "Insufficient External Power"},
	ErrDriverNotLoaded:         {"NVML_ERROR_DRIVER_NOT_LOADED", "Driver Not Loaded"},
	ErrTimeout:                 {"NVML_ERROR_TIMEOUT", "Timeout"},
	ErrIRQIssue:                {"NVML_ERROR_IRQ_ISSUE", "Interrupt Request Issue"},
	ErrLibraryNotFound:         {"NVML_ERROR_LIBRARY_NOT_FOUND", "NVML Shared Library Not Found"},
	ErrFunctionNotFound:        {"NVML_ERROR_FUNCTION_NOT_FOUND", "Function Not Found"},
	ErrCorruptedInforom:        {"NVML_ERROR_CORRUPTED_INFOROM", "Corrupted infoROM"},
	ErrGPULost:                 {"NVML_ERROR_GPU_IS_LOST", "GPU is lost"},
	ErrResetRequired:           {"NVML_ERROR_RESET_REQUIRED", "GPU requires reset"},
	ErrOperatingSystem:         {"NVML_ERROR_OPERATING_SYSTEM", "GPU access blocked by the operating system"},
	ErrLibRMVersionMismatch:    {"NVML_ERROR_LIB_RM_VERSION_MISMATCH", "Driver/library version mismatch"},
	ErrInUse:                   {"NVML_ERROR_IN_USE", "In use by another client"},
	ErrMemory:                  {"NVML_ERROR_MEMORY", "Insufficient Memory"},
	ErrNoData:                  {"NVML_ERROR_NO_DATA", "No data"},
	ErrVGPUECCNotSupported:     {"NVML_ERROR_VGPU_ECC_NOT_SUPPORTED", "vGPU ECC not supported"},
	ErrInsufficientResources:   {"NVML_ERROR_INSUFFICIENT_RESOURCES", "Insufficient Resources"},
	ErrFreqNotSupported:        {"NVML_ERROR_FREQ_NOT_SUPPORTED", "Invalid Frequency"},
	ErrArgumentVersionMismatch: {"NVML_ERROR_ARGUMENT_VERSION_MISMATCH", "Argument version mismatch"},
	ErrDeprecated:              {"NVML_ERROR_DEPRECATED", "Requested functionality has been deprecated"},
	ErrNotReady:                {"NVML_ERROR_NOT_READY", "System is not in ready state"},
	ErrGPUNotFound:             {"NVML_ERROR_GPU_NOT_FOUND", "No supported GPUs were found"},
	ErrInvalidState:            {"NVML_ERROR_INVALID_STATE", "Resource not in correct state to perform requested operation"},
	ErrResetTypeNotSupported:   {"NVML_ERROR_RESET_TYPE_NOT_SUPPORTED", "Reset type not supported"},
	ErrUnknown:                 {"NVML_ERROR_UNKNOWN", "Unknown Error"},
}

// Error returns NVML's text for the code, from the built-in table. For the text
// the loaded library gives, see [Library.ErrorString].
func (r Return) Error() string {
	if c, ok := returnCodes[r]; ok {
		return c.text
	}
	return "unknown NVML return code " + strconv.Itoa(int(r))
}

// Name returns the code's name in nvml.h ("NVML_ERROR_GPU_IS_LOST",
// "NVML_SUCCESS"), or "" for a code nvml.h does not define.
func (r Return) Name() string { return returnCodes[r].name }

// Returns lists every code nvml.h defines, in ascending order (Success first,
// ErrUnknown last). Each call returns a new slice.
func Returns() []Return {
	out := make([]Return, 0, len(returnCodes))
	for r := range returnCodes {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// String is Error, so that %v prints the text.
func (r Return) String() string { return r.Error() }

// CallError is a failed NVML call: which C function, what it returned, and the
// text the loaded library gives for that code.
type CallError struct {
	Func   string // C symbol, e.g. "nvmlDeviceGetUtilizationRates"
	Return Return
	Text   string // nvmlErrorString(Return)
}

// Error reports the function, the text and the numeric code.
func (e *CallError) Error() string {
	return fmt.Sprintf("%s: %s (NVML return %d)", e.Func, e.Text, int32(e.Return))
}

// Unwrap returns the Return, so errors.Is(err, nvml.ErrGPULost) works.
func (e *CallError) Unwrap() error { return e.Return }
