// SPDX-License-Identifier: Apache-2.0

package recording

import "reflect"

// Failed returns a T (a [Device] or a [DeviceSample]) in which every Result
// field holds return code ret and no value: the answers of a GPU whose
// handle NVML refused (see Device.HandleRet), where no call on it could be
// made. It covers every Result field, generated ones included, so that a
// new reading cannot be left looking like a zero that succeeded.
func Failed[T any](ret int32) T {
	var v T
	rv := reflect.ValueOf(&v).Elem()
	for i := range rv.NumField() {
		if f := rv.Field(i); isResult(f.Type()) {
			f.Field(0).SetInt(int64(ret))
		}
	}
	return v
}

// isResult reports whether t is a Result[…]: Ret int32, then Value.
func isResult(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.NumField() == 2 && t.Field(0).Name == "Ret" &&
		t.Field(0).Type.Kind() == reflect.Int32 && t.Field(1).Name == "Value"
}
