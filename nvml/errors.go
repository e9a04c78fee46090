// SPDX-License-Identifier: Apache-2.0

package nvml

import "errors"

// isReturn reports whether err wraps the return code r.
func isReturn(err error, r Return) bool {
	return err != nil && errors.Is(err, r)
}

// ignoreNotSupported maps an ErrNotSupported error to nil.
func ignoreNotSupported(err error) error {
	if isReturn(err, ErrNotSupported) {
		return nil
	}
	return err
}
