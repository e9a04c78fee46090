// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"bytes"
	"context"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// footprint is what the process holds: goroutines, open files, live heap.
type footprint struct {
	goroutines, fds int
	heap            uint64 // bytes in use after a GC
}

func measure(t testing.TB) footprint {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return footprint{goroutines: runtime.NumGoroutine(), fds: len(fds), heap: ms.HeapInuse}
}

// attacker is a raw HTTP/2 client: it sends a call's HEADERS and never its
// DATA, the half-open call no well-behaved gRPC client makes, and counts the
// RST_STREAM and trailer frames the server answers with.
type attacker struct {
	conn   net.Conn
	mu     sync.Mutex // serialises writes on fr
	fr     *http2.Framer
	ended  atomic.Int64 // streams the server ended (trailers or RST_STREAM), each once
	closed chan struct{}
}

func dialAttacker(t testing.TB, addr string) *attacker {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	a := &attacker{conn: c, fr: http2.NewFramer(c, c), closed: make(chan struct{})}
	_, err = c.Write([]byte(http2.ClientPreface))
	require.NoError(t, err)
	require.NoError(t, a.fr.WriteSettings())
	go a.read()
	t.Cleanup(func() { _ = c.Close(); <-a.closed })
	return a
}

func (a *attacker) read() {
	defer close(a.closed)
	seen := map[uint32]bool{}
	end := func(id uint32) {
		if !seen[id] {
			seen[id] = true
			a.ended.Add(1)
		}
	}
	for {
		f, err := a.fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			end(f.StreamID)
		case *http2.HeadersFrame:
			if f.StreamEnded() {
				end(f.StreamID)
			}
		case *http2.SettingsFrame:
			if !f.IsAck() {
				a.mu.Lock()
				_ = a.fr.WriteSettingsAck()
				a.mu.Unlock()
			}
		}
	}
}

// halfOpen sends n calls' headers on streams 1, 3, 5, … and no message.
func (a *attacker) halfOpen(t testing.TB, n int) {
	t.Helper()
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, h := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "scaler"},
		{":path", "/externalscaler.ExternalScaler/GetMetrics"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		require.NoError(t, enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]}))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range n {
		err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: buf.Bytes(), EndHeaders: true})
		if err != nil {
			return // the server closed the connection: also a bound
		}
	}
}

// floodServer serves a one-GPU fake on loopback with lim until the test ends.
func floodServer(t testing.TB, lim Limits, maxConns int) string {
	t.Helper()
	s, err := NewSampler(SamplerConfig{Source: newFake(1), Interval: MinInterval})
	require.NoError(t, err)
	srv, err := NewServer(ServerConfig{Sampler: s, Limits: lim, MaxConnections: maxConns, ShutdownTimeout: time.Second})
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return lis.Addr().String()
}

// Half-open calls: at most MaxStreams are held, each for FirstMessageTimeout,
// whatever the attacker sends. Without the bounds, every call held a
// goroutine (and ~11 KiB) until the connection closed.
func TestHalfOpenCallsAreBounded(t *testing.T) {
	const maxStreams, calls = 100, 3000
	addr := floodServer(t, Limits{MaxStreams: maxStreams, FirstMessageTimeout: 300 * time.Millisecond}, 8)
	base := measure(t)
	a := dialAttacker(t, addr)
	a.halfOpen(t, calls)
	// Every call is answered: refused at once above the cap, ended at the
	// first-message deadline below it.
	require.Eventually(t, func() bool { return a.ended.Load() >= calls-maxStreams }, 10*time.Second, 5*time.Millisecond)
	during := measure(t)
	t.Logf("base %+v, during %+v", base, during)
	assert.LessOrEqual(t, during.goroutines, base.goroutines+maxStreams+16)
	assert.LessOrEqual(t, during.heap, base.heap+maxStreams*32<<10+8<<20)
	assert.Eventually(t, func() bool { return a.ended.Load() == calls }, 10*time.Second, 5*time.Millisecond,
		"the held calls end at the first-message deadline")
	assert.Eventually(t, func() bool { return runtime.NumGoroutine() <= base.goroutines+16 }, 10*time.Second, 5*time.Millisecond,
		"the held calls' goroutines end")
}

// A connection flood: the listener serves MaxConnections and closes the rest
// as it accepts them; the ones it serves must send their preface within
// ConnectionTimeout.
func TestConnectionFloodIsBounded(t *testing.T) {
	const maxConns, conns = 16, 400
	addr := floodServer(t, Limits{}, maxConns)
	base := measure(t)
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			_ = c.Close()
		}
	})
	for range conns {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		held = append(held, c)
	}
	refused := func() int {
		n := 0
		for _, c := range held {
			_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return refused() >= conns-maxConns }, 10*time.Second, 10*time.Millisecond)
	during := measure(t)
	t.Logf("base %+v, during %+v", base, during)
	// The attacker's own descriptors stay open: conns of them.
	assert.LessOrEqual(t, during.fds, base.fds+conns+maxConns+4)
	assert.LessOrEqual(t, during.goroutines, base.goroutines+4*maxConns+8)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
