// SPDX-License-Identifier: Apache-2.0

package nvml

import "bytes"

// usable returns an error when l is closed or the function named key was not
// found in the library; nil when the call may go ahead.
func (l *Library) usable(missing bool, key string) error {
	if l.closed.Load() {
		return &CallError{Func: key, Return: ErrUninitialized, Text: "library closed"}
	}
	if missing {
		return &CallError{Func: key, Return: ErrFunctionNotFound,
			Text: "not exported by " + l.path + " (driver too old for this call)"}
	}
	return nil
}

// check turns a Return into nil (success) or a *CallError naming the C symbol
// that served key.
func (l *Library) check(key string, r Return) error {
	if r == Success {
		return nil
	}
	name := l.names[key]
	if name == "" {
		name = key
	}
	return &CallError{Func: name, Return: r, Text: l.ErrorString(r)}
}

// String buffer sizes from nvml.h.
const (
	systemVersionBufferSize = 80 // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE, _NVML_VERSION_
	deviceNameBufferSize    = 96 // NVML_DEVICE_NAME_V2_BUFFER_SIZE
	deviceUUIDBufferSize    = 96 // NVML_DEVICE_UUID_V2_BUFFER_SIZE
)

// str calls a char-buffer getter with an n-byte buffer and cuts the answer at
// the first NUL.
func (l *Library) str(key string, f func(*byte, uint32) Return, n int) (string, error) {
	if err := l.usable(f == nil, key); err != nil {
		return "", err
	}
	buf := make([]byte, n)
	if err := l.check(key, f(&buf[0], uint32(n))); err != nil {
		return "", err
	}
	return cString(buf), nil
}

// cString returns b up to its first NUL (all of b if there is none).
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
