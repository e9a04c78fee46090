// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/proto"
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
	// A connection above the limit is closed by the server: the writes fail,
	// and the reader sees the close.
	if _, err := c.Write([]byte(http2.ClientPreface)); err == nil {
		_ = a.fr.WriteSettings()
	}
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
	a.calls(t, "/externalscaler.ExternalScaler/GetMetrics", n, nil)
}

// calls opens n calls of method on streams 1, 3, 5, …, sending msg (a
// serialised request) on each when it is not nil, and never half-closing.
func (a *attacker) calls(t testing.TB, method string, n int, msg []byte) {
	t.Helper()
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, h := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "scaler"},
		{":path", method}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		require.NoError(t, enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]}))
	}
	var frame []byte
	if msg != nil {
		frame = binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
		frame = append(frame, msg...)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range n {
		id := uint32(2*i + 1)
		if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: buf.Bytes(), EndHeaders: true}); err != nil {
			return // the server closed the connection: also a bound
		}
		if frame != nil {
			if err := a.fr.WriteData(id, false, frame); err != nil {
				return
			}
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
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// BenchmarkFlood measures the server's footprint under the worst floods its
// default limits accept (run with -benchtime=1x): DefaultMaxConnections
// connections sharing DefaultMaxStreams held StreamIsActive streams (each
// sent its request, so the first-message deadline does not end it), and the
// same connections each sending 1000 half-open calls. The attacker is raw
// HTTP/2 in this process: one goroutine and a framer per connection, no
// per-call state. Reported: heap in use after GC, goroutines and open files
// above the idle server's, with the attacker's own counted in.
func BenchmarkFlood(b *testing.B) {
	held, err := proto.Marshal(&pb.ScaledObjectRef{Name: "flood", Namespace: "default",
		ScalerMetadata: map[string]string{"metric": "power_watts", "targetValue": "1"}})
	require.NoError(b, err)
	for _, bc := range []struct {
		name   string
		conns  int
		method string
		calls  int
		msg    []byte
	}{
		{"held-streams", DefaultMaxConnections, "/externalscaler.ExternalScaler/StreamIsActive", DefaultMaxStreams / DefaultMaxConnections, held},
		{"half-open", DefaultMaxConnections, "/externalscaler.ExternalScaler/GetMetrics", 1000, nil},
		{"connections", 4 * DefaultMaxConnections, "", 0, nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if target := os.Getenv("NVML_SCALER_FLOOD_TARGET"); target != "" {
					floodProcess(b, target, bc.conns, bc.method, bc.calls, bc.msg)
					continue
				}
				addr := floodServer(b, Limits{}, 0)
				time.Sleep(50 * time.Millisecond) // the first sweep
				base := measure(b)
				for range bc.conns {
					a := dialAttacker(b, addr)
					if bc.calls > 0 {
						a.calls(b, bc.method, bc.calls, bc.msg)
					}
				}
				time.Sleep(time.Second) // well within the first-message deadline
				during := measure(b)
				b.ReportMetric(float64(during.heap-base.heap)/(1<<20), "heap-MiB")
				b.ReportMetric(float64(during.heap)/(1<<20), "heap-total-MiB")
				b.ReportMetric(float64(during.goroutines-base.goroutines), "goroutines")
				b.ReportMetric(float64(during.fds-base.fds), "fds")
			}
		})
	}
}

// floodProcess floods a running serve, target = "PID@host:port" (the
// NVML_SCALER_FLOOD_TARGET variable), and reports its resident memory, open
// files and threads before and under the flood, read from /proc.
func floodProcess(b *testing.B, target string, conns int, method string, calls int, msg []byte) {
	var pid int
	var addr string
	_, err := fmt.Sscanf(strings.Replace(target, "@", " ", 1), "%d %s", &pid, &addr)
	require.NoError(b, err, "NVML_SCALER_FLOOD_TARGET=PID@host:port")
	before := procStatus(b, pid)
	var as []*attacker
	for range conns {
		a := dialAttacker(b, addr)
		if calls > 0 {
			a.calls(b, method, calls, msg)
		}
		as = append(as, a)
	}
	time.Sleep(time.Second)
	during := procStatus(b, pid)
	b.ReportMetric(float64(before["VmRSS"])/1024, "rss-before-MiB")
	b.ReportMetric(float64(during["VmRSS"])/1024, "rss-MiB")
	b.ReportMetric(float64(during["VmHWM"])/1024, "rss-peak-MiB")
	b.ReportMetric(float64(during["fds"]-before["fds"]), "fds")
	b.ReportMetric(float64(during["Threads"]), "threads")
	for _, a := range as {
		_ = a.conn.Close()
	}
	time.Sleep(6 * time.Second) // let held calls end before the next flood
}

// procStatus reads pid's VmRSS and VmHWM (KiB) and Threads from
// /proc/PID/status, and its open files as "fds".
func procStatus(t testing.TB, pid int) map[string]int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	out := map[string]int64{}
	for line := range strings.Lines(string(raw)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var n int64
		if _, err := fmt.Sscan(strings.TrimSpace(v), &n); err == nil {
			out[k] = n
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	out["fds"] = int64(len(fds))
	return out
}
