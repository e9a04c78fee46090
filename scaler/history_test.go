// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func snapAt(seq uint64) *Snapshot {
	return &Snapshot{Seq: seq, Start: t0.Add(time.Duration(seq) * time.Second)}
}

func seqs(h *history, from *Snapshot, since time.Time) []uint64 {
	var out []uint64
	h.since(from, since, func(s *Snapshot) bool {
		out = append(out, s.Seq)
		return true
	})
	return out
}

func TestHistoryRing(t *testing.T) {
	t.Parallel()
	h := newHistory(4)
	assert.Nil(t, h.latest.Load())
	assert.Nil(t, h.get(0))
	for seq := uint64(1); seq <= 6; seq++ {
		h.publish(snapAt(seq))
	}
	latest := h.latest.Load()
	require.Equal(t, uint64(6), latest.Seq)
	assert.Nil(t, h.get(2), "overwritten by 6")
	assert.Equal(t, uint64(3), h.get(3).Seq)
	assert.Equal(t, []uint64{6, 5, 4, 3}, seqs(h, latest, time.Time{}), "ring holds 4")
	assert.Equal(t, []uint64{6, 5}, seqs(h, latest, latest.Start.Add(-time.Second)))
	assert.Equal(t, []uint64{6}, seqs(h, latest, latest.Start))
	// An old snapshot a reader still holds walks only what is left of its past.
	old := h.get(4)
	h.publish(snapAt(7))
	assert.Equal(t, []uint64{4}, seqs(h, old, time.Time{}))
	// fn can stop early.
	n := 0
	h.since(h.latest.Load(), time.Time{}, func(*Snapshot) bool { n++; return false })
	assert.Equal(t, 1, n)
}

func TestHistoryConcurrent(t *testing.T) {
	t.Parallel()
	h := newHistory(8)
	h.publish(snapAt(1))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				latest := h.latest.Load()
				prev := latest.Seq + 1
				h.since(latest, time.Time{}, func(s *Snapshot) bool {
					if s.Seq != prev-1 {
						t.Errorf("walked %d after %d", s.Seq, prev)
					}
					prev = s.Seq
					return true
				})
			}
		})
	}
	for seq := uint64(2); seq < 5000; seq++ {
		h.publish(snapAt(seq))
	}
	close(stop)
	wg.Wait()
}
