// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An idle keep-alive connection is closed after the idle timeout, and a
// client that never finishes its headers after the header timeout; the
// listener serves at most maxConns connections at once.
func TestServeHTTPLimits(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	lim := httpLimits{readHeader: 100 * time.Millisecond, read: time.Second, write: time.Second,
		idle: 100 * time.Millisecond, maxHeader: 4 << 10, maxConns: 2}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	go func() { done <- serveHTTP(ctx, lis, h, lim, slog.New(slog.DiscardHandler)) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	closedWithin := func(c net.Conn, d time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(d))
		for {
			if _, err := c.Read(make([]byte, 512)); err != nil {
				var ne net.Error
				return !errors.As(err, &ne) || !ne.Timeout()
			}
		}
	}
	idle, err := net.Dial("tcp", lis.Addr().String())
	require.NoError(t, err)
	defer idle.Close()
	_, err = fmt.Fprintf(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	require.NoError(t, resp.Body.Close())
	assert.True(t, closedWithin(idle, 5*time.Second), "idle keep-alive connection closed")

	slow, err := net.Dial("tcp", lis.Addr().String())
	require.NoError(t, err)
	defer slow.Close()
	_, err = fmt.Fprintf(slow, "GET / HTTP/1.1\r\n")
	require.NoError(t, err)
	assert.True(t, closedWithin(slow, 5*time.Second), "unfinished headers closed")

	for range 2 { // held open until the test ends
		c, err := net.Dial("tcp", lis.Addr().String())
		require.NoError(t, err)
		defer c.Close()
	}
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", lis.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		return closedWithin(c, 50*time.Millisecond)
	}, 5*time.Second, 10*time.Millisecond, "a third connection is refused")
}
