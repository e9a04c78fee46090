// SPDX-License-Identifier: Apache-2.0

package aggregator_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	ct "github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// The KEDA-facing port serves at most MaxConnections connections (by default
// scaler.DefaultMaxConnections, as serve's ports): the rest are closed as they
// are accepted and counted in refused_total{limit="connections"}. Without the
// cap every connection is held open and none is refused.
func TestServeConnectionCap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxConns int // Config.MaxConnections
		want     int // the cap applied
	}{
		{"configured", 4, 4},
		{"default", 0, scaler.DefaultMaxConnections},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const extra = 8
			addr, agg := serveAggregatorWith(t, aggregator.Config{MaxConnections: tc.maxConns})
			conns := dialHeld(t, addr, tc.want+extra)
			refused := fmt.Sprintf("nvml_scaler_aggregator_refused_total{limit=\"connections\"} %d\n", extra)
			require.Eventually(t, func() bool { return strings.Contains(scrape(t, agg), refused) }, 30*time.Second, 20*time.Millisecond,
				"want %q in /metrics", refused)
			assert.Equal(t, extra, closedByPeer(conns), "connections the aggregator closed")
			assert.Contains(t, scrape(t, agg), "nvml_scaler_aggregator_refused_total{limit=\"calls\"} 0\n")
		})
	}
}

// A negative MaxConnections is an error, not a silent default.
func TestNewRejectsNegativeMaxConnections(t *testing.T) {
	_, err := aggregator.New(aggregator.Config{Kube: ct.Kube(), Discovery: aggregator.Static(nil), MaxConnections: -1})
	require.ErrorContains(t, err, "max connections -1 is negative")
}

// dialHeld opens n TCP connections to addr, one after another, each sending
// the HTTP/2 preface (so a served one is not closed at the handshake
// deadline), and closes them when the test ends.
func dialHeld(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	for range n {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		conns = append(conns, c)
		// A refused connection may already be closed: its writes fail.
		if _, err := c.Write([]byte(http2.ClientPreface)); err == nil {
			_ = http2.NewFramer(c, c).WriteSettings()
		}
	}
	return conns
}

// closedByPeer counts the connections the server has closed: a read returns
// EOF (or a reset) instead of timing out. A served connection has the
// server's HTTP/2 settings to read first, so each is drained.
func closedByPeer(conns []net.Conn) int {
	n := 0
	buf := make([]byte, 4096)
	for _, c := range conns {
		for {
			_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
			_, err := c.Read(buf)
			if err == nil {
				continue
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				n++
			}
			break
		}
	}
	return n
}

// Calls above the limit on calls open at once (scaler.DefaultMaxStreams over
// all connections) are refused and counted in refused_total{limit="calls"}:
// here half-open calls (headers, no request) on two connections, each held
// until its first-message deadline.
func TestServeCallCapCounted(t *testing.T) {
	const perConn = scaler.DefaultMaxStreams/2 + 20
	addr, agg := serveAggregatorWith(t, aggregator.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
	for range 2 {
		conn := dial(t, addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		for range perConn {
			_, err := conn.NewStream(ctx, desc, "/externalscaler.ExternalScaler/StreamIsActive")
			require.NoError(t, err)
		}
	}
	re := regexp.MustCompile(`nvml_scaler_aggregator_refused_total\{limit="calls"\} ([1-9][0-9]*)\n`)
	require.Eventually(t, func() bool { return re.MatchString(scrape(t, agg)) }, 30*time.Second, 20*time.Millisecond,
		"no call refused in /metrics")
	t.Log(re.FindString(scrape(t, agg)))
}
