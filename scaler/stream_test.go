// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"io"
	"sync"
	"testing"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// recordingStream is an in-process StreamIsActive stream that records what the
// server sends, synchronously.
type recordingStream struct {
	grpc.ServerStream
	ctx  context.Context
	mu   sync.Mutex
	sent []bool
}

func (s *recordingStream) Context() context.Context { return s.ctx }

func (s *recordingStream) Send(r *pb.IsActiveResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, r.Result)
	return nil
}

func (s *recordingStream) got() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bool(nil), s.sent...)
}

// TestStreamIsActiveTransitions steps snapshots in lock-step with the stream:
// the current state once, then `true` only on inactive→active.
func TestStreamIsActiveTransitions(t *testing.T) {
	t.Parallel()
	src := newFake(1)
	src.setGPM(0, GPMSMActivity, Got(0.0))
	h := newHarness(t, src)
	evaluated := make(chan struct{})
	h.server.streamEvaluated = func() { evaluated <- struct{}{} }
	h.sweep()

	ctx, cancel := context.WithCancel(context.Background())
	stream := &recordingStream{ctx: ctx}
	done := make(chan error, 1)
	go func() { done <- h.server.StreamIsActive(ref("activationTargetValue", "5"), stream) }()
	<-evaluated
	assert.Equal(t, []bool{false}, stream.got(), "the current state on connect")

	steps := []struct {
		name  string
		value Field[float64]
		sent  []bool
	}{
		{"activates", Got(50.0), []bool{false, true}},
		{"stays active: nothing", Got(60.0), []bool{false, true}},
		{"deactivates: nothing (KEDA ignores false)", Got(1.0), []bool{false, true}},
		{"reactivates", Got(50.0), []bool{false, true, true}},
		{"no value counts as inactive", Failed[float64](errBoom), []bool{false, true, true}},
		{"value back above: a transition", Got(50.0), []bool{false, true, true, true}},
	}
	for _, st := range steps {
		src.setGPM(0, GPMSMActivity, st.value)
		h.sweep()
		<-evaluated
		assert.Equal(t, st.sent, stream.got(), st.name)
	}
	cancel()
	assert.NoError(t, <-done, "a client going away ends the stream cleanly")
}

func TestStreamIsActiveStaleOnConnect(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newFake(1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := &recordingStream{ctx: ctx}
	done := make(chan error, 1)
	go func() { done <- h.server.StreamIsActive(ref(), stream) }()
	h.server.stop()
	assert.NoError(t, <-done, "the server stopping ends the stream cleanly")
	assert.Equal(t, []bool{false}, stream.got(), "no data yet: inactive")
}

// TestStreamIsActiveOverGRPC checks the wire path with the generated client.
func TestStreamIsActiveOverGRPC(t *testing.T) {
	t.Parallel()
	src := newFake(1)
	src.setGPM(0, GPMSMActivity, Got(0.0))
	h := newHarness(t, src)
	h.sweep()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := h.client.StreamIsActive(ctx, ref())
	require.NoError(t, err)
	msg, err := stream.Recv()
	require.NoError(t, err)
	assert.False(t, msg.Result)
	src.setGPM(0, GPMSMActivity, Got(80.0))
	h.sweep()
	msg, err = stream.Recv()
	require.NoError(t, err)
	assert.True(t, msg.Result)
	cancel()
	_, err = stream.Recv()
	requireCode(t, err, codes.Canceled)
	assert.NotErrorIs(t, err, io.EOF)
}

// TestStreamIsActiveRepeatsWhileActive: while the trigger stays active the
// stream repeats `true` every streamResend by the sampler's clock (KEDA drops
// a `true` it cannot act on); never `false`, and a transition still sends at
// once.
func TestStreamIsActiveRepeatsWhileActive(t *testing.T) {
	t.Parallel()
	src := newFake(1)
	src.setGPM(0, GPMSMActivity, Got(0.0))
	h := newHarness(t, src)
	h.server.streamResend = 3 * testInterval
	evaluated := make(chan struct{})
	h.server.streamEvaluated = func() { evaluated <- struct{}{} }
	h.sweep()

	ctx, cancel := context.WithCancel(context.Background())
	stream := &recordingStream{ctx: ctx}
	done := make(chan error, 1)
	go func() { done <- h.server.StreamIsActive(ref("activationTargetValue", "5"), stream) }()
	<-evaluated

	steps := []struct {
		name  string
		value float64
		sent  []bool
	}{
		{"activates", 50, []bool{false, true}},
		{"1 s active", 60, []bool{false, true}},
		{"2 s active", 60, []bool{false, true}},
		{"3 s active: repeated", 60, []bool{false, true, true}},
		{"4 s active", 60, []bool{false, true, true}},
		{"inactive: nothing", 1, []bool{false, true, true}},
		{"reactivates at once", 50, []bool{false, true, true, true}},
		{"1 s after the transition", 50, []bool{false, true, true, true}},
	}
	for _, st := range steps {
		src.setGPM(0, GPMSMActivity, Got(st.value))
		h.sweep()
		<-evaluated
		assert.Equal(t, st.sent, stream.got(), st.name)
	}
	cancel()
	assert.NoError(t, <-done)
}
