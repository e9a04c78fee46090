// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"sync/atomic"
	"time"
)

// guardKey is the context key of a call's *guarded.
type guardKey struct{}

// guarded is one admitted call's context: the transport's stream context
// (parent) with its own Done, which one timer closes at the first-message
// deadline and, for a unary call once its request has arrived, at the call's
// deadline. It is the context gRPC's reader waits on for the request.
//
// It ends with its parent too (a context.AfterFunc, stopped when the handler
// returns), so a call gRPC finishes before any handler runs gives its slot
// back at once. A context derived from it after its handler has returned is
// not canceled by it: cancel it (as go vet's lostcancel asks).
// context.Cause of it reports its parent's cause.
type guarded struct {
	parent context.Context
	g      *guard
	timer  *time.Timer
	done   chan struct{}
	// err is set once, before done is closed.
	err error
	// closed and released make ending and giving the slot back happen once.
	closed, released atomic.Bool
	// awaiting is true until the request message has arrived.
	awaiting atomic.Bool
	// deadline is the call's deadline in Unix nanoseconds once it has one
	// (the earlier of rpcTimeout and the parent's), else 0.
	deadline atomic.Int64
	// unfollow stops following the parent (set by newGuarded, called by
	// finish).
	unfollow func() bool
}

// newGuarded admits a call: its context ends at the first-message deadline,
// g.firstMsg or the parent's deadline if that is earlier.
func newGuarded(parent context.Context, g *guard) *guarded {
	c := &guarded{parent: parent, g: g, done: make(chan struct{})}
	c.awaiting.Store(true)
	c.timer = time.AfterFunc(within(parent, g.firstMsg), c.fire)
	c.unfollow = context.AfterFunc(parent, c.parentDone)
	return c
}

// parentDone ends the call with its parent (the stream reset, the connection
// closed, the server stopped, or gRPC finishing a call no handler took: an
// unknown method, an oversized or malformed request); a call that has not
// reached its handler gives its slot back, since no handler will.
func (c *guarded) parentDone() {
	c.end(c.parent.Err())
	if c.awaiting.Load() {
		c.release()
	}
}

// within returns d, or less when parent's deadline is sooner.
func within(parent context.Context, d time.Duration) time.Duration {
	if pd, ok := parent.Deadline(); ok {
		return min(d, time.Until(pd))
	}
	return d
}

// fire ends the call at its timer: at the first-message deadline it also
// gives the slot back, since no handler will.
func (c *guarded) fire() {
	if c.awaiting.Load() {
		err := c.parent.Err()
		if err == nil {
			err = context.Canceled
		}
		c.end(err)
		c.release()
		return
	}
	c.end(context.DeadlineExceeded)
}

// received records the request message's arrival: it stops the first-message
// deadline and, when timeout > 0, starts the call's deadline (timeout, or the
// parent's deadline if sooner). It returns false when the first-message
// deadline has already fired.
func (c *guarded) received(timeout time.Duration) bool {
	if !c.timer.Stop() {
		return false
	}
	c.awaiting.Store(false)
	if timeout > 0 {
		d := within(c.parent, timeout)
		c.deadline.Store(time.Now().Add(d).UnixNano())
		c.timer.Reset(d)
	}
	return true
}

// finish is the call's end, when its handler returns: the timer and the
// following stop and the slot is given back.
func (c *guarded) finish() {
	c.timer.Stop()
	c.unfollow()
	c.release()
}

func (c *guarded) end(err error) {
	if c.closed.CompareAndSwap(false, true) {
		c.err = err
		close(c.done)
	}
}

func (c *guarded) release() {
	if c.released.CompareAndSwap(false, true) {
		c.g.open.Add(-1)
	}
}

// Deadline returns the call's deadline once it has one, else its parent's.
func (c *guarded) Deadline() (time.Time, bool) {
	if d := c.deadline.Load(); d != 0 {
		return time.Unix(0, d), true
	}
	return c.parent.Deadline()
}

// Done is closed when the call ends (see guarded).
func (c *guarded) Done() <-chan struct{} { return c.done }

// Err is nil until Done is closed, then why: Canceled at the first-message
// deadline or when a followed parent was canceled, DeadlineExceeded at the
// call's deadline.
func (c *guarded) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Value returns c for guardKey, and otherwise what the parent holds.
func (c *guarded) Value(key any) any {
	if key == (guardKey{}) {
		return c
	}
	return c.parent.Value(key)
}
