// SPDX-License-Identifier: Apache-2.0

package enginetrigger_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/scaler/enginetrigger"
)

// Explain names the targets in the value and those left out, whichever way
// the call goes; the error and the value are Evaluate's.
func TestExplain(t *testing.T) {
	t.Parallel()
	a, b := pod(t, "a", 2), pod(t, "b", 3)
	broken := watch.Pod{Name: "c", Err: fmt.Errorf("c: %w: connection refused", watch.ErrAbsent)} // as the watcher words it
	srv := enginetrigger.New(views{&watch.View{Interval: time.Second, Pods: []watch.Pod{a, broken, b}}},
		func() time.Time { return time.Unix(11, 0) }, nil)

	md := map[string]string{"metric": "requests_waiting", "targetValue": "5", "onMissing": "skip"}
	c, err := srv.ExplainMetadata("", md)
	require.NoError(t, err)
	assert.Equal(t, 5*2826.0, c.Value)
	assert.Equal(t, []string{"a", "b"}, c.Contributed)
	assert.Equal(t, []enginetrigger.LeftOut{{Name: "c", Reason: "engine target absent: connection refused"}}, c.LeftOut, "the reason without the name again")
	v, _, err := srv.Evaluate("", md)
	require.NoError(t, err)
	assert.Equal(t, v, c.Value)

	delete(md, "onMissing")
	c, err = srv.ExplainMetadata("", md)
	_, _, eerr := srv.Evaluate("", md)
	require.Error(t, err)
	assert.Equal(t, eerr.Error(), err.Error())
	assert.Equal(t, []string{"a", "b"}, c.Contributed, "b comes after the failed c: all are listed")
	assert.Len(t, c.LeftOut, 1)

	_, err = srv.ExplainMetadata("", map[string]string{"metric": "power_watts", "targetValue": "5"})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	_, err = srv.ExplainMetadata("", map[string]string{"metric": "requests_waiting"})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
}
