// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Failed sets the code on every Result field of a device and a sample, the
// generated ones included, and leaves the rest (index, GPM) zero.
func TestFailed(t *testing.T) {
	t.Parallel()
	for _, v := range []any{Failed[Device](4), Failed[DeviceSample](4)} {
		rv := reflect.ValueOf(v)
		n := 0
		for i := range rv.NumField() {
			if f := rv.Field(i); isResult(f.Type()) {
				assert.EqualValues(t, 4, f.Field(0).Int(), rv.Type().Field(i).Name)
				assert.True(t, f.Field(1).IsZero(), rv.Type().Field(i).Name)
				n++
			}
		}
		assert.GreaterOrEqual(t, n, 6, "%T has Result fields", v)
	}
	d := Failed[Device](4)
	assert.False(t, d.UUID.OK())
	assert.Zero(t, d.Index)
	assert.Zero(t, d.HandleRet, "the caller says which call failed")
	s := Failed[DeviceSample](15)
	assert.EqualValues(t, 15, s.PowerMilliwatts.Ret)
	assert.Nil(t, s.GPM)
}
