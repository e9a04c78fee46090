// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"sync/atomic"
	"time"
)

// history is a ring of the most recent snapshots. The Sampler is its only
// writer; readers on the request path load from it without locks. A slot is
// identified by the snapshot's Seq, so a reader that finds a slot already
// overwritten by a newer sweep sees a different Seq and stops there.
type history struct {
	slots  []atomic.Pointer[Snapshot]
	latest atomic.Pointer[Snapshot]
}

func newHistory(size int) *history {
	return &history{slots: make([]atomic.Pointer[Snapshot], size)}
}

// publish stores s (whose Seq must be one more than the previous one's) in its
// slot, then makes it the latest. Readers that see s as the latest therefore
// find it, and every older snapshot still in the ring, in the slots.
func (h *history) publish(s *Snapshot) {
	h.slots[s.Seq%uint64(len(h.slots))].Store(s)
	h.latest.Store(s)
}

// get returns the snapshot with sequence number seq, or nil when it has left
// the ring (or was never published).
func (h *history) get(seq uint64) *Snapshot {
	if seq == 0 {
		return nil
	}
	s := h.slots[seq%uint64(len(h.slots))].Load()
	if s == nil || s.Seq != seq {
		return nil
	}
	return s
}

// since calls fn on from and then on each older snapshot that started at or
// after t, newest first, until fn returns false or the ring runs out.
func (h *history) since(from *Snapshot, t time.Time, fn func(*Snapshot) bool) {
	for s := from; s != nil && !s.Start.Before(t); s = h.get(s.Seq - 1) {
		if !fn(s) {
			return
		}
	}
}
