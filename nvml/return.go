// SPDX-License-Identifier: Apache-2.0

package nvml

import (
	"fmt"
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

// returnText is what nvmlErrorString answers for each code on driver 580.159.04
// (testdata/recordings, errorStrings), used before the library is loaded and for
// codes the loaded library does not know. Code 30 is newer than that driver's
// table; its text follows nvml.h's comment for NVML_ERROR_RESET_TYPE_NOT_SUPPORTED.
var returnText = map[Return]string{
	Success:                    "Success",
	ErrUninitialized:           "Uninitialized",
	ErrInvalidArgument:         "Invalid Argument",
	ErrNotSupported:            "Not Supported",
	ErrNoPermission:            "Insufficient Permissions",
	ErrAlreadyInitialized:      "Already Initialized",
	ErrNotFound:                "Not Found",
	ErrInsufficientSize:        "Insufficient Size",
	ErrInsufficientPower:       "Insufficient External Power",
	ErrDriverNotLoaded:         "Driver Not Loaded",
	ErrTimeout:                 "Timeout",
	ErrIRQIssue:                "Interrupt Request Issue",
	ErrLibraryNotFound:         "NVML Shared Library Not Found",
	ErrFunctionNotFound:        "Function Not Found",
	ErrCorruptedInforom:        "Corrupted infoROM",
	ErrGPULost:                 "GPU is lost",
	ErrResetRequired:           "GPU requires reset",
	ErrOperatingSystem:         "GPU access blocked by the operating system",
	ErrLibRMVersionMismatch:    "Driver/library version mismatch",
	ErrInUse:                   "In use by another client",
	ErrMemory:                  "Insufficient Memory",
	ErrNoData:                  "No data",
	ErrVGPUECCNotSupported:     "vGPU ECC not supported",
	ErrInsufficientResources:   "Insufficient Resources",
	ErrFreqNotSupported:        "Invalid Frequency",
	ErrArgumentVersionMismatch: "Argument version mismatch",
	ErrDeprecated:              "Requested functionality has been deprecated",
	ErrNotReady:                "System is not in ready state",
	ErrGPUNotFound:             "No supported GPUs were found",
	ErrInvalidState:            "Resource not in correct state to perform requested operation",
	ErrResetTypeNotSupported:   "Reset type not supported",
	ErrUnknown:                 "Unknown Error",
}

// Error returns NVML's text for the code, from the built-in table. For the text
// the loaded library gives, see [Library.ErrorString].
func (r Return) Error() string {
	if s, ok := returnText[r]; ok {
		return s
	}
	return "unknown NVML return code " + strconv.Itoa(int(r))
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
