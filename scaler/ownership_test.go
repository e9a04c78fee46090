// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ownedSource checks the Sampler's ownership invariants (sampler.go, the
// comment on own) from the Source's side: Devices, Refresh and Close never
// run while a Read is in flight or concurrently with each other, and no
// position is read twice at once.
type ownedSource struct {
	*fakeSource
	listing    atomic.Int32
	perPos     [3]atomic.Int32
	violations atomic.Int32
	refreshes  atomic.Int32
}

func (o *ownedSource) enterListing() func() {
	if o.listing.Add(1) != 1 || o.reading.Load() != 0 {
		o.violations.Add(1)
	}
	return func() { o.listing.Add(-1) }
}

func (o *ownedSource) Devices(ctx context.Context) ([]Device, error) {
	defer o.enterListing()()
	return o.fakeSource.Devices(ctx)
}

func (o *ownedSource) Refresh(context.Context) ([]Device, bool, error) {
	defer o.enterListing()()
	o.refreshes.Add(1)
	return nil, false, nil
}

func (o *ownedSource) Close() error {
	defer o.enterListing()()
	return o.fakeSource.Close()
}

func (o *ownedSource) Read(ctx context.Context, dev int) (Reading, error) {
	if o.perPos[dev].Add(1) != 1 || o.listing.Load() != 0 {
		o.violations.Add(1)
	}
	defer o.perPos[dev].Add(-1)
	return o.fakeSource.Read(ctx, dev)
}

func TestOwnershipInvariants(t *testing.T) {
	t.Parallel()
	src := &ownedSource{fakeSource: newFake(3)}
	hang := make(chan struct{})
	src.hangDev = map[int]chan struct{}{2: hang}
	s, err := NewSampler(SamplerConfig{Source: src, Interval: MinInterval})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, s.Run(ctx)) })
	require.Eventually(t, func() bool {
		snap := s.Latest()
		return snap != nil && snap.Seq >= 5
	}, 10*time.Second, time.Millisecond, "sweeps go on while GPU 2 hangs")
	assert.Zero(t, src.refreshes.Load(), "no Refresh while a Read is in flight")
	close(hang)
	require.Eventually(t, func() bool { return src.refreshes.Load() > 0 }, 10*time.Second, time.Millisecond,
		"Refresh resumes once the Read returned")
	cancel()
	wg.Wait()
	assert.Zero(t, src.violations.Load())
	assert.Equal(t, int32(1), src.closes.Load())
}
