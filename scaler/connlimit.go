// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"net"
	"sync"
)

// LimitListener returns a listener that serves at most n connections of lis at
// once (n ≤ 0 means DefaultMaxConnections). A connection accepted above the
// limit is closed at once, so its peer sees the refusal instead of waiting in
// the kernel's backlog, and onRefused (when not nil) is called. A slot is given
// back when the served connection is closed.
func LimitListener(lis net.Listener, n int, onRefused func()) net.Listener {
	if n <= 0 {
		n = DefaultMaxConnections
	}
	return &limitListener{Listener: lis, slots: make(chan struct{}, n), onRefused: onRefused}
}

type limitListener struct {
	net.Listener
	slots     chan struct{}
	onRefused func()
}

// Accept returns the next connection within the limit; connections above it
// are closed and skipped. Errors are lis's.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			_ = c.Close()
			if l.onRefused != nil {
				l.onRefused()
			}
		}
	}
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
